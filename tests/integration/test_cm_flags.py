"""Every flag of the seed does what it says, proven in LoadGen's own logs or in the outputs, through `cmr`; the
flags whose plumbing differs between the tools also through MLCFlow (the `entry` parameter: mlcr, mlc.access)."""
import re
import subprocess
from pathlib import Path

import pytest

from conftest import detail_records, results_of

pytestmark = pytest.mark.cm

TAGS = "reproduce mlperf inference dummy"


def ok(r) -> Path:
    assert r.returncode == 0, r.output[-4000:]
    return Path(r.json["new_env"]["CM_MLPERF_RUN_DIR"])


def command_of(r) -> str:
    """The options CM hands to the harness, as dummy-harness flags (printed by preprocess; the command it runs
    reads them from the run folder's run_options.json)."""
    assert r.returncode == 0, r.output[-3000:]
    return re.search(r"^Options: (.*)$", r.stdout, re.M).group(1)


def test_count_in_accuracy_mode_is_the_number_of_samples_evaluated(cmr, tmp_path):
    run_dir = ok(cmr(f"{TAGS} _resnet50", "--quiet", "--mode=accuracy", "--count=50", f"--output_dir={tmp_path}"))
    assert (run_dir / "accuracy.txt").read_text().startswith("accuracy=100.000%, good=50, total=50")


def test_max_batchsize_beats_the_bs_variation_and_singlestream_defaults_to_1(cmr, tmp_path):
    # Variations separated by spaces: cmr reads "a,b,c.d" (a dot and three commas) as a CM object and refuses it.
    run_dir = ok(cmr(f"{TAGS} _resnet50 _offline _bs.8", "--quiet", "--max_batchsize=4", "--count=64",
                     f"--output_dir={tmp_path}"))
    results = results_of(run_dir)
    assert results["batch_size"] == 4 and results["sut"]["max_batch"] == 4
    assert results["sut"]["batches"] == 16                    # 64 samples in batches of 4
    skip = ("--quiet", "--env.CM_MLPERF_SKIP_RUN=yes", f"--output_dir={tmp_path / 'p'}")
    assert "--max_batchsize=16" in command_of(cmr(f"{TAGS} _resnet50,_bs.16", *skip))
    assert "--max_batchsize=1" in command_of(cmr(f"{TAGS} _resnet50,_singlestream", *skip))
    assert "--max_batchsize=1 " in command_of(cmr(f"{TAGS} _retinanet,_singlestream", *skip)) + " "


@pytest.mark.parametrize("entry", ["cmr", "mlc.access"])
def test_mode_all_runs_accuracy_then_performance_in_two_folders_each_with_its_report(script, tmp_path):
    r = script(f"{TAGS} _resnet50,_singlestream", "--quiet", "--mode=all", "--count=64", "--report=yes",
               f"--output_dir={tmp_path}")
    assert r.returncode == 0, r.output[-3000:]
    sut = r.json["new_env"]["CM_MLPERF_SUT_NAME"]
    entry = r.json["new_state"]["cm-mlperf-inference-results"][sut]["resnet50"]["SingleStream"]
    assert entry["accuracy"] == 100.0 and entry["accuracy_valid"] is True
    assert entry["performance"] > 0 and entry["performance_valid"] is True
    base = tmp_path / sut / "resnet50" / "singlestream"
    acc, perf = results_of(base / "accuracy"), results_of(base / "performance" / "run_1")
    assert acc["mode"] == "accuracy" and perf["mode"] == "performance"
    assert detail_records(base / "accuracy")["effective_test_mode"] == "AccuracyOnly"
    assert detail_records(base / "performance" / "run_1")["effective_test_mode"] == "PerformanceOnly"
    # --report=yes: the harness writes each run's report and says where, one line each.
    assert re.findall(r"^report: (.*)$", r.stdout, re.M) == [str(base / "accuracy" / "report.html"),
                                                            str(base / "performance" / "run_1" / "report.html")]
    assert 'data-chart="latency"' in (base / "performance" / "run_1" / "report.html").read_text()
    assert perf["loadgen_trace"]["enabled"] is True and "loadgen_trace" not in acc


def test_scenario_flag_beats_the_scenario_variation(cmr, tmp_path):
    run_dir = ok(cmr(f"{TAGS} _resnet50,_offline", "--quiet", "--scenario=SingleStream", "--count=64",
                     f"--output_dir={tmp_path}"))
    assert run_dir.parts[-3] == "singlestream"
    assert detail_records(run_dir)["effective_scenario"] == "SingleStream"


