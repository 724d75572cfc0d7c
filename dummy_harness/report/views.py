"""What the report shows of each run, as plain data (no drawing here): charts made of named series and marks.

Every number comes from LoadGen's own records: the per-sample latencies and first-token times from its trace
(loadgen/trace.py), the percentiles, bounds and figures of merit from its detail log (loadgen/detail_log.py).
Where the trace was off, the latency and token charts are drawn from the detail log's percentiles and the run
says so in one note.
"""
from __future__ import annotations

import math
import os
from dataclasses import dataclass, field
from typing import Dict, List, Optional, Sequence

import numpy as np

from .. import scenarios
from ..loadgen.detail_log import FILE as DETAIL_LOG, PERCENTILES, DetailLog, parse_detail_log
from ..loadgen.trace import Trace, percentile, read_trace
from ..results import Results
from .table import row

CDF_POINTS = 2000          # points drawn of a distribution (the marks are computed on every sample)
THROUGHPUT_BINS = 50       # intervals of the completions-per-second chart


@dataclass
class Series:
    label: str
    x: Sequence[float]
    y: Sequence[float]
    kind: str = "line"                     # line | steps | barh (x: the values, y: one category name a bar)


@dataclass
class Mark:
    label: str
    value: float
    axis: str = "x"                        # x: a vertical line at `value`; y: a horizontal one
    kind: str = "percentile"               # percentile | bound | result


@dataclass
class Chart:
    name: str                              # the PNG's name within its run
    title: str
    xlabel: str
    ylabel: str
    series: List[Series]
    marks: List[Mark] = field(default_factory=list)
    caption: str = ""                      # where the data comes from, one line

    @property
    def labels(self) -> List[str]:
        """The legend: every series, then every mark."""
        return [s.label for s in self.series] + [m.label for m in self.marks]


@dataclass
class RunView:
    results: Results
    where: str                             # the run folder, relative to the report's root
    slug: str                              # file-name prefix of its PNGs
    notes: List[str]
    charts: List[Chart]

    @property
    def heading(self) -> str:
        r = self.results
        extra = f" {r.compliance_test['test']}" if r.compliance_test else ""
        verdict = f" \u2014 {row(r)[5]}, {row(r)[4]}" if r.status != "running" else " (running)"
        return f"{r.benchmark} {r.scenario} {r.mode}{extra}{verdict}"


# ---- building blocks -----------------------------------------------------------------------------------------------
def _ms(ns: float) -> float:
    return ns / 1e6


def _fmt_ms(value: float) -> str:
    return f"{value:.3g} ms" if value < 100 else f"{value:,.0f} ms"


def cdf(values_ms: np.ndarray) -> tuple:
    """(x, y) of the empirical distribution, at most CDF_POINTS points, the last one the maximum."""
    ordered = np.sort(values_ms)
    n = len(ordered)
    picks = np.unique(np.linspace(0, n - 1, min(n, CDF_POINTS)).astype(int))
    return ordered[picks], (picks + 1) / n


def percentile_points(detail: DetailLog, prefix: str, suffix: str, min_key: str, max_key: str) -> tuple:
    """(x ms, y) of a distribution from the detail log's min, percentiles and max: LoadGen's own summary."""
    points = [(0.0, detail.get(min_key))]
    points += [(float(p) / 100, detail.get(f"{prefix}{p}_percentile{suffix}")) for p in PERCENTILES]
    points.append((1.0, detail.get(max_key)))
    points = [(y, _ms(v)) for y, v in points if v is not None]
    return [x for _, x in points], [y for y, _ in points]


def nice_width(span_s: float, bins: int = THROUGHPUT_BINS) -> float:
    """An interval of 1, 2 or 5 x 10^k seconds giving about `bins` intervals over `span_s` (at least 1 ms)."""
    raw = max(span_s / bins, 1e-3)
    scale = 10 ** math.floor(math.log10(raw))
    return next(m * scale for m in (1, 2, 5, 10) if m * scale >= raw)


def rate(times_s: np.ndarray, start: float, width: float, bins: int) -> np.ndarray:
    counts, _ = np.histogram(times_s, bins=bins, range=(start, start + bins * width))
    return counts / width


