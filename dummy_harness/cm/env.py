"""CM env <-> the harness: CM env and flags -> options (the table comes from options.py), the command CM runs,
and the env and state a finished run exports.

Paths never travel through CM's env or the command: CM and MLCFlow write every env value into a bash script as
`export K="V"` for each dependency and `eval` the command, so a path flag is read from the flags themselves
(`input_mapping` leaves them out) and reaches the harness in an options file; the shell only sees plain names
(shell_paths.py).

Used by the repository's customize.py; importable without torch, LoadGen or cmind.
"""
from __future__ import annotations

import os
import shlex
import subprocess
from dataclasses import replace
from typing import Any, Dict, List, Mapping, Optional

from .. import backends, catalogue
from . import shell_paths
from ..config import ConfigError, RunConfig, parse_options, write_options_file
from ..options import BY_NAME, ENV_TO_OPTION, OLD_ENV, PASSTHROUGH, PATHS  # noqa: F401 (ENV_TO_OPTION: the env table)
from ..results import Results
from ..rundir import OPTIONS_FILE

# Variation groups whose absence (e.g. `_-cpu` removed the default) leaves the run undefined.
REQUIRED = {
    BY_NAME["model"].env: "model variation (_resnet50, _retinanet, _bert-99, ...)",
    BY_NAME["device"].env: "device variation (_cpu or _cuda)",
    BY_NAME["backend"].env: f"backend variation ({', '.join('_' + name for name in backends.REGISTRY)})",
}

def options_from_env(env: Mapping[str, Any]) -> Dict[str, Any]:
    missing = [what for key, what in REQUIRED.items() if str(env.get(key, "")).strip() == ""]
    if missing:
        raise ConfigError(f"no {missing[0]} is selected; add one to the tags")
    old = {option: env[key] for key, (option, new) in OLD_ENV.items() if key in env and new not in env}
    return {**old, **{option: env[key] for key, option in ENV_TO_OPTION.items() if key in env}}


def deprecated_env(env: Mapping[str, Any]) -> List[str]:
    """One note per deprecated env key set (still read for one release)."""
    return [f"note: {key} is deprecated and will stop working in the next release; use {new} (or --{option})"
            for key, (option, new) in OLD_ENV.items() if key in env]


def path_flags(inputs: Mapping[str, Any]) -> Dict[str, Any]:
    """The path flags given to CM or MLCFlow (their input; never mapped into env), by option name."""
    return {o.name: inputs[flag] for o in PATHS if o.cm_flag for flag in (o.name, *o.aliases) if flag in inputs}


def check_passthrough(env: Mapping[str, Any]) -> None:
    """Flags the harness does not read itself but CM passes to deps (and so through bash): refused unless plain."""
    for option in PASSTHROUGH:
        value = env.get(option.env, "")
        if str(value):
            option.parse(option.name, value)


def check_env_paths(env: Mapping[str, Any]) -> None:
    """A path set through env (`--env.KEY=V`, or a calling script) is re-read by bash in each dependency's script:
    refused unless `export K="V"` keeps it as it is. The flag form takes any path."""
    for option in PATHS:
        value = str(env.get(option.env, ""))
        if value and not shell_paths.inert_in_double_quotes(value):
            how = f"pass it as --{option.name}=... instead" if option.cm_flag else "use a path without them"
            raise ConfigError(f"--env.{option.env}={value!r} holds characters CM's shell would read (\" $ ` \\ or "
                              f"a newline) in every dependency; {how}")


def config_from_env(env: Mapping[str, Any], inputs: Optional[Mapping[str, Any]] = None) -> RunConfig:
    """The run configuration CM's env and the path flags in its input describe; ConfigError (one line) otherwise.
    A path flag beats the same path set through env."""
    return parse_options({**options_from_env(env), **path_flags(inputs or {})})


