"""The progress line's pure parts: what LoadGen will ask for (from real TestSettings), the estimate of time
left, the line itself, the latency histogram; and the line's ending, on a terminal and not, fed by the SUT's
own counter (SUTBase) as in a run."""
import io
import re
import time

import numpy as np
import pytest

from dummy_harness.loadgen import progress as P
from dummy_harness.loadgen.settings import explicit as settings
from dummy_harness.executors.base import ExecutionPlan, Executor
from dummy_harness.loadgen.sut import SUT


def test_the_plan_is_what_loadgen_will_ask_for():
    # A valid-style Server run: at least min_query_count queries, and at least min_duration.
    server = P.plan(settings("Server", min_query_count=270336, min_duration_ms=600000,
                             server_target_latency_ns=15_000_000, server_target_latency_percentile=0.99),
                    "Server", 1024, 1024, accuracy=False)
    assert (server.unit, server.expected, server.min_duration_s, server.lower_bound) == ("queries", 270336, 600, True)
    assert server.bounds == (P.Bound("", 0.015, 99.0),)
    # Offline: one query of max(min_query_count, 1.1 x min_duration x expected QPS) samples, exactly.
    offline = P.plan(settings("Offline", min_query_count=1, min_duration_ms=600000, offline_expected_qps=1000),
                     "Offline", 1024, 1024, accuracy=False)
    assert (offline.unit, offline.expected, offline.lower_bound, offline.bounds) == ("samples", 660000, False, ())
    # A test-style run ends with its count; MultiStream counts queries of 8 samples against its target latency.
    multi = P.plan(settings("MultiStream", min_query_count=662, min_duration_ms=0, multi_stream_samples_per_query=8,
                            multi_stream_expected_latency_ns=2_000_000, multi_stream_target_latency_percentile=0.99),
                   "MultiStream", 1024, 1024, accuracy=False)
    assert (multi.expected, multi.samples_per_unit, multi.lower_bound) == (662, 8, False)
    assert multi.bounds == (P.Bound("", 0.002, 99.0, hard=False),)
    # Accuracy mode: every QSL sample once. Equal issue (LLMs): rounded up to a multiple of the loaded samples.
    assert P.plan(settings("Server", min_query_count=100), "Server", 300, 64, accuracy=True).expected == 300
    llm = P.plan(settings("Server", min_query_count=40, min_duration_ms=0, sample_concatenate_permutation=True,
                          ttft_latency=2_000_000_000, tpot_latency=200_000_000, server_target_latency_percentile=0.99),
                 "Server", 64, 64, accuracy=False, token_latencies=True)
    assert llm.expected == 64 and [b.name for b in llm.bounds] == ["TTFT", "TPOT"]


def test_time_left_is_the_later_of_the_count_and_the_duration():
    p = P.Plan("Server", "queries", 1, 1000, 600.0, True)
    assert P.estimate(p, 500, 60.0) == (0.1, 540.0)           # the duration decides
    assert P.estimate(p, 100, 540.0) == (0.1, 4860.0)         # the count decides: 900 more at 100 per 540 s
    assert P.estimate(p, 0, 10.0) == (0.0, None)              # nothing answered yet: no rate, no estimate
    assert P.estimate(P.Plan("Offline", "samples", 1, 1000, 0.0, False), 0, 5.0) == (0.0, None)
    assert P.estimate(P.Plan("Offline", "samples", 1, 1000, 0.0, False), 1200, 5.0) == (1.0, 0.0)


