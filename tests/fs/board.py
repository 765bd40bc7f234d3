#!/usr/bin/env python3
"""The park board (board/, callpark-board) on the real switch, in a real browser.

One FreeSWITCH of the tests' own (tests/fs/switch.py), callpark-board connected to its
event socket, a webhook receiver of the test's own, Debian's chromium driven through
WebDriver (selenium), and pjsua2 phones making the calls.

Run: tests/fs/run.sh --board [scenario ...]"""

import hashlib
import hmac
import http.server
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import traceback
import urllib.error
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, HERE)

from common import ACME, BASIC_CONF, GLOBEX, Ctx, check, run_scenarios, switch_errors, unknown_scenarios  # noqa: E402
from switch import ESL_PORT, FS_PREFIX, Switch, password  # noqa: E402

BOARD_PORT = 28089
HOOK_PORT = 28090
SECRET = "board-test-secret"
BOARD = f"http://127.0.0.1:{BOARD_PORT}"


class Hooks:
    """A webhook receiver: keeps every POST with its headers; the first one is answered
    503, so that the board must retry it."""

    def __init__(self):
        self.got, self.fail_first = [], True
        hooks = self

        class H(http.server.BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", 0))).decode()
                failed = hooks.fail_first
                hooks.fail_first = False
                hooks.got.append(({k.lower(): v for k, v in self.headers.items()}, body, 503 if failed else 200))
                self.send_response(503 if failed else 200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *a):
                pass

        self.srv = http.server.ThreadingHTTPServer(("127.0.0.1", HOOK_PORT), H)
        threading.Thread(target=self.srv.serve_forever, daemon=True).start()

    def delivered(self):
        """The events answered 200, in the order they came."""
        return [json.loads(b) for h, b, code in self.got if code == 200]

    def close(self):
        self.srv.shutdown()


class Board:
    """callpark-board, built by cargo, configured by a file of the test's own."""

    def __init__(self, scratch):
        # The workspace's build, as make test's first suite makes it (-p alone would resolve
        # the board's features apart and build its dependencies again).
        subprocess.run(["cargo", "build", "--quiet", "--workspace", "--all-targets"], cwd=ROOT, check=True)
        self.bin = os.path.join(ROOT, "target", "debug", "callpark-board")
        self.conf = os.path.join(scratch, "board.conf")
        with open(self.conf, "w") as f:
            f.write(f"listen = 127.0.0.1:{BOARD_PORT}\nesl = 127.0.0.1:{ESL_PORT}\nesl-password = ClueCon\n"
                    f"webhook = http://127.0.0.1:{HOOK_PORT}/hook {ACME}\nwebhook-secret = {SECRET}\n")
        self.log = open(os.path.join(scratch, "board.log"), "w+")
        self.proc = subprocess.Popen([self.bin, "--config", self.conf], stdout=self.log, stderr=subprocess.STDOUT)
        deadline = time.time() + 20
        while time.time() < deadline:
            try:
                urllib.request.urlopen(BOARD + "/", timeout=1).read()
                return
            except OSError:
                time.sleep(0.2)
        raise RuntimeError("callpark-board did not listen in 20 s:\n" + self.log_text())

    def log_text(self):
        self.log.flush()
        with open(self.log.name) as f:
            return f.read()

    def stop(self):
        self.proc.terminate()
        try:
            self.proc.wait(5)
        except subprocess.TimeoutExpired:
            self.proc.kill()


def http_json(method, path, body=None, token=None, headers=None):
    """(status, JSON) of a request to the board's API; `headers` replace or add to its
    JSON Content-Type."""
    req = urllib.request.Request(BOARD + path, method=method,
                                 data=None if body is None else json.dumps(body).encode(),
                                 headers={"Content-Type": "application/json", **(headers or {})})
    if token:
        req.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.status, json.loads(r.read() or b"{}")
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read() or b"{}")


