#!/usr/bin/env python3
"""The least a park can be on FreeSWITCH, callpark and mod_valet_parking, side by side.

Starts FreeSWITCHes of its own (bench/fs/freeswitch.xml: one SIP profile without call
authentication, silence on hold, loopback, ports 35060/38021; a fresh switch for each
measurement) with four columns, each a domain of its own in the same configuration:

  bare             no park module: *68<ext> answers, stores its uuid under <ext> with
                   mod_hash and plays silence; *88<ext> intercepts it
  callpark         mod_callpark, nothing before it in the dialplan
  callpark+answer  mod_callpark after an `answer` on *88
  valet            mod_valet_parking

and drives the same SIPp load (bench/sipp/*.xml) through each:

  * park-and-retrieve cycles: one SIPp parks calls with *68<ext>, a second one retrieves
    them with *88<ext> half a second later, talks 300 ms and hangs up; both stream RTP
    of a marker byte once answered. bench/sniff.py reads the loopback wire meanwhile:
    *88 INVITE -> 200 OK, -> the parked caller's first packet at the retriever, -> the
    retriever's first packet at the caller;
  * FreeSWITCH CPU seconds per 1,000 cycles and those times, over --rounds fixed runs
    per column in rotating order, with 0 and 100 calls already parked (--levels) by a
    third SIPp on other extensions;
  * a ladder of rates (--rates) up to the first one not kept up (0.1% failed, or done
    more than 2 s late);
  * with --perf, a `perf record` of the switch during one more fixed run per column;
  * with --census, the switch's work per cycle, counted (bench/census.py: mallocs, SQL
    statements, events by name...) during one more run per column;
  * the switch's resident memory with 500 calls parked and after they left;
  * BLF: 500 subscribers (dialog package, as phones subscribe) on one slot, and 50
    slots watched by 20 each: NOTIFYs, their lag behind the call that changed the lamp,
    the switch's CPU (callpark and valet; the bare park has no lamps);
  * a directory sweep: 100, 2,000 and 20,000 users per domain (--sweep).

Prints every figure with callpark/bare ratios and writes them as JSON (--json) and text
beside it. Needs FreeSWITCH with mod_valet_parking and mod_hash, SIPp (Debian
sip-tester, with RTP streaming), root (the packet socket), perf for --perf, and the
test suite's Python helpers (tests/fs).

Run:  make -s install && python3 bench/park_vs_valet.py --perf --census   (about 40 minutes)
      python3 bench/park_vs_valet.py --levels 0 --rounds 1 --rates 50 --sweep "" \
          --blf-rounds 0 --memory 0                                   (quick, 2 minutes)
"""

import argparse
import json
import os
import select
import shutil
import signal
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(ROOT, "tests", "fs"))

import switch  # noqa: E402  (the tests' FreeSWITCH runner and ESL client)

sys.path.insert(0, HERE)
import sniff  # noqa: E402  (time to audio, off the wire)
import census  # noqa: E402  (the switch's work, counted)

SIP_PORT, ESL_PORT = 35060, 38021
FS_INCLUDE = switch._pkg_var("includedir", f"{switch.FS_PREFIX}/include/freeswitch")
RTP_START, RTP_END = 20000, 29999
# The columns: the least a park can be on FreeSWITCH (no park module: mod_hash and
# intercept), callpark as dialed with nothing before it, callpark after an `answer` in
# the dialplan, mod_valet_parking. Each has its own domain in the one switch.
MODULES = {"bare": "bare.bench", "callpark": "cp.bench", "callpark+answer": "cpa.bench", "valet": "valet.bench",
           "callpark-defaults": "cpd.bench", "callpark-dialed": "cpx.bench", "callpark-lean": "cpl.bench"}
# The columns run unless --modules names others.
DEFAULT_MODULES = ("bare", "callpark", "callpark+answer", "valet")
BLF_MODULES = ("callpark", "valet")  # the bare park has no lamps
CYCLE_EXTS = range(1000, 1200)    # park-and-retrieve cycles, reused in turn
SWEEP_EXTS = range(1000, 1080)    # the same for the directory-size sweep (fits in 100 users)
HOLD_EXTS = range(3000, 3500)     # calls already parked, and the 500 of the memory figure
PARKER = "9000"                   # the parking user callpark is told (SIPp does not authenticate)
BLF_SLOTS = [str(8000 + i) for i in range(50)]
SUBSCRIBERS = [str(10000 + i) for i in range(1000)]
OFFSET_S = 0.5                    # from a park to the retrieve of the same extension
SIPP_PORTS = {"park": (41000, 42000), "retrieve": (41010, 42010), "hold": (41020, 42020)}
# The RTP the SIPp phones send (bench/sniff.py tells them apart by the first byte).
MARKS = {"park": 0x55, "retrieve": 0x2A, "hold": 0x55}


def password(user, domain):
    return switch.password(user, domain)


