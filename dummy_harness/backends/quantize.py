"""Post-training int8 quantization of a stand-in on the CPU (torch.ao, the x86 engine), calibrated.

Static quantization, the form int8 MLPerf submissions use: weights int8 with one scale per output channel
(symmetric), activations uint8 with one scale and zero point per tensor, taken from a histogram of the values
each activation takes over a calibration set (HistogramObserver: the range that minimises the rounding error).
  * models with convolutions: torch's FX graph mode takes the convolutional part (the whole model when it
    traces; retinanet's box decoding and NMS do not, so each child holding convolutions is taken alone);
  * transformers: every nn.Linear becomes a static int8 linear between a quantize and a dequantize of its
    calibrated ranges (eager mode); embeddings, layer norms, softmax, attention over the KV cache and an LLM's
    vocabulary projection (a plain parameter, not a Linear) stay float32, as in int8 LLM deployments that keep
    the head in higher precision.

`Recipe` also describes deliberately bad quantizations (per-tensor weights, weights rounded to 4 bits, no
calibration: activation ranges guessed instead of measured), which the tests use as negative controls.
torch.ao quantization is deprecated in favour of torchao but is still the int8 path of the torch wheel; its
warnings are kept from the user's console.
"""
from __future__ import annotations

import functools
import warnings
from dataclasses import asdict, dataclass
from typing import Any, Dict, Sequence, Tuple

import torch
from torch import nn

Batch = Tuple[torch.Tensor, ...]


@dataclass(frozen=True)
class Recipe:
    weights: str = "per-channel"      # "per-channel" | "per-tensor"
    weight_bits: int = 8              # 8, or 4 (values rounded to 16 levels, still stored as int8)
    calibrate: bool = True            # False: no calibration data; every activation range is GUESSED_RANGE
    observer: str = "histogram"       # "histogram" | "minmax"

    def describe(self) -> Dict[str, Any]:
        return asdict(self)


GOOD = Recipe()
GUESSED_RANGE = (-4.0, 4.0)          # what an uncalibrated recipe assumes for every activation


def has_conv(model: nn.Module) -> bool:
    return any(isinstance(m, nn.Conv2d) for m in model.modules())


@functools.lru_cache(maxsize=1)
def cpu_has_vnni() -> bool:
    """Whether the CPU has 8-bit dot products (VNNI/AMX). Without them fbgemm's u8 x s8 products saturate in
    16 bits, so torch's x86 engine uses 7-bit activations (reduce_range)."""
    try:
        with open("/proc/cpuinfo") as f:
            flags = next((line for line in f if line.startswith("flags")), "")
    except OSError:
        return False
    return any(flag in flags.split() for flag in ("avx512_vnni", "avx_vnni", "amx_int8"))


def _qconfig(recipe: Recipe):
    from torch.ao.quantization import QConfig
    from torch.ao.quantization.observer import (FixedQParamsObserver, HistogramObserver, MinMaxObserver,
                                                PerChannelMinMaxObserver)

    reduce_range = not cpu_has_vnni()
    if not recipe.calibrate:
        lo, hi = GUESSED_RANGE
        levels = 127 if reduce_range else 255
        scale = (hi - lo) / levels
        activation = FixedQParamsObserver.with_args(scale=scale, zero_point=int(round(-lo / scale)),
                                                    dtype=torch.quint8, quant_min=0, quant_max=levels)
    elif recipe.observer == "minmax":
        activation = MinMaxObserver.with_args(dtype=torch.quint8, reduce_range=reduce_range)
    else:
        activation = HistogramObserver.with_args(dtype=torch.quint8, reduce_range=reduce_range)
    qmax = 2 ** (recipe.weight_bits - 1) - 1
    bounds = dict(dtype=torch.qint8, quant_min=-qmax - 1, quant_max=qmax)
    if recipe.weights == "per-channel":
        weight = PerChannelMinMaxObserver.with_args(qscheme=torch.per_channel_symmetric, ch_axis=0, **bounds)
    else:
        weight = MinMaxObserver.with_args(qscheme=torch.per_tensor_symmetric, **bounds)
    return QConfig(activation=activation, weight=weight), reduce_range


