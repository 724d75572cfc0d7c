"""bert-99 / bert-99.9: a BERT encoder with a span (question answering) head, seeded weights.

Inputs per sample: input_ids, input_mask, segment_ids, 384 tokens each ([CLS] question [SEP] context [SEP] pad).
Response: float32 [384, 2], column 0 the start logits, column 1 the end logits (3072 bytes), as the reference.
Data and stand-in: each context holds a planted answer, a span of 2-6 tokens that opens with a word of the
START_WORDS kind and closes with one of the END_WORDS kind (no other token of the sample is of either kind);
the two kinds share a direction of the token embedding (as words of a kind cluster in a trained embedding), and
the span head is fitted to the planted answers of a training split (ridge regression on the encoder's outputs),
a stand-in for fine-tuning on SQuAD: the stand-in finds most answers by a clear margin, as a trained BERT does.
Accuracy: the predicted answer span (best start+end in the context, at most 30 tokens, from the 20 best starts
and ends, as accuracy-squad.py chooses it) against the fp32 stand-in's span: exact match and token F1.
`full` is BERT-large (24 layers, 1024 hidden, 16 heads, 335 M parameters).
"""
from __future__ import annotations

import json
from collections import Counter
from typing import Dict, Tuple

import numpy as np
import torch
from torch import nn

from ..accuracy import AccuracyReport
from .base import MIN_MARGIN, Arrays, Benchmark

SEQ = 384
VOCAB = 30522
CLS, SEP = 101, 102
START_WORDS = (1000, 1100)    # token ids of the word kind that opens a planted answer
END_WORDS = (1100, 1200)      # ... and of the kind that closes it; other words are drawn from 1200..VOCAB-1
KIND_STRENGTH = 0.15          # norm of the shared direction added to the embedding of each kind (tokens: ~0.16)
SPAN_SCALE = 10.0             # fitted span logits: the answer's start/end lead by about this much
TRAINING_SEED = 2**31 - 2     # training split of the fitted span head: a seed no dataset uses by default
N_BEST = 20
MAX_ANSWER = 30
# size -> (layers, hidden, heads, feed-forward)
SIZES: Dict[str, Tuple[int, int, int, int]] = {
    "small": (2, 64, 2, 128),
    "full": (24, 1024, 16, 4096),
}
WEIGHT_SEED = 99