def answers_and_talks(t, phone, before):
    """`phone` rings (a call beyond its `before` incoming ones), answers, and exchanges
    RTP with the caller; its call."""
    t.ctx.wait(lambda: len(phone.incoming) > before, 8, f"{phone.name}'s phone rings")
    inc = phone.incoming[-1]
    phone.answer(inc)
    t.ctx.wait(lambda: inc.confirmed and inc.media_active, 8, f"{phone.name} answers")
    t.until(lambda: t.el("#empty").is_displayed(), 5, "the row goes once the call is picked up")
    rx, tx = t.ctx.rtp_flows(inc)
    check(rx > 20 and tx > 20, f"{phone.name} talks to the caller (RTP {rx} in, {tx} out)")
    return inc


def sign_in(user, domain):
    code, body = http_json("POST", "/api/login", {"user": f"{user}@{domain}", "password": password(user, domain)})
    check(code == 200, f"{user}@{domain} signs in through the API ({code} {body})")
    return body["token"]


def browser(scratch):
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    o = webdriver.ChromeOptions()
    o.binary_location = "/usr/bin/chromium"
    for a in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
              "--disable-background-networking", "--disable-component-update", "--disable-sync",
              "--disable-dev-shm-usage", "--window-size=1600,900", f"--user-data-dir={scratch}/chromium"):
        o.add_argument(a)
    return webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=o)


class T:
    """What the scenarios share: the switch, the phones, the board, the browser, the hooks."""

    def __init__(self, ctx, board, driver, hooks):
        self.ctx, self.sw, self.ua = ctx, ctx.sw, ctx.ua
        self.board, self.d, self.hooks = board, driver, hooks

    def el(self, css):
        from selenium.webdriver.common.by import By
        return self.d.find_element(By.CSS_SELECTOR, css)

    def els(self, css):
        from selenium.webdriver.common.by import By
        return self.d.find_elements(By.CSS_SELECTOR, css)

    def until(self, cond, seconds, what):
        """Waits for `cond` (a browser check) while the phones keep being served."""
        end = time.time() + seconds
        while time.time() < end:
            try:
                if cond():
                    return
            except Exception:  # an element replaced under us: look again
                pass
            self.ua.pump(0.1)
        check(False, what)

    def rows(self):
        return [r.get_attribute("data-uuid") for r in self.els("#calls tbody tr")]

    def sign_in_page(self, user, domain, pw=None):
        self.d.get(BOARD + "/")
        self.until(lambda: self.el("#signin").is_displayed() or self.el("#board").is_displayed(), 10,
                   "the page shows the sign-in or the board")
        if self.el("#board").is_displayed():
            self.el("#signout").click()
            self.until(lambda: self.el("#signin").is_displayed(), 5, "signed out")
        self.el("#login-user").clear()
        self.el("#login-user").send_keys(f"{user}@{domain}")
        self.el("#login-password").send_keys(pw if pw is not None else password(user, domain))
        self.el("#login-submit").click()

    def park(self, caller_key, caller_user, parker_key, parker_user, code):
        client = self.ctx.phone(caller_key, caller_user)
        parker = self.ctx.phone(parker_key, parker_user)
        return self.ctx.park_by_transfer(client, parker, code)

    def parked_event_time(self, uuid):
        """When the switch fired `parked` for `uuid` (its Event-Date-Timestamp)."""
        for h in self.sw.esl.poll_events(0.2):
            if h.get("Callpark-Action") == "parked" and h.get("Callpark-UUID") == uuid:
                return int(h["Event-Date-Timestamp"]) / 1e6
        return None


# ---- scenarios -------------------------------------------------------------------------

