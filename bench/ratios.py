#!/usr/bin/env python3
"""Per-round CPU ratios of a bench/park_vs_valet.py result: each column's CPU seconds per
1,000 cycles divided by the reference column's (bare, unless named) in the same round,
then the median and range of those ratios. Rounds ran side by side, in rotating order,
so a ratio within a round cancels most of the machine's drift between rounds.

Run: python3 bench/ratios.py bench/results/defaults-run1.json [reference] [level]"""

import json
import statistics
import sys


def main(path, ref="bare", level="0"):
    cols = json.load(open(path))["levels"][level]
    base = cols[ref]["cpu_s_per_1000_rounds"]
    print(f"{path}, level {level}: CPU per 1,000 cycles / {ref}'s in the same round")
    for name, v in cols.items():
        if name == ref:
            continue
        r = [x / b for x, b in zip(v["cpu_s_per_1000_rounds"], base)]
        print(f"  {name:18s} median {statistics.median(r):.2f}, range {min(r):.2f}-{max(r):.2f}, "
              f"rounds {' '.join(f'{x:.2f}' for x in r)}")


if __name__ == "__main__":
    main(*sys.argv[1:])
