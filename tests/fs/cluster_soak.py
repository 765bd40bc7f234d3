#!/usr/bin/env python3
"""Cluster soak: two FreeSWITCH nodes sharing one park on a redis-server (the nodes of
cluster.py), for SOAK_SECONDS (default 45): random parks on either node, pick-ups from
either node, answered and ignored recalls, abandons, operator's commands on the node
that does not hold the call, module reloads, Redis frozen (SIGSTOP) and Redis stopped
and started empty. Every call that was up when a fault began (a reload, a freeze, a
Redis restart) and ended with it counts as dropped, and fails the soak. At the end
everybody hangs up: nothing may stay parked, no lamp lit, no channel left on either
node, and both nodes list the same (nothing).

Run: tests/fs/run.sh --cluster-soak   (SOAK_SECONDS, SOAK_SEED)"""

import os
import random
import signal
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import pjsua2 as pj  # noqa: E402

import cluster  # noqa: E402
from common import ACME, BASIC_CONF, Failure, blf_wait, check  # noqa: E402

# Short recalls, no final destination (an exhausted call stays parked: nothing ends a
# caller but the test's own hang-ups and its operator's hang-ups).
SETTINGS = '<settings><param name="recall-time" value="300"/></settings>'


def soak_conf(node, sip_port):
    return cluster.conf(node, sip_port).replace('value="300"', 'value="6"').replace(
        '<param name="store"', '<param name="max-calls-per-extension" value="3"/><param name="store"')


