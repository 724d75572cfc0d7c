"""The harness without CM: `dummy-harness` with the CM script's flags."""
import os
from pathlib import Path

import pytest

from conftest import only_run_dir, results_of


def test_console_script_runs_and_prints_a_table(harness, tmp_path):
    out = tmp_path / "o"
    r = harness("--scenario=SingleStream", "--count=64", f"--output_dir={out}")
    assert r.returncode == 0, r.output[-3000:]
    run_dir = only_run_dir(out, "SingleStream")
    results = results_of(run_dir)
    assert results["valid"] is True and results["result"]["unit"] == "ms" and results["result"]["value"] > 0
    assert "resnet50   SingleStream  performance" in r.stdout
    assert f"run folder: {run_dir}" in r.stdout


def test_bad_input_is_one_line_and_exit_2(harness, tmp_path):
    r = harness("--scenario=Foo", f"--output_dir={tmp_path / 'o'}")
    assert r.returncode == 2
    assert r.stderr.strip().splitlines() == [
        "error: --scenario='Foo' is not accepted; use one of: Offline, Server, Interactive, SingleStream, MultiStream"]
    assert not (tmp_path / "o").exists()


def test_a_stored_valid_result_is_reused_and_rerun_keeps_the_old_one(harness, tmp_path):
    out = tmp_path / "o"
    args = ("--scenario=SingleStream", "--count=64", f"--output_dir={out}")
    assert harness(*args).returncode == 0
    first = results_of(only_run_dir(out, "SingleStream"))

    again = harness(*args)
    assert again.returncode == 0 and "not repeated" in again.stdout
    assert results_of(only_run_dir(out, "SingleStream")) == first

    rerun = harness(*args, "--rerun")
    assert rerun.returncode == 0
    kept = list(out.glob("previous_runs/*/*/resnet50/singlestream/performance/run_1/results.json"))
    assert len(kept) == 1 and Path(kept[0]).read_text() and results_of(kept[0].parent) == first


def test_a_loadgen_error_record_fails_the_run_even_when_valid(harness, tmp_path):
    # A Server max_query_count makes LoadGen log "Ending early" as an error while the summary says VALID.
    conf = tmp_path / "user.conf"
    conf.write_text("resnet50.Server.min_duration = 0\nresnet50.Server.min_query_count = 500\n"
                    "resnet50.Server.max_query_count = 500\nresnet50.Server.target_qps = 200\n")
    out = tmp_path / "o"
    r = harness("--scenario=Server", f"--user_conf={conf}", f"--output_dir={out}")
    assert r.returncode == 1, r.output[-2000:]
    results = results_of(only_run_dir(out, "Server"))
    assert results["error_count"] >= 1 and results["status"] == "failed" and results["valid"] is False
    assert "Ending early" in r.stderr


@pytest.mark.alone      # needs every core: scripts/test.sh's parallel pass keeps each worker to one
@pytest.mark.parametrize("model", ["resnet50", "gptj-99"])     # a predict; a prompt generated to the end
def test_a_latency_scenario_times_the_torch_pools_and_runs_with_the_fastest(harness, tmp_path, model):
    cores = len(os.sched_getaffinity(0))
    if cores < 2:
        pytest.skip("one usable core: there is no pool size to choose")
    out = tmp_path / "o"
    r = harness(f"--model={model}", "--scenario=SingleStream", "--count=64", f"--output_dir={out}")
    assert r.returncode == 0, r.output[-3000:]
    results = results_of(only_run_dir(out, "SingleStream"))
    choice = results["thread_choice"]
    assert choice["batch"] == 1 and set(choice["predict_ms"]) == {str(n) for n in {1, cores // 2, cores - 1, cores}}
    assert results["threads"]["torch_threads_per_compute_thread"] == choice["torch_threads"]
    fastest = min(choice["predict_ms"].values())
    assert choice["predict_ms"][str(choice["torch_threads"])] <= 1.05 * fastest

    pinned = harness(f"--model={model}", "--scenario=SingleStream", "--count=64", "--threads=2", "--rerun",
                     f"--output_dir={out}")
    assert pinned.returncode == 0
    results = results_of(only_run_dir(out, "SingleStream"))
    assert "thread_choice" not in results and results["threads"]["torch_threads_per_compute_thread"] == 2
