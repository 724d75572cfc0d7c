"""CM env <-> the harness: the one table that maps CM env keys to harness options, and the command CM runs.

Used by the repository's customize.py; importable without torch, LoadGen or cmind.
"""
from __future__ import annotations

import os
import re
import shlex
import subprocess
from typing import Any, Dict, List, Mapping, Optional

from . import catalogue
from .config import ConfigError, RunConfig, parse_options
from .results import Results

# CM env key -> harness option. Keys set by the CM variations first, then the script's input_mapping.
ENV_TO_OPTION: Dict[str, str] = {
    "CM_MODEL": "model",
    "CM_MLPERF_DEVICE": "device",
    "CM_MLPERF_MODEL_PRECISION": "precision",
    "CM_MLPERF_BACKEND": "backend",
    "CM_MLPERF_LOADGEN_SCENARIO": "scenario",
    "CM_MLPERF_LOADGEN_MODE": "mode",
    "CM_MLPERF_LOADGEN_MAX_BATCHSIZE": "max_batchsize",
    "CM_MLPERF_LOADGEN_QUERY_COUNT": "count",
    "CM_MLPERF_LOADGEN_PERFORMANCE_SAMPLE_COUNT": "performance_sample_count",
    "CM_MLPERF_LOADGEN_TARGET_QPS": "target_qps",
    "CM_MLPERF_LOADGEN_OFFLINE_TARGET_QPS": "offline_target_qps",
    "CM_MLPERF_LOADGEN_SERVER_TARGET_QPS": "server_target_qps",
    "CM_MLPERF_LOADGEN_TARGET_LATENCY": "target_latency",
    "CM_MLPERF_LOADGEN_SINGLESTREAM_TARGET_LATENCY": "singlestream_target_latency",
    "CM_MLPERF_LOADGEN_MULTISTREAM_TARGET_LATENCY": "multistream_target_latency",
    "CM_MLPERF_USER_CONF": "user_conf",
    "CM_MLPERF_CONF": "mlperf_conf",
    "CM_MLPERF_OUTPUT_DIR": "output_dir",
    "CM_MLPERF_RUN_STYLE": "run_style",
    "CM_MLPERF_DUMMY_MODEL_SIZE": "model_size",
    "CM_MLPERF_DUMMY_DATASET_SIZE": "dataset_size",
    "CM_MLPERF_DUMMY_DATASET_DIR": "dataset_dir",
    "CM_MLPERF_DUMMY_THREADS": "threads",
    "CM_MLPERF_DUMMY_SEED": "seed",
    "CM_MLPERF_DUMMY_WATCHDOG_S": "watchdog_s",
    "CM_HW_NAME": "hw_name",
    "CM_RERUN": "rerun",
    "CM_SKIP_PREPROCESS_DATASET": "skip_preprocess",
    # filled by the get,git,repo dep when --results_repo is given
    "CM_MLPERF_INFERENCE_IMPLEMENTATION_REPO": "implementation_repo",
    # MLPerf submission; CM_MLPERF_INFERENCE_SOURCE is also what the online get,mlcommons,inference,src exports
    "CM_MLPERF_INFERENCE_SUBMISSION_DIR": "submission_dir",
    "CM_MLPERF_SUBMITTER": "submitter",
    "CM_MLPERF_SUBMISSION_DIVISION": "division",
    "CM_MLPERF_SUBMISSION_ROUND": "submission_round",
    "CM_MLPERF_INFERENCE_SOURCE": "inference_src",
    "CM_MLPERF_DUMMY_SYSTEM_JSON": "system_json",
    "CM_MLPERF_LOADGEN_COMPLIANCE_TEST": "compliance_test",
}

# Variation groups whose absence (e.g. `_-cpu` removed the default) leaves the run undefined.
REQUIRED = {
    "CM_MODEL": "model variation (_resnet50, _retinanet, _bert-99, ...)",
    "CM_MLPERF_DEVICE": "device variation (_cpu or _cuda)",
    "CM_MLPERF_BACKEND": "backend variation (_pytorch)",
}
# Flags the harness does not read itself but CM passes to deps (and so through bash): refused unless plain.
PASSTHROUGH = {"CM_MLPERF_INFERENCE_RESULTS_REPO": "results_repo"}
_PLAIN_URL = re.compile(r"^[A-Za-z0-9_./:@%+=,~-]+$")

# Characters that the CM runner's `export K="V"` + `eval` would reinterpret.
_SHELL_ACTIVE = re.compile(r"[\"$`\\\n\r']")


def options_from_env(env: Mapping[str, Any]) -> Dict[str, Any]:
    missing = [what for key, what in REQUIRED.items() if str(env.get(key, "")).strip() == ""]
    if missing:
        raise ConfigError(f"no {missing[0]} is selected; add one to the tags")
    return {option: env[key] for key, option in ENV_TO_OPTION.items() if key in env}


def check_passthrough(env: Mapping[str, Any]) -> None:
    for key, flag in PASSTHROUGH.items():
        value = str(env.get(key, ""))
        if value and not _PLAIN_URL.fullmatch(value):
            raise ConfigError(f"--{flag}={value!r} is not a plain URL or path; use letters, digits and . _ / : @ % "
                              "+ = , ~ -")


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


def cuda_check(python: str) -> Optional[str]:
    """Ask the harness's interpreter whether CUDA is usable (only for _cuda: importing torch costs a second)."""
    probe = ("from dummy_harness.backends.pytorch import cuda_unavailable_reason as r; "
             "print(r() or 'ok')")
    try:
        out = subprocess.run([python, "-c", probe], capture_output=True, text=True, timeout=120)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"could not check CUDA with {python}: {exc}"
    line = (out.stdout.strip().splitlines() or [""])[-1]
    if out.returncode != 0:
        return f"could not check CUDA with {python}: {(out.stderr.strip().splitlines() or ['?'])[-1]}"
    return None if line == "ok" else line


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
