"""One typed run configuration, built from raw option strings (CLI flags or CM env) and validated once.

Every error is a `ConfigError` whose message is one line naming the bad value and what is accepted.
"""
from __future__ import annotations

import math
import os
import re
import socket
from dataclasses import asdict, dataclass, fields, replace
from typing import Any, Dict, List, Mapping, Optional, Tuple

from . import catalogue
from . import backends as backend_registry

SCENARIOS = ("Offline", "Server", "SingleStream", "MultiStream")
MODES = ("performance", "accuracy", "all")     # all = accuracy, then performance (two LoadGen processes)
DEVICES = ("cpu", "gpu")
PRECISIONS = ("float32", "float16", "uint8")
BACKENDS = tuple(backend_registry.REGISTRY)
RUN_STYLES = ("test", "fast", "valid")
DIVISIONS = ("open", "closed")
COMPLIANCE_TESTS = ("TEST01", "TEST04", "TEST06")

# Spellings users bring from CM variations and other harnesses.
_SCENARIO_ALIASES = {s.lower(): s for s in SCENARIOS}
_DEVICE_ALIASES = {"cpu": "cpu", "gpu": "gpu", "cuda": "gpu"}
_PRECISION_ALIASES = {"float32": "float32", "fp32": "float32", "float16": "float16", "fp16": "float16",
                      "uint8": "uint8", "int8": "uint8"}

# Characters a path may hold: the CM runner re-reads every value through bash (`export K="V"`, `eval`,
# unquoted `cd $CM_RUN_DIR`), so anything else could be executed or split. Such a path is refused, not escaped.
_SAFE_PATH = re.compile(r"^[A-Za-z0-9_./+,:@%=-]+$")


class ConfigError(ValueError):
    """A bad option; str(error) is the one-line message users see."""


_CONF_LINE = re.compile(r"^\s*([A-Za-z0-9_*.-]+)\.([A-Za-z*]+)\.([A-Za-z0-9_]+)\s*=\s*(\S+)\s*$")


def check_conf_file(path: str, flag: str) -> None:
    """Refuse a LoadGen conf file LoadGen could not parse, before anything runs (LoadGen itself would only log
    it as an error record once the test has started)."""
    try:
        with open(path) as f:
            lines = f.read().splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"--{flag}={path} cannot be read: {exc}") from None
    for number, line in enumerate(lines, 1):
        text = line.split("#", 1)[0].strip()
        if not text:
            continue
        m = _CONF_LINE.match(text)
        if not m:
            raise ConfigError(f"--{flag}={path} line {number} is not 'model.Scenario.key = value': {line.strip()!r}")
        try:
            float(m.group(4))
        except ValueError:
            raise ConfigError(f"--{flag}={path} line {number}: value {m.group(4)!r} is not a number") from None


