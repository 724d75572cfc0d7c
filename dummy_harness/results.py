"""The results of one run: a typed record, and results.json, its serialised form.

results.json is read by the CM adapter, the submission writer, `report` and users' scripts, so its key names,
value types and key order are fixed: `to_json` writes fields in declaration order, and a field that is None is
left out, except the few that LoadGen's log can leave None once their stage is reached (`with_` below: written
whenever the field they accompany is). `from_json` reads a stored file back (a reused VALID result).
Sections whose content another part owns (the backend's describe(), the dataset's metadata, LoadGen's
settings) stay plain JSON objects.
"""
from __future__ import annotations

import json
import os
from dataclasses import dataclass, field, fields
from typing import Any, Dict, List, Optional

FILE = "results.json"


def with_(*others: str) -> Dict[str, Any]:
    """Metadata of a field written (even as null) whenever one of `others` is set."""
    return {"with": others}


def _section(cls, data: Optional[Dict[str, Any]]):
    """A typed section from its JSON object (unknown keys are ignored: an older or newer file stays readable)."""
    if data is None:
        return None
    names = {f.name for f in fields(cls)}
    return cls(**{k: v for k, v in data.items() if k in names})


@dataclass
class PerformanceResult:
    """The figure of merit of a performance run; `extras` are LoadGen's other figures (tokens/s, scheduled
    samples/s), written beside it in the same object."""
    metric: str
    unit: str
    value: Optional[float]
    extras: Dict[str, float] = field(default_factory=dict)

    def to_json(self) -> Dict[str, Any]:
        return {"metric": self.metric, "unit": self.unit, "value": self.value, **self.extras}

    @classmethod
    def from_json(cls, data: Optional[Dict[str, Any]]) -> Optional["PerformanceResult"]:
        if data is None:
            return None
        extras = {k: v for k, v in data.items() if k not in ("metric", "unit", "value")}
        return cls(data["metric"], data["unit"], data["value"], extras)


@dataclass
class Accuracy:
    """The accuracy verdict (accuracy.AccuracyReport.to_json())."""
    metric: str
    value: float
    reference: float
    target_fraction: float
    threshold: float
    passed: bool
    missing: int
    checks: List[Dict[str, Any]]
    details: Dict[str, Any]


@dataclass
class Memory:
    rss_at_first_query: Optional[float]      # None when no query arrived
    rss_at_end: float
    peak_rss: float


@dataclass
class Threads:
    compute_threads: int
    first_compute_thread: str
    loadgen: str
    torch_threads_per_compute_thread: int


@dataclass
class Timing:
    total: Optional[float] = None          # the whole run(), set last
    loadgen: Optional[float] = None        # the LoadGen test alone

    def to_json(self) -> Dict[str, Any]:
        return {k: v for k, v in (("total", self.total), ("loadgen", self.loadgen)) if v is not None}


@dataclass
class SutStats:
    kind: str
    batches: int
    samples: int
    compute_busy_s: float
    max_batch: int
    qsl_total: int
    performance_sample_count: int
    # Generative SUTs only.
    generated_tokens: Optional[int] = None
    first_tokens_sent: Optional[int] = None
    streaming: Optional[bool] = None
    n_tokens_reported: Optional[bool] = None

    def to_json(self) -> Dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in fields(self) if getattr(self, f.name) is not None}


@dataclass
class Environment:
    harness_version: str
    python: str
    torch: str
    numpy: str
    loadgen: str
    cpu_count: Optional[int]
    torch_num_threads: int
    torch_interop_threads: int
    env: Dict[str, str]


# Typed sections: field name -> class (read back with _section unless the class has its own from_json).
_SECTIONS = {"result": PerformanceResult, "accuracy": Accuracy, "memory_mb": Memory, "threads": Threads,
             "timing_s": Timing, "sut": SutStats, "environment": Environment}


