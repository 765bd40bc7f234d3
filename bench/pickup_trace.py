#!/usr/bin/env python3
"""Where a pick-up's time goes inside the switch, from the CPT lines that
bench/trace-pickup.patch makes mod_callpark log (a measurement aid, never installed by
`make`): per *88 that was bridged, the time (printed in ms) in the callpark application (the switch's
real-time clock, switch_time_now): reading the facts, the engine up
to the bridge callback, the answer (200 OK sent), switch_ivr_uuid_bridge, the caller ID
update, and what follows the bridge (lamps, event) until the application returns.

Run:  git apply bench/trace-pickup.patch && make -s install
      python3 bench/park_vs_valet.py --modules callpark --levels 0 --rounds 1 --rates 50 \
          --sweep "" --blf-rounds 0 --memory 0 --json /tmp/trace.json
      python3 bench/pickup_trace.py bench/run/log/freeswitch.log
      git apply -R bench/trace-pickup.patch && make -s install
(the log is the last fresh switch's: the ladder step's 300 cycles at 50/s). The patch
copies lines of freeswitch/callpark_bridge.c and callpark_park.c: `git apply --check bench/trace-pickup.patch`
says whether it still fits the module.
"""
import re
import sys

from park_vs_valet import median, percentile  # the benchmark's own figures

NAMES = ["facts", "dial-bridge", "answer", "uuidbridge", "show", "after"]
PAT = re.compile(r"CPT \S+ facts (-?\d+) dial-bridge (-?\d+) answer (-?\d+) "
                 r"uuidbridge (-?\d+) show (-?\d+) after (-?\d+)")


def main(path):
    rows = [[int(x) for x in m.groups()] for m in map(PAT.search, open(path, errors="replace")) if m]
    if not rows:
        print(f"no CPT lines in {path}: is bench/trace-pickup.patch applied and installed?")
        return 1
    print(f"{len(rows)} pick-ups; ms")
    for i, n in enumerate(NAMES + ["app-answered"]):
        xs = [(sum(r[0:3]) if n == "app-answered" else r[i]) / 1000 for r in rows]
        print(f"{n:13} median {median(xs):7.2f}  p90 {percentile(xs, 90):7.2f}  p99 {percentile(xs, 99):7.2f}"
              f"  max {max(xs):7.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1] if len(sys.argv) > 1 else "bench/run/log/freeswitch.log"))
