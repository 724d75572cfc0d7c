"""Stand-ins whose weights are fitted (trained) to structure planted in their data: fitted once, then cached.

A trained network decides most inputs by a wide margin because its weights were fitted to structure in its data;
an untrained random one decides nearly everything by a hair and amplifies small perturbations (rounding to int8,
fp16), so its lower-precision runs fail where real deployments pass. resnet50 and retinanet are therefore trained
for a fixed number of steps from a fixed seed, on a training split of their own generator that neither a dataset
(samples 0..count-1) nor the calibration split (CALIBRATION_INDEX onwards) reaches: TRAINING_INDEX onwards.

The fit runs on one thread: oneDNN's reductions in the backward pass depend on the thread count, so one thread
gives the same weights whatever the machine's core count (the same CPU and torch build give the same bits).
Its result is a state dict under `<dataset cache root>/fitted/<key>.pt`, the key naming everything that changes
it; written to a temporary file and renamed into place, under a lock so that two processes fit it once.
"""
from __future__ import annotations

import contextlib
import hashlib
import json
import os
import pickle
import sys
import tempfile
import time
from typing import Any, Callable, Dict, Iterator, Optional

import torch
from torch import nn

# Bumped whenever a fitting procedure changes what it produces, so cached fits are redone.
FIT_VERSION = 1
# The training split: samples TRAINING_INDEX + i of a stand-in's generator (datasets hold 0..count-1 < 2**31,
# the calibration split 2**40 onwards).
TRAINING_INDEX = 2 ** 41


def fit_key(name: str, size: str, params: Dict[str, Any]) -> str:
    """File name of a fit: the family, size, fit and generator versions, torch release, and a digest of
    everything else that changes it (steps, seeds, learning rate, ...)."""
    from ..dataset import GENERATOR_VERSION

    digest = hashlib.sha1(json.dumps(params, sort_keys=True).encode()).hexdigest()[:10]
    torch_version = torch.__version__.split("+")[0]
    return f"{name}-{size}-fit{FIT_VERSION}-g{GENERATOR_VERSION}-torch{torch_version}-{digest}"


def cache_folder(cache_dir: str = "") -> str:
    from ..dataset import default_root

    return os.path.join(cache_dir or default_root(), "fitted")


def default_init(model: nn.Module, seed: int) -> None:
    """torch's default initialisation of every layer, drawn from `seed` (the global generator is left as it was).
    Its small weights train faster under batch norm than He-normal ones: with He-normal, retinanet's 4-channel
    stem lost half its colours in the same number of steps."""
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        for m in model.modules():
            if hasattr(m, "reset_parameters"):
                m.reset_parameters()


@contextlib.contextmanager
def one_thread() -> Iterator[None]:
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)


@contextlib.contextmanager
def _locked(path: str) -> Iterator[None]:
    """An exclusive lock on `path` (blocking), where the platform has one."""
    try:
        import fcntl
    except ImportError:          # not POSIX: two processes may both fit; the rename still keeps one whole file
        yield
        return
    with open(path, "a") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def _load(path: str, skeleton: Callable[[], nn.Module]) -> Optional[nn.Module]:
    if not os.path.isfile(path):
        return None
    model = skeleton()
    try:
        model.load_state_dict(torch.load(path, map_location="cpu", weights_only=True))
    except (OSError, RuntimeError, ValueError, EOFError, pickle.UnpicklingError):   # unreadable, or other code's
        return None
    return model.eval()


def save_atomic(state: Dict[str, torch.Tensor], path: str) -> None:
    folder = os.path.dirname(path)
    fd, staging = tempfile.mkstemp(prefix=f".{os.path.basename(path)}.", dir=folder)
    try:
        with os.fdopen(fd, "wb") as f:
            torch.save(state, f)
        os.replace(staging, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(staging)
        raise


def cached_fit(key: str, skeleton: Callable[[], nn.Module], fit: Callable[[], nn.Module], cache_dir: str = "",
               what: str = "") -> nn.Module:
    """The fitted model stored under `key`, fitted first (by `fit()`, on one thread) if no process has yet.
    `skeleton()` builds the module the stored state dict loads into."""
    folder = cache_folder(cache_dir)
    path = os.path.join(folder, f"{key}.pt")
    found = _load(path, skeleton)
    if found is not None:
        return found
    try:
        os.makedirs(folder, exist_ok=True)
    except OSError as exc:
        raise RuntimeError(f"cannot write the cache of fitted stand-ins {folder}: {exc.strerror}") from None
    with _locked(path + ".lock"):
        found = _load(path, skeleton)      # another process may have fitted it while this one waited
        if found is not None:
            return found
        print(f"Fitting the {what or key} stand-in (once; cached in {folder})", file=sys.stderr, flush=True)
        start = time.perf_counter()
        with one_thread():
            model = fit()
        save_atomic(model.state_dict(), path)
        print(f"Fitted in {time.perf_counter() - start:.0f} s", file=sys.stderr, flush=True)
    found = _load(path, skeleton)
    if found is None:
        raise RuntimeError(f"the fitted stand-in {path} could not be read back after it was written")
    return found
