"""Human views of results: a short table of one run, and `python -m dummy_harness.report <output_dir>`, one
line per run found under a folder. The results themselves are dummy_harness.results; LoadGen's log is read by
dummy_harness.loadgen.detail_log."""
from __future__ import annotations

import os
from typing import List, Optional

from .results import Results, read_results


def _row(results: Results) -> tuple:
    acc, res = results.accuracy, results.result
    if results.mode == "accuracy" and acc:
        figure = f"{acc.metric} {acc.value:.3f}%"
        verdict = "PASS" if acc.passed else "FAIL"
    elif res and res.value is not None:
        figure = f"{res.value:.4g} {res.unit}"
        verdict = results.validity or "?"
    else:
        figure, verdict = "-", results.status.upper()
    return (results.benchmark, results.scenario, results.mode, results.precision_ran, figure, verdict,
            str(results.error_count or 0))


def _table(rows: List[tuple]) -> List[str]:
    rows = [("benchmark", "scenario", "mode", "precision", "result", "verdict", "errors")] + rows
    widths = [max(len(str(r[i])) for r in rows) for i in range(len(rows[0]))]
    return ["  ".join(str(c).ljust(w) for c, w in zip(r, widths)).rstrip() for r in rows]


def format_table(results: Results) -> str:
    """A short human table of one run."""
    lines = _table([_row(results)])
    lines.append(f"run folder: {results.run_dir}")
    if not results.ok:
        lines.append(f"status: {results.status}: {results.failure or ''}")
    return "\n".join(lines)


def main(argv: Optional[List[str]] = None) -> int:
    """python -m dummy_harness.report <output_dir>: one line per run found under the folder."""
    import argparse
    import glob

    parser = argparse.ArgumentParser(description=main.__doc__)
    parser.add_argument("output_dir")
    args = parser.parse_args(argv)
    found = sorted(p for p in glob.glob(os.path.join(args.output_dir, "**", "results.json"), recursive=True)
                   if "previous_runs" not in os.path.relpath(p, args.output_dir).split(os.sep))
    runs = [r for r in (read_results(os.path.dirname(p)) for p in found) if r]
    if not runs:
        print(f"no results under {args.output_dir}")
        return 1
    print("\n".join(_table([_row(r) for r in runs])))
    print(f"results: {os.path.abspath(args.output_dir)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
