"""What gptj and llama2-70b share: synthetic prompts, ground-truth continuations, ROUGE scoring.

The synthetic language: WORDS words of the vocabulary, each with a successor that usually follows it; a prompt
is a walk that follows the successor with probability FOLLOW and otherwise jumps to a random word. The stand-in's
vocabulary projection is fitted to predict the successor from its hidden states (decoder.fit_head), as training
fits an LM to its corpus, so it decides most tokens by a clear margin, as a trained LM does.
Ground truth is the fp32 stand-in's own greedy continuation of each prompt (see decoder.generate_reference);
prompts whose continuation has a near-tie at any step (a margin under base.MIN_MARGIN of the logits' spread)
are regenerated, so neither batch composition nor rounding decides a token.
Texts for ROUGE are the token ids written as words ("w123"), scored with the rouge-score package as the
official evaluation scripts do (use_stemmer=True, F-measure, mean x 100). There are no sentences, so
rougeLsum equals rougeL.
"""
from __future__ import annotations

import os
from typing import Dict, List, Sequence, Tuple

import numpy as np
import torch

from .base import CALIBRATION_INDEX, MIN_MARGIN, Arrays, Benchmark
from .decoder import DecoderLM, DecoderSize, calibrate_eos, fit_head, generate_reference, init_weights

EOS_RATE = 0.04       # per step: mean generated length ~25 tokens when the limit allows
WORDS = 128           # words of the synthetic language (the 64-wide stand-in fits its successors: ridge
FOLLOW = 0.5          # chance that a prompt's next word is the successor of the last one
HEAD_SCALE = 0.5      # per-weight scale of the fitted part of the vocabulary projection
TRAINING_SEED = 2**31 - 2     # training sequences of the fitted projection: a seed no dataset uses by default


