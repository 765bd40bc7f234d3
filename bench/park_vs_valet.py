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

SIP_PORT, ESL_PORT = 35060, 38021
RTP_START, RTP_END = 20000, 29999
MODULES = {"callpark": "cp.bench", "valet": "valet.bench"}
CYCLE_EXTS = range(1000, 3000)    # park-and-retrieve cycles, reused in turn
HOLD_EXTS = range(3000, 4000)     # calls already parked
BLF_EXT = "8000"
SUBSCRIBERS = [str(9000 + i) for i in range(50)]
OFFSET_S = 0.5                    # from a park to the retrieve of the same extension
SIPP_PORTS = {"park": (41000, 42000), "retrieve": (41010, 42010), "hold": (41020, 42020)}


def password(user, domain):
    return switch.password(user, domain)


def directory():
    users = [str(e) for e in CYCLE_EXTS] + [str(e) for e in HOLD_EXTS] + [BLF_EXT] + SUBSCRIBERS
    out = []
    for domain in MODULES.values():
        out.append(f'<domain name="{domain}"><groups><group name="default"><users>')
        out += [f'<user id="{u}"><params><param name="password" value="{password(u, domain)}"/></params></user>'
                for u in users]
        out.append("</users></group></groups></domain>")
    return "\n".join(out)


class BenchSwitch(switch.Switch):
    template = os.path.join(HERE, "fs", "freeswitch.xml")
    rtp_range = (RTP_START, RTP_END)

    def substitutions(self):
        return {"@DIRECTORY@": directory()}

    def cpu_seconds(self):
        with open(f"/proc/{self.proc.pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def parked(self, module):
        if module == "callpark":
            out = self.api("callpark list cp.bench json")
            try:
                return json.loads(out)["count"]
            except (ValueError, KeyError):
                return -1  # an answer that is not the listing: not the count asked for
        return self.api("valet_info bench@valet.bench").count("<extension")


class Sipp:
    """One SIPp process running a scenario of bench/sipp against the bench switch."""

    def __init__(self, work, role, scenario, module, exts, rate, count, trace_rtt=False):
        self.work = os.path.join(work, f"{role}-{module}-{time.time_ns()}")
        os.makedirs(self.work)
        inf = os.path.join(self.work, "calls.csv")
        with open(inf, "w") as f:
            f.write("SEQUENTIAL\n" + "".join(f"{e};{MODULES[module]}\n" for e in exts))
        port, media = SIPP_PORTS[role]
        args = ["sipp", f"127.0.0.1:{SIP_PORT}", "-sf", os.path.join(HERE, "sipp", scenario), "-inf", inf,
                "-i", "127.0.0.1", "-p", str(port), "-mp", str(media), "-r", str(rate), "-m", str(count),
                "-l", str(max(count, 1)), "-bg", "-trace_stat", "-fd", "1", "-trace_err",
                "-max_socket", "20000", "-nostdin"]
        if trace_rtt:
            args += ["-trace_rtt", "-rtt_freq", "1"]
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

    def _file(self, suffix):
        for name in os.listdir(self.work):
            if name.endswith(suffix):
                return os.path.join(self.work, name)
        return None

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

    def rtts_ms(self):
        path = self._file("_rtt.csv")
        if not path:
            return []
        out = []
        with open(path) as f:
            for line in f:
                parts = line.strip().split(";")
                if len(parts) >= 2:
                    try:
                        out.append(float(parts[1]))
                    except ValueError:
                        pass
        return out


def percentile(xs, p):
    if not xs:
        return float("nan")
    xs = sorted(xs)
    k = min(len(xs) - 1, max(0, int(round(p / 100 * (len(xs) - 1)))))
    return xs[k]


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


def cycles(sw, work, module, rate, n, held, latency=False):
    """n park-and-retrieve cycles at `rate` per second; returns a dict of figures."""
    cpu0 = sw.cpu_seconds()
    t0 = time.time()
    exts = [CYCLE_EXTS[i % len(CYCLE_EXTS)] for i in range(n)]
    parker = Sipp(work, "park", "park.xml", module, exts, rate, n)
    time.sleep(OFFSET_S)
    retriever = Sipp(work, "retrieve", "retrieve.xml", module, exts, rate, n, trace_rtt=latency)
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
           "cpu_s_per_1000": (cpu1 - cpu0) / max(ok, 1) * 1000, "wall_s": t1 - t0,
           "park": [p_ok, p_fail], "retrieve": [r_ok, r_fail]}
    if latency:
        rtts = retriever.rtts_ms()
        res.update({"latency_median_ms": statistics.median(rtts) if rtts else float("nan"),
                    "latency_p99_ms": percentile(rtts, 99), "latency_samples": len(rtts)})
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


