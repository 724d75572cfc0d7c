"""`cm dockerfile script` / `cm docker script` with the `docker:` section of _cm.yaml, without a Docker daemon.

The Dockerfile is only written and read. `cm docker script` runs against a stand-in `docker` client first on PATH
(it logs its arguments, says an image exists and runs nothing), so the `docker run` command it builds can be read
both as saved (--docker_save_script) and as the argv the client got. These tests use their own CM_REPOS: the
cached `get,docker` points at the stand-in and must not leak into the other tests.
"""
import re
import shlex
import shutil
import socket
import subprocess
import sys
from pathlib import Path
from typing import Dict, List

import pytest
import yaml

from conftest import ROOT, fake_docker_env, index_of, run_lines
from dummy_harness.cm import repo as cm_repo

pytestmark = pytest.mark.cm

BIN = Path(sys.executable).parent
UNIQUE_TAG = "loadgen-dummy"
UID = "81c88d9114a993c2"
# Named after the base image (docker: base_image, built by scripts/docker-engine.sh base).
DOCKERFILE = "dockerfiles/debian:bookworm.Dockerfile"
# Where the generator puts the CM_REPO_PATH copy in the image, and our script inside it.
IMAGE_REPO = "$HOME/CM/repos/mlcommons@mlperf-automations"
IMAGE_SCRIPT = f"{IMAGE_REPO}/script/{cm_repo.SCRIPT_ALIAS}"
INSTALL = f"bash {IMAGE_SCRIPT}/scripts/docker-install.sh"


@pytest.fixture(scope="module")
def docker_env(tmp_path_factory) -> Dict[str, str]:
    base = tmp_path_factory.mktemp("cm-docker")
    env = fake_docker_env(base)
    env["CM_REPOS"] = str(base / "CM")
    # The script CM finds by its tag is this checkout's (registered with CM only: MLCFlow has its own test).
    subprocess.run([sys.executable, "-m", "dummy_harness.cm_repo", "--tool=cm"], env=env, cwd=ROOT, check=True,
                   stdin=subprocess.DEVNULL, capture_output=True, timeout=300)
    # The generator copies the CM_REPO_PATH folder whole (a checkout's .venv too): hand it the clean export
    # users make with `python -m dummy_harness.cm_repo --export DIR`.
    env["TEST_CM_REPO_PATH"] = cm_repo.export_for_docker(str(base / "docker-export"))
    return env


