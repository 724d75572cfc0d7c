"""The synthetic dataset on disk: generated once per (benchmark, size, count, seed, generator), then reused.

A dataset folder holds one `.npy` per array (inputs and ground truth), the files the official accuracy script
needs (e.g. `val_map.txt`) and `dataset.json`. It is created in a temporary folder and renamed into place, so a
reader never sees half a dataset and two runs creating the same one at once do not corrupt each other.
"""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from dataclasses import dataclass
from typing import Any, Dict, Optional

import numpy as np
import torch

from . import host
from .models.base import Arrays, Benchmark

# Bumped whenever a generator changes what it keeps (2: resnet50's wider tie margin; 3: one margin rule for
# every benchmark, stand-ins fitted to structure their data carries; 4: inputs rebuilt from their index on load,
# datasets of official size written a chunk at a time; 5: resnet50, retinanet and the LLMs trained on new
# synthetic data, retinanet's margin rule; 6: resnet50's images rebuilt from their index on load), so caches
# regenerate.
GENERATOR_VERSION = 6


class DatasetError(RuntimeError):
    """The dataset cannot be found or made; str() is a one-line reason."""


@dataclass
class Dataset:
    path: str
    meta: Dict[str, Any]
    arrays: Arrays          # memory-mapped, read-only

    @property
    def count(self) -> int:
        return int(self.meta["count"])


def default_root() -> str:
    return os.path.join(host.user_cache(), "datasets")


def weights_digest(model: torch.nn.Module) -> str:
    """Short digest of the stand-in's weights: ground truth is only valid for the model that produced it."""
    h = hashlib.sha1()
    for name, tensor in sorted(model.state_dict().items()):
        h.update(name.encode())
        h.update(tensor.detach().cpu().contiguous().numpy().tobytes())
    return h.hexdigest()[:10]


def dataset_key(bench: Benchmark, count: int, seed: int, model: torch.nn.Module) -> str:
    # Ground truth comes from the fp32 stand-in, whose numerics belong to this torch release.
    torch_version = torch.__version__.split("+")[0]
    return (f"{bench.spec.name}-{bench.size}-n{count}-seed{seed}-g{GENERATOR_VERSION}-torch{torch_version}"
            f"-w{weights_digest(model)}")


def _read(path: str) -> Optional[Dataset]:
    meta_path = os.path.join(path, "dataset.json")
    if not os.path.isfile(meta_path):
        return None
    try:
        with open(meta_path) as f:
            meta = json.load(f)
        arrays = {name: np.load(os.path.join(path, f"{name}.npy"), mmap_mode="r") for name in meta["arrays"]}
    except (OSError, ValueError, KeyError):
        return None
    return Dataset(path, meta, arrays)


# Samples generated at a time by a benchmark that generates ranges: the memory a dataset costs while it is built.
CHUNK = 512


def _write_arrays(bench: Benchmark, model: torch.nn.Module, count: int, seed: int, folder: str) -> Arrays:
    """Generate the dataset's arrays into `folder` (one .npy each) and return them memory-mapped. A benchmark
    that generates ranges (Benchmark.generate_range) is written CHUNK samples at a time into files of the final
    size, so neither RAM nor disk ever holds more than its ground truth and one chunk; others at once."""
    if type(bench).generate_range is Benchmark.generate_range:
        arrays = bench.generate(model, count, seed)
        for name, array in arrays.items():
            np.save(os.path.join(folder, f"{name}.npy"), array)
    else:
        files: Arrays = {}
        for start in range(0, count, CHUNK):
            chunk = bench.generate_range(model, seed, start, min(start + CHUNK, count))
            for name, rows in chunk.items():
                if name not in files:
                    files[name] = np.lib.format.open_memmap(os.path.join(folder, f"{name}.npy"), mode="w+",
                                                            dtype=rows.dtype, shape=(count,) + rows.shape[1:])
                files[name][start:start + len(rows)] = rows
        for array in files.values():
            array.flush()
        del files
    return {name[:-4]: np.load(os.path.join(folder, name), mmap_mode="r")
            for name in sorted(os.listdir(folder)) if name.endswith(".npy")}


def open_dataset(bench: Benchmark, model: torch.nn.Module, count: int, seed: int, root: str = "",
                 allow_create: bool = True) -> Dataset:
    """The cached dataset of `model` (the fp32 stand-in, unmodified), generated first if needed."""
    root = root or default_root()
    key = dataset_key(bench, count, seed, model)
    path = os.path.join(root, key)
    found = _read(path)
    if found is not None:
        found.meta["reused"] = True
        return found
    if not allow_create:
        raise DatasetError(f"no cached dataset {key} under {root}: run once without --skip_preprocess")
    try:
        os.makedirs(root, exist_ok=True)
        staging = tempfile.mkdtemp(prefix=f".{key}.", dir=root)
    except OSError as exc:
        raise DatasetError(f"cannot write the dataset cache {root}: {exc.strerror}") from None
    try:
        arrays = _write_arrays(bench, model, count, seed, staging)
        bench.write_extras(staging, arrays)
        meta = {"key": key, "benchmark": bench.spec.name, "size": bench.size, "count": count, "seed": seed,
                "generator_version": GENERATOR_VERSION, "torch": torch.__version__, "arrays": sorted(arrays),
                "ground_truth": "outputs of the fp32 stand-in on the CPU"}
        with open(os.path.join(staging, "dataset.json"), "w") as f:
            json.dump(meta, f, indent=1)
        try:
            os.rename(staging, path)
        except OSError:
            # Another process finished the same dataset first: theirs is identical, use it.
            shutil.rmtree(staging, ignore_errors=True)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    found = _read(path)
    if found is None:
        raise DatasetError(f"dataset {path} could not be read back after creation")
    found.meta["reused"] = False
    return found
