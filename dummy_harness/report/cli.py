"""python -m dummy_harness.report <results dir> [--html report.html]: one line per run found under the folder;
with --html, the report with its charts (PNGs in report_png/ beside the page)."""
from __future__ import annotations

import argparse
import os
import sys
from typing import List, Optional

from .table import find_runs, row, table_lines


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m dummy_harness.report", description=__doc__.split(":")[0])
    parser.add_argument("output_dir", help="a results tree (--output_dir of the runs) or one run folder")
    parser.add_argument("--html", metavar="FILE", help="write the report there: one self-contained page, its "
                        "PNGs in <FILE name>_png/ beside it")
    args = parser.parse_args(argv)
    runs = find_runs(args.output_dir)
    if not runs:
        print(f"no results under {args.output_dir}")
        return 1
    print("\n".join(table_lines([row(r) for r in runs])))
    print(f"results: {os.path.abspath(args.output_dir)}")
    if args.html:
        from . import write_report
        try:
            path = write_report(args.output_dir, args.html)
        except OSError as exc:
            print(f"error: report not written: {exc}", file=sys.stderr)
            return 1
        print(f"report: {path}")
    return 0