def main():
    seconds = float(os.environ.get("SOAK_SECONDS", "45"))
    seed = int(os.environ.get("SOAK_SEED", str(int(time.time()))))
    rng = random.Random(seed)
    assert SETTINGS in BASIC_CONF
    a, b, redis, ua = cluster.start_both()
    rc = 1
    try:
        version = a.api("version short").strip()
        print(f"cluster soak on FreeSWITCH {version}, two nodes, {seconds:.0f} s, seed {seed}")
        for n, port in ((a, cluster.A_SIP), (b, cluster.B_SIP)):
            n.set_callpark_conf(soak_conf(n.name, port))
            check("+OK" in n.api("callpark reload"), f"node {n.name} takes the soak configuration")
        t = cluster.Two(a, b, ua, redis)
        nodes = {"a": a, "b": b}
        # One user per phone, each registered on one node: pjsua2 hands an incoming call or
        # MESSAGE to the first of its accounts with the same URI.
        clients = {"a": t.phone(a, "104"), "b": t.phone(b, "105")}
        parkers = {"a": t.phone(a, "101"), "b": t.phone(b, "103")}
        retrievers = {"a": t.phone(a, "102"), "b": t.phone(b, "106")}
        lamps = [t.blf(n, "107", f"park+{e}") for n in (a, b) for e in ("101", "102", "103")]
        counts = {k: 0 for k in ("park", "sent-back", "retrieve-ok", "retrieve-refused", "abandon", "recall-answered",
                                 "recall-ignored", "operator-hangup", "operator-retrieve", "reload", "freeze",
                                 "redis-restart", "dropped", "waited", "incomplete")}
        seen = {id(p): 0 for p in list(parkers.values()) + list(retrievers.values())}

        def up_calls():
            return [c for p in clients.values() for c in p.calls if c.confirmed]

        # When the test itself last hung a call up: what that ends (the other party of a
        # conversation) is given 2 s to end before a fault, so as not to count as dropped.
        last_hangup = [0.0]

        def hang_up(call):
            call.hangup(pj.CallOpParam(True))
            last_hangup[0] = time.time()

        def fault(name, act):
            """Runs `act` (a fault) with nothing else going on: every client call up before
            it must still be up after it."""
            ua.pump(max(0.0, 2.0 - (time.time() - last_hangup[0])))
            up = up_calls()
            act()
            ua.pump(1.5)
            gone = [c for c in up if c.ended]
            counts[name] += 1
            counts["dropped"] += len(gone)
            if gone:
                print(f"    cluster soak: {len(gone)} call(s) up before a {name} ended with it at "
                      f"{time.strftime('%H:%M:%S')}: " + ", ".join(f"{c.remote} (last code {c.code})" for c in gone))

        def freeze():
            os.kill(redis.proc.pid, signal.SIGSTOP)
            try:
                # A pick-up on a node during the freeze (of its own call, or refused).
                n = rng.choice("ab")
                r = retrievers[n].dial(rng.choice(["*88101", "*88102", "*88103"]))
                ua.pump(rng.uniform(1.0, 3.0), lambda: r.confirmed or r.ended)
                counts["retrieve-ok" if r.confirmed else "retrieve-refused"] += 1
            finally:
                os.kill(redis.proc.pid, signal.SIGCONT)

        def restart():
            redis.stop()
            ua.pump(rng.uniform(0.5, 2.0))
            redis.start()

        start = time.time()
        while time.time() - start < seconds:
            # Recalls and sent-back calls ring 101 on either node: answer some.
            for p in list(parkers.values()):
                for call in p.incoming[seen[id(p)]:]:
                    if not call.ended and call.state in (pj.PJSIP_INV_STATE_INCOMING, pj.PJSIP_INV_STATE_EARLY):
                        if rng.random() < 0.5:
                            p.answer(call)
                            counts["recall-answered"] += 1
                        else:
                            counts["recall-ignored"] += 1
                seen[id(p)] = len(p.incoming)
            for p in list(parkers.values()) + list(retrievers.values()):
                for call in p.calls:
                    if call.confirmed and rng.random() < 0.3:
                        hang_up(call)
            parked = t.parked(a)
            op = rng.random()
            try:
                free = 4 - len(ua.live_calls())
                if (op < 0.3 and free < 2) or (0.3 <= op < 0.55 and free < 1):
                    counts["waited"] += 1
                    ua.pump(0.5)
                elif op < 0.3 and len(parked) < 2:
                    n = rng.choice("ab")
                    code = rng.choice(["*68", "*68102", "*68103", "*58", "*68999"])
                    before = len(parkers[n].incoming)
                    t.ctx[n].park_by_transfer(clients[n], parkers[n], code)
                    seen[id(parkers[n])] = max(seen[id(parkers[n])], before + 1)
                    counts["park" if code != "*68999" else "sent-back"] += 1
                elif op < 0.55:
                    n = rng.choice("ab")
                    r = retrievers[n].dial(rng.choice(["*88", "*88101", "*88102", "*88103"]))
                    ua.pump(6, lambda: r.confirmed or r.ended)
                    counts["retrieve-ok" if r.confirmed else "retrieve-refused"] += 1
                elif op < 0.65 and parked:
                    for p in clients.values():
                        live = [c for c in p.calls if c.confirmed]
                        if live:
                            hang_up(rng.choice(live))
                            counts["abandon"] += 1
                            break
                elif op < 0.75 and parked:
                    # An operator at the node that does not hold the call (or either).
                    call = rng.choice(parked)
                    n = nodes[rng.choice("ab")]
                    if rng.random() < 0.5:
                        out = n.api(f"callpark hangup {call['uuid']}")
                        last_hangup[0] = time.time()
                        counts["operator-hangup"] += 1
                    else:
                        out = n.api(f"callpark retrieve {call['uuid']} 102@acme.example")
                        counts["operator-retrieve"] += 1
                    if not out.startswith("+OK"):
                        print(f"    cluster soak: node {n.name}: {out.strip()[:100]}")
                elif op < 0.8:
                    n = nodes[rng.choice("ab")]
                    fault("reload", lambda: check("+OK" in n.api("reload mod_callpark"), "reload"))
                elif op < 0.86:
                    fault("freeze", freeze)
                elif op < 0.89:
                    fault("redis-restart", restart)
                else:
                    ua.pump(rng.uniform(0.5, 1.5))
            except (Failure, pj.Error) as e:
                counts["incomplete"] += 1
                detail = e.info() if isinstance(e, pj.Error) else str(e)
                print(f"    cluster soak: an operation did not complete ({detail[:120]}); going on")
            ua.pump(0.1)
        # Wind down: both nodes reach Redis, everybody hangs up, nothing may be left.
        for n in (a, b):
            t.ctx[n.name].wait(lambda: "(reachable)" in n.api("callpark status"), 10, f"node {n.name} reaches Redis")
        ua.hangup_all()
        for n in (a, b):
            t.wait_parked(n, 0, seconds=20)
            t.ctx[n.name].wait_no_channels(f"no channel is left on node {n.name}", 20)
            status = n.api("callpark status").strip()
            check(" 0 parked calls, 0 pending timers" in status, f"node {n.name} holds nothing: {status}")
        for w in lamps:
            blf_wait(t.ctx["a"], w, "off")
            w.unsubscribe()
        check(t.parked(a) == t.parked(b) == [], "both nodes list the same: nothing")
        ops = sum(v for k, v in counts.items() if k != "waited")
        print(f"cluster soak: {ops} operations: " + ", ".join(f"{k} {v}" for k, v in counts.items()))
        check(counts["dropped"] == 0, f"no caller was dropped by a fault: {counts['dropped']} were")
        print(f"cluster soak on FreeSWITCH {version}: 1 passed, 0 failed")
        rc = 0
    except Exception as e:
        print(f"cluster soak FAILED: {e}")
        print("cluster soak: 0 passed, 1 failed")
    finally:
        cluster.stop_both(a, b, redis, ua)
    return rc


if __name__ == "__main__":
    rc = main()
    sys.stdout.flush()
    os._exit(rc)
