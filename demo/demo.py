"""The callpark demo: FreeSWITCH with mod_callpark and the sample configuration
(freeswitch/conf/autoload_configs/callpark.conf.xml), users in two domains, on
127.0.0.1 only. First it plays the product's first scenario with scripted phones (the
test suite's pjsua2 phones and BLF watcher) and says what happens, then it stays up for
real softphones. Stops cleanly on Ctrl-C, SIGTERM or after DEMO_SECONDS.
  demo/run.sh            the scenario, then up until Ctrl-C
  demo/run.sh --once     the scenario, then stop (make test)
  demo/run.sh --check    start, check the module answers, stop (no phones)"""

import os
import signal
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "tests", "fs"))

from switch import USERS, Switch, password  # noqa: E402

SIP_PORT, ESL_PORT = 5060, 8022


def sample_conf():
    with open(os.path.join(ROOT, "freeswitch", "conf", "autoload_configs", "callpark.conf.xml")) as f:
        return f.read()


def banner():
    lines = [
        f"callpark demo: FreeSWITCH on 127.0.0.1:{SIP_PORT} (UDP), event socket 127.0.0.1:{ESL_PORT} (password ClueCon)",
        "",
        f"Register softphones to 127.0.0.1:{SIP_PORT} (outbound proxy), username/password:",
    ]
    for domain, users in USERS.items():
        lines.append(f"  {domain}: " + ", ".join(f"{u}/{password(u, domain)}" for u in users[:5]) + ", ...")
    lines += [
        "  baresip account line, for example:",
        f'    <sip:101@acme.example>;auth_pass={password("101", "acme.example")};outbound="sip:127.0.0.1:{SIP_PORT}"',
        "",
        "Then, with 101 and 102 of acme.example registered (the sample group 'sales' is 101-103):",
        "  call 101 from 104, and on 101 blind-transfer the call to *68102  -> parked at 102",
        "  on 102 dial *88 (or *88102 from any acme phone)                  -> picked up",
        "  *68 parks at your own extension, *58 against the first free member of your group;",
        "  unanswered parked calls are recalled after 45 s (acme.example's recall-time).",
        "",
        f"  fs_cli -H 127.0.0.1 -P {ESL_PORT} -p ClueCon -x 'callpark list'",
        "",
        "Ctrl-C stops FreeSWITCH.",
    ]
    print("\n".join(lines), flush=True)


def say(text):
    print(f"demo: {text}", flush=True)


def first_scenario(sw):
    """101 parks a caller at 102 by a blind transfer to *68102; the lamp park+102 lights
    with the caller's number; 102 dials *88; both hear each other; the lamp goes out.
    Every step is checked: a step that does not happen ends the demo with an error."""
    import phones
    phones.SIP_PORT = SIP_PORT
    from common import Ctx, blf, blf_wait, check
    ua = phones.UA()
    try:
        ctx = Ctx(sw, ua)
        say("three phones of acme.example register: 104 (a caller), 101 (who parks), 102 (who picks up);")
        say("103 watches the BLF lamp park+102 (a SUBSCRIBE for its dialog state)")
        client, p101, p102 = ctx.phone("client", "104"), ctx.phone("101", "101"), ctx.phone("102", "102")
        w = blf(ctx, "103", "park+102")
        blf_wait(ctx, w, "off")
        say("  the lamp park+102 is off")
        say("104 calls 101, 101 answers, and 101 blind-transfers the call to *68102 (a SIP REFER)")
        c = ctx.park_by_transfer(client, p101, "*68102")
        call = ctx.wait_parked(1)[0]
        check(call["extension"] == "102" and call["parking_user"] == "101", f"parked at 102 by 101: {call}")
        say(f"  `callpark list`: {call['caller_number']} parked at {call['extension']} by {call['parking_user']} "
            f"in {call['tenant']}")
        rx, _ = ctx.rtp_flows(c)
        check(c.confirmed and rx > 25, f"the parked caller keeps its call and hears hold music ({rx} RTP packets)")
        say(f"  104 is on hold: {rx} RTP packets of hold music in 1.5 s")
        state, who = blf_wait(ctx, w, "confirmed")
        check("104" in who, f"the lamp shows the parked caller 104 ({who!r})")
        say(f"  the lamp park+102 lights ({state}) and shows the parked caller: {who.strip()}")
        ctx.ua.pump(1.0, lambda: p102.messages)
        for _, body in p102.messages:
            say(f"  102's phone gets a message: {body!r}")
        say("102 dials *88")
        r = ctx.pick_up(p102, "*88")
        rx_c, _ = ctx.rtp_flows(c)
        rx_r, _ = ctx.rtp_flows(r)
        check(rx_c > 25 and rx_r > 25, f"RTP flows both ways after *88 (104 {rx_c}, 102 {rx_r} packets)")
        say(f"  102 is connected to 104: both hear each other (104 got {rx_c}, 102 got {rx_r} RTP packets in 1.5 s)")
        blf_wait(ctx, w, "off")
        say("  the lamp park+102 goes out; nothing is parked")
        w.unsubscribe()
        say("the scripted phones hang up and unregister")
        return True
    except Exception as e:  # a failed check (common.Failure) or a phone that broke
        print(f"demo FAILED: {e}\n  the switch's log: {sw.run}/log/freeswitch.log", file=sys.stderr, flush=True)
        return False
    finally:
        ua.close()


def main(argv):
    sw = Switch(os.path.join(ROOT, "demo", "run"), sample_conf(), sip_port=SIP_PORT, esl_port=ESL_PORT)
    stop = {"now": False}

    def on_signal(signum, frame):
        stop["now"] = True

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    sw.start()
    try:
        if sw.api("module_exists mod_callpark").strip() != "true":
            print("mod_callpark did not load; see demo/run/log/freeswitch.log", file=sys.stderr)
            return 1
        status = sw.api("callpark status").strip()
        if "--check" in argv:
            listing = sw.api("callpark list").strip()
            ok = status.startswith("callpark ") and "1 configured tenants, 2 groups" in status and listing == "0 parked calls"
            print(f"demo check: {status}; {listing}: {'ok' if ok else 'NOT OK'}")
            return 0 if ok else 1
        say(f"{sw.api('version').strip()}; {status}")
        if not first_scenario(sw):
            return 1
        if "--once" in argv:
            return 0
        print(flush=True)
        banner()
        limit = float(os.environ.get("DEMO_SECONDS", "0") or 0)
        started = time.time()
        while not stop["now"] and (not limit or time.time() - started < limit):
            time.sleep(0.5)
        return 0
    finally:
        print("stopping FreeSWITCH ...", flush=True)
        sw.stop()


if __name__ == "__main__":
    rc = main(sys.argv[1:])
    sys.stdout.flush()
    sys.stderr.flush()
    # pjsua2's Python wrappers assert in their finalizers once the endpoint is gone (as in
    # tests/fs/harness.py): the switch is stopped, so leave without them.
    os._exit(rc)
