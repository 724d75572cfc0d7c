"""The resnet50 stand-in: deterministic, input-dependent, spread over many classes, official encoding."""
import numpy as np
import pytest
import torch

from dummy_harness import catalogue, models
from dummy_harness.dataset import open_dataset, weights_digest
from dummy_harness.models.resnet50 import NUM_CLASSES, synthetic_image


@pytest.fixture(scope="module")
def bench():
    return models.load(catalogue.get("resnet50"), "small")


@pytest.fixture(scope="module")
def model(bench, dataset_dir):
    return bench.build_model(str(dataset_dir))


@pytest.fixture(scope="module")
def dataset(bench, model, dataset_dir):
    return open_dataset(bench, model, 256, 0, str(dataset_dir))


def test_weights_are_deterministic(bench, model, dataset_dir):
    assert weights_digest(bench.build_model(str(dataset_dir))) == weights_digest(model)


def test_samples_are_deterministic_per_index():
    assert np.array_equal(synthetic_image(0, 7), synthetic_image(0, 7))
    assert not np.array_equal(synthetic_image(0, 7), synthetic_image(0, 8))


def test_the_dataset_keeps_what_rebuilds_each_image_not_the_image(bench, dataset):
    assert "inputs" not in dataset.arrays
    rows = bench.load_rows(dataset.arrays, np.array([3, 5]))
    attempts = np.asarray(dataset.arrays["attempts"])
    assert np.array_equal(rows["inputs"][1], synthetic_image(0, 5, int(attempts[5])))


def test_predictions_spread_over_many_classes(dataset):
    labels = np.asarray(dataset.arrays["labels"])
    assert len(np.unique(labels)) >= 100          # of 256 samples
    assert np.bincount(labels, minlength=NUM_CLASSES).max() <= 16


def test_outputs_vary_with_the_input(bench, model, dataset):
    x = bench.collate(bench.load_rows(dataset.arrays, np.arange(32)), range(32))
    with torch.inference_mode():
        out = model(*x)
        shuffled = model(x[0][torch.randperm(32, generator=torch.Generator().manual_seed(1))])
    assert len(set(out.tolist())) > 16
    assert not torch.equal(out, shuffled)


def test_labels_do_not_depend_on_batch_size(bench, model, dataset):
    labels = np.asarray(dataset.arrays["labels"][:24])
    with torch.inference_mode():
        rows = bench.load_rows(dataset.arrays, np.arange(24))       # the images, rebuilt from their index
        one_by_one = [int(model(*bench.collate(rows, [i]))[0]) for i in range(24)]
    assert one_by_one == labels.tolist()


def test_response_encoding_is_official_float32_class_index(bench, model, dataset):
    with torch.inference_mode():
        out = model(*bench.collate(bench.load_rows(dataset.arrays, np.arange(4)), range(4)))
    encoded = bench.encode(out, range(4))
    assert encoded.buffer.dtype == np.float32 and encoded.buffer.flags.c_contiguous
    assert encoded.spans == [(0, 4), (4, 4), (8, 4), (12, 4)]
    offset, size = encoded.spans[2]
    hex_data = encoded.buffer.tobytes()[offset:offset + size].hex().upper()   # what LoadGen logs
    assert int(np.frombuffer(bytes.fromhex(hex_data), np.float32)[0]) == int(out[2])
    assert int(bench.decode(hex_data)[0]) == int(out[2])


def test_val_map_lists_labels_in_sample_order(dataset):
    lines = open(f"{dataset.path}/val_map.txt").read().splitlines()
    assert len(lines) == dataset.count
    assert [int(line.split()[1]) for line in lines] == np.asarray(dataset.arrays["labels"]).tolist()
