"""The accuracy check: mlperf_log_accuracy.json -> the benchmark's evaluator -> accuracy.txt.

Decoding follows the official scripts: `np.frombuffer(bytes.fromhex(data), dtype)`, first entry per qsl_idx wins.
"""
from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional


@dataclass
class Check:
    """A further condition of the official checker (e.g. generated length), besides the main metric."""
    name: str
    value: float
    low: float
    high: Optional[float] = None

    @property
    def passed(self) -> bool:
        return self.value >= self.low and (self.high is None or self.value <= self.high)

    def describe(self) -> str:
        bound = f">= {self.low:.6g}" if self.high is None else f"in [{self.low:.6g}, {self.high:.6g}]"
        return f"{self.name} {self.value:.6g} {'' if self.passed else 'not '}{bound}"


@dataclass
class AccuracyReport:
    metric: str                 # e.g. "top-1 accuracy"
    value: float                # in percent
    reference: float            # the fp32 stand-in's own score on this set, in percent
    target_fraction: float      # 0.99 for -99 variations
    official_lines: List[str]   # what the official accuracy script prints, in its form
    details: Dict[str, Any] = field(default_factory=dict)
    missing: int = 0            # samples of the run absent from the accuracy log
    checks: List[Check] = field(default_factory=list)

    @property
    def threshold(self) -> float:
        return self.reference * self.target_fraction

    @property
    def passed(self) -> bool:
        return self.value >= self.threshold and self.missing == 0 and all(c.passed for c in self.checks)

    def verdict(self) -> str:
        if self.missing:
            return f"FAIL: {self.missing} samples of the run have no entry in mlperf_log_accuracy.json"
        word = "PASS" if self.passed else "FAIL"
        sign = ">=" if self.value >= self.threshold else "<"
        line = (f"{word}: {self.metric} {self.value:.3f}% {sign} target {self.threshold:.3f}% "
                f"({self.target_fraction * 100:g}% of the fp32 reference {self.reference:.3f}%)")
        if self.checks:
            line += "; " + "; ".join(c.describe() for c in self.checks)
        return line

    def to_text(self) -> str:
        return "\n".join(self.official_lines + [self.verdict()]) + "\n"

    def to_json(self) -> Dict[str, Any]:
        return {"metric": self.metric, "value": float(self.value), "reference": float(self.reference),
                "target_fraction": float(self.target_fraction), "threshold": float(self.threshold),
                "passed": bool(self.passed), "missing": int(self.missing),
                "checks": [{"name": c.name, "value": float(c.value), "low": float(c.low),
                            "high": None if c.high is None else float(c.high), "passed": c.passed}
                           for c in self.checks],
                "details": self.details}


def read_accuracy_log(path: str) -> Dict[int, str]:
    """qsl_idx -> hex data, keeping the first entry of each sample as the official scripts do."""
    with open(path) as f:
        entries = json.load(f)
    out: Dict[int, str] = {}
    for entry in entries:
        out.setdefault(int(entry["qsl_idx"]), entry["data"])
    return out


def write_accuracy_txt(run_dir: str, report: AccuracyReport) -> str:
    path = os.path.join(run_dir, "accuracy.txt")
    with open(path, "w") as f:
        f.write(report.to_text())
    return path
