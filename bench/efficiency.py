"""harness_efficiency and latency_overhead: the harness's cost next to the model's, same thread, same batch.

harness_efficiency = LoadGen Offline throughput through the harness's SUT / raw throughput of the same
stand-in (gather + predict + encode back to back, no LoadGen), in short interleaved blocks (raw, LoadGen, raw;
common.interleaved): the median block ratio, and the blocks' spread.
Measured for each backend that runs the model here (pytorch, and onnxruntime when installed), side by side at each
batch, with the LoadGen throughput of each (samples_per_s), so one backend's rate reads next to the other's.
latency_overhead = SingleStream p90 (MultiStream p99) under LoadGen / the raw p90 (p99) of the same batch, both
with the torch pool size the harness picks for the scenario (tuning.choose_threads).
"""
from __future__ import annotations

from typing import Dict, List, Sequence

import torch

from dummy_harness.tuning import choose_threads, predict_of, thread_candidates

from . import common as c


def harness_efficiency(seconds: float, blocks: int, batches: Sequence[int] = (1, 8, 32),
                       models: Sequence[str] = ("resnet50", "bert-99"), llm: str = "llama2-70b-99",
                       backends: Sequence[str] = ("pytorch", "onnxruntime")) -> Dict[str, Dict[str, float]]:
    out: Dict[str, Dict[str, float]] = {}
    backends = [b for b in backends if _runs_here(b)]      # pytorch first: the others are compared with it
    for model in models:
        rigs = {b: c.rig(model, backend=b, batch=max(batches)) for b in backends}
        for batch in batches:
            pytorch = f"{model}_b{batch}"       # the keys the figure had before other backends were measured
            for backend, r in rigs.items():        # side by side: the host's load changes by the minute
                row = _efficiency(r, batch, seconds, blocks)
                if backend != "pytorch":
                    row["vs_pytorch"] = round(row["samples_per_s"] / out[pytorch]["samples_per_s"], 3)
                out[pytorch if backend == "pytorch" else f"{model}_{backend}_b{batch}"] = row
    if llm:
        r = c.rig(llm, batch=max(batches))
        for slots in batches:
            n = max(16, min(r.dataset.count * 2, int(8 * seconds * slots)))
            settings = c.settings_for("Offline", min_query_count=n, max_query_count=n, offline_expected_qps=1,
                                      use_token_latencies=True)
            raw_rates = []

            def raw() -> float:
                raw_rates.append(c.raw_generation(r, slots, n)[0])
                return raw_rates[-1]

            def harness() -> float:
                sut = c.generation_sut(r, slots, tokens=True, stream=False, inline=True)
                return float(c.loadgen_test(sut, r.store, settings, r.dataset.count)["result_tokens_per_second"])
            ratios = c.interleaved(harness, raw, blocks)
            out[f"{llm}_tokens_slots{slots}"] = c.ratio_row(ratios, raw_tokens_per_s=round(c.median(raw_rates), 1),
                                                            target=0.95)
    return out


def _runs_here(backend: str) -> bool:
    """Whether `backend` can run on this machine's CPU; says why not (e.g. onnxruntime not installed) when not."""
    from dummy_harness import backends

    reason = backends.unavailable_reason(backend, "cpu")
    if reason:
        print(f"harness_efficiency: {backend} left out: {reason}", flush=True)
    return not reason


def _efficiency(r: c.Rig, batch: int, seconds: float, blocks: int) -> Dict[str, object]:
    """LoadGen Offline samples/s through the harness's SUT / raw samples/s, same thread, same batch."""
    rate = c.raw_samples_per_second(r, batch, batch * 4)                 # warm this shape
    samples = max(batch * 4, int(rate * seconds) // batch * batch)
    settings = c.settings_for("Offline", min_query_count=samples, max_query_count=samples, offline_expected_qps=1)
    rates: List[float] = []

    def harness() -> float:
        records = c.loadgen_test(c.batching_sut(r, batch, inline=True), r.store, settings, r.dataset.count)
        rates.append(float(records["result_samples_per_second"]))
        return rates[-1]
    ratios = c.interleaved(harness, lambda: c.raw_samples_per_second(r, batch, samples), blocks)
    ms = 1e3 * batch / rate
    return c.ratio_row(ratios, ms_per_batch=round(ms, 3), samples_per_s=round(c.median(rates), 1),
                       target=0.95 if ms >= 1 else 0.85)


def latency_overhead(queries: int, repeats: int, model: str = "resnet50") -> Dict[str, Dict[str, float]]:
    """Short blocks, interleaved: raw percentile, LoadGen test, raw percentile again, `repeats` times, each block
    `queries` queries (MultiStream twice that: its p99 needs the queries); the figure is the median block ratio."""
    r = c.rig(model, batch=8)
    out: Dict[str, Dict[str, float]] = {}
    for scenario, batch, pct, key, n in (("SingleStream", 1, 90, "result_90.00_percentile_latency_ns", queries),
                                         ("MultiStream", 8, 99, "result_99.00_percentile_per_query_latency_ns",
                                          2 * queries)):
        # The torch pool the harness itself picks for this scenario (tuning.choose_threads), for both arms.
        threads, _ = choose_threads(predict_of(r, batch), thread_candidates(c.usable_cores()))
        c.raw_latencies_ms(r, batch, 20)                                         # warm this shape
        ratios, raws = [], []
        for _ in range(repeats):
            before = c.percentile(c.raw_latencies_ms(r, batch, n), pct)
            records = c.loadgen_test(c.batching_sut(r, batch, inline=True), r.store,
                                     c.settings_for(scenario, min_query_count=n, max_query_count=n), r.dataset.count)
            after = c.percentile(c.raw_latencies_ms(r, batch, n), pct)
            raws.append((before + after) / 2)
            ratios.append(float(records[key]) / 1e6 / raws[-1])
        out[f"{model}_{scenario}_p{pct}"] = c.ratio_row(ratios, raw_ms=round(c.median(raws), 3),
                                                        queries_per_block=n, torch_threads=threads, target=1.05)
    torch.set_num_threads(c.usable_cores())
    return out
