"""whisper: a Whisper-large-v3-shaped encoder-decoder stand-in: 16 kHz audio -> log-mel -> encoder -> greedy
decoder -> the transcript as speech2text/accuracy_eval.py's character labels.

Input: 30 s of 16 kHz audio, float32 [480000] (zero after the utterance, as whisper pads), synthesised from the
sample's index when LoadGen loads it (1.9 MB a sample): 2-30 s of word-like tone bursts over a faint noise floor.
The stand-in computes whisper's log-mel frames itself, in float32 at every precision as a feature extractor does:
128 mel bins x 3000 frames (n_fft 400, hop 160, Slaney mel filters, log10, clamped to 8 below the maximum).
Decoding: the prompt <|startoftranscript|><|en|><|transcribe|><|notimestamps|>, then greedy text tokens (special
tokens suppressed) until <|endoftext|>, at most 200 (the reference's max_tokens). Each text token is a word (its
piece starts with a space) of a synthetic language whose words have usual successors, and the output projection
is fitted to it (as the LLM family's, llm.py). As a trained model's transcript follows the speech it hears, the
stand-in takes from the audio the transcript's length (2.7 words a second of sound, read speech's rate) and its
opening word, both from the number of frames that hold any signal: an exact count, the same at every precision.
A random-weight decoder reads too little of the audio through cross-attention for that: its transcripts of
different utterances were the same words.
Response: the transcript's characters as indices into accuracy_eval.py's 42 labels (' ', a-z, ', 0-9, $, %, +,
-), int64 (its --output_dtype default), with n_tokens = the generated tokens including <|endoftext|> (LoadGen's
use_token_latencies for whisper in the official conf). Accuracy: word error rate against the fp32 stand-in's
transcripts (word-level edit distance over the total reference words; the reference also merges up to 3
concatenated words and normalises English spelling, which the synthetic words never need), printed as
`Word Error Rate: X%, accuracy=Y%`.
`full` is Whisper-large-v3's shape (32 + 32 layers, 1280 wide, 20 heads, 51866 tokens; output projection untied
from the embedding): about 6 GiB of fp32 weights. `small` reads the 3000 frames with a stride-8 stem (375 encoder
positions instead of 1500).
"""
from __future__ import annotations

import math
import os
from dataclasses import dataclass
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np
import torch
from torch import nn

from ..accuracy import AccuracyReport
from .base import CALIBRATION_INDEX, MIN_MARGIN, Arrays, Benchmark, Encoded, as_tensor, gather
from .fitting import one_thread

SAMPLE_RATE = 16000
N_SAMPLES = 30 * SAMPLE_RATE           # whisper's 30 s window
N_FFT, HOP = 400, 160
N_FRAMES = N_SAMPLES // HOP            # 3000
EOT, SOT, EN, TRANSCRIBE, NO_TIMESTAMPS = 50257, 50258, 50259, 50360, 50364     # large-v3's special tokens
PROMPT = (SOT, EN, TRANSCRIBE, NO_TIMESTAMPS)
MAX_NEW_TOKENS = 200                   # speech2text/reference_SUT.py: max_tokens=200
WORDS_PER_SECOND = 2.7
LABELS = [" "] + [chr(c) for c in range(ord("a"), ord("z") + 1)] + ["'"] + [str(d) for d in range(10)] + \
    ["$", "%", "+", "-"]
LABEL_INDEX = {c: i for i, c in enumerate(LABELS)}
WORDS = 128                            # words of the synthetic language (as llm.py's)
FOLLOW = 0.5
HEAD_SCALE = 1.0
WEIGHT_SEED = 1633
TRAINING_SEED = 2**31 - 2
MIN_SECONDS, MAX_SECONDS = 2.0, 30.0


@dataclass(frozen=True)
class WhisperSize:
    n_mels: int
    hidden: int
    heads: int
    ffn: int
    encoder_layers: int
    decoder_layers: int
    stride: int            # frames per encoder position (whisper: 2)
    vocab: int = 51866
    text_ctx: int = 448


