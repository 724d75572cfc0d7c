"""LoadGen's mlperf_log_detail.txt, read once: one `:::MLLOG {json}` record per line, and what its keys mean.

The only parser of the detail log in the project: the run's results, the CM adapter's cross-check, the tests
and bench/ all read it through `parse_detail_log`. Any record flagged `is_error` makes a run broken, even when
LoadGen printed "Result is : VALID".
"""
from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional

from .. import scenarios

PREFIX = ":::MLLOG "
FILE = "mlperf_log_detail.txt"

# Throughput figures LoadGen logs besides the figure of merit (LLMs, Server), copied into the result as is.
EXTRA_FIGURES = ("result_completed_tokens_per_second", "result_inferred_tokens_per_second",
                 "result_tokens_per_second", "result_token_throughput", "result_scheduled_samples_per_sec")
PERCENTILES = ("50.00", "90.00", "95.00", "97.00", "99.00", "99.90")


@dataclass
class DetailLog:
    records: Dict[str, Any] = field(default_factory=dict)   # key -> value of its last record
    errors: List[str] = field(default_factory=list)          # "key: value" of each is_error record
    warnings: List[str] = field(default_factory=list)

    def __getitem__(self, key: str) -> Any:
        return self.records[key]

    def get(self, key: str, default: Any = None) -> Any:
        return self.records.get(key, default)

    # ---- what the records mean --------------------------------------------------------------------------------
    @property
    def validity(self) -> Optional[str]:
        return self.get("result_validity")

    @property
    def valid(self) -> bool:
        """VALID by LoadGen's verdict and no error record."""
        return self.validity == "VALID" and not self.errors

    def settings_used(self) -> Dict[str, Any]:
        """The effective_* settings LoadGen ran with, without the prefix."""
        return {k[len("effective_"):]: v for k, v in self.records.items() if k.startswith("effective_")}

    def latency_ms(self, per_query: bool = False) -> Dict[str, float]:
        """Latency percentiles, min, max and mean in ms (MultiStream: per query of 8 samples)."""
        infix = "_per_query" if per_query else ""
        out: Dict[str, float] = {}
        for p in PERCENTILES:
            value = self.get(f"result_{p}_percentile{infix}_latency_ns")
            if value is not None:
                out[f"p{float(p):g}"] = value / 1e6
        for name in ("min", "max", "mean"):
            value = self.get(f"result_{name}_query_latency_ns" if per_query else f"result_{name}_latency_ns")
            if value is not None:
                out[name] = value / 1e6
        return out

    def token_latencies_ms(self) -> Dict[str, Dict[str, float]]:
        """Time to first token and time per output token (LLMs with token latencies), in ms."""
        out: Dict[str, Dict[str, float]] = {}
        for name, prefix, suffix in (("ttft", "result_first_token_", "_latency_ns"),
                                     ("tpot", "result_time_per_output_token_", "_ns")):
            values = {}
            for p in PERCENTILES:
                value = self.get(f"{prefix}{p}_percentile{suffix}")
                if value is not None:
                    values[f"p{float(p):g}"] = value / 1e6
            for stat in ("min", "max", "mean"):
                value = self.get(f"{prefix}{stat}_latency_ns") if name == "ttft" else \
                    self.get(f"result_time_to_output_token_{stat}")
                if value is not None:
                    values[stat] = value / 1e6
            if values:
                out[name] = values
        return out

    def token_latency_bounds_ms(self) -> Dict[str, float]:
        return {"ttft": self.get("requested_server_ttft_latency", 0) / 1e6,
                "tpot": self.get("requested_server_tpot_latency", 0) / 1e6}

    def figure_of_merit(self, scenario):
        """(name, unit, value or None, extra figures) of a performance run of `scenario` (scenarios.Scenario)."""
        fom = scenarios.get(scenario).figure_of_merit
        value = self.get(fom.key)
        if value is None and fom.fallback_percentile:
            # No early-stopping estimate (too few queries): the plain percentile.
            value = self.get(fom.fallback_percentile)
        extras = {k[len("result_"):]: float(self.get(k)) for k in EXTRA_FIGURES if self.get(k) is not None}
        return fom.name, fom.unit, None if value is None else float(value) * fom.scale, extras

    def invalid_reason(self) -> Optional[str]:
        """Why LoadGen said INVALID, from its own flags (it logs no single reason field); None when VALID."""
        if self.validity == "VALID":
            return None
        reasons = []
        checks = (("result_perf_constraints_met", "latency constraint not met"),
                  ("result_min_duration_met", "min duration not met"),
                  ("result_min_queries_met", "min query count not met"),
                  ("early_stopping_met", "early stopping not met"))
        for key, text in checks:
            if self.get(key) is False:
                reasons.append(text)
        if self.get("early_stopping_met") is False and self.get("early_stopping_result"):
            reasons.append(" ".join(str(self.get("early_stopping_result")).split()))
        return "; ".join(reasons) or self.get("result_invalid_reason") or "LoadGen gave no reason"


def parse_detail_log(path: str) -> DetailLog:
    """Read a detail log (a run folder's, or the file itself). A line that is not JSON counts as an error."""
    if os.path.isdir(path):
        path = os.path.join(path, FILE)
    log = DetailLog()
    with open(path, errors="replace") as f:
        for line in f:
            if not line.startswith(PREFIX):
                continue
            try:
                rec = json.loads(line[len(PREFIX):])
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
