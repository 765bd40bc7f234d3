"""What the real-switch tests share: the configurations most of them use, the context a
scenario gets (`Ctx`: the switch, the phones, waiting for parks and calls), BLF
watchers, SIPp helpers, and the loop that runs a suite's scenarios and reports them.
The scenarios (tests/fs/scenarios_*.py), the runner (harness.py) and the other suites
of tests/fs (cluster.py, board.py, soak.py, cluster_soak.py) import it; it imports
none of them."""

import json
import os
import re
import subprocess
import sys
import time
import traceback

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, HERE)

ACME, GLOBEX = "acme.example", "globex.example"

BASIC_CONF = """<configuration name="callpark.conf">
  <settings><param name="recall-time" value="300"/></settings>
  <tenants>
    <tenant domain="acme.example"><groups>
      <group name="sales" recall="parking-user">
        <member extension="101"/><member extension="102"/><member extension="103"/>
      </group>
    </groups></tenant>
    <tenant domain="globex.example"/>
  </tenants>
</configuration>"""

RECALL_CONF = """<configuration name="callpark.conf">
  <settings><param name="recall-time" value="300"/></settings>
  <tenants>
    <tenant domain="acme.example"><groups>
      <group name="sales" recall="parking-user" recall-time="5" ring-time="5" retry-interval="2"
             recall-attempts="2" final-destination="6001">
        <member extension="101"/><member extension="102"/><member extension="103"/>
      </group>
      <group name="support" recall="parking-user-then-ring-group" recall-time="5" alert-wait="5" ring-group="6000">
        <member extension="107"/><member extension="108"/>
      </group>
      <group name="ops" recall="ring-group" recall-time="5" ring-group="6000">
        <member extension="109"/>
      </group>
    </groups></tenant>
  </tenants>
</configuration>"""


class Failure(Exception):
    pass


def check(cond, what):
    if not cond:
        raise Failure(what)


class Ctx:
    def __init__(self, sw, ua):
        self.sw, self.ua = sw, ua
        self.p = {}

    def phone(self, key, user, domain=ACME, display=None):
        if key not in self.p:
            ph = self.ua.phone(user, domain, key, display)
            check(self.ua.pump(10, lambda: ph.registered), f"{key} registers (last code {ph.reg_code})")
            self.p[key] = ph
        return self.p[key]

    def trunk(self, key, number="5551234"):
        """A carrier's caller: unregistered, unauthenticated, on the carrier profile."""
        from switch import CARRIER_PORT
        if key not in self.p:
            self.p[key] = self.ua.phone(number, "carrier.example", key, trunk_port=CARRIER_PORT)
        return self.p[key]

    def drop_phone(self, key):
        """Unregisters a phone only one scenario needs (pjsua2 has 8 account slots)."""
        ph = self.p.pop(key, None)
        if ph:
            self.ua.hangup_all()
            self.ua.drop(ph)

    def parked(self, domain=None):
        out = self.sw.api(f"callpark list {domain or ''} json".replace("  ", " "))
        return json.loads(out)["calls"]

    def wait(self, cond, seconds, what):
        check(self.ua.pump(seconds, cond), what)

    def wait_parked(self, n, domain=ACME, seconds=8):
        end = time.time() + seconds
        while time.time() < end:
            calls = self.parked(domain)
            if len(calls) == n:
                return calls
            self.ua.pump(0.2)
        raise Failure(f"expected {n} parked calls in {domain}, `callpark list` shows {self.parked(domain)}")

    def wait_no_channels(self, what, seconds=10):
        """Waits until the switch has no channel left."""
        self.wait(lambda: self.sw.api("show channels count").strip().startswith("0 total"), seconds, what)

    def call_and_answer(self, caller, callee, attempts=2, number=None):
        """caller dials callee's extension; callee answers; both confirmed with media.
        A call the switch ends right after the answer (seen on loaded CI machines as
        INCOMPATIBLE_DESTINATION when pjsua's media port setup raced) is dialed again once."""
        for attempt in range(attempts):
            try:
                return self._call_and_answer(caller, callee, number)
            except Failure:
                if attempt + 1 == attempts or self.ua.live_calls():
                    raise
                print(f"    (the call from {caller.name} to {callee.name} ended at once; dialing again)")
                self.ua.pump(0.5)

    def _call_and_answer(self, caller, callee, number=None):
        before = len(callee.incoming)
        c = caller.dial(number or callee.user)
        self.wait(lambda: len(callee.incoming) > before, 8, f"{callee.name} rings")
        inc = callee.incoming[-1]
        callee.answer(inc)
        ok = self.ua.pump(15, lambda: c.confirmed and inc.confirmed and c.media_active)
        check(ok, f"{caller.name} talks to {callee.name} (caller: state {c.state} code {c.code} media "
              f"{c.media_active}; callee: state {inc.state} code {inc.code}; live calls {len(self.ua.live_calls())})")
        return c, inc

    def park_by_transfer(self, caller, parker, code, number=None, referred_by=None, hang_up_at_once=False):
        """caller calls parker (at `number`, else its extension); parker blind-transfers
        (REFER) the call to `code`, with a `Referred-By` of its own making if given, and
        with `hang_up_at_once` sends its BYE right behind the REFER, as some phones do."""
        c, leg = self.call_and_answer(caller, parker, number=number)
        # Transferred as people do, after a moment of conversation: the switch records
        # the bridge's parties (its CHANNEL_BRIDGE event) before the REFER. (A REFER
        # within milliseconds of the answer can beat that record: an open question.)
        self.ua.pump(0.3)
        self.xfer(leg, f"sip:{code}@{parker.domain}", referred_by)
        if hang_up_at_once:
            leg.hangup(__import__("pjsua2").CallOpParam(True))
        self.wait(lambda: 202 in leg.xfer_codes or leg.ended, 8, f"{parker.name}'s REFER to {code} is accepted")
        self.ua.pump(1.0, lambda: leg.ended)
        if not leg.ended:
            leg.hangup(__import__("pjsua2").CallOpParam(True))
            self.ua.pump(0.5, lambda: leg.ended)
        return c

    def xfer(self, leg, uri, referred_by=None):
        """A blind transfer of `leg` to `uri`; pjsua2 writes its own Referred-By (its
        dialog's local URI) unless `referred_by` replaces it."""
        pj = __import__("pjsua2")
        op = pj.CallOpParam(True)
        if referred_by:
            h = pj.SipHeader()
            h.hName, h.hValue = "Referred-By", referred_by
            op.txOption.headers.append(h)
        leg.xfer(uri, op)

    def pick_up(self, phone, code):
        """`phone` dials `code` (a retrieve) and is connected: the park empties."""
        r = phone.dial(code)
        self.wait(lambda: r.confirmed and r.media_active, 8, f"{phone.name}'s {code} is answered")
        self.wait_parked(0)
        return r

    def rtp_flows(self, call, seconds=1.5):
        rx0, tx0 = call.rtp()
        self.ua.pump(seconds)
        rx1, tx1 = call.rtp()
        return rx1 - rx0, tx1 - tx0


