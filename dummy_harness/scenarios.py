"""The LoadGen scenarios, declared once: how each is answered, what it is judged on, what a run estimates for it.

Every other module reads a `Scenario` from SCENARIOS instead of comparing scenario names. A new scenario (e.g. a
Server run with other latency settings) is one more entry. This module imports neither torch nor LoadGen.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Dict, Optional, Tuple


@dataclass(frozen=True)
class FigureOfMerit:
    """What LoadGen reports as the result of a performance run."""
    key: str                        # detail-log key of LoadGen's result
    name: str                       # results.json `result.metric`
    unit: str
    scale: float                    # from the logged unit to `unit`
    fallback_percentile: str = ""   # the plain percentile key when LoadGen logs no early-stopping estimate


@dataclass(frozen=True)
class Scenario:
    name: str                       # as users and the results and submission trees name it
    # Queued: LoadGen's thread only enqueues and the main thread serves (arrivals are independent of answers);
    # otherwise each query is answered inside LoadGen's callback.
    queued: bool
    figure_of_merit: FigureOfMerit
    # What a fast/valid run measures before the test to size it: "throughput" (samples/s) or "latency" (ms a query).
    estimate: str
    # TestSettings fields of the latency this scenario is judged against, and its percentile; the bound is hard
    # (a run over it is INVALID) or an expected latency LoadGen only sizes the run with.
    latency_field: str = ""
    percentile_field: str = ""
    hard_bound: bool = False
    # TestSettings field of the rate LoadGen issues at (Offline: expected, Server: scheduled), if any.
    rate_field: str = ""
    # TestSettings field of the samples in one query, where a query holds more than one.
    samples_per_query_field: str = ""
    official_query_samples: int = 1         # samples in one query by the official conf, before settings exist
    one_query: bool = False                 # LoadGen issues everything as one query (Offline)
    early_stopping_min_queries: int = 1     # fewest queries for which LoadGen's early stopping can succeed
    test_query_count: int = 0               # queries of a test-style run (Offline: samples of its one query)
    batch_of_one: bool = False              # the default batch is 1 (one sample a query)
    target_option: str = ""                 # the option of its own target (beats --target_qps/--target_latency)
    # Thread layout on the CPU: "worker_per_core" (fixed-compute models: one compute thread per core, one torch
    # thread each), "core_for_loadgen" (one compute thread, every core but LoadGen's), "fastest_pool" (one compute
    # thread, the torch pool size timed fastest before the test), or "all_cores".
    cpu_layout: str = "all_cores"
    trace_bytes_per_sample: int = 760       # size of LoadGen's trace per sample (loadgen/trace.py)
    # The LoadGen scenario it runs as, and the suffix of the model key its settings are read under in mlperf.conf
    # (Interactive is a Server run with the `<model>-interactive` settings).
    loadgen_scenario: str = ""
    conf_suffix: str = ""
    only_for_interactive: bool = False      # only benchmarks whose catalogue entry has interactive settings

    @property
    def loadgen(self) -> str:
        return self.loadgen_scenario or self.name

    @property
    def per_query_latency(self) -> bool:
        """Latencies are judged per query of several samples (MultiStream), not per sample."""
        return bool(self.samples_per_query_field)

    def latency_bound_ns(self, settings) -> float:
        """The latency a query of this scenario is expected to take (0 where none), from LoadGen's settings; a
        streamed LLM in Server is bounded by its time to first token."""
        if not self.latency_field:
            return 0.0
        return float(getattr(settings, self.latency_field) or (settings.ttft_latency if self.hard_bound else 0))

    def samples_per_query(self, settings) -> int:
        return int(getattr(settings, self.samples_per_query_field)) if self.samples_per_query_field else 1


SCENARIOS: Dict[str, Scenario] = {s.name: s for s in (
    Scenario("Offline", queued=False, estimate="throughput", rate_field="offline_expected_qps", one_query=True,
             figure_of_merit=FigureOfMerit("result_samples_per_second", "samples_per_second", "samples/s", 1.0),
             early_stopping_min_queries=1, test_query_count=1024, cpu_layout="worker_per_core",
             target_option="offline_target_qps",
             trace_bytes_per_sample=280),
    Scenario("Server", queued=True, estimate="throughput", rate_field="server_target_qps",
             latency_field="server_target_latency_ns", percentile_field="server_target_latency_percentile",
             hard_bound=True,
             figure_of_merit=FigureOfMerit("result_completed_samples_per_sec", "completed_samples_per_second",
                                           "samples/s", 1.0),
             early_stopping_min_queries=459, test_query_count=1000, cpu_layout="core_for_loadgen",
             target_option="server_target_qps",
             trace_bytes_per_sample=760),
    # Interactive: a Server run against the tighter TTFT/TPOT of mlperf.conf's `<model>-interactive` settings.
    Scenario("Interactive", queued=True, estimate="throughput", rate_field="server_target_qps",
             latency_field="server_target_latency_ns", percentile_field="server_target_latency_percentile",
             hard_bound=True,
             figure_of_merit=FigureOfMerit("result_completed_samples_per_sec", "completed_samples_per_second",
                                           "samples/s", 1.0),
             early_stopping_min_queries=459, test_query_count=1000, cpu_layout="core_for_loadgen",
             target_option="server_target_qps", trace_bytes_per_sample=760, loadgen_scenario="Server",
             conf_suffix="-interactive", only_for_interactive=True),
    Scenario("SingleStream", queued=False, estimate="latency", latency_field="single_stream_expected_latency_ns",
             percentile_field="single_stream_target_latency_percentile",
             figure_of_merit=FigureOfMerit("early_stopping_latency_ss", "p90_latency_early_stopping", "ms", 1e-6,
                                           "result_90.00_percentile_latency_ns"),
             early_stopping_min_queries=64, test_query_count=256, batch_of_one=True, cpu_layout="fastest_pool",
             target_option="singlestream_target_latency",
             trace_bytes_per_sample=640),
    Scenario("MultiStream", queued=False, estimate="latency", latency_field="multi_stream_expected_latency_ns",
             percentile_field="multi_stream_target_latency_percentile",
             samples_per_query_field="multi_stream_samples_per_query", official_query_samples=8,
             figure_of_merit=FigureOfMerit("early_stopping_latency_ms", "p99_latency_early_stopping", "ms", 1e-6,
                                           "result_99.00_percentile_per_query_latency_ns"),
             early_stopping_min_queries=662, test_query_count=662, cpu_layout="fastest_pool",
             target_option="multistream_target_latency",
             trace_bytes_per_sample=320),
)}
NAMES: Tuple[str, ...] = tuple(SCENARIOS)


def available(spec) -> Tuple[str, ...]:
    """The scenarios a benchmark (catalogue.BenchmarkSpec) runs in."""
    return tuple(name for name in SCENARIOS if spec.runs(name))


def get(name) -> Scenario:
    """The scenario called `name` (a Scenario is returned as it is); ValueError naming the known ones otherwise."""
    if isinstance(name, Scenario):
        return name
    found: Optional[Scenario] = SCENARIOS.get(name)
    if found is None:
        raise ValueError(f"unknown scenario {name!r}; known: {', '.join(SCENARIOS)}")
    return found
