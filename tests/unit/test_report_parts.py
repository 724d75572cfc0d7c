"""The report's pure parts: when LoadGen's trace is turned on, LoadGen's percentile rule, and charts whose images
carry every series they name (the end-to-end report of real runs: tests/integration/test_report.py)."""
import io

import numpy as np
import pytest

from dummy_harness.loadgen.settings import explicit as settings
from dummy_harness.loadgen.trace import MAX_SAMPLES, Trace, expected_samples, percentile, trace_plan
from dummy_harness.report import draw
from dummy_harness.report.views import Chart, Mark, Series, cdf, nice_width, throughput_chart, trace_note
from dummy_harness.results import PerformanceResult, Results


def test_the_trace_is_on_for_short_runs_and_off_where_it_would_be_huge():
    short = settings("Offline", min_duration_ms=0, min_query_count=1024, offline_expected_qps=100)
    assert trace_plan(short, "Offline")["enabled"] is True
    # A valid-style Offline run of a fast SUT: 1.1 x 600 s x 5,000 samples/s = 3.3 M samples, about 0.9 GB.
    valid = settings("Offline", min_duration_ms=600_000, min_query_count=1, offline_expected_qps=5000)
    plan = trace_plan(valid, "Offline")
    assert plan["enabled"] is False and plan["expected_samples"] == 3_300_000 and plan["expected_mb"] == 924.0
    server = settings("Server", min_duration_ms=600_000, min_query_count=270_336, server_target_qps=100)
    assert expected_samples(server, "Server") == 270_336 and trace_plan(server, "Server")["enabled"]
    multi = settings("MultiStream", min_duration_ms=600_000, min_query_count=662, multi_stream_samples_per_query=8,
                     multi_stream_expected_latency_ns=1_000_000)
    assert expected_samples(multi, "MultiStream") == 600_000 * 8 > MAX_SAMPLES
    single = settings("SingleStream", min_duration_ms=600_000, min_query_count=1024,
                      single_stream_expected_latency_ns=1_000_000)
    assert expected_samples(single, "SingleStream") == 600_000 and trace_plan(single, "SingleStream")["expected_mb"] \
        == 384.0                                    # 640 bytes a SingleStream sample, against 320 for MultiStream


def test_a_run_without_trace_says_so_in_one_line_and_why():
    results = Results("resnet50", "resnet50", "Offline", "performance", "valid", "cpu", "float32", "small", 32, "s",
                      "/nowhere", "ok", True, {}, [])
    assert "run it with --report=yes" in trace_note(results, None)
    results.loadgen_trace = {"enabled": False, "expected_samples": 3_300_000, "max_samples": MAX_SAMPLES,
                             "expected_mb": 924.0}
    note = trace_note(results, None)
    assert "3,300,000 samples" in note and "924 MB" in note and "\n" not in note


def test_percentiles_follow_loadgens_rule():
    # LoadGen reports the sorted value at floor(p x n) (checked against its detail log on real runs).
    values = np.arange(1, 65)[::-1]
    assert percentile(values, 0.5) == 33 and percentile(values, 0.99) == 64 and percentile(values, 0.9) == 58


def test_the_completions_chart_counts_every_sample_once():
    scheduled = np.linspace(0, 2.0, 401)
    trace = Trace(scheduled, np.full(401, 5_000_000), np.arange(401), np.empty(0))
    results = Results("resnet50", "resnet50", "Server", "performance", "test", "cpu", "float32", "small", 8, "s",
                      "/nowhere", "ok", True, {}, [])
    results.result = PerformanceResult("completed_samples_per_second", "samples/s", 200.0)
    chart = throughput_chart(results, trace)
    completed, arrived = chart.series
    width = np.diff(completed.x)[0]
    assert width == nice_width(2.005) == 0.05
    assert round(sum(completed.y) * width) == 401 and round(sum(arrived.y) * width) == 401
    assert chart.labels == ["completed samples/s", "scheduled samples/s", "LoadGen's result 200 samples/s"]


def chart() -> Chart:
    x, y = cdf(np.random.default_rng(0).gamma(2.0, 2.0, 5000))
    return Chart("latency", "Latency distribution", "latency (ms)", "fraction of samples",
                 [Series("latency, LoadGen trace (5,000 samples)", x, y),
                  Series("LoadGen's percentiles", [1.0, 3.0, 8.0], [0.0, 0.5, 1.0], "steps")],
                 [Mark("p99 = 13.3 ms", 13.3), Mark("bound 15 ms", 15.0, kind="bound")])


def test_a_figure_draws_every_series_and_mark_and_the_png_decodes():
    from matplotlib.image import imread

    c = chart()
    fig = draw.figure(c)
    (ax,) = fig.axes
    assert ax.get_legend_handles_labels()[1] == c.labels
    lines = {line.get_label(): line for line in ax.get_lines()}
    assert len(lines[c.series[0].label].get_xdata()) == len(c.series[0].x) == 2000
    assert list(lines[c.labels[-1]].get_xdata()) == [15.0, 15.0]          # the bound, a vertical line
    image = imread(io.BytesIO(draw.png(c)), format="png")
    assert image.shape[:2] == (round(draw.HEIGHT_IN * draw.DPI), round(draw.WIDTH_IN * draw.DPI))
    assert image.std() > 0.05                                              # not a blank canvas


def test_the_comparison_names_one_bar_per_run():
    c = Chart("comparison-throughput", "Samples/s by run", "samples/s", "",
              [Series("throughput (samples/s)", [591.3, 48.2], ["resnet50 Offline", "llama2-70b-99 Server"], "barh")])
    (ax,) = draw.figure(c).axes
    assert [t.get_text() for t in ax.get_yticklabels()] == ["resnet50 Offline", "llama2-70b-99 Server"]
    assert [round(p.get_width(), 1) for p in ax.patches] == [591.3, 48.2]


@pytest.mark.parametrize("span,width", [(0.004, 0.001), (1.6, 0.05), (11.0, 0.5), (660.0, 20.0)])
def test_throughput_intervals_are_round_numbers(span, width):
    assert nice_width(span) == pytest.approx(width)