def test_the_line_says_done_of_expected_elapsed_left_and_the_latencies_against_the_bound():
    bound = P.Bound("", 0.015, 99.0)
    server = P.Plan("Server", "queries", 1, 60000, 600.0, True, (bound,))
    measured = [{90.0: 0.0031, 99.0: 0.0082}]
    assert P.format_line(server, 12000, 120.0, measured) == (
        "Server: 12000 of 60000+ queries, 2:00 of 10:00+ (20%), ~8:00 left, p90 3.1 ms, p99 8.2 ms (p99 bound 15 ms)")
    assert P.format_line(server, 61234, 602.0, measured, final=True) == (
        "Server: done, 61234 queries in 10:02, p90 3.1 ms, p99 8.2 ms (p99 bound 15 ms)")
    assert P.format_line(server, 0, None, [None]) == "Server: 0 of 60000+ queries, waiting for LoadGen's first query"
    offline = P.Plan("Offline", "samples", 1, 1024000, 0.0, False)
    assert P.format_line(offline, 51200, 12.0) == "Offline: 51200 of 1024000 samples (5%), 0:12 elapsed, ~3:48 left"
    tokens = P.Plan("Server", "queries", 1, 64, 0.0, False, (P.Bound("TTFT", 2.0, 99.0), P.Bound("TPOT", 0.2, 99.0)))
    assert P.format_line(tokens, 0, 1.0, [None, None]) == \
        "Server: 0 of 64 queries (0%), 0:01 elapsed, time left not known yet"
    assert P.format_line(tokens, 32, 3725.0, [{90.0: 1.2, 99.0: 12.0}, {90.0: 0.04, 99.0: 0.000053}]).endswith(
        "1:02:05 elapsed, ~1:02:05 left, TTFT p90 1200 ms, p99 12 s (p99 bound 2000 ms), "
        "TPOT p90 40 ms, p99 0.053 ms (p99 bound 200 ms)")


def test_histogram_percentiles_are_within_a_bin_of_the_exact_ones():
    rng = np.random.default_rng(0)
    latencies = rng.lognormal(np.log(0.004), 0.6, 20000)
    hist = P.LatencyHistogram()
    for x in latencies:
        hist.add(float(x))
    hist.add(0.0)                                               # a zero reading is counted, not an error
    got = hist.percentiles((90.0, 99.0))
    for q in (90.0, 99.0):
        assert got[q] == pytest.approx(np.percentile(latencies, q), rel=0.045)
    weighted = P.LatencyHistogram()
    weighted.add(0.001, 95)
    weighted.add(0.100, 5)
    assert weighted.percentiles((90.0, 99.0))[90.0] < 0.0011 < 0.095 < weighted.percentiles((99.0,))[99.0]
    assert P.LatencyHistogram().percentiles((99.0,)) is None


class Idle(Executor):
    """Takes queries and computes nothing: the test stands in for the answers."""
    name, queued = "idle", True

    def issue(self, work):
        pass


def answered(sut: SUT, count: int) -> None:
    with sut._lock:
        sut.samples += count


def running(mode: str):
    """A progress line fed by the SUT's own counters, 25 of 100 queries answered at 3 ms, shown until it has drawn
    or printed once."""
    plan = P.Plan("Server", "queries", 1, 100, 0.0, False, (P.Bound("", 0.015, 99.0),))
    sut = SUT(Idle(ExecutionPlan(None, 1)))
    stream = io.StringIO()
    progress = P.Progress(plan, sut, mode, stream)
    progress.attach()
    progress.start()
    sut.issue(list(range(25)), list(range(25)))
    sut.latency.add(0.003, 25)
    answered(sut, 25)
    deadline = time.monotonic() + 10
    while not stream.getvalue() and time.monotonic() < deadline:
        time.sleep(0.05)
    return progress, sut, stream


LINE = re.compile(r"Server: 25 of 100 queries \(25%\), 0:0\d elapsed, ~0:\d\d left, p90 2\.9 ms, p99 2\.9 ms "
                  r"\(p99 bound 15 ms\)")


def test_on_a_terminal_the_line_is_redrawn_in_place_and_an_abort_ends_it_as_it_stands():
    progress, sut, stream = running("inplace")
    progress.end()                                              # as the session does before an abort message
    text = stream.getvalue()
    assert text.startswith("\rServer: 25 of 100") and text.endswith("\n") and text.count("\n") == 1
    assert all(LINE.fullmatch(draw.strip()) for draw in text.split("\r") if draw.strip())
    answered(sut, 75)
    time.sleep(2 * P.REFRESH_S)
    progress.finish()
    assert stream.getvalue() == text                           # nothing after the end


def test_not_on_a_terminal_lines_are_printed_and_the_test_ends_with_a_final_line():
    progress, sut, stream = running("lines")
    answered(sut, 75)
    progress.finish()
    lines = stream.getvalue().splitlines()
    assert LINE.fullmatch(lines[0])
    assert re.fullmatch(r"Server: done, 100 queries in 0:0\d, p90 2\.9 ms, p99 2\.9 ms \(p99 bound 15 ms\)", lines[-1])
