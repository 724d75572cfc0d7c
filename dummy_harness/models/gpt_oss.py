"""gpt-oss-120b: a gpt-oss-120b-shaped decoder stand-in, greedy, whose answers are long reasoning outputs.

Response: the generated token ids, int32 little-endian (what language/gpt-oss-120b/eval_mlperf_accuracy.py
unpacks with struct '<i'), first token streamed, n_tokens on every answer (use_token_latencies). Real scoring
extracts an answer (AIME number, GPQA choice, LiveCodeBench code) and compares it with the dataset's; here the
answer is the last `answer_tokens` tokens, compared with the fp32 stand-in's. Accuracy prints the line
eval_mlperf_accuracy.py prints for the submission checker (`'exact_match': X` with three decimals) and checks
exact_match >= 99% of the reference and, as TEST09 does, the mean output length within 10% of the reference's.
Answer lengths are planned (planned.py): at `full` their mean is TEST09's reference 1278.2 tokens (performance
runs: max_output_len 10240, reasoning effort low; accuracy runs of the real model reason longer, up to 32768);
`small` answers are 1/64 of that. `full` is a dense stand-in of gpt-oss-120b's active shape (36 layers, 2880
hidden, 64 heads, 201088 vocabulary, one FFN as wide as its 4 active experts): about 18 GiB of fp32 weights.
The accuracy run covers the first 4395 samples at most (accuracy_sample_count_override in the official conf).
"""
from __future__ import annotations

from typing import Dict

import numpy as np

from ..accuracy import AccuracyReport, Check
from .base import Arrays
from .decoder import DecoderSize
from .planned import LengthPlan, PlannedLLM

OFFICIAL_TOKENS_PER_SAMPLE = 1278.2      # TEST09's reference mean output length (performance config)
SMALL_SCALE = 64      # `small` answers: 1/64 of the official lengths

SIZES = {
    # Prompts: mean assumed 600 tokens, up to 2048 (the reference publishes no input-length figure), 1/32 at
    # `small`; answers up to the performance config's 10240 tokens (`small`: 160).
    "small": DecoderSize(vocab=201088, layers=2, hidden=64, heads=4, ffn=256, max_prompt=64, mean_prompt=16,
                         min_prompt=4, max_new_tokens=160, min_new_tokens=8),
    "full": DecoderSize(vocab=201088, layers=36, hidden=2880, heads=64, ffn=11520, max_prompt=2048,
                        mean_prompt=600, min_prompt=32, max_new_tokens=10240, min_new_tokens=64),
}
PLANS = {"small": LengthPlan(OFFICIAL_TOKENS_PER_SAMPLE / SMALL_SCALE, sigma=0.8),
         "full": LengthPlan(OFFICIAL_TOKENS_PER_SAMPLE, sigma=0.8)}


class GptOss(PlannedLLM):
    sizes = SIZES
    plans = PLANS
    eos_id = 200002       # <|return|>
    weight_seed = 120

    def evaluate(self, responses: Dict[int, np.ndarray], dataset: Arrays) -> AccuracyReport:
        s = self.exact_matches(responses, dataset)
        target = self.spec.accuracy_target
        reference = s["reference_tokens_per_sample"]
        checks = [Check("tokens_per_sample", s["tokens_per_sample"], 0.9 * reference, 1.1 * reference)]
        return AccuracyReport(metric="exact_match", value=s["exact_match"], reference=100.0, target_fraction=target,
                              official_lines=[f"'exact_match': {s['exact_match']:.3f}"], details=s, checks=checks)
