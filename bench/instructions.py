#!/usr/bin/env python3
"""Instructions per park-and-retrieve cycle, counted by valgrind's callgrind: a figure
that moves by up to 4% between rounds (two of valet's agreed to 0.1%) where CPU seconds
on this shared machine spread by 8% a round.

For each column of bench/park_vs_valet.py named by --modules, a fresh switch (the
bench's configuration, 500 users, the profile aliasing no domain unless --alias true)
runs under `valgrind --tool=callgrind` with instrumentation off; --warm cycles run first
(first-time costs: the directory's XML, sofia's tables, lazily made pools), then
instrumentation is switched on for --cycles cycles at --rate per second, and the
switch's instructions are dumped. Every column runs the same SIPp scenarios for the same
wall time (the retrieve --offset s after the park, --talk ms of conversation: the switch
is some 50 times slower under valgrind), so the switch's own timers (the soft timer, the
RTP of the held calls, sofia's tick) cost about the same in each; the difference between
columns is the work the park does.

Prints the instructions per cycle of each column and round, their ratio to the first
column's in the same round, what the work is for (the inclusive count of the steps in
STEPS) and where it runs (the exclusive count by component: FreeSWITCH's core, sofia,
SQLite, libc, callpark's C and Rust). The callgrind files stay under
bench/run-instructions/ for `callgrind_annotate`.

Run:  make -s install && python3 bench/instructions.py --rounds 2   (about 25 minutes)
Needs valgrind, SIPp and FreeSWITCH as bench/park_vs_valet.py does; not while tests/fs
or another bench runs (same ports). A cycle that fails (the retriever came before the
park was done) is flagged: its calls' work is counted but not the cycle.
"""

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import park_vs_valet as pv  # noqa: E402

RUN = os.path.join(HERE, "run-instructions")

# Steps whose inclusive count says what a cycle's work is for (function names as
# callgrind_annotate prints them, after the file name).
STEPS = [
    ("callpark: the application (park, pick-up)", "callpark_app"),
    ("  of which the bridge it asks for (uuid_bridge)", "cb_bridge"),
    ("  of which its events (callpark::info)", "cb_event"),
    ("  of which lamps (PRESENCE_IN)", "cb_presence"),
    ("  of which notices and messages", "cb_message"),
    ("  of which the directory look-up", "cb_user_exists"),
    ("callpark: its CHANNEL_BRIDGE handler", "bridge_handler"),
    ("bare: intercept", "switch_ivr_intercept_session"),
    ("valet: valet_park", "valet_parking_function"),
    ("sofia: presence events (lamps' SQL)", "actual_sofia_presence_event_handler"),
    ("switch: say", "switch_ivr_say"),
    ("switch: file playback", "switch_ivr_play_file"),
    ("SQLite statements", "sqlite3_exec"),
]


# The core the switch runs on; this script and SIPp keep to the others (main()).
SWITCH_CPU = (os.cpu_count() or 1) - 1


class CallgrindSwitch(pv.BenchSwitch):
    start_timeout = 600  # a minute or more to start under valgrind

    def __init__(self, *a, out_file, **kw):
        super().__init__(*a, **kw)
        # valgrind runs the switch's threads one at a time: one core is all it takes. On
        # the last core, so that SIPp (and whatever else runs) keeps out of its way.
        last = str(SWITCH_CPU)
        self.launcher = ["taskset", "-c", last, "valgrind", "--tool=callgrind", "--instr-atstart=no",
                         f"--callgrind-out-file={out_file}"]


def control(pid, *args):
    out = subprocess.run(["callgrind_control", *args, str(pid)], capture_output=True, text=True, timeout=120)
    if out.returncode != 0:
        raise RuntimeError(f"callgrind_control {' '.join(args)} failed: {out.stdout}{out.stderr}")
    return out


LINE = re.compile(r"^\s*([\d,]+)\s+\(\s*[\d.]+%\)\s+(.*?)(?:\s+\[(.*)\])?$")