def check_interpreter(python: str) -> None:
    """The interpreter is the one word of the command CM evaluates that comes from this machine, not from us."""
    if not shell_paths.inert_in_double_quotes(shlex.quote(python)):
        raise ConfigError(f"the Python interpreter {python!r} is at a path the CM runner's shell would read "
                          "(\" $ ` \\ ' or a newline in it); use one at a plainer path")


def render_command(python: str, options_file: str) -> str:
    """The one command CM runs: the interpreter and the options file (a plain name): no value of the run in it."""
    check_interpreter(python)
    if not shell_paths.is_plain(options_file):
        raise ConfigError(f"the options file {options_file!r} has no plain name")     # a bug: callers pass one
    return f"{shlex.quote(python)} -m dummy_harness --options_file={options_file}"


def runner_env(cfg: RunConfig, python: str) -> Dict[str, str]:
    """Write the options file into the run folder (prepared: it exists) and return the env the CM runner chain
    runs the harness with: the folder under a plain name (the runner `cd`s into it unquoted and tees console.out
    into it) and the command. CM's runner reads the CM_ names, MLCFlow's (mlperf-automations) the MLC_ names.
    With --mode=all (and a submission) the runner's folder is the scenario's, above both runs."""
    runs = cfg.modes()
    run_dir = runs[-1].run_dir if len(runs) == 1 else os.path.dirname(os.path.dirname(runs[-1].run_dir))
    try:
        os.makedirs(run_dir, exist_ok=True)
        # The harness starts in the run folder: the default output folder is the caller's ./<style>_results.
        write_options_file(replace(cfg, output_dir=cfg.base_dir), os.path.join(run_dir, OPTIONS_FILE))
    except OSError as exc:
        raise ConfigError(f"cannot write the options file into {run_dir}: {exc.strerror or exc}") from None
    folder = _shell_safe(shell_paths.plain_path, run_dir)
    command = render_command(python, os.path.join(folder, OPTIONS_FILE))
    out = {}
    for prefix in ("CM", "MLC"):
        out.update({f"{prefix}_RUN_DIR": folder, f"{prefix}_LOGS_DIR": folder, f"{prefix}_RUN_CMD": command})
    out["CM_MLPERF_RUN_DIR"] = _shell_safe(shell_paths.env_path, runs[-1].run_dir)
    out.update(path_env(cfg))
    return out


def path_env(cfg: RunConfig) -> Dict[str, str]:
    """The env keys of the path options set, each a value `export K="V"` keeps intact (or a plain link)."""
    out = {}
    for option in PATHS:
        value = getattr(cfg, option.name, None) if option.harness else None
        if value:
            out[option.env] = _shell_safe(shell_paths.env_path, value)
    return out


def _shell_safe(make, path: str) -> str:
    try:
        return make(path)
    except shell_paths.ShellPathError as exc:
        raise ConfigError(str(exc)) from None


def options_line(cfg: RunConfig) -> str:
    """What the options file holds, as the flags of `dummy-harness` (quoted for a POSIX shell), for people."""
    return shlex.join(cfg.to_argv())


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
    run_dir = _shell_safe(shell_paths.env_path, cfg.run_dir)
    out = {
        "CM_MLPERF_RUN_DIR": run_dir,
        "CM_MLPERF_RESULTS_JSON": os.path.join(run_dir, "results.json"),
        "CM_MLPERF_SUT_NAME": cfg.sut_name,
        "CM_HW_NAME": cfg.hardware_name,
        "CM_MLPERF_RESULT_VALID": "yes" if results.valid else "no",
        "CM_MLPERF_RESULT_STATUS": results.status,
        "CM_MLPERF_LOADGEN_MODEL_KEY": spec.loadgen_key,
        "CM_MLPERF_MODEL_PRECISION_RAN": results.precision_ran,
        "CM_DATASET_PATH": _shell_safe(shell_paths.env_path, results.dataset_path) if results.dataset_path else "",
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
        out.update({"CM_MLPERF_ACCURACY_RESULTS_DIR": run_dir,
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
