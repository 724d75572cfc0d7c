"""`cm docker script` on a real Docker engine, as README's "Docker and the CM GUI" shows it: the engine and the base
image from scripts/docker-engine.sh, the image built from the export, resnet50 Offline run VALID inside it
(performance, then accuracy in the same image), results owned by the invoking user in the mounted folder, no
container left; then the daemon is stopped by its PID and the host is left as it was found.

Minutes, not seconds (installs the engine where it is missing, debootstrap, the image build): marked
`docker_engine`, which only `pytest -m docker_engine` runs; scripts/test.sh (CI) runs it after the default suite.
It skips, saying why, where it cannot run: not root, no apt-get and no dockerd, or a dockerd that does not start.
"""
import glob
import os
import re
import shutil
import socket
import subprocess
import sys
from pathlib import Path
from typing import Dict, List

import pytest

from conftest import ROOT, only_run_dir, results_of, run_tree

pytestmark = pytest.mark.docker_engine

BIN = Path(sys.executable).parent
ENGINE = ROOT / "scripts" / "docker-engine.sh"
# Its own state and data root: a Docker engine already used on this host keeps its images and state.
STATE = "/run/mlperf-dummy-docker-test"
DATA_ROOT = "/var/lib/mlperf-dummy-docker-test"


def why_not() -> str:
    if os.name != "posix" or os.geteuid() != 0:
        return "needs root (installs and starts a Docker engine)"
    if not shutil.which("dockerd") and not shutil.which("apt-get"):
        return "no dockerd, and no apt-get to install docker.io"
    return ""


def host_state() -> Dict[str, List[str]]:
    """What a Docker engine can leave on the host: mounts, network links, ip_forward, iptables rules, cgroups, our
    state folders."""
    def out(*args: str) -> List[str]:
        try:
            return sorted(subprocess.run(args, capture_output=True, text=True, timeout=30).stdout.splitlines())
        except FileNotFoundError:
            return []
    return {
        "mounts": sorted(line.split()[1] for line in Path("/proc/mounts").read_text().splitlines()),
        "links": [line.split(":")[1].strip() for line in out("ip", "-o", "link")],
        "ip_forward": [Path("/proc/sys/net/ipv4/ip_forward").read_text().strip()],
        "iptables": out("iptables", "-S") + out("iptables", "-t", "nat", "-S"),
        "cgroups": sorted(glob.glob("/sys/fs/cgroup/*/docker")),
        "run": sorted(os.listdir("/run")),
        "var_lib": sorted(os.listdir("/var/lib")),
        "groups": sorted(line.split(":")[0] for line in Path("/etc/group").read_text().splitlines()),
        "packages": out("dpkg-query", "-W", "-f=${Package}\n"),
    }


def cpu_torch_wheel() -> str:
    """A CPU torch wheel of the version the image pins, from pip's find-links (offline), or '' (the CPU index)."""
    p = subprocess.run([sys.executable, "-m", "pip", "config", "list"], capture_output=True, text=True)
    dirs = [v.strip("'") for line in p.stdout.splitlines() if ".find-links=" in line
            for v in line.split("=", 1)[1].split()]
    wheels = sorted(w for d in dirs for w in glob.glob(os.path.join(d, "torch-2.13.0+cpu-cp311-*.whl")))
    return wheels[0] if wheels else ""


def sh(args, env, timeout, cwd=None) -> subprocess.CompletedProcess:
    p = run_tree([str(a) for a in args], timeout=timeout, env=env, cwd=cwd)
    assert p.returncode == 0, f"{' '.join(map(str, args))}:\n{(p.stdout + p.stderr)[-4000:]}"
    return p


def test_cm_docker_script_runs_resnet50_valid_in_a_real_image_and_leaves_the_host_as_found(tmp_path):
    reason = why_not()
    if reason:
        pytest.skip(reason)
    before = host_state()
    env = {**os.environ, "STATE": STATE, "DATA_ROOT": DATA_ROOT, "CM_REPOS": str(tmp_path / "CM"),
           "PATH": f"{STATE}/bin:{BIN}:{os.environ['PATH']}"}
    env.pop("DOCKER_HOST", None)
    p = run_tree(["bash", str(ENGINE), "start"], timeout=600, env=env)
    if p.returncode != 0:
        subprocess.run(["bash", str(ENGINE), "purge"], env=env, capture_output=True, timeout=300)
        pytest.skip(f"no Docker engine here: {(p.stdout + p.stderr).strip().splitlines()[-1:]}")
    images: List[str] = []
    try:
        # README's commands: the base image, the export (with the CPU wheel where pip has one), two runs.
        sh(["bash", ENGINE, "base"], env, timeout=600)
        sh([sys.executable, "-m", "dummy_harness.cm_repo", "--tool=cm"], env, timeout=300, cwd=ROOT)
        wheel = cpu_torch_wheel()
        export = tmp_path / "export"
        sh([sys.executable, "-m", "dummy_harness.cm_repo", "--export", export]
           + ([f"--torch_wheel={wheel}"] if wheel else []), env, timeout=300, cwd=ROOT)
        out = tmp_path / "results"
        docker = ["cm", "docker", "script", "--tags=loadgen-dummy", "--quiet", f"--output_dir={out}",
                  f"--docker_path={tmp_path / 'docker'}", f"--env.CM_REPO_PATH={export / 'repo'}"]
        sh(docker, env, timeout=900, cwd=tmp_path)
        sh(docker + ["--mode=accuracy"], env, timeout=600, cwd=tmp_path)

        performance = only_run_dir(out, "Offline")
        accuracy = only_run_dir(out, "Offline", "accuracy")
        assert "Result is : VALID" in (performance / "mlperf_log_summary.txt").read_text()
        assert results_of(str(performance))["validity"] == "VALID"
        assert "accuracy" in (accuracy / "accuracy.txt").read_text().lower()
        # The SUT name a native run on this host gets (the container has the host's name), not a container id.
        host = re.sub(r"[^A-Za-z0-9_.-]+", "_", socket.gethostname())
        assert host in performance.parts[-5], performance
        # Everything the container wrote into the mounted folder belongs to who ran `cm docker script`.
        owners = {(f.stat().st_uid, f.stat().st_gid) for f in out.rglob("*")}
        assert owners == {(os.getuid(), os.getgid())}, owners

        docker_cli = f"{STATE}/bin/docker"
        left = subprocess.run([docker_cli, "ps", "-aq"], env=env, capture_output=True, text=True).stdout.split()
        assert left == [], f"containers left: {left}"
        images = subprocess.run([docker_cli, "images", "--format", "{{.Repository}}:{{.Tag}} {{.Size}}"], env=env,
                                capture_output=True, text=True).stdout.splitlines()
        cpu = [line for line in images if "cm-script-loadgen-dummy" in line]
        assert len(cpu) == 1, images
        # The CPU image carries no CUDA.
        names = subprocess.run([docker_cli, "run", "--rm", cpu[0].split()[0], "python3 -m pip list"], env=env,
                               capture_output=True, text=True).stdout
        assert "torch" in names and "nvidia" not in names.lower(), names
        print("images:", images)
    finally:
        p = run_tree(["bash", str(ENGINE), "purge"], timeout=600, env=env)
        print(p.stdout + p.stderr)
    assert p.returncode == 0, p.stdout + p.stderr
    assert host_state() == before