@dataclass(frozen=True)
class RunConfig:
    model: str = catalogue.DEFAULT_MODEL
    scenario: str = "Offline"
    mode: str = "performance"
    device: str = "cpu"
    precision: str = "float32"
    backend: str = "pytorch"
    run_style: str = "test"
    model_size: str = ""                      # "" = the benchmark's default size
    dataset_size: Optional[int] = None        # None = the benchmark's default
    max_batchsize: Optional[int] = None       # None = the benchmark's default (1 in SingleStream)
    count: Optional[int] = None               # performance: queries (Offline: samples); accuracy: samples
    performance_sample_count: Optional[int] = None
    target_qps: Optional[float] = None        # already resolved for the scenario
    target_latency: Optional[float] = None    # ms, already resolved for the scenario
    user_conf: Optional[str] = None
    mlperf_conf: Optional[str] = None
    output_dir: str = ""                      # "" = ./<run_style>_results
    dataset_dir: str = ""                     # "" = the user cache folder
    hw_name: str = ""                         # "" = this host's name
    threads: Optional[int] = None             # torch threads; None = by scenario (run.thread_layout)
    seed: int = 0
    rerun: bool = False
    skip_preprocess: bool = False
    implementation_repo: str = ""             # a checked-out repository that may hold a backend plug-in
    watchdog_s: Optional[float] = None        # None = derived from the scenario's latency settings
    # MLPerf submission (dummy_harness/submission/): the round fixes LoadGen's seeds and the checker version.
    submission_round: str = ""                # "" = the seeds embedded in the installed LoadGen
    compliance_test: str = ""                 # TEST01/TEST04/TEST06: run with that test's audit.config
    inference_src: str = ""                   # a checkout of mlcommons/inference (audit.config, checker)
    submission_dir: str = ""                  # "" = no submission; else accuracy+performance+compliance+tree
    submitter: str = ""
    division: str = "open"
    system_json: str = ""                     # a JSON file whose fields override the system description

    # ---- derived facts -------------------------------------------------------------------------------------
    @property
    def spec(self) -> catalogue.BenchmarkSpec:
        return catalogue.get(self.model)

    @property
    def size(self) -> str:
        return self.model_size or self.spec.default_size

    @property
    def batch_size(self) -> int:
        if self.max_batchsize is not None:
            return self.max_batchsize
        return 1 if self.scenario == "SingleStream" else self.spec.default_batch_size

    @property
    def samples(self) -> int:
        return self.dataset_size or self.spec.default_dataset_size

    @property
    def hardware_name(self) -> str:
        return self.hw_name or _host_name()

    @property
    def sut_name(self) -> str:
        return f"{self.hardware_name}-dummy_harness-{self.device}-{self.backend}-{self.precision}"

    @property
    def base_dir(self) -> str:
        return os.path.abspath(self.output_dir or f"{self.run_style}_results")

    @property
    def run_dir(self) -> str:
        """<output_dir>/<sut>/<model>/<scenario>/performance/run_1, .../accuracy or .../TEST0x, as CM's MLPerf
        scripts lay them out."""
        if self.compliance_test:
            leaf: Tuple[str, ...] = (self.compliance_test,)
        else:
            leaf = ("performance", "run_1") if self.mode == "performance" else ("accuracy",)
        return os.path.join(self.base_dir, self.sut_name, self.model, self.scenario.lower(), *leaf)

    def modes(self) -> List["RunConfig"]:
        """The single-mode runs this configuration stands for (mode=all: accuracy, then performance)."""
        if self.mode != "all":
            return [self]
        return [replace(self, mode="accuracy"), replace(self, mode="performance")]

    def fingerprint(self) -> Dict[str, Any]:
        """What makes two runs the same run (for reuse of a stored result)."""
        d = asdict(self)
        for k in ("output_dir", "rerun", "skip_preprocess", "dataset_dir", "watchdog_s", "inference_src",
                  "submission_dir", "submitter", "division", "system_json"):
            d.pop(k)
        d["size"] = self.size
        d["batch_size"] = self.batch_size
        d["samples"] = self.samples
        return d

    def to_argv(self) -> List[str]:
        """The CLI arguments that reproduce this configuration (`dummy-harness <argv>`)."""
        argv = []
        defaults = RunConfig()
        for f in fields(self):
            value = getattr(self, f.name)
            # The run style's default depends on --submission_dir (valid with it): always say it there.
            if value == getattr(defaults, f.name) and not (f.name == "run_style" and self.submission_dir):
                continue
            if isinstance(value, bool):
                argv.append(f"--{f.name}")
            else:
                argv.append(f"--{f.name}={_fmt(value)}")
        return argv


def _fmt(value: Any) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _host_name() -> str:
    name = re.sub(r"[^A-Za-z0-9_.-]+", "_", socket.gethostname()) or "localhost"
    return name


# ---- parsing ----------------------------------------------------------------------------------------------------
# Option names are the CM script's flag names (input_mapping keys) plus the variation groups.
OPTION_NAMES = (
    "model", "scenario", "mode", "device", "precision", "backend", "max_batchsize", "count",
    "performance_sample_count", "target_qps", "offline_target_qps", "server_target_qps", "target_latency",
    "singlestream_target_latency", "multistream_target_latency", "user_conf", "mlperf_conf", "output_dir",
    "run_style", "model_size", "dataset_size", "dataset_dir", "hw_name", "threads", "seed", "rerun",
    "skip_preprocess", "implementation_repo", "watchdog_s", "submission_round", "compliance_test",
    "inference_src", "submission_dir", "submitter", "division", "system_json",
)


def _blank(value: Any) -> bool:
    return value is None or (isinstance(value, str) and value.strip() == "")


def _choice(name: str, value: Any, choices, aliases: Optional[Mapping[str, str]] = None) -> str:
    text = str(value).strip()
    if aliases is not None:
        hit = aliases.get(text.lower())
        if hit:
            return hit
    elif text in choices:
        return text
    raise ConfigError(f"--{name}={text!r} is not accepted; use one of: {', '.join(choices)}")


def _positive_int(name: str, value: Any, minimum: int = 1) -> int:
    text = str(value).strip()
    try:
        number = int(text)
    except ValueError:
        raise ConfigError(f"--{name}={text!r} is not a whole number; use an integer >= {minimum}") from None
    if number < minimum:
        raise ConfigError(f"--{name}={text!r} is too small; use an integer >= {minimum}")
    return number


