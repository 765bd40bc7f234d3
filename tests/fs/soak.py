#!/usr/bin/env python3
"""Soak: parks, retrieves, recalls and abandons calls at random on the real switch for a
bounded time (SOAK_SECONDS, default 60), and reloads (or unloads and loads) the module at
random moments; checks that no call that was up ended with a reload, and afterwards that
no call is left parked, no lamp is left lit, the switch's session count is back to zero,
and the engine holds nothing;
prints the numbers (operations, outcomes, FreeSWITCH's resident memory before and after).

Run: tests/fs/run.sh --soak   (or SOAK_SECONDS=600 tests/fs/run.sh --soak)"""

import os
import random
import re
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import pjsua2 as pj  # noqa: E402

import common  # noqa: E402
from common import ACME, Ctx, Failure, blf, check  # noqa: E402

SOAK_CONF = """<configuration name="callpark.conf">
  <settings><param name="max-calls-per-extension" value="3"/></settings>
  <tenants><tenant domain="acme.example"><groups>
    <group name="sales" recall="parking-user" recall-time="6" ring-time="5" retry-interval="2"
           recall-attempts="2" final-destination="6001">
      <member extension="101"/><member extension="102"/><member extension="103"/>
    </group>
  </groups></tenant></tenants>
</configuration>"""


def heap_bytes(sw):
    """The library's own heap use, from `callpark status` (the module's build counts it)."""
    m = re.search(r"heap (\d+) bytes", sw.api("callpark status"))
    check(m is not None, "callpark status shows the library's heap use")
    return int(m.group(1))


