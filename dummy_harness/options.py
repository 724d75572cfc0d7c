"""Every option of the harness, declared once: name, CM env key, how its value is read, choices, default, help.

The CLI parser (cli.py), the CM env -> option table (cm/env.py), the typed RunConfig's defaults (config.py), the
flags of `_cm.yaml` (`input_mapping`, `input_description`) and the README's flag table (both written by
`python -m dummy_harness.generate`) all come from OPTIONS below. The order of OPTIONS is the CM GUI's order.

A new flag = one Option here + one RunConfig field, then `python -m dummy_harness.generate`. Its env key is the
upstream CM name where CM's MLPerf scripts have one for the same thing, else CM_MLPERF_DUMMY_<FLAG>. Rules that involve
more than one option (scenario-specific targets, submission rules, device x precision) live in config.py.
This module imports neither torch nor LoadGen.
"""
from __future__ import annotations

import math
import os
import re
from dataclasses import dataclass
from typing import Any, Callable, Dict, Mapping, Optional, Tuple

from . import backends, catalogue, scenarios
from .submission import rounds

SCENARIOS = scenarios.NAMES
MODES = ("performance", "accuracy", "all")     # all = accuracy, then performance (two LoadGen processes)
DEVICES = ("cpu", "gpu")
PRECISIONS = ("float32", "float16", "uint8")
RUN_STYLES = ("test", "fast", "valid")
DIVISIONS = ("open", "closed")
COMPLIANCE_TESTS = ("TEST01", "TEST04", "TEST06", "TEST07", "TEST09")
PROGRESS = ("auto", "lines", "off")          # loadgen/progress.py
EXECUTORS = ("local", "ray")                  # executors/: this process (chosen by scenario), or Ray workers
MODEL_SIZES = tuple(dict.fromkeys(size for spec in catalogue.CATALOGUE.values() for size in spec.sizes))

# A path may hold any character but control characters (a newline would split LoadGen's and our logs). It never
# reaches a shell as text: the CM adapter passes it in a file (cm/env.py), and cm/shell_paths.py stands in for it
# where a shell needs a name.
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_PLAIN_URL = re.compile(r"^[A-Za-z0-9_./:@%+=,~-]+$")
_CONF_LINE = re.compile(r"^\s*([A-Za-z0-9_*.-]+)\.([A-Za-z*]+)\.([A-Za-z0-9_]+)\s*=\s*(\S+)\s*$")


class ConfigError(ValueError):
    """A bad option; str(error) is the one-line message users see."""


# ---- how a value is read: each takes (option name, raw value) and returns the typed value or raises ConfigError
Parse = Callable[[str, Any], Any]


def choice(choices: Tuple[str, ...], aliases: Optional[Mapping[str, str]] = None) -> Parse:
    """One of `choices`, or (with `aliases`) any spelling the alias table knows, case-insensitively."""
    def parse(name: str, value: Any) -> str:
        text = str(value).strip()
        if aliases is not None:
            hit = aliases.get(text.lower())
            if hit:
                return hit
        elif text in choices:
            return text
        raise ConfigError(f"--{name}={text!r} is not accepted; use one of: {', '.join(choices)}")
    return parse


def whole(minimum: int = 1) -> Parse:
    def parse(name: str, value: Any) -> int:
        text = str(value).strip()
        try:
            number = int(text)
        except ValueError:
            raise ConfigError(f"--{name}={text!r} is not a whole number; use an integer >= {minimum}") from None
        if number < minimum:
            raise ConfigError(f"--{name}={text!r} is too small; use an integer >= {minimum}")
        return number
    return parse


def positive(unit: str) -> Parse:
    def parse(name: str, value: Any) -> float:
        text = str(value).strip()
        try:
            number = float(text)
        except ValueError:
            raise ConfigError(f"--{name}={text!r} is not a number; use a positive number of {unit}") from None
        if not math.isfinite(number) or number <= 0:
            raise ConfigError(f"--{name}={text!r} is not accepted; use a positive, finite number of {unit}")
        return number
    return parse


def yes_no(name: str, value: Any) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("", "no", "false", "0", "off"):
        return False
    if text in ("yes", "true", "1", "on"):
        return True
    raise ConfigError(f"--{name}={value!r} is not accepted; use yes or no")


def any_path(name: str, value: Any, must_exist: bool = False) -> str:
    text = str(value)
    if _CONTROL.search(text):
        raise ConfigError(f"--{name}={text!r} holds a control character (newline, tab, ...); name a path without one")
    found = os.path.abspath(os.path.expanduser(text))
    if must_exist and not os.path.isfile(found):
        raise ConfigError(f"--{name}={text!r} does not exist or is not a file")
    return found


