"""gptj-99 / gptj-99.9: a GPT-J-shaped decoder stand-in, greedy, CNN/DailyMail-like prompt lengths.

Response: the generated token ids only (prompt stripped), int32 (CM's and NVIDIA's dtype). LoadGen infers token
latencies (infer_token_latencies, scaling factor 69) from the official conf. Accuracy prints what
language/gpt-j/evaluation.py prints (rouge1/rouge2/rougeL/rougeLsum, gen_len in characters, gen_num) and
checks, as the submission checker does, ROUGE-1/2/L >= the target share of the fp32 reference and gen_len >= 90%
of it. `full` is GPT-J 6B (28 layers, 4096 hidden): it needs about 24 GiB of fp32 weights.
"""
from __future__ import annotations

from typing import Dict

import numpy as np

from ..accuracy import AccuracyReport, Check
from .base import Arrays
from .decoder import DecoderSize
from .llm import LLMBenchmark

SIZES = {
    # Prompts scaled to 1/8 of CNN/DailyMail's (mean ~800, at most 1919 tokens), 4-16 new tokens instead of
    # 30-128, so that a test-style MultiStream run (662 queries of 8 summaries) stays short on 2 cores.
    "small": DecoderSize(vocab=50400, layers=2, hidden=64, heads=4, ffn=256, max_prompt=240, mean_prompt=100,
                         min_prompt=16, max_new_tokens=16, min_new_tokens=4),
    "full": DecoderSize(vocab=50400, layers=28, hidden=4096, heads=16, ffn=16384, max_prompt=1919,
                        mean_prompt=800, min_prompt=100, max_new_tokens=128, min_new_tokens=30),
}


class GptJ(LLMBenchmark):
    sizes = SIZES
    eos_id = 50256
    weight_seed = 6

    def evaluate(self, responses: Dict[int, np.ndarray], dataset: Arrays) -> AccuracyReport:
        s = self.scores(responses, dataset)
        target = self.spec.accuracy_target
        official = {k: s[k] for k in ("rouge1", "rouge2", "rougeL", "rougeLsum", "gen_len", "gen_num")}
        checks = [Check(name, s[name], 100.0 * target) for name in ("rouge2", "rougeL")]
        checks.append(Check("gen_len", s["gen_len"], 0.9 * s["ref_len"]))
        return AccuracyReport(metric="ROUGE-1", value=s["rouge1"], reference=100.0, target_fraction=target,
                              official_lines=[repr(official)], details=s, checks=checks)