def b1_wrong_password_is_refused(t):
    """A wrong password is refused on the page and by the API; nothing is shown."""
    t.sign_in_page("103", ACME, pw="not-the-password")
    t.until(lambda: "wrong user or password" in t.el("#signin-error").text, 6, "the page says the password was wrong")
    check(not t.el("#board").is_displayed(), "the board stays hidden")
    code, _ = http_json("POST", "/api/login", {"user": f"999@{ACME}", "password": "x"})
    check(code == 401, f"a user the directory lacks is refused (got {code})")
    code, _ = http_json("GET", "/api/calls")
    check(code == 401, f"the list needs a sign-in (got {code})")
    # Five wrong guesses lock that user out for five minutes, even with the right password.
    for _ in range(5):
        code, _ = http_json("POST", "/api/login", {"user": f"105@{ACME}", "password": "guess"})
    code, body = http_json("POST", "/api/login", {"user": f"105@{ACME}", "password": password(105, ACME)})
    check(code == 429, f"the sixth try after five wrong ones is refused with 429 (got {code} {body})")
    check("103@acme.example: sign-in refused" in t.board.log_text(), "the board logs the refusal")


def b2_a_park_appears_its_counter_runs_and_pick_up_connects(t):
    """An operator's page shows a call parked by a phone within a second of the switch's
    event; its waiting time runs; "pick up on my phone" rings the operator's phone, which
    answers and talks to the caller; the row goes."""
    t.sign_in_page("103", ACME)
    t.until(lambda: t.el("#board").is_displayed() and "Live" in t.el("#link").text, 10,
            "the operator's board is shown, live")
    t.until(lambda: t.el("#empty").is_displayed(), 5, "no calls parked yet")
    check("(operator)" in t.el("#who").text, "the page says 103 is an operator")
    # The page notes when a row first appears (the browser's clock: this machine's).
    t.d.execute_script("""window.__rowAt = null; new MutationObserver(() => {
        if (!window.__rowAt && document.querySelector('#calls tbody tr')) window.__rowAt = Date.now(); })
        .observe(document.querySelector('#calls tbody'), {childList: true});""")
    p103 = t.ctx.phone("103", "103")
    t.park("client", "104", "101", "101", "*68102")
    t.until(lambda: len(t.rows()) == 1, 5, "the parked call is listed on the page")
    uuid = t.rows()[0]
    parked_at = t.parked_event_time(uuid)
    check(parked_at is not None, "the switch fired parked for the call")
    seen = t.d.execute_script("return window.__rowAt") / 1000
    delay = seen - parked_at
    print(f"    row shown {delay * 1000:.0f} ms after the switch's parked event")
    check(0 <= delay < 1.0, f"the row appears within a second of the park (took {delay:.2f} s)")
    check("102" in t.el("#calls tbody tr td.ext").text and "104" in t.el("#calls tbody tr td.caller").text,
          "the row shows where and who")
    first = t.el("#calls tbody tr td.wait").text
    t.ua.pump(3.2)
    second = t.el("#calls tbody tr td.wait").text
    secs = lambda s: int(s.split(":")[0]) * 60 + int(s.split(":")[1])  # noqa: E731
    # Whole seconds, and a new listing may take back up to one: 3.2 s show as 2 or more.
    check(secs(second) >= secs(first) + 2, f"the waiting time runs ({first}, 3.2 s later {second})")
    check("recall in" in t.el("#calls tbody tr td.recall").text, "the recall countdown is shown")
    before = len(p103.incoming)
    t.el("#calls tbody tr .pickup").click()
    answers_and_talks(t, p103, before)
    check("ringing 103@acme.example" in t.el("#notice").text, f"the page says what was done: {t.el('#notice').text}")
    check("103@acme.example: pick-up " + uuid in t.board.log_text(), "the board logs who picked it up")
    t.ua.hangup_all()
    t.ctx.wait_parked(0)


