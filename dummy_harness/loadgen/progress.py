"""The progress line of a LoadGen test: work done of what LoadGen will ask for, time elapsed and left, and for
latency-bound scenarios the running p90/p99 against the bound.

    Server: 12034 of 60000+ queries, 2:00 of 10:00+ (20%), ~8:01 left, p90 3.1 ms, p99 8.2 ms (p99 bound 15 ms)

What LoadGen will ask for (`plan`) comes from its TestSettings: Offline issues one query of a known sample count;
the other scenarios issue queries until both min_query_count and min_duration are reached, so with a
min_duration both are lower bounds ("+"). Accuracy mode issues every QSL sample once.

Cost. The counter is the SUT's own (`sut.samples`, under its lock). Latencies are the SUT's issue -> answer time
of each sample (a clock read and a dict entry at issue, a dict pop at the answer), added to fixed-size log-scale
histograms (`LatencyHistogram.add`, under the SUT's lock): only while a line shows latencies, no other per-sample
work. A reporting thread wakes every `REFRESH_S` (terminal) or `LINES_WAKE_S` (not a terminal) and reads them.

Where it goes (`mode`): `inplace`, one line redrawn by tqdm (it fits the line to the terminal's width);
`lines`, a new plain line when LINES_EVERY_S have passed or LINES_STEP of the work was done since the last one;
`auto`, inplace when stdout is a terminal, else lines; `off`, nothing. The line ends (a final state line) when
the test ends, and ends as it stands before anything else is printed when the run is aborted (`end`).
"""
from __future__ import annotations

import bisect
import io
import itertools
import math
import os
import sys
import threading
import time
from dataclasses import dataclass
from typing import IO, Dict, List, Optional, Sequence, Tuple

from .. import scenarios

MODES = ("auto", "lines", "off")
REFRESH_S = 0.5            # terminal: redraw interval
LINES_WAKE_S = 1.0         # not a terminal: how often the thread looks (a run shorter than this prints nothing)
LINES_EVERY_S = 10.0       # ... and prints when this long has passed
LINES_STEP = 0.10          # ... or this share of the work was done since the last line

# Histogram bins: BINS_PER_OCTAVE per factor of 2 (4.4% apart), from 2**-30 s (1 ns) up to 2**34 s.
BINS_PER_OCTAVE = 16.0
_LOW_OCTAVE = 30
_BINS = (_LOW_OCTAVE + 34) * int(BINS_PER_OCTAVE)
_FIRST_BIN = _LOW_OCTAVE * BINS_PER_OCTAVE
_log2 = math.log2          # module-level names: add() is on the SUT's path


class LatencyHistogram:
    """Latencies in seconds, counted in log-scale bins; `add` is one log2 and one list increment."""

    __slots__ = ("counts",)

    def __init__(self):
        self.counts: List[int] = [0] * _BINS

    def add(self, seconds: float, n: int = 1) -> None:
        # + 1 ns: a zero reading (a coarse clock) must not raise inside the SUT.
        self.counts[int(_log2(seconds + 1e-9) * BINS_PER_OCTAVE + _FIRST_BIN)] += n

    def percentiles(self, qs: Sequence[float]) -> Optional[Dict[float, float]]:
        """{q: seconds} for each q in (0, 100]: the geometric middle of the bin holding it; None when empty."""
        cumulative = list(itertools.accumulate(self.counts))   # another thread may add meanwhile: close enough
        total = cumulative[-1]
        if total == 0:
            return None
        out = {}
        for q in qs:
            index = bisect.bisect_left(cumulative, math.ceil(total * q / 100.0))
            out[q] = 2.0 ** ((index + 0.5) / BINS_PER_OCTAVE - _LOW_OCTAVE)
        return out


@dataclass(frozen=True)
class Bound:
    """A latency the scenario judges: `name` ("" for the query latency, TTFT, TPOT), its bound (or target, when
    `hard` is False: SingleStream/MultiStream have an expected latency, not a bound) at `percentile`."""
    name: str
    seconds: float
    percentile: float
    hard: bool = True


