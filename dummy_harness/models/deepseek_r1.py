"""deepseek-r1: a DeepSeek-R1-shaped decoder stand-in, greedy, whose answers are long reasoning outputs.

Response: the generated token ids, int32 (the reference SUT's dtype and language/deepseek-r1/eval_accuracy.py's
default), first token streamed, n_tokens on every answer (use_token_latencies, TEST06). Real scoring extracts an
answer from the output (a boxed number, a choice, code) and compares it with the dataset's; here the answer is the
last `answer_tokens` tokens, compared with the fp32 stand-in's. Accuracy prints eval_accuracy.py's line
`{'exact_match': .., 'tokens_per_sample': .., 'num-samples': ..}` and checks, as the checker does, exact_match
>= 99% of the reference and tokens_per_sample within 90-110% of it.
Answer lengths are planned (planned.py): at `full` their mean is the official 3886.2274 tokens, up to the
reference's 20000 (MAX_OSL); `small` answers are 1/200 of that. `full` is a dense stand-in of R1's active shape
(61 layers, 7168 hidden, 128 heads, 129280 vocabulary, one FFN as wide as its 8 routed + 1 shared experts): far
beyond any CPU's RAM, refused before loading.
"""
from __future__ import annotations

from typing import Dict

import numpy as np

from ..accuracy import AccuracyReport, Check
from .base import Arrays
from .decoder import DecoderSize
from .planned import LengthPlan, PlannedLLM

OFFICIAL_TOKENS_PER_SAMPLE = 3886.2274
SMALL_SCALE = 200     # `small` answers: 1/200 of the official lengths

SIZES = {
    # Prompts up to the reference's 3136 tokens (mean assumed 800: the reference publishes only the maximum),
    # scaled to 1/50 at `small`; answers up to 20000 (`small`: 100) tokens.
    "small": DecoderSize(vocab=129280, layers=2, hidden=64, heads=4, ffn=256, max_prompt=64, mean_prompt=16,
                         min_prompt=4, max_new_tokens=100, min_new_tokens=8),
    "full": DecoderSize(vocab=129280, layers=61, hidden=7168, heads=128, ffn=18432, max_prompt=3136,
                        mean_prompt=800, min_prompt=32, max_new_tokens=20000, min_new_tokens=64),
}
PLANS = {"small": LengthPlan(OFFICIAL_TOKENS_PER_SAMPLE / SMALL_SCALE, sigma=0.8),
         "full": LengthPlan(OFFICIAL_TOKENS_PER_SAMPLE, sigma=0.8)}


class DeepSeekR1(PlannedLLM):
    sizes = SIZES
    plans = PLANS
    eos_id = 1            # <｜end▁of▁sentence｜>
    weight_seed = 671

    def evaluate(self, responses: Dict[int, np.ndarray], dataset: Arrays) -> AccuracyReport:
        s = self.exact_matches(responses, dataset)
        target = self.spec.accuracy_target
        official = {"exact_match": s["exact_match"], "tokens_per_sample": s["tokens_per_sample"],
                    "num-samples": s["num_samples"]}
        reference = s["reference_tokens_per_sample"]
        checks = [Check("tokens_per_sample", s["tokens_per_sample"], 0.9 * reference, 1.1 * reference)]
        return AccuracyReport(metric="exact_match", value=s["exact_match"], reference=100.0, target_fraction=target,
                              official_lines=[repr(official)], details=s, checks=checks)
