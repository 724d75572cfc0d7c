"""CM env <-> the harness: CM env -> options (the table comes from options.py), the command CM runs, and the
env and state a finished run exports.

Used by the repository's customize.py; importable without torch, LoadGen or cmind.
"""
from __future__ import annotations

import os
import re
import shlex
import subprocess
from typing import Any, Dict, List, Mapping, Optional

from . import backends, catalogue
from .config import ConfigError, RunConfig, parse_options
from .options import BY_NAME, ENV_TO_OPTION, PASSTHROUGH  # noqa: F401 (ENV_TO_OPTION: the table CM env is read by)
from .results import Results

# Variation groups whose absence (e.g. `_-cpu` removed the default) leaves the run undefined.
REQUIRED = {
    BY_NAME["model"].env: "model variation (_resnet50, _retinanet, _bert-99, ...)",
    BY_NAME["device"].env: "device variation (_cpu or _cuda)",
    BY_NAME["backend"].env: f"backend variation ({', '.join('_' + name for name in backends.REGISTRY)})",
}

# Characters that the CM runner's `export K="V"` + `eval` would reinterpret.
_SHELL_ACTIVE = re.compile(r"[\"$`\\\n\r']")


def options_from_env(env: Mapping[str, Any]) -> Dict[str, Any]:
    missing = [what for key, what in REQUIRED.items() if str(env.get(key, "")).strip() == ""]
    if missing:
        raise ConfigError(f"no {missing[0]} is selected; add one to the tags")
    return {option: env[key] for key, option in ENV_TO_OPTION.items() if key in env}


def check_passthrough(env: Mapping[str, Any]) -> None:
    """Flags the harness does not read itself but CM passes to deps (and so through bash): refused unless plain."""
    for option in PASSTHROUGH:
        value = env.get(option.env, "")
        if str(value):
            option.parse(option.name, value)


def config_from_env(env: Mapping[str, Any]) -> RunConfig:
    """The run configuration CM's env describes; ConfigError (one line) otherwise."""
    return parse_options(options_from_env(env))


def render_command(cfg: RunConfig, python: str) -> str:
    """One shell-safe command line: every part validated, then quoted; refuse anything still active."""
    parts: List[str] = [python, "-m", "dummy_harness"] + cfg.to_argv()
    command = " ".join(shlex.quote(p) for p in parts)
    if _SHELL_ACTIVE.search(command):
        raise ConfigError(f"refusing to build a command with shell-active characters: {command!r}")
    return command


def availability_check(python: str, backend: str, device: str) -> Optional[str]:
    """Ask the harness's interpreter whether this machine can run `backend` on `device` (the backend's own
    check: runtime installed, GPU seen). A subprocess, because importing torch here would cost CM a second."""
    probe = f"from dummy_harness.backends import probe; probe({backend!r}, {device!r})"
    try:
        out = subprocess.run([python, "-c", probe], capture_output=True, text=True, timeout=120)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"could not check the {backend} backend with {python}: {exc}"
    if out.returncode != 0:
        return (f"could not check the {backend} backend with {python}: "
                f"{(out.stderr.strip().splitlines() or ['?'])[-1]}")
    return (out.stdout.strip().splitlines() or [""])[-1] or None


def needs_availability_check(cfg: RunConfig) -> bool:
    """Only where something may be missing: a GPU, or a runtime that is not installed with the project."""
    return cfg.device == "gpu" or bool(backends.REGISTRY[cfg.backend].requirement)


def env_from_results(cfg: RunConfig, results: Results) -> Dict[str, str]:
    """The CM_* keys a finished (or reused) run exports."""
    spec = catalogue.get(cfg.model)
    res, acc = results.result, results.accuracy
    out = {
        "CM_MLPERF_RUN_DIR": cfg.run_dir,
        "CM_MLPERF_RESULTS_JSON": os.path.join(cfg.run_dir, "results.json"),
        "CM_MLPERF_SUT_NAME": cfg.sut_name,
        "CM_HW_NAME": cfg.hardware_name,
        "CM_MLPERF_RESULT_VALID": "yes" if results.valid else "no",
        "CM_MLPERF_RESULT_STATUS": results.status,
        "CM_MLPERF_LOADGEN_MODEL_KEY": spec.loadgen_key,
        "CM_MLPERF_MODEL_PRECISION_RAN": results.precision_ran,
        "CM_DATASET_PATH": results.dataset_path,
        "CM_DATASET_SIZE": str(cfg.samples),
        "CM_ML_MODEL_NAME": f"{cfg.model} stand-in ({cfg.size})",
        "CM_ML_MODEL_SIZE": cfg.size,
        "CM_ML_MODEL_PRECISION": cfg.precision,
        "CM_MAX_EXAMPLES": str(results.sut.qsl_total if results.sut else cfg.samples),
        spec.accuracy_dtype_env[0]: spec.accuracy_dtype_env[1],
    }
    if cfg.mode == "performance":
        out.update({"CM_MLPERF_RESULT_METRIC": res.metric if res else "",
                    "CM_MLPERF_RESULT_VALUE": "" if res is None or res.value is None else f"{res.value:.6g}",
                    "CM_MLPERF_RESULT_UNIT": res.unit if res else "",
                    "CM_MLPERF_PERFORMANCE_VALIDITY": results.validity or ""})
    elif acc:
        out.update({"CM_MLPERF_ACCURACY_RESULTS_DIR": cfg.run_dir,
                    "CM_MLPERF_RESULT_METRIC": acc.metric,
                    "CM_MLPERF_RESULT_VALUE": f"{acc.value:.6g}",
                    "CM_MLPERF_RESULT_UNIT": "%",
                    "CM_MLPERF_ACCURACY_VERDICT": "PASS" if acc.passed else "FAIL"})
    return out


def state_value(cfg: RunConfig, results: Results) -> Optional[float]:
    """The figure CM's results state holds for this mode: samples/s or ms (performance), percent (accuracy)."""
    if cfg.mode == "accuracy":
        return None if not results.accuracy else float(results.accuracy.value)
    value = results.result.value if results.result else None
    return None if value is None else float(value)
