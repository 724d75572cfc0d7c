"""Fitted stand-ins: the fit is deterministic, runs on one thread, is cached once under a key naming what changes
it, written whole or not at all, and what it learns is the structure planted in the data."""
import os
import threading
import time

import numpy as np
import pytest
import torch
from torch import nn

from dummy_harness import catalogue, models
from dummy_harness.dataset import open_dataset, weights_digest
from dummy_harness.models import fitting, resnet50, retinanet
from dummy_harness.models.decoder import generate_references


def small_fit(monkeypatch, seed: int) -> str:
    """The resnet50 fit itself, on 64 training images for 3 steps (seconds, not the real minute)."""
    monkeypatch.setitem(resnet50.FIT, "images", 64)
    monkeypatch.setitem(resnet50.FIT, "bn_images", 64)
    width, blocks, patchify = resnet50.SIZES["small"]
    with fitting.one_thread():
        model = resnet50.fit_classifier(resnet50.ResNet50Net(width, blocks, patchify=patchify), 3, seed)
    return weights_digest(model)


def test_the_fit_is_deterministic_per_seed(monkeypatch):
    first = small_fit(monkeypatch, 50)
    assert small_fit(monkeypatch, 50) == first
    assert small_fit(monkeypatch, 51) != first


def test_the_key_names_what_changes_the_fit():
    params = {"steps": 600, "seed": 50}
    key = fitting.fit_key("resnet50", "small", params)
    assert f"fit{fitting.FIT_VERSION}" in key and torch.__version__.split("+")[0] in key
    others = {fitting.fit_key("resnet50", "medium", params), fitting.fit_key("retinanet", "small", params),
              fitting.fit_key("resnet50", "small", {**params, "seed": 51}),
              fitting.fit_key("resnet50", "small", {**params, "steps": 601})}
    assert key not in others and len(others) == 4


def linear_fit(calls, delay=0.0):
    def fit():
        calls.append(torch.get_num_threads())
        time.sleep(delay)
        layer = nn.Linear(3, 2)
        with torch.no_grad():
            layer.weight.fill_(len(calls))
        return layer
    return fit


def test_the_fit_runs_once_on_one_thread_and_later_builds_load_it(tmp_path):
    calls = []
    first = fitting.cached_fit("k", lambda: nn.Linear(3, 2), linear_fit(calls), str(tmp_path))
    second = fitting.cached_fit("k", lambda: nn.Linear(3, 2), linear_fit(calls), str(tmp_path))
    assert calls == [1]                           # fitted once, on one thread
    assert torch.equal(first.weight, second.weight) and float(second.weight.detach()[0, 0]) == 1.0
    assert sorted(os.listdir(tmp_path / "fitted")) == ["k.pt", "k.pt.lock"]       # no temporary file left
    other = fitting.cached_fit("other", lambda: nn.Linear(3, 2), linear_fit(calls), str(tmp_path))
    assert len(calls) == 2 and float(other.weight.detach()[0, 0]) == 2.0          # another key is another fit


def test_two_processes_fitting_at_once_fit_once(tmp_path):
    calls, results = [], []

    def build():
        results.append(fitting.cached_fit("k", lambda: nn.Linear(3, 2), linear_fit(calls, 0.5), str(tmp_path)))
    threads = [threading.Thread(target=build) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(calls) == 1 and torch.equal(results[0].weight, results[1].weight)


def test_a_failed_write_leaves_nothing_and_an_unreadable_file_is_fitted_again(tmp_path):
    path = tmp_path / "x.pt"
    with pytest.raises(Exception):
        fitting.save_atomic({"w": torch.zeros(1), "bad": lambda: None}, str(path))     # not picklable
    assert list(tmp_path.iterdir()) == []
    (tmp_path / "fitted").mkdir()
    (tmp_path / "fitted" / "k.pt").write_bytes(b"not a state dict")
    calls = []
    fitting.cached_fit("k", lambda: nn.Linear(3, 2), linear_fit(calls), str(tmp_path))
    assert calls == [1]


def test_a_second_build_loads_the_cached_fit(dataset_dir, monkeypatch):
    bench = models.load(catalogue.get("resnet50"), "small")
    first = bench.build_model(str(dataset_dir))

    def no_fit(*args):
        raise AssertionError("fitted again although the fit is cached")
    monkeypatch.setattr(resnet50, "fit_classifier", no_fit)
    assert weights_digest(bench.build_model(str(dataset_dir))) == weights_digest(first)


def test_resnet50_learns_the_colours_of_each_class(dataset_dir):
    """The fp32 stand-in labels most images with the class whose colours they show (the rest are images where
    the distracting colour covers more than one of the class's own)."""
    bench = models.load(catalogue.get("resnet50"), "small")
    dataset = open_dataset(bench, bench.build_model(str(dataset_dir)), 256, 0, str(dataset_dir))
    planted = np.array([resnet50.scene(0, i)[1] for i in range(256)])
    assert np.mean(planted == np.asarray(dataset.arrays["labels"])) > 0.8


def test_retinanet_finds_each_planted_object_once(dataset_dir):
    bench = models.load(catalogue.get("retinanet"), "small")
    model = bench.build_model(str(dataset_dir))
    found = extra = total = 0
    with torch.inference_mode():
        out = model(retinanet.nchw(np.stack([retinanet.synthetic_image(0, i) for i in range(8)]))).numpy()
    for i, rows in enumerate(out):
        rows = rows[rows[:, 4] >= 0]
        boxes = {(int(round(r[0] * retinanet.IMAGE)), int(round(r[1] * retinanet.IMAGE)), int(r[5]) - 1)
                 for r in rows}
        objects = {(row * retinanet.OBJECT_STRIDE + retinanet.OFFSET - retinanet.OBJECT // 2,
                    col * retinanet.OBJECT_STRIDE + retinanet.OFFSET - retinanet.OBJECT // 2,
                    int(retinanet.CLASS_OF_KIND[kind])) for kind, row, col in retinanet.scene(0, i)[1]}
        found, extra, total = found + len(boxes & objects), extra + len(boxes - objects), total + len(objects)
    assert total > 100 and found >= 0.95 * total and extra <= 0.05 * total, (found, extra, total)


@pytest.mark.parametrize("name", ["gptj-99", "llama2-70b-99"])
def test_the_language_model_follows_its_language(name, dataset_dir):
    """Greedy continuations follow each word's successor (or end after a final word) nearly always."""
    bench = models.load(catalogue.get(name), "small")
    model = bench.build_model(str(dataset_dir))
    words, successor = bench.language()
    follows = dict(zip(words.tolist(), successor.tolist()))
    right = steps = 0
    for i in range(16):
        prompt = bench.synthetic_prompt(0, i)
        ((tokens, _),) = generate_references(model, [prompt], 0.0)
        previous = [int(prompt[-1])] + tokens
        for step, token in enumerate(tokens + [model.eos_id]):
            expected = follows[previous[step]]
            if step == model.size.max_new_tokens or (expected == model.eos_id and step < model.size.min_new_tokens):
                continue            # not the model's choice: the length limit, or the minimum length rule
            steps += 1
            right += token == expected
    assert right >= 0.95 * steps, (right, steps)
