#!/usr/bin/env python3
"""What each of callpark's steps costs the switch per park-and-retrieve cycle, one step
at a time: builds the module without the step (the module's file,
freeswitch/callpark_*.c, with that step cut out, put back afterwards), runs the census (bench/census.py) of the
callpark column, and prints the counts beside the whole module's and the bare park's.

A measurement aid, not a configuration: a module without its lamps or its events is not
callpark. The steps cut out:

  lamps     cb_presence returns at once: no PRESENCE_IN for park+<ext> (sofia's
            subscription and dialog queries, the NOTIFYs)
  events    cb_event keeps the channel's variables it records, fires no callpark::info
  display   show_parked_caller returns at once: the retriever's phone is not shown the
            parked caller (a display update, CALL_UPDATE and its SQL)
  notice    notices none and tell-parker none in the bench's configuration: no
            sofia_contact look-up for the park notice
  directory cb_user_exists answers yes without the directory look-up

Run:  python3 bench/ablate.py [--steps lamps,events] [--cycles 100] [--rate 10]
Needs what bench/park_vs_valet.py --census needs (root, perf, uprobes); takes about a
minute per step. The installed module is the unmodified one again at the end, also
after a failed step; a run killed meanwhile leaves <file>.ablate, the original, which
the next run asks to have put back. The "events" step still creates each event and
adds its headers (it only drops the channel's data and the firing): its share is a
lower bound.
"""

import argparse
import json
import os
import shutil
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
NOTIFY = os.path.join(ROOT, "freeswitch", "callpark_notify.c")
BRIDGE = os.path.join(ROOT, "freeswitch", "callpark_bridge.c")
CONF = os.path.join(HERE, "fs", "freeswitch.xml")

# step: (file, anchor, replacement). Each anchor must be found once, or the step is not
# measured (the module changed: this list needs the new lines).
STEPS = {
    "lamps": (NOTIFY, '\t(void) ctx;\n\n\tswitch_log_printf(SWITCH_CHANNEL_LOG, SWITCH_LOG_DEBUG, "callpark lamp',
              '\t(void) ctx;\n\tif (1) return;\n\n\tswitch_log_printf(SWITCH_CHANNEL_LOG, SWITCH_LOG_DEBUG, "callpark lamp'),
    "events": (NOTIFY, "\t\tif (e->channel_data) {\n\t\t\tswitch_channel_event_set_data(channel, event);\n\t\t}\n"
                       "\t\tswitch_core_session_rwunlock(session);\n\t}\n\tswitch_event_fire(&event);",
               "\t\tswitch_core_session_rwunlock(session);\n\t}\n\tswitch_event_destroy(&event);"),
    "display": (BRIDGE, "\tif (!(parked = switch_core_session_locate(parked_uuid))) {\n\t\treturn;\n\t}",
                "\tif (1 || !(parked = switch_core_session_locate(parked_uuid))) {\n\t\treturn;\n\t}"),
    "notice": (CONF, '<tenant domain="cp.bench"/>',
               '<tenant domain="cp.bench"><settings><param name="notices" value="none"/>'
               '<param name="tell-parker" value="none"/></settings></tenant>'),
    "directory": (NOTIFY, '\tif (switch_xml_locate_user_merged("id", extension, tenant, NULL, &user, NULL) != SWITCH_STATUS_SUCCESS) {\n'
                          '\t\treturn false;\n\t}\n\tswitch_xml_free(user);\n\treturn true;',
                  "\t(void) user;\n\t(void) tenant;\n\t(void) extension;\n\treturn true;"),
}
FIGURES = [("malloc", "malloc"), ("sqlite3_prepare_v2", "SQL statements"), ("event_fire_detailed", "events fired"),
           ("event_deliver", "events handed to subscribers")]


def install():
    subprocess.run(["make", "-s", "install"], cwd=ROOT, check=True, stdout=subprocess.DEVNULL)


def census(modules, args, name):
    out = os.path.join("/tmp", f"callpark-ablate-{name}.json")
    subprocess.run([sys.executable, os.path.join(HERE, "park_vs_valet.py"), "--modules", modules, "--levels", "",
                    "--rounds", "0", "--sweep", "", "--blf-rounds", "0", "--memory", "0", "--census",
                    "--census-cycles", str(args.cycles), "--census-rate", str(args.rate), "--json", out],
                   check=True, stdout=subprocess.DEVNULL)
    with open(out) as f:
        cen = json.load(f)["census"]
    return {m: {k: c["counts"].get(k, float("nan")) / max(1, c["ok"]) for k, _ in FIGURES} | {"ok": c["ok"]}
            for m, c in cen.items()}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--steps", default=",".join(STEPS))
    ap.add_argument("--cycles", type=int, default=100)
    ap.add_argument("--rate", type=int, default=10)
    args = ap.parse_args()
    steps = [s for s in args.steps.split(",") if s]
    for s in steps:
        path, anchor, _ = STEPS[s]
        with open(path) as f:
            if f.read().count(anchor) != 1:
                print(f"step {s}: its lines are not in {os.path.relpath(path, ROOT)} once; update STEPS")
                return 1
    for path in sorted({path for path, _, _ in STEPS.values()}):
        if os.path.exists(path + ".ablate"):
            print(f"{os.path.relpath(path, ROOT)}.ablate exists: a run was cut off; put it back as "
                  f"{os.path.relpath(path, ROOT)} (or delete it) first")
            return 1
    try:
        install()
        rows = census("bare,callpark", args, "whole")
        table = [("bare park", rows["bare"]), ("callpark, whole", rows["callpark"])]
        for s in steps:
            path, anchor, replacement = STEPS[s]
            backup = path + ".ablate"
            shutil.copyfile(path, backup)
            try:
                with open(path) as f:
                    text = f.read()
                with open(path, "w") as f:
                    f.write(text.replace(anchor, replacement))
                install()
                table.append((f"callpark without {s}", census("callpark", args, s)["callpark"]))
            finally:
                shutil.move(backup, path)
    finally:
        install()  # the whole module again, whatever happened
    whole = rows["callpark"]
    print(f"per park-and-retrieve cycle ({args.cycles} cycles at {args.rate}/s each); "
          "in brackets: the step's share, whole minus without it")
    print(f"{'':<28}" + "".join(f"{label:>31}" for _, label in FIGURES) + f"{'cycles done':>13}")
    for name, r in table:
        cells = []
        for k, _ in FIGURES:
            cell = f"{r[k]:.1f}"
            if name.startswith("callpark without"):
                cell += f" [{whole[k] - r[k]:+.1f}]"
            cells.append(f"{cell:>31}")
        print(f"{name:<28}" + "".join(cells) + f"{r['ok']:>13}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
