#!/usr/bin/env python3
"""Two FreeSWITCH nodes sharing one park on a redis-server, all started here on
loopback (two ports, two configuration folders, one directory): what node A parks,
node B lights and picks up; group park across nodes; a killed node's calls cleaned up
by the other; Redis stopped and started again with calls parked.

Run: tests/fs/run.sh --cluster [scenario-name ...]"""

import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, HERE)

from common import ACME, BASIC_CONF, Ctx, blf_wait, channel_uuid, check, run_scenarios, sipp_final, start_sipp, unknown_scenarios  # noqa: E402
from switch import FS_PREFIX, Switch  # noqa: E402

REDIS_PORT = 26379
# Node A has the single-switch tests' ports; node B its own, 1000 above.
A_SIP, B_SIP = 25060, 26060
A_ESL, B_ESL = 28021, 29021
CARRIER_OFFSET = 20  # switch.py: the carrier profile listens at sip port + 20


def conf(node, sip_port, store=None):
    """Each node's callpark.conf.xml: the single-switch tests' tenants, one store (`store`,
    else the test's redis-server), its own name and the address (its unauthenticated
    profile) where the other node sends retrievers."""
    store = store or f"redis://127.0.0.1:{REDIS_PORT}/0"
    settings = '<settings><param name="recall-time" value="300"/></settings>'
    assert settings in BASIC_CONF
    return BASIC_CONF.replace(settings, f"""<settings>
    <param name="recall-time" value="300"/>
    <param name="store" value="{store}"/>
    <param name="node" value="{node}"/>
    <param name="node-address" value="127.0.0.1:{sip_port + CARRIER_OFFSET}"/>
  </settings>""")


class Redis:
    """The shared park's redis-server, on loopback, keeping nothing on disk."""

    def __init__(self, port):
        self.port, self.proc = port, None

    def start(self):
        self.proc = subprocess.Popen(["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
                                      "--appendonly", "no", "--loglevel", "warning"],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        end = time.time() + 10
        while time.time() < end:
            if self.proc.poll() is not None:
                # Another process holds the port (a redis-server left running): the tests
                # would stop and freeze this one, not the server the nodes use.
                raise RuntimeError(f"redis-server exited at once (exit {self.proc.returncode}): is 127.0.0.1:"
                                   f"{self.port} taken? (`ss -ltnp 'sport = :{self.port}'`)")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=1) as s:
                    s.sendall(b"PING\r\n")
                    if s.recv(64).startswith(b"+PONG"):
                        time.sleep(0.1)
                        if self.proc.poll() is None:
                            return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError(f"redis-server did not answer on 127.0.0.1:{self.port} (is it installed?)")

    def stop(self):
        if self.proc:
            self.proc.terminate()
            self.proc.wait(timeout=10)
            self.proc = None


