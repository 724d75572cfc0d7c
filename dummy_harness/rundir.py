"""The run folder: reuse a stored VALID result, keep older artifacts aside, check it can be written.

Shared by the harness and the CM adapter, so `cmr` and `dummy-harness` treat a folder the same way.
Nothing already in an output folder is deleted: previous artifacts move to <output_dir>/previous_runs/<time>/.
"""
from __future__ import annotations

import datetime as _dt
import fcntl
import os
import shutil
from typing import IO, Optional

from .config import RunConfig
from .results import Results, read_results

MIN_FREE_BYTES = 64 * 1024 * 1024
# The options the command CM runs reads (`dummy-harness --options_file=`), written by the CM adapter.
OPTIONS_FILE = "run_options.json"
# Files the CM adapter and runner write into the run folder before the harness starts (not a previous run's):
# the options file, the runner's copy of the console and its exit status.
RUNNER_FILES = {OPTIONS_FILE, "console.out", "exitstatus"}


class RunDirError(RuntimeError):
    """The output folder cannot be used; str() is one line."""


def _check_base(cfg: RunConfig) -> None:
    if os.path.exists(cfg.base_dir) and not os.path.isdir(cfg.base_dir):
        raise RunDirError(f"--output_dir={cfg.base_dir} exists and is not a folder")


def _lock_path(cfg: RunConfig) -> str:
    rel = os.path.relpath(cfg.run_dir, cfg.base_dir).replace(os.sep, "__")
    return os.path.join(cfg.base_dir, ".locks", rel + ".lock")


def lock(cfg: RunConfig) -> IO:
    """Hold the run folder for this process (released when the returned file closes or the process ends).
    A second run into the same folder at the same time fails with a one-line error instead of mixing logs."""
    _check_base(cfg)
    path = _lock_path(cfg)
    try:
        os.makedirs(os.path.dirname(path), exist_ok=True)
        handle = open(path, "a+")
    except OSError as exc:
        raise RunDirError(f"cannot write the output folder {cfg.base_dir}: {exc.strerror or exc}") from None
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        handle.seek(0)
        owner = handle.read().strip() or "?"
        handle.close()
        raise RunDirError(f"another run (pid {owner}) is writing {cfg.run_dir}; wait for it or use another "
                          "--output_dir") from None
    handle.seek(0)
    handle.truncate()
    handle.write(str(os.getpid()))
    handle.flush()
    return handle


def check_unlocked(cfg: RunConfig) -> None:
    """Fail now if a run is writing this folder (the CM adapter checks before it touches the folder)."""
    lock(cfg).close()


def stored_result(cfg: RunConfig) -> Optional[Results]:
    """The stored results of this very configuration, if that run finished VALID (accuracy: PASS)."""
    prior = read_results(cfg.run_dir)
    if prior and prior.ok and prior.valid and prior.fingerprint == cfg.fingerprint():
        return prior
    return None


def _has_artifacts(run_dir: str) -> bool:
    try:
        names = set(os.listdir(run_dir))
    except OSError:
        return False
    return bool(names - RUNNER_FILES)


def keep_aside(cfg: RunConfig) -> Optional[str]:
    """Move a previous run's folder to <output_dir>/previous_runs/<time>/<same relative path>."""
    run_dir = cfg.run_dir
    if not _has_artifacts(run_dir):
        return None
    stamp = _dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    rel = os.path.relpath(run_dir, cfg.base_dir)
    n = 0
    while True:
        target = os.path.join(cfg.base_dir, "previous_runs", stamp + (f"-{n}" if n else ""), rel)
        if not os.path.exists(target):
            break
        n += 1
    os.makedirs(os.path.dirname(target), exist_ok=True)
    shutil.move(run_dir, target)
    return target


def prepare(cfg: RunConfig) -> Optional[str]:
    """Make the run folder ready to write; returns where previous artifacts went (or None)."""
    base = cfg.base_dir
    _check_base(cfg)
    try:
        moved = keep_aside(cfg)
        os.makedirs(cfg.run_dir, exist_ok=True)
        probe = os.path.join(cfg.run_dir, ".write-test")
        with open(probe, "w") as f:
            f.write("ok")
        os.remove(probe)
    except OSError as exc:
        raise RunDirError(f"cannot write the output folder {base}: {exc.strerror or exc}") from None
    free = shutil.disk_usage(cfg.run_dir).free
    if free < MIN_FREE_BYTES:
        raise RunDirError(f"only {free // 2**20} MiB free under {base}; the LoadGen logs need at least "
                          f"{MIN_FREE_BYTES // 2**20} MiB")
    return moved
