"""The tests' own runner: a command that outlives its timeout is killed with everything it started (a `cmr` that
times out must not leave the harness running under it, loading the machine for the tests after)."""
import os
import subprocess
import time

import pytest

from conftest import run_tree


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    with open(f"/proc/{pid}/stat") as f:          # a zombie waiting for its reaper counts as gone
        return f.read().split(")")[-1].split()[0] != "Z"


def test_a_timeout_kills_the_whole_tree(tmp_path):
    pid_file = tmp_path / "child.pid"
    with pytest.raises(subprocess.TimeoutExpired):
        run_tree(["bash", "-c", f"sleep 60 >/dev/null 2>&1 & echo $! > {pid_file}; wait"], timeout=2)
    child = int(pid_file.read_text())
    deadline = time.monotonic() + 5
    while _alive(child) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not _alive(child), "the grandchild outlived the timeout"


def test_output_and_exit_code_come_back():
    p = run_tree(["bash", "-c", "echo out; echo err >&2; exit 3"], timeout=10)
    assert (p.returncode, p.stdout, p.stderr) == (3, "out\n", "err\n")
