"""harness_efficiency: LoadGen Offline samples/s through the harness's SUT divided by the raw samples/s of the
same stand-in (collate + predict + encode, no LoadGen), same thread, same batch size, in one process.
Raw throughput is measured before and after the LoadGen run and averaged, so drift shows as a wide spread.
"""
from __future__ import annotations

import os
import tempfile
import threading
import time
from typing import Dict, List

import numpy as np
import torch

from dummy_harness.backends.pytorch import PyTorchBackend
from dummy_harness.dataset import open_dataset
from dummy_harness.loadgen.qsl import SampleStore, construct
from dummy_harness.loadgen.sut import BatchingSUT
from dummy_harness.models.resnet50 import ResNet50


def raw_rate(bench, backend, arrays, batch: int, samples: int) -> float:
    n = len(next(iter(arrays.values())))
    start = time.perf_counter()
    done = 0
    while done < samples:
        idx = [(done + i) % n for i in range(batch)]
        bench.encode(backend.predict(bench.collate(arrays, idx)), idx)
        done += batch
    return done / (time.perf_counter() - start)


def loadgen_rate(bench, backend, store, batch: int, samples: int, outdir: str) -> float:
    import mlperf_loadgen as lg

    settings = lg.TestSettings()          # no FromConfig: several tests in one process stay clean
    settings.scenario = lg.TestScenario.Offline
    settings.mode = lg.TestMode.PerformanceOnly
    settings.min_duration_ms = 0
    settings.min_query_count = samples
    settings.max_query_count = samples
    settings.offline_expected_qps = 1
    log = lg.LogSettings()
    log.log_output.outdir = outdir
    log.log_output.copy_summary_to_stdout = False
    log.enable_trace = False
    sut = BatchingSUT(bench, backend, store, batch)
    lg_sut = lg.ConstructFastSUT(sut.issue, sut.flush)
    total = len(store.loaded)
    lg_qsl = construct(store, total, total)
    thread = threading.Thread(target=lambda: (lg.StartTestWithLogSettings(lg_sut, lg_qsl, settings, log,
                                                                          os.path.join(outdir, "none")),
                                              sut.finish()), name="loadgen")
    thread.start()
    sut.serve()
    thread.join()
    lg.DestroyQSL(lg_qsl)
    lg.DestroyFastSUT(lg_sut)
    for line in open(os.path.join(outdir, "mlperf_log_detail.txt")):
        if '"result_samples_per_second"' in line:
            import json
            return float(json.loads(line[len(":::MLLOG "):])["value"])
    raise RuntimeError("no result in the detail log")


def measure(size: str = "small", batches=(1, 8, 32), seconds: float = 2.0, repeats: int = 3,
            dataset_dir: str = "") -> Dict[str, Dict[str, float]]:
    torch.set_num_threads(os.cpu_count() or 1)
    bench = ResNet50(size)
    model = bench.build_model()
    dataset = open_dataset(bench, model, 256, 0, dataset_dir or os.path.join(tempfile.gettempdir(), "bench-ds"))
    backend = PyTorchBackend()
    store = SampleStore(bench, dataset.arrays, dataset.count)
    store.load(range(dataset.count))
    backend.load(model, "cpu", "float32", [bench.collate(store.ram, range(8))])
    out: Dict[str, Dict[str, float]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for batch in batches:
            rate = raw_rate(bench, backend, store.ram, batch, batch * 3)        # warm this shape
            samples = max(batch * 4, int(rate * seconds) // batch * batch)
            ratios: List[float] = []
            ms_per_batch = 1e3 * batch / rate
            for _ in range(repeats):
                before = raw_rate(bench, backend, store.ram, batch, samples)
                lg_rate = loadgen_rate(bench, backend, store, batch, samples, tmp)
                after = raw_rate(bench, backend, store.ram, batch, samples)
                ratios.append(lg_rate / ((before + after) / 2))
            out[f"resnet50_{size}_b{batch}"] = {"ratio": round(float(np.median(ratios)), 3),
                                                "ms_per_batch": round(ms_per_batch, 3),
                                                "target": 0.95 if ms_per_batch >= 1 else 0.85}
    return out