# ---- the charts of one run ------------------------------------------------------------------------------------------
def latency_chart(results: Results, detail: DetailLog, trace: Optional[Trace]) -> Optional[Chart]:
    scenario = scenarios.get(results.scenario)
    per_query = scenario.per_query_latency
    fraction = detail.get("effective_target_latency_percentile") if scenario.latency_field else None
    marks: List[Mark] = []
    if trace is not None:
        values = trace.query_latency_ns() if per_query else trace.latency_ns
        x, y = cdf(values / 1e6)
        what = f"{len(values):,} queries of {len(trace) // max(len(values), 1)} samples" if per_query \
            else f"{len(values):,} samples"
        series = Series(f"latency, LoadGen trace ({what})", x, y)
        if fraction:
            p = _ms(percentile(values, fraction))
            marks.append(Mark(f"p{fraction * 100:g} = {_fmt_ms(p)}", p))
        caption = "every sample's latency (scheduled to completed) from LoadGen's trace"
    else:
        infix = "_per_query" if per_query else ""
        x, y = percentile_points(detail, "result_", f"{infix}_latency_ns",
                                 "result_min_query_latency_ns" if per_query else "result_min_latency_ns",
                                 "result_max_query_latency_ns" if per_query else "result_max_latency_ns")
        if not x:
            return None
        series = Series("latency, LoadGen's percentiles (detail log)", x, y, kind="steps")
        if fraction:
            value = detail.get(f"result_{fraction * 100:.2f}_percentile{infix}_latency_ns")
            if value is not None:
                marks.append(Mark(f"p{fraction * 100:g} = {_fmt_ms(_ms(value))}", _ms(value)))
        caption = "LoadGen's latency percentiles from its detail log (the trace was off)"
    if scenario.estimate == "latency" and results.result and results.result.value is not None:
        marks.append(Mark(f"early-stopping estimate = {_fmt_ms(results.result.value)} (the result)",
                          results.result.value, kind="result"))
    bound = detail.get("effective_target_latency_ns") if scenario.hard_bound else None
    if bound:
        marks.append(Mark(f"bound {_fmt_ms(_ms(bound))}", _ms(bound), kind="bound"))
    title = f"{'Per-query latency' if per_query else 'Latency'} distribution"
    return Chart("latency", title, "latency (ms)", "fraction of " + ("queries" if per_query else "samples"),
                 [series], marks, caption)


def throughput_chart(results: Results, trace: Optional[Trace]) -> Optional[Chart]:
    """Completions per second over the run (and, in Server, the arrivals LoadGen scheduled), from the trace."""
    if trace is None:
        return None
    start = float(trace.scheduled_s.min())
    completed = trace.completed_s
    span = float(completed.max()) - start
    width = nice_width(span)
    bins = max(1, math.ceil(span / width))
    edges = np.arange(bins + 1) * width
    series = [Series("completed samples/s", edges, np.append(rate(completed, start, width, bins), 0), "steps")]
    if scenarios.get(results.scenario).queued:      # arrivals scheduled independently of answers
        series.append(Series("scheduled samples/s", edges,
                             np.append(rate(trace.scheduled_s, start, width, bins), 0), "steps"))
    marks = []
    result = results.result
    if result and result.value is not None and result.unit == "samples/s":
        marks.append(Mark(f"LoadGen's result {result.value:,.4g} samples/s", result.value, "y", "result"))
    return Chart("throughput", "Completions over the run", "time since the first query (s)", "samples per second",
                 series, marks, f"samples completed per {width:g} s interval, from LoadGen's trace")


def token_charts(results: Results, detail: DetailLog, trace: Optional[Trace]) -> List[Chart]:
    """TTFT and TPOT against their bounds, where LoadGen measured token latencies (streamed LLM runs)."""
    if detail.get("result_first_token_max_latency_ns") is None:
        return []
    bounds = detail.token_latency_bounds_ms()
    fraction = detail.get("effective_target_latency_percentile") or 0.99
    charts = []
    first = trace.first_token_ns if trace is not None else np.empty(0)
    marks: List[Mark] = []
    if len(first):
        x, y = cdf(first / 1e6)
        series = Series(f"time to first token, LoadGen trace ({len(first):,} samples)", x, y)
        p = _ms(percentile(first, fraction))
        caption = "every sample's first-token time from LoadGen's trace"
    else:
        x, y = percentile_points(detail, "result_first_token_", "_latency_ns", "result_first_token_min_latency_ns",
                                 "result_first_token_max_latency_ns")
        series = Series("time to first token, LoadGen's percentiles (detail log)", x, y, "steps")
        p = _ms(detail.get(f"result_first_token_{fraction * 100:.2f}_percentile_latency_ns") or 0)
        caption = "LoadGen's first-token percentiles from its detail log (the trace was off)"
    marks.append(Mark(f"p{fraction * 100:g} = {_fmt_ms(p)}", p))
    if bounds.get("ttft"):
        marks.append(Mark(f"TTFT bound {_fmt_ms(bounds['ttft'])}", bounds["ttft"], kind="bound"))
    charts.append(Chart("ttft", "Time to first token (TTFT)", "TTFT (ms)", "fraction of samples", [series], marks,
                        caption))

    x, y = percentile_points(detail, "result_time_per_output_token_", "_ns", "result_time_to_output_token_min",
                             "result_time_to_output_token_max")
    if x:
        marks = []
        p = detail.get(f"result_time_per_output_token_{fraction * 100:.2f}_percentile_ns")
        if p is not None:
            marks.append(Mark(f"p{fraction * 100:g} = {_fmt_ms(_ms(p))}", _ms(p)))
        if bounds.get("tpot"):
            marks.append(Mark(f"TPOT bound {_fmt_ms(bounds['tpot'])}", bounds["tpot"], kind="bound"))
        charts.append(Chart("tpot", "Time per output token (TPOT)", "TPOT (ms)", "fraction of samples",
                            [Series("time per output token, LoadGen's percentiles (detail log)", x, y, "steps")],
                            marks, "LoadGen's TPOT percentiles from its detail log (its trace holds no per-sample "
                            "token count)"))
    return charts


