#!/usr/bin/env python3
"""callpark against mod_valet_parking on the real switch, side by side, in one run.

Starts a FreeSWITCH of its own (bench/fs/freeswitch.xml: both modules loaded, one SIP
profile without call authentication, silence on hold, loopback, ports 35060/38021) and
drives the same SIPp load (bench/sipp/*.xml) through each park in turn:

  * park-and-retrieve cycles: one SIPp parks calls with *68<ext>, a second one retrieves
    them with *88<ext> half a second later, talks 100 ms and hangs up. A cycle counts
    when both the park (its BYE arrived) and the retrieve (200 OK, BYE answered) succeed;
  * the highest rate of a ladder (--rates) at which fewer than 0.1% of the cycles fail
    and the offered rate was kept up (at least 95% of it);
  * `*88` INVITE to 200 OK latency (median, 99th percentile) and FreeSWITCH CPU seconds
    per 1,000 cycles, at one fixed rate (--fixed-rate);
  * all of that with 0, 100 and 1,000 calls already parked (--levels), held by a third
    SIPp on other extensions;
  * BLF fan-out: 50 subscribers (dialog event package, as phones subscribe) on one slot,
    one call parked and retrieved: NOTIFYs received and their lag behind the park's own
    event (callpark::info parked/retrieved, valet_parking::info hold/bridge).

Prints callpark's figures, valet's and the ratio for each, and writes them as JSON
(--json). Needs FreeSWITCH installed with mod_valet_parking, SIPp (Debian sip-tester)
and, for the BLF subscribers, the test suite's raw-UDP watcher (tests/fs/phones.py).

Run:  make -s install && python3 bench/park_vs_valet.py            (about 10 minutes)
      python3 bench/park_vs_valet.py --levels 0 --rates 100,200 --fixed-rate 100  (quick)
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

SIP_PORT, ESL_PORT = 35060, 38021
RTP_START, RTP_END = 20000, 29999
# The columns: the least a park can be on FreeSWITCH (no park module: mod_hash and
# intercept), callpark as dialed with nothing before it, callpark after an `answer` in
# the dialplan, mod_valet_parking. Each has its own domain in the one switch.
MODULES = {"bare": "bare.bench", "callpark": "cp.bench", "callpark+answer": "cpa.bench", "valet": "valet.bench"}
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

    def substitutions(self):
        return {"@DIRECTORY@": directory(self.users, self.needed)}

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

    def __init__(self, work, role, scenario, module, exts, rate, count):
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
        args = ["sipp", f"127.0.0.1:{SIP_PORT}", "-sf", os.path.join(HERE, "sipp", scenario), "-inf", inf,
                "-i", "127.0.0.1", "-p", str(port), "-mp", str(media), "-r", str(rate), "-m", str(count),
                "-l", str(max(count, 1)), "-bg", "-trace_stat", "-fd", "1", "-trace_err",
                "-max_socket", "20000", "-nostdin"]
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
                     if n.endswith(".csv") and not n.endswith("_rtt.csv") and n != "calls.csv"), None)
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
        self.proc = subprocess.Popen(["perf", "record", "-q", "-F", "499", "-g", "-p", str(pid), "-o", path],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(0.5)

    def report(self, lines=60):
        self.proc.send_signal(signal.SIGINT)
        self.proc.wait(timeout=60)
        out = []
        for sort in ("dso", "dso,sym"):
            rep = subprocess.run(["perf", "report", "-i", self.path, "--stdio", "--no-children", "-g", "none",
                                  "--percent-limit", "0.3", "--sort", sort], capture_output=True, text=True)
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


def cycles(sw, work, module, rate, n, held, exts=CYCLE_EXTS, latency=False, perf=None):
    """n park-and-retrieve cycles at `rate` per second; returns a dict of figures. With
    `latency`, the loopback wire is read for the *88 figures; with `perf` (a path), the
    switch is profiled meanwhile and the report is returned under "perf"."""
    sniffer = Sniffer(work) if latency else None
    profiler = Perf(sw.proc.pid, perf) if perf else None
    cpu0 = sw.cpu_seconds()
    t0 = time.time()
    seq = [exts[i % len(exts)] for i in range(n)]
    parker = Sipp(work, "park", "park.xml", module, seq, rate, n)
    time.sleep(OFFSET_S)
    retriever = Sipp(work, "retrieve", "retrieve.xml", module, seq, rate, n)
    # A switch that cannot keep up leaves calls waiting for minutes: give up on them
    # (they count as failed) soon after the last one should have been done.
    retriever.wait(n / rate + 10)
    parker.wait(5)
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
           "cpu_s_per_1000": (cpu1 - cpu0) / max(ok, 1) * 1000, "wall_s": t1 - t0,
           "park": [p_ok, p_fail], "retrieve": [r_ok, r_fail]}
    if profiler:
        res["perf"] = profiler.report()
    if sniffer:
        rows = sniffer.stop()
        for i, name in enumerate(("answer", "audio_at_retriever", "audio_at_caller")):
            xs = [r[i] for r in rows if r[i] is not None]
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
    import phones
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
                    w._subscribe(phones.digest_authorization(msg, w.user, w.domain, "SUBSCRIBE",
                                                             f"sip:{w.target}@{w.target_domain}"))
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
    watchers = [phones.BlfWatcher(u, domain, f"park+{slot}") for slot, subs in watch.items() for u in subs]
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
    for w in watchers:
        w.unsubscribe()
    esl.close()
    res = {"module": module, "slots": len(slots), "subscribers": len(watchers), "subscribed": subscribed,
           "rounds": rounds, "lit": seen["on"], "dark": seen["off"], "cpu_s_subscribe": cpu_subscribe}
    for ph in ("on", "off"):
        res[f"notifies_{ph}"] = counts[ph]
        res[f"lag_{ph}_median_ms"] = median(lags[ph])
        res[f"lag_{ph}_p99_ms"] = percentile(lags[ph], 99)
        res[f"cpu_s_{ph}"] = cpu[ph]
    return res


def memory(sw, work, module, n):
    """The switch's resident memory before, with n calls parked, and after they left."""
    before = sw.rss_mb()
    held = Sipp(work, "hold", "hold.xml", module, list(HOLD_EXTS)[:n], 200, n)
    got = wait_parked(sw, module, n)
    time.sleep(2.0)
    during = sw.rss_mb()
    clear(sw, module)
    held.wait(15)
    time.sleep(2.0)
    return {"module": module, "parked": got, "rss_before_mb": before, "rss_parked_mb": during,
            "rss_after_mb": sw.rss_mb()}


