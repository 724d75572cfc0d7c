"""The run folder: reuse a stored VALID result, keep older artifacts aside, check it can be written.

Shared by the harness and the CM adapter, so `cmr` and `dummy-harness` treat a folder the same way.
Nothing already in an output folder is deleted: previous artifacts move to <output_dir>/previous_runs/<time>/.
"""
from __future__ import annotations

import datetime as _dt
import os
import shutil
from typing import Any, Dict, Optional

from .config import RunConfig
from .report import read_results

MIN_FREE_BYTES = 64 * 1024 * 1024
# Files the CM runner itself writes into the run folder before the harness starts (not a previous run's).
RUNNER_FILES = {"console.out", "exitstatus"}


class RunDirError(RuntimeError):
    """The output folder cannot be used; str() is one line."""


def stored_result(cfg: RunConfig) -> Optional[Dict[str, Any]]:
    """The stored results of this very configuration, if that run finished VALID (accuracy: PASS)."""
    prior = read_results(cfg.run_dir)
    if prior and prior.get("status") == "ok" and prior.get("valid") and prior.get("fingerprint") == cfg.fingerprint():
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
    if os.path.exists(base) and not os.path.isdir(base):
        raise RunDirError(f"--output_dir={base} exists and is not a folder")
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