def cm(env: Dict[str, str], cwd: Path, action: str, tags: str, *flags: str) -> subprocess.CompletedProcess:
    p = subprocess.run([str(BIN / "cm"), action, "script", f"--tags={tags}", "--quiet",
                        f"--env.CM_REPO_PATH={env['TEST_CM_REPO_PATH']}", *flags],
                       env=env, cwd=cwd, stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, (p.stdout + p.stderr)[-4000:]
    return p


def dockerfile(env: Dict[str, str], tmp_path: Path, tags: str, *flags: str) -> List[str]:
    docker_path = tmp_path / "docker"
    cm(env, tmp_path, "dockerfile", tags, f"--docker_path={docker_path}", *flags)
    path = docker_path / DOCKERFILE
    assert path.is_file(), sorted(str(p) for p in docker_path.rglob("*"))
    return path.read_text().splitlines()


def final_run(runs: List[str]) -> List[str]:
    """Arguments of the `cm run script` the image build runs (after the generator's `cm pull repo && `)."""
    cmd = runs[-1]
    assert cmd.startswith("cm pull repo && cm run script "), cmd
    return shlex.split(cmd.split("&&", 1)[1])


def test_dockerfile_installs_cm_and_the_project_and_runs_it_by_its_unique_tag(docker_env, tmp_path):
    lines = dockerfile(docker_env, tmp_path, UNIQUE_TAG)
    text = "\n".join(lines)
    runs = run_lines(lines)
    assert lines[0] == "FROM local/debian:bookworm"

    # The project comes from the build context, not from GitHub: no `cm pull repo <alias>` (such as
    # mlcommons@mlperf-automations), only the registration of the copy; no sys-utils apt/pip step.
    assert not [cmd for cmd in runs if re.search(r"cm pull repo [^-&\s]", cmd)], text
    assert not [cmd for cmd in runs if "github" in cmd or "git clone" in cmd], text
    assert "get,sys-utils-cm" not in text
    assert f"COPY --chown=cmuser:cm cm_repo {IMAGE_REPO}" in lines
    copied = tmp_path / "docker" / "dockerfiles" / "cm_repo" / "script" / cm_repo.SCRIPT_ALIAS
    meta = yaml.safe_load((copied / "_cm.yaml").read_text())
    assert meta["uid"] == UID and UNIQUE_TAG in meta["tags"]
    for name in ("customize.py", "run.sh", "pyproject.toml", "dummy_harness/__init__.py", "dummy_harness/cm/repo.py",
                 "scripts/docker-install.sh"):
        assert (copied / name).is_file(), name
    # The CPU image's torch: the CPU build from its index (the export's default), never PyPI's CUDA build.
    assert (copied / "docker-torch-cpu.txt").read_text().split() == [
        "--extra-index-url", "https://download.pytorch.org/whl/cpu", "torch==2.13.0+cpu"]

    # Offline-friendly order: CM, cmx4mlops without deps, then the device's torch and the project with its repo.
    register = index_of(runs, rf"^cm pull repo --url={re.escape(IMAGE_REPO)} ")
    cmind = index_of(runs, r"pip install cmind$")
    cmx = index_of(runs, r"pip install --no-deps cmx4mlops$")
    install = index_of(runs, rf"^{re.escape(INSTALL)} cpu$")
    assert register < cmind < cmx < install < len(runs) - 1
    assert not [cmd for cmd in runs if re.search(r"\btorch\b", cmd)], "a torch install outside docker-install.sh"

    # The build ends with a fake run of this script (found by its unique tag), never the cmx4mlops stub.
    args = final_run(runs)
    assert args[:3] == ["cm", "run", "script"]
    assert f"--tags={UNIQUE_TAG}" in args and "--fake_run" in args
    assert "app-mlperf-inference-dummy" not in text


def test_dockerfile_for_cuda_and_an_output_dir(docker_env, tmp_path):
    out = tmp_path / "results"
    out.mkdir()
    runs = run_lines(dockerfile(docker_env, tmp_path, f"{UNIQUE_TAG},_cuda", f"--output_dir={out}"))
    args = final_run(runs)
    assert f"--tags={UNIQUE_TAG},_cuda" in args
    # Inside the container the output folder is its mount point.
    assert f"--output_dir=/cm-mount{out}" in args
    # PyPI's default torch (with CUDA) instead of the CPU build.
    index_of(runs, rf"^{re.escape(INSTALL)} cuda$")
    assert not [cmd for cmd in runs if cmd.endswith("docker-install.sh cpu")], runs


def docker_run(env: Dict[str, str], tmp_path: Path, tags: str, out: Path):
    """`cm docker script`: the saved launch command and the argv of the stand-in's `docker run`."""
    log = Path(env["FAKE_DOCKER_LOG"])
    log.unlink(missing_ok=True)
    saved = tmp_path / "launch.sh"
    # run-docker-container changes into the script folder, where CM then leaves a tmp-state.json.
    stray = ROOT / "tmp-state.json"
    existed = stray.exists()
    try:
        cm(env, tmp_path, "docker", tags, f"--docker_path={tmp_path / 'docker'}", f"--output_dir={out}",
           f"--docker_save_script={saved}")
    finally:
        if not existed:
            stray.unlink(missing_ok=True)
    calls = [c[:-1].split("\n") for c in log.read_text().split("== docker\n") if c]
    runs = [argv for argv in calls if argv[:1] == ["run"]]
    assert len(runs) == 1, calls
    return saved.read_text(), runs[0]


def test_docker_run_mounts_the_output_folder_and_runs_the_unique_tag(docker_env, tmp_path):
    out = tmp_path / "results"
    out.mkdir()
    saved, argv = docker_run(docker_env, tmp_path, UNIQUE_TAG, out)
    assert saved.startswith("docker run "), saved
    mount = argv[argv.index("-v") + 1]
    assert mount == f"{out}:/cm-mount{out}"
    assert not any(a.startswith("--gpus") for a in argv), argv
    # No stopped container left; the SUT name of a native run on this host (the container gets the host's name).
    assert "--rm" in argv and f"--hostname={socket.gethostname()}" in argv, argv
    inner = shlex.split(argv[-1])
    assert argv[-3:-1] == ["bash", "-c"]
    assert inner[:3] == ["cm", "run", "script"] and f"--tags={UNIQUE_TAG}" in inner
    assert f"--output_dir=/cm-mount{out}" in inner
    assert "--fake_run" not in inner


def test_docker_run_for_cuda_asks_for_the_gpus(docker_env, tmp_path):
    out = tmp_path / "results"
    out.mkdir()
    saved, argv = docker_run(docker_env, tmp_path, f"{UNIQUE_TAG},_cuda", out)
    inner = shlex.split(argv[-1])
    assert f"--tags={UNIQUE_TAG},_cuda" in inner
    assert f"{out}:/cm-mount{out}" in argv
    assert "--gpus=all" in argv and " --gpus=all " in saved


def test_the_docker_command_the_cm_gui_prints_works_as_printed(docker_env, cm_env, tmp_path):
    """README's GUI page with "Use Docker" on prints `cm docker script ...`: after README's one export, that command,
    pasted as printed, writes a Dockerfile that copies this project in and runs this script, and launches it."""
    from cm_gui_page import printed_command, readme_gui_tags, render

    tags = readme_gui_tags()
    out = tmp_path / "results"
    out.mkdir()
    command = printed_command(render(tags, cm_env["CM_REPOS"], flags={"output_dir": str(out)}, docker=True))
    assert command.startswith(f"cm docker script --tags={tags.replace(' ', ',')},_")
    # README's export, the one step before `cm docker script` (the copy of the project put in the image).
    export = re.search(r"^python -m dummy_harness\.cm_repo --export (\S+)\ncm docker script ",
                       (ROOT / "README.md").read_text(), re.M)
    assert export, "README shows the export right before its cm docker script command"
    cm_repo.export_for_docker(export.group(1))

    log = Path(docker_env["FAKE_DOCKER_LOG"])
    log.unlink(missing_ok=True)
    # The Dockerfile goes to dockerfiles/ in the script folder, run-docker-container leaves a tmp-state.json there.
    made = [p for p in (ROOT / "dockerfiles", ROOT / "tmp-state.json") if not p.exists()]
    env = {**docker_env, "PATH": f"{BIN}:{docker_env['PATH']}"}
    try:
        p = subprocess.run(["bash", "-c", command], env=env, cwd=tmp_path, stdin=subprocess.DEVNULL,
                           capture_output=True, text=True, timeout=120)
        assert p.returncode == 0, (p.stdout + p.stderr)[-4000:]
        lines = (ROOT / DOCKERFILE).read_text().splitlines()
    finally:
        for path in made:
            shutil.rmtree(path) if path.is_dir() else path.unlink(missing_ok=True)
    runs = run_lines(lines)
    assert f"COPY --chown=cmuser:cm cm_repo {IMAGE_REPO}" in lines
    assert not [cmd for cmd in runs if re.search(r"cm pull repo [^-&\s]", cmd)], "pulled a repo from GitHub"
    index_of(runs, rf"^{re.escape(INSTALL)} cpu$")
    assert f"--tags={tags.replace(' ', ',')},_resnet50,_cpu,_fp32,_pytorch,_local" in final_run(runs)
    calls = [c[:-1].split("\n") for c in log.read_text().split("== docker\n") if c]
    (argv,) = [argv for argv in calls if argv[:1] == ["run"]]
    assert f"{out}:/cm-mount{out}" in argv
    inner = shlex.split(argv[-1])
    assert inner[:3] == ["cm", "run", "script"] and f"--output_dir=/cm-mount{out}" in inner
