#!/usr/bin/env python3
"""Medians and ranges of run_peers.sh's times.tsv (label, run, wall s, peak RSS KB), and ctprep's ratios."""

import statistics
import sys
from collections import OrderedDict


def main():
    rows = OrderedDict()
    for line in open(sys.argv[1]):
        label, _run, wall, kb = line.rstrip("\n").split("\t")
        rows.setdefault(label, []).append((float(wall), int(kb)))
    med = {}
    print("| command | runs | median wall s | range s | median peak RSS MB |")
    print("|---|---|---|---|---|")
    for label, v in rows.items():
        walls = [w for w, _ in v]
        med[label] = statistics.median(walls)
        rss = statistics.median(k for _, k in v) / 1024
        print(f"| {label} | {len(v)} | {med[label]:.2f} | {min(walls):.2f}-{max(walls):.2f} | {rss:.0f} |")
    for ct, peers in (("ctprep-vm", ("sitk", "sitk-dilate")), ("ctprep-classic", ("classic",))):
        for p in peers:
            if ct in med and p in med:
                print(f"{p} / {ct}: {med[p] / med[ct]:.1f}x the wall time")


if __name__ == "__main__":
    main()