def directory(users, needed):
    """Each domain with `users` users: padding users first, then the ones the bench
    dials (so that a lookup walks the whole list, as for the last user added)."""
    needed = list(dict.fromkeys(needed))
    padding = [str(200000 + i) for i in range(max(0, users - len(needed)))]
    out = []
    for domain in MODULES.values():
        out.append(f'<domain name="{domain}"><groups><group name="default"><users>')
        out += [f'<user id="{u}"/>' for u in padding]
        out += [f'<user id="{u}"><params><param name="password" value="{password(u, domain)}"/></params></user>'
                for u in needed]
        out.append("</users></group></groups></domain>")
    return "\n".join(out)


class BenchSwitch(switch.Switch):
    template = os.path.join(HERE, "fs", "freeswitch.xml")
    rtp_range = (RTP_START, RTP_END)

    def __init__(self, run, users, needed, **kw):
        super().__init__(run, "", **kw)
        self.users, self.needed = users, needed

    # Whether the bench profile makes every domain an alias of itself (--alias).
    domain_alias = "true"

    def substitutions(self):
        return {"@DIRECTORY@": directory(self.users, self.needed), "@DOMAIN_ALIAS@": self.domain_alias}

    def cpu_seconds(self):
        with open(f"/proc/{self.proc.pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def rss_mb(self):
        with open(f"/proc/{self.proc.pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
        return float("nan")

    def parked(self, module):
        if module.startswith("callpark"):
            out = self.api(f"callpark list {MODULES[module]} json")
            try:
                return json.loads(out)["count"]
            except (ValueError, KeyError):
                return -1  # an answer that is not the listing: not the count asked for
        if module == "valet":
            return self.api("valet_info bench@valet.bench").count("<extension")
        # bare: the calls of its domain playing their silence
        try:
            rows = json.loads(self.api("show channels as json")).get("rows", [])
        except ValueError:
            return -1
        return sum(1 for r in rows if r.get("application") == "playback" and "bare.bench" in (r.get("name") or ""))


class Sipp:
    """One SIPp process running a scenario of bench/sipp against the bench switch."""

    def __init__(self, work, role, scenario, module, exts, rate, count, target=SIP_PORT, talk_ms=300):
        self.work = os.path.join(work, f"{role}-{module}-{time.time_ns()}")
        os.makedirs(self.work)
        # The voice the scenario streams once answered (rtp_stream="mark.raw"): one
        # marker byte, so that sniff.py can tell whose audio reaches whom.
        with open(os.path.join(self.work, "mark.raw"), "wb") as f:
            f.write(bytes([MARKS[role]]) * 1600)
        inf = os.path.join(self.work, "calls.csv")
        with open(inf, "w") as f:
            f.write("SEQUENTIAL\n" + "".join(f"{e};{MODULES[module]}\n" for e in exts))
        port, media = SIPP_PORTS[role]
        args = ["sipp", f"127.0.0.1:{target}", "-sf", os.path.join(HERE, "sipp", scenario), "-inf", inf,
                "-i", "127.0.0.1", "-p", str(port), "-mp", str(media), "-r", str(rate), "-m", str(count),
                "-l", str(max(count, 1)), "-bg", "-trace_stat", "-fd", "1", "-trace_err",
                "-max_socket", "20000", "-nostdin", "-d", str(talk_ms)]
        # -bg forks: SIPp's own pid is printed; wait for it by polling /proc.
        out = subprocess.run(args, cwd=self.work, capture_output=True, text=True, timeout=30)
        self.pid = None
        for word in (out.stdout + out.stderr).replace("[", " ").replace("]", " ").split():
            if word.isdigit():
                self.pid = int(word)
        if not self.pid:
            raise RuntimeError(f"sipp did not start: {out.stdout}{out.stderr}")
        self.started = time.time()

    def running(self):
        try:
            os.kill(self.pid, 0)
        except ProcessLookupError:
            return False
        try:
            with open(f"/proc/{self.pid}/stat") as f:
                return f.read().split()[2] != "Z"
        except OSError:
            return False

    def wait(self, timeout):
        end = time.time() + timeout
        while self.running() and time.time() < end:
            time.sleep(0.05)
        self.ended = time.time()
        if self.running():
            self.stop()
            return False
        return True

    def stop(self):
        try:
            os.kill(self.pid, signal.SIGUSR1)  # SIPp: stop gracefully, write its stats
            end = time.time() + 10
            while self.running() and time.time() < end:
                time.sleep(0.05)
            if self.running():
                os.kill(self.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass

    def stats(self):
        """(successful calls, failed calls) from SIPp's last statistics row."""
        path = next((os.path.join(self.work, n) for n in os.listdir(self.work)
                     if n.endswith(".csv") and n != "calls.csv"), None)
        if not path:
            return 0, 0
        with open(path) as f:
            rows = [r.rstrip("\n").split(";") for r in f if r.strip()]
        head, last = rows[0], rows[-1]
        return int(last[head.index("SuccessfulCall(C)")]), int(last[head.index("FailedCall(C)")])


class Sniffer:
    """bench/sniff.py as a child process for the length of a run (see its docstring)."""

    def __init__(self, work):
        self.out = os.path.join(work, f"sniff-{time.time_ns()}.json")
        self.proc = subprocess.Popen([sys.executable, os.path.join(HERE, "sniff.py"), self.out])
        time.sleep(0.5)  # the socket is open and filtered before the first INVITE

    def stop(self):
        """Per retrieve: (INVITE->200, ->audio at the retriever, ->audio at the caller) ms."""
        self.proc.send_signal(signal.SIGTERM)
        self.proc.wait(timeout=30)
        with open(self.out) as f:
            return sniff.analyse(json.load(f))


class Perf:
    """`perf record` of the switch for the length of a run; report() keeps the top of
    `perf report` (by shared object, then by symbol) as text."""

    def __init__(self, pid, path):
        self.path = path
        self.proc = subprocess.Popen(["perf", "record", "-q", "-F", "999", "-g", "-p", str(pid), "-o", path],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(0.5)

    def report(self, lines=60):
        self.proc.send_signal(signal.SIGINT)
        self.proc.wait(timeout=60)
        out = []
        for sort in ("dso", "dso,sym"):
            rep = subprocess.run(["perf", "report", "-i", self.path, "--stdio", "--no-children", "-g", "none",
                                  "--percent-limit", "0.3" if "sym" in sort else "0.01", "--sort", sort], capture_output=True, text=True)
            rows = [ln for ln in rep.stdout.splitlines() if ln.strip() and not ln.startswith("#")]
            out.append(f"== perf report --sort {sort} ==\n" + "\n".join(rows[:lines]))
        return "\n\n".join(out)


def percentile(xs, p):
    if not xs:
        return float("nan")
    xs = sorted(xs)
    k = min(len(xs) - 1, max(0, int(round(p / 100 * (len(xs) - 1)))))
    return xs[k]


def median(xs):
    return statistics.median(xs) if xs else float("nan")


def wait_parked(sw, module, n, seconds=60):
    end = time.time() + seconds
    got = sw.parked(module)
    while got != n and time.time() < end:
        time.sleep(0.2)
        got = sw.parked(module)
    return got


def clear(sw, module):
    sw.api(f"hupall NORMAL_CLEARING bench_park {module}")
    end = time.time() + 30
    while time.time() < end and channels(sw) != 0:
        time.sleep(0.2)


def cycles(sw, work, module, rate, n, held, exts=CYCLE_EXTS, latency=False, perf=None, count=None, settle=5, talk_ms=300):
    """n park-and-retrieve cycles at `rate` per second; returns a dict of figures. With
    `latency`, the loopback wire is read for the *88 figures; with `perf` (a path), the
    switch is profiled meanwhile and the report is returned under "perf"; with `count` (a
    path), its work is counted (bench/census.py) and returned under "census". `settle`:
    how long the parker may take to see its last calls end after the last retrieve;
    `talk_ms`: how long the retriever talks."""
    sniffer = Sniffer(work) if latency else None
    profiler = Perf(sw.proc.pid, perf) if perf else None
    counter = census.Census(sw.proc.pid, FS_INCLUDE, count) if count else None
    cpu0 = sw.cpu_seconds()
    t0 = time.time()
    seq = [exts[i % len(exts)] for i in range(n)]
    parker = Sipp(work, "park", "park.xml", module, seq, rate, n)
    time.sleep(OFFSET_S)
    retriever = Sipp(work, "retrieve", "retrieve.xml", module, seq, rate, n, talk_ms=talk_ms)
    # A switch that cannot keep up leaves calls waiting for minutes: give up on them
    # (they count as failed) soon after the last one should have been done.
    retriever.wait(n / rate + max(10, settle))
    parker.wait(settle)
    t1 = time.time()
    cpu1 = sw.cpu_seconds()
    p_ok, p_fail = parker.stats()
    r_ok, r_fail = retriever.stats()
    ok = min(p_ok, r_ok)
    elapsed = retriever.ended - retriever.started
    res = {"module": module, "offered_rate": rate, "cycles": n, "ok": ok, "failed": n - ok,
           "failure_rate": (n - ok) / n, "cycles_per_s": ok / elapsed if elapsed > 0 else 0.0,
           # Kept up: fewer than 0.1% failed, and the last retrieve (0.4 s of call) ended
           # within 2 s of when the offered rate had it end.
           "kept": (n - ok) / n < 0.001 and elapsed <= n / rate + 2.0,
           "cpu_s": cpu1 - cpu0, "cpu_s_per_1000": (cpu1 - cpu0) / max(ok, 1) * 1000, "wall_s": t1 - t0,
           "park": [p_ok, p_fail], "retrieve": [r_ok, r_fail]}
    if profiler:
        res["perf"] = profiler.report()
    if counter:
        res["census"] = counter.stop()
    if sniffer:
        rows = sniffer.stop()
        res["samples"] = {}
        for i, name in enumerate(LATENCIES):
            xs = res["samples"][name] = [r[i] for r in rows if r[i] is not None]
            res[f"{name}_median_ms"] = median(xs)
            res[f"{name}_p99_ms"] = percentile(xs, 99)
            res[f"{name}_samples"] = len(xs)
    # Anything left parked (a failed cycle) would skew the next run.
    clear_cycles(sw, module, held)
    return res


def clear_cycles(sw, module, held):
    """Hangs up what a failed cycle left behind (the cycle scenarios send X-Bench: cycle),
    keeping the calls held for the level."""
    sw.api("hupall NORMAL_CLEARING sip_h_X-Bench cycle")
    end = time.time() + 30
    while time.time() < end and channels(sw) > held:
        time.sleep(0.2)


def channels(sw):
    out = sw.api("show channels count").strip().split()
    return int(out[0]) if out and out[0].isdigit() else -1


def subscribe_all(watchers, seconds=30):
    """SUBSCRIBEs every watcher at once and answers each challenge: a phone farm
    coming up, not one phone after another."""
    for w in watchers:
        w._subscribe()
    by_fd = {w.sock.fileno(): w for w in watchers}
    poller = select.poll()
    for fd in by_fd:
        poller.register(fd, select.POLLIN)
    end = time.time() + seconds
    while time.time() < end and any(not w.sub_code for w in watchers):
        for fd, _ in poller.poll(20):
            w = by_fd[fd]
            for msg in w._recv_all():
                first = msg.split("\r\n", 1)[0]
                if first.startswith(("SIP/2.0 401", "SIP/2.0 407")):
                    w._subscribe(w._authorization(msg, first.startswith("SIP/2.0 407")))
                elif first.startswith("SIP/2.0 ") and not first.startswith("SIP/2.0 1"):
                    w.sub_code = int(first.split()[1])
    return poller, by_fd


def blf(sw, work, module, watch, rounds):
    """Lamps at scale: `watch` maps each slot to its subscribers (dialog package, as
    phones subscribe). Each round parks a call at every slot at once and then retrieves
    them all. The lag of a NOTIFY is counted from the moment the switch took the call
    that changed its lamp (CHANNEL_CREATE of the *68 call for on, of the *88 call for
    off): what a user sees between dialing and the lamp."""
    import phones
    phones.SIP_PORT = SIP_PORT
    domain = MODULES[module]

    class Watcher(phones.BlfWatcher):
        """A lamp that counts a NOTIFY once: a copy sofia sent again (same CSeq; the
        first 200 OK was late) is answered but neither counted nor timed."""
        copies = 0

        def _kept(self, head, body):
            cseq = next((ln.split(":", 1)[1].strip() for ln in head.split("\r\n")
                         if ln.lower().startswith("cseq:")), "")
            seen = self.__dict__.setdefault("seen", set())
            if cseq in seen:
                Watcher.copies += 1
                return
            seen.add(cseq)
            super()._kept(head, body)

    watchers = [Watcher(u, domain, f"park+{slot}") for slot, subs in watch.items() for u in subs]
    slot_of = {w: w.target.split("+", 1)[1] for w in watchers}
    cpu0 = sw.cpu_seconds()
    poller, by_fd = subscribe_all(watchers)
    subscribed = sum(1 for w in watchers if 200 <= w.sub_code < 300)
    cpu_subscribe = sw.cpu_seconds() - cpu0
    time.sleep(1.0)
    for w in watchers:
        w.pump()
        w.notifies.clear()
    esl = switch.Esl(ESL_PORT)
    esl.subscribe("CHANNEL_CREATE")
    lags = {"on": [], "off": []}
    counts = {"on": 0, "off": 0}
    cpu = {"on": 0.0, "off": 0.0}
    seen = {"on": 0, "off": 0}
    slots = list(watch)

    def collect(phase, code, seconds):
        t_event, arrivals = {}, []
        c0 = sw.cpu_seconds()
        end = time.time() + seconds
        while time.time() < end:
            ready = poller.poll(10)
            now = time.time()
            for fd, _ in ready:
                w = by_fd[fd]
                before = len(w.notifies)
                w.pump()
                arrivals.extend([(now, slot_of[w])] * (len(w.notifies) - before))
            for ev in esl.poll_events(0):
                dest = ev.get("Caller-Destination-Number") or ""
                if ev.get("Event-Name") == "CHANNEL_CREATE" and dest.startswith(code):
                    t_event.setdefault(dest[len(code):], int(ev["Event-Date-Timestamp"]) / 1e6)
            esl.events.clear()
        cpu[phase] += sw.cpu_seconds() - c0
        counts[phase] += len(arrivals)
        lags[phase].extend((t - t_event[slot]) * 1000 for t, slot in arrivals if slot in t_event)

    calls = {"parks": [0, 0], "retrieves": [0, 0]}  # (succeeded, failed) as SIPp saw them
    rate = min(len(slots), 50)
    for _ in range(rounds):
        parker = Sipp(work, "park", "park.xml", module, slots, rate, len(slots))
        collect("on", "*68", 2.0 + len(slots) / rate)
        seen["on"] += sum(1 for w in watchers if w.state()[0] == "confirmed")
        retriever = Sipp(work, "retrieve", "retrieve.xml", module, slots, rate, len(slots))
        collect("off", "*88", 2.0 + len(slots) / rate)
        seen["off"] += sum(1 for w in watchers if w.state()[0] in ("idle", "terminated", None))
        retriever.wait(15)
        parker.wait(15)
        for role, sipp in (("parks", parker), ("retrieves", retriever)):
            done = sipp.stats()
            calls[role][0] += done[0]
            calls[role][1] += done[1]
    for w in watchers:
        w.unsubscribe()
    esl.close()
    res = {"module": module, "slots": len(slots), "subscribers": len(watchers), "subscribed": subscribed,
           "rounds": rounds, "lit": seen["on"], "dark": seen["off"], "cpu_s_subscribe": cpu_subscribe,
           "notify_copies": Watcher.copies, "parks_ok": calls["parks"][0], "parks_failed": calls["parks"][1],
           "retrieves_ok": calls["retrieves"][0], "retrieves_failed": calls["retrieves"][1]}
    for ph in ("on", "off"):
        res[f"notifies_{ph}"] = counts[ph]
        res[f"lag_{ph}_median_ms"] = median(lags[ph])
        res[f"lag_{ph}_p99_ms"] = percentile(lags[ph], 99)
        res[f"cpu_s_{ph}"] = cpu[ph]
    return res


def memory(sw, work, module, n):
    """The switch's resident memory before, with n calls parked, and after they left."""
    time.sleep(2.0)
    before = sw.rss_mb()

    def parked():
        time.sleep(1.0)
        return sw.rss_mb(), sw.parked(module)
    during, got = with_held(sw, work, module, n, parked)
    time.sleep(2.0)
    return {"module": module, "parked": got, "rss_before_mb": before, "rss_parked_mb": during,
            "rss_after_mb": sw.rss_mb()}


class Bench:
    """A fresh switch for each measurement: a column measured after another one's
    overload would inherit its left-overs (sofia's tables, malloc's arenas), and a switch
    that dies under one column's load does not take the other columns' figures with it."""

    def __init__(self, run_dir, work, users, needed):
        self.run_dir, self.work, self.users, self.needed = run_dir, work, users, needed
        self.sw = None

    def fresh(self):
        self.stop()
        # A SIPp left by a measurement that failed holds its port and would make the next
        # one fail to start.
        subprocess.run(["pkill", "-f", f"^sipp 127.0.0.1:{SIP_PORT} "], check=False)
        self.sw = BenchSwitch(self.run_dir, self.users, self.needed, sip_port=SIP_PORT, esl_port=ESL_PORT)
        self.sw.start()
        os.makedirs(self.work, exist_ok=True)
        return self.sw

    def alive(self):
        return self.sw is not None and self.sw.proc is not None and self.sw.proc.poll() is None

    def measure(self, what, fn):
        """fn(sw) on a fresh switch; a switch that dies meanwhile is reported, not fatal."""
        sw = self.fresh()
        try:
            return fn(sw)
        except (ConnectionError, OSError, RuntimeError) as e:
            if self.alive():
                raise
            tail = open(os.path.join(self.run_dir, "log", "stdout.log"), errors="replace").read()[-300:]
            print(f"  FreeSWITCH died during {what}: {e}; its last words: {tail.strip()[-200:]}", flush=True)
            self.sw.proc = None
            return {"died": True, "what": what, "last_words": tail.strip()[-200:]}

    def stop(self):
        if self.sw is not None:
            if self.alive():
                self.sw.stop()
            self.sw = None


def with_held(sw, work, module, level, fn):
    """fn() with `level` calls parked on other extensions meanwhile."""
    held = None
    if level:
        held = Sipp(work, "hold", "hold.xml", module, list(HOLD_EXTS)[:level], 200, level)
        got = wait_parked(sw, module, level)
        if got != level:
            print(f"  {module}: only {got} of {level} calls parked; going on")
    try:
        time.sleep(1.0)
        res = fn()
        clear(sw, module)
    finally:
        if held:
            held.wait(15)  # stopped if still running: its port is the next level's
    return res


NAN = float("nan")
LATENCIES = ("answer", "audio_at_retriever", "audio_at_caller")


def pooled(rounds):
    """The rounds of one column at one level as one figure: CPU over all cycles done,
    latencies over all samples; the per-round CPU kept to show the spread."""
    ok = [r for r in rounds if not r.get("died")]
    out = {"rounds": len(rounds), "died": len(rounds) - len(ok), "cycles": sum(r["cycles"] for r in ok),
           "failed": sum(r["failed"] for r in ok),
           "cpu_s_per_1000": sum(r["cpu_s"] for r in ok) / max(1, sum(r["ok"] for r in ok)) * 1000,
           "cpu_s_per_1000_rounds": [r["cpu_s_per_1000"] for r in ok]}
    for name in LATENCIES:
        xs = [x for r in ok for x in r["samples"][name]]
        out[f"{name}_median_ms"] = median(xs)
        out[f"{name}_p99_ms"] = percentile(xs, 99)
        out[f"{name}_samples"] = len(xs)
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--modules", default=",".join(DEFAULT_MODULES),
                    help=f"columns (default: {', '.join(DEFAULT_MODULES)}; also {', '.join(set(MODULES) - set(DEFAULT_MODULES))})")
    ap.add_argument("--levels", default="0,100", help="calls already parked (default 0,100)")
    ap.add_argument("--rounds", type=int, default=5, help="fixed runs per column and level, columns in rotating order")
    ap.add_argument("--rates", default="50,100,150,200", help="cycles/s ladder, up to the first rate that fails")
    ap.add_argument("--seconds", type=float, default=6.0, help="length of each ladder step")
    ap.add_argument("--fixed-rate", type=int, default=50, help="cycles/s for latency and CPU")
    ap.add_argument("--fixed-cycles", type=int, default=400, help="cycles per fixed run")
    ap.add_argument("--users", type=int, default=2000, help="directory users per domain in the main run")
    ap.add_argument("--sweep", default="100,2000,20000", help="directory sizes for the sweep ('' for none)")
    ap.add_argument("--sweep-cycles", type=int, default=300, help="cycles at the fixed rate per size and column")
    ap.add_argument("--blf-rounds", type=int, default=3, help="rounds of each BLF figure (0 for none)")
    ap.add_argument("--memory", type=int, default=500, help="calls parked for the memory figure (0 for none)")
    ap.add_argument("--perf", action="store_true", help="profile the switch during an extra fixed run per column")
    ap.add_argument("--census", action="store_true",
                    help="count the switch's work per cycle (uprobes) during an extra run per column")
    ap.add_argument("--census-rate", type=int, default=20, help="cycles/s of the census runs")
    ap.add_argument("--census-cycles", type=int, default=200, help="cycles per census run")
    ap.add_argument("--alias", choices=("true", "false"), default="true",
                    help="whether the bench profile makes the domains its aliases (false: as with one phone "
                         "profile for many domains; callpark then names the profile for its messages)")
    ap.add_argument("--json", default=os.path.join(HERE, "results", "park_vs_valet.json"))
    args = ap.parse_args()
    BenchSwitch.domain_alias = args.alias
    args.modules = [m for m in args.modules.split(",") if m]
    levels = [int(x) for x in args.levels.split(",") if x]
    args.rates = [int(x) for x in args.rates.split(",") if x]
    sweep = [int(x) for x in args.sweep.split(",") if x]
    for tool in ("sipp", switch.FS_BIN) + (("perf",) if args.perf or args.census else ()):
        if not shutil.which(tool) and not os.path.exists(tool):
            print(f"SKIPPED: {tool} is not installed")
            return 77
    for mod in ("mod_valet_parking", "mod_hash"):
        if not os.path.exists(os.path.join(switch.FS_MOD, f"{mod}.so")):
            print(f"SKIPPED: {mod} is not installed in FreeSWITCH")
            return 77

    run_dir = os.path.join(HERE, "run")
    work = os.path.join(run_dir, "sipp")
    needed = [str(e) for e in CYCLE_EXTS] + [str(e) for e in HOLD_EXTS] + [PARKER] + BLF_SLOTS + SUBSCRIBERS
    results = {"machine": machine(), "args": dict(vars(args)), "levels": {}, "ladder": {},
               "blf": {}, "memory": {}, "sweep": {}, "perf": {}, "census": {}}
    bench = Bench(run_dir, work, args.users, needed)
    mods = args.modules
    try:
        results["machine"]["freeswitch"] = bench.fresh().api("version").strip()
        print(results["machine"]["freeswitch"], flush=True)
        for level in levels:
            rounds = {m: [] for m in mods}
            for r in range(args.rounds):
                for module in mods[r % len(mods):] + mods[:r % len(mods)]:
                    res = bench.measure(f"{module}'s fixed run at {level} held", lambda sw: with_held(
                        sw, work, module, level,
                        lambda: cycles(sw, work, module, args.fixed_rate, args.fixed_cycles, level, latency=True)))
                    rounds[module].append(res)
                    if not res.get("died"):
                        print(f"level {level:>4} round {r + 1} {module:>16}: {res['ok']}/{res['cycles']} ok, "
                              f"*88 200 {res['answer_median_ms']:.1f} ms, audio {res['audio_at_retriever_median_ms']:.1f}"
                              f"/{res['audio_at_caller_median_ms']:.1f} ms, CPU {res['cpu_s_per_1000']:.2f} s/1000",
                              flush=True)
            results["levels"][str(level)] = {m: pooled(rounds[m]) for m in mods}
            results["ladder"][str(level)] = lad = {}
            for module in mods:
                lad[module] = bench.measure(f"{module}'s ladder at {level} held",
                                            lambda sw: with_held(sw, work, module, level,
                                                                 lambda: ladder(sw, work, module, level, args)))
        def extra_runs(what, suffix, rate, n, option):
            """One more fixed run per column, each on a fresh switch, profiled (perf=) or
            counted (count=) into run-perf/<column><suffix>."""
            out = {}
            for module in mods:
                path = os.path.join(HERE, "run-perf", f"{module}{suffix}")
                os.makedirs(os.path.dirname(path), exist_ok=True)
                out[module] = res = bench.measure(f"{module}'s {what}", lambda sw: cycles(
                    sw, work, module, rate, n, 0, **{option: path}))
                print(f"{what} {module}: {res.get('ok')}/{res.get('cycles')} ok", flush=True)
            return out
        if args.perf:
            for module, res in extra_runs("perf", ".data", args.fixed_rate, args.fixed_cycles, "perf").items():
                results["perf"][module] = res.get("perf", "(the switch died)")
        if args.census:
            for module, res in extra_runs("census", "-census", args.census_rate, args.census_cycles, "count").items():
                if not res.get("died"):
                    results["census"][module] = dict(res["census"], ok=res["ok"], cycles=res["cycles"])
        if args.memory:
            for module in mods:
                results["memory"][module] = m = bench.measure(f"{module}'s memory",
                                                              lambda sw: memory(sw, work, module, args.memory))
                print(f"memory {module:>16}: {m}", flush=True)
        if args.blf_rounds:
            one = {BLF_SLOTS[0]: SUBSCRIBERS[:500]}
            many = {slot: SUBSCRIBERS[20 * i:20 * i + 20] for i, slot in enumerate(BLF_SLOTS)}
            for name, watch in (("500 on one slot", one), ("50 slots x 20", many)):
                fig = results["blf"][name] = {}
                for module in mods:
                    if module in BLF_MODULES:
                        fig[module] = fo = bench.measure(f"{module}'s BLF {name}",
                                                         lambda sw: blf(sw, work, module, watch, args.blf_rounds))
                        print(f"BLF {name} {module:>16}: {fo}", flush=True)
        for users in sweep:
            bench.users, bench.needed = users, [str(e) for e in SWEEP_EXTS] + [PARKER]
            fig = results["sweep"][str(users)] = {}
            for module in mods:
                fig[module] = res = bench.measure(f"{module} with {users} users", lambda sw: cycles(
                    sw, work, module, args.fixed_rate, args.sweep_cycles, 0, exts=SWEEP_EXTS, latency=True))
                if not res.get("died"):
                    print(f"directory {users:>6} {module:>16}: {res['ok']}/{res['cycles']} ok, "
                          f"CPU {res['cpu_s_per_1000']:.2f} s/1000, *88 200 {res['answer_median_ms']:.1f} ms", flush=True)
    finally:
        bench.stop()
    os.makedirs(os.path.dirname(args.json), exist_ok=True)
    with open(args.json, "w") as f:
        json.dump(results, f, indent=1)
    text = report(results)
    print(text)
    with open(os.path.splitext(args.json)[0] + ".txt", "w") as f:
        f.write(text + "\n")
    print(f"\nfigures written to {args.json} and .txt beside it")
    return 0


def ladder(sw, work, module, level, args):
    """The ladder of rates, up to the first one not kept up."""
    steps = []
    for rate in args.rates:
        step = cycles(sw, work, module, rate, int(rate * args.seconds), level)
        steps.append(step)
        print(f"level {level:>4} {module:>16}: ladder {rate}/s: {step['ok']}/{step['cycles']} ok, "
              f"{step['cycles_per_s']:.0f} cycles/s{'' if step['kept'] else '  (not kept up)'}", flush=True)
        if not step["kept"]:
            break
    return {"steps": steps, "max_kept_rate": max((s["offered_rate"] for s in steps if s["kept"]), default=0),
            "first_failed_rate": next((s["offered_rate"] for s in steps if not s["kept"]), None)}


def machine():
    cpu = ""
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next((ln.split(":", 1)[1].strip() for ln in f if ln.startswith("model name")), "")
    except OSError:
        pass
    sipp = subprocess.run(["sipp", "-v"], capture_output=True, text=True).stdout.strip().splitlines()
    return {"cpu": cpu, "cores": os.cpu_count(), "sipp": sipp[0].strip() if sipp else "",
            "date": time.strftime("%Y-%m-%d %H:%M")}


def ratio(a, b):
    return a / b if b else float("nan")


def report(results):
    out = ["== bare FreeSWITCH park / callpark / callpark after answer / mod_valet_parking, one run =="]
    m = results["machine"]
    out.append(f"machine: {m['cpu']}, {m['cores']} cores; {m['sipp']}; {m.get('freeswitch', '')}; {m['date']}")
    out.append("ratio columns: callpark/bare and (callpark after answer)/bare; for a time or a cost, "
               "above 1 is slower; for a rate, below 1 is slower.")
    cols = list(results["args"]["modules"])

    def table(title, rows, fmt=".2f", ratios=True):
        hdr = f"{'figure':<42}" + "".join(f"{c:>17}" for c in cols)
        if ratios and "bare" in cols:
            hdr += "".join(f"{r:>11}" for r in ("cp/bare", "cpa/bare"))
        out.append(f"\n-- {title} --\n{hdr}")
        for name, vals in rows:
            line = f"{name:<42}" + "".join(f"{vals.get(c, float('nan')):>17{fmt}}" for c in cols)
            vals.setdefault("bare", float("nan"))
            if ratios and "bare" in cols:
                line += "".join(f"{ratio(vals.get(c, float('nan')), vals['bare']):>10.3f}x"
                                for c in ("callpark", "callpark+answer"))
            out.append(line)

    for level, lv in results["levels"].items():
        lad = results["ladder"].get(level, {})

        def fx(key):
            return {c: lv[c][key] for c in lv}
        rows = [
            ("highest ladder rate kept (cycles/s)", {c: float(lad[c].get("max_kept_rate", "nan")) for c in lad}),
            ("first ladder rate not kept (cycles/s)",
             {c: float(lad[c].get("first_failed_rate") or "nan") for c in lad}),
            ("FreeSWITCH CPU s per 1000 cycles", fx("cpu_s_per_1000")),
            ("  lowest round", {c: min(lv[c]["cpu_s_per_1000_rounds"], default=float("nan")) for c in lv}),
            ("  highest round", {c: max(lv[c]["cpu_s_per_1000_rounds"], default=float("nan")) for c in lv}),
            ("*88 INVITE->200 median ms", fx("answer_median_ms")),
            ("*88 INVITE->200 p99 ms", fx("answer_p99_ms")),
            ("*88 INVITE->caller's audio median ms", fx("audio_at_retriever_median_ms")),
            ("*88 INVITE->caller's audio p99 ms", fx("audio_at_retriever_p99_ms")),
            ("*88 INVITE->audio at the caller median", fx("audio_at_caller_median_ms")),
            ("*88 INVITE->audio at the caller p99 ms", fx("audio_at_caller_p99_ms")),
            ("cycles measured", {c: float(lv[c]["cycles"]) for c in lv}),
            ("cycles failed", {c: float(lv[c]["failed"]) for c in lv}),
            ("switch died (rounds, ladder)", {c: float(lv[c]["died"] + bool(lad.get(c, {}).get("died")))
                                              for c in lv}),
        ]
        first = next(iter(lv.values()))
        table(f"{level} calls already parked; {first['rounds']} rounds per column in rotating order, "
              f"each {results['args']['fixed_cycles']} cycles at {results['args']['fixed_rate']}/s on a fresh switch",
              rows)
    for users, fig in results["sweep"].items():
        rows = [("FreeSWITCH CPU s per 1000 cycles", {c: fig[c].get("cpu_s_per_1000", NAN) for c in fig}),
                ("*88 INVITE->200 median ms", {c: fig[c].get("answer_median_ms", NAN) for c in fig}),
                ("*88 INVITE->caller's audio median ms", {c: fig[c].get("audio_at_retriever_median_ms", NAN) for c in fig}),
                ("failed cycles", {c: float(fig[c].get("failed", NAN)) for c in fig})]
        table(f"directory of {users} users per domain, 0 parked", rows)
    if results["memory"]:
        mem = results["memory"]
        rows = [(f"RSS MB {k}", {c: mem[c].get(f"rss_{k}_mb", NAN) for c in mem}) for k in ("before", "parked", "after")]
        rows.append(("calls parked", {c: float(mem[c].get("parked", NAN)) for c in mem}))
        table(f"FreeSWITCH resident memory, {max(float(m.get('parked', 0)) for m in mem.values()):.0f} calls parked, each column on a fresh switch",
              rows, fmt=".1f", ratios=False)
    for name, fig in results["blf"].items():
        keys = [("notifies_on", "NOTIFYs after the parks"), ("notifies_off", "NOTIFYs after the retrieves"),
                ("lit", "lamps seen lit (subscribers x rounds)"), ("dark", "lamps seen off after"),
                ("lag_on_median_ms", "lamp-on lag median ms"), ("lag_on_p99_ms", "lamp-on lag p99 ms"),
                ("lag_off_median_ms", "lamp-off lag median ms"), ("lag_off_p99_ms", "lamp-off lag p99 ms"),
                ("cpu_s_on", "FreeSWITCH CPU s, lamps on"), ("cpu_s_off", "FreeSWITCH CPU s, lamps off"),
                ("cpu_s_subscribe", "FreeSWITCH CPU s, subscribing"),
                ("notify_copies", "NOTIFYs sent again (late 200 OK)"),
                ("parks_ok", "parks done"), ("retrieves_ok", "retrieves done"),
                ("retrieves_failed", "retrieves failed")]
        rows = [(label, {c: float(fig[c].get(k, NAN)) for c in fig}) for k, label in keys]
        first = next(iter(fig.values()))
        table(f"BLF: {name} ({first.get('subscribers')} subscribers, {first.get('rounds')} rounds)", rows, fmt=".1f",
              ratios=False)
    if results["census"]:
        cen = results["census"]
        first = next(iter(cen.values()))
        per = {c: max(1, cen[c]["ok"]) for c in cen}
        rows = [(f"{what} ({name})", {c: cen[c]["counts"].get(name, NAN) / per[c] for c in cen})
                for name, what in first["what"].items()]
        rows += [("task-clock ms (slowed by the probes)", {c: cen[c]["counts"].get("task-clock", NAN) / per[c] for c in cen}),
                 ("context switches", {c: cen[c]["counts"].get("context-switches", NAN) / per[c] for c in cen})]
        names = sorted({e for c in cen for e in cen[c]["events"]},
                       key=lambda e: -max(cen[c]["events"].get(e, 0) for c in cen))
        rows += [(f"event {e}"[:42], {c: cen[c]["events"].get(e, 0) / per[c] for c in cen}) for e in names]
        table(f"the switch's work per cycle, counted ({results['args']['census_cycles']} cycles at "
              f"{results['args']['census_rate']}/s per column; cycles done: "
              + ", ".join(f"{c} {cen[c]['ok']}" for c in cen) + ")", rows)
    for module, text in results["perf"].items():
        out.append(f"\n-- perf profile of the switch, {module} --\n{text}")
    return "\n".join(out)


if __name__ == "__main__":
    sys.exit(main())
