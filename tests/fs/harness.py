#!/usr/bin/env python3
"""Real-switch tests of mod_callpark: builds and installs the module, starts a
FreeSWITCH of its own on loopback, drives it with real SIP clients (pjsua2 phones and
a raw-UDP BLF subscriber), checks the SIP wire and `callpark list`, and stops it.

The scenarios are in scenarios_*.py, one file per theme, and run theme by theme in the
order below, s1 to s51: a scenario's number is its place in that order. What they share
is common.py.

Run: tests/fs/run.sh [scenario-name ...]   (all scenarios when none is named)"""

import os
import re
import subprocess
import sys

import scenarios_identity
import scenarios_lifecycle
import scenarios_operator
import scenarios_parking
import scenarios_phones
import scenarios_recall
from common import BASIC_CONF, HERE, ROOT, Ctx, run_scenarios, switch_errors, unknown_scenarios
from switch import FS_PREFIX, Switch

SCENARIOS = (scenarios_parking.SCENARIOS + scenarios_recall.SCENARIOS + scenarios_identity.SCENARIOS
             + scenarios_lifecycle.SCENARIOS + scenarios_phones.SCENARIOS + scenarios_operator.SCENARIOS)
# The order a name says is the order it runs.
assert [int(re.match(r"s(\d+)_", s.__name__).group(1)) for s in SCENARIOS] == list(range(1, len(SCENARIOS) + 1)), \
    [s.__name__ for s in SCENARIOS]


def main(argv):
    wanted = set(argv)
    if unknown_scenarios(SCENARIOS, wanted, "real-switch"):
        return 2
    subprocess.run(["make", "-s", "install"], cwd=ROOT, check=True)
    run_dir = os.path.join(HERE, "run")
    sw = Switch(run_dir, BASIC_CONF)
    passed = failed = 0
    failures = []
    sw.start()
    ua = None
    mark = [0]
    fs_version = sw.api("version short").strip() + f" ({sw.api('version').strip()}, {FS_PREFIX})"
    try:
        from phones import UA
        ua = UA()
        out = sw.api("module_exists mod_callpark")
        if out.strip() != "true":
            print(f"mod_callpark did not load: {out}\n{sw.log_text()[-3000:]}")
            print("fs: 0 passed, 1 failed")
            return 1
        print(f"FreeSWITCH under test: {fs_version}")
        print(sw.api("callpark status").strip())
        ctx = Ctx(sw, ua)

        def run(s):
            mark[0] = len(sw.log_text())
            if os.environ.get("CALLPARK_FS_DEBUG"):
                regs = [ln.split()[-1] for ln in sw.api("sofia status profile internal reg").splitlines()
                        if ln.startswith("Contact")]
                print(f"{s.__name__}: registered {regs}")
            s(ctx)

        def after_failure():
            # CI keeps only what is printed: the switch's errors and last words go with
            # the failure.
            print(switch_errors(sw.log_text()[mark[0]:]))
            tail = sw.log_text().splitlines()[-40:]
            print("    last lines of the FreeSWITCH log:\n" + "\n".join("    | " + ln for ln in tail))
            ua.hangup_all()
            ctx.wait_parked(0, seconds=5)

        passed, failures = run_scenarios(SCENARIOS, wanted, run, after_failure)
        failed = len(failures)
        leftover = sw.api("show channels count").strip()
        print(f"after the scenarios: {leftover}")
    finally:
        if ua:
            ua.close()
        sw.stop()
    if failed:
        print(f"FreeSWITCH log: {run_dir}/log/freeswitch.log")
        for f in failures:
            print(f"FAILED {f}")
    summary = os.environ.get("CALLPARK_FAILURE_SUMMARY")
    if summary and failures:
        # make test prints these last, where a log cut to its tail still shows them.
        with open(summary, "a") as out:
            out.writelines(f"  {fs_version.split()[0]} {f}\n" for f in failures)
    print(f"fs on FreeSWITCH {fs_version}: {passed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    rc = main(sys.argv[1:])
    sys.stdout.flush()
    sys.stderr.flush()
    # pjsua2's Python wrappers assert in their finalizers once the endpoint is gone:
    # everything is reported and FreeSWITCH is stopped, so leave without them.
    os._exit(rc)