def b3_other_tenants_see_nothing_and_cannot_act(t):
    """A call of acme parked: globex's operator sees an empty board (page and API), and a
    forged hang-up of acme's call is refused with 403; acme's non-operator sees the call
    but cannot act (403)."""
    t.park("client", "104", "101", "101", "*68105")
    calls = t.ctx.wait_parked(1)
    uuid = calls[0]["uuid"]
    t.sign_in_page("101", GLOBEX)
    t.until(lambda: t.el("#board").is_displayed() and "Live" in t.el("#link").text, 10, "globex's board is shown")
    t.ua.pump(1.0)
    check(t.el("#empty").is_displayed() and not t.rows(), f"globex's page shows no call ({t.rows()})")
    g = sign_in(101, GLOBEX)
    code, body = http_json("GET", "/api/calls", token=g)
    check(code == 200 and body["calls"] == [] and body["tenant"] == GLOBEX, f"globex's list is empty ({body})")
    for verb in ("hangup", "pickup"):
        code, body = http_json("POST", f"/api/calls/{uuid}/{verb}", {}, token=g)
        check(code == 403, f"globex's forged {verb} of acme's call is refused with 403 (got {code} {body})")
    code, body = http_json("POST", f"/api/calls/{uuid}/send", {"to": "101@acme.example"}, token=g)
    check(code == 400, f"a user of another domain is not taken as a destination (got {code})")
    check(len(t.ctx.parked(ACME)) == 1, "acme's call is still parked")
    a = sign_in(104, ACME)
    code, body = http_json("GET", "/api/calls", token=a)
    check(code == 200 and [c["uuid"] for c in body["calls"]] == [uuid], f"acme's non-operator sees the call ({body})")
    code, body = http_json("POST", f"/api/calls/{uuid}/hangup", {}, token=a)
    check(code == 403, f"acme's non-operator cannot hang it up (got {code})")
    code, body = http_json("GET", "/api/calls", token="f" * 64)
    check(code == 401, f"a made-up token is refused (got {code})")
    # What another site's page could send with the operator's cookie: not JSON, or said
    # by the browser to come from elsewhere.
    o = sign_in(103, ACME)
    for headers, want in (({"Content-Type": "text/plain"}, 415),
                          ({"Content-Type": "application/json", "Sec-Fetch-Site": "cross-site"}, 403)):
        code, _ = http_json("POST", f"/api/calls/{uuid}/hangup", {}, token=o, headers=headers)
        check(code == want, f"a hang-up {headers} is refused with {want} (got {code})")
    check(len(t.ctx.parked(ACME)) == 1, "acme's call is still parked after the forged requests")
    log = t.board.log_text()
    check(f"101@globex.example: hangup {uuid} refused" in log and "104@acme.example: hangup refused: not an operator" in log,
          "the refusals are logged with who")


def b4_operator_hangs_up_from_the_page(t):
    """The operator hangs up the parked call from the page (two presses): the caller is
    gone, the row goes, the webhook gets abandoned."""
    t.sign_in_page("103", ACME)
    t.until(lambda: len(t.rows()) == 1, 8, "acme's operator sees the parked call")
    b = t.el("#calls tbody tr .hangup")
    b.click()
    t.until(lambda: "Really" in t.el("#calls tbody tr .hangup").text, 3, "the first press asks again")
    check(len(t.ctx.parked(ACME)) == 1, "one press hangs up nothing")
    t.el("#calls tbody tr .hangup").click()
    t.ctx.wait_parked(0)
    t.until(lambda: t.el("#empty").is_displayed(), 5, "the row goes")
    t.ua.hangup_all()