# Where a function runs, by its shared object or, for code inlined from elsewhere (listed
# without one), by its source file.
COMPONENTS = [
    ("callpark library (Rust)", r"libcallpark|/src/(engine|ffi|store|config|host|clean)|\.cargo/|/rustc/"),
    ("mod_callpark (C)", r"mod_callpark"),
    ("mod_valet_parking", r"mod_valet_parking"),
    ("mod_hash", r"mod_hash"),
    ("mod_sofia", r"mod_sofia"),
    ("sofia-sip", r"libsofia|sofia-sip"),
    ("SQLite", r"libsqlite"),
    ("FreeSWITCH core", r"libfreeswitch|/freeswitch/(\./)?src/|/freeswitch/libs/"),
    ("libc (malloc, printf...)", r"libc\.so|^\./|/glibc"),
]


def component(where, obj):
    text = obj or where
    for name, pattern in COMPONENTS:
        if re.search(pattern, text):
            return name
    return "other" if obj else f"other ({where.split(':', 1)[0]})"


def annotate(path, inclusive):
    """[(function, component, Ir)] from callgrind_annotate, every function listed."""
    out = subprocess.run(["callgrind_annotate", f"--inclusive={'yes' if inclusive else 'no'}", "--auto=no",
                          "--threshold=100", path], capture_output=True, text=True, timeout=600).stdout
    rows = []
    for line in out.splitlines():
        m = LINE.match(line)
        if not m or "PROGRAM TOTALS" in line:
            continue
        where, obj = m.group(2), m.group(3)
        func = where.split(":", 1)[1] if ":" in where else where
        rows.append((func.strip(), component(where, obj), int(m.group(1).replace(",", ""))))
    return rows


def totals(path):
    """The figures of one callgrind file: total Ir, Ir per step (inclusive, the largest
    count of a function of that name), Ir per component (exclusive)."""
    inc = annotate(path, True)
    exc = annotate(path, False)
    steps = {}
    for label, func in STEPS:
        steps[label] = max([ir for f, _, ir in inc if f == func] or [0])
    objects = {}
    for _, obj, ir in exc:
        objects[obj] = objects.get(obj, 0) + ir
    return sum(objects.values()), steps, objects


def measure(module, args):
    os.makedirs(RUN, exist_ok=True)
    out = os.path.join(RUN, f"callgrind.{module}.{int(time.time())}")
    users = args.users
    needed = [pv.PARKER] + [str(e) for e in pv.CYCLE_EXTS]
    CallgrindSwitch.domain_alias = args.alias
    sw = CallgrindSwitch(os.path.join(RUN, "fs"), users, needed, sip_port=pv.SIP_PORT, esl_port=pv.ESL_PORT,
                         out_file=out)
    subprocess.run(["pkill", "-f", f"^sipp 127.0.0.1:{pv.SIP_PORT} "], check=False)
    t = time.time()
    sw.start()
    print(f"  {module}: switch up under callgrind in {time.time() - t:.0f} s", flush=True)
    work = os.path.join(RUN, "work")
    os.makedirs(work, exist_ok=True)
    try:
        warm = pv.cycles(sw, work, module, args.rate, args.warm, 0, settle=60, talk_ms=args.talk)
        time.sleep(2)
        control(sw.proc.pid, "-z")
        control(sw.proc.pid, "-i", "on")
        res = pv.cycles(sw, work, module, args.rate, args.cycles, 0, settle=60, talk_ms=args.talk)
        control(sw.proc.pid, "-i", "off")
        control(sw.proc.pid, "-d")
        time.sleep(2)
    finally:
        sw.stop()
    dumps = sorted(p for p in os.listdir(RUN) if p.startswith(os.path.basename(out)))
    # The dump made by -d (numbered .1) holds the measured window; the final one at exit,
    # with instrumentation off, holds nothing after it.
    path = out + ".1"
    if not os.path.exists(path):
        raise RuntimeError(f"no callgrind dump of the measured window ({path}); found {dumps}")
    total, steps, objects = totals(path)
    ok = res["ok"]
    print(f"  {module}: warm {warm['ok']}/{args.warm}, measured {ok}/{args.cycles}, "
          f"{total / max(ok, 1) / 1e6:.2f} M instructions per cycle ({path})", flush=True)
    return {"module": module, "ok": ok, "cycles": args.cycles, "failed": res["failed"], "ir": total,
            "ir_per_cycle": total / max(ok, 1), "steps": {k: v / max(ok, 1) for k, v in steps.items()},
            "objects": {k: v / max(ok, 1) for k, v in objects.items()},
            "file": path}


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--modules", default="bare,valet,callpark-defaults,callpark-dialed,callpark-lean")
    ap.add_argument("--cycles", type=int, default=30)
    ap.add_argument("--warm", type=int, default=10)
    ap.add_argument("--rate", type=float, default=1)
    ap.add_argument("--offset", type=float, default=6,
                    help="seconds from a park to the retrieve of the same extension (the switch is slow under valgrind)")
    ap.add_argument("--talk", type=int, default=3000,
                    help="ms the retriever talks: long enough for the slowed switch to connect it")
    ap.add_argument("--users", type=int, default=500)
    ap.add_argument("--alias", default="false")
    ap.add_argument("--rounds", type=int, default=1)
    ap.add_argument("--json", help="write the results there")
    ap.add_argument("--report", help="print the report of a --json file written before, and run nothing")
    args = ap.parse_args()
    modules = args.modules.split(",")
    pv.OFFSET_S = args.offset
    others = set(range(os.cpu_count() or 1)) - {SWITCH_CPU}
    if others:
        os.sched_setaffinity(0, others)  # and SIPp, started from here
    if args.report:
        saved = json.load(open(args.report))
        report(saved["results"], argparse.Namespace(**saved["args"]))
        return
    results = []
    for r in range(args.rounds):
        order = modules[r % len(modules):] + modules[:r % len(modules)]
        print(f"round {r + 1}: {', '.join(order)}", flush=True)
        for m in order:
            results.append(dict(measure(m, args), round=r + 1))
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"args": vars(args), "results": results}, f, indent=1)
    report(results, args)


