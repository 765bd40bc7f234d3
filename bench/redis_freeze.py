#!/usr/bin/env python3
"""What a frozen Redis costs two FreeSWITCH nodes sharing one park: the nodes of
tests/fs/cluster.py (1.10.12 by default, FREESWITCH_PREFIX for another), Redis stopped
with SIGSTOP for FREEZE seconds (default 10) while node A holds two parked calls. During
the freeze, on A:

- the parked caller 105 hangs up (its CHANNEL_HANGUP_COMPLETE goes through callpark's
  handler on the switch's event thread);
- `ROUNDS` times: 104 dials `*68103` itself (the park answers it: INVITE to 200 OK as the
  phone sees it), then 103 dials `*88103` (the pick-up answers it), then both hang up;
- an ESL client subscribed to A's channel events notes, for every event, how late it
  arrived after the switch stamped it (Event-Date-Timestamp): the event lag.

Prints the answer times and the event lag (median, max), before the freeze (the same
operations with Redis running) and during it. Run it against the module in the checkout
it is started from (`make install` is run first): `python3 bench/redis_freeze.py`; for
another revision, start it from a worktree of that revision with this file copied in.
Results: bench/results/redis_freeze-run1.txt."""

import os
import signal
import socket
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(ROOT, "tests", "fs"))

import cluster  # noqa: E402

FREEZE = float(os.environ.get("FREEZE", "10"))
ROUNDS = int(os.environ.get("ROUNDS", "5"))


class Lag(threading.Thread):
    """Reads A's channel events and notes (arrival, lag in ms) for each."""

    def __init__(self, port):
        super().__init__(daemon=True)
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=10)
        self.sock.recv(4096)
        self.sock.sendall(b"auth ClueCon\n\n")
        self.sock.recv(4096)
        self.sock.sendall(b"event plain CHANNEL_CREATE CHANNEL_ANSWER CHANNEL_HANGUP_COMPLETE CHANNEL_EXECUTE\n\n")
        self.seen = []
        self.stop = False

    def run(self):
        buf = b""
        self.sock.settimeout(0.5)
        while not self.stop:
            try:
                chunk = self.sock.recv(65536)
            except socket.timeout:
                continue
            if not chunk:
                return
            buf += chunk
            now = time.time()
            while b"Event-Date-Timestamp: " in buf:
                i = buf.index(b"Event-Date-Timestamp: ") + len("Event-Date-Timestamp: ")
                j = buf.find(b"\n", i)
                if j < 0:
                    break
                stamp = int(buf[i:j].decode().strip() or 0) / 1e6
                self.seen.append((now, (now - stamp) * 1000))
                buf = buf[j:]


def stats(xs):
    xs = sorted(xs)
    if not xs:
        return "none"
    return f"median {xs[len(xs) // 2]:.1f} ms, max {xs[-1]:.1f} ms (n={len(xs)})"


def final(t, phone, number, seconds=15):
    """`phone` dials `number`: the call, the time from the INVITE to the final response
    (200, or a refusal) as the phone sees it, and whether it was answered."""
    t0 = time.time()
    c = phone.dial(number)
    t.ua.pump(seconds, lambda: c.confirmed or c.ended)
    return c, (time.time() - t0) * 1000, c.confirmed


def rounds(t, p104, p103):
    parks, pickups, ok = [], [], [0, 0]
    for _ in range(ROUNDS):
        c, ms, parked = final(t, p104, "*68103")
        parks.append(ms)
        ok[0] += parked
        if parked:
            t.ua.pump(3, lambda: any(x["extension"] == "103" for x in t.parked(t.a)))
        r, ms, picked = final(t, p103, "*88103")
        pickups.append(ms)
        ok[1] += picked
        t.ua.hangup_all()
    return parks, pickups, ok


def main():
    a, b, redis, ua = cluster.start_both()
    try:
        t = cluster.Two(a, b, ua, redis)
        lag = Lag(cluster.A_ESL)
        lag.start()
        p101 = t.phone(t.a, "101")
        c104, c105 = t.phone(t.a, "104"), t.phone(t.a, "105")
        p103 = t.phone(t.a, "103")
        t.park(t.a, c105, p101, "*68102")
        t.wait_parked(t.a, 1)
        t0 = time.time()
        base_parks, base_pickups, base_ok = rounds(t, c104, p103)
        base_lag = [ms for at, ms in lag.seen if at >= t0]
        os.kill(redis.proc.pid, signal.SIGSTOP)
        frozen = time.time()
        try:
            for call in list(c105.calls):
                if not call.ended:
                    call.hangup(__import__("pjsua2").CallOpParam(True))
            t.ua.pump(0.5)
            parks, pickups, ok = rounds(t, c104, p103)
            t.ua.pump(max(0.0, FREEZE - (time.time() - frozen)))
        finally:
            os.kill(redis.proc.pid, signal.SIGCONT)
        thawed = time.time()
        freeze_lag = [ms for at, ms in lag.seen if frozen <= at <= thawed]
        lag.stop = True
        version = a.api("version short").strip()
        print(f"FreeSWITCH {version}, Redis frozen (SIGSTOP) {thawed - frozen:.1f} s, {ROUNDS} rounds each")
        print(f"  *68103 INVITE to final response, Redis running: {stats(base_parks)}, answered {base_ok[0]}/{ROUNDS}")
        print(f"  *68103 INVITE to final response, Redis frozen:  {stats(parks)}, answered {ok[0]}/{ROUNDS}")
        print(f"  *88103 INVITE to final response, Redis running: {stats(base_pickups)}, answered {base_ok[1]}/{ROUNDS}")
        print(f"  *88103 INVITE to final response, Redis frozen:  {stats(pickups)}, answered {ok[1]}/{ROUNDS}")
        print(f"  ESL event lag on A, Redis running:   {stats(base_lag)}")
        print(f"  ESL event lag on A, Redis frozen:    {stats(freeze_lag)}")
    finally:
        cluster.stop_both(a, b, redis, ua)


if __name__ == "__main__":
    main()
    sys.stdout.flush()
    os._exit(0)
