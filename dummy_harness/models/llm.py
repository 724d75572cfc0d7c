"""What gptj and llama2-70b share: synthetic prompts, ground-truth continuations, ROUGE scoring.

The synthetic language: WORDS words of the vocabulary, each with a successor that usually follows it; FINAL of
them usually end a text instead (their successor is EOS). A text is a walk that follows the successor with
probability FOLLOW and otherwise jumps to a random word; a prompt is a walk that never ends (after a final word it
jumps). The `small` stand-ins are trained on texts of the language (models/fitting.py, decoder.fit_language_model)
as an LM is trained on its corpus, so they decide most tokens, and where a text ends, by a clear margin, as a
trained LM does; `full` sizes (too large to train here) get a vocabulary projection fitted by ridge regression
(decoder.fit_head) on their random trunk.
Ground truth is the fp32 stand-in's own greedy continuation of each prompt (see decoder.generate_references);
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
from .decoder import DecoderLM, DecoderSize, fit_head, fit_language_model, generate_references, init_weights
from .fitting import TRAINING_INDEX, cached_fit, fit_key, one_thread

WORDS = 128           # words of the synthetic language
FINAL = 5             # of them end a text: ~4% of a continuation's words, mean length ~25 when the limit allows
FOLLOW = 0.5          # chance that a text's next word is the successor of the last one
HEAD_SCALE = 0.5      # per-weight scale of the ridge-fitted part of the vocabulary projection (`full` sizes)
RIDGE_SEQUENCES = 32
# Training of the sizes that are trained: steps, packed texts of max_len tokens, batch, learning rate, vocabulary
# columns drawn into each step's softmax.
FIT_STEPS = {"small": 300}
FIT = dict(sequences=512, batch=8, lr=3e-3, negatives=256)


class LLMBenchmark(Benchmark):
    input_names = ("prompts", "prompt_lengths")
    sizes: Dict[str, DecoderSize]
    eos_id: int
    weight_seed: int
    final_words = FINAL     # words whose successor is EOS (planned.py's family plans its lengths instead: 0)

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
    def build_model(self, cache_dir: str = "") -> DecoderLM:
        size, words, successor = self.decoder_size, *self.language()
        steps = FIT_STEPS.get(self.size)

        def initialised() -> DecoderLM:
            model = DecoderLM(size, self.eos_id)
            init_weights(model, self.weight_seed)
            return model

        if steps is None:
            model = initialised()
            training = [self.walk(self.weight_seed, TRAINING_INDEX + i, size.max_len) for i in range(RIDGE_SEQUENCES)]
            with one_thread():      # the same weights whatever pool the run that builds it has
                fit_head(model, training, words, successor, HEAD_SCALE)
            return model.eval()

        def fit() -> DecoderLM:
            model = initialised()
            texts = np.stack([self.walk(self.weight_seed, TRAINING_INDEX + i, size.max_len, ends=True)
                              for i in range(FIT["sequences"])])
            fit_language_model(model, texts, np.union1d(words, successor), steps, FIT["batch"], FIT["lr"],
                               FIT["negatives"], self.weight_seed)
            return model

        key = fit_key(self.spec.loadgen_key, self.size, {"steps": steps, "seed": self.weight_seed, "words": WORDS,
                                                         "final": self.final_words, "follow": FOLLOW, **FIT})
        return cached_fit(key, lambda: DecoderLM(size, self.eos_id), fit, cache_dir,
                          what=f"{self.spec.loadgen_key} {self.size}")

    # ---- data --------------------------------------------------------------------------------------------------
    def language(self):
        """(words, successor): successor[i] usually follows words[i], EOS for the FINAL words; words are never EOS
        nor among the first 100 ids."""
        rng = np.random.default_rng([self.weight_seed, WORDS])
        ids = np.arange(100, self.decoder_size.vocab)
        words = rng.choice(ids[ids != self.eos_id], WORDS, replace=False)
        successor = rng.permutation(words)
        successor[rng.choice(WORDS, self.final_words, replace=False)] = self.eos_id
        return words, successor

    def walk(self, seed: int, index: int, length: int, attempt: int = 0, rng=None, ends: bool = False) -> np.ndarray:
        """`length` tokens of the language. ends=False: a prompt, one text that does not end; ends=True: texts
        packed back to back, each ended by EOS where it follows a final word."""
        words, successor = self.language()
        rng = rng or np.random.default_rng([seed, index, attempt, length])
        position = {int(w): i for i, w in enumerate(words)}
        out = [int(rng.choice(words))]
        for _ in range(length - 1):
            follows = int(successor[position[out[-1]]]) if out[-1] != self.eos_id else -1
            if rng.random() < FOLLOW and follows >= 0 and (ends or follows != self.eos_id):
                out.append(follows)
            else:
                out.append(int(rng.choice(words)))
        return np.asarray(out, np.int32)

    def synthetic_prompt(self, seed: int, index: int, attempt: int = 0) -> np.ndarray:
        s = self.decoder_size
        rng = np.random.default_rng([seed, index, attempt, s.max_prompt])
        length = int(np.clip(rng.lognormal(np.log(s.mean_prompt), 0.5), s.min_prompt, s.max_prompt))
        return self.walk(seed, index, length, attempt, rng)

    def generate(self, model: DecoderLM, count: int, seed: int) -> Arrays:
        return self.generate_range(model, seed, 0, count)

    def generate_range(self, model: DecoderLM, seed: int, start: int, stop: int) -> Arrays:
        """Per sample the first attempt whose greedy continuation the fp32 stand-in decides by a clear margin at
        every step, and that continuation (the ground truth); the prompt itself is rebuilt on load."""
        s = self.decoder_size
        indices = np.arange(start, stop)
        attempts = np.zeros(len(indices), np.int64)
        outputs = np.full((len(indices), s.max_new_tokens), -1, np.int32)
        output_lengths = np.zeros(len(indices), np.int32)
        pending = list(range(len(indices)))
        for _ in range(16):
            prompts = [self.synthetic_prompt(seed, int(indices[k]), int(attempts[k])) for k in pending]
            retry = []
            for k, (tokens, clear) in zip(pending, generate_references(model, prompts, MIN_MARGIN)):
                if clear:
                    outputs[k, :len(tokens)], output_lengths[k] = tokens, len(tokens)
                else:
                    attempts[k] += 1
                    retry.append(k)
            pending = retry
            if not pending:
                break
        if pending:
            raise RuntimeError(f"could not generate an unambiguous prompt for sample {int(indices[pending[0]])}")
        return {"seeds": np.full(len(indices), seed, np.int64), "attempts": attempts, "outputs": outputs,
                "output_lengths": output_lengths}

    def input_shapes(self, dataset: Arrays):
        return {"prompts": ((self.decoder_size.max_prompt,), np.dtype(np.int32)),
                "prompt_lengths": ((), np.dtype(np.int32))}

    def load_rows(self, dataset: Arrays, indices: np.ndarray) -> Arrays:
        """Each prompt rebuilt from its seed, index and the attempt the dataset kept."""
        prompts = [self.synthetic_prompt(int(dataset["seeds"][i]), int(i), int(dataset["attempts"][i]))
                   for i in indices]
        return self._rows(prompts)

    def _rows(self, prompts: List[np.ndarray]) -> Arrays:
        rows = np.zeros((len(prompts), self.decoder_size.max_prompt), np.int32)
        lengths = np.zeros(len(prompts), np.int32)
        for j, prompt in enumerate(prompts):
            rows[j, :len(prompt)], lengths[j] = prompt, len(prompt)
        return {"prompts": rows, "prompt_lengths": lengths}

    def prompt(self, rows: Arrays, index: int) -> np.ndarray:
        return rows["prompts"][index, :int(rows["prompt_lengths"][index])]

    def calibration_batches(self, rows: Arrays, batch_size: int, count: int) -> List[Tuple[torch.Tensor, ...]]:
        """Prefill calls of a few prompts (warm-up)."""
        return [(torch.from_numpy(self.prompt(rows, i)[None].astype(np.int64)), torch.tensor([0]), torch.tensor([0]))
                for i in range(min(count, 2))]

    calibration_count = 32

    def calibration_rows(self, seed: int, indices: np.ndarray) -> Arrays:
        return self._rows([self.synthetic_prompt(seed, int(i)) for i in indices])

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