def b5_event_socket_restarted_under_the_board(t):
    """mod_event_socket is reloaded: the page says the switch is unreachable, then live
    again, and a park made after shows up."""
    t.sign_in_page("103", ACME)
    t.until(lambda: "Live" in t.el("#link").text, 10, "the board is live")
    t.sw.esl.api("bgapi reload mod_event_socket")
    t.until(lambda: t.el("#outage").is_displayed() and "unreachable" in t.el("#link").text, 10,
            "the page shows the outage")
    t.until(lambda: "Live" in t.el("#link").text and not t.el("#outage").is_displayed(), 20, "the page is live again")
    from switch import Esl
    t.sw.esl = Esl(ESL_PORT)
    t.sw.esl.subscribe()
    # A switch that stops answering without closing anything (SIGSTOP): shown as down
    # within seconds, and live again after SIGCONT.
    os.kill(t.sw.proc.pid, signal.SIGSTOP)
    try:
        stopped = time.time()
        t.until(lambda: t.el("#outage").is_displayed(), 20, "the page shows a switch that stopped answering")
        print(f"    a stopped switch shown as unreachable after {time.time() - stopped:.1f} s")
    finally:
        os.kill(t.sw.proc.pid, signal.SIGCONT)
    t.until(lambda: "Live" in t.el("#link").text and not t.el("#outage").is_displayed(), 20,
            "the page is live again after SIGCONT")
    t.park("client", "104", "101", "101", "*68106")
    t.until(lambda: len(t.rows()) == 1, 5, "a park after the outage shows up")
    # Picked up by a phone: retrieved.
    t.ctx.pick_up(t.ctx.phone("106", "106"), "*88106")
    t.until(lambda: t.el("#empty").is_displayed(), 5, "and goes when picked up")
    t.ua.hangup_all()
    t.ctx.wait_parked(0)
    log = t.board.log_text()
    check("event socket 127.0.0.1:28021" in log and log.count(": connected") >= 2, "the board logs the reconnection")


def b6_webhooks_in_order_signed_and_retried(t):
    """The webhook receiver got acme's events in order, each signed, the first one
    again after its 503; no globex event."""
    t.ctx.wait(lambda: sum(1 for e in t.hooks.delivered() if e["event"] == "retrieved") >= 2, 15,
               f"the webhooks of the scenarios arrived: {[(e['event'], e['extension']) for e in t.hooks.delivered()]}")
    evs = [(e["event"], e["extension"]) for e in t.hooks.delivered()]
    print(f"    webhooks: {evs}")
    want = [("parked", "102"), ("retrieved", "102"), ("parked", "105"), ("abandoned", "105"),
            ("parked", "106"), ("retrieved", "106")]
    check(evs == want, f"parked, retrieved and abandoned in order: {evs}")
    ids = [h["x-callpark-delivery"] for h, _, _ in t.hooks.got]
    check(ids[0] == ids[1] and t.hooks.got[0][2] == 503, "the first delivery was answered 503 and sent again")
    for h, body, _ in t.hooks.got:
        mac = hmac.new(SECRET.encode(), f"{h['x-callpark-timestamp']}.{body}".encode(), hashlib.sha256).hexdigest()
        check(h["x-callpark-signature"] == f"sha256={mac}", f"delivery {h['x-callpark-delivery']} is signed")
    check(all(e["tenant"] == ACME for e in t.hooks.delivered()), "only acme's events go to acme's hook")


def b7_screenshot(t):
    """Two calls parked, one with a caller name, on the operator's page: the screenshot
    the documentation shows (target/board.png)."""
    t.ctx.phone("jane", "108", display="Jane Doe")
    t.park("client", "104", "101", "101", "*68102")
    t.park("jane", "108", "105", "105", "*68105")
    t.ctx.wait_parked(2)
    t.sign_in_page("103", ACME)
    t.until(lambda: len(t.rows()) == 2, 8, "both calls are listed")
    t.ua.pump(3)
    path = os.path.join(ROOT, "target", "board.png")
    check(t.d.save_screenshot(path), "the screenshot is saved")
    print(f"    screenshot: {path}")
    t.ua.hangup_all()
    t.ctx.wait_parked(0)


