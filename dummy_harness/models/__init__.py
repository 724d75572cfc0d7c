"""Benchmark stand-ins, one file each; `load(spec, size)` imports the class a catalogue entry names and builds it
with that entry, so the variations of a family (e.g. bert-99, bert-99.9) share one class."""
from __future__ import annotations

import importlib

from ..catalogue import BenchmarkSpec
from .base import Benchmark


def load(spec: BenchmarkSpec, size: str = "") -> Benchmark:
    if not spec.implementation:
        raise ValueError(f"model {spec.name!r} has no stand-in yet")
    module_name, class_name = spec.implementation.split(":")
    cls = getattr(importlib.import_module(module_name), class_name)
    return cls(spec, size)
