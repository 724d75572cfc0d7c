"""Shared fixtures: a fresh CM_REPOS and MLC_REPOS with this repository registered, a shared dataset cache, and
helpers that drive the project the way users do: the script through one of its four entry points (`cmr` and
`mlcr` in a subprocess with stdin closed, `cmind.access` and `mlc.access` in process), the console script."""
from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, List, Optional

import pytest

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent

# The script's entry points: CM's CLI and Python API, MLCFlow's CLI and Python API. A test that takes the
# `script` fixture runs under `cmr` unless it parametrizes `entry`:
#   @pytest.mark.parametrize("entry", ENTRY_POINTS)
ENTRY_POINTS = ("cmr", "cmind.access", "mlcr", "mlc.access")
MLC_ENTRY_POINTS = ("mlcr", "mlc.access")

# MLCFlow ships no scripts: the upstream ones this script reaches offline (detect-os, detect-cpu,
# benchmark-program(-mlperf), save-mlperf-inference-implementation-state, get-git-repo, pull-git-repo) come from
# a copy of github.com/mlcommons/mlperf-automations: $MLPERF_AUTOMATIONS_PATH, else the one CI keeps beside the
# checkout (../shared/third_party/mlperf-automations).
AUTOMATIONS_ENV = "MLPERF_AUTOMATIONS_PATH"
AUTOMATIONS_BESIDE = ROOT.parent / "shared" / "third_party" / "mlperf-automations"


# mlcommons/inference's submission tools and compliance tests per round (../shared/third_party, see its README):
# v5.0.1 checks v5.0, v5.1.1 checks v5.1, master after the v6.1 seeds checks v6.0 and v6.1.
INFERENCE_COPIES = ROOT.parent / "shared" / "third_party"
INFERENCE_FOR_ROUND = {"v5.0": "mlperf-inference", "v5.1": "mlperf-inference-v5.1.1", "v6.0": "mlperf-inference-v6.1",
                       "v6.1": "mlperf-inference-v6.1"}


def inference_src(round_name: str) -> Path:
    """The checkout of mlcommons/inference a round's submission is checked with ($MLPERF_INFERENCE_SRC_<round>
    with the dots dropped, e.g. MLPERF_INFERENCE_SRC_V61, or the copy beside the checkout)."""
    variable = "MLPERF_INFERENCE_SRC_" + round_name.upper().replace(".", "")
    return Path(os.environ.get(variable) or INFERENCE_COPIES / INFERENCE_FOR_ROUND[round_name])


def mlperf_automations() -> Path:
    return Path(os.environ.get(AUTOMATIONS_ENV) or AUTOMATIONS_BESIDE)


def mlc_unavailable() -> Optional[str]:
    """Why the MLCFlow entry points cannot run here, or None."""
    import importlib.util

    if importlib.util.find_spec("mlc") is None:
        return "MLCFlow is not installed (pip install mlcflow; scripts/setup-env.sh does)"
    path = mlperf_automations()
    if not (path / "meta.yaml").is_file() or not (path / "script" / "benchmark-program-mlperf").is_dir():
        return (f"no copy of mlcommons/mlperf-automations at {path} (set {AUTOMATIONS_ENV} to one, or run "
                f"`mlc pull repo mlcommons@mlperf-automations` online)")
    return None


def run_tree(args, timeout: int, **kwargs) -> subprocess.CompletedProcess:
    """subprocess.run in a process group of its own, stdin closed, output captured as text: on a timeout the
    whole tree is killed (cmr -> bash -> the harness), not cmr alone, so no run outlives its test."""
    import signal

    with subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          text=True, start_new_session=True, **kwargs) as proc:
        try:
            out, err = proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.communicate()
            raise
    return subprocess.CompletedProcess(args, proc.returncode, out, err)


