"""Answer lengths planned from the prompt: the LLM family of llama3.1-8b, deepseek-r1 and gpt-oss-120b.

How long a benchmark's answers are over its dataset is part of its contract: llama3.1-8b's GEN_LEN (characters of
all summaries), deepseek-r1's 3886 tokens a sample, gpt-oss-120b's 1278 in performance runs (TEST09's reference).
An EOS bias calibrated to a rate per step (llm.calibrate_eos) gives geometric lengths whose mean drifts with the
calibration sample; these stand-ins plan each answer's length instead, as a reasoning model decides when it is
done: an integer hash of the prompt's token ids picks one entry of a table of lengths (the quantiles of a
log-normal clipped to [min_new, max_new], whose mean is the benchmark's figure). The hash reads the prompt's first
PLAN_TOKENS words, which a sample keeps whichever attempt the margin rule settles on, so the rule (every step of
an answer a clear call, which long answers pass less often) never trades a long answer for a short one. The EOS
logit is the row's lowest until that many tokens exist and its highest after. The plan is integer arithmetic, so every precision
plans the same length, and the dataset's mean length is known without running the model (`planned_lengths`), even
at the `full` size that no CPU here can run. Everything else (the synthetic language, the fitted vocabulary
projection, greedy decoding with KV-cache slots, the margin rule) is the LLM family's (llm.py, decoder.py).
"""
from __future__ import annotations

import statistics
from dataclasses import dataclass
from typing import Dict, Optional

import numpy as np
import torch

from .base import Arrays
from .decoder import DecoderLM, DecoderSize, fit_head, init_weights
from .fitting import TRAINING_INDEX, one_thread
from .llm import LLMBenchmark


PLAN_TOKENS = 2         # the prompt's opening words that plan its answer's length (a sample's, at every attempt)


@dataclass(frozen=True)
class LengthPlan:
    mean: float             # generated tokens a sample, averaged over a dataset
    sigma: float = 0.6      # spread of the log-normal the lengths are quantiles of
    entries: int = 1024     # lengths in the table (a prompt's hash picks one)


def length_table(plan: LengthPlan, low: int, high: int) -> np.ndarray:
    """`plan.entries` integer lengths in [low, high] whose mean is plan.mean (to 1/entries of a token): the
    quantiles of a log-normal of spread plan.sigma, its median found by bisection, then single tokens moved."""
    z = np.array([statistics.NormalDist().inv_cdf((i + 0.5) / plan.entries) for i in range(plan.entries)])
    if not low <= plan.mean <= high:
        raise ValueError(f"a mean of {plan.mean} tokens is outside [{low}, {high}]")

    def table(mu: float) -> np.ndarray:
        return np.clip(np.rint(np.exp(mu + plan.sigma * z)), low, high).astype(np.int64)

    lo, hi = np.log(low) - 6 * plan.sigma, np.log(high) + 6 * plan.sigma
    for _ in range(80):
        mid = (lo + hi) / 2
        lo, hi = (mid, hi) if table(mid).mean() < plan.mean else (lo, mid)
    lengths = table(lo)
    missing = int(round(plan.mean * plan.entries)) - int(lengths.sum())
    step = 1 if missing > 0 else -1
    movable = np.flatnonzero((lengths + step >= low) & (lengths + step <= high))
    for i in movable[::-1][:abs(missing)] if step > 0 else movable[:abs(missing)]:
        lengths[i] += step
    return lengths


def plan_index(keys: np.ndarray, prompt: np.ndarray, entries: int) -> int:
    """Which table entry a prompt plans (numpy twin of PlannedLengthLM.planned_length)."""
    return int(keys[np.asarray(prompt[:PLAN_TOKENS], np.int64)].sum() % entries)