def run_level(sw, work, results, level, args):
    lv = results["levels"][str(level)] = {}
    for module in args.modules:
        held = None
        if level:
            held = Sipp(work, "hold", "hold.xml", module, list(HOLD_EXTS)[:level], 200, level)
            got = wait_parked(sw, module, level)
            if got != level:
                print(f"  {module}: only {got} of {level} calls parked; going on")
        time.sleep(1.0)
        fixed = cycles(sw, work, module, args.fixed_rate, args.fixed_cycles, level, latency=True)
        print(f"level {level:>4} {module:>16}: fixed {fixed['offered_rate']}/s: {fixed['ok']}/{fixed['cycles']} ok, "
              f"*88 200 {fixed['answer_median_ms']:.1f} ms, audio {fixed['audio_at_retriever_median_ms']:.1f}"
              f"/{fixed['audio_at_caller_median_ms']:.1f} ms, CPU {fixed['cpu_s_per_1000']:.2f} s/1000", flush=True)
        ladder = []
        for rate in args.rates:
            step = cycles(sw, work, module, rate, int(rate * args.seconds), level)
            ladder.append(step)
            kept = step["kept"]
            print(f"level {level:>4} {module:>16}: ladder {rate}/s: {step['ok']}/{step['cycles']} ok, "
                  f"{step['cycles_per_s']:.0f} cycles/s{'' if kept else '  (not kept up)'}", flush=True)
            if not kept:
                break
        best = max((s["offered_rate"] for s in ladder if s["kept"]), default=0.0)
        first_failed = next((s["offered_rate"] for s in ladder if not s["kept"]), None)
        lv[module] = {"fixed": fixed, "ladder": ladder, "max_cycles_per_s": best, "first_failed_rate": first_failed}
        clear(sw, module)
        if held:
            held.wait(15)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--modules", default=",".join(MODULES), help="columns (default: all four)")
    ap.add_argument("--levels", default="0,100", help="calls already parked (default 0,100)")
    ap.add_argument("--rates", default="25,50,100,150,200", help="cycles/s ladder, up to the first rate that fails")
    ap.add_argument("--seconds", type=float, default=6.0, help="length of each ladder step")
    ap.add_argument("--fixed-rate", type=int, default=50, help="cycles/s for latency and CPU")
    ap.add_argument("--fixed-cycles", type=int, default=500, help="cycles at the fixed rate")
    ap.add_argument("--users", type=int, default=2000, help="directory users per domain in the main run")
    ap.add_argument("--sweep", default="100,2000,20000", help="directory sizes for the sweep ('' for none)")
    ap.add_argument("--sweep-cycles", type=int, default=300, help="cycles at the fixed rate per size and column")
    ap.add_argument("--blf-rounds", type=int, default=3, help="rounds of each BLF figure (0 for none)")
    ap.add_argument("--memory", type=int, default=500, help="calls parked for the memory figure (0 for none)")
    ap.add_argument("--perf", action="store_true", help="profile the switch during an extra fixed run per column")
    ap.add_argument("--json", default=os.path.join(HERE, "results", "park_vs_valet.json"))
    args = ap.parse_args()
    args.modules = [m for m in args.modules.split(",") if m]
    levels = [int(x) for x in args.levels.split(",") if x]
    args.rates = [int(x) for x in args.rates.split(",") if x]
    sweep = [int(x) for x in args.sweep.split(",") if x]
    for tool in ("sipp", switch.FS_BIN) + (("perf",) if args.perf else ()):
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
    results = {"machine": machine(), "args": {k: v for k, v in vars(args).items()}, "levels": {},
               "blf": {}, "memory": {}, "sweep": {}, "perf": {}}
    sw = BenchSwitch(run_dir, args.users, needed, sip_port=SIP_PORT, esl_port=ESL_PORT)
    sw.start()
    try:
        os.makedirs(work, exist_ok=True)
        results["machine"]["freeswitch"] = sw.api("version").strip()
        print(results["machine"]["freeswitch"], flush=True)
        for level in levels:
            run_level(sw, work, results, level, args)
        if args.perf:
            for module in args.modules:
                path = os.path.join(run_dir, f"perf-{module}.data")
                res = cycles(sw, work, module, args.fixed_rate, args.fixed_cycles, 0, perf=path)
                results["perf"][module] = res["perf"]
                clear(sw, module)
                print(f"perf {module}: {res['ok']}/{res['cycles']} ok", flush=True)
        if args.memory:
            for module in args.modules:
                results["memory"][module] = m = memory(sw, work, module, args.memory)
                print(f"memory {module:>16}: {m}", flush=True)
        if args.blf_rounds:
            one = {BLF_SLOTS[0]: SUBSCRIBERS[:500]}
            many = {slot: SUBSCRIBERS[20 * i:20 * i + 20] for i, slot in enumerate(BLF_SLOTS)}
            for name, watch in (("500 on one slot", one), ("50 slots x 20", many)):
                fig = results["blf"][name] = {}
                for module in args.modules:
                    if module in BLF_MODULES:
                        fig[module] = fo = blf(sw, work, module, watch, args.blf_rounds)
                        print(f"BLF {name} {module:>16}: {fo}", flush=True)
    finally:
        sw.stop()
    for users in sweep:
        sw = BenchSwitch(run_dir, users, [str(e) for e in SWEEP_EXTS] + [PARKER], sip_port=SIP_PORT, esl_port=ESL_PORT)
        sw.start()
        try:
            os.makedirs(work, exist_ok=True)
            fig = results["sweep"][str(users)] = {}
            for module in args.modules:
                fig[module] = res = cycles(sw, work, module, args.fixed_rate, args.sweep_cycles, 0,
                                           exts=SWEEP_EXTS, latency=True)
                clear(sw, module)
                print(f"directory {users:>6} {module:>16}: {res['ok']}/{res['cycles']} ok, "
                      f"CPU {res['cpu_s_per_1000']:.2f} s/1000, *88 200 {res['answer_median_ms']:.1f} ms", flush=True)
        finally:
            sw.stop()
    os.makedirs(os.path.dirname(args.json), exist_ok=True)
    with open(args.json, "w") as f:
        json.dump(results, f, indent=1)
    text = report(results)
    print(text)
    with open(os.path.splitext(args.json)[0] + ".txt", "w") as f:
        f.write(text + "\n")
    print(f"\nfigures written to {args.json} and .txt beside it")
    return 0


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
    cols = [c for c in MODULES if any(c in lv for lv in results["levels"].values())]

    def table(title, rows, fmt=".2f", ratios=True):
        hdr = f"{'figure':<42}" + "".join(f"{c:>17}" for c in cols)
        if ratios and "bare" in cols:
            hdr += "".join(f"{r:>11}" for r in ("cp/bare", "cpa/bare"))
        out.append(f"\n-- {title} --\n{hdr}")
        for name, vals in rows:
            line = f"{name:<42}" + "".join(f"{vals.get(c, float('nan')):>17{fmt}}" for c in cols)
            if ratios and "bare" in cols:
                line += "".join(f"{ratio(vals.get(c, float('nan')), vals['bare']):>10.3f}x"
                                for c in ("callpark", "callpark+answer"))
            out.append(line)

    for level, lv in results["levels"].items():
        def fx(key):
            return {c: lv[c]["fixed"][key] for c in lv}
        rows = [
            ("highest ladder rate kept (cycles/s)", {c: lv[c]["max_cycles_per_s"] for c in lv}),
            ("first ladder rate not kept (cycles/s)", {c: float(lv[c]["first_failed_rate"] or "nan") for c in lv}),
            ("FreeSWITCH CPU s per 1000 cycles", fx("cpu_s_per_1000")),
            ("*88 INVITE->200 median ms", fx("answer_median_ms")),
            ("*88 INVITE->200 p99 ms", fx("answer_p99_ms")),
            ("*88 INVITE->caller's audio median ms", fx("audio_at_retriever_median_ms")),
            ("*88 INVITE->caller's audio p99 ms", fx("audio_at_retriever_p99_ms")),
            ("*88 INVITE->audio at the caller median", fx("audio_at_caller_median_ms")),
            ("*88 INVITE->audio at the caller p99 ms", fx("audio_at_caller_p99_ms")),
            ("failed cycles of the fixed run", {c: float(lv[c]["fixed"]["failed"]) for c in lv}),
        ]
        table(f"{level} calls already parked; fixed run {next(iter(lv.values()))['fixed']['cycles']} cycles at "
              f"{next(iter(lv.values()))['fixed']['offered_rate']}/s", rows)
    for users, fig in results["sweep"].items():
        rows = [("FreeSWITCH CPU s per 1000 cycles", {c: fig[c]["cpu_s_per_1000"] for c in fig}),
                ("*88 INVITE->200 median ms", {c: fig[c]["answer_median_ms"] for c in fig}),
                ("*88 INVITE->caller's audio median ms", {c: fig[c]["audio_at_retriever_median_ms"] for c in fig}),
                ("failed cycles", {c: float(fig[c]["failed"]) for c in fig})]
        table(f"directory of {users} users per domain, 0 parked", rows)
    if results["memory"]:
        mem = results["memory"]
        rows = [(f"RSS MB {k}", {c: mem[c][f"rss_{k}_mb"] for c in mem}) for k in ("before", "parked", "after")]
        rows.append(("calls parked", {c: float(mem[c]["parked"]) for c in mem}))
        table(f"FreeSWITCH resident memory, {next(iter(mem.values()))['parked']} calls parked (columns in turn)",
              rows, fmt=".1f", ratios=False)
    for name, fig in results["blf"].items():
        keys = [("notifies_on", "NOTIFYs after the parks"), ("notifies_off", "NOTIFYs after the retrieves"),
                ("lit", "lamps seen lit (subscribers x rounds)"), ("dark", "lamps seen off after"),
                ("lag_on_median_ms", "lamp-on lag median ms"), ("lag_on_p99_ms", "lamp-on lag p99 ms"),
                ("lag_off_median_ms", "lamp-off lag median ms"), ("lag_off_p99_ms", "lamp-off lag p99 ms"),
                ("cpu_s_on", "FreeSWITCH CPU s, lamps on"), ("cpu_s_off", "FreeSWITCH CPU s, lamps off"),
                ("cpu_s_subscribe", "FreeSWITCH CPU s, subscribing")]
        rows = [(label, {c: float(fig[c][k]) for c in fig}) for k, label in keys]
        first = next(iter(fig.values()))
        table(f"BLF: {name} ({first['subscribers']} subscribers, {first['rounds']} rounds)", rows, fmt=".1f",
              ratios=False)
    for module, text in results["perf"].items():
        out.append(f"\n-- perf profile of the switch, {module} --\n{text}")
    return "\n".join(out)


if __name__ == "__main__":
    sys.exit(main())
