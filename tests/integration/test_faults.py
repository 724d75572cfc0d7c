"""Faults: a model that raises mid-run, one that hangs, Ctrl-C/SIGTERM, two runs into one folder. The run
ends promptly with a non-zero exit and its reason, keeps its logs, and never answers LoadGen with made-up data."""
import json
import signal
import subprocess
import time
from pathlib import Path

import numpy as np

from conftest import dummy_harness, only_run_dir, results_of, start_dummy_harness

def faulty_backend(name: str, on_batch: int, fault: str) -> str:
    """Source of a backend plug-in that does `fault` on its `on_batch`-th batch after load (warm-up excluded)."""
    return f"""
import time

from dummy_harness.backends.pytorch import PyTorchBackend


class Backend(PyTorchBackend):
    name = "{name}"
    calls = 0
    loaded = False

    def load(self, *args):
        super().load(*args)          # its warm-up predicts do not count
        self.loaded = True

    def predict(self, inputs):
        self.calls += self.loaded
        if self.calls == {on_batch}:
            {fault}
        return super().predict(inputs)
"""


FAILING = faulty_backend("fails-on-batch-3", 3, 'raise RuntimeError("injected failure on batch 3")')
HANGING = faulty_backend("hangs-on-batch-2", 2, "time.sleep(3600)")


def waiting_backend(go: Path) -> str:
    """A backend whose first batch under LoadGen (submit: the predicts that size the run are not held) waits until
    the file `go` exists: the run holds its folder for as long as the test needs, however slowly another process
    starts."""
    return f"""
import os
import time

from dummy_harness.backends.pytorch import PyTorchBackend


class Backend(PyTorchBackend):
    name = "waits-for-go"

    def submit(self, inputs):
        while not os.path.exists({str(go)!r}):
            time.sleep(0.05)
        return super().submit(inputs)
"""


def plugin(tmp_path: Path, source: str) -> Path:
    repo = tmp_path / "vendor"
    repo.mkdir()
    (repo / "dummy_harness_backend.py").write_text(source)
    return repo


def logged_entries(run_dir: Path):
    """Entries of an accuracy log a killed LoadGen may have left without its closing bracket."""
    text = (run_dir / "mlperf_log_accuracy.json").read_text().strip().rstrip(",")
    if not text.endswith("]"):
        text += "]"
    return json.loads(text) if text != "]" else []


def test_a_model_failing_mid_run_ends_the_run_without_made_up_answers(harness, tmp_path, dataset_dir):
    out = tmp_path / "o"
    r = harness("--mode=accuracy", "--max_batchsize=8", f"--implementation_repo={plugin(tmp_path, FAILING)}",
                f"--output_dir={out}")
    assert r.returncode == 4, r.output[-3000:]
    assert r.stderr.strip().splitlines()[-1].startswith(
        "error: run failed: RuntimeError on a batch of 8 samples: injected failure on batch 3")
    assert "Traceback" not in r.output
    run_dir = only_run_dir(out, "Offline", "accuracy")
    results = results_of(run_dir)
    assert results["status"] == "failed" and "injected failure" in results["failure"] and not results["valid"]
    labels = np.load(next(Path(dataset_dir).glob("resnet50-small-n256-*")) / "labels.npy")
    entries = logged_entries(run_dir)
    assert len(entries) <= 16                         # only the two batches that really ran were answered
    for e in entries:                                 # and every answer is the model's
        assert int(np.frombuffer(bytes.fromhex(e["data"]), np.float32)[0]) == labels[e["qsl_idx"]]


def test_a_hanging_model_is_ended_by_the_watchdog(harness, tmp_path):
    out = tmp_path / "o"
    start = time.monotonic()
    # --threads=1: no pool-size choice before the test, whose timed predicts would hang outside the watchdog's watch.
    r = harness("--scenario=SingleStream", "--watchdog_s=3", "--threads=1",
                f"--implementation_repo={plugin(tmp_path, HANGING)}", f"--output_dir={out}", timeout=120)
    assert r.returncode == 5, r.output[-3000:]
    assert time.monotonic() - start < 60
    assert "watchdog: no response for" in r.stderr.strip().splitlines()[-1]
    results = results_of(only_run_dir(out, "SingleStream"))
    assert results["status"] == "failed" and results["failure"].startswith("watchdog")


def start_server_run(tmp_path: Path, dataset_dir, out: Path, *extra: str) -> subprocess.Popen:
    return start_dummy_harness("--scenario=Server", f"--output_dir={out}", f"--dataset_dir={dataset_dir}", *extra,
                               cwd=tmp_path)


def wait_for_loadgen(out: Path, deadline_s: float = 120) -> Path:
    end = time.monotonic() + deadline_s
    while time.monotonic() < end:
        found = list(out.glob("*/*/server/performance/run_1/mlperf_log_detail.txt"))
        if found:
            return found[0].parent
        time.sleep(0.2)
    raise AssertionError("LoadGen never started")


def test_sigterm_stops_promptly_keeps_logs_and_is_not_mistaken_for_a_result(harness, tmp_path, dataset_dir):
    out = tmp_path / "o"
    proc = start_server_run(tmp_path, dataset_dir, out)
    run_dir = wait_for_loadgen(out)
    time.sleep(1.0)
    proc.send_signal(signal.SIGTERM)
    stopped = time.monotonic()
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == 130 and time.monotonic() - stopped < 5
    assert "run interrupted: stopped by SIGTERM" in err
    results = results_of(run_dir)
    assert results["status"] == "interrupted" and not results["valid"]
    assert (run_dir / "mlperf_log_detail.txt").stat().st_size > 0

    # The next run in that folder runs (nothing to reuse) and keeps the interrupted one aside.
    again = harness("--scenario=Server", "--count=500", "--server_target_qps=200", f"--output_dir={out}")
    assert again.returncode == 0 and "not repeated" not in again.stdout
    kept = list(out.glob("previous_runs/*/*/resnet50/server/performance/run_1/results.json"))
    assert len(kept) == 1 and json.loads(kept[0].read_text())["status"] == "interrupted"


def test_two_runs_into_one_folder_do_not_mix(tmp_path, dataset_dir):
    out, go = tmp_path / "o", tmp_path / "go"
    first = start_server_run(tmp_path, dataset_dir, out, "--count=500", "--server_target_qps=100",
                             f"--implementation_repo={plugin(tmp_path, waiting_backend(go))}")
    try:
        wait_for_loadgen(out)                      # the first run holds the folder until `go` exists
        second = dummy_harness("--scenario=Server", f"--output_dir={out}", f"--dataset_dir={dataset_dir}",
                               cwd=tmp_path, timeout=120)
    except BaseException:
        first.kill()                               # no run outlives its test
        raise
    finally:
        go.touch()
    assert second.returncode == 3
    assert f"another run (pid {first.pid}) is writing" in second.stderr
    first.communicate(timeout=120)
    assert first.returncode == 0
    results = results_of(only_run_dir(out, "Server"))     # (VALID or not: its first batch waited)
    assert results["status"] == "ok" and results["error_count"] == 0 and results["sut"]["samples"] == 500


def test_interrupt_of_the_cli_with_ctrl_c(tmp_path, dataset_dir):
    out = tmp_path / "o"
    proc = start_server_run(tmp_path, dataset_dir, out)
    run_dir = wait_for_loadgen(out)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == 130 and "stopped by SIGINT" in err
    assert results_of(run_dir)["status"] == "interrupted"
