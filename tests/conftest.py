"""Shared fixtures: a fresh CM_REPOS with this repository registered, a shared dataset cache, and helpers that
drive the project the way users do (cmr in a subprocess with stdin closed, the console script)."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, List, Optional

import pytest

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent


@dataclass
class Completed:
    returncode: int
    stdout: str
    stderr: str
    json: Optional[Dict[str, Any]]

    @property
    def output(self) -> str:
        return self.stdout + self.stderr


@pytest.fixture(scope="session")
def work(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("work")


@pytest.fixture(scope="session")
def dataset_dir(work) -> Path:
    path = work / "datasets"
    path.mkdir()
    return path


@pytest.fixture(scope="session")
def cm_env(work) -> Dict[str, str]:
    """Environment of a CM user with a fresh CM_REPOS holding only this repository (and cmx4mlops)."""
    env = dict(os.environ)
    env["CM_REPOS"] = str(work / "CM")
    env["PYTHONUNBUFFERED"] = "1"
    subprocess.run([sys.executable, "-m", "dummy_harness.cm_repo"], env=env, check=True,
                   stdin=subprocess.DEVNULL, capture_output=True, timeout=300)
    return env


@pytest.fixture
def cmr(cm_env, tmp_path, dataset_dir):
    """cmr "<tags>" <flags...> in a subprocess, stdin closed, --save_to_json; cwd = a fresh folder."""
    def run(tags: str, *flags: str, timeout: int = 240, with_dataset_dir: bool = True) -> Completed:
        out_json = tmp_path / f"cm-out-{len(list(tmp_path.glob('cm-out-*')))}.json"
        args = [str(BIN / "cmr"), tags, *flags, f"--save_to_json={out_json}"]
        if with_dataset_dir:
            args.append(f"--dataset_dir={dataset_dir}")
        p = subprocess.run(args, env=cm_env, cwd=tmp_path, stdin=subprocess.DEVNULL, capture_output=True,
                           text=True, timeout=timeout)
        data = json.loads(out_json.read_text()) if out_json.exists() else None
        return Completed(p.returncode, p.stdout, p.stderr, data)
    return run


@pytest.fixture
def harness(tmp_path, dataset_dir):
    """The console script `dummy-harness <args...>`."""
    def run(*args: str, timeout: int = 240) -> Completed:
        p = subprocess.run([str(BIN / "dummy-harness"), *args, f"--dataset_dir={dataset_dir}"], cwd=tmp_path,
                           stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=timeout)
        return Completed(p.returncode, p.stdout, p.stderr, None)
    return run


def skip_if_host_stole_cpu(results: Dict[str, Any], limit_s: float = 0.3) -> None:
    """A latency-bound run can only be judged on a machine that had its cores: when the host took more than
    `limit_s` of CPU during an INVALID run (the harness records /proc/stat 'steal' over the run), skip, saying
    so, instead of failing."""
    stolen = results.get("host_cpu_stolen_s")
    if results.get("validity") == "INVALID" and stolen is not None and stolen > limit_s:
        pytest.skip(f"the host stole {stolen:.1f} s of CPU during the run (noisy VM): latency cannot be judged")


def results_of(run_dir: str) -> Dict[str, Any]:
    return json.loads((Path(run_dir) / "results.json").read_text())


def detail_records(run_dir: str) -> Dict[str, Any]:
    records = {}
    for line in (Path(run_dir) / "mlperf_log_detail.txt").read_text().splitlines():
        if line.startswith(":::MLLOG "):
            rec = json.loads(line[len(":::MLLOG "):])
            records[rec["key"]] = rec["value"]
    return records


def evaluate_with_shuffled_responses(run_dir: Path, work: Path, seed: int) -> subprocess.CompletedProcess:
    """Copy an accuracy run, give each sample another sample's response, and score it with the project's
    evaluator (dummy_harness.evaluate): what a SUT that mixed responses up would have produced."""
    import random
    import shutil

    shuffled = work / "shuffled"
    shutil.copytree(run_dir, shuffled)
    log = json.loads((shuffled / "mlperf_log_accuracy.json").read_text())
    data = [e["data"] for e in log]
    random.Random(seed).shuffle(data)
    for e, d in zip(log, data):
        e["data"] = d
    (shuffled / "mlperf_log_accuracy.json").write_text(json.dumps(log))
    # In process (what `python -m dummy_harness.evaluate DIR` runs): a subprocess would import torch again.
    import contextlib
    import io

    from dummy_harness import evaluate

    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = evaluate.main([str(shuffled)])
    return subprocess.CompletedProcess(["python", "-m", "dummy_harness.evaluate", str(shuffled)], code,
                                       out.getvalue(), err.getvalue())


def only_run_dir(base: Path, scenario: str, mode: str = "performance") -> Path:
    leaf = "performance/run_1" if mode == "performance" else "accuracy"
    found: List[Path] = list(base.glob(f"*/*/{scenario.lower()}/{leaf}"))
    assert len(found) == 1, f"expected one run folder under {base}, found {found}"
    return found[0]