def test_offline_target_qps_beats_target_qps(cmr, tmp_path):
    run_dir = ok(cmr(f"{TAGS} _resnet50,_offline", "--quiet", "--target_qps=100", "--offline_target_qps=700",
                     "--count=64", f"--output_dir={tmp_path}"))
    assert detail_records(run_dir)["requested_offline_expected_qps"] == 700
    assert "resnet50.Offline.target_qps = 700" in (run_dir / "user.conf").read_text()


def test_server_target_qps_beats_target_qps(cmr, tmp_path):
    run_dir = ok(cmr(f"{TAGS} _resnet50,_server", "--quiet", "--target_qps=10", "--server_target_qps=200",
                     "--count=500", f"--output_dir={tmp_path}"))
    records = detail_records(run_dir)
    assert records["requested_server_target_qps"] == 200
    assert records["result_scheduled_samples_per_sec"] == pytest.approx(200, rel=0.15)


def test_latency_targets_and_performance_sample_count(cmr, tmp_path):
    run_dir = ok(cmr(f"{TAGS} _resnet50,_singlestream", "--quiet", "--target_latency=3",
                     "--singlestream_target_latency=7", "--performance_sample_count=100", "--count=64",
                     f"--output_dir={tmp_path}"))
    records = detail_records(run_dir)
    assert records["requested_single_stream_expected_latency_ns"] == 7_000_000
    assert records["requested_performance_sample_count_override"] == 100
    assert records["effective_performance_sample_count"] == 100


def test_multistream_target_latency(cmr, tmp_path):
    run_dir = ok(cmr(f"{TAGS} _resnet50,_multistream", "--quiet", "--target_latency=3",
                     "--multistream_target_latency=50", f"--output_dir={tmp_path}"))
    assert detail_records(run_dir)["requested_multi_stream_expected_latency_ns"] == 50_000_000


# --user_conf and --mlperf_conf: test_paths.py runs them (from a folder with a risky name) and checks what they do.


@pytest.mark.parametrize("entry", ["cmr", "mlcr"])
@pytest.mark.parametrize("flag", ["user_conf", "mlperf_conf"])
def test_a_missing_conf_file_is_a_clear_error(script, tmp_path, flag):
    r = script(f"{TAGS} _resnet50", "--quiet", f"--{flag}={tmp_path / 'nope.conf'}", f"--output_dir={tmp_path}")
    assert r.returncode == 1 and r.error.startswith(f"--{flag}=") and "does not exist" in r.error
    assert "Traceback" not in r.output


def test_a_stored_valid_result_is_returned_and_rerun_keeps_it_aside(cmr, tmp_path):
    # (Under mlcr: test_mlcflow.py::test_mlcr_runs_through_the_upstream_runner_and_leaves_cms_tree.)
    args = (f"{TAGS} _resnet50,_singlestream", "--quiet", "--count=64", f"--output_dir={tmp_path}")
    first = cmr(*args)
    run_dir = ok(first)
    stored = results_of(run_dir)
    again = cmr(*args)
    assert again.returncode == 0 and "not repeated" in again.stdout
    assert results_of(run_dir) == stored
    assert again.json["new_env"]["CM_MLPERF_RESULT_VALUE"] == first.json["new_env"]["CM_MLPERF_RESULT_VALUE"]
    rerun = cmr(*args, "--rerun")
    assert rerun.returncode == 0 and "not repeated" not in rerun.stdout
    kept = list(tmp_path.glob("previous_runs/*/*/resnet50/singlestream/performance/run_1/results.json"))
    assert len(kept) == 1 and results_of(kept[0].parent) == stored
    assert results_of(run_dir)["fingerprint"] == stored["fingerprint"]


def test_skip_preprocess_reuses_the_cache_and_never_generates(cmr, tmp_path):
    cache = tmp_path / "cache"
    flags = ("--quiet", "--scenario=SingleStream", "--count=64", f"--dataset_dir={cache}")
    r = cmr(f"{TAGS} _bert-99", *flags, "--skip_preprocess", f"--output_dir={tmp_path / 'a'}", with_dataset_dir=False)
    assert r.returncode != 0 and "no cached dataset" in r.output and "Traceback" not in r.output
    assert not cache.exists() or not any(cache.iterdir())
    ok(cmr(f"{TAGS} _bert-99", *flags, f"--output_dir={tmp_path / 'b'}", with_dataset_dir=False))
    run_dir = ok(cmr(f"{TAGS} _bert-99", *flags, "--skip_preprocessing", f"--output_dir={tmp_path / 'c'}",
                     with_dataset_dir=False))
    assert results_of(run_dir)["dataset"]["reused"] is True