def trace_note(results: Results, trace: Optional[Trace]) -> Optional[str]:
    """One line when the per-query charts could not come from the trace."""
    if trace is not None:
        return None
    plan = results.loadgen_trace
    if plan and not plan.get("enabled"):
        return (f"LoadGen's trace was off: this run was expected to log {plan['expected_samples']:,} samples "
                f"(about {plan['expected_mb']:,.0f} MB of trace), above the report's limit of "
                f"{plan['max_samples']:,}; charts drawn from the detail log's percentiles.")
    return ("LoadGen's trace was off for this run (run it with --report=yes for per-query charts): charts drawn "
            "from the detail log's percentiles, no throughput over time.")


def run_view(results: Results, root: str, slug: str) -> RunView:
    where = os.path.relpath(results.run_dir, root) if results.run_dir else ""
    notes: List[str] = []
    charts: List[Chart] = []
    if not results.ok:
        notes.append(f"run {results.status}: {results.failure or 'see results.json'}")
    if results.invalid_reason:
        notes.append(f"INVALID: {results.invalid_reason}")
    has_log = os.path.isfile(os.path.join(results.run_dir, DETAIL_LOG))
    if results.mode == "performance" and has_log:
        detail = parse_detail_log(results.run_dir)
        trace = read_trace(results.run_dir)
        note = trace_note(results, trace)
        if note:
            notes.append(note)
        charts = [c for c in (latency_chart(results, detail, trace), throughput_chart(results, trace)) if c]
        charts += token_charts(results, detail, trace)
        if not charts:
            notes.append("LoadGen's logs hold no latency of this run.")
    elif results.mode == "performance":
        notes.append("no mlperf_log_detail.txt in the run folder: nothing to draw.")
    return RunView(results, where, slug, notes, charts)


# ---- across runs ------------------------------------------------------------------------------------------------
def run_label(results: Results, distinguish_sut: bool) -> str:
    label = f"{results.benchmark} {results.scenario}"
    if results.compliance_test:
        label += f" {results.compliance_test['test']}"
    if distinguish_sut:
        label += f" ({(results.backend or {}).get('backend', '?')} {results.device} {results.precision})"
    if results.validity and results.validity != "VALID":
        label += f" [{results.validity}]"
    return label


def comparison_charts(runs: List[Results]) -> List[Chart]:
    """The figure of merit of every performance run, one bar each: samples/s (Offline, Server) and ms
    (SingleStream p90, MultiStream p99 per query, LoadGen's early-stopping estimates)."""
    perf = [r for r in runs if r.mode == "performance" and r.result and r.result.value is not None]
    if len(perf) < 2:
        return []
    several_suts = len({r.sut_name for r in perf}) > 1
    charts = []
    groups: Dict[str, List[Results]] = {"samples/s": [], "ms": []}
    for r in perf:
        groups.setdefault(r.result.unit, []).append(r)
    for unit, members in groups.items():
        if not members:
            continue
        members = sorted(members, key=lambda r: (r.benchmark, r.scenario, r.sut_name))
        names = [run_label(r, several_suts) for r in members]
        values = [float(r.result.value) for r in members]
        what = "throughput" if unit == "samples/s" else "latency"
        title = "Samples/s by run" if unit == "samples/s" else "Latency result by run"
        caption = ("LoadGen's result of each performance run: samples/s (Offline, Server)" if unit == "samples/s"
                   else "LoadGen's result of each performance run: early-stopping p90 (SingleStream) and p99 per "
                        "query (MultiStream)")
        charts.append(Chart(f"comparison-{what}", title, unit, "", [Series(f"{what} ({unit})", values, names,
                                                                           "barh")], [], caption))
    return charts