SIZES = {
    "small": WhisperSize(n_mels=128, hidden=64, heads=4, ffn=256, encoder_layers=2, decoder_layers=2, stride=8),
    "full": WhisperSize(n_mels=128, hidden=1280, heads=20, ffn=5120, encoder_layers=32, decoder_layers=32,
                        stride=2),
}


# ---- audio front end ---------------------------------------------------------------------------------------------
def mel_filters(n_mels: int) -> np.ndarray:
    """Slaney-scale, Slaney-normalised triangular filters [n_mels, N_FFT // 2 + 1], as librosa.filters.mel gives
    whisper (sr 16000, n_fft 400)."""
    def hz_to_mel(f):
        f = np.asarray(f, np.float64)
        linear = f / (200.0 / 3)
        log = 15.0 + np.log(np.maximum(f, 1e-10) / 1000.0) / (np.log(6.4) / 27.0)
        return np.where(f >= 1000.0, log, linear)

    def mel_to_hz(m):
        m = np.asarray(m, np.float64)
        return np.where(m >= 15.0, 1000.0 * np.exp((np.log(6.4) / 27.0) * (m - 15.0)), m * (200.0 / 3))

    fft_freqs = np.linspace(0, SAMPLE_RATE / 2, N_FFT // 2 + 1)
    mel_f = mel_to_hz(np.linspace(hz_to_mel(0.0), hz_to_mel(SAMPLE_RATE / 2), n_mels + 2))
    fdiff = np.diff(mel_f)
    ramps = mel_f[:, None] - fft_freqs[None, :]
    lower, upper = -ramps[:-2] / fdiff[:-1, None], ramps[2:] / fdiff[1:, None]
    weights = np.maximum(0, np.minimum(lower, upper))
    weights *= (2.0 / (mel_f[2:n_mels + 2] - mel_f[:n_mels]))[:, None]
    return weights.astype(np.float32)


def synthetic_audio(seed: int, index: int, attempt: int = 0) -> np.ndarray:
    """30 s of 16 kHz float32: an utterance of 2-30 s (word-like bursts of two partials under a Hann envelope,
    short pauses, a faint noise floor), then exact silence."""
    rng = np.random.default_rng([seed, index, attempt, N_SAMPLES])
    seconds = float(np.clip(rng.lognormal(np.log(11.0), 0.55), MIN_SECONDS, MAX_SECONDS))
    n = int(seconds * SAMPLE_RATE)
    audio = np.zeros(N_SAMPLES, np.float32)
    audio[:n] = 0.003 * rng.standard_normal(n, dtype=np.float32)
    t = 0
    while t < n:
        length = int(rng.uniform(0.15, 0.45) * SAMPLE_RATE)
        end = min(n, t + length)
        k = np.arange(end - t, dtype=np.float32)
        f1, f2 = rng.uniform(120, 400), rng.uniform(700, 2800)
        burst = np.sin(2 * np.pi * f1 / SAMPLE_RATE * k) + 0.5 * np.sin(2 * np.pi * f2 / SAMPLE_RATE * k)
        audio[t:end] += (rng.uniform(0.05, 0.3) * np.hanning(end - t) * burst).astype(np.float32)
        t = end + int(rng.uniform(0.03, 0.2) * SAMPLE_RATE)
    return audio


# ---- the network ---------------------------------------------------------------------------------------------------
class Attention(nn.Module):
    def __init__(self, hidden: int, heads: int):
        super().__init__()
        self.heads = heads
        self.query = nn.Linear(hidden, hidden)
        self.key = nn.Linear(hidden, hidden, bias=False)
        self.value = nn.Linear(hidden, hidden)
        self.out = nn.Linear(hidden, hidden)

    def split(self, x: torch.Tensor) -> torch.Tensor:
        b, t, h = x.shape
        return x.view(b, t, self.heads, h // self.heads).transpose(1, 2)

    def attend(self, x: torch.Tensor, k: torch.Tensor, v: torch.Tensor, causal: bool = False) -> torch.Tensor:
        q = self.split(self.query(x))
        a = nn.functional.scaled_dot_product_attention(q, k, v, is_causal=causal)
        return self.out(a.transpose(1, 2).reshape(x.shape))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.attend(x, self.split(self.key(x)), self.split(self.value(x)))


class Block(nn.Module):
    def __init__(self, hidden: int, heads: int, ffn: int, cross: bool):
        super().__init__()
        self.attn_norm, self.attn = nn.LayerNorm(hidden), Attention(hidden, heads)
        self.cross_norm = nn.LayerNorm(hidden) if cross else None
        self.cross = Attention(hidden, heads) if cross else None
        self.mlp_norm = nn.LayerNorm(hidden)
        self.mlp = nn.Sequential(nn.Linear(hidden, ffn), nn.GELU(), nn.Linear(ffn, hidden))

    def mlp_step(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.mlp(self.mlp_norm(x))


class WhisperStandIn(nn.Module):
    """forward(audio [B, 480000]) -> generated token ids [B, 200] (int64, -1 after <|endoftext|>)."""

    def __init__(self, size: WhisperSize, words: np.ndarray):
        super().__init__()
        self.size = size
        # The words a transcript may open with (int64: a change of precision leaves it as it is).
        self.register_buffer("first_words", torch.from_numpy(np.asarray(words, np.int64)))
        h = size.hidden
        self.conv1 = nn.Conv1d(size.n_mels, h, 3, padding=1)
        self.conv2 = nn.Conv1d(h, h, 3, stride=size.stride, padding=1)
        self.encoder = nn.ModuleList(Block(h, size.heads, size.ffn, cross=False) for _ in range(size.encoder_layers))
        self.encoder_norm = nn.LayerNorm(h)
        self.embed = nn.Embedding(size.vocab, h)
        self.positions = nn.Embedding(size.text_ctx, h)
        self.decoder = nn.ModuleList(Block(h, size.heads, size.ffn, cross=True) for _ in range(size.decoder_layers))
        self.decoder_norm = nn.LayerNorm(h)
        self.head_weight = nn.Parameter(torch.empty(h, size.vocab))     # [hidden, vocab]: x @ W, as decoder.py
        self.head_bias = nn.Parameter(torch.zeros(size.vocab))
        positions = N_FRAMES // size.stride
        # Plain attributes, not buffers: the front end stays float32 when the network changes precision.
        self.window = torch.hann_window(N_FFT)
        self.filters = torch.from_numpy(mel_filters(size.n_mels))
        self.audio_positions = sinusoids(positions, h)

    # ---- encoder -------------------------------------------------------------------------------------------------
    def features(self, audio: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
        """Log-mel frames [B, n_mels, 3000] and the frames holding any signal [B] (int64), in float32."""
        audio = audio.float()
        spec = torch.stft(audio, N_FFT, HOP, window=self.window.to(audio.device), return_complex=True)
        power = spec[..., :-1].abs() ** 2
        mel = self.filters.to(audio.device) @ power
        log = torch.clamp(mel, min=1e-10).log10()
        log = torch.maximum(log, log.amax(dim=(1, 2), keepdim=True) - 8.0)
        return (log + 4.0) / 4.0, (power.amax(dim=1) > 0).sum(dim=1)

    def encode(self, mel: torch.Tensor) -> torch.Tensor:
        x = nn.functional.gelu(self.conv1(mel.to(self.conv1.weight.dtype)))
        x = nn.functional.gelu(self.conv2(x)).transpose(1, 2)
        x = x + self.audio_positions.to(x.device, x.dtype)
        for block in self.encoder:
            x = x + block.attn(block.attn_norm(x))
            x = block.mlp_step(x)
        return self.encoder_norm(x)

    # ---- decoder -------------------------------------------------------------------------------------------------
    def decode_hidden(self, tokens: torch.Tensor, start: int, cache: List, cross: List) -> torch.Tensor:
        """Final hidden states of `tokens` [B, T] at positions start.., extending each layer's self-attention
        cache (a list of (k, v) per layer, filled on the first call)."""
        t = tokens.shape[1]
        x = self.embed(tokens) + self.positions(torch.arange(start, start + t, device=tokens.device))
        for i, block in enumerate(self.decoder):
            h = block.attn_norm(x)
            k, v = block.attn.split(block.attn.key(h)), block.attn.split(block.attn.value(h))
            if len(cache) > i:
                k, v = torch.cat([cache[i][0], k], 2), torch.cat([cache[i][1], v], 2)
                cache[i] = (k, v)
            else:
                cache.append((k, v))
            x = x + block.attn.attend(h, k, v, causal=t > 1)
            x = x + block.cross.attend(block.cross_norm(x), *cross[i])
            x = block.mlp_step(x)
        return self.decoder_norm(x)

    def cross_kv(self, states: torch.Tensor) -> List[Tuple[torch.Tensor, torch.Tensor]]:
        return [(b.cross.split(b.cross.key(states)), b.cross.split(b.cross.value(states))) for b in self.decoder]

    def logits(self, hidden: torch.Tensor) -> torch.Tensor:
        return torch.addmm(self.head_bias, hidden, self.head_weight).float()

    def transcribe(self, audio: torch.Tensor, min_margin: Optional[float] = None) -> Tuple[torch.Tensor, List[bool]]:
        """Greedy tokens [B, 200] (-1 after the end) and, with `min_margin`, whether every choice of each row won by
        that share of its logits' spread (the margin rule of base.MIN_MARGIN)."""
        mel, voiced = self.features(audio)
        planned = torch.clamp(torch.round(voiced.double() * (WORDS_PER_SECOND * HOP / SAMPLE_RATE)), 1,
                              MAX_NEW_TOKENS - 1).long()
        cross = self.cross_kv(self.encode(mel))
        b = audio.shape[0]
        out = torch.full((b, MAX_NEW_TOKENS), -1, dtype=torch.long, device=audio.device)
        alive = torch.ones(b, dtype=torch.bool, device=audio.device)
        clear = [True] * b
        cache: List = []
        feed = torch.tensor([PROMPT], device=audio.device).expand(b, -1)
        position = 0
        for step in range(MAX_NEW_TOKENS):
            logits = self.logits(self.decode_hidden(feed, position, cache, cross)[:, -1])
            position += feed.shape[1]
            high, low = logits.amax(-1), logits.amin(-1)
            logits[:, EOT + 1:] = low[:, None]              # special tokens are never text
            # <|endoftext|> lowest until the planned length, then highest by the row's range (planned.py's rule).
            logits[:, EOT] = torch.where(step >= planned, 2 * high - low, low)
            if step == 0:       # the opening word, recognised from the utterance's exact length in frames
                first = self.first_words[voiced % self.first_words.numel()]
                logits[torch.arange(b, device=logits.device), first] = 2 * high - low
            top = logits.topk(2)
            if min_margin is not None:
                gaps = ((top.values[:, 0] - top.values[:, 1]) / logits.std(-1)).tolist()
                clear = [c and (not a or g >= min_margin) for c, a, g in zip(clear, alive.tolist(), gaps)]
            token = top.indices[:, 0]
            alive = alive & (token != EOT)
            out[:, step] = torch.where(alive, token, torch.full_like(token, -1))
            if not bool(alive.any()):
                break
            feed = torch.where(alive, token, torch.full_like(token, EOT))[:, None]
        return out, clear

    def forward(self, audio: torch.Tensor) -> torch.Tensor:
        return self.transcribe(audio)[0]


def sinusoids(length: int, channels: int) -> torch.Tensor:
    """Whisper's fixed positional embedding of the audio positions."""
    increment = math.log(10000) / (channels // 2 - 1)
    inv = torch.exp(-increment * torch.arange(channels // 2))
    scaled = torch.arange(length)[:, None] * inv[None, :]
    return torch.cat([torch.sin(scaled), torch.cos(scaled)], dim=1)


# ---- the benchmark -------------------------------------------------------------------------------------------------
class Whisper(Benchmark):
    input_names = ("audio",)

    def __init__(self, spec, size: str = ""):
        super().__init__(spec, size)
        self._pieces: Optional[List[str]] = None

    @property
    def whisper_size(self) -> WhisperSize:
        return SIZES[self.size]

    def fits(self) -> str:
        s = self.whisper_size
        layer = 4 * s.hidden * s.hidden + 2 * s.hidden * s.ffn
        need = 4 * ((s.encoder_layers + 1.5 * s.decoder_layers) * layer + 2 * s.vocab * s.hidden)
        try:
            have = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
        except (ValueError, OSError):
            return ""
        if need > 0.8 * have:
            return (f"whisper size {self.size!r} needs {need / 2**30:.0f} GiB for its fp32 weights and this machine "
                    f"has {have / 2**30:.0f} GiB of RAM; use --model_size=small")
        return ""

    # ---- the synthetic language and its spelling ---------------------------------------------------------------
    def language(self) -> Tuple[np.ndarray, np.ndarray]:
        """(words, successor): text token ids, successor[i] usually follows words[i] (as llm.py's)."""
        rng = np.random.default_rng([WEIGHT_SEED, WORDS])
        words = rng.choice(np.arange(100, EOT), WORDS, replace=False)
        return words, rng.permutation(words)

    def pieces(self) -> List[str]:
        """The text of every text token: a space and 1-9 characters of accuracy_eval.py's labels (mostly
        letters), drawn once from a fixed seed."""
        if self._pieces is None:
            rng = np.random.default_rng(WEIGHT_SEED)
            letters = np.array(LABELS[1:27])
            rare = np.array(LABELS[27:])
            lengths = rng.integers(1, 10, EOT)
            chars = rng.choice(letters, (EOT, 9))
            oddity = rng.random((EOT, 9)) < 0.02
            chars[oddity] = rng.choice(rare, int(oddity.sum()))
            self._pieces = [" " + "".join(chars[i, :lengths[i]]) for i in range(EOT)]
        return self._pieces

    def text(self, tokens: Sequence[int]) -> str:
        pieces = self.pieces()
        return "".join(pieces[int(t)] for t in tokens).strip()

    # ---- model -------------------------------------------------------------------------------------------------
    def build_model(self, cache_dir: str = "") -> WhisperStandIn:
        model = WhisperStandIn(self.whisper_size, self.language()[0])
        gen = torch.Generator().manual_seed(WEIGHT_SEED)
        with torch.no_grad():
            for name, p in model.named_parameters():
                if name.endswith("bias"):
                    p.zero_()
                elif "norm" in name:
                    continue
                elif p.dim() > 1:
                    fan_in = p.shape[0] if name == "head_weight" else int(np.prod(p.shape[1:]))
                    std = 0.5 if name.startswith(("embed", "positions")) else fan_in ** -0.5
                    p.normal_(0.0, std, generator=gen)
        with one_thread():      # the same weights whatever pool the run that builds it has
            self.fit_head(model)
        return model.eval()

    def fit_head(self, model: WhisperStandIn) -> None:
        """A stand-in for training the output projection on the synthetic language: ridge regression of each
        word's successor (one-hot over the words) on the decoder's final hidden states of training transcripts
        read with training audio, added to the random projection of those words' columns (llm.py's fit)."""
        words, successor = self.language()
        column = np.full(self.whisper_size.vocab, -1, np.int64)
        column[words] = np.arange(len(words))
        states, targets = [], []
        with torch.inference_mode():
            for i in range(16):
                rng = np.random.default_rng([TRAINING_SEED, i])
                walk = [int(rng.choice(words))]
                for _ in range(60):
                    walk.append(int(successor[column[walk[-1]]]) if rng.random() < FOLLOW else int(rng.choice(words)))
                audio = torch.from_numpy(synthetic_audio(TRAINING_SEED, i))[None]
                cross = model.cross_kv(model.encode(model.features(audio)[0]))
                tokens = torch.tensor([list(PROMPT) + walk])
                hidden = model.decode_hidden(tokens, 0, [], cross)[0, len(PROMPT):]
                states.append(hidden)
                targets.append(torch.from_numpy(column[successor[column[np.array(walk)]]]))
        h, y = torch.cat(states), torch.cat(targets)
        hty = torch.zeros(h.shape[1], len(words)).index_add_(1, y, h.T)
        fitted = torch.linalg.solve(h.T @ h + torch.eye(h.shape[1]), hty)
        with torch.no_grad():
            model.head_weight[:, torch.from_numpy(words)] += HEAD_SCALE * fitted / fitted.std()

    # ---- data --------------------------------------------------------------------------------------------------
    def input_shapes(self, dataset: Arrays):
        return {"audio": ((N_SAMPLES,), np.dtype(np.float32))}

    def load_rows(self, dataset: Arrays, indices: np.ndarray) -> Arrays:
        seed, attempts = int(dataset["seed"][0]), dataset["attempts"]
        return {"audio": np.stack([synthetic_audio(seed, int(i), int(attempts[i])) for i in indices])}

    calibration_count = 16      # 1.9 MB a sample

    def calibration_rows(self, seed: int, indices: np.ndarray) -> Arrays:
        return {"audio": np.stack([synthetic_audio(seed, int(i)) for i in indices])}

    def generate(self, model: WhisperStandIn, count: int, seed: int) -> Arrays:
        outputs = np.full((count, MAX_NEW_TOKENS), -1, np.int32)
        attempts = np.zeros(count, np.int64)
        with torch.inference_mode():
            for i in range(count):
                for attempt in range(16):
                    audio = torch.from_numpy(synthetic_audio(seed, i, attempt))[None]
                    tokens, clear = model.transcribe(audio, MIN_MARGIN)
                    if clear[0]:
                        break
                else:
                    raise RuntimeError(f"could not generate an unambiguous utterance for sample {i}")
                outputs[i], attempts[i] = tokens[0].numpy(), attempt
        return {"seed": np.array([seed], np.int64), "attempts": attempts, "outputs": outputs}

    # ---- responses ---------------------------------------------------------------------------------------------
    def collate(self, rows: Arrays, indices: Sequence[int]) -> Tuple[torch.Tensor, ...]:
        return (as_tensor(gather(rows["audio"], indices)),)

    def labels(self, tokens: np.ndarray) -> np.ndarray:
        text = self.text(tokens[tokens >= 0])
        return np.array([LABEL_INDEX[c] for c in text], np.int64)

    def encode(self, output: torch.Tensor, indices: Sequence[int]) -> Encoded:
        rows = output.detach().cpu().numpy()
        generated = [int((row >= 0).sum()) for row in rows]
        encoded = Encoded.pieces([self.labels(row) for row in rows], np.int64)
        # <|endoftext|> counts as a generated token, as vLLM's token_ids hold it (the reference's n_tokens).
        encoded.n_tokens = [n + (n < MAX_NEW_TOKENS) for n in generated]
        return encoded

    # ---- accuracy ----------------------------------------------------------------------------------------------
    def evaluate(self, responses: Dict[int, np.ndarray], dataset: Arrays) -> AccuracyReport:
        errors = words = 0
        outputs = dataset["outputs"]
        for idx, labels in responses.items():
            hypothesis = "".join(LABELS[int(i)] for i in labels if 0 <= i < len(LABELS)).split()
            reference = self.text(np.asarray(outputs[idx])[np.asarray(outputs[idx]) >= 0]).split()
            errors += edit_distance(hypothesis, reference)
            words += len(reference)
        wer = errors / max(words, 1)
        accuracy = (1 - wer) * 100
        return AccuracyReport(metric="100 - WER", value=accuracy, reference=100.0,
                              target_fraction=self.spec.accuracy_target,
                              official_lines=[f"Word Error Rate: {wer * 100}%, accuracy={accuracy}%"],
                              details={"word_errors": errors, "reference_words": words, "samples": len(responses)})


def edit_distance(hypothesis: Sequence[str], reference: Sequence[str]) -> int:
    """Word-level Levenshtein distance (substitutions + insertions + deletions)."""
    previous = list(range(len(reference) + 1))
    for i, h in enumerate(hypothesis, 1):
        current = [i] + [0] * len(reference)
        for j, r in enumerate(reference, 1):
            current[j] = min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (h != r))
        previous = current
    return previous[-1]