class PlannedLengthLM(DecoderLM):
    """The family's decoder (decoder.DecoderLM) plus a planned answer length per KV-cache slot."""

    def __init__(self, size: DecoderSize, eos_id: int, table: np.ndarray, key_seed: int):
        super().__init__(size, eos_id)
        keys = np.random.default_rng([key_seed, size.vocab]).integers(0, 2 ** 31, size.vocab, dtype=np.int64)
        # int64 buffers: a change of precision (model.to(dtype)) leaves them as they are.
        self.register_buffer("length_keys", torch.from_numpy(keys))
        self.register_buffer("length_table", torch.from_numpy(np.asarray(table, np.int64)))
        self.plans: Optional[torch.Tensor] = None       # [slots, 2] int64: prompt length, planned answer length

    def planned_length(self, prompt: torch.Tensor) -> torch.Tensor:
        return self.length_table[self.length_keys[prompt[:PLAN_TOKENS]].sum() % self.length_table.numel()]

    def _slots(self, needed: int, device) -> None:
        if self.plans is not None and self.plans.shape[0] >= needed and self.plans.device == device:
            return
        plans = torch.zeros((max(needed, 8), 2), dtype=torch.int64, device=device)
        if self.plans is not None and self.plans.device == device:
            plans[: self.plans.shape[0]] = self.plans
        self.plans = plans

    def next_logits(self, tokens: torch.Tensor, slots: torch.Tensor, starts: torch.Tensor) -> torch.Tensor:
        logits = super().next_logits(tokens, slots, starts)
        t = tokens.shape[1]
        self._slots(int(slots.max()) + 1, tokens.device)
        for row in (starts == 0).nonzero().flatten().tolist():     # a prompt read into its slot from position 0
            self.plans[slots[row], 0] = t
            self.plans[slots[row], 1] = self.planned_length(tokens[row])
        generated = starts + t - self.plans[slots, 0]
        done = generated >= self.plans[slots, 1]
        # Lowest until the planned length, then highest by the row's range: a margin no rounding can undo.
        high, low = logits.amax(-1), logits.amin(-1)
        logits[:, self.eos_id] = torch.where(done, 2 * high - low, low)
        return logits


class PlannedLLM(LLMBenchmark):
    """An LLM of the family whose answer lengths follow `plans[size]` (see the module's docstring)."""
    plans: Dict[str, LengthPlan]
    # Twice llm.HEAD_SCALE: wider margins, so fewer attempts of a long answer (kept only if every step is a clear
    # call) are replaced by the margin rule.
    head_scale = 1.0
    final_words = 0         # an answer ends where its plan says, never after a word

    def length_plan(self) -> LengthPlan:
        return self.plans[self.size]

    def table(self) -> np.ndarray:
        s = self.decoder_size
        return length_table(self.length_plan(), s.min_new_tokens, s.max_new_tokens)

    def build_model(self, cache_dir: str = "") -> PlannedLengthLM:
        s = self.decoder_size
        model = PlannedLengthLM(s, self.eos_id, self.table(), self.weight_seed)
        init_weights(model, self.weight_seed)
        words, successor = self.language()
        training = [self.walk(self.weight_seed, TRAINING_INDEX + i, s.max_len) for i in range(32)]
        with one_thread():      # the same weights whatever pool the run that builds it has
            fit_head(model, training, words, successor, self.head_scale)
        return model.eval()

    def opening(self, seed: int, index: int, words: Optional[np.ndarray] = None) -> np.ndarray:
        """A sample's first PLAN_TOKENS words: drawn from its index alone, the same at every attempt."""
        words = self.language()[0] if words is None else words
        return np.random.default_rng([seed, index, PLAN_TOKENS]).choice(words, PLAN_TOKENS)

    def synthetic_prompt(self, seed: int, index: int, attempt: int = 0) -> np.ndarray:
        prompt = super().synthetic_prompt(seed, index, attempt)
        prompt[:PLAN_TOKENS] = self.opening(seed, index)
        return prompt

    def planned_lengths(self, count: int, seed: int = 0) -> np.ndarray:
        """The answer lengths of the first `count` samples of a dataset, computed without the model (whichever
        attempt the margin rule keeps): what docs/benchmarks.md quotes for `full`."""
        s = self.decoder_size
        keys = np.random.default_rng([self.weight_seed, s.vocab]).integers(0, 2 ** 31, s.vocab, dtype=np.int64)
        table = self.table()
        words = self.language()[0]
        return np.array([table[plan_index(keys, self.opening(seed, i, words), len(table))] for i in range(count)])

    # ---- accuracy helpers --------------------------------------------------------------------------------------
    answer_tokens = 4     # the "extracted answer": the last tokens of a response, as a boxed result ends one

    def exact_matches(self, responses: Dict[int, np.ndarray], dataset: Arrays) -> Dict[str, float]:
        """exact_match (percent of responses whose answer is the fp32 reference's) and token counts."""
        outputs, lengths = dataset["outputs"], dataset["output_lengths"]
        k, correct, tokens, ref_tokens = self.answer_tokens, 0, 0, 0
        for idx, response in responses.items():
            reference = outputs[idx, :int(lengths[idx])]
            correct += len(response) >= k and np.array_equal(response[-k:], reference[-k:])
            tokens, ref_tokens = tokens + len(response), ref_tokens + len(reference)
        n = max(len(responses), 1)
        return {"exact_match": round(100.0 * correct / n, 4), "correct": int(correct), "num_samples": len(responses),
                "tokens_per_sample": round(tokens / n, 4), "reference_tokens_per_sample": round(ref_tokens / n, 4)}
