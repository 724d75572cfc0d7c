"""LoadGen's mlperf_log_trace.json: the per-sample timings LoadGen itself recorded, and when to ask for it.

The one reader of the trace in the project (the report's only source of per-query data; the harness keeps no
clock of its own). What LoadGen 6.0 writes there, one event a line (read off real runs):
  * per sample, `{"name":"Sample","ph":"b","ts":<scheduled, us since the trace began>,"args":{"query_seq",
    "sample_idx","issue_start_ns","complete_ns"}}`: `complete_ns` is completion - scheduled time, the latency
    LoadGen's own percentiles are computed from (min, max, mean and p50..p99.9 match the detail log exactly);
  * per first token (streamed LLM Server runs), `{"name":"Token_Latency","ph":"C","ts":<scheduled>,"args":
    {"issue_delay","issue_to_done"}}`: their sum is LoadGen's time to first token;
  * no token count per sample: TPOT is only in the detail log, as percentiles.
The file is not strict JSON (LoadGen doubles the quotes of its LogDetail keys), so it is read line by line.
Without `enable_trace` LoadGen still creates it, empty.

Size: about 280 bytes a sample (Offline), 320 (MultiStream), 640 (SingleStream) and 760 (Server), plus 70 kB of
log records (measured with the null backend, 1k-20k samples). A valid run of a fast SUT would write gigabytes
(Offline at 5,000 samples/s for 660 s: 3.3 M samples, about 0.9 GB), so the trace is only turned on for runs
LoadGen is expected to give at most MAX_SAMPLES samples.
"""
from __future__ import annotations

import os
import re
from dataclasses import dataclass
from typing import Optional

import numpy as np

from .. import scenarios

FILE = "mlperf_log_trace.json"
MAX_SAMPLES = 500_000                 # at most about 400 MB of trace at the largest per-sample size measured

_SAMPLE = re.compile(r'^\{"name":"Sample","cat":"default","ph":"b".*?"ts":(-?[\d.]+).*?"query_seq":(\d+).*?'
                     r'"complete_ns":(-?\d+)')
_FIRST_TOKEN = re.compile(r'^\{"name":"Token_Latency".*?"ts":(-?[\d.]+).*?"issue_delay":(-?\d+).*?'
                          r'"issue_to_done":(-?\d+)')


@dataclass
class Trace:
    """Per-sample arrays in LoadGen's order of completion (all the same length), and the first-token latencies."""
    scheduled_s: np.ndarray        # when LoadGen scheduled the sample's query, s since the trace began
    latency_ns: np.ndarray         # completion - scheduled (LoadGen's sample latency)
    query: np.ndarray              # LoadGen's query sequence number
    first_token_ns: np.ndarray     # time to first token of each streamed sample (empty without streaming)

    def __len__(self) -> int:
        return len(self.latency_ns)

    @property
    def completed_s(self) -> np.ndarray:
        return self.scheduled_s + self.latency_ns / 1e9

    def query_latency_ns(self) -> np.ndarray:
        """Per query: its last sample's latency (MultiStream's per-query latency; one sample a query elsewhere)."""
        order = np.argsort(self.query, kind="stable")
        queries, starts = np.unique(self.query[order], return_index=True)
        return np.maximum.reduceat(self.latency_ns[order], starts) if len(queries) else self.latency_ns[:0]


def read_trace(run_dir: str) -> Optional[Trace]:
    """The trace of a run folder; None when LoadGen wrote none (off, or no sample in it)."""
    path = os.path.join(run_dir, FILE)
    if not os.path.isfile(path) or os.path.getsize(path) == 0:
        return None
    scheduled, latency, query, first = [], [], [], []
    with open(path, errors="replace") as f:
        for line in f:
            if line.startswith('{"name":"Sample"'):
                m = _SAMPLE.match(line)
                if m:
                    scheduled.append(float(m.group(1)))
                    query.append(int(m.group(2)))
                    latency.append(int(m.group(3)))
            elif line.startswith('{"name":"Token_Latency"'):
                m = _FIRST_TOKEN.match(line)
                if m:
                    first.append(int(m.group(2)) + int(m.group(3)))
    if not latency:
        return None
    return Trace(np.array(scheduled) / 1e6, np.array(latency, dtype=np.int64), np.array(query, dtype=np.int64),
                 np.array(first, dtype=np.int64))


def percentile(values: np.ndarray, fraction: float) -> float:
    """LoadGen's percentile: the sorted value at index floor(fraction x n) (checked against its detail log)."""
    ordered = np.sort(values)
    return float(ordered[min(len(ordered) - 1, int(fraction * len(ordered)))])


def expected_samples(settings, scenario) -> int:
    """About how many samples LoadGen will issue with these TestSettings for `scenario` (scenarios.Scenario): an
    upper estimate, since LoadGen generates queries for min_duration at the expected rate or latency, and at least
    min_query_count."""
    scenario = scenarios.get(scenario)
    min_s = settings.min_duration_ms / 1e3
    if scenario.one_query:
        return int(max(settings.min_query_count, 1.1 * min_s * getattr(settings, scenario.rate_field)))
    if scenario.rate_field:
        return int(max(settings.min_query_count, min_s * getattr(settings, scenario.rate_field)))
    latency_ns = getattr(settings, scenario.latency_field)
    queries = max(settings.min_query_count, min_s * 1e9 / max(latency_ns, 1))
    if settings.max_query_count:
        queries = min(queries, settings.max_query_count)
    return int(queries * scenario.samples_per_query(settings))


def trace_plan(settings, scenario) -> dict:
    """Whether to turn LoadGen's trace on for a run that asked for it: results.json keeps this record."""
    scenario = scenarios.get(scenario)
    samples = expected_samples(settings, scenario)
    return {"enabled": samples <= MAX_SAMPLES, "expected_samples": samples, "max_samples": MAX_SAMPLES,
            "expected_mb": round(samples * scenario.trace_bytes_per_sample / 1e6, 1)}
