"""A worker: one backend running one benchmark's stand-in on one device, with the dataset's samples in RAM.

    worker = prepare(cfg)                      # benchmark, backend, dataset, loaded rows, calibration, model
    encoded = worker.compute(indices)          # fixed-compute models: one batch's official response bytes
    prompt = worker.prompt(index)              # LLMs: what executors/generation.py feeds the DecodeEngine
    worker.close()

The run, bench/, the tests and remote workers (an executor's processes on other devices) all build workers with
`prepare`, so what a worker is exists once.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, List, Optional, Sequence

import numpy as np

from . import backends as backend_registry
from . import models
from .backends.base import Backend, BackendError, Pending
from .config import RunConfig
from .dataset import Dataset, DatasetError, open_dataset
from .executors.base import SUTFailure
from .exit_codes import ExitCode, RunError
from .loadgen.qsl import SampleStore
from .models.base import Benchmark, Encoded


@dataclass
class Worker:
    bench: Benchmark
    backend: Backend
    dataset: Dataset
    store: SampleStore
    calibration_set: Optional[Dict[str, Any]] = None      # what int8 was calibrated on (results.json)
    model_digest: str = ""                                 # prepare_compute: the stand-in's weights (dataset.py)
    _staged: Any = field(default=None, repr=False)
    _staged_version: int = field(default=-1, repr=False)

    # ---- fixed-compute models ----------------------------------------------------------------------------------
    def compute(self, indices: List[int]) -> Encoded:
        """Gather, predict and encode one batch of loaded samples."""
        return self.collect(self.submit(indices), indices)

    def submit(self, indices: List[int]) -> Pending:
        """Start one batch (a device backend returns before it is done)."""
        try:
            return self.backend.submit(self.inputs(indices))
        except Exception as exc:   # noqa: BLE001 - any failure ends the run, with its reason
            raise SUTFailure(f"{type(exc).__name__} on a batch of {len(indices)} samples: {exc}") from exc

    def collect(self, submitted: Pending, indices: Sequence[int]) -> Encoded:
        """The official response bytes of a submitted batch, one span per sample."""
        try:
            encoded = self.bench.encode(submitted.result(), indices)
        except Exception as exc:   # noqa: BLE001 - any failure ends the run, with its reason
            raise SUTFailure(f"{type(exc).__name__} on a batch of {len(indices)} samples: {exc}") from exc
        if len(encoded.spans) != len(indices) or not encoded.buffer.flags.c_contiguous:
            raise SUTFailure(f"the benchmark encoded {len(encoded.spans)} responses for {len(indices)} samples")
        return encoded

    def inputs(self, indices: Sequence[int]):
        """The model inputs of a batch; a backend that reads none (the zero-compute one) is spared the gather."""
        if not self.backend.reads_inputs:
            return (np.empty((len(indices), 0), np.float32),)
        return self.bench.collate(self.rows(), self.store.slots(indices))

    def rows(self):
        """The loaded samples where the backend wants them (staged again when LoadGen loaded other samples)."""
        if self._staged_version != self.store.version:
            self._staged, self._staged_version = self.backend.stage(self.store.ram), self.store.version
        return self._staged

    # ---- generative models ------------------------------------------------------------------------------------
    def prompt(self, index: int) -> np.ndarray:
        return self.bench.prompt(self.store.ram, self.store.slots([index])[0])

    def close(self) -> None:
        self.backend.close()


def prepare(cfg: RunConfig, log: Callable[[str], None] = print, load_samples: int = 0,
            backend: Optional[Backend] = None) -> Worker:
    """The worker of a run: the stand-in built, the dataset opened (generated first if needed), the first samples
    loaded, the backend prepared for the device and precision (int8: calibrated on a split no evaluated sample
    belongs to). Raises RunError (one line, with its exit code) when this machine cannot do it.
    `load_samples`: how many samples to load beyond the warm-up rows (bench and tests load all of theirs);
    `backend`: an instance to run instead of the one cfg names (bench's and tests' own backends; the Ray
    executor's stand-in for its remote workers, executors/ray.py)."""
    bench, backend = _start(cfg, backend, log)
    model = bench.build_model(cfg.dataset_dir)   # a fitted stand-in is cached beside the datasets
    try:
        dataset = open_dataset(bench, model, cfg.samples, cfg.seed, cfg.dataset_dir,
                               allow_create=not cfg.skip_preprocess)
    except DatasetError as exc:
        raise RunError(str(exc)) from None

    store = SampleStore(bench, dataset.arrays, dataset.count)
    warm = min(dataset.count, 4 * cfg.batch_size)
    store.load(range(max(warm, min(load_samples, dataset.count))))
    # int8 ranges come from a calibration split that no evaluated sample is part of (MLPerf's calibration lists
    # are disjoint from the validation sets); other precisions warm up on the first loaded samples.
    calibration, calibration_set = bench.calibration_batches(store.ram, cfg.batch_size, warm), None   # slot = index
    if cfg.precision == "uint8":
        calibration, calibration_set = bench.calibration_split(cfg.seed, cfg.batch_size)
    # Where a backend may cache artefacts (e.g. exports): beside the dataset.
    _load(backend, model, cfg, calibration, os.path.dirname(dataset.path))
    return Worker(bench, backend, dataset, store, calibration_set)


def prepare_compute(cfg: RunConfig, calibration, log: Callable[[str], None] = print,
                    backend: Optional[Backend] = None) -> Worker:
    """A worker with no dataset: the stand-in on its backend, warmed up on (int8: calibrated with) the batches
    `calibration` that the caller's `prepare` made. Its batches come with their inputs (the Ray executor's
    workers with --ship_samples); `dataset` and `store` are None, `model_digest` says which weights it built."""
    from .dataset import default_root, weights_digest

    bench, backend = _start(cfg, backend, log)
    model = bench.build_model(cfg.dataset_dir)   # a fitted stand-in is cached beside the datasets
    digest = weights_digest(model)       # before the backend may change the model (fp16, int8)
    _load(backend, model, cfg, calibration, cfg.dataset_dir or default_root())
    return Worker(bench, backend, None, None, model_digest=digest)


def _start(cfg: RunConfig, backend: Optional[Backend], log: Callable[[str], None]):
    """The benchmark and the backend instance, once this machine is known to run them; torch's pool sized."""
    import torch

    from .tuning import thread_layout

    # The torch pool of the layout first: a backend that does not follow torch's pool later keeps what it saw.
    torch.set_num_threads(thread_layout(cfg)[1])
    bench = models.load(cfg.spec, cfg.size)
    too_big = bench.fits()
    if too_big:
        raise RunError(too_big)
    if backend is None:
        try:
            backend = backend_registry.load(cfg.backend, cfg.implementation_repo)
        except backend_registry.PluginError as exc:
            raise RunError(str(exc)) from None
    if cfg.implementation_repo and not backend.plugin:
        log(f"No {backend_registry.PLUGIN_FILE} in {cfg.implementation_repo}: using the built-in {cfg.backend} "
            "backend")
    reason = type(backend).unavailable_reason(cfg.device)
    if reason:
        raise RunError(reason)
    return bench, backend


def _load(backend: Backend, model, cfg: RunConfig, calibration, cache_dir: str) -> None:
    backend.cache_dir = cache_dir
    try:
        backend.load(model, cfg.device, cfg.precision, calibration)
    except BackendError as exc:
        raise RunError(str(exc)) from None
    except RunError:
        raise
    except Exception as exc:   # noqa: BLE001 - a (vendor) backend failing to prepare: its reason, one line
        raise RunError(f"the {backend.name} backend failed to prepare the model: {type(exc).__name__}: {exc}",
                       ExitCode.SUT_FAILURE) from None