@dataclass(frozen=True)
class Plan:
    """What LoadGen will ask for in this test."""
    scenario: str
    unit: str                       # "queries" or "samples"
    samples_per_unit: int           # MultiStream queries hold 8 samples
    expected: int                   # units: exact, or the minimum when `lower_bound`
    min_duration_s: float           # 0: none (the run ends with its count)
    lower_bound: bool               # LoadGen may ask for more (it runs until min_duration too)
    bounds: Tuple[Bound, ...] = ()  # latencies shown, each against its bound or target


def plan(settings, scenario, total: int, performance_count: int, accuracy: bool,
         token_latencies: bool = False) -> Plan:
    """The plan of a test of `scenario` (scenarios.Scenario) from LoadGen's TestSettings; `total` is the QSL's
    sample count (accuracy mode asks for each once), `performance_count` the samples LoadGen loads;
    `token_latencies`: the SUT streams first tokens (TTFT/TPOT are what a Server LLM is judged on)."""
    scenario = scenarios.get(scenario)
    if accuracy:
        return Plan(scenario.name, "samples", 1, total, 0.0, False)
    min_queries = int(settings.min_query_count)
    max_queries = int(settings.max_query_count)
    min_s = settings.min_duration_ms / 1e3

    def issued(count: int) -> int:
        # Equal-issue mode (the LLMs' sample_concatenate_permutation) rounds the count up to a multiple of the
        # loaded samples, past max_query_count too (loadgen-facts.md).
        if settings.sample_concatenate_permutation and performance_count > 0:
            return math.ceil(count / performance_count) * performance_count
        return count

    if scenario.one_query:
        # One query: max(min_query_count, 1.1 x min_duration x expected QPS) samples (loadgen-facts.md).
        samples = max(min_queries, math.ceil(1.1 * min_s * getattr(settings, scenario.rate_field)))
        return Plan(scenario.name, "samples", 1, issued(min(samples, max_queries) if max_queries else samples),
                    0.0, False)
    expected = issued(min(min_queries, max_queries) if max_queries else min_queries)
    pct = 100 * getattr(settings, scenario.percentile_field)
    if scenario.hard_bound and token_latencies:
        bounds: Tuple[Bound, ...] = (Bound("TTFT", settings.ttft_latency / 1e9, pct),
                                     Bound("TPOT", settings.tpot_latency / 1e9, pct))
    else:
        bounds = (Bound("", getattr(settings, scenario.latency_field) / 1e9, pct, hard=scenario.hard_bound),)
    return Plan(scenario.name, "queries", scenario.samples_per_query(settings), expected, min_s, min_s > 0, bounds)


# ---- the pure part: estimate and line -----------------------------------------------------------------------
def estimate(p: Plan, done: int, elapsed_s: float) -> Tuple[float, Optional[float]]:
    """(share of the run done, seconds left or None while unknown). The run ends when the count is reached and,
    with a min_duration, when that has passed too: the share is the smaller one, the time left the longer."""
    by_count = min(1.0, done / p.expected) if p.expected else 1.0
    share = min(by_count, elapsed_s / p.min_duration_s) if p.min_duration_s else by_count
    left_for_time = max(0.0, p.min_duration_s - elapsed_s)
    if done >= p.expected:
        left: Optional[float] = left_for_time
    elif done > 0 and elapsed_s > 0:
        left = max(left_for_time, (p.expected - done) * elapsed_s / done)
    else:
        left = None
    return min(1.0, share), left


def clock(seconds: float) -> str:
    """1:05, 12:00, 1:02:03."""
    s = int(round(seconds))
    h, m, s = s // 3600, s // 60 % 60, s % 60
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m}:{s:02d}"