def fan_out(sw, work, module, rounds):
    """50 BLF subscribers on one slot; a call parked there and retrieved, `rounds` times.
    The lag of a NOTIFY is measured from the moment the switch took the call that
    changed the lamp (CHANNEL_CREATE of the *68 call for the lamp going on, of the *88
    call for it going off): what a user sees between dialing and the lamp."""
    import phones
    phones.SIP_PORT = SIP_PORT
    domain = MODULES[module]
    watchers = []
    for u in SUBSCRIBERS:
        w = phones.BlfWatcher(u, domain, f"park+{BLF_EXT}")
        w.subscribe(lambda s: time.sleep(s))
        watchers.append(w)
    subscribed = sum(1 for w in watchers if 200 <= w.sub_code < 300)
    time.sleep(1.0)
    for w in watchers:
        w.pump()
    esl = switch.Esl(ESL_PORT)
    esl.subscribe("CHANNEL_CREATE")
    lags = {"on": [], "off": []}
    counts = {"on": 0, "off": 0}
    lit = dark = 0

    def collect(phase, code, seconds):
        t_event, arrivals = None, []
        end = time.time() + seconds
        while time.time() < end:
            ready, _, _ = select.select([w.sock for w in watchers], [], [], 0.01)
            now = time.time()
            for w in watchers:
                if w.sock in ready:
                    before = len(w.notifies)
                    w.pump()
                    arrivals.extend([now] * (len(w.notifies) - before))
            for ev in esl.poll_events(0):
                if (t_event is None and ev.get("Event-Name") == "CHANNEL_CREATE"
                        and ev.get("Caller-Destination-Number") == f"{code}{BLF_EXT}"):
                    t_event = int(ev["Event-Date-Timestamp"]) / 1e6
            esl.events.clear()
        counts[phase] += len(arrivals)
        if t_event is not None:
            lags[phase].extend((t - t_event) * 1000 for t in arrivals)

    for _ in range(rounds):
        parker = Sipp(work, "park", "park.xml", module, [BLF_EXT], 1, 1)
        collect("on", "*68", 2.0)
        lit += sum(1 for w in watchers if w.state()[0] == "confirmed")
        retriever = Sipp(work, "retrieve", "retrieve.xml", module, [BLF_EXT], 1, 1)
        collect("off", "*88", 2.0)
        dark += sum(1 for w in watchers if w.state()[0] in ("idle", "terminated", None))
        retriever.wait(10)
        parker.wait(10)
    for w in watchers:
        w.unsubscribe()
        w.sock.close()
    esl.close()
    res = {"module": module, "subscribers": len(watchers), "subscribed": subscribed, "rounds": rounds,
           "lit": lit, "dark": dark}
    for ph in ("on", "off"):
        res[f"notifies_{ph}"] = counts[ph]
        res[f"lag_{ph}_median_ms"] = statistics.median(lags[ph]) if lags[ph] else float("nan")
        res[f"lag_{ph}_p99_ms"] = percentile(lags[ph], 99)
    return res


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--levels", default="0,100,1000", help="calls already parked (default 0,100,1000)")
    ap.add_argument("--rates", default="25,50,100,150,200", help="cycles/s ladder for the throughput figure")
    ap.add_argument("--seconds", type=float, default=6.0, help="length of each ladder step")
    ap.add_argument("--fixed-rate", type=int, default=50, help="cycles/s for latency and CPU")
    ap.add_argument("--fixed-cycles", type=int, default=500, help="cycles at the fixed rate")
    ap.add_argument("--fan-out-rounds", type=int, default=10, help="parks and retrieves watched by the 50 lamps")
    ap.add_argument("--json", default=os.path.join(HERE, "results", "park_vs_valet.json"))
    args = ap.parse_args()
    levels = [int(x) for x in args.levels.split(",")]
    rates = [int(x) for x in args.rates.split(",")]
    for tool in ("sipp", switch.FS_BIN):
        if not shutil.which(tool) and not os.path.exists(tool):
            print(f"SKIPPED: {tool} is not installed")
            return 77
    if not os.path.exists(os.path.join(switch.FS_MOD, "mod_valet_parking.so")):
        print("SKIPPED: mod_valet_parking is not installed in FreeSWITCH")
        return 77

    run_dir = os.path.join(HERE, "run")
    work = os.path.join(run_dir, "sipp")
    sw = BenchSwitch(run_dir, "", sip_port=SIP_PORT, esl_port=ESL_PORT)
    sw.start()
    results = {"machine": machine(), "levels": {}, "fan_out": {}}
    try:
        os.makedirs(work, exist_ok=True)
        print(sw.api("version").strip())
        for level in levels:
            lv = results["levels"][str(level)] = {}
            for module in MODULES:
                held = None
                if level:
                    held = Sipp(work, "hold", "hold.xml", module, list(HOLD_EXTS)[:level], 200, level)
                    got = wait_parked(sw, module, level)
                    if got != level:
                        print(f"  {module}: only {got} of {level} calls parked; going on")
                time.sleep(1.0)
                fixed = cycles(sw, work, module, args.fixed_rate, args.fixed_cycles, level, latency=True)
                print(f"level {level:>4} {module:>8}: fixed {fixed['offered_rate']}/s: {fixed['ok']}/{fixed['cycles']} ok, "
                      f"*88 latency median {fixed['latency_median_ms']:.1f} ms p99 {fixed['latency_p99_ms']:.1f} ms, "
                      f"CPU {fixed['cpu_s_per_1000']:.2f} s/1000", flush=True)
                ladder = []
                for rate in rates:
                    step = cycles(sw, work, module, rate, int(rate * args.seconds), level)
                    ladder.append(step)
                    kept = step["failure_rate"] < 0.001 and step["cycles_per_s"] >= 0.95 * rate
                    print(f"level {level:>4} {module:>8}: ladder {rate}/s: {step['ok']}/{step['cycles']} ok, "
                          f"{step['cycles_per_s']:.0f} cycles/s{'' if kept else '  (not kept up)'}", flush=True)
                    if not kept:
                        break
                best = max((s["cycles_per_s"] for s in ladder
                            if s["failure_rate"] < 0.001 and s["cycles_per_s"] >= 0.95 * s["offered_rate"]), default=0.0)
                lv[module] = {"fixed": fixed, "ladder": ladder, "max_cycles_per_s": best}
                if held:
                    clear(sw, module)
                    held.wait(15)
                else:
                    clear(sw, module)
        for module in MODULES:
            results["fan_out"][module] = fo = fan_out(sw, work, module, args.fan_out_rounds)
            print(f"BLF fan-out {module:>8}: {fo}", flush=True)
    finally:
        sw.stop()
    report(results)
    os.makedirs(os.path.dirname(args.json), exist_ok=True)
    with open(args.json, "w") as f:
        json.dump(results, f, indent=1)
    print(f"\nfigures written to {args.json}")
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
            "date": time.strftime("%Y-%m-%d")}


