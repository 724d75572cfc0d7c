"""The LLM stand-in shared by gptj and llama2: a decoder-only transformer with a slot-based KV cache, greedy.

The module holds the KV cache of `slots` sequences. One call either prefills one prompt into a slot
(tokens [1, T]) or advances several slots by one token each (tokens [B, 1]); it returns, per row, the two best
next-token ids (the caller picks the second when the first is EOS but the sequence is still too short).
Sequences in different slots never see each other: each query attends only to its own slot's positions.

`generate_references()` is the ground truth: the same module, continuing many prompts at once, with the same
stopping rule as the harness's generation engine.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import List, Optional, Tuple

import numpy as np
import torch
from torch import nn


@dataclass(frozen=True)
class DecoderSize:
    vocab: int
    layers: int
    hidden: int
    heads: int
    ffn: int
    max_prompt: int        # longest prompt of the dataset
    mean_prompt: int       # typical prompt length of the dataset
    min_prompt: int
    max_new_tokens: int
    min_new_tokens: int

    @property
    def max_len(self) -> int:
        return self.max_prompt + self.max_new_tokens

    def weight_bytes(self) -> int:
        per_layer = 4 * self.hidden * self.hidden + 2 * self.hidden * self.ffn
        return 4 * (self.layers * per_layer + 2 * self.vocab * self.hidden + self.max_len * self.hidden)


class Block(nn.Module):
    def __init__(self, hidden: int, heads: int, ffn: int):
        super().__init__()
        self.heads = heads
        self.norm1 = nn.LayerNorm(hidden)
        self.qkv = nn.Linear(hidden, 3 * hidden)
        self.out = nn.Linear(hidden, hidden)
        self.norm2 = nn.LayerNorm(hidden)
        self.ff1 = nn.Linear(hidden, ffn)
        self.ff2 = nn.Linear(ffn, hidden)


class DecoderLM(nn.Module):
    def __init__(self, size: DecoderSize, eos_id: int):
        super().__init__()
        self.size = size
        self.eos_id = eos_id
        self.embed = nn.Embedding(size.vocab, size.hidden)
        self.positions = nn.Embedding(size.max_len, size.hidden)
        self.blocks = nn.ModuleList(Block(size.hidden, size.heads, size.ffn) for _ in range(size.layers))
        self.norm = nn.LayerNorm(size.hidden)
        # The vocabulary projection stored as [hidden, vocab]: x @ W runs about twice as fast on the CPU as
        # nn.Linear's x @ W.T for a vocabulary this wide.
        self.head_weight = nn.Parameter(torch.empty(size.hidden, size.vocab))
        self.head_bias = nn.Parameter(torch.zeros(size.vocab))
        self.k_cache: Optional[torch.Tensor] = None      # [slots, layers, heads, max_len, head_dim]
        self.v_cache: Optional[torch.Tensor] = None

    def _cache(self, slots_needed: int, like: torch.Tensor) -> None:
        if self.k_cache is not None and self.k_cache.shape[0] >= slots_needed and self.k_cache.device == like.device \
                and self.k_cache.dtype == like.dtype:
            return
        s = self.size
        shape = (max(slots_needed, 8), s.layers, s.heads, s.max_len, s.hidden // s.heads)
        k = torch.zeros(shape, dtype=like.dtype, device=like.device)
        v = torch.zeros_like(k)
        if self.k_cache is not None and self.k_cache.device == like.device and self.k_cache.dtype == like.dtype:
            k[: self.k_cache.shape[0]] = self.k_cache
            v[: self.v_cache.shape[0]] = self.v_cache
        self.k_cache, self.v_cache = k, v

    def next_logits(self, tokens: torch.Tensor, slots: torch.Tensor, starts: torch.Tensor) -> torch.Tensor:
        """Logits of the token after the last one of each row. tokens [B, T]; slots, starts [B]."""
        b, t = tokens.shape
        pos = starts[:, None] + torch.arange(t, device=tokens.device)[None, :]            # [B, T]
        x = self.embed(tokens) + self.positions(pos)
        self._cache(int(slots.max()) + 1, x)
        span = int((starts + t).max())                                                     # keys 0..span-1
        keys = torch.arange(span, device=tokens.device)
        mask = (keys[None, None, None, :] <= pos[:, None, :, None])                         # [B, 1, T, span]
        heads, head_dim = self.size.heads, self.size.hidden // self.size.heads
        for layer, block in enumerate(self.blocks):
            h = block.norm1(x)
            q, k, v = block.qkv(h).view(b, t, 3, heads, head_dim).permute(2, 0, 3, 1, 4)    # [B, H, T, D]
            if b == 1:
                self.k_cache[slots[0], layer, :, starts[0]:starts[0] + t] = k[0]
                self.v_cache[slots[0], layer, :, starts[0]:starts[0] + t] = v[0]
            else:   # one new token per row, each at its own position
                self.k_cache[slots, layer, :, starts] = k[:, :, 0]
                self.v_cache[slots, layer, :, starts] = v[:, :, 0]
            keys_k = self.k_cache[slots, layer, :, :span]
            keys_v = self.v_cache[slots, layer, :, :span]
            a = nn.functional.scaled_dot_product_attention(q, keys_k, keys_v, attn_mask=mask)
            x = x + block.out(a.transpose(1, 2).reshape(b, t, -1))
            x = x + block.ff2(nn.functional.gelu(block.ff1(block.norm2(x))))
        return torch.addmm(self.head_bias, self.norm(x[:, -1]), self.head_weight).float()

    def final_hidden(self, tokens: torch.Tensor) -> torch.Tensor:
        """Normalised final hidden states of every position of sequences [B, T] (no cache, causal): what the
        vocabulary projection reads, for fitting the model. [B, T, hidden]."""
        b, t = tokens.shape
        x = self.embed(tokens) + self.positions(torch.arange(t, device=tokens.device))[None]
        mask = torch.ones(t, t, dtype=torch.bool, device=tokens.device).tril()
        heads, head_dim = self.size.heads, self.size.hidden // self.size.heads
        for block in self.blocks:
            q, k, v = block.qkv(block.norm1(x)).view(b, t, 3, heads, head_dim).permute(2, 0, 3, 1, 4)
            a = nn.functional.scaled_dot_product_attention(q, k, v, attn_mask=mask)
            x = x + block.out(a.transpose(1, 2).reshape(b, t, -1))
            x = x + block.ff2(nn.functional.gelu(block.ff1(block.norm2(x))))
        return self.norm(x)

    def forward(self, tokens: torch.Tensor, slots: torch.Tensor, starts: torch.Tensor) -> torch.Tensor:
        """The two best next tokens per row, int64 [B, 2]."""
        logits = self.next_logits(tokens, slots, starts)
        first = blocked_argmax(logits)
        second = blocked_argmax(logits.scatter(-1, first[:, None], float("-inf")))
        return torch.stack([first, second], dim=-1)


def blocked_argmax(logits: torch.Tensor) -> torch.Tensor:
    """argmax over the last dim, as torch.argmax (first maximum wins) but in two vectorised passes: torch's CPU
    argmax over a 50k vocabulary costs ~20x an amax."""
    b, v = logits.shape
    block = max(d for d in range(1, min(v, 2048) + 1) if v % d == 0)
    blocks = logits.view(b, v // block, block)
    which = blocks.amax(dim=-1).argmax(dim=-1)                                     # first block holding the max
    inner = blocks[torch.arange(b, device=logits.device), which].argmax(dim=-1)   # first max within it
    return which * block + inner


def choose(top2: Tuple[int, int], generated: int, eos_id: int, min_new: int) -> int:
    """Greedy choice with the minimum-length rule: EOS only once `min_new` tokens exist."""
    first, second = top2
    return second if (first == eos_id and generated < min_new) else first


def finished(token: int, generated: int, eos_id: int, max_new: int) -> bool:
    """After appending `token` (the `generated`-th): stop at EOS or at the length limit."""
    return token == eos_id or generated >= max_new


def init_weights(model: DecoderLM, seed: int) -> None:
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if p.dim() > 1:
                fan_in = p.shape[0] if name == "head_weight" else p.shape[1]
                std = 0.5 if name.startswith(("embed", "positions")) else fan_in ** -0.5
                p.normal_(0.0, std, generator=gen)
            elif name.endswith("bias"):
                p.zero_()


def fit_head(model: DecoderLM, sequences: List[np.ndarray], words: np.ndarray, successor: np.ndarray,
             scale: float) -> None:
    """A stand-in for training the vocabulary projection on a language where word words[i] is usually followed
    by successor[i] (a word, or EOS where the text ends): ridge regression of the successor (one-hot over the
    words and EOS) on the final hidden states of training sequences, added to the random projection of those
    tokens' columns, scaled to `scale` per weight."""
    outputs = np.union1d(words, successor)
    column = np.full(model.size.vocab, -1, np.int64)
    column[outputs] = np.arange(len(outputs))
    position = np.full(model.size.vocab, -1, np.int64)
    position[words] = np.arange(len(words))
    states, targets = [], []
    with torch.inference_mode():
        for seq in sequences:
            states.append(model.final_hidden(torch.from_numpy(seq[None].astype(np.int64)))[0])
            targets.append(torch.from_numpy(column[successor[position[seq]]]))
    h, y = torch.cat(states), torch.cat(targets)
    hty = torch.zeros(h.shape[1], len(outputs)).index_add_(1, y, h.T)
    fitted = torch.linalg.solve(h.T @ h + torch.eye(h.shape[1]), hty)
    with torch.no_grad():
        model.head_weight[:, torch.from_numpy(outputs)] += scale * fitted / fitted.std()