def rss_kb(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


HEAP_SLACK = 16 * 1024


def soak(ctx, seconds, rng):
    sw, ua = ctx.sw, ctx.ua
    client, p101 = ctx.phone("client", "104"), ctx.phone("101a", "101")
    p102, p103, p106 = ctx.phone("102", "102"), ctx.phone("103", "103"), ctx.phone("106", "106")
    sw.set_callpark_conf(SOAK_CONF)
    check("+OK" in sw.api("callpark reload"), "soak configuration")
    lamps = [blf(ctx, "105", f"park+{e}") for e in ("101", "102", "103")]
    counts = {"park": 0, "retrieve-ok": 0, "retrieve-refused": 0, "abandon": 0, "recall-answered": 0,
              "recall-ignored": 0, "sent-back": 0, "final": 0, "reload": 0, "unload-load": 0, "dropped": 0,
              "waited": 0, "incomplete": 0}
    sent_back = set()
    parked = []  # the client's calls believed parked
    seen_incoming = {p: 0 for p in (p101, p102, p103, p106)}
    rss_start = heap_warm = None
    heap_start = heap_bytes(sw)
    start = time.time()
    while time.time() - start < seconds:
        if rss_start is None and time.time() - start > min(10, seconds / 4):
            rss_start = rss_kb(sw.proc.pid)
            heap_warm = heap_bytes(sw)
        # Answer (or ignore) whatever rang meanwhile: recalls on 101, sent-back calls, finals on 106.
        for p in (p101, p106):
            for call in p.incoming[seen_incoming[p]:]:
                if call.ended:
                    continue
                if call.state == pj.PJSIP_INV_STATE_INCOMING or call.state == pj.PJSIP_INV_STATE_EARLY:
                    if rng.random() < 0.5:
                        p.answer(call)
                        counts["final" if p is p106 else "recall-answered"] += 1
                    else:
                        counts["recall-ignored"] += 1
            seen_incoming[p] = len(p.incoming)
        for p in (p101, p106):
            for call in p.calls:
                if call.confirmed and rng.random() < 0.3:
                    call.hangup(pj.CallOpParam(True))
        parked = [c for c in parked if not c.ended]
        op = rng.random()
        try:
            # pjsua2 as packaged allows 4 calls at once per process: at most 2 parked.
            # An operation that needs more calls than the client has free waits its turn.
            free = 4 - len(ua.live_calls())
            if (op < 0.35 and len(parked) < 2 and free < 2) or (0.35 <= op < 0.65 and free < 1):
                counts["waited"] += 1
                ua.pump(0.5)
            elif op < 0.35 and len(parked) < 2:
                code = rng.choice(["*68", "*68102", "*68103", "*58", "*68999"])
                before = len(p101.incoming)
                c = ctx.park_by_transfer(client, p101, code)
                seen_incoming[p101] = max(seen_incoming[p101], before + 1)
                counts["park" if code != "*68999" else "sent-back"] += 1
                if code == "*68999":
                    sent_back.add(id(c))  # rings 101 back; unanswered, the switch ends it
                parked.append(c)
            elif op < 0.65:
                who = rng.choice([p102, p103])
                r = who.dial(rng.choice(["*88", "*88101", "*88102", "*88103"]))
                ua.pump(6, lambda: r.confirmed or r.ended)
                if r.confirmed:
                    counts["retrieve-ok"] += 1
                    ua.pump(0.3)
                    r.hangup(pj.CallOpParam(True))
                else:
                    counts["retrieve-refused"] += 1
            elif op < 0.8 and parked:
                c = rng.choice(parked)
                c.hangup(pj.CallOpParam(True))
                counts["abandon"] += 1
            elif op < 0.87:
                # The module reloaded (or unloaded, then loaded) under whatever goes on:
                # no call that is up may end for it (the test hangs nothing up meanwhile).
                up = [c for c in ua.live_calls() if c.confirmed and id(c) not in sent_back]
                if rng.random() < 0.5:
                    out = sw.api("reload mod_callpark")
                    counts["reload"] += 1
                else:
                    out = sw.api("unload mod_callpark")
                    ua.pump(rng.uniform(0.1, 1.0))
                    out += sw.api("load mod_callpark")
                    counts["unload-load"] += 1
                check(sw.api("module_exists mod_callpark").strip() == "true", f"the module is back: {out.strip()}")
                ua.pump(1.5)
                gone = [c for c in up if c.ended]
                counts["dropped"] += len(gone)
                if gone:
                    print(f"    soak: {len(gone)} call(s) up before `{out.strip()[:60]}` ended with it")
            else:
                ua.pump(rng.uniform(0.5, 2.0))
        except (Failure, pj.Error) as e:
            counts["incomplete"] += 1
            detail = e.info() if isinstance(e, pj.Error) else str(e)
            print(f"    soak: an operation did not complete ({detail}); going on")
        ua.pump(0.1)
    # Wind down: everybody hangs up; the switch and callpark must come back to nothing.
    ua.hangup_all()
    ctx.wait_parked(0, seconds=20)
    ctx.wait_no_channels("no channel is left", 20)
    for w in lamps:
        try:
            common.blf_wait(ctx, w, "off")
        except Failure:
            print(f"    last NOTIFYs of {w.target}:\n" + "\n----\n".join(w.notifies[-2:]))
            raise
        w.unsubscribe()
    status = sw.api("callpark status").strip()
    check(" 0 parked calls, 0 pending timers" in status, f"the engine holds nothing: {status}")
    check(counts["dropped"] == 0, f"no call was dropped by a module reload: {counts['dropped']} were")
    ua.pump(2)
    rss_end = rss_kb(sw.proc.pid)
    heap_end = heap_bytes(sw)
    # Back to the starting level: what the engine keeps once every call is gone is the
    # capacity its maps grew to, a few kB, not a share of every call it has seen.
    check(heap_end <= heap_start + HEAP_SLACK,
          f"the library's heap is back to its starting level: {heap_start} bytes at the start, "
          f"{heap_warm} after warm-up, {heap_end} at the end")
    sw.set_callpark_conf(common.BASIC_CONF)
    sw.api("callpark reload")
    return counts, rss_start or rss_end, rss_end, (heap_start, heap_warm, heap_end)


def main():
    seconds = float(os.environ.get("SOAK_SECONDS", "60"))
    seed = int(os.environ.get("SOAK_SEED", str(int(time.time()))))
    rng = random.Random(seed)
    from switch import Switch
    from phones import UA
    import subprocess
    subprocess.run(["make", "-s", "install"], cwd=common.ROOT, check=True)
    sw = Switch(os.path.join(HERE, "run"), common.BASIC_CONF)
    sw.start()
    ua = None
    rc = 1
    try:
        print(f"soak on FreeSWITCH {sw.api('version').strip()}")
        ua = UA()
        ctx = Ctx(sw, ua)
        t0 = time.time()
        counts, rss0, rss1, heap = soak(ctx, seconds, rng)
        ops = sum(v for k, v in counts.items() if k != "waited")
        print(f"soak: {seconds:.0f} s (seed {seed}), {ops} operations in {time.time() - t0:.0f} s: " +
              ", ".join(f"{k} {v}" for k, v in counts.items()))
        print(f"soak: FreeSWITCH resident memory {rss0} kB after warm-up, {rss1} kB at the end "
              f"({(rss1 - rss0) / 1024:+.1f} MB); no call parked, no lamp lit, 0 channels")
        print(f"soak: the library's heap {heap[0]} bytes at the start, {heap[1]} after warm-up, "
              f"{heap[2]} at the end ({heap[2] - heap[0]:+d} bytes)")
        print("soak: 1 passed, 0 failed")
        rc = 0
    except Exception as e:
        print(f"soak FAILED: {e}")
        print("soak: 0 passed, 1 failed")
    finally:
        if ua:
            ua.close()
        sw.stop()
    return rc


if __name__ == "__main__":
    rc = main()
    sys.stdout.flush()
    os._exit(rc)
