"""llama3.1-8b, llama3.1-8b-edge: a Llama-3.1-8B-shaped decoder stand-in, greedy, CNN/DailyMail-like prompts.

Response: the generated token ids, int64: what language/llama3.1-8b/evaluation.py decodes by default (its
`--dtype int32` reads the reference SUT's int32); the first token streams in the same dtype, and n_tokens is on
every answer (use_token_latencies in the official conf, TEST06). Accuracy prints what evaluation.py prints (ROUGE
as quoted strings, gen_len in characters of the decoded summaries, gen_num) and checks, as the submission checker
does, ROUGE-1/2/L/Lsum >= 99% of the fp32 reference and gen_len within 90-110% of it.
Answer lengths are planned (planned.py) so that at `full` the mean characters a summary, as the family's texts
render them, follow the official GEN_LEN: 8167644 over 13368 samples (datacenter), 3051113 over 5000 (edge).
`full` is Llama-3.1-8B's shape (32 layers, 4096 hidden, 128256 vocabulary): about 26 GiB of fp32 weights.
"""
from __future__ import annotations

from typing import Dict

import numpy as np

from ..accuracy import AccuracyReport, Check
from .base import Arrays
from .decoder import DecoderSize
from .planned import LengthPlan, PlannedLLM

# Characters of all generated summaries over the dataset, and its size (the checker's GEN_LEN and dataset size).
OFFICIAL_GEN_LEN = {"llama3.1-8b": (8167644, 13368), "llama3.1-8b-edge": (3051113, 5000)}
SMALL_SCALE = 8       # `small`: prompts and answers 1/8 of the real ones, as gptj's

SIZES = {
    # Prompts scaled to 1/8 (mean ~800 tokens, as gptj's CNN/DailyMail articles; the reference truncates at 8000),
    # at most 16 new tokens instead of 128: Server's 500 queries stay about a minute on 2 cores.
    "small": DecoderSize(vocab=128256, layers=2, hidden=64, heads=4, ffn=224, max_prompt=240, mean_prompt=100,
                         min_prompt=16, max_new_tokens=16, min_new_tokens=2),
    "full": DecoderSize(vocab=128256, layers=32, hidden=4096, heads=32, ffn=14336, max_prompt=8000,
                        mean_prompt=800, min_prompt=100, max_new_tokens=128, min_new_tokens=8),
}


class Llama31(PlannedLLM):
    sizes = SIZES
    eos_id = 128009       # <|eot_id|>
    weight_seed = 31

    def chars_per_token(self) -> float:
        """Mean characters a generated token adds to the rendered text (its word and a space)."""
        words, _ = self.language()
        return float(np.mean([len(self.text([w])) + 1 for w in words]))

    def length_plan(self) -> LengthPlan:
        gen_len, samples = OFFICIAL_GEN_LEN[self.spec.name]
        full = SIZES["full"]
        words_full = (gen_len / samples + 1) / self.chars_per_token()      # tokens a summary at `full`
        mean = words_full if self.size == "full" else words_full / SMALL_SCALE
        low, high = self.decoder_size.min_new_tokens, self.decoder_size.max_new_tokens
        assert full.min_new_tokens <= words_full <= full.max_new_tokens
        return LengthPlan(mean=float(np.clip(mean, low, high)), sigma=0.35)

    def evaluate(self, responses: Dict[int, np.ndarray], dataset: Arrays) -> AccuracyReport:
        s = self.scores(responses, dataset)
        target = self.spec.accuracy_target
        # evaluation.py prints each ROUGE as a string (f"{round(mean * 100, 4)}"), gen_len and gen_num as numbers.
        official = {**{k: f"{s[k]}" for k in ("rouge1", "rouge2", "rougeL", "rougeLsum")},
                    "gen_len": int(s["gen_len"]), "gen_num": int(s["gen_num"])}
        checks = [Check(name, s[name], 100.0 * target) for name in ("rouge2", "rougeL", "rougeLsum")]
        checks.append(Check("gen_len", s["gen_len"], 0.9 * s["ref_len"], 1.1 * s["ref_len"]))
        return AccuracyReport(metric="ROUGE-1", value=s["rouge1"], reference=100.0, target_fraction=target,
                              official_lines=[repr(official)], details=s, checks=checks)