def fit_language_model(model: DecoderLM, sequences: np.ndarray, outputs: np.ndarray, steps: int, batch: int,
                       lr: float, negatives: int, seed: int) -> None:
    """Train `model` (initialised) on its language, as an LM is trained on its corpus: cross-entropy of each next
    token of `sequences` [N, T] (texts packed back to back, EOS between them; every token among `outputs`, the
    language's words and EOS). Those tokens' embeddings and vocabulary columns are trained with the rest; each
    step `negatives` other columns, drawn at random, compete in the softmax but keep their random weights, as
    do the embeddings of every other token."""
    gen = torch.Generator().manual_seed(seed)
    out_t = torch.from_numpy(outputs.astype(np.int64))
    local = np.full(model.size.vocab, -1, np.int64)
    local[outputs] = np.arange(len(outputs))
    data = torch.from_numpy(local[sequences])         # token ids as indices into `outputs`
    others = torch.from_numpy(np.setdiff1d(np.arange(model.size.vocab), outputs))
    # The trained rows and columns as small parameters of their own: the optimizer's work grows with the
    # parameters it holds, and the full tables are mostly rows that never get a gradient.
    vocabulary = model.embed
    model.embed = nn.Embedding.from_pretrained(vocabulary.weight.detach()[out_t].clone(), freeze=False)
    head_weight = nn.Parameter(model.head_weight.detach()[:, out_t].clone())
    head_bias = nn.Parameter(model.head_bias.detach()[out_t].clone())
    params = [p for name, p in model.named_parameters() if not name.startswith("head_")] + [head_weight, head_bias]
    optimizer = torch.optim.Adam(params, lr=lr)
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=lr, total_steps=steps, pct_start=0.15)
    model.train()
    try:
        for _ in range(steps):
            rows = data[torch.randint(0, len(data), (batch,), generator=gen)]
            h = model.final_hidden(rows[:, :-1])
            drawn = others[torch.randint(0, len(others), (negatives,), generator=gen)]
            logits = torch.cat([h @ head_weight + head_bias,
                                h @ model.head_weight.detach()[:, drawn] + model.head_bias.detach()[drawn]], dim=-1)
            loss = nn.functional.cross_entropy(logits.reshape(-1, logits.shape[-1]), rows[:, 1:].reshape(-1))
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            schedule.step()
    finally:
        with torch.no_grad():
            vocabulary.weight[out_t] = model.embed.weight
            model.head_weight[:, out_t] = head_weight
            model.head_bias[out_t] = head_bias
        model.embed = vocabulary
        model.eval()


