#!/usr/bin/env python3
"""A pick-up on the node holding the call against the two ways across nodes sharing one
park on Redis, side by side in one run (rounds in rotating order). The retriever is a
SIPp phone at 127.0.0.60 (tests/fs/sipp/retriever.xml, authenticated as the user):

  local      as 102, dials *88102 at A, which holds the call;
  bridge     as 103, dials *88102 at B (`cross-node-pickup` `bridge`, the default): B
             calls A's hand-over address, A bridges that call to the caller, B bridges
             the phone to its call to A;
  redirect   as 103, dials *88102 at B (`cross-node-pickup` `redirect`): B answers 302
             with A's hand-over URI, the phone calls A itself.

Read off the loopback wire with a raw socket (root): the time from the phone's first
INVITE to the 200 OK that connects it, and to the first RTP packet it receives (the
parked caller, a pjsua2 phone, sends audio all along); then, from 0.5 s after the 200
OK, for 3 s, the RTP packets the two switches handle per second (every packet sent from
or received on a switch's RTP port counts once for that switch; the phones' ports are
not the switches').

Run as root: python3 bench/cross_node_pickup.py [rounds]   (FreeSWITCH from
FREESWITCH_PREFIX; uses the ports of tests/fs/cluster.py: not while other real-switch
tests run)."""

import os
import socket
import statistics
import struct
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "tests", "fs"))

import cluster  # noqa: E402
from common import check, start_sipp  # noqa: E402

# The nodes' RTP ports (tests/fs/cluster.py start_both).
SWITCH_RTP = ((32000, 32999), (34000, 34999))
PACKET_OUTGOING = 4


PHONE_IP, PHONE_SIP, PHONE_RTP = "127.0.0.60", 27070, 27072
WINDOW = (0.5, 3.5)  # seconds after the 200 OK in which the switches' RTP is counted


class Wire(threading.Thread):
    """Reads loopback: the phone's first INVITE, the 200 OK of its INVITE, the first RTP
    it receives, and the times of the packets a switch sends or receives on its RTP
    ports (with how many switches each one counts for)."""

    def __init__(self):
        super().__init__(daemon=True)
        self.sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(0x0003))
        self.sock.bind(("lo", 0))
        self.sock.settimeout(0.2)
        self.stop = False
        self.reset()

    def reset(self):
        self.invite = self.ok = self.audio = None
        self.rtp = []

    @staticmethod
    def switch_port(p):
        return any(lo <= p <= hi for lo, hi in SWITCH_RTP)

    def run(self):
        while not self.stop:
            try:
                data, addr = self.sock.recvfrom(4096)
            except socket.timeout:
                continue
            now = time.time()
            # Loopback shows each packet twice: the copy going out is left out.
            if addr[2] == PACKET_OUTGOING or len(data) < 14 + 28 or data[12:14] != b"\x08\x00":
                continue
            ip = data[14:]
            if ip[9] != 17:
                continue
            ihl = (ip[0] & 0x0F) * 4
            src, dst = struct.unpack("!HH", ip[ihl:ihl + 4])
            payload = ip[ihl + 8:]
            if src == PHONE_SIP and self.invite is None and payload.startswith(b"INVITE "):
                self.invite = now
            elif dst == PHONE_SIP and self.ok is None and payload.startswith(b"SIP/2.0 200") and b" INVITE" in payload:
                self.ok = now
            elif dst == PHONE_RTP and self.audio is None and self.invite is not None:
                self.audio = now
            n = self.switch_port(src) + self.switch_port(dst)
            if n:
                self.rtp.append((now, n))

    def switch_rate(self):
        lo, hi = self.ok + WINDOW[0], self.ok + WINDOW[1]
        return sum(n for t, n in self.rtp if lo <= t < hi) / (hi - lo)


def set_mode(t, mode):
    for n, port in ((t.a, cluster.A_SIP), (t.b, cluster.B_SIP)):
        n.set_callpark_conf(cluster.redirect_conf(n.name, port) if mode == "redirect" else cluster.conf(n.name, port))
        out = n.api("callpark reload")
        check("+OK" in out, f"node {n.name} takes cross-node-pickup {mode}: {out}")


def pick_up(t, node, user, wire):
    wire.reset()
    proc, log = start_sipp(t.ctx[node.name], "retriever.xml", user, "*88102", PHONE_SIP, PHONE_RTP, "retriever",
                           delay_ms=int(WINDOW[1] * 1000) + 500, ip=PHONE_IP, extra=["-rtp_echo"])
    while proc.poll() is None:
        t.ua.pump(0.05)
    check(proc.returncode == 0 and wire.ok and wire.audio, f"{user}'s *88102 at {node.name} talked "
          f"(sipp exit {proc.returncode}, {log})")
    t.wait_parked(t.a, 0)
    out = ((wire.ok - wire.invite) * 1000, (wire.audio - wire.invite) * 1000, wire.switch_rate())
    t.clear()
    return out


def main(rounds):
    a, b, redis, ua = cluster.start_both()
    wire = Wire()
    wire.start()
    try:
        t = cluster.Two(a, b, ua, redis)
        client, p101 = t.phone(a, "104"), t.phone(a, "101")
        columns = [("local", "bridge", a, "102"), ("bridge", "bridge", b, "103"), ("redirect", "redirect", b, "103")]
        got = {c[0]: [] for c in columns}
        for i in range(rounds):
            # Rotating order: no column always follows the same one.
            for name, mode, node, user in columns[i % 3:] + columns[:i % 3]:
                set_mode(t, mode)
                t.park(a, client, p101, "*68102")
                t.wait_parked(b, 1)
                got[name].append(pick_up(t, node, user, wire))
        set_mode(t, "bridge")
        print(f"FreeSWITCH {a.api('version short').strip()}, two nodes on one redis-server, {rounds} pick-ups "
              f"per column in rotating order, {time.strftime('%Y-%m-%d')}; median (min-max)")
        print(f"  {'':9s} {'INVITE to 200 OK, ms':>24s} {'INVITE to first audio, ms':>26s} "
              f"{'RTP packets the switches handle per s':>40s}")
        med = {}
        for name, rows in got.items():
            cols = list(zip(*rows))
            med[name] = [statistics.median(c) for c in cols]
            cells = [f"{statistics.median(c):6.1f} ({min(c):.1f}-{max(c):.1f})" for c in cols]
            print(f"  {name:9s} {cells[0]:>24s} {cells[1]:>26s} {cells[2]:>40s}")
        for name in ("bridge", "redirect"):
            r = [m / l for m, l in zip(med[name], med["local"])]
            print(f"  {name} / local (medians): 200 OK {r[0]:.2f}x, first audio {r[1]:.2f}x, switches' RTP {r[2]:.2f}x")
    finally:
        wire.stop = True
        cluster.stop_both(a, b, redis, ua)


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 20)
    sys.stdout.flush()
    os._exit(0)