def blf(ctx, user, target, domain=ACME, target_domain=None):
    from phones import BlfWatcher
    w = BlfWatcher(user, domain, target, target_domain)
    ok = w.subscribe(ctx.ua.pump)
    check(ok and 200 <= w.sub_code < 300, f"BLF SUBSCRIBE to {target}@{domain} as {user} accepted (got {w.sub_code})")
    return w


def blf_wait(ctx, w, state, seconds=6):
    """Waits for the lamp to show `state`; "off" is no dialog, or a terminated one."""
    def seen():
        w.pump()
        got = w.state()[0]
        return got == state or (state == "off" and got in ("idle", "terminated"))
    check(ctx.ua.pump(seconds, seen), f"BLF {w.target} shows {state} (last: {w.state()}, {len(w.notifies)} NOTIFYs)")
    return w.state()


def start_sipp(ctx, scenario, user, service, port, media_port, name, delay_ms=0, domain=ACME, ip="127.0.0.1",
               extra=()):
    """Starts SIPp on `scenario` (tests/fs/sipp/) as `user` of `domain` with its digest
    credentials, from `ip`, dialing `service` at ctx.sw; its default pause is `delay_ms`.
    Returns the process and the path of its message log."""
    from switch import password
    return run_sipp(ctx, scenario, name, port, media_port,
                    ["-l", "1", "-s", service, "-key", "domain", domain, "-key", "user", user, "-d", str(delay_ms),
                     "-au", user, "-ap", password(user, domain)] + list(extra), ip=ip)


def switch_errors(log, most=30):
    """The error and warning lines of a piece of the switch's log (with the
    hang-up causes' reasons), for a failure's output: CI keeps only what is printed."""
    lines = [ln for ln in log.splitlines()
             if re.search(r"\[(ERR|CRIT|ALERT|WARNING)\]", ln) or re.search(r"\[NOTICE\] (mod_callpark|callpark_[a-z]+)\.c", ln)]
    if not lines:
        return "    the switch logged no error or warning, and callpark no notice"
    return ("    errors and warnings of the switch, and callpark's notices (why a code was refused):\n"
            + "\n".join("    | " + ln for ln in lines[-most:]))


def run_sipp(ctx, scenario, name, port, media_port, extra, ip="127.0.0.1"):
    """Starts one SIPp call of `scenario` on `ip`:`port` to ctx.sw, logging its messages;
    `extra` are further arguments. Returns the process and the path of its message log."""
    SIP_PORT = ctx.sw.sip_port
    work = os.path.join(ctx.sw.run, "sipp")
    os.makedirs(work, exist_ok=True)
    log = os.path.join(work, f"{name}.log")
    if os.path.exists(log):
        os.remove(log)
    args = ["sipp", f"127.0.0.1:{SIP_PORT}", "-sf", os.path.join(HERE, "sipp", scenario),
            "-i", ip, "-p", str(port), "-mp", str(media_port), "-m", "1",
            "-timeout", "20", "-timeout_error", "-trace_msg", "-message_file", log, "-nostdin"] + extra
    with open(os.path.join(work, f"{name}.out"), "w") as screen:
        return subprocess.Popen(args, cwd=work, stdout=screen, stderr=subprocess.STDOUT), log


