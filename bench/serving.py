"""server_batching and llm_serving: what batching across queries buys in Server, at the same latency bound.

server_batching = highest VALID Server QPS of the harness's dynamic batcher (queries that have arrived joined,
capped by the latency bound) / the same model answering one query at a time (the reference harness's way).
llm_serving = llama2 Server: highest VALID QPS with continuous batching / one prompt at a time, with the TTFT
and TPOT p99 of the best batched run as fractions of the official bounds.
"""
from __future__ import annotations

from typing import Dict

from dummy_harness.loadgen.settings import EARLY_STOPPING_MIN_QUERIES
from dummy_harness.loadgen.sut import batch_times_ms, latency_bounded_batch

from . import common as c

BOUND_NS = 15_000_000          # resnet50 Server latency bound of the official conf


def server_batching(repeats: int, queries: int = 800, model: str = "resnet50") -> Dict[str, float]:
    r = c.rig(model, batch=8, scenario="Server")
    cap = latency_bounded_batch(batch_times_ms(r.bench, r.backend, r.store.ram, 8), BOUND_NS / 1e6)

    def probe_for(max_batch: int):
        def probe(qps: float) -> bool:
            s = c.settings_for("Server", server_target_qps=qps, server_target_latency_ns=BOUND_NS,
                               min_query_count=queries)
            return c.loadgen_test(c.batching_sut(r, max_batch, inline=False), r.store, s, r.count).valid
        return probe

    stolen = c.steal_s()
    # The same search for both arms, from 200 QPS (both measured >= 175 here), three probes: a probe is 800
    # queries (so early stopping tolerates a late one) and a failing one runs twice (4 steps took 169 s).
    batched = [c.highest_valid_qps(probe_for(cap), 200, steps=3) for _ in range(repeats)]
    single = [c.highest_valid_qps(probe_for(1), 200, steps=3) for _ in range(repeats)]
    return {"batched_qps": c.median(batched), "one_at_a_time_qps": c.median(single), "batch_cap": cap,
            "ratio": round(c.median(batched) / max(c.median(single), 1e-9), 3), "target": 1.5,
            "host_steal_s": round(c.steal_s() - stolen, 1)}


def llm_serving(repeats: int, queries: int = 512, model: str = "llama2-70b-99") -> Dict[str, float]:
    # Early stopping cannot pass below 459 Server queries (a run of 240 was INVALID whatever its latencies, and
    # the figure read 0); llama2's equal-issue mode rounds the count up to a multiple of 256 anyway.
    if queries < EARLY_STOPPING_MIN_QUERIES["Server"]:
        raise ValueError(f"llm_serving needs >= {EARLY_STOPPING_MIN_QUERIES['Server']} queries a probe")
    r = c.rig(model, batch=8, scenario="Server")
    best: Dict[str, float] = {}

    def probe_for(slots: int):
        def probe(qps: float) -> bool:
            s = c.settings_for("Server", server_target_qps=qps, min_query_count=queries, use_token_latencies=True,
                               ttft_latency=2_000_000_000, tpot_latency=200_000_000)
            records = c.loadgen_test(c.generation_sut(r, slots, tokens=True, stream=True, inline=False), r.store,
                                     s, r.count)
            ok = records.valid
            if ok and slots > 1 and qps >= best.get("qps", 0):
                best.update(qps=qps, ttft_p99_ms=records["result_first_token_99.00_percentile_latency_ns"] / 1e6,
                            tpot_p99_ms=records["result_time_per_output_token_99.00_percentile_ns"] / 1e6)
            return ok
        return probe

    stolen = c.steal_s()
    # TTFT/TPOT bounds of seconds leave host jitter no say: one run per probe is enough here.
    # Three probes a search: a probe is >= 512 queries, 17 s at 30 QPS (4 steps made this figure 302 s).
    batched = [c.highest_valid_qps(probe_for(8), 40, steps=3, attempts=1) for _ in range(repeats)]
    single = [c.highest_valid_qps(probe_for(1), 40, steps=3, attempts=1) for _ in range(repeats)]
    return {"continuous_batching_qps": c.median(batched), "one_prompt_at_a_time_qps": c.median(single),
            "ratio": round(c.median(batched) / max(c.median(single), 1e-9), 3), "target": 2.0,
            "ttft_p99_of_bound": round(best.get("ttft_p99_ms", 0) / 2000, 4),
            "tpot_p99_of_bound": round(best.get("tpot_p99_ms", 0) / 200, 4),
            "host_steal_s": round(c.steal_s() - stolen, 1)}
