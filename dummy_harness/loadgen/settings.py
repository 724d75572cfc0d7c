"""LoadGen settings: the official conf, then one user.conf, then nothing else.

Order (one LoadGen test per process, because the embedded conf loads only once per process):
  1. the official mlperf.conf embedded in LoadGen for the benchmark's model key (or --mlperf_conf instead);
  2. a user.conf: the user's own file (--user_conf), or one the harness writes from the flags and the run style.
Everything the harness changes is therefore visible in the run folder's user.conf and in LoadGen's detail log.
"""
from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from typing import Dict, List, Optional

from .. import scenarios
from ..config import RunConfig

FAST_FACTOR = 5       # a fast-style run: the official durations and query counts / 5


class SettingsError(ValueError):
    """LoadGen refused a conf file; str() is one line."""


@dataclass(frozen=True)
class Official:
    """The values of the official conf this run starts from (read back from LoadGen)."""
    min_duration_ms: int
    min_query_count: int
    performance_sample_count: int
    server_target_latency_ms: float


@dataclass(frozen=True)
class Targets:
    """Performance targets: the user's, or estimated from the warm-up when a style needs them."""
    target_qps: Optional[float] = None
    target_latency_ms: Optional[float] = None
    estimated: bool = False


def qsl_total(cfg: RunConfig) -> int:
    """Samples in the QSL: the whole dataset, or the first --count samples in accuracy mode."""
    return cfg.count if (cfg.mode == "accuracy" and cfg.count) else cfg.samples


def conf_key(cfg: RunConfig) -> str:
    """The model key LoadGen reads this run's settings under (Interactive: `<model>-interactive`)."""
    return cfg.spec.loadgen_key + scenarios.get(cfg.scenario).conf_suffix