def _positive_float(name: str, value: Any, unit: str) -> float:
    text = str(value).strip()
    try:
        number = float(text)
    except ValueError:
        raise ConfigError(f"--{name}={text!r} is not a number; use a positive number of {unit}") from None
    if not math.isfinite(number) or number <= 0:
        raise ConfigError(f"--{name}={text!r} is not accepted; use a positive, finite number of {unit}")
    return number


def _flag(name: str, value: Any) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("", "no", "false", "0", "off"):
        return False
    if text in ("yes", "true", "1", "on"):
        return True
    raise ConfigError(f"--{name}={value!r} is not accepted; use yes or no")


def safe_path(name: str, value: Any, must_exist: bool = False) -> str:
    text = str(value)
    if not _SAFE_PATH.fullmatch(text):
        bad = sorted({c for c in text if not _SAFE_PATH.fullmatch(c)})
        shown = " ".join(repr(c) for c in bad)
        raise ConfigError(f"--{name}={text!r} holds characters the CM runner cannot pass safely ({shown}); "
                          "use letters, digits and . _ / + , : @ % = -")
    path = os.path.abspath(os.path.expanduser(text))
    if must_exist and not os.path.isfile(path):
        raise ConfigError(f"--{name}={text!r} does not exist or is not a file")
    return path


_SUBMITTER = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")


def _submission_options(opt: Mapping[str, Any], out: Dict[str, Any]) -> None:
    """The options of an MLPerf submission run (see dummy_harness/submission/)."""
    from .submission import rounds

    if "division" in opt:
        out["division"] = _choice("division", opt["division"], DIVISIONS)
        if out["division"] == "closed":
            raise ConfigError("--division=closed is refused: the stand-ins are not the reference models, so their "
                              "results can only be submitted to the open division; use --division=open")
    if "submission_round" in opt:
        out["submission_round"] = _choice("submission_round", opt["submission_round"], tuple(rounds.ROUNDS))
    if "compliance_test" in opt:
        out["compliance_test"] = _choice("compliance_test", str(opt["compliance_test"]).upper(), COMPLIANCE_TESTS)
    for name in ("inference_src", "submission_dir", "system_json"):
        if name in opt:
            out[name] = safe_path(name, opt[name], must_exist=name == "system_json")
    if "inference_src" in opt and not os.path.isdir(out["inference_src"]):
        raise ConfigError(f"--inference_src={opt['inference_src']!r} is not a folder (a checkout of "
                          "mlcommons/inference)")
    if "submitter" in opt:
        submitter = str(opt["submitter"]).strip()
        if not _SUBMITTER.fullmatch(submitter):
            raise ConfigError(f"--submitter={submitter!r} is not accepted; use letters, digits and . _ - (it "
                              "becomes a folder name of the submission)")
        out["submitter"] = submitter
    if "submission_dir" in out:
        if "submitter" not in out:
            raise ConfigError("--submission_dir needs --submitter=ORG (the organisation the results are "
                              "submitted by)")
        if "compliance_test" in out:
            raise ConfigError("--compliance_test is chosen by the submission itself; drop it or "
                              "--submission_dir")
        if "mlperf_conf" in opt:
            raise ConfigError("--mlperf_conf cannot be used for a submission: the checker requires LoadGen's "
                              "official conf; drop it")
        out["mode"] = "all"                               # accuracy and performance, then compliance
        out.setdefault("submission_round", rounds.DEFAULT_ROUND)
    if out.get("compliance_test"):
        if "inference_src" not in out:
            raise ConfigError(f"--compliance_test={out['compliance_test']} needs --inference_src=PATH (a "
                              "checkout of mlcommons/inference holding the test's audit.config)")
        if out.get("mode") != "performance":
            raise ConfigError("--compliance_test runs in performance mode; drop --mode")


