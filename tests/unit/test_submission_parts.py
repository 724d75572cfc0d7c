"""The pure parts of a submission: options, seeds, hashing and truncation, the system description, reading the
official checker's log and the compliance scripts' verdicts."""
import ast
import dataclasses
import hashlib
import json
from pathlib import Path

import pytest

from dummy_harness import catalogue, options
from dummy_harness.config import ConfigError, parse_options
from dummy_harness.cli import make_parser
from dummy_harness.results import PerformanceResult, Results
from dummy_harness.submission import checker, compliance, rounds, system, tree

from conftest import inference_src

INFERENCE = inference_src("v5.0")


def test_a_submission_defaults_to_official_length_runs_of_both_modes_with_the_round_seeds(tmp_path):
    cfg = parse_options({"submission_dir": str(tmp_path), "submitter": "Org"})
    assert (cfg.run_style, cfg.mode, cfg.submission_round, cfg.division) == ("valid", "all", "v6.1", "open")
    assert parse_options({"submission_dir": str(tmp_path), "submitter": "Org", "run_style": "test"}).run_style \
        == "test"


def test_submission_options_round_trip_through_the_cli(tmp_path):
    # The CM adapter and the submission's sub-runs both pass a configuration on as CLI arguments.
    cfg = parse_options({"submission_dir": str(tmp_path), "submitter": "Org", "run_style": "test",
                         "inference_src": str(tmp_path)})
    args = make_parser().parse_args(cfg.to_argv())
    assert parse_options({k: v for k, v in vars(args).items() if v is not None}) == cfg


@pytest.mark.parametrize("raw,needle", [
    ({"division": "closed"}, "closed is refused: the stand-ins are not the reference models"),
    ({"submission_dir": "S"}, "--submission_dir needs --submitter"),
    ({"submission_dir": "S", "submitter": "my org"}, "--submitter='my org' is not accepted"),
    ({"submission_dir": "S", "submitter": "Org", "mlperf_conf": "/etc/hostname"}, "--mlperf_conf"),
    ({"compliance_test": "TEST01"}, "--compliance_test=TEST01 needs --inference_src"),
    ({"compliance_test": "TEST02", "inference_src": "/"}, "--compliance_test='TEST02' is not accepted"),
    ({"submission_round": "v4.1"}, "--submission_round='v4.1' is not accepted; use one of: v5.0, v5.1, v6.0, v6.1"),
    ({"model": "gptj-99", "submission_round": "v6.1"},
     "MLPerf Inference v6.1 has no gptj-99 benchmark; use --submission_round=v5.0"),
    ({"model": "retinanet", "submission_round": "v6.1"},
     "MLPerf Inference v6.1 has no retinanet benchmark; use --submission_round=v5.0 or v5.1 or v6.0"),
    ({"inference_src": "/no/such/folder"}, "is not a folder"),
])
def test_bad_submission_options_give_one_line(raw, needle):
    with pytest.raises(ConfigError) as err:
        parse_options(raw)
    assert needle in str(err.value) and "\n" not in str(err.value)


def test_compliance_runs_have_their_own_folder(tmp_path):
    cfg = parse_options({"output_dir": str(tmp_path), "compliance_test": "TEST04", "inference_src": str(tmp_path),
                         "hw_name": "box"})
    assert cfg.run_dir == str(tmp_path / "box-dummy_harness-cpu-pytorch-float32/resnet50/offline/TEST04")
    assert cfg.fingerprint()["compliance_test"] == "TEST04"


def test_round_seeds_reach_loadgen_settings():
    from dummy_harness.loadgen.settings import official, set_round_seeds

    settings = official("resnet50", "Offline")
    embedded = settings.qsl_rng_seed
    shown = set_round_seeds(settings, "v5.0")
    assert settings.qsl_rng_seed == 6023615788873153749 != embedded
    assert settings.sample_index_rng_seed == 15036839855038426416
    assert settings.schedule_rng_seed == 9933818062894767841
    assert shown["round"] == "v5.0" and shown["qsl_rng_seed"] == settings.qsl_rng_seed


