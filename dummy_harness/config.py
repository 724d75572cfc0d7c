"""One typed run configuration, built from raw option strings (CLI flags or CM env) and validated once.

Every error is a `ConfigError` whose message is one line naming the bad value and what is accepted.
"""
from __future__ import annotations

import json
import os
import re
import socket
from dataclasses import asdict, dataclass, fields, replace
from typing import Any, Dict, List, Mapping, Optional, Tuple

from . import backends, catalogue, scenarios
from .options import ConfigError, check_conf_file, default as _default, parse_given  # noqa: F401 (re-exported)


@dataclass(frozen=True)
class RunConfig:
    # Defaults are the options' (options.py); None / "" = derived at run time.
    model: str = _default("model")
    scenario: str = _default("scenario")
    mode: str = _default("mode")
    device: str = _default("device")
    precision: str = _default("precision")
    backend: str = _default("backend")
    run_style: str = _default("run_style")
    model_size: str = _default("model_size")                            # "" = the benchmark's default size
    dataset_size: Optional[int] = _default("dataset_size")              # None = the benchmark's default
    max_batchsize: Optional[int] = _default("max_batchsize")            # None = the benchmark's (1 in SingleStream)
    count: Optional[int] = _default("count")                            # performance: queries; accuracy: samples
    performance_sample_count: Optional[int] = _default("performance_sample_count")
    target_qps: Optional[float] = _default("target_qps")                # already resolved for the scenario
    target_latency: Optional[float] = _default("target_latency")        # ms, already resolved for the scenario
    user_conf: Optional[str] = _default("user_conf")
    mlperf_conf: Optional[str] = _default("mlperf_conf")
    output_dir: str = _default("output_dir")                            # "" = ./<run_style>_results
    dataset_dir: str = _default("dataset_dir")                          # "" = the user cache folder
    hw_name: str = _default("hw_name")                                  # "" = this host's name
    threads: Optional[int] = _default("threads")                        # None = by scenario (run.thread_layout)
    seed: int = _default("seed")
    progress: str = _default("progress")                                # the status line: auto, lines, off
    rerun: bool = _default("rerun")
    skip_preprocess: bool = _default("skip_preprocess")
    report: bool = _default("report")                                   # report.html at the end (report/)
    implementation_repo: str = _default("implementation_repo")          # may hold a backend plug-in
    watchdog_s: Optional[float] = _default("watchdog_s")                # None = from the latency settings
    # MLPerf submission (dummy_harness/submission/): the round fixes LoadGen's seeds and the checker version.
    submission_round: str = _default("submission_round")                # "" = the installed LoadGen's seeds
    compliance_test: str = _default("compliance_test")                  # TEST01/04/06/07/09
    inference_src: str = _default("inference_src")                      # a checkout of mlcommons/inference
    submission_dir: str = _default("submission_dir")                    # "" = no submission
    submitter: str = _default("submitter")
    division: str = _default("division")
    system_json: str = _default("system_json")                          # overrides of the system description
    # Where the compute runs (executors/): local, or Ray workers (executors/ray.py).
    executor: str = _default("executor")
    workers: Optional[int] = _default("workers")                        # None = 1 (ray only)
    ship_samples: bool = _default("ship_samples")                       # ray: calls carry input arrays
    ray_address: Optional[str] = _default("ray_address")                # None = $RAY_ADDRESS, else a local Ray

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
        return 1 if scenarios.get(self.scenario).batch_of_one else self.spec.default_batch_size

    @property
    def samples(self) -> int:
        return self.dataset_size or self.spec.default_dataset_size

    @property
    def worker_count(self) -> int:
        """Workers of the Ray executor (1 without one)."""
        return self.workers or 1

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
        for k in ("output_dir", "rerun", "skip_preprocess", "report", "dataset_dir", "watchdog_s", "progress",
                  "inference_src", "submission_dir", "submitter", "division", "system_json"):
            d.pop(k)
        d["size"] = self.size
        d["batch_size"] = self.batch_size
        d["samples"] = self.samples
        # Where the compute ran is part of the run only when it is not this process (stored local results keep
        # the fingerprint they had); not which cluster.
        d.pop("ray_address")
        if self.executor == "local":
            for k in ("executor", "workers", "ship_samples"):
                d.pop(k)
        else:
            d["workers"] = self.worker_count
        return d

    def to_options(self) -> Dict[str, Any]:
        """The options that differ from the defaults, typed (what `--options_file` holds and reads back)."""
        out: Dict[str, Any] = {}
        defaults = RunConfig()
        for f in fields(self):
            value = getattr(self, f.name)
            # The run style's default depends on --submission_dir (valid with it): always say it there.
            if value != getattr(defaults, f.name) or (f.name == "run_style" and self.submission_dir):
                out[f.name] = value
        return out

    def to_argv(self) -> List[str]:
        """The CLI arguments that reproduce this configuration (`dummy-harness <argv>`)."""
        return [f"--{name}" if isinstance(value, bool) else f"--{name}={_fmt(value)}"
                for name, value in self.to_options().items()]


def write_options_file(cfg: RunConfig, path: str) -> None:
    """The configuration as `--options_file` reads it: a JSON object of the options that differ from the
    defaults, typed, any characters kept (the way a value reaches the harness without any shell reading it)."""
    with open(path, "w", encoding="utf-8") as f:
        json.dump(cfg.to_options(), f, ensure_ascii=False, indent=1)
        f.write("\n")