def render_user_conf(cfg: RunConfig, official: Official, targets: Targets) -> str:
    """The user.conf the harness writes: run style first, explicit flags after (later lines win)."""
    key, scenario = conf_key(cfg), scenarios.get(cfg.scenario)
    lines: List[str] = [f"# user.conf written by dummy_harness: run_style={cfg.run_style}"]

    def put(param: str, value) -> None:
        if isinstance(value, float):
            value = f"{value:.6g}"
        lines.append(f"{key}.{scenario.loadgen}.{param} = {value}")

    perf_count = cfg.performance_sample_count or min(official.performance_sample_count, qsl_total(cfg))
    if perf_count != official.performance_sample_count:
        put("performance_sample_count_override", perf_count)

    if cfg.run_style == "test":
        queries = cfg.count or cfg.spec.test_query_count.get(scenario.name, scenario.test_query_count)
        put("min_duration", 0)
        put("min_query_count", queries)
        # With min_duration 0 LoadGen stops at min_query_count by itself. Outside Offline a max_query_count makes
        # it log "Ending early" as an error whenever it plans more queries (Server, equal-issue LLM runs).
        if scenario.one_query:
            put("max_query_count", queries)
    elif cfg.run_style == "fast":
        put("min_duration", official.min_duration_ms // FAST_FACTOR)
        put("min_query_count", max(scenario.early_stopping_min_queries, official.min_query_count // FAST_FACTOR))
        if cfg.count:
            put("min_query_count", cfg.count)
    elif cfg.count:   # valid
        put("min_query_count", cfg.count)

    if scenario.estimate == "throughput" and targets.target_qps:
        put("target_qps", float(targets.target_qps))
    if scenario.estimate == "latency" and targets.target_latency_ms:
        put("target_latency", float(targets.target_latency_ms))
    return "\n".join(lines) + "\n"


def build(cfg: RunConfig, run_dir: str, targets: Targets = Targets()):
    """TestSettings for this run, with these performance targets (tuning.targets); writes run_dir/user.conf.
    Returns (settings, facts for results.json)."""
    import mlperf_loadgen as lg

    key, scenario = conf_key(cfg), scenarios.get(cfg.scenario).loadgen
    settings = lg.TestSettings()
    if cfg.mlperf_conf:
        shutil.copyfile(cfg.mlperf_conf, os.path.join(run_dir, "mlperf.conf"))
        rc = settings.FromConfig(cfg.mlperf_conf, key, scenario, 2)
        conf_source = f"--mlperf_conf {cfg.mlperf_conf} (replaces the official conf)"
    else:
        rc = settings.FromConfig("", key, scenario, 0)
        conf_source = "official mlperf.conf embedded in LoadGen"
    if rc != 0:
        raise SettingsError(f"LoadGen rejected the mlperf conf for {key}/{scenario} (code {rc})")
    settings.scenario = getattr(lg.TestScenario, scenario)
    official = Official(
        min_duration_ms=int(settings.min_duration_ms),
        min_query_count=int(settings.min_query_count),
        performance_sample_count=int(settings.performance_sample_count_override) or cfg.samples,
        server_target_latency_ms=settings.server_target_latency_ns / 1e6,
    )
    user_conf = os.path.join(run_dir, "user.conf")
    if cfg.user_conf:
        shutil.copyfile(cfg.user_conf, user_conf)
        user_conf_source = f"--user_conf {cfg.user_conf} (used as is; run_style not applied)"
    else:
        with open(user_conf, "w") as f:
            f.write(render_user_conf(cfg, official, targets))
        user_conf_source = "generated from the flags and run_style"
    rc = settings.FromConfig(user_conf, key, scenario, 2)
    if rc != 0:
        raise SettingsError(f"LoadGen rejected {user_conf} (code {rc})")
    settings.mode = lg.TestMode.AccuracyOnly if cfg.mode == "accuracy" else lg.TestMode.PerformanceOnly
    facts = {
        "mlperf_conf": conf_source, "user_conf": user_conf_source, "loadgen_model_key": key,
        "official": official.__dict__, "targets": targets.__dict__,
    }
    if cfg.submission_round:
        facts["seeds"] = set_round_seeds(settings, cfg.submission_round)
    return settings, facts


def set_round_seeds(settings, round_name: str) -> Dict[str, object]:
    """The submission round's RNG seeds. LoadGen takes seeds only from the conf compiled into the wheel (a
    user.conf cannot change them), and the checker refuses any other round's: set them on TestSettings."""
    from ..submission import rounds

    seeds = rounds.get(round_name).seeds
    for name, value in seeds.__dict__.items():
        setattr(settings, name, value)
    return {"round": round_name, **seeds.__dict__}


def official(model_key: str, scenario: str):
    """TestSettings of the official conf embedded in LoadGen for a benchmark's model key and our scenario."""
    import mlperf_loadgen as lg

    found = scenarios.get(scenario)
    settings = lg.TestSettings()
    rc = settings.FromConfig("", model_key + found.conf_suffix, found.loadgen, 0)
    if rc != 0:
        raise SettingsError(f"LoadGen has no official conf for {model_key}/{scenario} (code {rc})")
    return settings


def explicit(scenario: str, mode: str = "performance", **values):
    """TestSettings from explicit values only, no conf file (several tests in one process: bench/, the tests);
    min_duration is 0 unless given."""
    import mlperf_loadgen as lg

    settings = lg.TestSettings()
    settings.scenario = getattr(lg.TestScenario, scenarios.get(scenario).loadgen)
    settings.mode = lg.TestMode.AccuracyOnly if mode == "accuracy" else lg.TestMode.PerformanceOnly
    settings.min_duration_ms = 0
    for name, value in values.items():
        setattr(settings, name, value)
    return settings


def performance_sample_count(settings, total: int) -> int:
    """What LoadGen will load: the override when set, else the whole QSL (capped at the QSL size)."""
    override = int(settings.performance_sample_count_override)
    return min(override, total) if override else total


def summary_settings(settings) -> Dict[str, object]:
    return {name: getattr(settings, name) for name in (
        "min_duration_ms", "max_duration_ms", "min_query_count", "max_query_count", "server_target_qps",
        "server_target_latency_ns", "offline_expected_qps", "single_stream_expected_latency_ns",
        "multi_stream_expected_latency_ns", "multi_stream_samples_per_query", "performance_sample_count_override")}
