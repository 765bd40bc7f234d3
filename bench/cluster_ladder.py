#!/usr/bin/env python3
"""Park-and-retrieve cycles per second that two nodes sharing one park on Redis keep up
with, against one node with the memory store: a ladder of rates, each step up to the
first one not kept up, both columns in one run.

  one node   one bench switch (bench/fs/freeswitch.xml, as bench/park_vs_valet.py's
             callpark column), `store` memory: SIPp parks with *68<ext> and retrieves
             with *88<ext> at it;
  two nodes  two bench switches on one redis-server (`store` redis://, each node's
             bench profile its node-address, `cross-node-pickup` bridge): SIPp parks on
             A and retrieves the same extensions on B, every pick-up a cross-node one
             (B claims in Redis, calls A, A bridges).

A step is kept up as in bench/park_vs_valet.py: fewer than 0.1% of its cycles failed,
and the last one ended within 2 s of when the offered rate had it end. Each step runs on
fresh switches (and an emptied Redis). The retrieve follows its park by 1 s (B sees a
park within its 250 ms sync). Prints CPU seconds per 1,000 cycles of each switch too.

Run as root: python3 bench/cluster_ladder.py [--rates 10,20,...] [--seconds 6]
(FreeSWITCH from FREESWITCH_PREFIX, redis-server; not while tests/fs runs)."""

import argparse
import os
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "tests", "fs"))

import park_vs_valet as pv  # noqa: E402
from cluster import Redis  # noqa: E402

REDIS_PORT = 26379
B_SIP, B_ESL = 36060, 39021
OFFSET_S = 1.0
MODULE = "callpark"


class Node(pv.BenchSwitch):
    """A bench switch whose callpark.conf shares the park on Redis as `node`."""

    def __init__(self, run, users, needed, node=None, rtp=(pv.RTP_START, pv.RTP_END), **kw):
        super().__init__(run, users, needed, **kw)
        self.node, self.rtp_range = node, rtp

    def render(self):
        super().render()
        if not self.node:
            return
        path = os.path.join(self.run, "conf", "freeswitch.xml")
        with open(path) as f:
            text = f.read()
        start = text.index('<configuration name="callpark.conf"')
        settings = text.index("<settings>", start) + len("<settings>")
        store = (f'<param name="store" value="redis://127.0.0.1:{REDIS_PORT}/0"/>'
                 f'<param name="node" value="{self.node}"/>'
                 f'<param name="node-address" value="127.0.0.1:{self.sip_port}"/>')
        with open(path, "w") as f:
            f.write(text[:settings] + store + text[settings:])


def step(nodes, work, rate, seconds):
    """One ladder step: parks at nodes[0], retrieves at nodes[-1]."""
    n = max(1, int(rate * seconds))
    exts = [pv.CYCLE_EXTS[i % len(pv.CYCLE_EXTS)] for i in range(n)]
    cpu0 = [sw.cpu_seconds() for sw in nodes]
    parker = pv.Sipp(work, "park", "park.xml", MODULE, exts, rate, n, target=nodes[0].sip_port)
    time.sleep(OFFSET_S)
    retriever = pv.Sipp(work, "retrieve", "retrieve.xml", MODULE, exts, rate, n, target=nodes[-1].sip_port)
    retriever.wait(n / rate + 10)
    parker.wait(5)
    cpu = [sw.cpu_seconds() - c for sw, c in zip(nodes, cpu0)]
    p_ok, _ = parker.stats()
    r_ok, _ = retriever.stats()
    ok = min(p_ok, r_ok)
    elapsed = retriever.ended - retriever.started
    return {"rate": rate, "cycles": n, "ok": ok, "cycles_per_s": ok / elapsed if elapsed > 0 else 0.0,
            "kept": (n - ok) / n < 0.001 and elapsed <= n / rate + 2.0,
            "cpu_s_per_1000": [c / max(ok, 1) * 1000 for c in cpu]}


def start(two, run_dir, users, needed):
    subprocess.run(["pkill", "-f", "^sipp 127.0.0.1:"], check=False)
    a = Node(os.path.join(run_dir, "a"), users, needed, node="a" if two else None,
             rtp=(20000, 24999), sip_port=pv.SIP_PORT, esl_port=pv.ESL_PORT)
    nodes = [a]
    if two:
        nodes.append(Node(os.path.join(run_dir, "b"), users, needed, node="b", rtp=(25000, 29999),
                          sip_port=B_SIP, esl_port=B_ESL))
    for sw in nodes:
        sw.start()
    if two:
        # Each node sees the other alive before the first pick-up.
        time.sleep(1.5)
    return nodes


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rates", default="10,20,40,60,80,100,130,160,200")
    ap.add_argument("--seconds", type=float, default=6.0)
    ap.add_argument("--users", type=int, default=500)
    args = ap.parse_args()
    rates = [int(r) for r in args.rates.split(",") if r]
    subprocess.run(["make", "-s", "install"], cwd=pv.ROOT, check=True)
    run_dir = os.path.join(HERE, "run-cluster")
    work = os.path.join(run_dir, "sipp")
    os.makedirs(work, exist_ok=True)
    needed = [str(e) for e in pv.CYCLE_EXTS] + [pv.PARKER]
    result, version = {}, "?"
    for two in (False, True):
        name = "two nodes on Redis" if two else "one node, memory"
        steps = result[name] = []
        for rate in rates:
            redis = Redis(REDIS_PORT) if two else None
            if redis:
                redis.start()
            nodes = start(two, run_dir, args.users, needed)
            version = nodes[0].api("version short").strip()
            try:
                s = step(nodes, work, rate, args.seconds)
            finally:
                for sw in nodes:
                    sw.stop()
                if redis:
                    redis.stop()
            steps.append(s)
            cpu = " + ".join(f"{c:.1f}" for c in s["cpu_s_per_1000"])
            print(f"{name:>20}: {rate:>4}/s offered, {s['ok']}/{s['cycles']} ok, {s['cycles_per_s']:.1f}/s, "
                  f"CPU {cpu} s per 1000{'' if s['kept'] else '  (not kept up)'}", flush=True)
            if not s["kept"]:
                break
    print(f"\nFreeSWITCH {version} ({pv.switch.FS_PREFIX}), {args.users} users, steps of {args.seconds:.0f} s, "
          f"{time.strftime('%Y-%m-%d')}")
    for name, steps in result.items():
        kept = max((s["rate"] for s in steps if s["kept"]), default=0)
        failed = next((s["rate"] for s in steps if not s["kept"]), None)
        print(f"  {name:>20}: highest rate kept {kept}/s, first not kept {failed or '-'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