def test_accuracy_logs_are_hashed_whole_then_truncated_to_their_ends(tmp_path):
    log = tmp_path / "mlperf_log_accuracy.json"
    entries = [{"seq_id": i, "qsl_idx": i, "data": f"{i:08X}"} for i in range(3000)]
    text = json.dumps(entries)
    log.write_text(text)
    (tmp_path / "accuracy.txt").write_text("accuracy=100.000%, good=3000, total=3000\n")
    facts = tree.hash_and_truncate(str(tmp_path))
    kept = log.read_bytes()
    assert facts["sha256"] == hashlib.sha256(text.encode()).hexdigest()
    assert len(kept) <= tree.MAX_ACCURACY_LOG_SIZE
    assert kept.startswith(text[:4096].encode()) and kept.endswith(text[-4096:].encode())
    assert f"hash={facts['sha256']}" in (tmp_path / "accuracy.txt").read_text().splitlines()


def test_a_small_accuracy_log_is_hashed_and_kept_whole(tmp_path):
    (tmp_path / "mlperf_log_accuracy.json").write_text("[]")
    (tmp_path / "accuracy.txt").write_text("accuracy=0\n")
    facts = tree.hash_and_truncate(str(tmp_path))
    assert (tmp_path / "mlperf_log_accuracy.json").read_text() == "[]" and facts["kept_bytes"] == 2


def _checker_list(name):
    """A list the official checker defines (read from its source, not imported: it configures logging)."""
    source = INFERENCE / "tools" / "submission" / "submission_checker.py"
    if not source.is_file():
        pytest.skip(f"{source} is absent: the official checker's field lists cannot be compared")
    for node in ast.parse(source.read_text()).body:
        if isinstance(node, ast.Assign) and getattr(node.targets[0], "id", None) == name:
            return ast.literal_eval(node.value)
    raise AssertionError(f"{name} not found in {source}")


def test_the_system_description_has_every_field_the_checker_requires(tmp_path):
    desc = system.describe("open", "Org", "box-dummy_harness-cpu-pytorch-float32", "cpu", str(tmp_path))
    required = _checker_list("SYSTEM_DESC_REQUIRED_FIELDS")
    meaningful = _checker_list("SYSTEM_DESC_MEANINGFUL_RESPONSE_REQUIRED_FIELDS")
    assert set(required) <= set(desc) and list(system.REQUIRED_FIELDS) == required
    for key in meaningful:
        assert isinstance(desc[key], str) and desc[key].strip(), f"{key} must be a non-empty string"
    assert desc["system_type"] == "datacenter,edge" and desc["status"] in ("available", "preview", "rdi")
    assert desc["host_processor_core_count"].isdigit()


def test_a_user_file_overrides_system_fields(tmp_path):
    desc = system.describe("open", "Org", "box", "cpu", str(tmp_path),
                           {"cooling": "liquid", "status": "available", "extra_note": "kept"})
    assert desc["cooling"] == "liquid" and desc["status"] == "available" and desc["extra_note"] == "kept"


def test_measurement_files_name_every_field_the_checker_requires(tmp_path):
    cfg = parse_options({"submission_dir": str(tmp_path), "submitter": "Org", "precision": "fp16"})
    data = tree.measurements_json(cfg, "float16")
    for key in _checker_list("SYSTEM_IMP_REQUIRED_FILES"):
        assert isinstance(data[key], str) and data[key]
    assert data["weight_data_types"] == "fp16"


