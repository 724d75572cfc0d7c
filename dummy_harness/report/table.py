"""The text views of results: a short table of one run, one line per run of a results tree, and how the runs
of a tree are found. The results themselves are dummy_harness.results."""
from __future__ import annotations

import glob
import os
from typing import List

from ..results import Results, read_results

HEADER = ("benchmark", "scenario", "mode", "precision", "result", "verdict", "errors")


def row(results: Results) -> tuple:
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


def table_lines(rows: List[tuple]) -> List[str]:
    rows = [HEADER] + rows
    widths = [max(len(str(r[i])) for r in rows) for i in range(len(rows[0]))]
    return ["  ".join(str(c).ljust(w) for c, w in zip(r, widths)).rstrip() for r in rows]


def format_table(results: Results) -> str:
    """A short human table of one run."""
    lines = table_lines([row(results)])
    lines.append(f"run folder: {results.run_dir}")
    if not results.ok:
        lines.append(f"status: {results.status}: {results.failure or ''}")
    return "\n".join(lines)


def find_runs(root: str) -> List[Results]:
    """Every run under `root` (a run folder or a results tree) with a readable results.json, in path order;
    runs kept aside in previous_runs/ are not current and left out."""
    found = sorted(p for p in glob.glob(os.path.join(glob.escape(root), "**", "results.json"), recursive=True)
                   if "previous_runs" not in os.path.relpath(p, root).split(os.sep))
    return [r for r in (read_results(os.path.dirname(p)) for p in found) if r]
