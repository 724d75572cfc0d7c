"""The user.conf the harness writes: run style first, flags after, official values untouched otherwise."""
import pytest

from dummy_harness.config import parse_options
from dummy_harness.config import ConfigError, check_conf_file
from dummy_harness.loadgen.settings import Official, Targets, render_user_conf
from dummy_harness.tuning import targets as default_targets

OFFICIAL = Official(min_duration_ms=600000, min_query_count=24576, performance_sample_count=1024,
                    server_target_latency_ms=15.0)


def lines(text):
    return [line for line in text.splitlines() if not line.startswith("#")]


def test_test_style_offline_is_short_and_bounded():
    cfg = parse_options({})
    conf = lines(render_user_conf(cfg, OFFICIAL, Targets()))
    assert conf == ["resnet50.Offline.performance_sample_count_override = 256",
                    "resnet50.Offline.min_duration = 0",
                    "resnet50.Offline.min_query_count = 1024",
                    "resnet50.Offline.max_query_count = 1024"]


def test_test_style_server_has_no_max_query_count_and_a_target():
    cfg = parse_options({"scenario": "Server"})
    conf = lines(render_user_conf(cfg, OFFICIAL, default_targets(cfg, None, None)))
    assert "resnet50.Server.min_query_count = 2000" in conf
    assert not any("max_query_count" in line for line in conf)
    assert "resnet50.Server.target_qps = 100" in conf


def test_test_style_interactive_takes_the_benchmarks_interactive_qps_where_it_has_one():
    server = parse_options({"model": "gpt-oss-120b", "scenario": "Server"})
    interactive = parse_options({"model": "gpt-oss-120b", "scenario": "Interactive"})
    assert default_targets(server, None, None).target_qps == 8.0
    assert default_targets(interactive, None, None).target_qps == 4.0      # a 15 ms TPOT bound, not 80
    llama2 = parse_options({"model": "llama2-70b-99", "scenario": "Interactive"})
    assert default_targets(llama2, None, None).target_qps == 50.0          # none of its own: Server's


def test_count_and_targets_from_flags():
    cfg = parse_options({"scenario": "SingleStream", "count": "80", "singlestream_target_latency": "3.5"})
    conf = lines(render_user_conf(cfg, OFFICIAL, default_targets(cfg, None, None)))
    assert "resnet50.SingleStream.min_query_count = 80" in conf
    assert conf[-1] == "resnet50.SingleStream.target_latency = 3.5"


def test_valid_style_keeps_official_durations():
    cfg = parse_options({"run_style": "valid", "dataset_size": "1024", "target_qps": "100"})
    conf = lines(render_user_conf(cfg, OFFICIAL, default_targets(cfg, None, None)))
    assert conf == ["resnet50.Offline.target_qps = 100"]


def test_fast_style_divides_official_duration_by_five():
    cfg = parse_options({"run_style": "fast", "scenario": "MultiStream", "dataset_size": "1024"})
    conf = lines(render_user_conf(cfg, OFFICIAL, Targets()))
    assert "resnet50.MultiStream.min_duration = 120000" in conf


def test_estimates_fill_missing_targets_outside_test_style():
    cfg = parse_options({"run_style": "valid", "scenario": "Server"})
    targets = default_targets(cfg, estimate_qps=200.0, estimate_latency_ms=None)
    assert targets.target_qps == 100.0 and targets.estimated


def test_offline_estimate_is_raised_so_the_query_outlasts_min_duration():
    # LoadGen sizes the Offline query from target_qps: an estimate below the sustained rate ends INVALID.
    cfg = parse_options({"run_style": "valid", "scenario": "Offline"})
    targets = default_targets(cfg, estimate_qps=800.0, estimate_latency_ms=None)
    assert targets.target_qps > 800.0 and targets.estimated


def test_conf_files_are_checked_before_loadgen(tmp_path):
    good = tmp_path / "good.conf"
    good.write_text("# comment\nresnet50.Offline.target_qps = 10\n*.Server.target_latency = 15 # ms\n\n")
    check_conf_file(str(good), "user_conf")
    bad = tmp_path / "bad.conf"
    bad.write_text("resnet50.Offline.target_qps = ten\n")
    with pytest.raises(ConfigError, match="line 1"):
        check_conf_file(str(bad), "user_conf")
    with pytest.raises(ConfigError, match="cannot be read"):
        check_conf_file(str(tmp_path / "missing.conf"), "user_conf")
