#!/usr/bin/env python3
"""Pick-up latency across two nodes sharing one park on Redis, against a pick-up on the
node that holds the call, side by side in one run: a call parked on node A (a blind
transfer to *68102) is picked up with *88102 alternately by 102 registered on A
(local) and by 103 registered on B (the claim in Redis, the hand-over call from B to A,
A's bridge). The time is from the retriever's INVITE to its call being confirmed with
media, as the pjsua2 phone sees it (its event loop runs every 10 ms).

Run: python3 bench/cross_node_pickup.py [rounds]   (FreeSWITCH from FREESWITCH_PREFIX;
uses the ports of tests/fs/cluster.py: not while other real-switch tests run)."""

import os
import statistics
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "tests", "fs"))

import cluster  # noqa: E402
from harness import check  # noqa: E402


def pick_up(t, phone):
    r = phone.dial("*88102")
    t0 = time.time()
    t.ua.pump(10, lambda: r.confirmed and r.media_active)
    took = time.time() - t0
    check(r.confirmed, f"{phone.name}'s *88102 is answered")
    t.wait_parked(t.a, 0)
    t.clear()
    return took * 1000


def main(rounds):
    a, b, redis, ua = cluster.start_both()
    try:
        t = cluster.Two(a, b, ua, redis)
        client, p101 = t.phone(a, "104"), t.phone(a, "101")
        local, remote = t.phone(a, "102"), t.phone(b, "103")
        times = {"local (102 on A)": [], "cross-node (103 on B)": []}
        for i in range(rounds):
            for name, phone in (("local (102 on A)", local), ("cross-node (103 on B)", remote)):
                t.park(a, client, p101, "*68102")
                t.wait_parked(b, 1)
                times[name].append(pick_up(t, phone))
        print(f"FreeSWITCH {a.api('version short').strip()}, {rounds} pick-ups each, alternating")
        med = {}
        for name, v in times.items():
            v.sort()
            med[name] = statistics.median(v)
            print(f"  {name:24s} median {med[name]:6.1f} ms, p90 {v[int(len(v) * 0.9) - 1]:6.1f} ms, "
                  f"min {v[0]:6.1f} ms, max {v[-1]:6.1f} ms")
        ratio = med["cross-node (103 on B)"] / med["local (102 on A)"]
        print(f"  cross-node / local (medians): {ratio:.2f}x")
    finally:
        cluster.stop_both(a, b, redis, ua)


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 20)
    sys.stdout.flush()
    os._exit(0)
