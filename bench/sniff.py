#!/usr/bin/env python3
"""Time to audio, read off the loopback wire (bench/park_vs_valet.py runs it).

Captures the loopback interface with a raw packet socket (root; kernel timestamps, so
a late reader does not skew the times) while SIPp parks and retrieves calls, and keeps
only what the figures need:

  * the *68 and *88 INVITEs (time, Call-ID, extension) and the switch's 200 OK to each
    (time, the RTP port the switch gave that leg in its SDP);
  * the starts of RTP streams the switch sends whose payload is one of the two marker
    bytes the SIPp phones send (mark.raw, written by bench/park_vs_valet.py into each
    SIPp's folder): the parked caller's (0x55) and the
    retriever's (0x2a). Hold music here is silence (0xff or 0x7f), so a marker from the
    switch's port of a leg means that leg now hears the other party.

From those, per retrieve: INVITE -> 200 OK, INVITE -> first packet of the parked
caller's audio at the retriever, and INVITE -> first packet of the retriever's audio
at the parked caller. Run as a child process: `sniff.py OUT.json` captures until
SIGTERM, then writes what it kept.
"""

import ctypes
import json
import signal
import socket
import struct
import sys

ETH_P_ALL = 0x0003
SO_TIMESTAMPNS = 35
PACKET_OUTGOING = 4
CALLER_MARK, RETRIEVER_MARK = 0x55, 0x2A
SO_ATTACH_FILTER = 26
SOL_PACKET, PACKET_IGNORE_OUTGOING = 263, 23
SWITCH_RTP = (20000, 29999)  # the bench switch's RTP ports (bench/park_vs_valet.py)
# A stream that pauses longer than this and starts again is a new stream (a port reused
# by a later call).
GAP_S = 0.3


def main(out_path):
    sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ALL))
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 32 * 1024 * 1024)
    sock.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)
    sock.bind(("lo", 0))
    try:
        sock.setsockopt(SOL_PACKET, PACKET_IGNORE_OUTGOING, 1)
    except OSError:
        pass  # older kernels: the PACKET_OUTGOING check below drops the copies
    attach_filter(sock)
    stop = []
    signal.signal(signal.SIGTERM, lambda *_: stop.append(1))
    invites, answers, streams = [], [], []
    last_seen = {}  # (switch port, mark) -> time of its last packet
    sock.settimeout(0.2)
    while not stop:
        try:
            data, anc, _flags, addr = sock.recvmsg(2048, socket.CMSG_SPACE(16))
        except socket.timeout:
            continue
        except InterruptedError:
            continue
        if addr[2] == PACKET_OUTGOING:
            continue  # loopback shows every packet twice: keep the arriving copy
        ts = None
        for level, kind, value in anc:
            if level == socket.SOL_SOCKET and kind == SO_TIMESTAMPNS:
                sec, nsec = struct.unpack("qq", value[:16])
                ts = sec + nsec / 1e9
        if ts is None or len(data) < 14 + 20 + 8 or data[12:14] != b"\x08\x00" or data[23] != 17:
            continue
        ihl = (data[14] & 0x0F) * 4
        udp = 14 + ihl
        (sport,) = struct.unpack("!H", data[udp:udp + 2])
        payload = data[udp + 8:]
        if len(payload) > 12 and payload[0] & 0xC0 == 0x80 and len(payload) in (172, 92, 332):
            mark = payload[12]
            if mark in (CALLER_MARK, RETRIEVER_MARK):
                key = (sport, mark)
                prev = last_seen.get(key)
                last_seen[key] = ts
                if prev is None or ts - prev > GAP_S:
                    streams.append((ts, sport, mark))
            continue
        if payload.startswith(b"INVITE sip:*"):
            head = payload.split(b"\r\n\r\n", 1)[0].decode("latin-1")
            code = head[11:14]
            if code in ("*68", "*88"):
                ext = head[14:].split("@", 1)[0]
                invites.append((ts, header(head, "Call-ID"), code, ext))
        elif payload.startswith(b"SIP/2.0 200") and b"CSeq: 1 INVITE" in payload and b"m=audio " in payload:
            text = payload.decode("latin-1")
            port = text.split("m=audio ", 1)[1].split(" ", 1)[0]
            if port.isdigit():
                answers.append((ts, header(text, "Call-ID"), int(port)))
    with open(out_path, "w") as f:
        json.dump({"invites": invites, "answers": answers, "streams": streams}, f)