CHECKER_LOG = """\
[2026-11-29 21:26:50,075 log_parser.py:59 INFO] Sucessfully loaded MLPerf log from open/O/results/x/mlperf_log_detail.txt.
[2026-11-29 21:26:50,077 submission_checker.py:1437 ERROR] open/O/results/s/resnet50/Offline/performance/run_1/mlperf_log_detail.txt performance_sample_count, found 256, needs to be >= 1024
[2026-11-29 21:26:50,078 submission_checker.py:1544 ERROR] open/O/results/s/resnet50/Offline/performance/run_1/mlperf_log_detail.txt Required minimum samples per query not met by user config, Expected=24576, Found=1024
[2026-11-29 21:26:50,078 submission_checker.py:1556 ERROR] open/O/results/s/resnet50/Offline/performance/run_1/mlperf_log_detail.txt Test duration less than 600s in user config. expected=600000, found=0
[2026-11-29 21:26:50,078 submission_checker.py:2555 ERROR] open/O/results/s/resnet50/Offline/performance/run_1 has issues
[2026-11-29 21:26:50,078 submission_checker.py:3172 ERROR] NoResults open/O/results/s/resnet50/Offline
[2026-11-29 21:26:50,078 submission_checker.py:1401 ERROR] open/O/results/s/resnet50/Offline/performance/run_1/mlperf_log_detail.txt qsl_rng_seed is wrong, expected=6023615788873153749, found=2085463073848966840
[2026-11-29 21:26:50,078 submission_checker.py:3305 ERROR] SUMMARY: submission has errors
"""


def test_the_checker_log_is_read_into_errors_and_its_summary():
    result = checker.parse_log(CHECKER_LOG)
    assert result.summary == "SUMMARY: submission has errors" and not result.passed
    assert len(result.errors) == 6
    # A short run explains five of them; a wrong seed is never a run-length matter.
    assert [e for e in result.unexpected_errors(short_run=True)] == [result.errors[-1]]
    assert result.unexpected_errors(short_run=False) == result.errors
    # The latency scenarios' short-run error, as checker v5.0 words it (submission_checker.py line 1535).
    server = checker.parse_log("[2026-11-29 21:26:50,078 submission_checker.py:1535 ERROR] x/mlperf_log_detail.txt "
                               "Required minimum Query Count not met by user config, Expected=270336, Found=2000\n")
    assert server.errors and server.unexpected_errors(short_run=True) == []
    assert checker.parse_log("[2026-11-29 21:26:50,078 submission_checker.py:3305 INFO] SUMMARY: submission "
                             "looks OK\n").passed


def test_compliance_verdicts_are_read_as_the_official_scripts_print_them():
    out = "First token check pass: Skipped\nEOS check pass: True\nSample length check pass: False\n"
    assert compliance.parse_checks(out) == {"EOS": True, "Sample length": False}
    assert compliance.tests_for("v5.0", "resnet50") == ["TEST01", "TEST04"]
    assert compliance.tests_for("v5.0", "gptj-99") == []
    assert compliance.tests_for("v6.1", "llama2-70b-99.9") == ["TEST06"]


@pytest.mark.parametrize("model,newest", [("resnet50", "v6.1"), ("bert-99.9", "v6.1"), ("llama2-70b-99.9", "v6.1"),
                                          ("retinanet", "v6.0"), ("llama2-70b-99", "v6.0"), ("gptj-99", "v5.0")])
def test_a_submission_defaults_to_the_newest_round_that_has_the_benchmark(tmp_path, model, newest):
    cfg = parse_options({"submission_dir": str(tmp_path), "submitter": "Org", "model": model})
    assert cfg.submission_round == newest == rounds.default_round(model)


def test_every_round_has_its_own_seeds_checker_and_source():
    seeds = {r.seeds for r in rounds.ROUNDS.values()}
    assert len(seeds) == len(rounds.ROUNDS)
    assert rounds.get("v6.1").seeds.qsl_rng_seed == 2085463073848966840
    for r in rounds.ROUNDS.values():
        assert r.checker.version == r.name and r.source.startswith("mlcommons/inference ")
        assert r.layout == ("v5.0" if r.name.startswith("v5") else "v6.0")