@dataclass
class Results:
    # ---- what runs: written before the run starts, with status "running" ----------------------------------
    benchmark: str
    loadgen_key: str
    scenario: str
    mode: str
    run_style: str
    device: str
    precision: str
    model_size: str
    batch_size: int
    sut_name: str
    run_dir: str
    status: str                                 # running | ok | failed | interrupted
    valid: bool
    fingerprint: Dict[str, Any]
    command: List[str]
    compliance_test: Optional[Dict[str, str]] = None
    # ---- how it was prepared ----------------------------------------------------------------------------------
    environment: Optional[Environment] = None
    dataset: Optional[Dict[str, Any]] = None           # path + the dataset's own metadata
    backend: Optional[Dict[str, Any]] = None           # the backend's describe()
    capacity_estimate: Optional[Dict[str, Any]] = None
    loadgen_settings: Optional[Dict[str, Any]] = None
    server_batching: Optional[Dict[str, Any]] = None
    thread_choice: Optional[Dict[str, Any]] = None    # latency scenarios: the torch pool sizes timed, the one kept
    watchdog_s: Optional[float] = None
    loadgen_trace: Optional[Dict[str, Any]] = None     # --report: whether LoadGen's trace was on (loadgen/trace.py)
    # ---- the LoadGen test -----------------------------------------------------------------------------------
    memory_mb: Optional[Memory] = None
    threads: Optional[Threads] = None
    # What ran the compute (Executor.describe()): its name; for remote workers each one's node, device, samples.
    executor: Optional[Dict[str, Any]] = None
    timing_s: Optional[Timing] = None
    host_cpu_stolen_s: Optional[float] = field(default=None, metadata=with_("sut"))
    sut: Optional[SutStats] = None
    # ---- what LoadGen's detail log says -----------------------------------------------------------------------
    errors: Optional[List[str]] = None
    error_count: Optional[int] = None
    warning_count: Optional[int] = None
    settings_used: Optional[Dict[str, Any]] = None
    accuracy: Optional[Accuracy] = None
    accuracy_lines: Optional[List[str]] = None
    result: Optional[PerformanceResult] = None
    validity: Optional[str] = field(default=None, metadata=with_("result", "accuracy"))  # VALID/INVALID, PASS/FAIL
    invalid_reason: Optional[str] = field(default=None, metadata=with_("result"))
    early_stopping_met: Optional[bool] = field(default=None, metadata=with_("result"))
    latency_ms: Optional[Dict[str, float]] = None
    token_latency_ms: Optional[Dict[str, Dict[str, float]]] = None
    token_latency_bounds_ms: Optional[Dict[str, float]] = None
    # ---- how it ended -----------------------------------------------------------------------------------------
    failure: Optional[str] = None
    exit_code: Optional[int] = None
    # Not written: set on a stored result that run() returns instead of running again.
    reused: bool = field(default=False, metadata={"stored": False})

    # ---- reading ----------------------------------------------------------------------------------------------
    @property
    def precision_ran(self) -> str:
        """The precision the backend really ran (it may fall back), else the one asked for."""
        return (self.backend or {}).get("precision_ran", self.precision)

    @property
    def targets(self) -> Dict[str, Any]:
        """The targets LoadGen was given and where they came from (loadgen/settings.py's facts)."""
        return (self.loadgen_settings or {}).get("targets") or {}

    @property
    def dataset_path(self) -> str:
        return (self.dataset or {}).get("path", "")

    @property
    def ok(self) -> bool:
        return self.status == "ok"

    def fail(self, status: str, reason: str, code: int) -> None:
        """The run ended without a result: `status` failed or interrupted, one line of why, the exit code."""
        self.status, self.failure, self.valid, self.exit_code = status, reason, False, int(code)

    # ---- results.json -----------------------------------------------------------------------------------------
    def to_json(self) -> Dict[str, Any]:
        out: Dict[str, Any] = {}
        for f in fields(self):
            if not f.metadata.get("stored", True):
                continue
            value = getattr(self, f.name)
            written = value is not None or any(getattr(self, other) is not None for other in f.metadata.get("with", ()))
            if not written:
                continue
            if hasattr(value, "to_json"):
                value = value.to_json()
            elif f.name in _SECTIONS and value is not None:
                value = {g.name: getattr(value, g.name) for g in fields(value)}
            out[f.name] = value
        return out

    @classmethod
    def from_json(cls, data: Dict[str, Any]) -> "Results":
        names = {f.name for f in fields(cls) if f.metadata.get("stored", True)}
        values = {k: v for k, v in data.items() if k in names}
        for name, section in _SECTIONS.items():
            if name in values:
                reader = getattr(section, "from_json", None)
                values[name] = reader(values[name]) if reader else _section(section, values[name])
        return cls(**values)

    def write(self) -> str:
        """results.json in the run folder, replaced atomically (a reader never sees half a file)."""
        path = os.path.join(self.run_dir, FILE)
        tmp = path + ".tmp"
        with open(tmp, "w") as f:
            json.dump(self.to_json(), f, indent=2, sort_keys=False, default=str)
            f.write("\n")
        os.replace(tmp, path)
        return path


def read_results(run_dir: str) -> Optional[Results]:
    """The results.json of a run folder; None when there is none or it cannot be read."""
    try:
        with open(os.path.join(run_dir, FILE)) as f:
            return Results.from_json(json.load(f))
    except (OSError, ValueError, TypeError, KeyError):
        return None
