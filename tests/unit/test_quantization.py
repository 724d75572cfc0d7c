"""int8 is a real, calibrated post-training quantization: int8 kernels, per-channel weight scales, ranges from a
calibration split that no evaluated sample belongs to; a deliberately bad quantization fails the accuracy check."""
import warnings

import numpy as np
import pytest
import torch

from conftest import build_worker
from dummy_harness import catalogue, executors, models
from dummy_harness.backends.pytorch import PyTorchBackend
from dummy_harness.backends.quantize import GOOD, Recipe, quantize
from dummy_harness.dataset import open_dataset
from dummy_harness.executors.base import ExecutionPlan
from dummy_harness.models.base import CALIBRATION_INDEX

BAD = Recipe(weights="per-tensor", weight_bits=4)      # one scale per tensor, weights rounded to 4 bits


def accuracy(name, backend, dataset_dir, count):
    """The accuracy report of `count` samples of the default dataset answered at uint8 by `backend` (as an Offline
    accuracy run answers them, without LoadGen)."""
    worker = build_worker(dataset_dir, name, backend=backend, precision="uint8")
    collector = executors.answer(ExecutionPlan(worker, worker.bench.spec.default_batch_size), range(count))
    bench = worker.bench
    return bench.evaluate({i: bench.decode(data.hex()) for i, data in collector.answers.items()},
                          worker.dataset.arrays)


@pytest.mark.parametrize("name", ["resnet50", "bert-99", "llama2-70b-99"])
def test_calibration_split_is_disjoint_from_the_evaluated_samples(name, dataset_dir):
    spec = catalogue.get(name)
    bench = models.load(spec, "")
    dataset = open_dataset(bench, bench.build_model(), spec.default_dataset_size, 0, str(dataset_dir))
    batches, info = bench.calibration_split(0, spec.default_batch_size)
    assert info["disjoint_from_evaluated"] and info["samples"] == bench.calibration_count
    assert int(info["indices"].split("..")[0]) == CALIBRATION_INDEX > 2**31      # no dataset reaches it
    evaluated = bench.load_rows(dataset.arrays, np.arange(dataset.count))
    first = bench.input_names[0]
    seen = {row.tobytes() for row in np.asarray(evaluated[first])}
    calibration = [row for batch in batches for row in batch[0].numpy()] if not bench.generative else \
        [batch[0][0].numpy().astype(np.int32) for batch in batches]
    assert len(calibration) == bench.calibration_count
    if bench.generative:
        prompts = {bench.prompt(evaluated, i).tobytes() for i in range(dataset.count)}
        assert not any(p.tobytes() in prompts for p in calibration)
    else:
        assert not any(row.astype(evaluated[first].dtype).tobytes() in seen for row in calibration)


@pytest.mark.parametrize("name", ["resnet50", "bert-99"])
def test_int8_runs_int8_kernels_with_per_channel_scales_and_records_how(name):
    bench = models.load(catalogue.get(name), "")
    calibration, _ = bench.calibration_split(0, 8)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        model, info = quantize(bench.build_model(), calibration, GOOD)
    assert not caught, [str(w.message) for w in caught]          # torch.ao's deprecation warnings stay quiet
    kinds = {type(m).__module__ for m in model.modules()}
    assert any(k.startswith("torch.ao.nn.quantized") for k in kinds), kinds
    weights = [m.weight() for m in model.modules() if type(m).__module__.startswith("torch.ao.nn.quantized")
               and callable(getattr(m, "weight", None))]
    assert weights and all(w.dtype == torch.qint8 for w in weights)
    assert all(w.qscheme() in (torch.per_channel_affine, torch.per_channel_symmetric) for w in weights)
    assert all(int(w.q_per_channel_zero_points().abs().max()) == 0 for w in weights)        # symmetric
    assert info["calibration_samples"] == bench.calibration_count and "per output channel" in info["weights"]
    bad, bad_info = quantize(bench.build_model(), calibration, BAD)
    bad_weights = [m.weight() for m in bad.modules() if type(m).__module__.startswith("torch.ao.nn.quantized")
                   and callable(getattr(m, "weight", None))]
    assert all(w.qscheme() in (torch.per_tensor_affine, torch.per_tensor_symmetric) for w in bad_weights)
    assert all(w.int_repr().abs().max() <= 8 for w in bad_weights) and "int4" in bad_info["weights"]


@pytest.mark.parametrize("name,count", [("resnet50", 128), ("retinanet", 64), ("bert-99", 64)])
def test_a_bad_quantization_fails_where_the_calibrated_one_does_better(name, count, dataset_dir):
    good = accuracy(name, PyTorchBackend(GOOD), dataset_dir, count)
    bad = accuracy(name, PyTorchBackend(BAD), dataset_dir, count)
    assert not bad.passed, bad.verdict()
    assert bad.value < good.value - 5, (good.verdict(), bad.verdict())
    if name == "bert-99":
        assert good.passed, good.verdict()