def read_options_file(path: str) -> Dict[str, Any]:
    """The options a `--options_file` holds (raw: parse_options validates them like flags); ConfigError else."""
    try:
        with open(path, encoding="utf-8") as f:
            data = json.load(f)
    except OSError as exc:
        raise ConfigError(f"--options_file={path!r} cannot be read: {exc.strerror or exc}") from None
    except ValueError as exc:
        raise ConfigError(f"--options_file={path!r} is not JSON: {exc}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"--options_file={path!r} does not hold a JSON object of options")
    return data


def _fmt(value: Any) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _host_name() -> str:
    name = re.sub(r"[^A-Za-z0-9_.-]+", "_", socket.gethostname()) or "localhost"
    return name


# ---- rules across options ----------------------------------------------------------------------------------------
def _submission_rules(opt: Mapping[str, Any], out: Dict[str, Any]) -> None:
    """What an MLPerf submission run needs (see dummy_harness/submission/)."""
    from .submission import rounds

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
        model = out.get("model", _default("model"))
        if "submission_round" not in out:
            if rounds.default_round(model) is None:
                raise ConfigError(f"no MLPerf Inference round this harness knows has {model}: it cannot be "
                                  "submitted")
            out["submission_round"] = rounds.default_round(model)
    if out.get("submission_round"):
        refused = rounds.refusal(out["submission_round"], out.get("model", _default("model")))
        if refused:
            raise ConfigError(refused)
    if out.get("compliance_test"):
        if "inference_src" not in out:
            raise ConfigError(f"--compliance_test={out['compliance_test']} needs --inference_src=PATH (a "
                              "checkout of mlcommons/inference holding the test's audit.config)")
        if out.get("mode", _default("mode")) != "performance":
            raise ConfigError("--compliance_test runs in performance mode; drop --mode")


def _executor_rules(out: Dict[str, Any]) -> None:
    """The Ray executor's flags belong to it; Ray itself must be installed (an optional extra)."""
    if out.get("executor", _default("executor")) != "ray":
        given = [k for k in ("workers", "ship_samples", "ray_address") if out.get(k) not in (None, False)]
        if given:
            raise ConfigError(f"--{given[0]} is a flag of the Ray executor; add --executor=ray (CM: _ray) or drop it")
        return
    import importlib.util
    if importlib.util.find_spec("ray") is None:
        raise ConfigError("--executor=ray (CM: _ray) needs Ray, an optional extra of this project: pip install "
                          "'mlperf-dummy-harness[ray]' (in a checkout: pip install -e '.[ray]')")


def parse_options(raw: Mapping[str, Any]) -> RunConfig:
    """Build a RunConfig from raw option values (strings, or typed values from the Python API)."""
    opt = parse_given(raw)
    out = {k: v for k, v in opt.items() if k in {f.name for f in fields(RunConfig)}}
    spec = catalogue.get(out.get("model", _default("model")))
    scenario = scenarios.get(out.get("scenario", _default("scenario")))

    # A submission is made of official-length runs unless the user asks for short ones (to check the layout).
    out.setdefault("run_style", "valid" if "submission_dir" in opt else _default("run_style"))
    if scenario.only_for_interactive and not spec.interactive:
        have = [name for name, s in catalogue.CATALOGUE.items() if s.interactive]
        raise ConfigError(f"{spec.name} has no {scenario.name} settings in MLPerf's conf; --scenario="
                          f"{scenario.name} runs {', '.join(have)}")
    if not spec.runs(scenario.name):
        known = scenarios.available(spec)
        raise ConfigError(f"--scenario={scenario.name} is not a scenario of {spec.name} in MLPerf; use one of: "
                          f"{', '.join(known)}")
    if "model_size" in out and out["model_size"] not in spec.sizes:
        raise ConfigError(f"--model_size={out['model_size']!r} is not accepted for {spec.name}; use one of: "
                          f"{', '.join(spec.sizes)}")
    # The scenario's own target flag beats the generic one.
    throughput = scenario.estimate == "throughput"
    out["target_qps"] = opt.get(scenario.target_option, opt.get("target_qps")) if throughput else None
    out["target_latency"] = None if throughput else opt.get(scenario.target_option, opt.get("target_latency"))
    _submission_rules(opt, out)
    _executor_rules(out)

    cfg = RunConfig(**out)
    reason = backends.unsupported_reason(cfg.backend, cfg.device, cfg.precision, spec)
    if reason:
        raise ConfigError(reason)
    if cfg.performance_sample_count is not None and cfg.performance_sample_count > cfg.samples:
        raise ConfigError(f"--performance_sample_count={cfg.performance_sample_count} is larger than the dataset "
                          f"({cfg.samples} samples); use at most {cfg.samples} or raise --dataset_size")
    if cfg.mode in ("accuracy", "all") and cfg.count is not None and cfg.count > cfg.samples:
        raise ConfigError(f"--count={cfg.count} is larger than the dataset ({cfg.samples} samples) in accuracy "
                          f"mode; use at most {cfg.samples} or raise --dataset_size")
    return cfg
