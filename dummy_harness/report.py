"""Reading LoadGen's logs into results, and writing results.json.

The machine-readable source is mlperf_log_detail.txt (one `:::MLLOG {json}` per line). Any record flagged
`is_error` makes the run broken, even when LoadGen printed "Result is : VALID".
"""
from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional

# The figure of merit per scenario: (detail-log key, name, unit, scale from the logged unit).
METRICS = {
    "Offline": ("result_samples_per_second", "samples_per_second", "samples/s", 1.0),
    "Server": ("result_completed_samples_per_sec", "completed_samples_per_second", "samples/s", 1.0),
    "SingleStream": ("early_stopping_latency_ss", "p90_latency_early_stopping", "ms", 1e-6),
    "MultiStream": ("early_stopping_latency_ms", "p99_latency_early_stopping", "ms", 1e-6),
}
_PERCENTILES = ("50.00", "90.00", "95.00", "97.00", "99.00", "99.90")


@dataclass
class DetailLog:
    records: Dict[str, Any] = field(default_factory=dict)   # key -> value of its last record
    errors: List[str] = field(default_factory=list)
    warnings: List[str] = field(default_factory=list)

    def get(self, key: str, default: Any = None) -> Any:
        return self.records.get(key, default)


def parse_detail_log(path: str) -> DetailLog:
    log = DetailLog()
    with open(path, errors="replace") as f:
        for line in f:
            if not line.startswith(":::MLLOG "):
                continue
            try:
                rec = json.loads(line[len(":::MLLOG "):])
            except ValueError:
                log.errors.append(f"unreadable detail-log line: {line[:120].strip()}")
                continue
            key, value = rec.get("key"), rec.get("value")
            log.records[key] = value
            meta = rec.get("metadata") or {}
            if meta.get("is_error"):
                log.errors.append(f"{key}: {value}")
            elif meta.get("is_warning"):
                log.warnings.append(f"{key}: {value}")
    return log


def latency_ms(log: DetailLog, per_query: bool = False) -> Dict[str, float]:
    infix = "_per_query" if per_query else ""
    out: Dict[str, float] = {}
    for p in _PERCENTILES:
        value = log.get(f"result_{p}_percentile{infix}_latency_ns")
        if value is not None:
            out[f"p{float(p):g}"] = value / 1e6
    for name in ("min", "max", "mean"):
        key = f"result_{name}_query_latency_ns" if per_query else f"result_{name}_latency_ns"
        if log.get(key) is not None:
            out[name] = log.get(key) / 1e6
    return out


def token_latencies_ms(log: DetailLog) -> Dict[str, Dict[str, float]]:
    """Time to first token and time per output token (LLMs with token latencies), in ms."""
    out: Dict[str, Dict[str, float]] = {}
    for name, prefix, suffix in (("ttft", "result_first_token_", "_latency_ns"),
                                 ("tpot", "result_time_per_output_token_", "_ns")):
        values = {}
        for p in _PERCENTILES:
            value = log.get(f"{prefix}{p}_percentile{suffix}")
            if value is not None:
                values[f"p{float(p):g}"] = value / 1e6
        for stat in ("min", "max", "mean"):
            value = log.get(f"{prefix}{stat}_latency_ns") if name == "ttft" else \
                log.get(f"result_time_to_output_token_{stat}")
            if value is not None:
                values[stat] = value / 1e6
        if values:
            out[name] = values
    return out


def performance_result(scenario: str, log: DetailLog) -> Dict[str, Any]:
    key, name, unit, scale = METRICS[scenario]
    value = log.get(key)
    if value is None and scenario in ("SingleStream", "MultiStream"):
        # No early-stopping estimate (too few queries): fall back to the plain percentile.
        pct = "90.00" if scenario == "SingleStream" else "99.00"
        infix = "_per_query" if scenario == "MultiStream" else ""
        value = log.get(f"result_{pct}_percentile{infix}_latency_ns")
    result: Dict[str, Any] = {"metric": name, "unit": unit,
                              "value": None if value is None else float(value) * scale}
    for extra in ("result_completed_tokens_per_second", "result_inferred_tokens_per_second",
                  "result_tokens_per_second", "result_token_throughput", "result_scheduled_samples_per_sec"):
        if log.get(extra) is not None:
            result[extra[len("result_"):]] = float(log.get(extra))
    return result


def invalid_reason(log: DetailLog) -> Optional[str]:
    """Why LoadGen said INVALID, from its own flags (it logs no single reason field)."""
    if log.get("result_validity") == "VALID":
        return None
    reasons = []
    checks = (("result_perf_constraints_met", "latency constraint not met"),
              ("result_min_duration_met", "min duration not met"),
              ("result_min_queries_met", "min query count not met"),
              ("early_stopping_met", "early stopping not met"))
    for key, text in checks:
        if log.get(key) is False:
            reasons.append(text)
    if log.get("early_stopping_met") is False and log.get("early_stopping_result"):
        reasons.append(" ".join(str(log.get("early_stopping_result")).split()))
    return "; ".join(reasons) or log.get("result_invalid_reason") or "LoadGen gave no reason"


def settings_used(log: DetailLog) -> Dict[str, Any]:
    return {k[len("effective_"):]: v for k, v in log.records.items() if k.startswith("effective_")}


def write_results(run_dir: str, results: Dict[str, Any]) -> str:
    path = os.path.join(run_dir, "results.json")
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        json.dump(results, f, indent=2, sort_keys=False, default=str)
        f.write("\n")
    os.replace(tmp, path)
    return path


def read_results(run_dir: str) -> Optional[Dict[str, Any]]:
    try:
        with open(os.path.join(run_dir, "results.json")) as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


def _row(results: Dict[str, Any]) -> tuple:
    res = results.get("result") or {}
    if results.get("mode") == "accuracy" and results.get("accuracy"):
        acc = results["accuracy"]
        figure = f"{acc['metric']} {acc['value']:.3f}%"
        verdict = "PASS" if acc["passed"] else "FAIL"
    elif res.get("value") is not None:
        figure = f"{res['value']:.4g} {res['unit']}"
        verdict = results.get("validity") or "?"
    else:
        figure, verdict = "-", str(results.get("status", "?")).upper()
    precision = (results.get("backend") or {}).get("precision_ran", results.get("precision", "?"))
    return (results.get("benchmark", "?"), results.get("scenario", "?"), results.get("mode", "?"), precision,
            figure, verdict, str(results.get("error_count", 0)))


def _table(rows: List[tuple]) -> List[str]:
    rows = [("benchmark", "scenario", "mode", "precision", "result", "verdict", "errors")] + rows
    widths = [max(len(str(r[i])) for r in rows) for i in range(len(rows[0]))]
    return ["  ".join(str(c).ljust(w) for c, w in zip(r, widths)).rstrip() for r in rows]


def format_table(results: Dict[str, Any]) -> str:
    """A short human table of one run."""
    lines = _table([_row(results)])
    lines.append(f"run folder: {results.get('run_dir', '?')}")
    if results.get("status") not in (None, "ok"):
        lines.append(f"status: {results['status']}: {results.get('failure', '')}")
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