@pytest.mark.parametrize("entry", ["cmr", "mlcr"])
def test_results_repo_plugs_a_vendor_backend_in(script, tmp_path):
    repo = tmp_path / "vendor"
    repo.mkdir()
    (repo / "dummy_harness_backend.py").write_text(
        "from dummy_harness.backends.pytorch import PyTorchBackend\n\n\n"
        "class Backend(PyTorchBackend):\n    name = 'vendor-demo'\n")
    git = ["git", "-C", str(repo), "-c", "user.email=ci@example.com", "-c", "user.name=ci"]
    subprocess.run(["git", "init", "-q", str(repo)], check=True)
    subprocess.run(git + ["add", "-A"], check=True)
    subprocess.run(git + ["commit", "-qm", "vendor backend"], check=True)
    r = script(f"{TAGS} _resnet50,_singlestream", "--quiet", "--count=64", f"--results_repo=file://{repo}",
               f"--output_dir={tmp_path / 'o'}")
    run_dir = ok(r)
    checkout = Path(r.json["new_env"]["CM_MLPERF_INFERENCE_IMPLEMENTATION_REPO"])
    assert (checkout / "dummy_harness_backend.py").is_file() and checkout != repo
    backend = results_of(run_dir)["backend"]
    assert backend["backend"] == "vendor-demo" and backend["plugin"] == str(checkout / "dummy_harness_backend.py")


@pytest.mark.parametrize("entry", ["cmr", "mlcr"])
def test_run_style_flag_and_env_reach_the_harness(script, tmp_path):
    skip = ("--quiet", "--env.CM_MLPERF_SKIP_RUN=yes", f"--output_dir={tmp_path}")
    assert "--run_style=fast" in command_of(script(f"{TAGS} _resnet50", "--run_style=fast", *skip))
    assert "--run_style=valid" in command_of(script(f"{TAGS} _resnet50", "--env.CM_MLPERF_RUN_STYLE=valid", *skip))
    assert "--run_style" not in command_of(script(f"{TAGS} _resnet50", *skip))    # test is the default


@pytest.mark.parametrize("variation,dtype_key", [("resnet50", "CM_IMAGENET_ACCURACY_DTYPE"),
                                                 ("bert-99", "CM_SQUAD_ACCURACY_DTYPE")])
def test_new_env_keys_the_seed_promises_are_filled(cmr, tmp_path, variation, dtype_key):
    r = cmr(f"{TAGS} _{variation},_singlestream", "--quiet", "--count=64", f"--output_dir={tmp_path}")
    ok(r)
    env = r.json["new_env"]
    for key in ("CM_MLPERF_RUN_DIR", "CM_MLPERF_RESULT_VALUE", "CM_MLPERF_RESULT_UNIT", "CM_MLPERF_RESULT_VALID",
                "CM_MLPERF_SUT_NAME", "CM_MLPERF_LOADGEN_SCENARIO", "CM_MLPERF_DEVICE", "CM_DATASET_PATH",
                "CM_DATASET_SIZE", "CM_HW_NAME", "CM_ML_MODEL_NAME", "CM_ML_MODEL_PRECISION", "CM_MAX_EXAMPLES",
                dtype_key):
        assert env.get(key) not in (None, ""), key
    assert env["CM_MLPERF_SUT_NAME"].startswith(env["CM_HW_NAME"] + "-dummy_harness-")


@pytest.mark.parametrize("entry", ["cmr", "mlcr"])
def test_without_output_dir_results_go_to_test_results_where_the_command_ran(script, tmp_path):
    # The runner starts the harness inside the run folder; the default must still be the caller's ./test_results.
    run_dir = ok(script(f"{TAGS} _resnet50,_null", "--quiet", "--count=32"))
    assert run_dir.parents[4] == tmp_path / "test_results"          # <base>/<sut>/resnet50/offline/performance/run_1
    assert results_of(run_dir)["valid"] is True
