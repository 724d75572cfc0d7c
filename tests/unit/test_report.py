"""Reading LoadGen's detail log: results, percentiles, and error records that make a VALID run fail."""
import json

from dummy_harness.report import invalid_reason, latency_ms, parse_detail_log, performance_result


def write_log(path, records):
    with open(path, "w") as f:
        for key, value, is_error in records:
            rec = {"key": key, "value": value, "metadata": {"is_error": is_error, "is_warning": False}}
            f.write(":::MLLOG " + json.dumps(rec) + "\n")


def test_offline_result_and_percentiles(tmp_path):
    path = tmp_path / "mlperf_log_detail.txt"
    write_log(path, [("result_validity", "VALID", False), ("result_samples_per_second", 512.5, False),
                     ("result_90.00_percentile_latency_ns", 2_000_000, False)])
    log = parse_detail_log(str(path))
    assert performance_result("Offline", log)["value"] == 512.5
    assert latency_ms(log)["p90"] == 2.0
    assert log.errors == [] and invalid_reason(log) is None


def test_error_records_are_collected_even_when_valid(tmp_path):
    path = tmp_path / "mlperf_log_detail.txt"
    write_log(path, [("error_runtime", "Ending early", True), ("result_validity", "VALID", False)])
    log = parse_detail_log(str(path))
    assert log.errors == ["error_runtime: Ending early"]


def test_singlestream_uses_the_early_stopping_estimate_in_ms(tmp_path):
    path = tmp_path / "mlperf_log_detail.txt"
    write_log(path, [("early_stopping_latency_ss", 4_500_000, False),
                     ("result_90.00_percentile_latency_ns", 4_000_000, False)])
    assert performance_result("SingleStream", parse_detail_log(str(path)))["value"] == 4.5


def test_invalid_reason_comes_from_loadgen_flags(tmp_path):
    path = tmp_path / "mlperf_log_detail.txt"
    write_log(path, [("result_validity", "INVALID", False), ("early_stopping_met", False, False),
                     ("early_stopping_result", " * Run unsuccessful.", False)])
    assert "early stopping not met" in invalid_reason(parse_detail_log(str(path)))