def generate_references(model: DecoderLM, prompts: List[np.ndarray], min_margin: float,
                        slots: int = 32) -> List[Tuple[List[int], bool]]:
    """Greedy continuations of `prompts` (tokens without EOS, and whether every step was decided by a clear margin:
    `min_margin` of the logits' spread). Each prompt is prefilled into a free slot and every active sequence
    advances by one token per step together, so a dataset's references cost a fraction of one prompt at a time."""
    size = model.size
    out: List[Tuple[List[int], bool]] = [([], True)] * len(prompts)
    waiting = list(range(len(prompts)))[::-1]
    active: dict = {}                                  # slot -> [prompt number, tokens, clear, next position]

    def decide(values: List[float], ids: List[int], spread: float, entry: list) -> bool:
        """Append this step's greedy token (from the top 3 logits and their spread) to `entry`; True when the
        sequence has ended."""
        token = choose((ids[0], ids[1]), len(entry[1]), model.eos_id, size.min_new_tokens)
        i = ids.index(token)
        if (values[i] - values[i + 1]) / (spread or 1.0) < min_margin:
            entry[2] = False
        if token == model.eos_id:
            return True
        entry[1].append(token)
        return finished(token, len(entry[1]), model.eos_id, size.max_new_tokens)

    def top(logits: torch.Tensor):
        """Per row: the top 3 logits, their ids and the spread, in one vectorised pass."""
        best = logits.topk(3, dim=-1)
        return best.values.tolist(), best.indices.tolist(), logits.std(dim=-1).tolist()

    with torch.inference_mode():
        while waiting or active:
            for slot in [s for s in range(slots) if s not in active]:
                if not waiting:
                    break
                n = waiting.pop()
                prompt = prompts[n]
                entry = [n, [], True, len(prompt)]
                logits = model.next_logits(torch.from_numpy(prompt[None].astype(np.int64)), torch.tensor([slot]),
                                           torch.tensor([0]))
                values, ids, spreads = top(logits)
                if decide(values[0], ids[0], spreads[0], entry):
                    out[n] = (entry[1], entry[2])
                else:
                    active[slot] = entry
            if not active:
                continue
            order = sorted(active)
            tokens = torch.tensor([[active[s][1][-1]] for s in order], dtype=torch.int64)
            starts = torch.tensor([active[s][3] for s in order], dtype=torch.int64)
            values, ids, spreads = top(model.next_logits(tokens, torch.tensor(order, dtype=torch.int64), starts))
            for row, s in enumerate(order):
                entry = active[s]
                entry[3] += 1
                if decide(values[row], ids[row], spreads[row], entry):
                    out[entry[0]] = (entry[1], entry[2])
                    del active[s]
    return out