def ratio(a, b):
    return a / b if b else float("nan")


def report(results):
    print("\n== callpark vs mod_valet_parking, same SIPp load, one run ==")
    m = results["machine"]
    print(f"machine: {m['cpu']}, {m['cores']} cores; {m['sipp']}; {m['date']}")
    hdr = f"{'figure':<44}{'callpark':>12}{'valet':>12}{'ratio':>10}"
    for level, lv in results["levels"].items():
        print(f"\n-- {level} calls already parked --\n{hdr}")
        c, v = lv["callpark"], lv["valet"]
        rows = [
            ("cycles/s, <0.1% failed (higher is better)", c["max_cycles_per_s"], v["max_cycles_per_s"], True),
            ("*88 INVITE->200 median ms", c["fixed"]["latency_median_ms"], v["fixed"]["latency_median_ms"], False),
            ("*88 INVITE->200 p99 ms", c["fixed"]["latency_p99_ms"], v["fixed"]["latency_p99_ms"], False),
            ("FreeSWITCH CPU s per 1000 cycles", c["fixed"]["cpu_s_per_1000"], v["fixed"]["cpu_s_per_1000"], False),
        ]
        for name, a, b, higher in rows:
            # The ratio reads "times better" either way: callpark/valet for a rate,
            # valet/callpark for a time.
            r = ratio(a, b) if higher else ratio(b, a)
            print(f"{name:<44}{a:>12.2f}{b:>12.2f}{r:>9.2f}x")
        print(f"{'failed cycles at the fixed rate':<44}{c['fixed']['failed']:>12}{v['fixed']['failed']:>12}")
    fo = results["fan_out"]
    if fo:
        c, v = fo["callpark"], fo["valet"]
        print(f"\n-- BLF fan-out: {c['subscribers']} subscribers on one slot, {c['rounds']} parks and retrieves --\n{hdr}")
        for key, name in (("notifies_on", "NOTIFYs after the parks"), ("notifies_off", "NOTIFYs after the retrieves"),
                          ("lit", "lamps seen lit (subscribers x rounds)"), ("dark", "lamps seen off after")):
            print(f"{name:<44}{c[key]:>12}{v[key]:>12}")
        for key, name in (("lag_on_median_ms", "lamp-on lag median ms"), ("lag_on_p99_ms", "lamp-on lag p99 ms"),
                          ("lag_off_median_ms", "lamp-off lag median ms"), ("lag_off_p99_ms", "lamp-off lag p99 ms")):
            print(f"{name:<44}{c[key]:>12.1f}{v[key]:>12.1f}{ratio(v[key], c[key]):>9.2f}x")
    print("\nratio: how many times better callpark is (rate: callpark/valet; time: valet/callpark).")


if __name__ == "__main__":
    sys.exit(main())
