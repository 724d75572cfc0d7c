"""llama2-70b-99 / llama2-70b-99.9: a Llama-2-shaped decoder stand-in, greedy, Open-Orca-like prompt lengths.

Response: generated token ids, int32, with n_tokens; token latencies are measured by LoadGen
(use_token_latencies in the official conf): the SUT sends one FirstTokenComplete per sample outside Offline.
Accuracy prints what language/llama2-70b/evaluate-accuracy.py prints (rouge1/2/L, gen_len, gen_num,
gen_tok_len, tokens_per_sample) and checks ROUGE-1/2/L >= the target share of the fp32 reference and
tokens_per_sample within +-10% of the reference's (the official range is 265.005-323.895 around 294.45).
`full` is Llama-2-70B's shape (80 layers, 8192 hidden): about 270 GiB of fp32 weights.
"""
from __future__ import annotations

from typing import Dict

import numpy as np

from ..accuracy import AccuracyReport, Check
from .base import Arrays
from .decoder import DecoderSize
from .llm import LLMBenchmark

SIZES = {
    # Prompts scaled to 1/4 of Open-Orca's (at most 1024 tokens), at most 24 new tokens instead of 1024:
    # a test-style MultiStream run (662 queries of 8 answers) stays short on 2 cores.
    "small": DecoderSize(vocab=32000, layers=2, hidden=64, heads=4, ffn=172, max_prompt=256, mean_prompt=64,
                         min_prompt=8, max_new_tokens=24, min_new_tokens=2),
    "full": DecoderSize(vocab=32000, layers=80, hidden=8192, heads=64, ffn=28672, max_prompt=1024,
                        mean_prompt=200, min_prompt=8, max_new_tokens=1024, min_new_tokens=2),
}


class Llama2(LLMBenchmark):
    sizes = SIZES
    eos_id = 2
    weight_seed = 70

    def evaluate(self, responses: Dict[int, np.ndarray], dataset: Arrays) -> AccuracyReport:
        s = self.scores(responses, dataset)
        target = self.spec.accuracy_target
        n = max(s["gen_num"], 1)
        tokens_per_sample, reference = round(s["gen_tok_len"] / n, 1), s["ref_tok_len"] / n
        official = {**{k: s[k] for k in ("rouge1", "rouge2", "rougeL", "rougeLsum", "gen_len", "gen_num",
                                         "gen_tok_len")}, "tokens_per_sample": tokens_per_sample}
        checks = [Check(name, s[name], 100.0 * target) for name in ("rouge2", "rougeL")]
        checks.append(Check("tokens_per_sample", tokens_per_sample, 0.9 * reference, 1.1 * reference))
        return AccuracyReport(metric="ROUGE-1", value=s["rouge1"], reference=100.0, target_fraction=target,
                              official_lines=[repr(official)], details={**s, "tokens_per_sample": tokens_per_sample},
                              checks=checks)
