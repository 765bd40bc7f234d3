"""The callpark demo: FreeSWITCH with mod_callpark and the sample configuration
(freeswitch/conf/autoload_configs/callpark.conf.xml), users in two domains, on
127.0.0.1 only. Stops cleanly on Ctrl-C, SIGTERM or after DEMO_SECONDS."""

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
        banner()
        print(status, flush=True)
        limit = float(os.environ.get("DEMO_SECONDS", "0") or 0)
        started = time.time()
        while not stop["now"] and (not limit or time.time() - started < limit):
            time.sleep(0.5)
        return 0
    finally:
        print("stopping FreeSWITCH ...", flush=True)
        sw.stop()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
