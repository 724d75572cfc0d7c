"""`mlc docker script` with the MLCFlow keys of the `docker:` section (mlc_repo_path, skip_mlc_sys_upgrade,
mlc_repos), without a Docker daemon, as test_cm_docker.py does for CM.

MLCFlow writes the Dockerfile (mlperf-automations' build-dockerfile), then runs the container through
run-docker-container against a stand-in `docker` client first on PATH (it logs its arguments, says an image exists
and runs nothing). Those scripts (and get-docker, build-docker-image) are not among the ones an offline run needs:
the tests skip, saying why, where the copy of mlperf-automations lacks them. They use their own MLC_REPOS (the cached
get,docker points at the stand-in) and register a clean export of this checkout, which MLCFlow also copies into the
image and changes into (leaving a tmp-state.json there).
"""
import re
import shlex
import subprocess
import sys
from pathlib import Path
from typing import Dict

import pytest
import yaml

from conftest import ROOT, fake_docker_env, index_of, mlc_unavailable, mlperf_automations, run_lines
from dummy_harness.cm import repo as cm_repo

pytestmark = pytest.mark.cm

UNIQUE_TAG = "loadgen-dummy"
# The generator names the Dockerfile after the base image the `docker:` section declares (built locally: no
# registry is reachable offline).
BASE_IMAGE = yaml.safe_load((ROOT / "_cm.yaml").read_text())["docker"]["base_image"]
DOCKERFILE = f"dockerfiles/{re.sub(r'[/:]', '-', BASE_IMAGE)}.Dockerfile"
DOCKER_SCRIPTS = ("build-dockerfile", "get-docker", "run-docker-container", "build-docker-image")
# Where the generator puts the mlc_repo_path copy (the export's `repo`) in the image, and this script inside it.
IMAGE_REPO = "$HOME/MLC/repos/repo"
IMAGE_SCRIPT = f"{IMAGE_REPO}/script/{cm_repo.SCRIPT_ALIAS}"


@pytest.fixture(scope="module")
def mlc_docker_env(tmp_path_factory) -> Dict[str, str]:
    why = mlc_unavailable()
    if why:
        pytest.skip(why)
    missing = [s for s in DOCKER_SCRIPTS if not (mlperf_automations() / "script" / s / "meta.yaml").is_file()]
    if missing:
        pytest.skip(f"the copy of mlperf-automations at {mlperf_automations()} lacks the docker scripts "
                    f"{', '.join(missing)} (online: mlc pull repo mlcommons@mlperf-automations)")
    base = tmp_path_factory.mktemp("mlc-docker")
    env = fake_docker_env(base)
    env["MLC_REPOS"] = str(base / "MLC" / "repos")
    # The clean export users make (`python -m dummy_harness.cm_repo --export DIR`): registered, so that the script
    # MLCFlow finds by its tag is this checkout's, and handed to the generator as the repo to copy.
    export = cm_repo.export_for_docker(str(base / "docker-export"))
    register = ("import sys; from dummy_harness.cm import repo as cm_repo; "
                "cm_repo.register(sys.argv[1], root=sys.argv[2], tools=['mlc'], automations=sys.argv[3])")
    subprocess.run([sys.executable, "-c", register, export, str(Path(export).parent / "project"),
                    str(mlperf_automations())], env=env, cwd=base, check=True, stdin=subprocess.DEVNULL,
                   capture_output=True, timeout=300)
    env["TEST_MLC_REPO_PATH"] = export
    return env


def mlc_docker(env: Dict[str, str], tmp_path: Path, tags: str, *flags: str):
    """`mlc docker script`: the Dockerfile's lines and the argv of the stand-in's `docker run`."""
    log = Path(env["FAKE_DOCKER_LOG"])
    log.unlink(missing_ok=True)
    docker_path = tmp_path / "docker"
    p = subprocess.run([str(Path(sys.executable).parent / "mlc"), "docker", "script", f"--tags={tags}", "--quiet",
                        f"--docker_path={docker_path}", f"--docker_mlc_repo_path={env['TEST_MLC_REPO_PATH']}",
                        *flags], env=env, cwd=tmp_path, stdin=subprocess.DEVNULL, capture_output=True, text=True,
                       timeout=120)
    assert p.returncode == 0, (p.stdout + p.stderr)[-4000:]
    path = docker_path / DOCKERFILE
    assert path.is_file(), sorted(str(p) for p in docker_path.rglob("*"))
    calls = [c[:-1].split("\n") for c in log.read_text().split("== docker\n") if c]
    runs = [argv for argv in calls if argv[:1] == ["run"]]
    assert len(runs) == 1, calls
    return path.read_text().splitlines(), runs[0]


def test_dockerfile_copies_this_script_installs_it_and_runs_it_by_its_unique_tag(mlc_docker_env, tmp_path):
    lines, _ = mlc_docker(mlc_docker_env, tmp_path, UNIQUE_TAG)
    text = "\n".join(lines)
    runs = run_lines(lines)
    assert lines[0] == f"FROM {BASE_IMAGE}"

    # This project comes from the build context: the export is copied and registered; MLCFlow reads its meta.yaml,
    # the same declaration as _cm.yaml.
    assert any(re.fullmatch(rf"COPY --chown=\S+ mlc_repo/repo {re.escape(IMAGE_REPO)}", line) for line in lines), text
    copied = tmp_path / "docker" / "dockerfiles" / "mlc_repo" / "repo" / "script" / cm_repo.SCRIPT_ALIAS
    assert (copied / "meta.yaml").read_text() == (ROOT / "_cm.yaml").read_text()
    for name in ("customize.py", "run.sh", "pyproject.toml", "dummy_harness/__init__.py", "dummy_harness/cm/repo.py"):
        assert (copied / name).is_file(), name
    assert "get,sys-utils-mlc" not in text                      # skip_mlc_sys_upgrade

    # Then the upstream scripts this one needs, the pinned torch, the project: in that order, before the run.
    register = index_of(runs, rf"^mlc add repo {re.escape(IMAGE_REPO)} ")
    upstream = index_of(runs, r"^mlc pull repo mlcommons@mlperf-automations\b")
    torch = index_of(runs, r"pip install torch==2\.13\.0$")
    project = index_of(runs, rf"pip install -e {re.escape(IMAGE_SCRIPT)}$")
    assert register < upstream < torch < project < len(runs) - 1
    torch_specs = re.findall(r"\btorch\S*", " ".join(cmd for cmd in runs if "pip install" in cmd))
    assert torch_specs == ["torch==2.13.0"], torch_specs

    # The build ends with a fake run of this script, found by its unique tag.
    final = shlex.split(runs[-1].split("&&", 1)[-1])
    assert final[0] == "mlcr" and f"--tags={UNIQUE_TAG}" in final and "--fake_run" in final
    assert "app-mlperf-inference-dummy" not in text


def test_docker_run_for_cuda_asks_for_the_gpus_and_runs_the_unique_tag(mlc_docker_env, tmp_path):
    lines, argv = mlc_docker(mlc_docker_env, tmp_path, f"{UNIQUE_TAG},_cuda")
    assert f"--tags={UNIQUE_TAG},_cuda" in shlex.split(run_lines(lines)[-1].split("&&", 1)[-1])
    assert "--gpus=all" in argv
    assert argv[-3:-1] == ["bash", "-c"]
    inner = shlex.split(argv[-1])
    assert inner[0] == "mlcr" and f"--tags={UNIQUE_TAG},_cuda" in inner and "--fake_run" not in inner
