#!/usr/bin/env python3
"""`cargo bench --bench core` of two revisions side by side, on the same machine, in
alternation: before, after, before, after (ROUNDS pairs), and the ratio after/before
of each benchmark's median, the medians taken over the rounds.

    python3 bench/compare_core.py <before-rev> [<after-rev-or-dir>] [--rounds N]

Each revision is checked out into a git worktree under target/compare/<rev>; a directory
(default: this checkout) is measured as it is, uncommitted changes included. A benchmark
only the after side has (a new one) is printed with its ratio to the one named after
`vs` in RELATED, measured in the same run."""
import argparse
import json
import os
import pathlib
import statistics
import subprocess
import sys

ROOT = pathlib.Path(__file__).resolve().parent.parent
# A new benchmark and the old one it is compared with, in the same run.
RELATED = {"park_answer": "park"}


def medians(tree):
    out = {}
    crit = pathlib.Path(tree) / "target" / "criterion"
    for est in crit.glob("*/*/new/estimates.json"):
        group, bench = est.parts[-4], est.parts[-3]
        out[f"{group}/{bench}"] = json.loads(est.read_text())["median"]["point_estimate"]
    return out


def run(tree):
    subprocess.run(["cargo", "bench", "--bench", "core", "--quiet"], cwd=tree, check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return medians(tree)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("before")
    ap.add_argument("after", nargs="?", default=str(ROOT))
    ap.add_argument("--rounds", type=int, default=2)
    a = ap.parse_args()
    def tree_of(rev):
        if os.path.isdir(rev):
            return rev
        wt = ROOT / "target" / "compare" / rev
        if not wt.exists():
            subprocess.run(["git", "worktree", "add", "-f", "--detach", str(wt), rev], cwd=ROOT, check=True)
        return wt

    wt, after_tree = tree_of(a.before), tree_of(a.after)
    for tree in (wt, after_tree):
        subprocess.run(["cargo", "bench", "--bench", "core", "--no-run", "--quiet"], cwd=tree, check=True)
    before, after = {}, {}
    for r in range(a.rounds):
        for name, tree, acc in (("before", wt, before), ("after", after_tree, after)):
            print(f"round {r + 1}: {name} ({tree})", file=sys.stderr, flush=True)
            for k, v in run(tree).items():
                acc.setdefault(k, []).append(v)
    med = lambda d: {k: statistics.median(v) for k, v in d.items()}
    b, f = med(before), med(after)
    print(f"cargo bench --bench core, {a.rounds} rounds each, alternating; medians in ns")
    print(f"| benchmark | before ({a.before}) | after ({a.after}) | after/before |")
    print("|---|---:|---:|---:|")
    for k in sorted(set(b) | set(f)):
        if k in b and k in f:
            print(f"| {k} | {b[k]:.0f} | {f[k]:.0f} | {f[k] / b[k]:.2f} |")
        elif k in f:
            group, size = k.split("/", 1)
            rel = f"{RELATED.get(group, '?')}/{size}"
            ratio = f"{f[k] / f[rel]:.2f} vs {rel}" if rel in f else "-"
            print(f"| {k} (new) | - | {f[k]:.0f} | {ratio} |")
    # One figure per group: the geometric mean of its ratios (the noise of one benchmark
    # on a shared machine is often larger than a change).
    print()
    print("| group | geometric mean of after/before |")
    print("|---|---:|")
    groups = {}
    for k in set(b) & set(f):
        groups.setdefault(k.split("/", 1)[0], []).append(f[k] / b[k])
    for k in set(f) - set(b):
        group, size = k.split("/", 1)
        rel = f"{RELATED.get(group, '?')}/{size}"
        if rel in f:
            groups.setdefault(f"{group} vs {RELATED[group]}", []).append(f[k] / f[rel])
    for g in sorted(groups):
        r = groups[g]
        print(f"| {g} | {statistics.geometric_mean(r):.2f} ({len(r)}) |")


if __name__ == "__main__":
    main()