def report(results, args):
    modules = args.modules.split(",")
    ref = modules[0]
    print(f"\ninstructions per cycle (millions), {args.cycles} cycles at {args.rate}/s, "
          f"{args.users} users, alias {args.alias}; per round, then the median of the per-round ratios")

    def ratios(m, over):
        base = {x["round"]: x["ir_per_cycle"] for x in results if x["module"] == over}
        return [x["ir_per_cycle"] / base[x["round"]] for x in results if x["module"] == m and x["round"] in base]

    refs = [ref] + (["valet"] if "valet" in modules and ref != "valet" else [])
    for m in modules:
        rows = [x for x in results if x["module"] == m]
        per = " ".join(f"{x['ir_per_cycle'] / 1e6:7.2f}" for x in rows)
        over = "; ".join(f"over {r} {statistics.median(q):.3f} ({min(q):.3f}-{max(q):.3f})"
                         for r in refs if r != m for q in [ratios(m, r)])
        failed = sum(x["failed"] for x in rows)
        note = f"   ({failed} cycles failed: their calls' work is counted, not the cycles)" if failed else ""
        print(f"  {m:18s} {per}   {over}{note}")
    last = {x["module"]: x for x in results if x["round"] == args.rounds}
    head = "  " + " " * 48 + "".join(f"{m[:17]:>18s}" for m in modules)
    print("\nwhat the work is for (inclusive; millions of instructions per cycle, last round):")
    print(head)
    labels = list(dict.fromkeys(k for m in modules for k in last[m]["steps"]))  # as measured
    for label in labels:
        if any(last[m]["steps"].get(label, 0) for m in modules):
            print(f"  {label:48s}" + "".join(f"{last[m]['steps'].get(label, 0) / 1e6:18.3f}" for m in modules))
    print(f"\nwhere it runs (exclusive, by component; millions per cycle, last round; "
          f"the components that differ most from {ref} first):")
    print(head)
    objs = sorted({o for m in modules for o in last[m]["objects"]},
                  key=lambda o: -max(abs(last[m]["objects"].get(o, 0) - last[ref]["objects"].get(o, 0)) for m in modules))
    for o in objs[:12]:
        print(f"  {o[:48]:48s}" + "".join(f"{last[m]['objects'].get(o, 0) / 1e6:18.3f}" for m in modules))


if __name__ == "__main__":
    main()