@pytest.mark.parametrize("round_name", list(rounds.ROUNDS))
def test_audit_configs_are_found_in_each_rounds_checkout(tmp_path, round_name):
    source = inference_src(round_name)
    if not source.is_dir():
        pytest.skip(f"{source} is absent")
    with pytest.raises(compliance.ComplianceError, match="does not exist"):
        compliance.audit_config(str(tmp_path), "TEST06", "llama2-70b", round_name)
    for model, benchmark in rounds.get(round_name).benchmarks.items():
        for test in benchmark.compliance:
            key = catalogue.get(model).loadgen_key
            found = Path(compliance.audit_config(str(source), test, key, round_name))
            assert found.is_file() and found.is_relative_to(source / Path(*rounds.get(round_name).compliance_root))
            per_benchmark = test in rounds.AUDIT_FOLDER     # compliance/<TEST>/<benchmark>/audit.config
            assert (found.parent.parent if per_benchmark else found.parent).joinpath("run_verification.py").is_file()


def test_every_benchmark_a_round_lists_is_in_the_catalogue_and_every_catalogue_benchmark_in_a_round():
    listed = {model for r in rounds.ROUNDS.values() for model in r.benchmarks}
    assert listed == set(catalogue.CATALOGUE)
    for r in rounds.ROUNDS.values():
        for model, benchmark in r.benchmarks.items():
            assert set(benchmark.compliance) <= set(options.COMPLIANCE_TESTS), (r.name, model)
            assert set(benchmark.scenarios[rounds.BOTH]) >= set(benchmark.scenarios.get(rounds.EDGE, ())), model


@pytest.mark.parametrize("model,have,tests", [
    ("llama3.1-8b", ("v5.1", "v6.0", "v6.1"), {"v5.1": ["TEST06"], "v6.1": ["TEST06"]}),
    ("llama3.1-8b-edge", ("v5.1", "v6.0", "v6.1"), {"v5.1": [], "v6.1": []}),
    ("deepseek-r1", ("v5.1", "v6.0", "v6.1"), {"v5.1": ["TEST06"], "v6.0": ["TEST06"]}),
    ("whisper", ("v5.1", "v6.0", "v6.1"), {"v5.1": ["TEST01"], "v6.0": [], "v6.1": ["TEST01"]}),
    ("gpt-oss-120b", ("v6.0", "v6.1"), {"v6.0": ["TEST07", "TEST09"], "v6.1": ["TEST07", "TEST09"]}),
    ("yolo-95", ("v6.0", "v6.1"), {"v6.1": ["TEST01"]}),
    ("yolo-99", ("v6.0", "v6.1"), {"v6.0": ["TEST01"]}),
])
def test_the_new_benchmarks_are_in_the_rounds_that_have_them(model, have, tests):
    assert rounds.with_benchmark(model) == have and rounds.default_round(model) == "v6.1"
    for round_name, expected in tests.items():
        assert compliance.tests_for(round_name, model) == expected
    for round_name in set(rounds.ROUNDS) - set(have):
        assert rounds.refusal(round_name, model) == (f"MLPerf Inference {round_name} has no {model} benchmark; use "
                                                    f"--submission_round={' or '.join(have)}")


def test_an_offline_run_too_short_for_its_estimate_is_run_again_at_its_own_rate(tmp_path):
    from dummy_harness.submission.make import _offline_retry

    perf = parse_options({"run_style": "valid", "output_dir": str(tmp_path)})
    stored = Results.from_json(json.loads((Path(__file__).parent / "data" / "results" / "performance.json")
                                          .read_text()))
    short = dataclasses.replace(stored, invalid_reason="min duration not met", validity="INVALID",
                                result=PerformanceResult("samples_per_second", "samples/s", 1865.0),
                                loadgen_settings={"targets": {"target_qps": 1401.66, "estimated": True}})
    again = _offline_retry(perf, short)
    assert again.target_qps == pytest.approx(1865 * 1.05) and again.run_dir == perf.run_dir
    # Not for a user's own target, another reason, a test-style run or a latency scenario.
    assert _offline_retry(perf, dataclasses.replace(short, loadgen_settings={"targets": {"estimated": False}})) is None
    assert _offline_retry(perf, dataclasses.replace(short, invalid_reason="min duration not met; early stopping")) \
        is None
    assert _offline_retry(parse_options({"output_dir": str(tmp_path)}), short) is None
    assert _offline_retry(parse_options({"run_style": "valid", "scenario": "Server"}), short) is None
