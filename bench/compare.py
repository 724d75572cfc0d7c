"""python -m bench.compare A.json B.json: every ratio cell of two runs of `python -m bench --save`, side by side.

A cell agrees when the two runs are within NOISE (3%) of each other; a cell whose figure said it is noisy (its
blocks spread more than that, or a search's resolution) is reported with its label instead. Prints a Markdown
table (for bench/RESULTS.md) and exits 1 when a cell that did not say it is noisy disagrees.
"""
import argparse
import json
import sys
from typing import Dict, Iterator, Tuple

from .common import NOISE


def cells(results: Dict) -> Iterator[Tuple[str, Dict]]:
    for figure, rows in results.items():
        if figure == "machine" or not isinstance(rows, dict):
            continue
        if "ratio" in rows:
            yield figure, rows
        for key, row in rows.items():
            if isinstance(row, dict) and "ratio" in row:
                yield f"{figure} {key}", row


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.compare", description=__doc__.split("\n\n")[0])
    parser.add_argument("run_1", help="a file written by python -m bench --save")
    parser.add_argument("run_2", help="another, of the same figures")
    args = parser.parse_args(argv)
    try:
        with open(args.run_1) as f:
            a = dict(cells(json.load(f)))
        with open(args.run_2) as f:
            b = dict(cells(json.load(f)))
    except (OSError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print("| ratio | run 1 | run 2 | difference | verdict |")
    print("| --- | --- | --- | --- | --- |")
    bad = 0
    for name in a:
        if name not in b:
            continue
        x, y = a[name]["ratio"], b[name]["ratio"]
        if not isinstance(x, (int, float)) or not isinstance(y, (int, float)):
            print(f"| {name} | {x} | {y} | - | no ratio (a capped search) |")
            continue
        diff = abs(x - y) / max(abs(x), abs(y), 1e-12)
        noisy = a[name].get("noisy") or b[name].get("noisy")
        if diff <= NOISE:
            verdict = "agree"
        elif noisy:
            verdict = f"noisy, as labelled ({a[name].get('spread_pct', '-')}% / {b[name].get('spread_pct', '-')}% " \
                      "spread)" if noisy is True else f"noisy, as labelled: {noisy}"
        else:
            verdict = "DISAGREE"
            bad += 1
        print(f"| {name} | {x} | {y} | {100 * diff:.1f}% | {verdict} |")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