def path(name: str, value: Any) -> str:
    return any_path(name, value)


def existing_file(name: str, value: Any) -> str:
    return any_path(name, value, must_exist=True)


def folder(what: str = "") -> Parse:
    """An existing folder; `what` says what it should be a folder of."""
    def parse(name: str, value: Any) -> str:
        found = any_path(name, value)
        if not os.path.isdir(found):
            raise ConfigError(f"--{name}={value!r} is not a folder{f' ({what})' if what else ''}")
        return found
    return parse


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


def conf_file(name: str, value: Any) -> str:
    found = existing_file(name, value)
    check_conf_file(found, name)
    return found


def word(pattern: str, allowed: str, why: str = "") -> Parse:
    """A name used in folder names: `pattern` (a regex) or a one-line refusal saying what is allowed."""
    regex = re.compile(pattern)

    def parse(name: str, value: Any) -> str:
        text = str(value).strip()
        if not regex.fullmatch(text):
            raise ConfigError(f"--{name}={text!r} is not accepted; use {allowed}{f' ({why})' if why else ''}")
        return text
    return parse


def plain_url(name: str, value: Any) -> str:
    text = str(value)
    if not _PLAIN_URL.fullmatch(text):
        raise ConfigError(f"--{name}={text!r} is not a plain URL or path; use letters, digits and . _ / : @ % + = "
                          ", ~ -")
    return text


def division(name: str, value: Any) -> str:
    chosen = choice(DIVISIONS)(name, value)
    if chosen == "closed":
        raise ConfigError("--division=closed is refused: the stand-ins are not the reference models, so their "
                          "results can only be submitted to the open division; use --division=open")
    return chosen


def compliance_test(name: str, value: Any) -> str:
    return choice(COMPLIANCE_TESTS)(name, str(value).upper())


def text(name: str, value: Any) -> str:
    return str(value).strip()


_RAY_ADDRESS = re.compile(r"auto|local|ray://[A-Za-z0-9_.:\[\]-]+|[A-Za-z0-9_.-]+:[0-9]{1,5}|\[[0-9A-Fa-f:]+\]:[0-9]{1,5}")


def ray_address(name: str, value: Any) -> str:
    """A Ray cluster's address: host:port of its head (GCS), auto (the cluster `ray start` left on this machine)
    or local (a new one, as without the flag); ray:// is parsed here and refused when the run starts."""
    text = str(value).strip()
    if not _RAY_ADDRESS.fullmatch(text):
        raise ConfigError(f"--{name}={text!r} is not a Ray address; use HOST:PORT of the cluster's head (e.g. "
                          "10.0.0.5:6379), auto or local")
    return text


# ---- the declaration -------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Option:
    name: str                        # the CLI flag (--name), the CM flag, the RunConfig field
    env: str                         # the CM env key that carries it ("" = none)
    parse: Parse
    help: str                        # one line: what it does (choices and default are added where shown)
    default: Any = None              # the RunConfig default; None/"" = derived at run time (help says how)
    choices: Tuple[str, ...] = ()    # a closed set, offered by the CLI help, the CM GUI and the README
    cm_flag: bool = True             # False: CM sets it through a variation, a dependency or --env.KEY=V
    harness: bool = True             # False: CM passes it to a dependency only (checked, then not a RunConfig field)
    aliases: Tuple[str, ...] = ()    # more CM flag names for the same env key
    gui_preselect: bool = False      # the CM GUI preselects `default` (else its selectbox starts empty)
    # A path: under CM read from the flag itself, never mapped into env, whose values CM's shell re-reads.
    is_path: bool = False
    # Env keys this option had before, still read for one release (with a one-line deprecation note).
    old_env: Tuple[str, ...] = ()

    @property
    def switch(self) -> bool:
        """A yes/no option: a bare --flag on the CLI, a checkbox in the CM GUI."""
        return self.parse is yes_no

    def describe(self, choices: bool = False) -> str:
        """The help text, with the choices (for readers without a selectbox) and the default."""
        out = self.help
        if choices and self.choices:
            out += f"; one of: {', '.join(self.choices)}"
        if self.default is not None and self.default is not False and self.default != "":   # 0 is a default
            out += f" (default {self.default})"
        return out


def _dataset_sizes() -> str:
    """The default dataset size of each benchmark family, for the help of the flags it caps:
    `256 for resnet50, bert; 64 for retinanet, gptj, llama2-70b`."""
    families: Dict[int, list] = {}
    for name, spec in catalogue.CATALOGUE.items():
        family = re.sub(r"-9[59](\.9)?$", "", name)     # bert-99, bert-99.9 -> bert; yolo-95 -> yolo
        names = families.setdefault(spec.default_dataset_size, [])
        if family not in names:
            names.append(family)
    return "; ".join(f"{size} for {', '.join(names)}" for size, names in families.items())