def b8_park_my_call_then_send_it_to_a_colleague(t):
    """The operator (103) talks to a caller and presses "Park my call": the caller is
    parked at 103; "Send to" 106 (typed, Enter) rings 106, who answers and talks to the
    caller."""
    client, p103, p106 = t.ctx.phone("client", "104"), t.ctx.phone("103", "103"), t.ctx.phone("106", "106")
    c, leg = t.ctx.call_and_answer(client, p103)
    t.sign_in_page("103", ACME)
    t.until(lambda: "Live" in t.el("#link").text and t.el("#park-mine").is_enabled(), 10, "the board is live")
    t.el("#park-mine").click()
    calls = t.ctx.wait_parked(1)
    check(calls[0]["extension"] == "103" and calls[0]["parking_user"] == "103" and calls[0]["caller_number"] == "104",
          f"the caller is parked at 103, by 103: {calls}")
    t.until(lambda: len(t.rows()) == 1, 5, "the parked call is listed")
    t.ctx.wait(lambda: leg.ended, 5, "103's own leg is free again")
    before = len(p106.incoming)
    box = t.el("#calls tbody tr .send-to")
    box.send_keys("106\n")
    answers_and_talks(t, p106, before)
    log = t.board.log_text()
    check("103@acme.example: park " in log and "103@acme.example: send " in log, "both actions are logged with who")
    t.ua.hangup_all()
    t.ctx.wait_parked(0)


SCENARIOS = [b1_wrong_password_is_refused, b2_a_park_appears_its_counter_runs_and_pick_up_connects,
             b3_other_tenants_see_nothing_and_cannot_act, b4_operator_hangs_up_from_the_page,
             b5_event_socket_restarted_under_the_board, b6_webhooks_in_order_signed_and_retried, b7_screenshot,
             b8_park_my_call_then_send_it_to_a_colleague]


def main(argv):
    wanted = set(argv)
    if unknown_scenarios(SCENARIOS, wanted, "board"):
        return 2
    subprocess.run(["make", "-s", "install"], cwd=ROOT, check=True)
    scratch = tempfile.mkdtemp(prefix="callpark-board-")
    sw = Switch(os.path.join(HERE, "run"), BASIC_CONF)
    passed = failed = 0
    failures = []
    ua = board = driver = hooks = None
    sw.start()
    try:
        from phones import UA
        ua = UA()
        sw.esl.subscribe()
        print(f"FreeSWITCH under test: {sw.api('version short').strip()} ({FS_PREFIX})")
        hooks = Hooks()
        board = Board(scratch)
        driver = browser(scratch)
        print(f"browser: {driver.capabilities.get('browserName')} {driver.capabilities.get('browserVersion')}")
        t = T(Ctx(sw, ua), board, driver, hooks)
        mark = [0]

        def run(s):
            mark[0] = len(sw.log_text())
            s(t)

        def after_failure():
            print(switch_errors(sw.log_text()[mark[0]:]))
            print("    the board's log:\n" + "\n".join("    | " + ln for ln in board.log_text().splitlines()[-25:]))
            ua.hangup_all()
            t.ctx.wait_parked(0, seconds=5)

        passed, failures = run_scenarios(SCENARIOS, wanted, run, after_failure)
        failed = len(failures)
    finally:
        for stop in (lambda: driver and driver.quit(), lambda: board and board.stop(),
                     lambda: hooks and hooks.close(), lambda: ua and ua.close(), sw.stop):
            try:
                stop()
            except Exception:
                traceback.print_exc()
        shutil.rmtree(scratch, ignore_errors=True)
    for f in failures:
        print(f"FAILED {f}")
    summary = os.environ.get("CALLPARK_FAILURE_SUMMARY")
    if summary and failures:
        with open(summary, "a") as f:
            for x in failures:
                f.write(f"board {x}\n")
    print(f"board on FreeSWITCH {FS_PREFIX}: {passed} passed, {failed} failed")
    return 1 if failed or not passed else 0


if __name__ == "__main__":
    rc = main(sys.argv[1:])
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(rc)