@dataclass
class Completed:
    returncode: int
    stdout: str
    stderr: str
    json: Optional[Dict[str, Any]]
    entry: str = "cmr"
    raw_error: Optional[str] = None      # the API's error (cmind: r['error']; mlc: the ScriptExecutionError)

    @property
    def output(self) -> str:
        return self.stdout + self.stderr

    @property
    def error(self) -> str:
        """The error as each entry point reports it, without the tool's wrapping: cmr `CM error: <msg>!`,
        cmind.access `{'return': 1, 'error': <msg>}`, mlcr a log record `Error during 'script' action: Script run
        execution failed in .../module.py.` + `Error : <msg>`, mlc.access ScriptExecutionError('... \nError : <msg>')."""
        assert self.returncode != 0, f"{self.entry} succeeded: {self.output[-2000:]}"
        if self.entry == "cmr":
            found = re.search(r"^CM error: (.*?)!?\s*\Z", self.output, re.M | re.S)
            assert found, self.output[-2000:]
            return found.group(1)
        if self.entry == "mlcr":
            # The message runs from `Error : ` to the next log record (a line starting with "[").
            found = re.search(r"^Error : (.*?)\s*(?=^\[|\Z)", self.stderr, re.M | re.S)
            assert found, self.output[-2000:]
            return found.group(1)
        assert self.raw_error is not None, self.output[-2000:]
        return self.raw_error.split("\nError : ", 1)[-1].strip() if self.entry == "mlc.access" else self.raw_error

    @property
    def ran_dependency(self) -> bool:
        """Whether CM or MLCFlow started the first dependency (detect,os), as its CLI logs it."""
        assert self.entry in ("cmr", "mlcr"), "only the CLIs log their dependencies"
        return bool(re.search(r'cm run script "detect os"|mlcr detect,os', self.output))


def pytest_configure(config):
    """Under pytest-xdist (scripts/test.sh's parallel pass) each worker, and every run it starts, keeps to a core of
    its own: the harness sizes its torch pool by the cores it may use (run.usable_cores), so two workers' runs
    never put two OpenMP teams of every core on the same cores."""
    worker = os.environ.get("PYTEST_XDIST_WORKER", "")
    if worker.startswith("gw") and hasattr(os, "sched_setaffinity"):
        cores = sorted(os.sched_getaffinity(0))
        os.sched_setaffinity(0, {cores[int(worker[2:]) % len(cores)]})
    _keep_out_of_the_user_cache(config)


def _keep_out_of_the_user_cache(config) -> None:
    """No test writes into the user's cache (~/.cache): what the harness and the tools keep there (datasets and
    fitted stand-ins by default, the CM flag cache, pip's and matplotlib's) goes under the run's shared dataset
    cache (TEST_DATASET_DIR) or a temporary folder removed at the end. Every process a test starts inherits it."""
    import shutil
    import tempfile

    if os.environ.get("TEST_DATASET_DIR"):
        path = os.path.join(os.environ["TEST_DATASET_DIR"], "user-cache")
        os.makedirs(path, exist_ok=True)
    else:
        path = tempfile.mkdtemp(prefix="dummy-harness-test-cache-")
        config.add_cleanup(lambda: shutil.rmtree(path, ignore_errors=True))
    os.environ["XDG_CACHE_HOME"] = path


