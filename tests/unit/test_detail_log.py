"""Reading LoadGen's detail log: results, percentiles, and error records that make a VALID run fail."""
import json

from dummy_harness.loadgen.detail_log import parse_detail_log


def write_log(path, records):
    with open(path, "w") as f:
        f.write("a line LoadGen does not prefix is skipped\n")
        for key, value, is_error in records:
            rec = {"key": key, "value": value, "metadata": {"is_error": is_error, "is_warning": False}}
            f.write(":::MLLOG " + json.dumps(rec) + "\n")


def test_offline_result_and_percentiles(tmp_path):
    path = tmp_path / "mlperf_log_detail.txt"
    write_log(path, [("result_validity", "VALID", False), ("result_samples_per_second", 512.5, False),
                     ("result_90.00_percentile_latency_ns", 2_000_000, False)])
    log = parse_detail_log(str(path))
    assert log.figure_of_merit("Offline") == ("samples_per_second", "samples/s", 512.5, {})
    assert log.latency_ms()["p90"] == 2.0
    assert log.errors == [] and log.invalid_reason() is None and log.valid


def test_a_run_folder_is_read_like_its_log(tmp_path):
    write_log(tmp_path / "mlperf_log_detail.txt", [("effective_scenario", "Server", False)])
    assert parse_detail_log(str(tmp_path)).settings_used() == {"scenario": "Server"}


def test_error_records_are_collected_even_when_valid(tmp_path):
    path = tmp_path / "mlperf_log_detail.txt"
    write_log(path, [("error_runtime", "Ending early", True), ("result_validity", "VALID", False)])
    log = parse_detail_log(str(path))
    assert log.errors == ["error_runtime: Ending early"]
    assert log.validity == "VALID" and not log.valid


def test_an_unreadable_record_is_an_error(tmp_path):
    path = tmp_path / "mlperf_log_detail.txt"
    path.write_text(':::MLLOG {"key": "result_validity", "value": "VALID"}\n:::MLLOG {"key": trunc\n')
    log = parse_detail_log(str(path))
    assert len(log.errors) == 1 and log.errors[0].startswith("unreadable detail-log line") and not log.valid


def test_singlestream_uses_the_early_stopping_estimate_in_ms(tmp_path):
    path = tmp_path / "mlperf_log_detail.txt"
    write_log(path, [("early_stopping_latency_ss", 4_500_000, False),
                     ("result_90.00_percentile_latency_ns", 4_000_000, False)])
    assert parse_detail_log(str(path)).figure_of_merit("SingleStream")[2] == 4.5


def test_token_figures_are_kept_beside_the_figure_of_merit(tmp_path):
    path = tmp_path / "mlperf_log_detail.txt"
    write_log(path, [("result_completed_samples_per_sec", 20.0, False),
                     ("result_completed_tokens_per_second", 300.0, False),
                     ("result_first_token_99.00_percentile_latency_ns", 5_000_000, False)])
    log = parse_detail_log(str(path))
    assert log.figure_of_merit("Server") == ("completed_samples_per_second", "samples/s", 20.0,
                                             {"completed_tokens_per_second": 300.0})
    assert log.token_latencies_ms() == {"ttft": {"p99": 5.0}}


def test_invalid_reason_comes_from_loadgen_flags(tmp_path):
    path = tmp_path / "mlperf_log_detail.txt"
    write_log(path, [("result_validity", "INVALID", False), ("early_stopping_met", False, False),
                     ("early_stopping_result", " * Run unsuccessful.", False)])
    assert "early stopping not met" in parse_detail_log(str(path)).invalid_reason()