_SCENARIO_ALIASES = {s.lower(): s for s in SCENARIOS}
_DEVICE_ALIASES = {"cpu": "cpu", "gpu": "gpu", "cuda": "gpu"}
_PRECISION_ALIASES = {"float32": "float32", "fp32": "float32", "float16": "float16", "fp16": "float16",
                      "uint8": "uint8", "int8": "uint8"}
_BACKENDS = tuple(backends.REGISTRY)
# The CM variation spelling (mlperf-automations' MLC_MODEL, e.g. llama3_1-8b) names the same benchmark.
_MODEL_ALIASES = {**{name: name for name in catalogue.CATALOGUE},
                  **{spec.cm_variation: name for name, spec in catalogue.CATALOGUE.items()}}
# Upstream's CM_MLPERF_INFERENCE_VERSION spells rounds without the v (5.0).
_ROUND_ALIASES = {**{r.lower(): r for r in rounds.ROUNDS}, **{r[1:]: r for r in rounds.ROUNDS}}
_PROGRESS_ALIASES = {**{p: p for p in PROGRESS}, "yes": "auto", "on": "auto", "true": "auto", "no": "off",
                     "false": "off"}

OPTIONS: Tuple[Option, ...] = (
    # Chosen by CM variations; flags of the CLI only.
    Option("model", "CM_MODEL", choice(tuple(catalogue.CATALOGUE), _MODEL_ALIASES), "benchmark, also as "
           "mlperf-automations spells it (llama3_1-8b) (CM: the model variation)",
           default=catalogue.DEFAULT_MODEL, choices=tuple(catalogue.CATALOGUE), cm_flag=False),
    Option("device", "CM_MLPERF_DEVICE", choice(DEVICES, _DEVICE_ALIASES),
           "cpu or gpu (also: cuda) (CM: _cpu, _cuda)", default="cpu", choices=DEVICES, cm_flag=False),
    Option("precision", "CM_MLPERF_MODEL_PRECISION", choice(PRECISIONS, _PRECISION_ALIASES),
           "float32, float16 or uint8 (also: fp32, fp16, int8) (CM: _fp32, _fp16, _uint8)", default="float32",
           choices=PRECISIONS, cm_flag=False),
    Option("backend", "CM_MLPERF_BACKEND", choice(_BACKENDS), "runtime that runs the stand-in (CM: the backend "
           "variation)", default=_BACKENDS[0], choices=_BACKENDS, cm_flag=False),
    # CM flags, in the order the CM GUI shows them.
    Option("mode", "CM_MLPERF_LOADGEN_MODE", choice(MODES), "LoadGen mode; all = accuracy then performance (two "
           "LoadGen processes, two folders)", default="performance", choices=MODES, gui_preselect=True),
    Option("scenario", "CM_MLPERF_LOADGEN_SCENARIO", choice(SCENARIOS, _SCENARIO_ALIASES),
           "LoadGen scenario; beats the scenario variation", default="Offline", choices=SCENARIOS),
    Option("output_dir", "CM_MLPERF_OUTPUT_DIR", path,
           "base folder of the results tree (default ./test_results, named after the run style)", default="",
           is_path=True),
    Option("run_style", "CM_MLPERF_RUN_STYLE", choice(RUN_STYLES), "test: short profile; fast: official durations "
           "/ 5; valid: official durations (--submission_dir's default)", default="test", choices=RUN_STYLES,
           gui_preselect=True),
    Option("model_size", "CM_MLPERF_DUMMY_MODEL_SIZE", text, "stand-in size: small (the default), medium (resnet50 "
           "only) or full (the benchmark's real dimensions)", default="", choices=MODEL_SIZES),
    Option("dataset_size", "CM_MLPERF_DUMMY_DATASET_SIZE", whole(), "synthetic samples in the dataset (default: "
           "the benchmark's)"),
    Option("dataset_dir", "CM_MLPERF_DUMMY_DATASET_DIR", path,
           "dataset cache folder (default ~/.cache/mlperf-dummy-harness/datasets)", default="", is_path=True),
    Option("count", "CM_MLPERF_LOADGEN_QUERY_COUNT", whole(),
           "performance: queries of a test-style run (Offline: samples); accuracy: samples evaluated, at most "
           f"--dataset_size (default {_dataset_sizes()})"),
    Option("max_batchsize", "CM_MLPERF_LOADGEN_MAX_BATCHSIZE", whole(),
           "largest batch the SUT forms (default: the benchmark's, 1 in SingleStream); beats _bs.N"),
    Option("performance_sample_count", "CM_MLPERF_LOADGEN_PERFORMANCE_SAMPLE_COUNT", whole(),
           "samples LoadGen keeps loaded (default: min(official, dataset size))"),
    Option("target_qps", "CM_MLPERF_LOADGEN_TARGET_QPS", positive("queries per second"),
           "Offline/Server target QPS"),
    Option("offline_target_qps", "CM_MLPERF_LOADGEN_OFFLINE_TARGET_QPS", positive("queries per second"),
           "Offline target QPS (beats --target_qps)"),
    Option("server_target_qps", "CM_MLPERF_LOADGEN_SERVER_TARGET_QPS", positive("queries per second"),
           "Server target QPS (beats --target_qps)"),
    Option("target_latency", "CM_MLPERF_LOADGEN_TARGET_LATENCY", positive("milliseconds"),
           "SingleStream/MultiStream expected latency in ms"),
    Option("singlestream_target_latency", "CM_MLPERF_LOADGEN_SINGLESTREAM_TARGET_LATENCY", positive("milliseconds"),
           "SingleStream expected latency in ms (beats --target_latency)"),
    Option("multistream_target_latency", "CM_MLPERF_LOADGEN_MULTISTREAM_TARGET_LATENCY", positive("milliseconds"),
           "MultiStream expected latency in ms (beats --target_latency)"),
    Option("user_conf", "CM_MLPERF_USER_CONF", conf_file,
           "a LoadGen user.conf used instead of the generated one (copied into the run folder)", default=None,
           is_path=True),
    Option("mlperf_conf", "CM_MLPERF_CONF", conf_file,
           "a mlperf.conf used instead of the official one embedded in LoadGen", default=None, is_path=True),
    Option("skip_preprocess", "CM_SKIP_PREPROCESS_DATASET", yes_no,
           "never generate the dataset: fail if it is not cached", default=False, aliases=("skip_preprocessing",)),
    Option("rerun", "CM_RERUN", yes_no, "run again even if a VALID result of the same configuration is stored",
           default=False),
    Option("report", "CM_MLPERF_DUMMY_REPORT", yes_no, "at the end, write report.html (latency distribution, "
           "throughput over the run, TTFT/TPOT) and its PNGs into the run folder; turns LoadGen's trace on",
           default=False, old_env=("CM_MLPERF_REPORT",)),
    Option("results_repo", "CM_MLPERF_INFERENCE_RESULTS_REPO", plain_url, "git URL or path (file://... works "
           "offline) of a repository whose dummy_harness_backend.py replaces the built-in backend", harness=False),
    # Filled by the get,git,repo dependency from --results_repo.
    Option("implementation_repo", "CM_MLPERF_INFERENCE_IMPLEMENTATION_REPO", folder(),
           "a repository holding dummy_harness_backend.py: its Backend replaces the built-in one (CM: "
           "--results_repo)", default="", cm_flag=False, is_path=True),
    Option("threads", "CM_MLPERF_DUMMY_THREADS", whole(), "torch threads of the one compute thread (default: "
           "Offline one worker per core, Server all cores but one, SingleStream/MultiStream the fastest pool size "
           "timed at start, else all cores)"),
    Option("watchdog_s", "CM_MLPERF_DUMMY_WATCHDOG_S", positive("seconds"), "end the run when no response comes "
           "for this many seconds while queries are outstanding (default: 20x the scenario's latency bound, at "
           "least 60)", cm_flag=False),
    Option("seed", "CM_MLPERF_DUMMY_SEED", whole(0), "dataset seed", default=0),
    Option("hw_name", "CM_HW_NAME", word(r"[A-Za-z0-9_.-]+", "letters, digits and . _ -"),
           "hardware name used in the SUT name (default: host name)", default=""),
    # MLPerf submission (dummy_harness/submission/); CM's env names where CM has one.
    Option("submission_dir", "CM_MLPERF_INFERENCE_SUBMISSION_DIR", path, "make an MLPerf open-division "
           "submission there: accuracy, performance and compliance runs, the tree, the official checker",
           default="", is_path=True),
    Option("submitter", "CM_MLPERF_SUBMITTER", word(r"[A-Za-z0-9][A-Za-z0-9_.-]*", "letters, digits and . _ -",
                                                    "it becomes a folder name of the submission"),
           "organisation name of the submission (its folder name); needed with --submission_dir", default=""),
    Option("division", "CM_MLPERF_SUBMISSION_DIVISION", division,
           "submission division (closed is refused: the stand-ins are not the reference models)", default="open",
           choices=("open",)),
    Option("submission_round", "CM_MLPERF_INFERENCE_VERSION", choice(tuple(rounds.ROUNDS), _ROUND_ALIASES),
           "MLPerf round: its LoadGen seeds, checker, tree layout and compliance tests (with --submission_dir: the "
           "newest round that has the benchmark)", default="", choices=tuple(rounds.ROUNDS),
           old_env=("CM_MLPERF_SUBMISSION_ROUND",)),
    # Also what CM's online get,mlcommons,inference,src dependency exports.
    Option("inference_src", "CM_MLPERF_INFERENCE_SOURCE", folder("a checkout of mlcommons/inference"),
           "a checkout of mlcommons/inference: compliance audit.config files, verification scripts, the "
           "submission checker", default="", is_path=True),
    Option("system_json", "CM_MLPERF_DUMMY_SYSTEM_JSON", existing_file,
           "a JSON file whose fields override the system description read off this machine", default="",
           is_path=True),
    Option("compliance_test", "CM_MLPERF_LOADGEN_COMPLIANCE_TEST", compliance_test,
           "run one compliance test with its official audit.config (needs --inference_src)", default="",
           choices=COMPLIANCE_TESTS),
    # Where the compute runs (executors/): this process, or workers on Ray (executors/ray.py).
    Option("executor", "CM_MLPERF_DUMMY_EXECUTOR", choice(EXECUTORS), "where the compute runs: local = this "
           "process (the executor chosen by scenario); ray = --workers Ray actors, each a backend with the model on "
           "one device (CM: _local, _ray)", default="local", choices=EXECUTORS, cm_flag=False),
    Option("workers", "CM_MLPERF_DUMMY_WORKERS", whole(), "--executor=ray: how many workers (Ray actors, one backend "
           "each): one per GPU with _cuda, one per node on a cluster of CPU nodes; on one machine they share its "
           "free CPUs, or take --threads CPUs each (default 1)"),
    Option("ship_samples", "CM_MLPERF_DUMMY_SHIP_SAMPLES", yes_no, "--executor=ray: every call carries its "
           "samples' input arrays and workers keep no dataset (the network division's wire: one call per query, "
           "no batching of queries; LoadGen's SUT name lists the workers' nodes); default: calls carry sample "
           "indices", default=False),
    Option("ray_address", "CM_MLPERF_DUMMY_RAY_ADDRESS", ray_address, "--executor=ray: the Ray cluster to join "
           "(HOST:PORT of its head, or auto); default: $RAY_ADDRESS, else a new local Ray bound to 127.0.0.1 with "
           "no dashboard"),
    Option("progress", "CM_MLPERF_DUMMY_PROGRESS", choice(PROGRESS, _PROGRESS_ALIASES), "status line of the "
           "LoadGen test: auto = one line updated in place on a terminal, else a new line every 10 s or 10%; "
           "lines = always new lines; off = none (also: yes, no)", default="auto", choices=PROGRESS),
)