def latency(seconds: float) -> str:
    """2 significant digits (the bins are 4.4% wide), in ms below 10 s: 0.053 ms, 6.4 ms, 12 ms, 430 ms, 12 s."""
    if seconds >= 10:
        return f"{seconds:.0f} s"
    ms = seconds * 1e3
    return f"{ms:.0f} ms" if ms >= 10 else f"{ms:.2g} ms"


def _pct(q: float) -> str:
    return f"p{q:g}"


def latency_text(bound: Bound, measured: Optional[Dict[float, float]]) -> str:
    """'p90 3.1 ms, p99 8.2 ms (p99 bound 15 ms)'; TTFT and TPOT named; '' while nothing was measured."""
    if not measured:
        return ""
    text = ", ".join(f"{_pct(q)} {latency(measured[q])}" for q in sorted(measured))
    if bound.seconds > 0:
        text += f" ({_pct(bound.percentile)} {'bound' if bound.hard else 'target'} {latency(bound.seconds)})"
    return f"{bound.name} {text}" if bound.name else text


def shown_percentiles(bound: Bound) -> Tuple[float, ...]:
    return tuple(sorted({90.0, 99.0, bound.percentile}))


def format_line(p: Plan, done: int, elapsed_s: Optional[float],
                latencies: Sequence[Optional[Dict[float, float]]] = (), final: bool = False) -> str:
    """The progress line. `done` counts units (queries or samples); `elapsed_s` runs from LoadGen's first query
    (None: none yet); `latencies` holds, per bound of the plan, {percentile: seconds} measured so far (None:
    nothing yet). `final`: the test has ended."""
    more = "+" if p.lower_bound else ""          # LoadGen may ask for more: "60000+ queries", "10:00+"
    if elapsed_s is None:
        return f"{p.scenario}: 0 of {p.expected}{more} {p.unit}, waiting for LoadGen's first query"
    if final:
        head = f"{p.scenario}: done, {done} {p.unit} in {clock(elapsed_s)}"
    else:
        share, left = estimate(p, done, elapsed_s)
        if p.min_duration_s:
            head = (f"{p.scenario}: {done} of {p.expected}{more} {p.unit}, {clock(elapsed_s)} of "
                    f"{clock(p.min_duration_s)}{more} ({share:.0%})")
        else:
            head = f"{p.scenario}: {done} of {p.expected}{more} {p.unit} ({share:.0%}), {clock(elapsed_s)} elapsed"
        head += f", ~{clock(left)} left" if left is not None else ", time left not known yet"
    parts = [latency_text(b, m) for b, m in zip(p.bounds, latencies)]
    return ", ".join([head] + [x for x in parts if x])


# ---- the reporting thread -----------------------------------------------------------------------------------
def _in_place_line(stream: IO[str]):
    """A tqdm bar that is only its text. Made before the test (an import holds the GIL for tens of ms: a stall
    mid-test). tqdm draws the line in place and trims it to the terminal's width (a wrapped line could not be
    redrawn), unless the terminal says it has no width (a pseudo-terminal nobody sized: trimmed to nothing, the
    line would vanish); its monitor thread is not needed (the reporting thread redraws); `delay`: nothing is
    drawn, not even by close(), until the reporting thread draws."""
    from tqdm import tqdm

    try:
        sized = os.get_terminal_size(stream.fileno()).columns > 0
    except (AttributeError, ValueError, OSError, io.UnsupportedOperation):
        sized = False
    tqdm.monitor_interval = 0
    return tqdm(total=None, file=stream, bar_format="{desc}", dynamic_ncols=sized, ncols=None if sized else 0,
                leave=True, mininterval=0, miniters=0, delay=1e9)