def attach_filter(sock):
    """Lets through, in the kernel, only what main() keeps: IPv4 UDP that is either RTP
    from a switch port carrying a marker byte, or a SIP INVITE or response. At 50 cycles
    a second the switch sends thousands of hold and bridge packets a second; reading them
    all in Python would take CPU from the switch being measured."""
    ACCEPT, DROP = "accept", "drop"
    prog = [  # (code, jt, jf, k, label); jt/jf name a label or 0 (the next instruction)
        (0x28, 0, 0, 12, None),               # ldh [12]        ethertype
        (0x15, 0, DROP, 0x0800, None),        # jeq IPv4
        (0x30, 0, 0, 23, None),               # ldb [23]        protocol
        (0x15, 0, DROP, 17, None),            # jeq UDP
        (0x30, 0, 0, 14, None),               # ldb [14]        version, header length
        (0x15, 0, DROP, 0x45, None),          # jeq 20-byte header (loopback sends no options)
        (0x28, 0, 0, 34, None),               # ldh [34]        source port
        (0x35, 0, "sip", SWITCH_RTP[0], None),
        (0x25, "sip", 0, SWITCH_RTP[1], None),
        (0x30, 0, 0, 54, None),               # ldb [54]        first payload byte after RTP's 12
        (0x15, ACCEPT, 0, CALLER_MARK, None),
        (0x15, ACCEPT, DROP, RETRIEVER_MARK, None),
        (0x20, 0, 0, 42, "sip"),              # ld [42]         first four bytes of the UDP payload
        (0x15, ACCEPT, 0, int.from_bytes(b"INVI", "big"), None),
        (0x15, ACCEPT, DROP, int.from_bytes(b"SIP/", "big"), None),
        (0x06, 0, 0, 0xFFFF, ACCEPT),         # ret: keep the packet
        (0x06, 0, 0, 0, DROP),                # ret: drop it
    ]
    where = {label: i for i, (*_, label) in enumerate(prog) if label}

    def rel(i, target):
        return 0 if target == 0 else where[target] - i - 1

    raw = b"".join(struct.pack("HBBI", code, rel(i, jt), rel(i, jf), k)
                   for i, (code, jt, jf, k, _) in enumerate(prog))
    buf = ctypes.create_string_buffer(raw)
    fprog = struct.pack("HL", len(prog), ctypes.addressof(buf))
    sock.setsockopt(socket.SOL_SOCKET, SO_ATTACH_FILTER, fprog)


def header(text, name):
    for line in text.split("\r\n"):
        k, _, v = line.partition(":")
        if k.strip().lower() == name.lower():
            return v.strip()
    return ""


def analyse(capture):
    """Per retrieve of a parked call: (INVITE->200 ms, ->caller's audio at the retriever
    ms, ->retriever's audio at the caller ms); None where it was not seen."""
    answered = {}
    for ts, call_id, port in capture["answers"]:
        answered.setdefault(call_id, (ts, port))
    by_port = {}
    for ts, port, mark in capture["streams"]:
        by_port.setdefault((port, mark), []).append(ts)
    parks = {}  # extension -> [(time of the *68 INVITE, its leg's switch port)]
    for ts, call_id, code, ext in sorted(capture["invites"]):
        if code == "*68" and call_id in answered:
            parks.setdefault(ext, []).append((ts, answered[call_id][1]))

    def first_after(port, mark, t0):
        return next((t for t in by_port.get((port, mark), []) if t >= t0), None)

    out = []
    for ts, call_id, code, ext in capture["invites"]:
        if code != "*88":
            continue
        ok = answered.get(call_id)
        earlier = [p for p in parks.get(ext, []) if p[0] < ts]
        heard = first_after(ok[1], CALLER_MARK, ts) if ok else None
        caller_heard = first_after(earlier[-1][1], RETRIEVER_MARK, ts) if earlier else None
        ms = lambda t: None if t is None else (t - ts) * 1000  # noqa: E731
        out.append((ms(ok[0]) if ok else None, ms(heard), ms(caller_heard)))
    return out


if __name__ == "__main__":
    main(sys.argv[1])