BY_NAME: Dict[str, Option] = {o.name: o for o in OPTIONS}
# The options a RunConfig is built from (CM-only flags such as results_repo are checked and passed on).
OPTION_NAMES: Tuple[str, ...] = tuple(o.name for o in OPTIONS if o.harness)
ENV_TO_OPTION: Dict[str, str] = {o.env: o.name for o in OPTIONS if o.env and o.harness}
# Deprecated env key -> (option, the key that replaced it).
OLD_ENV: Dict[str, Tuple[str, str]] = {old: (o.name, o.env) for o in OPTIONS for old in o.old_env}
PASSTHROUGH: Tuple[Option, ...] = tuple(o for o in OPTIONS if not o.harness)
PATHS: Tuple[Option, ...] = tuple(o for o in OPTIONS if o.is_path)


def default(name: str) -> Any:
    return BY_NAME[name].default


def blank(value: Any) -> bool:
    return value is None or (isinstance(value, str) and value.strip() == "")


def parse_given(raw: Mapping[str, Any]) -> Dict[str, Any]:
    """The typed value of every option given (blank values count as not given); ConfigError (one line) for an
    unknown option or a bad value."""
    unknown = sorted(k for k in raw if k not in OPTION_NAMES)
    if unknown:
        raise ConfigError(f"unknown option --{unknown[0]}; known: {', '.join(OPTION_NAMES)}")
    return {o.name: o.parse(o.name, raw[o.name]) for o in OPTIONS
            if o.harness and o.name in raw and not blank(raw[o.name])}