class Progress:
    """Shows the progress of one test of `sut` (a SUTBase: its `samples` counter and the histograms `attach`
    gives it). start() before StartTest, finish() after it returns, end() on any other way out (idempotent)."""

    def __init__(self, p: Plan, sut, mode: str = "auto", stream: Optional[IO[str]] = None):
        self.plan = p
        self.sut = sut
        self.stream = stream or sys.stdout
        if mode == "auto":
            isatty = getattr(self.stream, "isatty", None)
            mode = "inplace" if isatty and isatty() else "lines"
        self.mode = mode
        self.histograms: List[LatencyHistogram] = [LatencyHistogram() for _ in p.bounds]
        self._write = threading.Lock()        # one writer at a time: the thread, finish() or end()
        self._stop = threading.Event()
        self._thread: Optional[threading.Thread] = None
        self._shown = False                   # a line was written: finish() writes the final state
        self._ended = False
        self._bar = None
        self._last_line_at, self._last_share = 0.0, 0.0

    def attach(self) -> None:
        """Give the SUT the histograms it fills (query latency, or TTFT and TPOT)."""
        for bound, hist in zip(self.plan.bounds, self.histograms):
            setattr(self.sut, {"": "latency", "TTFT": "ttft", "TPOT": "tpot"}[bound.name], hist)

    def start(self) -> None:
        if self.mode == "inplace":
            try:
                self._bar = _in_place_line(self.stream)
            except Exception:   # noqa: BLE001 - e.g. tqdm missing: new lines instead, never a failed run
                self.mode = "lines"
        self._last_line_at = time.monotonic()
        self._thread = threading.Thread(target=self._run, name="progress", daemon=True)
        self._thread.start()

    def finish(self) -> None:
        """The test ended: the final state line (where a line was shown), then nothing more."""
        self._stop_thread()
        self._close(final=True)

    def end(self) -> None:
        """The run is being aborted (or unwinds): the line ends as it stands; safe from any thread."""
        self._stop.set()
        self._close(final=False)

    # ---- internals -------------------------------------------------------------------------------------------
    def _stop_thread(self) -> None:
        self._stop.set()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join()

    def _snapshot(self, final: bool = False) -> Tuple[str, float]:
        # LoadGen's clock starts with its first query, once the samples are loaded.
        first = self.sut.first_query_at
        elapsed = time.monotonic() - first if first is not None else None
        done = self.sut.samples // self.plan.samples_per_unit
        measured = [h.percentiles(shown_percentiles(b)) for b, h in zip(self.plan.bounds, self.histograms)]
        share = estimate(self.plan, done, elapsed)[0] if elapsed is not None else 0.0
        return format_line(self.plan, done, elapsed, measured, final), share

    def _run(self) -> None:
        interval = REFRESH_S if self.mode == "inplace" else LINES_WAKE_S
        try:
            while not self._stop.wait(interval):
                line, share = self._snapshot()
                with self._write:
                    if self._ended:
                        return
                    if self.mode == "inplace":
                        self._draw(line)
                    elif time.monotonic() - self._last_line_at >= LINES_EVERY_S or \
                            share - self._last_share >= LINES_STEP:
                        self._print(line)
                        self._last_line_at, self._last_share = time.monotonic(), share
        except Exception:   # noqa: BLE001 - a progress line must never break a run: it stops, the run goes on
            self._stop.set()

    def _draw(self, line: str) -> None:
        self._bar.set_description_str(line, refresh=True)
        self._shown = True

    def _print(self, line: str) -> None:
        self.stream.write(line + "\n")
        self.stream.flush()
        self._shown = True

    def _close(self, final: bool) -> None:
        # Waits a bounded time for a write in flight (a blocked pipe must not stop an aborting run).
        if not self._write.acquire(timeout=2.0):
            return
        try:
            if self._ended:
                return
            self._ended = True
            line = self._snapshot(final=True)[0] if final and self._shown else None
            if self._bar is not None:
                if self._shown:
                    if line is not None:
                        self._bar.set_description_str(line, refresh=False)
                    self._bar.delay = 0      # close() redraws, then a newline: the line stays, output goes below
                self._bar.close()
            elif line is not None:
                self._print(line)
        except Exception:   # noqa: BLE001 - as in _run
            pass
        finally:
            self._write.release()