class Sentinels:
    """A Redis primary, its replica and three redis-sentinel (quorum 2, a master taken for
    down after 1 s) on loopback ports 26390-26394, in `run_dir`."""

    MASTER = "callpark"

    def __init__(self, run_dir):
        self.dir, self.procs = run_dir, {}
        self.primary, self.replica, self.sentinels = 26390, 26391, [26392, 26393, 26394]

    def url(self):
        return "redis+sentinel://" + ",".join(f"127.0.0.1:{p}" for p in self.sentinels) + f"/{self.MASTER}/0"

    def start(self):
        os.makedirs(self.dir, exist_ok=True)
        base = ["--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--loglevel", "warning", "--dir", self.dir]
        self.procs[self.primary] = subprocess.Popen(["redis-server", "--port", str(self.primary)] + base,
                                                    stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.procs[self.replica] = subprocess.Popen(
            ["redis-server", "--port", str(self.replica), "--replicaof", "127.0.0.1", str(self.primary)] + base,
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        for i, port in enumerate(self.sentinels):
            path = os.path.join(self.dir, f"sentinel-{i}.conf")
            with open(path, "w") as f:
                f.write(f"port {port}\nbind 127.0.0.1\ndir {self.dir}\n"
                        f"sentinel monitor {self.MASTER} 127.0.0.1 {self.primary} 2\n"
                        f"sentinel down-after-milliseconds {self.MASTER} 1000\n"
                        f"sentinel failover-timeout {self.MASTER} 4000\n")
            self.procs[port] = subprocess.Popen(["redis-sentinel", path, "--loglevel", "warning"],
                                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        end = time.time() + 20
        while time.time() < end:
            if all(f"\r\n{self.replica}\r\n" in self.ask(p, "SENTINEL", "REPLICAS", self.MASTER) for p in self.sentinels):
                return
            time.sleep(0.2)
        raise RuntimeError("the Sentinels did not find the replica within 20 s (is redis-sentinel installed?)")

    @staticmethod
    def ask(port, *words):
        """One command to the server on `port`: its raw reply ("" when it does not answer)."""
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=2) as s:
                s.sendall(("*%d\r\n" % len(words) + "".join(f"${len(w)}\r\n{w}\r\n" for w in words)).encode())
                s.settimeout(6)
                return s.recv(65536).decode(errors="replace")
        except OSError:
            return ""

    def master_port(self):
        """The master's port as the first Sentinel that answers says."""
        for p in self.sentinels:
            m = re.search(r"\$\d+\r\n(\d+)\r\n$", self.ask(p, "SENTINEL", "GET-MASTER-ADDR-BY-NAME", self.MASTER))
            if m:
                return int(m.group(1))
        return None

    def kill_primary(self):
        self.procs.pop(self.primary).kill()

    def stop(self):
        for p in self.procs.values():
            p.kill()
            p.wait(timeout=10)
        self.procs = {}


class Node(Switch):
    """One node. `via`: the other node's unauthenticated port, through which this node
    reaches a user not registered here (each node has its own registrations; a
    deployment behind one proxy reaches every phone through it instead)."""

    def __init__(self, name, run_dir, sip_port, esl_port, rtp, via=None):
        super().__init__(run_dir, conf(name, sip_port), sip_port=sip_port, esl_port=esl_port)
        self.name, self.rtp_range, self.via = name, rtp, via

    def substitutions(self):
        subs = super().substitutions()
        if self.via:
            local = "${sofia_contact(*/${dialed_user}@${dialed_domain})}"
            # The other node's public context takes d<ext> to its own registrations.
            subs["@DIRECTORY@"] = subs["@DIRECTORY@"].replace(
                local, f"{local}|sofia/internal/d${{dialed_user}}@127.0.0.1:{self.via}")
        return subs


class Two:
    """Both nodes, one pjsua2 endpoint, phones registered with either node."""

    def __init__(self, a, b, ua, redis):
        self.a, self.b, self.ua, self.redis = a, b, ua, redis
        self.ctx = {a.name: Ctx(a, ua), b.name: Ctx(b, ua)}
        self.phones = {}

    def phone(self, node, user, key=None):
        key = key or f"{user}@{node.name}"
        if key not in self.phones:
            ph = self.ua.phone(user, ACME, key, port=node.sip_port)
            check(self.ua.pump(10, lambda: ph.registered), f"{key} registers with node {node.name} ({ph.reg_code})")
            self.phones[key] = ph
        return self.phones[key]

    def blf(self, node, user, target):
        from phones import BlfWatcher
        w = BlfWatcher(user, ACME, target, port=node.sip_port)
        ok = w.subscribe(self.ua.pump)
        check(ok and 200 <= w.sub_code < 300, f"BLF {target} as {user} on node {node.name} accepted ({w.sub_code})")
        return w

    def parked(self, node):
        return self.ctx[node.name].parked(ACME)

    def wait_parked(self, node, n, seconds=8):
        return self.ctx[node.name].wait_parked(n, ACME, seconds)

    def park(self, node, caller, parker, code):
        return self.ctx[node.name].park_by_transfer(caller, parker, code)

    def rtp(self, call):
        return self.ctx[self.a.name].rtp_flows(call)

    def clear(self):
        self.ua.hangup_all()
        for n in (self.a, self.b):
            if n.proc:
                self.wait_parked(n, 0, seconds=10)


def both_reachable(t):
    """Waits until both nodes reach Redis again (each tries every 250 ms after a failure)."""
    for n in (t.a, t.b):
        t.ctx[n.name].wait(lambda: "(reachable)" in n.api("callpark status"), 5, f"node {n.name} reaches Redis again")


def c1_parked_on_a_picked_up_on_b(t):
    """Parked on A (blind transfer to *68102); B's lamp lights, a late subscriber on B
    sees it; 102 on B picks it up with *88102 and they talk."""
    client, p101 = t.phone(t.a, "104"), t.phone(t.a, "101")
    p102b = t.phone(t.b, "102")
    w = t.blf(t.b, "103", "park+102")
    c = t.park(t.a, client, p101, "*68102")
    calls = t.wait_parked(t.b, 1)
    t.ctx["b"].wait(lambda: any("104 parked on 102, dial *88102" in m for _, m in p102b.messages), 5,
                    f"102, registered on B only, is told of the park on A ({p102b.messages[-2:]})")
    check(calls[0]["extension"] == "102" and calls[0]["parking_user"] == "101", f"B lists A's call: {calls[0]}")
    blf_wait(t.ctx["b"], w, "confirmed")
    late = t.blf(t.b, "105", "park+102")
    state, who = blf_wait(t.ctx["b"], late, "confirmed", seconds=3)
    check("104" in who, f"a subscriber arriving late on B sees the parked caller 104 ({who!r})")
    r = p102b.dial("*88102")
    t.ctx["b"].wait(lambda: r.confirmed and r.media_active, 10, "102 on B is connected to the call held by A")
    t.wait_parked(t.a, 0)
    rx_c, _ = t.rtp(c)
    rx_r, _ = t.rtp(r)
    check(rx_c > 25 and rx_r > 25, f"RTP flows both ways across the nodes (client {rx_c}, 102 {rx_r})")
    blf_wait(t.ctx["b"], w, "off")
    ev = [e for e in t.a.esl.poll_events(0.5) if e.get("Callpark-Action") == "retrieved"]
    check(ev, "A, which held the call, fires `retrieved`")
    w.unsubscribe()
    late.unsubscribe()
    t.clear()


def c2_bare_star88_and_lamp_key_on_b(t):
    """Parked on A at 102 and 103: bare *88 of 102 on B, then 103's lamp key on B."""
    client, p101 = t.phone(t.a, "104"), t.phone(t.a, "101")
    for park, user, dialed, what in (("*68102", "102", "*88", "bare *88 of 102"),
                                     ("*68103", "103", "park+103", "103's lamp key")):
        c = t.park(t.a, client, p101, park)
        t.wait_parked(t.b, 1)
        r = t.phone(t.b, user).dial(dialed)
        t.ctx["b"].wait(lambda: r.confirmed and r.media_active, 10, f"{what} on B picks up A's call")
        t.wait_parked(t.a, 0)
        check(c.confirmed, f"{what}: the caller is connected")
        t.clear()


def c3_group_park_from_both_nodes(t):
    """*58 from A, then from B: different members, every node sees both."""
    client, p101 = t.phone(t.a, "104"), t.phone(t.a, "101")
    t.park(t.a, client, p101, "*58")
    t.wait_parked(t.b, 1)
    client_b, p103b = t.phone(t.b, "105"), t.phone(t.b, "103")
    t.park(t.b, client_b, p103b, "*58")
    calls = t.wait_parked(t.a, 2)
    check(sorted(c["extension"] for c in calls) == ["101", "102"], f"two members, one call each: {calls}")
    t.clear()


def c4_killed_node_loses_its_calls(t):
    """A is killed with a call parked: past the grace time (node-grace, 10 s by default)
    B removes it, puts its lamp out, `abandoned`."""
    client, p101 = t.phone(t.a, "104"), t.phone(t.a, "101")
    w = t.blf(t.b, "103", "park+102")
    t.b.esl.subscribe()
    t.park(t.a, client, p101, "*68102")
    t.wait_parked(t.b, 1)
    blf_wait(t.ctx["b"], w, "confirmed")
    t0 = time.time()
    os.kill(t.a.proc.pid, signal.SIGKILL)
    t.a.proc.wait()
    t.a.proc = None
    t.wait_parked(t.b, 0, seconds=16)
    took = time.time() - t0
    check(took > 8, f"not before the grace time: {took:.1f} s")
    blf_wait(t.ctx["b"], w, "off")
    ev = [e for e in t.b.esl.poll_events(0.5) if e.get("Callpark-Action") == "abandoned"]
    check(ev and "node a stopped" in ev[-1].get("Callpark-Detail", ""), f"B fires `abandoned` ({ev[-1:]})")
    print(f"    node A killed: B removed its call after {took:.1f} s")
    w.unsubscribe()
    t.ua.hangup_all()
    for k in [k for k in t.phones if k.endswith("@a")]:
        t.ua.drop(t.phones.pop(k))
    t.a.start()
    t.a.esl.subscribe()


def c5_redis_stopped_and_started(t):
    """Redis stops with a call parked on A: a new park on A is kept on A (not sent back),
    103 on A picks it up, the parked caller stays on hold; Redis starts again (empty): A
    writes back its call, B picks it up (issue 22, item 1)."""
    client, p101 = t.phone(t.a, "104"), t.phone(t.a, "101")
    c = t.park(t.a, client, p101, "*68102")
    t.wait_parked(t.b, 1)
    t.redis.stop()
    client2 = t.phone(t.a, "105")
    before = len(p101.incoming)
    c2 = t.ctx["a"].park_by_transfer(client2, p101, "*68103")
    calls = t.wait_parked(t.a, 2)
    check(sorted(x["extension"] for x in calls) == ["102", "103"], f"A parks on itself while Redis is away: {calls}")
    check(len(p101.incoming) == before + 1, "nobody was sent back to 101 (its only call is 105's)")
    status = t.a.api("callpark status")
    check("UNREACHABLE" in status, f"callpark status says the store is away: {status.strip()}")
    r = t.phone(t.a, "103").dial("*88103")
    t.ctx["a"].wait(lambda: r.confirmed and r.media_active, 5, "103 on A picks up the call parked during the outage")
    t.wait_parked(t.a, 1)
    rx2, _ = t.rtp(c2)
    rx, _ = t.rtp(c)
    check(rx2 > 25, f"103 talks to the caller ({rx2} RTP packets)")
    check(c.confirmed and rx > 25, f"the call parked before stays on hold ({rx} RTP packets)")
    r.hangup(__import__("pjsua2").CallOpParam(True))
    t.ua.pump(1.0, lambda: c2.ended)
    t.redis.start()
    both_reachable(t)
    calls = t.wait_parked(t.b, 1, seconds=10)
    check(calls[0]["extension"] == "102", f"B sees A's call again: {calls}")
    r = t.phone(t.b, "102").dial("*88102")
    t.ctx["b"].wait(lambda: r.confirmed and r.media_active, 10, "102 on B picks it up after the outage")
    t.wait_parked(t.a, 0)
    t.clear()


def c8_sent_back_during_an_outage_parks_again(t):
    """Redis stopped: 101 blind-transfers a caller to *68999 (no such extension); the
    send-back rings 101, who rejects it (486): the caller is parked at 101 on A, not hung
    up, and 102 on A picks it up (issue 22, item 1: hung up within a second)."""
    import pjsua2 as pj
    client, p101 = t.phone(t.a, "104"), t.phone(t.a, "101")
    t.redis.stop()
    try:
        n = len(p101.incoming)
        c = t.park(t.a, client, p101, "*68999")
        t.ctx["a"].wait(lambda: len(p101.incoming) > n + 1, 10, "the call is sent back: 101 rings")
        op = pj.CallOpParam()
        op.statusCode = 486
        p101.incoming[-1].hangup(op)
        calls = t.wait_parked(t.a, 1)
        check((calls[0]["extension"], calls[0]["parking_user"]) == ("101", "101"),
              f"back in the park at 101's own extension, on A: {calls}")
        check(c.confirmed, "the caller was never dropped")
        r = t.phone(t.a, "102").dial("*88101")
        t.ctx["a"].wait(lambda: r.confirmed and r.media_active, 5, "102 on A picks it up")
        rx, _ = t.rtp(c)
        check(rx > 25, f"102 talks to the caller ({rx} RTP packets)")
    finally:
        t.redis.start()
    both_reachable(t)
    t.clear()


def c9_reload_while_redis_is_down(t):
    """A call parked on A; Redis stops; `reload mod_callpark` on A; Redis starts again
    (empty). Past the grace time both nodes list the call and 102 on A picks it up
    (issue 22, item 2: the list was empty, *88102 refused, the caller stranded)."""
    client, p101 = t.phone(t.a, "104"), t.phone(t.a, "101")
    c = t.park(t.a, client, p101, "*68102")
    t.wait_parked(t.b, 1)
    t.redis.stop()
    try:
        out = t.a.api("reload mod_callpark")
        check("+OK" in out, f"reload mod_callpark on A while Redis is away: {out.strip()}")
        calls = t.wait_parked(t.a, 1)
        check(calls[0]["extension"] == "102", f"A adopted its call during the outage: {calls}")
    finally:
        t.redis.start()
    # The default node-grace (10 s): a node looks for what its earlier life left a grace
    # time after it started, and the others take no node for dead before.
    t.ua.pump(11)
    for n in (t.a, t.b):
        calls = t.wait_parked(n, 1)
        check(calls[0]["extension"] == "102", f"node {n.name} lists the call: {calls}")
    check(c.confirmed, "the caller is on hold")
    r = t.phone(t.a, "102").dial("*88102")
    t.ctx["a"].wait(lambda: r.confirmed and r.media_active, 5, "102 on A picks it up")
    rx, _ = t.rtp(c)
    check(rx > 25, f"102 talks to the caller ({rx} RTP packets)")
    t.clear()


def c10_recall_answered_during_an_outage(t):
    """A call parked on A; Redis stops; its recall rings 101 on A, who answers: they talk
    (issue 22, item 5: the answered recall was hung up, at every attempt)."""
    client, p101 = t.phone(t.a, "104"), t.phone(t.a, "101")
    t.a.set_callpark_conf(conf("a", A_SIP).replace('value="300"', 'value="5"'))
    t.a.api("callpark reload")
    try:
        n = len(p101.incoming)
        c = t.park(t.a, client, p101, "*68")
        t.wait_parked(t.a, 1)
        t.redis.stop()
        t.ctx["a"].wait(lambda: len(p101.incoming) > n + 1, 15, "the recall rings 101 on A")
        ring = p101.incoming[-1]
        p101.answer(ring)
        t.ctx["a"].wait(lambda: ring.confirmed and ring.media_active, 5, "101 answers the recall")
        t.wait_parked(t.a, 0)
        rx_c, _ = t.rtp(c)
        rx_r, _ = t.rtp(ring)
        check(c.confirmed and ring.confirmed and rx_c > 25 and rx_r > 25,
              f"the recalled parker talks to the caller (client {rx_c}, 101 {rx_r})")
    finally:
        t.redis.start()
        t.a.set_callpark_conf(conf("a", A_SIP))
        t.a.api("callpark reload")
    both_reachable(t)
    t.clear()


def c11_frozen_redis(t):
    """Redis frozen (SIGSTOP) for 6 s with calls parked on A: a caller who hangs up leaves
    at once, 102 on A picks up a call of A, a new park on A is kept; then Redis goes on
    and both nodes agree (issue 22, item 6: every *68/*88 waited 1-2 s, a pick-up was
    refused)."""
    client, client2, p101 = t.phone(t.a, "104"), t.phone(t.a, "105"), t.phone(t.a, "101")
    c1 = t.park(t.a, client, p101, "*68102")
    c2 = t.park(t.a, client2, p101, "*68103")
    t.wait_parked(t.b, 2)
    os.kill(t.redis.proc.pid, signal.SIGSTOP)
    frozen = time.time()
    try:
        c2.hangup(__import__("pjsua2").CallOpParam(True))
        t.ctx["a"].wait(lambda: len(t.parked(t.a)) == 1, 3, "the caller who hung up leaves A's park")
        t0 = time.time()
        r = t.phone(t.a, "102").dial("*88102")
        t.ctx["a"].wait(lambda: r.confirmed, 5, "102 on A picks up during the freeze")
        took = time.time() - t0
        check(took < 3, f"the pick-up was answered in {took:.2f} s")
        print(f"    during the freeze: *88102 answered in {took * 1000:.0f} ms")
        t.ctx["a"].wait(lambda: r.media_active, 5, "with media")
        rx, _ = t.rtp(c1)
        check(rx > 25, f"102 talks to the caller ({rx} RTP packets)")
        t.ua.hangup_all()
        c3 = t.park(t.a, client, p101, "*68104")
        calls = t.wait_parked(t.a, 1)
        check(calls[0]["extension"] == "104" and c3.confirmed, f"a park during the freeze is kept on A: {calls}")
        t.ua.pump(max(0.0, 6 - (time.time() - frozen)))
    finally:
        os.kill(t.redis.proc.pid, signal.SIGCONT)
    both_reachable(t)
    t.ctx["b"].wait(lambda: [x["extension"] for x in t.parked(t.b)] == ["104"], 5,
                    f"B sees what A did during the freeze: {t.parked(t.b)}")
    t.clear()


def c12_node_unloaded_within_its_grace(t):
    """A call parked on A; mod_callpark is unloaded on A for 5 s, then loaded: B keeps the
    call listed and lit all along, fires no `abandoned`, and its phones are told of the
    park once (issue 22, item 7: taken for dead after 3 s, told twice after)."""
    client, p101 = t.phone(t.a, "104"), t.phone(t.a, "101")
    p102b = t.phone(t.b, "102")
    w = t.blf(t.b, "103", "park+102")
    t.b.esl.poll_events(0.2)
    t.b.esl.events.clear()
    # 102 registered on B only (each node tells its own registrations: a phone registered
    # on both hears of a park from each), and pjsua2 hands a MESSAGE to the first of its
    # accounts with the same URI.
    if "102@a" in t.phones:
        t.ua.drop(t.phones.pop("102@a"))

    def told_102():
        return sum(1 for p in t.phones.values() if p.user == "102" for _, m in p.messages if "104 parked on 102" in m)
    earlier = told_102()
    c = t.park(t.a, client, p101, "*68102")
    t.wait_parked(t.b, 1)
    blf_wait(t.ctx["b"], w, "confirmed")
    told = lambda: told_102() - earlier  # noqa: E731
    t.ctx["b"].wait(lambda: told() == 1, 5, "102 on B is told of the park")
    check("+OK" in t.a.api("unload mod_callpark"), "unload on A")
    t.ua.pump(5)
    check(len(t.parked(t.b)) == 1, f"B still lists A's call 5 s later: {t.parked(t.b)}")
    check("+OK" in t.a.api("load mod_callpark"), "load on A")
    t.wait_parked(t.a, 1)
    t.ua.pump(1.5)
    check(len(t.parked(t.b)) == 1, "B lists it after the load")
    blf_wait(t.ctx["b"], w, "confirmed")
    ev = [e for e in t.b.esl.poll_events(0.5) if e.get("Callpark-Action") == "abandoned"]
    check(not ev, f"B fired no `abandoned`: {ev}")
    check(told() == 1, f"102 was told once: {[(k, p.messages) for k, p in t.phones.items() if p.user == '102']}")
    check(c.confirmed, "the caller is on hold")
    w.unsubscribe()
    t.clear()


def c13_park_order_across_a_reload(t):
    """Two calls parked on A at 102 a second apart; `reload mod_callpark` on A (both
    adopted): both nodes list them oldest first with the same park times, and *88102 on B
    takes the first (issue 22, item 8)."""
    client, client2, p101 = t.phone(t.a, "104"), t.phone(t.a, "105"), t.phone(t.a, "101")
    c1 = t.park(t.a, client, p101, "*68102")
    t.ua.pump(1.2)
    t.park(t.a, client2, p101, "*68102")
    t.wait_parked(t.b, 2)
    check("+OK" in t.a.api("reload mod_callpark"), "reload mod_callpark on A")
    t.ua.pump(0.6)
    a_calls, b_calls = t.wait_parked(t.a, 2), t.wait_parked(t.b, 2)
    check([x["caller_number"] for x in a_calls] == ["104", "105"], f"A: oldest first: {a_calls}")
    check([x["caller_number"] for x in b_calls] == ["104", "105"], f"B: oldest first: {b_calls}")
    for x, y in zip(a_calls, b_calls):
        check(abs(x["parked_seconds"] - y["parked_seconds"]) <= 1, f"the same park time on both nodes: {x} / {y}")
    r = t.phone(t.b, "102").dial("*88102")
    t.ctx["b"].wait(lambda: r.confirmed and r.media_active, 10, "102 on B picks up")
    rx, _ = t.rtp(c1)
    check(rx > 25, f"the oldest call (104) was taken ({rx} RTP packets to it)")
    t.clear()


def c14_a_second_node_with_a_running_node_s_name(t):
    """B's configuration names it `a` (a copied file) and mod_callpark is loaded again on
    B: the load is refused with a clear error while A runs; with its own name back, B
    loads (issue 22, item 9)."""
    try:
        t.b.set_callpark_conf(conf("a", B_SIP))
        out = t.b.api("reload mod_callpark")
        check("-ERR loading module" in out, f"the load under a running node's name is refused: {out.strip()}")
        # mod_logfile writes from its own thread: the line may land after the reply.
        said = 'node "a" is running at 127.0.0.1:25080'
        if not t.ua.pump(5, lambda: said in t.b.log_text()):
            lines = [l for l in t.b.log_text().splitlines() if "callpark" in l][-5:]
            check(False, "the log says which node has the name; B's last lines of callpark: "
                  + " | ".join(lines))
        check("a (reachable)" in t.a.api("callpark status"), "A goes on")
    finally:
        t.b.set_callpark_conf(conf("b", B_SIP))
        t.b.api("load mod_callpark")
    check("node b (reachable)" in t.b.api("callpark status"), "B loads under its own name")
    t.b.esl.subscribe()


def c17_sentinel_failover(t):
    """Both nodes on a store through three redis-sentinel (a primary and its replica),
    a call parked on each; the primary killed (SIGKILL): both calls still listed on both
    nodes, a new park on B is seen by A, and 102 on B picks up A's call and talks. The
    time from the kill to each is printed."""
    s = Sentinels(os.path.join(os.path.dirname(t.a.run), "..", "sentinel"))
    s.start()
    try:
        for n, port in ((t.a, A_SIP), (t.b, B_SIP)):
            n.set_callpark_conf(conf(n.name, port, s.url()))
            out = n.api("reload mod_callpark")
            check("+OK" in out, f"node {n.name} loads with the store through Sentinel: {out.strip()}")
            n.esl.subscribe()
        for n in (t.a, t.b):
            t.ctx[n.name].wait(lambda: "(reachable)" in n.api("callpark status"), 10,
                               f"node {n.name} reaches the master the Sentinels name")
        client, p101 = t.phone(t.a, "104"), t.phone(t.a, "101")
        # 107 is registered on B only: a user registered on both nodes is two pjsua
        # accounts of one user, and an INVITE reaches whichever was made first.
        client2, p107 = t.phone(t.b, "103"), t.phone(t.b, "107")
        p102b = t.phone(t.b, "102")
        c = t.park(t.a, client, p101, "*68102")
        t.park(t.b, client2, p107, "*68107")
        t.wait_parked(t.a, 2)
        t.wait_parked(t.b, 2)
        old = s.primary
        # The replica has the park before the kill (WAIT 1 replica, 5 s).
        check(Sentinels.ask(old, "WAIT", "1", "5000").startswith(":1"), "the replica took the writes")
        killed = time.time()
        s.kill_primary()
        t.ctx["a"].wait(lambda: s.master_port() not in (None, old), 30, "the Sentinels promote the replica")
        promoted = time.time() - killed
        for n in (t.a, t.b):
            t.ctx[n.name].wait(lambda: "(reachable)" in n.api("callpark status"), 15,
                               f"node {n.name} reaches the new master")
        followed = time.time() - killed
        check(len(t.parked(t.a)) == 2 and len(t.parked(t.b)) == 2,
              f"both calls still listed on both nodes: A {t.parked(t.a)}, B {t.parked(t.b)}")
        # A new park on B after the failover (107 dials the code: its own call is parked),
        # seen on A.
        p107.dial("*68103")
        t.wait_parked(t.a, 3, seconds=10)
        parked = time.time() - killed
        r = p102b.dial("*88102")
        t.ctx["b"].wait(lambda: r.confirmed and r.media_active, 10, "102 on B picks up A's call after the failover")
        picked = time.time() - killed
        rx_c, _ = t.rtp(c)
        check(rx_c > 25, f"the caller parked on A hears 102 on B ({rx_c} packets)")
        print(f"    Sentinel failover: promoted {promoted:.1f} s after the kill, both nodes on it {followed:.1f} s; "
              f"first park shared {parked:.1f} s, first cross-node pick-up connected {picked:.1f} s")
        t.clear()
    finally:
        for n, port in ((t.a, A_SIP), (t.b, B_SIP)):
            n.set_callpark_conf(conf(n.name, port))
            n.api("reload mod_callpark")
            n.esl.subscribe()
        s.stop()
        both_reachable(t)


def c6_sipp_retrievers_one_per_node(t, rounds=20):
    """Two SIPp retrievers, 102 on A and 103 on B, dial *88101 at once for a call
    parked on A: one 200 OK and one clean 480, every round."""
    client, p101 = t.phone(t.a, "104"), t.phone(t.a, "101")
    wins = {"a": 0, "b": 0}
    for i in range(rounds):
        t.park(t.a, client, p101, "*68")
        t.wait_parked(t.b, 1)
        procs = {n: start_sipp(t.ctx[n], "retrieve_race.xml", user, "*88101", port, media, f"race-{n}")
                 for n, user, port, media in (("a", "102", 27160, 27300), ("b", "103", 27161, 27400))}
        got = {n: sipp_final(t.ctx[n], proc, log, f"race-{n}") for n, (proc, log) in procs.items()}
        check(sorted(got.values()) == ["200", "480"], f"round {i}: one 200 OK and one 480 across the nodes, got {got}")
        wins[[n for n, c in got.items() if c == "200"][0]] += 1
        t.wait_parked(t.a, 0)
        t.ua.hangup_all()
        for n in (t.a, t.b):
            t.ctx[n.name].wait_no_channels(f"round {i}: no channel is left on node {n.name}")
    print(f"    SIPp races across nodes: the retriever on A won {wins['a']}, on B {wins['b']} of {rounds}")


def c7_recall_on_a_rings_the_parker_on_b(t):
    """A call parked on A by 101, whose phone then registers on B only: A (holding the
    call) runs the recall, which rings 101 on B; answered there, they talk."""
    client, p101 = t.phone(t.a, "104"), t.phone(t.a, "101")
    t.a.set_callpark_conf(conf("a", A_SIP).replace('value="300"', 'value="5"'))
    t.a.api("callpark reload")
    try:
        c = t.park(t.a, client, p101, "*68")
        t.wait_parked(t.b, 1)
        t.ua.drop(t.phones.pop("101@a"))
        p101b = t.phone(t.b, "101")
        t.ctx["b"].wait(lambda: p101b.incoming, 15, "the recall from A rings 101 on B")
        ring = p101b.incoming[-1]
        check("104" in (ring.invite or ""), "the recall shows the parked caller 104")
        p101b.answer(ring)
        t.ctx["b"].wait(lambda: ring.confirmed, 5, "101 answers the recall on B")
        t.wait_parked(t.a, 0)
        rx_c, _ = t.rtp(c)
        rx_r, _ = t.rtp(ring)
        check(rx_c > 25 and rx_r > 25, f"the recalled parker talks to the caller (client {rx_c}, 101 {rx_r})")
    finally:
        t.a.set_callpark_conf(conf("a", A_SIP))
        t.a.api("callpark reload")
        t.ua.hangup_all()
        if "101@b" in t.phones:
            t.ua.drop(t.phones.pop("101@b"))
    t.clear()


def c15_operator_commands_from_the_other_node(t):
    """An operator's console on B acts on calls A holds: `callpark hangup <uuid>` ends a
    call parked on A, `callpark retrieve <uuid> 103@acme.example` rings 103 (registered on
    B) and connects it, `callpark park <uuid> 105` parks a call in conversation on A;
    each answers what A did (issue 22, items 3 and 4: the hang-up was refused, the
    retrieve answered +OK but never connected)."""
    client, p101 = t.phone(t.a, "104"), t.phone(t.a, "101")
    # 103 registered on B only: A reaches it through B (its dial string), and pjsua2
    # hands a call to the first of its accounts with the same URI.
    if "103@a" in t.phones:
        t.ua.drop(t.phones.pop("103@a"))
    p103b = t.phone(t.b, "103")
    api_b = lambda cmd: t.b.api(f"callpark {cmd}").strip()  # noqa: E731
    c = t.park(t.a, client, p101, "*68102")
    uuid = t.wait_parked(t.b, 1)[0]["uuid"]
    out = api_b(f"hangup {uuid}")
    check(out.startswith(f"+OK hung up {uuid} parked at 102"), f"B: `callpark hangup {uuid}`: {out!r}")
    t.ctx["a"].wait(lambda: c.ended, 5, "the caller's call ends")
    t.wait_parked(t.a, 0)
    t.wait_parked(t.b, 0)
    c = t.park(t.a, client, p101, "*68102")
    uuid = t.wait_parked(t.b, 1)[0]["uuid"]
    n = len(p103b.incoming)
    out = api_b(f"retrieve {uuid} 103@acme.example")
    check(out.startswith("+OK ringing 103@acme.example"), f"B: `callpark retrieve {uuid} 103@acme.example`: {out!r}")
    t.ctx["b"].wait(lambda: len(p103b.incoming) > n, 10, "103, registered on B, rings")
    ring = p103b.incoming[-1]
    p103b.answer(ring)
    t.ctx["b"].wait(lambda: ring.confirmed and ring.media_active, 8, "103 answers")
    t.wait_parked(t.a, 0)
    rx_c, _ = t.rtp(c)
    rx_r, _ = t.rtp(ring)
    check(rx_c > 25 and rx_r > 25, f"103 talks to the caller (client {rx_c}, 103 {rx_r})")
    t.ua.hangup_all()
    c, _ = t.ctx["a"].call_and_answer(client, p101)
    uuid = channel_uuid(t.ctx["a"], "104")
    out = api_b(f"park {uuid} 105")
    check(out.startswith(f"+OK parked {uuid} at 105"), f"B: `callpark park {uuid} 105` for A's channel: {out!r}")
    calls = t.wait_parked(t.a, 1)
    check((calls[0]["extension"], calls[0]["parking_user"]) == ("105", "101"), f"parked on A at 105 for 101: {calls}")
    out = api_b("hangup 00000000-0000-0000-0000-000000000000")
    check(out.startswith("-ERR"), f"an unknown call is refused: {out!r}")
    t.clear()


def redis_commands(port):
    """How many commands redis-server ran since it started, INFO left out."""
    with socket.create_connection(("127.0.0.1", port), timeout=2) as s:
        s.sendall(b"INFO commandstats\r\n")
        data = b""
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            data += chunk
            head, _, body = data.partition(b"\r\n")
            if head.startswith(b"$") and len(body) >= int(head[1:]):
                break
    total = 0
    for line in data.decode(errors="replace").splitlines():
        if line.startswith("cmdstat_") and not line.startswith("cmdstat_info:"):
            total += int(line.split("calls=")[1].split(",")[0])
    return total


def flood(t, node, calls, rate, name):
    """Starts SIPp sending `calls` hand-over INVITEs at `rate` a second to `node`'s
    node-address from 127.0.0.50 (no node). Returns the process and its message log."""
    work = os.path.join(node.run, "sipp")
    os.makedirs(work, exist_ok=True)
    log = os.path.join(work, f"{name}.log")
    if os.path.exists(log):
        os.remove(log)
    args = ["sipp", f"127.0.0.1:{node.sip_port + CARRIER_OFFSET}", "-sf", os.path.join(HERE, "sipp", "handover_flood.xml"),
            "-i", "127.0.0.50", "-p", "27170", "-mp", "27500", "-m", str(calls), "-r", str(rate), "-l", "200",
            "-timeout", "60", "-timeout_error", "-trace_msg", "-message_file", log, "-nostdin"]
    with open(os.path.join(work, f"{name}.out"), "w") as screen:
        return subprocess.Popen(args, cwd=work, stdout=screen, stderr=subprocess.STDOUT), log


def flood_answers(t, proc, log):
    """Waits for a flood; the switch's answers it got: {status code: count}."""
    while proc.poll() is None:
        t.ua.pump(0.05)
    text = open(log, errors="replace").read() if os.path.exists(log) else ""
    # Calls that got each status (a retransmitted answer counts once).
    seen = set()
    for m in re.split(r"^(?=SIP/2\.0 |[A-Z]+ sip:)", text, flags=re.M):
        code = re.match(r"SIP/2\.0 (\d{3})", m)
        call = re.search(r"^Call-ID:\s*(\S+)", m, re.M | re.I)
        if code and call:
            seen.add((code.group(1), call.group(1)))
    got = {}
    for code, _ in seen:
        got[code] = got.get(code, 0) + 1
    return got, proc.returncode


def measured_flood(t, calls, rate, name):
    """A flood of `calls` hand-overs at `rate` from no node at A, each to be refused with a
    503 and no early media; returns its length in seconds, the commands Redis ran while
    idle for as long before it, during it, and the answers."""
    seconds = calls / rate
    n0 = redis_commands(REDIS_PORT)
    t.ua.pump(seconds)
    idle = redis_commands(REDIS_PORT) - n0
    n0 = redis_commands(REDIS_PORT)
    proc, log = flood(t, t.a, calls, rate, name)
    got, rc = flood_answers(t, proc, log)
    during = redis_commands(REDIS_PORT) - n0
    check(got.get("503") == calls and rc == 0, f"each of {calls} hand-overs refused with a 503: {got} (sipp exit {rc})")
    check(not got.get("183") and not got.get("180"), f"no early media, no ringing: {got}")
    return seconds, idle, during, got


def c16_hand_over_flood_from_no_node(t, calls=300, rate=100):
    """A SIPp flood of hand-over INVITEs from an address that is no node (127.0.0.50)
    at A's node-address while a call is parked on A: each refused with a 503 and no early
    media, Redis runs no more commands than when idle, and 102 on B picks the call up
    during a second flood."""
    client, p101 = t.phone(t.a, "104"), t.phone(t.a, "101")
    p102b = t.phone(t.b, "102")
    c = t.park(t.a, client, p101, "*68102")
    t.wait_parked(t.b, 1)
    seconds, idle, during, got = measured_flood(t, calls, rate, "flood-1")
    # Both nodes sync with Redis all along; the flood may cost A one read of the nodes
    # alive each half second, and nothing else.
    check(during <= idle * 1.5 + 2 * seconds + 10,
          f"Redis ran {during} commands during the flood ({seconds:.0f} s), {idle} idle for as long")
    print(f"    flood of {calls} hand-overs at {rate}/s: {got}; Redis commands {during} (idle {idle})")
    proc, log = flood(t, t.a, calls, rate, "flood-2")
    t.ua.pump(1)
    r = p102b.dial("*88102")
    t.ctx["b"].wait(lambda: r.confirmed and r.media_active, 10, "102 on B picks up A's call during a flood")
    got, rc = flood_answers(t, proc, log)
    check(got.get("503") == calls, f"the second flood refused too: {got}")
    rx_c, _ = t.rtp(c)
    check(rx_c > 25, f"the caller hears 102 ({rx_c} packets)")
    t.wait_parked(t.a, 0)
    t.clear()


def redirect_conf(node, sip_port):
    return conf(node, sip_port).replace(
        "</settings>", '<param name="cross-node-pickup" value="redirect"/>\n  </settings>', 1)


def channels(node):
    return int(node.api("show channels count").split()[0])


def sipp_pick_up_on_b(t, c, code, name, talk_ms):
    """A SIPp phone of 103 at 127.0.0.60 (no node) dials `code` on B for the call `c`
    parked on A and talks `talk_ms` (echoing what it hears). Once A's call is taken:
    the channels of A and B and the RTP packets the caller hears; then, the phone's
    calls done as written, its message log."""
    proc, log = start_sipp(t.ctx["b"], "retriever.xml", "103", code, 27070, 27072, name,
                           delay_ms=talk_ms, ip="127.0.0.60", extra=["-rtp_echo"])
    t.ctx["a"].wait(lambda: not t.parked(t.a), 10, f"A's call is picked up by the phone's {code} on B")
    t.ua.pump(0.5)
    on_a, on_b = channels(t.a), channels(t.b)
    rx_c, _ = t.rtp(c)
    check(rx_c > 25, f"the caller hears the phone (echo: {rx_c} packets)")
    while proc.poll() is None:
        t.ua.pump(0.1)
    check(proc.returncode == 0, f"the phone's calls went as written (sipp exit {proc.returncode}, {log})")
    return on_a, on_b, rx_c, open(log, errors="replace").read()


def c18_cross_node_pickup_by_redirect(t, calls=300, rate=100):
    """Both nodes with `cross-node-pickup` `redirect`: a SIPp phone of 103 at 127.0.0.60
    (no node) dials *88102 on B for a call held by A; B answers 302 with A's hand-over
    URI, the phone calls A itself and talks to the caller through A alone (B holds no
    channel); A fires `retrieved`. A flood of 300 forged hand-overs at 100/s from
    127.0.0.50 at A is refused (503, no early media), at most 20 looked up a second.
    An answered retriever (a dialplan that answers first) is bridged to A instead."""
    for n, port in ((t.a, A_SIP), (t.b, B_SIP)):
        n.set_callpark_conf(redirect_conf(n.name, port))
        out = n.api("callpark reload")
        check("+OK" in out, f"node {n.name} takes cross-node-pickup redirect: {out}")
    try:
        client, p101 = t.phone(t.a, "104"), t.phone(t.a, "101")
        c = t.park(t.a, client, p101, "*68102")
        t.wait_parked(t.b, 1)
        before = len([e for e in t.a.esl.poll_events(0.2) if e.get("Callpark-Action") == "retrieved"])
        check(channels(t.b) == 0, f"B holds no channel before: {t.b.api('show channels count').strip()}")
        on_a, on_b, rx_c, text = sipp_pick_up_on_b(t, c, "*88102", "redirect", 4000)
        check(on_b == 0 and on_a == 2, f"the conversation passes A alone: A {on_a} channels, B {on_b}")
        check(re.search(r"^SIP/2\.0 302 .*?^Contact: <sip:callpark-handover-[0-9a-f]+@127\.0\.0\.1:"
                        f"{A_SIP + CARRIER_OFFSET}>", text, re.M | re.S),
              "B's 302 names A's hand-over address")
        check("could not be sent to node" not in t.b.log_text(), "B took its redirect for done")
        after = len([e for e in t.a.esl.poll_events(0.5) if e.get("Callpark-Action") == "retrieved"])
        check(after == before + 1, f"A fires `retrieved` once ({after - before})")
        t.ctx["a"].wait(lambda: c.ended, 5, "the caller's call ends with the phone's BYE")
        # Forged hand-overs from no node while calls are parked: each costs at most a
        # limited lookup, none is answered.
        c = t.park(t.a, client, p101, "*68102")
        t.wait_parked(t.b, 1)
        seconds, idle, during, got = measured_flood(t, calls, rate, "flood-redirect")
        # At most 20 tokens looked up a second (a script and its GET each), and a read of
        # the nodes alive per half second; without the limit, every INVITE a lookup.
        check(during <= idle * 1.5 + 2 * 20 * (seconds + 1) + 2 * seconds + 10 < 2 * calls,
              f"Redis ran {during} commands during the flood ({seconds:.0f} s), {idle} idle for as long")
        print(f"    redirect: A {on_a} channels, B {on_b}; caller heard {rx_c} packets; flood of {calls} "
              f"at {rate}/s: {got}, Redis commands {during} (idle {idle})")
        check(len(t.parked(t.a)) == 1, "the parked call is still there")
        # A retriever the dialplan answered first cannot be sent a 302: bridged to A.
        on_a, on_b, _, text = sipp_pick_up_on_b(t, c, "*98102", "answered", 3000)
        check(on_a == 2 and on_b == 2, f"bridged through B: A {on_a} channels, B {on_b}")
        check("SIP/2.0 302" not in text, "answered, not redirected")
    finally:
        for n, port in ((t.a, A_SIP), (t.b, B_SIP)):
            n.set_callpark_conf(conf(n.name, port))
            n.api("callpark reload")
        t.clear()


def c19_retriever_on_b_gone_before_it_is_connected(t, rounds=5):
    """A SIPp retriever on B (103) sends its BYE with the ACK of the 200 OK to *88102 for a
    call held by A: each time the caller is parked again on A (same slot, parking user and
    park time) or, connected for a moment, ends with the retriever; no channel is left on
    B, and none on A but the caller (before: the caller stayed on A listed nowhere, and
    B's leg to A stayed up)."""
    client, p101 = t.phone(t.a, "104"), t.phone(t.a, "101")
    c = t.park(t.a, client, p101, "*68102")
    first = t.wait_parked(t.b, 1)[0]
    outcomes = {"parked again": 0, "connected, then ended": 0}
    for i in range(rounds):
        proc, log = start_sipp(t.ctx["b"], "retrieve_then_bye.xml", "103", "*88102", 27080, 27082, f"gone-{i}")
        while proc.poll() is None:
            t.ua.pump(0.05)
        check(proc.returncode == 0, f"round {i}: the retriever was answered and hung up (sipp exit {proc.returncode}, {log})")
        t.ua.pump(3, lambda: c.ended or (len(t.parked(t.a)) == 1 and channels(t.b) == 0))
        if c.ended:
            outcomes["connected, then ended"] += 1
        else:
            calls = t.parked(t.a)
            check(len(calls) == 1 and calls[0]["uuid"] == first["uuid"] and calls[0]["caller_number"] == "104"
                  and (calls[0]["extension"], calls[0]["parking_user"]) == ("102", "101")
                  and calls[0]["parked_seconds"] >= first["parked_seconds"],
                  f"round {i}: the caller is parked again on A at 102 for 101: {calls} (A {channels(t.a)} channels, "
                  f"B {channels(t.b)})")
            outcomes["parked again"] += 1
        t.ctx["b"].wait(lambda: channels(t.b) == 0, 5, f"round {i}: no channel is left on B")
        t.ctx["a"].wait(lambda: channels(t.a) == (0 if c.ended else 1), 5, f"round {i}: A holds the caller alone")
        if c.ended:
            c = t.park(t.a, client, p101, "*68102")
            first = t.wait_parked(t.b, 1)[0]
    log = t.a.log_text()
    check("could not be adopted" not in log and "before they were connected: hung up" not in log,
          "no caller was hung up or left unadopted by the rescue on A")
    print(f"    retriever on B gone at once, {rounds} rounds: {outcomes}")
    t.clear()


SCENARIOS = [c1_parked_on_a_picked_up_on_b, c2_bare_star88_and_lamp_key_on_b, c3_group_park_from_both_nodes,
             c6_sipp_retrievers_one_per_node, c7_recall_on_a_rings_the_parker_on_b, c5_redis_stopped_and_started,
             c8_sent_back_during_an_outage_parks_again, c9_reload_while_redis_is_down,
             c10_recall_answered_during_an_outage, c11_frozen_redis, c12_node_unloaded_within_its_grace,
             c13_park_order_across_a_reload, c14_a_second_node_with_a_running_node_s_name,
             c15_operator_commands_from_the_other_node, c16_hand_over_flood_from_no_node, c17_sentinel_failover,
             c18_cross_node_pickup_by_redirect, c19_retriever_on_b_gone_before_it_is_connected,
             c4_killed_node_loses_its_calls]


def start_both():
    """Installs the module, starts Redis and both nodes and the phones' endpoint."""
    subprocess.run(["make", "-s", "install"], cwd=ROOT, check=True)
    base = os.path.join(HERE, "run-cluster")
    shutil.rmtree(base, ignore_errors=True)
    redis = Redis(REDIS_PORT)
    redis.start()
    a = Node("a", os.path.join(base, "a", "run"), A_SIP, A_ESL, (32000, 32999), via=B_SIP + CARRIER_OFFSET)
    b = Node("b", os.path.join(base, "b", "run"), B_SIP, B_ESL, (34000, 34999))
    a.start()
    b.start()
    for n in (a, b):
        n.esl.subscribe()
    from phones import UA
    ua = UA()
    time.sleep(0.5)
    return a, b, redis, ua


def stop_both(a, b, redis, ua):
    if ua:
        ua.close()
    for n in (a, b):
        n.stop()
    redis.stop()


def main(argv):
    wanted = set(argv)
    if unknown_scenarios(SCENARIOS, wanted, "cluster"):
        return 2
    passed = failed = 0
    failures = []
    fs_version = "(not started)"
    a, b, redis, ua = start_both()
    try:
        fs_version = a.api("version short").strip()
        t = Two(a, b, ua, redis)
        print(f"FreeSWITCH under test: {fs_version} ({FS_PREFIX}), two nodes")
        for n in (a, b):
            print(f"node {n.name}: " + n.api("callpark status").strip())
        def after_failure():
            for n in (a, b):
                tail = n.log_text().splitlines()[-25:]
                print(f"    last lines of node {n.name}'s log:\n" + "\n".join("    | " + ln for ln in tail))
            if not redis.proc:
                redis.start()
            if not a.proc:
                a.start()
            ua.hangup_all()

        passed, failures = run_scenarios(SCENARIOS, wanted, lambda s: s(t), after_failure)
        failed = len(failures)
    finally:
        stop_both(a, b, redis, ua)
    summary = os.environ.get("CALLPARK_FAILURE_SUMMARY")
    if summary and failures:
        with open(summary, "a") as out:
            out.writelines(f"  cluster {f}\n" for f in failures)
    for f in failures:
        print(f"FAILED {f}")
    print(f"cluster on FreeSWITCH {fs_version}: {passed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    rc = main(sys.argv[1:])
    sys.stdout.flush()
    os._exit(rc)