def quantize(model: nn.Module, calibration: Sequence[Batch], recipe: Recipe = GOOD) -> Tuple[nn.Module, Dict]:
    """`model` (fp32, eval, CPU; changed in place) quantized to int8, and what was done, for results.json.
    `calibration`: input batches of the calibration split, never the evaluated samples."""
    model = model.eval()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.backends.quantized.engine = "x86"
        qconfig, reduce_range = _qconfig(recipe)
        batches = list(calibration) if recipe.calibrate else []
        if has_conv(model):
            model, how = _quantize_fx(model, qconfig, calibration, batches)
        else:
            model, how = _quantize_linears(model, qconfig, batches)
    samples = sum(int(batch[0].shape[0]) for batch in batches)
    info = {
        "method": f"static post-training int8 ({how}), torch.ao x86 engine",
        "weights": f"int{recipe.weight_bits} symmetric, one scale per "
                   f"{'output channel' if recipe.weights == 'per-channel' else 'tensor'}",
        "activations": (f"uint8 affine, one scale per tensor, {recipe.observer} observer over the calibration set"
                        if recipe.calibrate else f"uint8, guessed range {GUESSED_RANGE} (not calibrated)")
                       + (" (7-bit: this CPU has no VNNI)" if reduce_range else ""),
        "calibration_batches": len(batches), "calibration_samples": samples,
        "recipe": recipe.describe(),
    }
    return model, info


# ---- models with convolutions: FX graph mode ------------------------------------------------------------------
def _quantize_fx(model: nn.Module, qconfig, example: Sequence[Batch], batches: Sequence[Batch]):
    from torch.ao.quantization import QConfigMapping
    from torch.ao.quantization.quantize_fx import convert_fx, prepare_fx

    mapping = QConfigMapping().set_global(qconfig)
    try:
        prepared = prepare_fx(model, mapping, example_inputs=tuple(example[0]))
        parts = {"": prepared}
        model = prepared
        how = "FX graph mode, whole model"
    except Exception:   # noqa: BLE001 - not traceable as a whole (Python control flow, e.g. NMS)
        parts = _prepare_conv_children(model, mapping, example, prepare_fx)
        how = f"FX graph mode, convolutional part ({', '.join(parts)}); post-processing float32"
    with torch.inference_mode():
        for batch in batches:
            model(*batch)
    if "" in parts:
        return convert_fx(model), how
    for name, prepared in parts.items():
        setattr(model, name, convert_fx(prepared))
    return model, how


def _prepare_conv_children(model: nn.Module, mapping, example: Sequence[Batch], prepare_fx):
    """Each direct child holding convolutions, traced on the inputs it really receives."""
    parts = {}
    children = {name: child for name, child in model.named_children() if has_conv(child)}
    seen: Dict[str, Any] = {}
    hooks = [child.register_forward_pre_hook(lambda mod, args, name=name: seen.setdefault(name, args))
             for name, child in children.items()]
    with torch.inference_mode():
        model(*example[0])
    for hook in hooks:
        hook.remove()
    for name, child in children.items():
        if name in seen:
            parts[name] = prepare_fx(child, mapping, example_inputs=seen[name])
            setattr(model, name, parts[name])
    return parts


# ---- transformers: each Linear between a quantize and a dequantize (eager mode) ------------------------------
def _quantize_linears(model: nn.Module, qconfig, batches: Sequence[Batch]):
    from torch.ao.quantization import QuantWrapper, convert, prepare

    count = 0
    for parent in list(model.modules()):
        for name, child in list(parent.named_children()):
            if type(child) is nn.Linear:
                wrapper = QuantWrapper(child)
                wrapper.qconfig = qconfig
                setattr(parent, name, wrapper)
                count += 1
    prepare(model, inplace=True)
    with torch.inference_mode():
        for batch in batches:
            model(*batch)
    convert(model, inplace=True)
    return model, f"eager mode, {count} Linear layers; embeddings, norms, attention and any LM head float32"