class EncoderLayer(nn.Module):
    def __init__(self, hidden: int, heads: int, ffn: int):
        super().__init__()
        self.heads = heads
        self.qkv = nn.Linear(hidden, 3 * hidden)
        self.out = nn.Linear(hidden, hidden)
        self.norm1 = nn.LayerNorm(hidden)
        self.ff1 = nn.Linear(hidden, ffn)
        self.ff2 = nn.Linear(ffn, hidden)
        self.norm2 = nn.LayerNorm(hidden)

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        b, t, h = x.shape
        q, k, v = self.qkv(x).view(b, t, 3, self.heads, h // self.heads).permute(2, 0, 3, 1, 4)
        a = nn.functional.scaled_dot_product_attention(q, k, v, attn_mask=mask)
        x = self.norm1(x + self.out(a.transpose(1, 2).reshape(b, t, h)))
        return self.norm2(x + self.ff2(nn.functional.gelu(self.ff1(x))))


class BertQA(nn.Module):
    def __init__(self, layers: int, hidden: int, heads: int, ffn: int):
        super().__init__()
        self.tokens = nn.Embedding(VOCAB, hidden)
        self.positions = nn.Embedding(512, hidden)
        self.segments = nn.Embedding(2, hidden)
        self.norm = nn.LayerNorm(hidden)
        self.layers = nn.ModuleList(EncoderLayer(hidden, heads, ffn) for _ in range(layers))
        self.qa = nn.Linear(hidden, 2)
        # Per-segment offset of the span logits: question, [CLS] and padding (segment 0) score low, as in a
        # trained model, so the best spans lie in the context.
        self.segment_bias = nn.Parameter(torch.tensor([-8.0, 0.0]))

    def forward(self, input_ids: torch.Tensor, input_mask: torch.Tensor, segment_ids: torch.Tensor) -> torch.Tensor:
        logits = self.qa(self.encode(input_ids, input_mask, segment_ids)) + self.segment_bias[segment_ids][..., None]
        return logits.float()      # [batch, 384, 2]: start and end logits

    def encode(self, input_ids: torch.Tensor, input_mask: torch.Tensor, segment_ids: torch.Tensor) -> torch.Tensor:
        t = input_ids.shape[1]
        x = self.tokens(input_ids) + self.positions.weight[:t] + self.segments(segment_ids)
        x = self.norm(x)
        # Additive mask over keys: padding is never attended to.
        mask = torch.zeros(input_mask.shape, dtype=x.dtype, device=x.device)
        mask = mask.masked_fill(input_mask == 0, torch.finfo(x.dtype).min)[:, None, None, :]
        for layer in self.layers:
            x = layer(x, mask)
        return x


def synthetic_sample(seed: int, index: int, attempt: int = 0) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
    """[CLS] question [SEP] context [SEP] padding, SQuAD-like lengths, an answer planted in the context."""
    rng = np.random.default_rng([seed, index, attempt, 384])
    q_len = int(rng.integers(8, 33))
    c_len = int(rng.integers(60, SEQ - q_len - 3 + 1))
    tokens = rng.integers(END_WORDS[1], VOCAB, size=q_len + c_len)
    length = int(rng.integers(2, 7))
    at = q_len + int(rng.integers(0, c_len - length + 1))
    tokens[at] = rng.integers(*START_WORDS)
    tokens[at + length - 1] = rng.integers(*END_WORDS)
    ids = np.zeros(SEQ, np.int64)
    ids[0], ids[1:1 + q_len], ids[1 + q_len] = CLS, tokens[:q_len], SEP
    ids[2 + q_len:2 + q_len + c_len], ids[2 + q_len + c_len] = tokens[q_len:], SEP
    mask = (np.arange(SEQ) < 3 + q_len + c_len).astype(np.int64)
    segments = np.zeros(SEQ, np.int64)
    segments[2 + q_len:3 + q_len + c_len] = 1
    return ids, mask, segments


def planted_answer(ids: np.ndarray) -> Tuple[int, int]:
    """Positions of the planted answer's first and last token."""
    start = int(np.flatnonzero((ids >= START_WORDS[0]) & (ids < START_WORDS[1]))[0])
    end = int(np.flatnonzero((ids >= END_WORDS[0]) & (ids < END_WORDS[1]))[0])
    return start, end


def context_range(ids: np.ndarray, segments: np.ndarray) -> Tuple[int, int]:
    """First and last position of the context (segment 1, without the closing [SEP])."""
    positions = np.flatnonzero(segments == 1)
    return int(positions[0]), int(positions[-1]) - 1


def best_span(logits: np.ndarray, lo: int, hi: int) -> Tuple[int, int, float, float]:
    """(start, end, score, runner-up score) by accuracy-squad.py's rule, limited to the context [lo, hi]."""
    start_logits, end_logits = logits[:, 0], logits[:, 1]
    starts = np.argsort(-start_logits, kind="stable")[:N_BEST]
    ends = np.argsort(-end_logits, kind="stable")[:N_BEST]
    scored = []
    for s in starts:
        for e in ends:
            if lo <= s <= hi and lo <= e <= hi and s <= e < s + MAX_ANSWER:
                scored.append((float(start_logits[s] + end_logits[e]), int(s), int(e)))
    if not scored:
        return -1, -1, 0.0, 0.0
    scored.sort(key=lambda x: -x[0])
    runner_up = scored[1][0] if len(scored) > 1 else scored[0][0] - 1.0
    return scored[0][1], scored[0][2], scored[0][0], runner_up


def f1_score(prediction, truth) -> float:
    common = Counter(prediction) & Counter(truth)
    same = sum(common.values())
    if same == 0:
        return 0.0
    precision, recall = same / len(prediction), same / len(truth)
    return 2 * precision * recall / (precision + recall)


class Bert(Benchmark):
    input_names = ("input_ids", "input_mask", "segment_ids")

    def build_model(self, cache_dir: str = "") -> nn.Module:
        model = BertQA(*SIZES[self.size])
        gen = torch.Generator().manual_seed(WEIGHT_SEED)
        with torch.no_grad():
            for name, p in model.named_parameters():
                if p.dim() > 1:
                    p.normal_(0.0, 0.02 if "tokens" in name or "positions" in name else p.shape[1] ** -0.5,
                              generator=gen)
                elif name.endswith("bias") and name != "segment_bias":
                    p.zero_()
            for kind, (lo, hi) in enumerate((START_WORDS, END_WORDS)):
                direction = torch.randn(model.tokens.weight.shape[1], generator=gen)
                model.tokens.weight[lo:hi] += KIND_STRENGTH * direction / direction.norm()
        self.fit_span_head(model.eval())
        return model

    def fit_span_head(self, model: nn.Module) -> None:
        """Ridge regression of the planted answer's start / end indicators on the encoder's outputs over a
        training split (a stand-in for fine-tuning), scaled to SPAN_SCALE."""
        rows = self.calibration_rows(TRAINING_SEED, np.arange(32))
        with torch.inference_mode():
            h = model.encode(*(torch.from_numpy(rows[n]) for n in self.input_names))
        targets = torch.zeros(h.shape[0], h.shape[1], 2)
        for i, ids in enumerate(rows["input_ids"]):
            s, e = planted_answer(ids)
            targets[i, s, 0] = targets[i, e, 1] = 1.0
        keep = torch.from_numpy(rows["input_mask"]).bool()
        x = torch.cat([h[keep], torch.ones(int(keep.sum()), 1)], dim=1)
        w = torch.linalg.solve(x.T @ x + 1e-3 * torch.eye(x.shape[1]), x.T @ targets[keep])
        with torch.no_grad():
            model.qa.weight.copy_(SPAN_SCALE * w[:-1].T)
            model.qa.bias.copy_(SPAN_SCALE * w[-1])

    def input_shapes(self, dataset: Arrays):
        return {name: ((SEQ,), np.dtype(np.int64)) for name in self.input_names}

    def load_rows(self, dataset: Arrays, indices: np.ndarray) -> Arrays:
        """Each sample rebuilt from its seed, index and the attempt the dataset kept (nothing of it is stored)."""
        samples = [synthetic_sample(int(dataset["seeds"][i]), int(i), int(dataset["attempts"][i])) for i in indices]
        return {name: np.stack([s[k] for s in samples]) for k, name in enumerate(self.input_names)}

    def calibration_rows(self, seed: int, indices: np.ndarray) -> Arrays:
        samples = [synthetic_sample(seed, int(i)) for i in indices]
        return {name: np.stack([s[k] for s in samples]) for k, name in enumerate(self.input_names)}

    def generate(self, model: nn.Module, count: int, seed: int) -> Arrays:
        return self.generate_range(model, seed, 0, count)

    def generate_range(self, model: nn.Module, seed: int, start: int, stop: int) -> Arrays:
        """Per sample the attempt whose planted answer the fp32 stand-in finds by a clear margin, and that span."""
        indices = np.arange(start, stop)
        attempts = np.zeros(len(indices), np.int64)
        spans = np.zeros((len(indices), 2), np.int64)
        pending = list(range(len(indices)))
        with torch.inference_mode():
            for _ in range(64):
                rows = [synthetic_sample(seed, int(indices[k]), int(attempts[k])) for k in pending]
                ids, mask, segments = (np.stack([r[n] for r in rows]) for n in range(3))
                retry = []
                for at in range(0, len(pending), 32):
                    chunk = slice(at, at + 32)
                    logits = model(*(torch.from_numpy(a[chunk]) for a in (ids, mask, segments))).numpy()
                    for row, j in zip(logits, range(at, min(at + 32, len(pending)))):
                        lo, hi = context_range(ids[j], segments[j])
                        s, e, best, second = best_span(row, lo, hi)
                        # spread of a span's score (start + end logit) over the context's candidates
                        spread = float(np.sqrt(row[lo:hi + 1].var(axis=0).sum())) or 1.0
                        if s < 0 or (best - second) / spread < MIN_MARGIN:
                            retry.append(pending[j])
                        spans[pending[j]] = (s, e)
                for k in retry:
                    attempts[k] += 1
                pending = retry
                if not pending:
                    break
        if pending:
            raise RuntimeError(f"could not generate unambiguous questions for samples {indices[pending[:5]].tolist()}")
        return {"seeds": np.full(len(indices), seed, np.int64), "attempts": attempts, "answer_spans": spans}

    def decode(self, hex_data: str) -> np.ndarray:
        return np.frombuffer(bytes.fromhex(hex_data), np.float32).reshape(-1, 2)

    def evaluate(self, responses: Dict[int, np.ndarray], dataset: Arrays) -> AccuracyReport:
        spans = dataset["answer_spans"]
        exact = f1 = 0.0
        for idx, logits in responses.items():
            ids, _, segments = synthetic_sample(int(dataset["seeds"][idx]), idx, int(dataset["attempts"][idx]))
            s, e, _, _ = best_span(logits, *context_range(ids, segments))
            truth = ids[spans[idx][0]:spans[idx][1] + 1].tolist()
            predicted = ids[s:e + 1].tolist() if s >= 0 else []
            exact += float(predicted == truth)
            f1 += f1_score(predicted, truth)
        n = max(len(responses), 1)
        em, f1 = 100.0 * exact / n, 100.0 * f1 / n
        return AccuracyReport(
            metric="F1", value=f1, reference=100.0, target_fraction=self.spec.accuracy_target,
            official_lines=[json.dumps({"exact_match": round(em, 5), "f1": round(f1, 5)})],
            details={"exact_match": em, "f1": f1, "samples": len(responses)})
