#!/usr/bin/env python3
"""Prints the medians of the last `cargo bench --bench core` run as a table: one row per
operation, one column per number of calls already parked. Reads criterion's
target/criterion/<group>/<size>/new/estimates.json (the path can be given)."""
import json
import pathlib
import sys

root = pathlib.Path(sys.argv[1] if len(sys.argv) > 1 else "target/criterion")


def median(group, bench):
    f = root / group / bench / "new" / "estimates.json"
    if not f.exists():
        return None
    return json.loads(f.read_text())["median"]["point_estimate"]


def show(ns):
    if ns is None:
        return "-"
    if ns < 1e3:
        return f"{ns:.0f} ns"
    if ns < 1e6:
        return f"{ns / 1e3:.2f} µs"
    return f"{ns / 1e6:.2f} ms"


sizes = ["1000", "10000", "100000"]
print("| operation (median) | " + " | ".join(f"{int(s):,} parked" for s in sizes) + " |")
print("|---|" + "---:|" * len(sizes))
for group, name in [("park", "park `*68<ext>`"), ("retrieve", "retrieve `*88<ext>`"),
                    ("probe", "probe `park+105`"), ("list_tenant", "list one tenant (10 calls)")]:
    print(f"| {name} | " + " | ".join(show(median(group, s)) for s in sizes) + " |")
print()
print("| group park, 1,000 members (median) | |")
print("|---|---:|")
for bench in ["park_near_end", "park_and_retrieve_near_end", "park_all_free"]:
    print(f"| {bench} | {show(median('group_park_1000', bench))} |")
