"""Executor registry: how LoadGen's queries reach the compute. One class per file in this folder (base.py is the
interface; inline.py is the one to copy), one line below.

The local executors are chosen from the scenario and the run's layout (`local`); the others are chosen by name
(--executor). An executor whose workers run elsewhere gives the run a stand-in backend for them (`driver_backend`).
This module imports no executor until one is used.
"""
from __future__ import annotations

import importlib
from typing import Dict

from ..options import EXECUTORS
from .base import Collector, ExecutionPlan, Executor, Work

REGISTRY: Dict[str, str] = {
    "inline": "dummy_harness.executors.inline:InlineExecutor",
    "threads": "dummy_harness.executors.threads:ThreadPoolExecutor",
    "pipelined": "dummy_harness.executors.pipelined:PipelinedExecutor",
    "queued": "dummy_harness.executors.queued:QueuedExecutor",
    "ray": "dummy_harness.executors.ray:RayExecutor",
}
# The executors --executor names are options.EXECUTORS (the flag's choices and CM variations); `local` is
# whichever of the ones above local() chooses.
CHOSEN_BY_NAME = tuple(name for name in EXECUTORS if name != "local")


def local(scenario, plan: ExecutionPlan) -> str:
    """The executor of this process for a scenario: queued where LoadGen's arrivals do not wait for answers,
    else inline, spread over compute threads (Offline layout) or pipelined over a device's in-flight batches."""
    if scenario.queued:
        return "queued"
    if not plan.worker.bench.generative:
        if plan.compute_threads > 1:
            return "threads"
        if plan.worker.backend.in_flight > 1:
            return "pipelined"
    return "inline"


def choose(executor: str, scenario, plan: ExecutionPlan) -> str:
    """The executor of a run: the one --executor names, or for `local` the one local() chooses."""
    return executor if executor in CHOSEN_BY_NAME else local(scenario, plan)


def _class(name: str):
    module_name, class_name = REGISTRY[name].split(":")
    return getattr(importlib.import_module(module_name), class_name)


def build(name: str, plan: ExecutionPlan) -> Executor:
    return _class(name)(plan)


def driver_backend(cfg, log=print):
    """What this process prepares instead of a backend when the compute runs elsewhere (the executor class's
    `driver_backend`, e.g. the Ray executor's RayBackend, which connects at once so that a dead cluster fails
    before any dataset work, and starts the workers when prepare() loads it). None for the local executors."""
    if cfg.executor not in CHOSEN_BY_NAME:
        return None
    make = getattr(_class(cfg.executor), "driver_backend", None)
    return make(cfg, log) if make else None


def answer(plan: ExecutionPlan, indices, keep: bool = True) -> Collector:
    """Answer these samples (response id i for the i-th) without LoadGen, inline: capacity estimates, the thread
    choice, tests. The Collector holds the responses (none with keep=False)."""
    collector = Collector(keep)
    executor = build("inline", plan)
    executor.attach(collector)
    indices = [int(i) for i in indices]
    executor.issue(Work(list(range(len(indices))), indices))
    return collector