class LLMBenchmark(Benchmark):
    input_names = ("prompts", "prompt_lengths")
    sizes: Dict[str, DecoderSize]
    eos_id: int
    weight_seed: int

    @property
    def decoder_size(self) -> DecoderSize:
        return self.sizes[self.size]

    def fits(self) -> str:
        need = self.decoder_size.weight_bytes()
        try:
            have = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
        except (ValueError, OSError):
            return ""
        if need > 0.8 * have:
            return (f"{self.spec.name} size {self.size!r} needs {need / 2**30:.0f} GiB for its fp32 weights and this "
                    f"machine has {have / 2**30:.0f} GiB of RAM; use --model_size=small")
        return ""

    # ---- model -------------------------------------------------------------------------------------------------
    def build_model(self) -> DecoderLM:
        model = DecoderLM(self.decoder_size, self.eos_id)
        init_weights(model, self.weight_seed)
        words, successor = self.language()
        training = [self.walk(TRAINING_SEED, i, self.decoder_size.max_len) for i in range(32)]
        fit_head(model, training, words, successor, HEAD_SCALE)
        calibrate_eos(model, [self.synthetic_prompt(2**31 - 1, i) for i in range(32)], EOS_RATE)
        return model.eval()

    # ---- data --------------------------------------------------------------------------------------------------
    def language(self):
        """(words, successor): successor[i] usually follows words[i]; never EOS nor the first 100 ids."""
        rng = np.random.default_rng([self.weight_seed, WORDS])
        ids = np.arange(100, self.decoder_size.vocab)
        words = rng.choice(ids[ids != self.eos_id], WORDS, replace=False)
        return words, rng.permutation(words)

    def walk(self, seed: int, index: int, length: int, attempt: int = 0, rng=None) -> np.ndarray:
        words, successor = self.language()
        rng = rng or np.random.default_rng([seed, index, attempt, length])
        position = {int(w): i for i, w in enumerate(words)}
        out = [int(rng.choice(words))]
        for _ in range(length - 1):
            out.append(int(successor[position[out[-1]]]) if rng.random() < FOLLOW else int(rng.choice(words)))
        return np.asarray(out, np.int32)

    def synthetic_prompt(self, seed: int, index: int, attempt: int = 0) -> np.ndarray:
        s = self.decoder_size
        rng = np.random.default_rng([seed, index, attempt, s.max_prompt])
        length = int(np.clip(rng.lognormal(np.log(s.mean_prompt), 0.5), s.min_prompt, s.max_prompt))
        return self.walk(seed, index, length, attempt, rng)

    def generate(self, model: DecoderLM, count: int, seed: int) -> Arrays:
        s = self.decoder_size
        prompts = np.zeros((count, s.max_prompt), np.int32)
        prompt_lengths = np.zeros(count, np.int32)
        outputs = np.full((count, s.max_new_tokens), -1, np.int32)
        output_lengths = np.zeros(count, np.int32)
        for i in range(count):
            for attempt in range(16):
                prompt = self.synthetic_prompt(seed, i, attempt)
                tokens, clear = generate_reference(model, prompt, MIN_MARGIN)
                if clear:
                    break
            else:
                raise RuntimeError(f"could not generate an unambiguous prompt for sample {i}")
            prompts[i, :len(prompt)], prompt_lengths[i] = prompt, len(prompt)
            outputs[i, :len(tokens)], output_lengths[i] = tokens, len(tokens)
        return {"prompts": prompts, "prompt_lengths": prompt_lengths, "outputs": outputs,
                "output_lengths": output_lengths}

    def prompt(self, rows: Arrays, index: int) -> np.ndarray:
        return rows["prompts"][index, :int(rows["prompt_lengths"][index])]

    def calibration_batches(self, rows: Arrays, batch_size: int, count: int) -> List[Tuple[torch.Tensor, ...]]:
        """Prefill calls of a few prompts (warm-up)."""
        return [(torch.from_numpy(self.prompt(rows, i)[None].astype(np.int64)), torch.tensor([0]), torch.tensor([0]))
                for i in range(min(count, 2))]

    calibration_count = 32

    def calibration_rows(self, seed: int, indices: np.ndarray) -> Arrays:
        s = self.decoder_size
        prompts = np.zeros((len(indices), s.max_prompt), np.int32)
        lengths = np.zeros(len(indices), np.int32)
        for j, i in enumerate(indices):
            prompt = self.synthetic_prompt(seed, int(i))
            prompts[j, :len(prompt)], lengths[j] = prompt, len(prompt)
        return {"prompts": prompts, "prompt_lengths": lengths}

    def calibration_split(self, seed: int, batch_size: int):
        """Prefill calls of every calibration prompt: int8 ranges of the activations of each prompt token."""
        rows = self.calibration_rows(seed, CALIBRATION_INDEX + np.arange(self.calibration_count))
        return [(torch.from_numpy(self.prompt(rows, i)[None].astype(np.int64)), torch.tensor([0]), torch.tensor([0]))
                for i in range(self.calibration_count)], self.calibration_info(seed)

    # ---- accuracy ----------------------------------------------------------------------------------------------
    def decode(self, hex_data: str) -> np.ndarray:
        return np.frombuffer(bytes.fromhex(hex_data), dtype=self.spec.response_dtype)

    @staticmethod
    def text(tokens: Sequence[int]) -> str:
        return " ".join(f"w{int(t)}" for t in tokens)

    def scores(self, responses: Dict[int, np.ndarray], dataset: Arrays) -> Dict[str, float]:
        """ROUGE of the responses against the ground truth, plus lengths of both (for the length checks)."""
        from rouge_score import rouge_scorer

        scorer = rouge_scorer.RougeScorer(["rouge1", "rouge2", "rougeL", "rougeLsum"], use_stemmer=True)
        totals = {"rouge1": 0.0, "rouge2": 0.0, "rougeL": 0.0, "rougeLsum": 0.0}
        gen_len = ref_len = gen_tok = ref_tok = 0
        outputs, lengths = dataset["outputs"], dataset["output_lengths"]
        for idx, tokens in responses.items():
            reference = outputs[idx, :int(lengths[idx])]
            pred_text, ref_text = self.text(tokens), self.text(reference)
            for key, score in scorer.score(ref_text, pred_text).items():
                totals[key] += score.fmeasure
            gen_len, ref_len = gen_len + len(pred_text), ref_len + len(ref_text)
            gen_tok, ref_tok = gen_tok + len(tokens), ref_tok + len(reference)
        n = max(len(responses), 1)
        out = {key: round(100.0 * value / n, 4) for key, value in totals.items()}
        out.update(gen_len=gen_len, gen_num=len(responses), gen_tok_len=gen_tok, ref_len=ref_len, ref_tok_len=ref_tok)
        return out