def sipp_final(ctx, proc, log, name):
    """Waits for a SIPp started by start_sipp; returns the switch's final answer to its
    authenticated INVITE ("200", "480", or what else came), with SIPp's exit code when it
    failed."""
    # pjsua2 keeps its own SIP stack: its events must go on while SIPp runs.
    while proc.poll() is None:
        ctx.ua.pump(0.05)
    text = open(log, errors="replace").read() if os.path.exists(log) else ""
    # One message per start line; the final answers to the authenticated INVITE.
    messages = re.split(r"^(?=SIP/2\.0 |[A-Z]+ sip:)", text, flags=re.M)
    finals = [m[8:11] for m in messages
              if m.startswith("SIP/2.0 ") and m[8] != "1" and re.search(r"^CSeq: 2 INVITE", m, re.M)]
    out = finals[-1] if finals else "none"
    if proc.returncode != 0:
        out += f" (sipp exit {proc.returncode}; see {ctx.sw.run}/sipp/{name}.out and .log)"
    return out


def sipp_retrievers(ctx, users, target, domain=ACME, delay_ms=0):
    """Starts one SIPp retriever per user (tests/fs/sipp/retrieve_race.xml), all at once,
    each dialing `target` with its own digest credentials after `delay_ms`; returns, per
    user, the final answer the switch gave its authenticated INVITE."""
    procs = {user: start_sipp(ctx, "retrieve_race.xml", user, target, 25160 + i, 26000 + 100 * i,
                              f"race-{user}", delay_ms, domain)
             for i, user in enumerate(users)}
    return {user: sipp_final(ctx, proc, log, f"race-{user}") for user, (proc, log) in procs.items()}


def use_conf(ctx, xml):
    ctx.sw.set_callpark_conf(xml)
    out = ctx.sw.api("callpark reload")
    check("+OK" in out, f"callpark reload takes the configuration: {out}")


ALICE_CONF = BASIC_CONF.replace('<tenant domain="acme.example">',
                                '<tenant domain="acme.example"><settings><param name="recall-time" value="5"/>'
                                '<param name="ring-time" value="10"/></settings>')


def channel_uuid(ctx, cid_num, direction="inbound"):
    """The uuid of the one channel from `cid_num` in `direction`, as the switch lists it
    (its channel table is written a moment after the call is up)."""
    rows, found = [], []
    end = time.time() + 5
    while time.time() < end and len(found) != 1:
        rows = json.loads(ctx.sw.api("show channels as json")).get("rows") or []
        found = [r["uuid"] for r in rows if r.get("cid_num") == cid_num and r.get("direction") == direction]
        ctx.ua.pump(0.2)
    check(len(found) == 1, f"one {direction} channel from {cid_num}: {rows}")
    return found[0]


def callpark_events(ctx):
    return [e for e in ctx.sw.esl.poll_events(0.5) if e.get("Event-Subclass") == "callpark::info"]


def unknown_scenarios(scenarios, wanted, suite):
    """Whether `wanted` names a scenario `scenarios` lacks (a typo would otherwise run
    nothing and pass); says which."""
    unknown = wanted - {s.__name__ for s in scenarios}
    if unknown:
        print(f"no such {suite} scenario: {', '.join(sorted(unknown))}")
    return bool(unknown)


def run_scenarios(scenarios, wanted, run, after_failure):
    """Runs each of `scenarios` named in `wanted` (all when it is empty) as `run(s)`,
    printing a PASS or FAIL line with its time; after a failure `after_failure()` prints
    what CI must see of it and cleans up (a failure of its own is printed and passed
    over). Returns the number passed and the failures' one-line summaries. The suites
    of tests/fs (harness.py, cluster.py, board.py) share it."""
    passed, failures = 0, []
    for s in scenarios:
        if wanted and s.__name__ not in wanted:
            continue
        t0 = time.time()
        try:
            run(s)
            passed += 1
            print(f"PASS {s.__name__} ({time.time() - t0:.1f} s): {s.__doc__.splitlines()[0]}")
        except Exception as e:  # a failed check or a crash of the scenario
            print(f"FAIL {s.__name__} ({time.time() - t0:.1f} s): {e}")
            failures.append(f"{s.__name__}: {str(e).splitlines()[0] if str(e) else type(e).__name__}")
            if not isinstance(e, Failure):
                traceback.print_exc()
            try:
                after_failure()
            except Exception:
                traceback.print_exc()
    return passed, failures