@pytest.fixture(scope="session")
def work(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("work")


@pytest.fixture(scope="session")
def dataset_dir(work, tmp_path_factory) -> Path:
    """One dataset cache for the run. Under pytest-xdist (scripts/test.sh) the workers share it, in the run's
    base folder above theirs: the harness writes a dataset into a temporary folder and renames it into place,
    so two workers making the same one at once both end up reading one whole copy. scripts/test.sh names one for
    all its passes (TEST_DATASET_DIR), so datasets and fitted stand-ins are made once per test run."""
    if os.environ.get("TEST_DATASET_DIR"):
        path = Path(os.environ["TEST_DATASET_DIR"])
        path.mkdir(parents=True, exist_ok=True)
        return path
    base = tmp_path_factory.getbasetemp()
    path = (base.parent if os.environ.get("PYTEST_XDIST_WORKER") else work) / "datasets"
    path.mkdir(exist_ok=True)
    return path


@pytest.fixture(scope="session")
def cm_env(work) -> Dict[str, str]:
    """Environment of a CM and MLCFlow user with a fresh CM_REPOS (this repository and cmx4mlops) and a fresh
    MLC_REPOS (this repository and the copy of mlperf-automations), both registered by the one command users run."""
    env = dict(os.environ)
    env["CM_REPOS"] = str(work / "CM")
    env["MLC_REPOS"] = str(work / "MLC" / "repos")
    env["PYTHONUNBUFFERED"] = "1"
    register = [sys.executable, "-m", "dummy_harness.cm_repo"]
    register += ["--tool=cm"] if mlc_unavailable() else [f"--mlperf_automations={mlperf_automations()}"]
    subprocess.run(register, env=env, cwd=work, check=True, stdin=subprocess.DEVNULL, capture_output=True,
                   timeout=300)
    return env


def _tag_list(tags: str) -> str:
    """`reproduce mlperf inference dummy _a,_b` -> `reproduce,mlperf,inference,dummy,_a,_b`: mlcr takes tags
    only comma-separated (a space starts another argument), the APIs take them so."""
    return ",".join(t for t in re.split(r"[\s,]+", tags.strip()) if t)


def _request(entry: str, tags: str, flags) -> Dict[str, Any]:
    """CLI flags as the CLIs turn them into an API request: --k=v -> {k: 'v'}, --k -> {k: True},
    --a.b=v -> {a: {b: 'v'}}."""
    request: Dict[str, Any] = {"action": "run", "automation" if entry == "cmind.access" else "target": "script",
                               "tags": _tag_list(tags)}
    for flag in flags:
        key, sep, value = flag[2:].partition("=")
        node = request
        *parents, leaf = key.split(".")
        for part in parents:
            node = node.setdefault(part, {})
        node[leaf] = value if sep else True
    return request


def _json_logged(stderr: str) -> Optional[Dict[str, Any]]:
    """The result `mlcr -j` logs as the record `... INFO ] - {` + indented JSON + `}`."""
    found = re.findall(r"\] - (\{\n.*?\n\})$", stderr, re.M | re.S)
    return json.loads(found[-1]) if found else None


_mlc_module = None


def _import_mlc(env: Dict[str, str], work: Path):
    """`import mlc` once per session, with the session's MLC_REPOS (read at import) and its log (opened in the
    current folder at import) in the work folder."""
    global _mlc_module
    if _mlc_module is None:
        cwd, old = os.getcwd(), os.environ.get("MLC_REPOS")
        os.environ["MLC_REPOS"] = env["MLC_REPOS"]
        os.chdir(work)
        try:
            import mlc
        finally:
            os.chdir(cwd)
            if old is None:
                del os.environ["MLC_REPOS"]
            else:
                os.environ["MLC_REPOS"] = old
        _mlc_module = mlc
    return _mlc_module


class ScriptRunner:
    """The script through one entry point, called like the CLI: run("<tags>", "--flag=value", ...) -> Completed.
    CLIs run in a subprocess (stdin closed, cwd a fresh folder, JSON through --save_to_json or -j); the APIs in
    process with the same request the CLI would make (values stay strings), their output captured by capfd."""

    def __init__(self, entry: str, env: Dict[str, str], cwd: Path, dataset_dir: Path, work: Path, monkeypatch,
                 capfd):
        self.entry, self.env, self.cwd, self.dataset_dir, self.work = entry, env, cwd, dataset_dir, work
        self.monkeypatch, self.capfd = monkeypatch, capfd

    def __call__(self, tags: str, *flags: str, timeout: int = 240, with_dataset_dir: bool = True) -> Completed:
        if with_dataset_dir:
            flags = (*flags, f"--dataset_dir={self.dataset_dir}")
        if self.entry in ("cmr", "mlcr"):
            return self._cli(tags, flags, timeout)
        return self._api(tags, flags)

    def _cli(self, tags: str, flags, timeout: int) -> Completed:
        if self.entry == "cmr":
            out_json = self.cwd / f"cm-out-{len(list(self.cwd.glob('cm-out-*')))}.json"
            args = [str(BIN / "cmr"), tags, *flags, f"--save_to_json={out_json}"]
        else:
            out_json = None
            args = [str(BIN / "mlcr"), _tag_list(tags), *flags, "-j"]
        p = run_tree(args, timeout, env=self.env, cwd=self.cwd)
        if out_json is not None:
            data = json.loads(out_json.read_text()) if out_json.exists() else None
        else:
            data = _json_logged(p.stderr) if p.returncode == 0 else None
        return Completed(p.returncode, p.stdout, p.stderr, data, self.entry)

    def _api(self, tags: str, flags) -> Completed:
        return self.request(_request(self.entry, tags, flags))

    def request(self, request: Dict[str, Any]) -> Completed:
        """One in-process call of cmind.access or mlc.access with this request (values keep their Python type)."""
        assert self.entry in ("cmind.access", "mlc.access"), self.entry
        for key in ("CM_REPOS", "MLC_REPOS"):
            self.monkeypatch.setenv(key, self.env[key])
        self.monkeypatch.chdir(self.cwd)
        self.capfd.readouterr()
        if self.entry == "cmind.access":
            import cmind
            r = cmind.access(request)
        else:
            mlc = _import_mlc(self.env, self.work)
            from mlc.script_action import ScriptExecutionError
            try:
                r = mlc.access(request)
            except ScriptExecutionError as exc:      # MLCFlow raises a script's error instead of returning it
                r = {"return": 1, "error": str(exc)}
        out, err = self.capfd.readouterr()
        ok = r["return"] == 0
        return Completed(0 if ok else 1, out, err, r if ok else None, self.entry, None if ok else r["error"])


@pytest.fixture
def entry() -> str:
    """The entry point `script` drives; tests parametrize it: @pytest.mark.parametrize("entry", ENTRY_POINTS)."""
    return "cmr"


@pytest.fixture
def script_via(cm_env, tmp_path, dataset_dir, work, monkeypatch, capfd):
    """script_via(entry) -> the script through that entry point, for a test that compares entry points. MLCFlow's
    entry points skip the test, saying why, where MLCFlow or the mlperf-automations scripts are missing."""
    def make(entry: str) -> ScriptRunner:
        assert entry in ENTRY_POINTS, entry
        if entry in MLC_ENTRY_POINTS and mlc_unavailable():
            pytest.skip(mlc_unavailable())
        return ScriptRunner(entry, cm_env, tmp_path, dataset_dir, work, monkeypatch, capfd)
    return make


@pytest.fixture
def script(entry, script_via) -> ScriptRunner:
    """The script through `entry` (cmr unless the test parametrizes it: cmr, cmind.access, mlcr, mlc.access)."""
    return script_via(entry)


@pytest.fixture
def cmr(cm_env, tmp_path, dataset_dir, work) -> ScriptRunner:
    """cmr "<tags>" <flags...> in a subprocess, stdin closed, --save_to_json; cwd = a fresh folder."""
    return ScriptRunner("cmr", cm_env, tmp_path, dataset_dir, work, None, None)


def dummy_harness(*args: str, cwd: Path, timeout: int = 240) -> Completed:
    """The console script `dummy-harness <args...>` as a user runs it (its own process group, stdin closed)."""
    p = run_tree([str(BIN / "dummy-harness"), *args], timeout, cwd=cwd)
    return Completed(p.returncode, p.stdout, p.stderr, None)


def start_dummy_harness(*args: str, cwd: Path, **popen) -> subprocess.Popen:
    """The console script started in the background (stdin closed; output piped unless `popen` says otherwise)."""
    popen = {"stdout": subprocess.PIPE, "stderr": subprocess.PIPE, "text": True, **popen}
    return subprocess.Popen([str(BIN / "dummy-harness"), *args], cwd=cwd, stdin=subprocess.DEVNULL, **popen)


@pytest.fixture
def harness(tmp_path, dataset_dir):
    """`dummy-harness <args...>` in a fresh folder, with the session's dataset cache."""
    def run(*args: str, timeout: int = 240) -> Completed:
        return dummy_harness(*args, f"--dataset_dir={dataset_dir}", cwd=tmp_path, timeout=timeout)
    return run


def skip_if_host_stole_cpu(results: Dict[str, Any], limit_s: float = 0.3) -> None:
    """A latency-bound run can only be judged on a machine that had its cores: when the host took more than
    `limit_s` of CPU during an INVALID run (the harness records /proc/stat 'steal' over the run), skip, saying
    so, instead of failing."""
    stolen = results.get("host_cpu_stolen_s")
    if results.get("validity") == "INVALID" and stolen is not None and stolen > limit_s:
        pytest.skip(f"the host stole {stolen:.1f} s of CPU during the run (noisy VM): latency cannot be judged")


def build_worker(dataset_dir: Path, model: str = "resnet50", backend=None, **options):
    """A prepared worker (dummy_harness.worker.prepare, as a run builds it) with every sample of its dataset loaded;
    `backend`: an instance to use instead of the registry's (tests' own backends); `options`: as the CLI's."""
    from dummy_harness.config import parse_options
    from dummy_harness.worker import prepare

    cfg = parse_options({"model": model, "dataset_dir": str(dataset_dir), **options})
    return prepare(cfg, log=lambda line: None, load_samples=cfg.samples, backend=backend)


def results_of(run_dir: str) -> Dict[str, Any]:
    return json.loads((Path(run_dir) / "results.json").read_text())


def detail_records(run_dir: str) -> Dict[str, Any]:
    """key -> value of a run folder's mlperf_log_detail.txt, read by the harness's own parser."""
    from dummy_harness.loadgen.detail_log import parse_detail_log

    return parse_detail_log(str(run_dir)).records


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


# ---- a stand-in docker client (tests of the generated Dockerfile and `docker run`, no daemon) ----------------------
FAKE_DOCKER = """#!/bin/sh
# Stand-in docker client: logs each call (one argument a line), no daemon needed.
{ echo "== docker"; for a in "$@"; do echo "$a"; done; } >> "$FAKE_DOCKER_LOG"
case "$1" in
  --version) echo "Docker version 27.0.0, build fake" ;;
  images) echo "0123456789ab" ;;
esac
exit 0
"""


def fake_docker_env(base: Path) -> Dict[str, str]:
    """This environment with a stand-in `docker` first on PATH that logs every call to base/docker.log."""
    import stat

    fake_bin = base / "bin"
    fake_bin.mkdir()
    docker = fake_bin / "docker"
    docker.write_text(FAKE_DOCKER)
    docker.chmod(docker.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    env = dict(os.environ)
    env["PATH"] = f"{fake_bin}{os.pathsep}{env.get('PATH', '')}"
    env["FAKE_DOCKER_LOG"] = str(base / "docker.log")
    env["PYTHONUNBUFFERED"] = "1"
    return env


def run_lines(lines: List[str]) -> List[str]:
    """The commands of a Dockerfile's RUN lines."""
    return [line[len("RUN "):].strip() for line in lines if line.startswith("RUN ")]


def index_of(runs: List[str], pattern: str) -> int:
    """Where the one RUN command matching `pattern` stands."""
    found = [i for i, cmd in enumerate(runs) if re.search(pattern, cmd)]
    assert len(found) == 1, f"{pattern!r} in {found} of:\n" + "\n".join(runs)
    return found[0]


# ---- the benchmark matrix (tests/integration/test_cm_benchmarks.py) -----------------------------------------------
def pytest_collection_modifyitems(config, items):
    """Cases marked `matrix` run only in the sample (`matrix_sample`) unless the -m expression names `matrix`
    (`pytest -m matrix` runs every case) or tests are named by id: the whole matrix does not fit CI's budget.
    Tests marked `docker_engine` (a real Docker engine, root, minutes) run only when the -m expression names them:
    scripts/test.sh runs them after the default suite."""
    markexpr = config.getoption("markexpr") or ""
    whole_matrix = "matrix" in markexpr or any("::" in arg for arg in config.args)
    kept, left_out = [], []
    for item in items:
        sampled = whole_matrix or item.get_closest_marker("matrix_sample") or not item.get_closest_marker("matrix")
        engine = "docker_engine" in markexpr or not item.get_closest_marker("docker_engine")
        (kept if sampled and engine else left_out).append(item)
    if left_out:
        config.hook.pytest_deselected(items=left_out)
        items[:] = kept