def parse_options(raw: Mapping[str, Any]) -> RunConfig:
    """Build a RunConfig from raw option values (strings, or typed values from the Python API)."""
    unknown = sorted(k for k in raw if k not in OPTION_NAMES)
    if unknown:
        raise ConfigError(f"unknown option --{unknown[0]}; known: {', '.join(OPTION_NAMES)}")
    opt = {k: v for k, v in raw.items() if not _blank(v)}
    out: Dict[str, Any] = {}

    model = str(opt.get("model", catalogue.DEFAULT_MODEL)).strip()
    if model not in catalogue.CATALOGUE:
        raise ConfigError(f"--model={model!r} is not accepted; use one of: {', '.join(catalogue.CATALOGUE)}")
    spec = catalogue.get(model)
    out["model"] = model

    scenario = _choice("scenario", opt.get("scenario", "Offline"), SCENARIOS, _SCENARIO_ALIASES)
    out["scenario"] = scenario
    out["mode"] = _choice("mode", opt.get("mode", "performance"), MODES)
    out["device"] = _choice("device", opt.get("device", "cpu"), DEVICES, _DEVICE_ALIASES)
    out["precision"] = _choice("precision", opt.get("precision", "float32"), PRECISIONS, _PRECISION_ALIASES)
    out["backend"] = _choice("backend", opt.get("backend", "pytorch"), BACKENDS)
    # A submission is made of official-length runs unless the user asks for short ones (to check the layout).
    submission = "submission_dir" in opt
    out["run_style"] = _choice("run_style", opt.get("run_style", "valid" if submission else "test"), RUN_STYLES)

    if "model_size" in opt:
        size = str(opt["model_size"]).strip()
        if size not in spec.sizes:
            raise ConfigError(f"--model_size={size!r} is not accepted for {model}; use one of: "
                              f"{', '.join(spec.sizes)}")
        out["model_size"] = size

    for name in ("max_batchsize", "count", "performance_sample_count", "dataset_size", "threads"):
        if name in opt:
            out[name] = _positive_int(name, opt[name])
    if "seed" in opt:
        out["seed"] = _positive_int("seed", opt["seed"], minimum=0)
    if "watchdog_s" in opt:
        out["watchdog_s"] = _positive_float("watchdog_s", opt["watchdog_s"], "seconds")

    # The scenario-specific flag beats the generic one.
    qps_flag = {"Offline": "offline_target_qps", "Server": "server_target_qps"}.get(scenario)
    latency_flag = {"SingleStream": "singlestream_target_latency",
                    "MultiStream": "multistream_target_latency"}.get(scenario)
    qps = {name: _positive_float(name, opt[name], "queries per second")
           for name in ("target_qps", "offline_target_qps", "server_target_qps") if name in opt}
    latency = {name: _positive_float(name, opt[name], "milliseconds")
               for name in ("target_latency", "singlestream_target_latency", "multistream_target_latency")
               if name in opt}
    if qps_flag and (qps_flag in qps or "target_qps" in qps):
        out["target_qps"] = qps.get(qps_flag, qps.get("target_qps"))
    if latency_flag and (latency_flag in latency or "target_latency" in latency):
        out["target_latency"] = latency.get(latency_flag, latency.get("target_latency"))

    for name in ("user_conf", "mlperf_conf"):
        if name in opt:
            out[name] = safe_path(name, opt[name], must_exist=True)
            check_conf_file(out[name], name)
    for name in ("output_dir", "dataset_dir"):
        if name in opt:
            out[name] = safe_path(name, opt[name])
    if "implementation_repo" in opt:
        out["implementation_repo"] = safe_path("implementation_repo", opt["implementation_repo"])
        if not os.path.isdir(out["implementation_repo"]):
            raise ConfigError(f"--implementation_repo={opt['implementation_repo']!r} is not a folder")
    if "hw_name" in opt:
        hw = str(opt["hw_name"]).strip()
        if not re.fullmatch(r"[A-Za-z0-9_.-]+", hw):
            raise ConfigError(f"--hw_name={hw!r} is not accepted; use letters, digits and . _ -")
        out["hw_name"] = hw
    for name in ("rerun", "skip_preprocess"):
        if name in opt:
            out[name] = _flag(name, opt[name])

    _submission_options(opt, out)

    if out["device"] == "gpu" and out["precision"] == "uint8":
        raise ConfigError("uint8 runs on the CPU only (torch's int8 kernels are CPU kernels); use _cpu,_uint8, "
                          "or _cuda with _fp16 or _fp32")
    cfg = RunConfig(**out)
    if cfg.performance_sample_count is not None and cfg.performance_sample_count > cfg.samples:
        raise ConfigError(f"--performance_sample_count={cfg.performance_sample_count} is larger than the dataset "
                          f"({cfg.samples} samples); use at most {cfg.samples} or raise --dataset_size")
    if cfg.mode in ("accuracy", "all") and cfg.count is not None and cfg.count > cfg.samples:
        raise ConfigError(f"--count={cfg.count} is larger than the dataset ({cfg.samples} samples) in accuracy "
                          f"mode; use at most {cfg.samples} or raise --dataset_size")
    return cfg
