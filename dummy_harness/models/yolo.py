"""yolo-95, yolo-99: a YOLO11-shaped detector stand-in: Conv-BN-SiLU backbone with C3k2, SPPF and C2PSA, a PAN
neck, an anchor-free head with distribution focal loss (DFL) boxes over strides 8/16/32, then NMS.

Input: float32 [3, 640, 640] RGB in [0, 1] per sample (held channels-last in RAM), the letterboxed form of an image
of COCO's sizes (640x480, 480x640, 640x427, ...: the side ratio kept, padded with 114/255 as Ultralytics pads),
synthesised from its index when LoadGen loads it (4.9 MB a sample).
Post-processing as the reference's `model.predict(conf=0.001)`: per anchor its best class, candidates above 0.001,
class-aware NMS at IoU 0.7, at most 300 detections, boxes taken back through the letterbox to the original image.
Response (yolo_loadgen.py): float32 7-tuples [qsl_idx, ymin, xmin, ymax, xmax, score, COCO category id (1-90)],
boxes normalised by the original image's height and width; fewer than 7 floats = no detection.
Accuracy: COCO mAP (pycocotools, as tools/accuracy-coco.py, which the reference's README recommends) against the
fp32 stand-in's detections scoring at least 0.25, which the dataset folder holds as
`annotations/instances_val2017.json` (`--coco-dir <dataset>`); `mAP=X%`.
The margin rule (base.MIN_MARGIN) for a detector: an image is kept only if each ground-truth box's class wins
clearly and no NMS decision between two ground-truth boxes of a class is a close call (IoU within 0.02 of 0.7, or
scores within the margin).
`full` is YOLO11l (width 1.0, depth 1.0, at most 512 channels, C3k blocks); `small` is 1/32 as wide (at least 4
channels), one block deep, with a stride-8 patchify stem.
"""
from __future__ import annotations

import json
import os
from dataclasses import dataclass
from typing import Dict, List, Sequence, Tuple

import numpy as np
import torch
from torch import nn
from torch.nn.utils.fusion import fuse_conv_bn_eval

from ..accuracy import AccuracyReport
from .base import MIN_MARGIN, Arrays, Benchmark, Encoded, as_tensor, gather
from .coco import map_report
from .fitting import one_thread

IMAGE = 640
PAD_VALUE = 114 / 255
NUM_CLASSES = 80
REG_MAX = 16
STRIDES = (8, 16, 32)
CONF = 0.001                # the reference's predict(conf=0.001)
NMS_IOU = 0.7               # Ultralytics' default
MAX_DETECTIONS = 300        # Ultralytics' default max_det
MAX_CANDIDATES = 1000       # NMS input cap (Ultralytics: 30000; the stand-in has far fewer above CONF)
GT_SCORE = 0.25             # ground truth: the fp32 stand-in's detections at least this confident
GT_PER_IMAGE = 100          # COCOeval's maxDets: more ground truth than this could not all be matched
IOU_MARGIN = 0.02           # an IoU a few rounding errors of box corners cannot cross
GT_TARGET, CANDIDATE_TARGET = 15, 100    # anchors an image above GT_SCORE and CONF, on calibration images
WEIGHT_SEED = 11
CALIBRATION_SEED = 2**31 - 1
# Original sizes (height, width) of the images: COCO val2017's most common ones.
ORIGINAL_SIZES = ((480, 640), (640, 480), (427, 640), (640, 427), (480, 640), (425, 640), (640, 640),
                  (375, 500), (333, 500), (500, 375))
# YOLO index -> COCO category id (yolo_loadgen.py's COCO_80_TO_91)
COCO_80_TO_91 = (1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25, 27, 28, 31,
                 32, 33, 34, 35, 36, 37, 38, 39, 40, 41, 42, 43, 44, 46, 47, 48, 49, 50, 51, 52, 53, 54, 55, 56, 57,
                 58, 59, 60, 61, 62, 63, 64, 65, 67, 70, 72, 73, 74, 75, 76, 77, 78, 79, 80, 81, 82, 84, 85, 86, 87,
                 88, 89, 90)


@dataclass(frozen=True)
class YoloSize:
    width: float            # channel multiplier of YOLO11l's channels
    depth: int              # blocks per C3k2
    c3k: bool               # C3k2 blocks hold C3k (YOLO11 m/l/x) or Bottlenecks (n/s)
    box_channels: int       # the head's box branch (YOLO11l: 64)
    cls_channels: int       # its class branch (YOLO11l: 256)
    patchify: bool = False  # one stride-8 patchify conv in place of the first three convs (their 320x320 and
                            # 160x160 maps dominate a narrow net's time)


SIZES = {
    "small": YoloSize(width=1 / 32, depth=1, c3k=False, box_channels=8, cls_channels=8, patchify=True),
    "full": YoloSize(width=1.0, depth=2, c3k=True, box_channels=64, cls_channels=256),
}


# ---- YOLO11's blocks -------------------------------------------------------------------------------------------------
class Conv(nn.Module):
    """Conv2d, batch norm (folded into the conv once calibrated), SiLU."""

    def __init__(self, c1: int, c2: int, k: int = 1, s: int = 1, g: int = 1, act: bool = True, p: int = -1):
        super().__init__()
        self.conv = nn.Conv2d(c1, c2, k, s, k // 2 if p < 0 else p, groups=g, bias=False)
        self.bn: nn.Module = nn.BatchNorm2d(c2)
        self.act = nn.SiLU() if act else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.act(self.bn(self.conv(x)))

    def fold(self) -> None:
        self.conv, self.bn = fuse_conv_bn_eval(self.conv, self.bn), nn.Identity()


class Bottleneck(nn.Module):
    def __init__(self, c1: int, c2: int, shortcut: bool = True, k: Tuple[int, int] = (3, 3), e: float = 0.5):
        super().__init__()
        c = int(c2 * e)
        self.cv1, self.cv2 = Conv(c1, c, k[0]), Conv(c, c2, k[1])
        self.add = shortcut and c1 == c2

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.cv2(self.cv1(x))
        return x + y if self.add else y


class C3k(nn.Module):
    def __init__(self, c1: int, c2: int, n: int = 2, shortcut: bool = True, e: float = 0.5):
        super().__init__()
        c = int(c2 * e)
        self.cv1, self.cv2, self.cv3 = Conv(c1, c, 1), Conv(c1, c, 1), Conv(2 * c, c2, 1)
        self.m = nn.Sequential(*(Bottleneck(c, c, shortcut, (3, 3), 1.0) for _ in range(n)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.cv3(torch.cat((self.m(self.cv1(x)), self.cv2(x)), 1))


class C3k2(nn.Module):
    """YOLO11's CSP block (C2f with C3k or Bottleneck inner blocks)."""

    def __init__(self, c1: int, c2: int, n: int, c3k: bool, e: float = 0.5, shortcut: bool = True):
        super().__init__()
        self.c = int(c2 * e)
        self.cv1, self.cv2 = Conv(c1, 2 * self.c, 1), Conv((2 + n) * self.c, c2, 1)
        self.m = nn.ModuleList(C3k(self.c, self.c, 2, shortcut) if c3k else Bottleneck(self.c, self.c, shortcut)
                               for _ in range(n))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        halves = self.cv1(x)
        y = [halves[:, :self.c], halves[:, self.c:]]     # slices, not chunk(): torch.fx traces them (int8)
        for m in self.m:
            y.append(m(y[-1]))
        return self.cv2(torch.cat(y, 1))


class SPPF(nn.Module):
    def __init__(self, c1: int, c2: int, k: int = 5):
        super().__init__()
        c = c1 // 2
        self.cv1, self.cv2 = Conv(c1, c, 1), Conv(4 * c, c2, 1)
        self.pool = nn.MaxPool2d(k, 1, k // 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = [self.cv1(x)]
        for _ in range(3):
            y.append(self.pool(y[-1]))
        return self.cv2(torch.cat(y, 1))


class PSAAttention(nn.Module):
    def __init__(self, dim: int, heads: int, attn_ratio: float = 0.5):
        super().__init__()
        self.heads, self.head_dim = heads, dim // heads
        self.key_dim = max(1, int(self.head_dim * attn_ratio))
        self.scale = self.key_dim ** -0.5
        self.qkv = Conv(dim, dim + 2 * self.key_dim * heads, 1, act=False)
        self.proj = Conv(dim, dim, 1, act=False)
        self.pe = Conv(dim, dim, 3, g=dim, act=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        shape = x.shape
        qkv = self.qkv(x).flatten(2).unflatten(1, (self.heads, 2 * self.key_dim + self.head_dim))
        kd = self.key_dim
        q, k, v = qkv[:, :, :kd], qkv[:, :, kd:2 * kd], qkv[:, :, 2 * kd:]
        attn = ((q.transpose(-2, -1) @ k) * self.scale).softmax(dim=-1)
        x = (v @ attn.transpose(-2, -1)).reshape(shape) + self.pe(v.reshape(shape))
        return self.proj(x)


class C2PSA(nn.Module):
    """YOLO11's position-sensitive attention block at stride 32."""

    def __init__(self, c1: int, n: int):
        super().__init__()
        self.c = c1 // 2
        self.cv1, self.cv2 = Conv(c1, 2 * self.c, 1), Conv(2 * self.c, c1, 1)
        self.attn = nn.ModuleList(PSAAttention(self.c, max(1, self.c // 64)) for _ in range(n))
        self.ffn = nn.ModuleList(nn.Sequential(Conv(self.c, 2 * self.c, 1), Conv(2 * self.c, self.c, 1, act=False))
                                 for _ in range(n))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.cv1(x)
        a, b = y[:, :self.c], y[:, self.c:]
        for attn, ffn in zip(self.attn, self.ffn):
            b = b + attn(b)
            b = b + ffn(b)
        return self.cv2(torch.cat((a, b), 1))


class YoloNet(nn.Module):
    """Backbone, neck and head convolutions: images [B, 3, 640, 640] -> per stride (box DFL logits [B, 64, H, W],
    class logits [B, 80, H, W]). Traceable, so int8 quantization takes it whole."""

    def __init__(self, size: YoloSize):
        super().__init__()
        def ch(c: int) -> int:
            return max(4, int(min(c, 512) * size.width))
        n, c3k = size.depth, size.c3k
        if size.patchify:
            self.b0, self.b1 = Conv(3, ch(128), 8, 8, p=0), nn.Identity()
        else:
            self.b0, self.b1 = Conv(3, ch(64), 3, 2), Conv(ch(64), ch(128), 3, 2)
        self.b2 = C3k2(ch(128), ch(256), n, c3k, e=0.25)
        self.b3 = nn.Identity() if size.patchify else Conv(ch(256), ch(256), 3, 2)
        self.b4 = C3k2(ch(256), ch(512), n, c3k, e=0.25)
        self.b5 = Conv(ch(512), ch(512), 3, 2)
        self.b6 = C3k2(ch(512), ch(512), n, True)
        self.b7 = Conv(ch(512), ch(1024), 3, 2)
        self.b8 = C3k2(ch(1024), ch(1024), n, True)
        self.b9 = SPPF(ch(1024), ch(1024))
        self.b10 = C2PSA(ch(1024), n)
        self.h13 = C3k2(ch(1024) + ch(512), ch(512), n, c3k)
        self.h16 = C3k2(ch(512) + ch(512), ch(256), n, c3k)
        self.h17 = Conv(ch(256), ch(256), 3, 2)
        self.h19 = C3k2(ch(256) + ch(512), ch(512), n, c3k)
        self.h20 = Conv(ch(512), ch(512), 3, 2)
        self.h22 = C3k2(ch(512) + ch(1024), ch(1024), n, True)
        levels = (ch(256), ch(512), ch(1024))
        c2, c3 = size.box_channels, size.cls_channels
        self.box = nn.ModuleList(nn.Sequential(Conv(c, c2, 3), Conv(c2, c2, 3), nn.Conv2d(c2, 4 * REG_MAX, 1))
                                 for c in levels)
        self.cls = nn.ModuleList(nn.Sequential(Conv(c, c, 3, g=c), Conv(c, c3, 1), Conv(c3, c3, 3, g=c3),
                                               Conv(c3, c3, 1), nn.Conv2d(c3, NUM_CLASSES, 1)) for c in levels)

    def forward(self, x: torch.Tensor) -> Tuple[List[torch.Tensor], List[torch.Tensor]]:
        up = nn.functional.interpolate
        p3 = self.b4(self.b3(self.b2(self.b1(self.b0(x)))))
        p4 = self.b6(self.b5(p3))
        p5 = self.b10(self.b9(self.b8(self.b7(p4))))
        h13 = self.h13(torch.cat((up(p5, scale_factor=2.0, mode="nearest"), p4), 1))
        h16 = self.h16(torch.cat((up(h13, scale_factor=2.0, mode="nearest"), p3), 1))
        h19 = self.h19(torch.cat((self.h17(h16), h13), 1))
        h22 = self.h22(torch.cat((self.h20(h19), p5), 1))
        feats = (h16, h19, h22)
        return [b(f) for b, f in zip(self.box, feats)], [c(f) for c, f in zip(self.cls, feats)]


class YoloStandIn(nn.Module):
    def __init__(self, size: YoloSize):
        super().__init__()
        self.net = YoloNet(size)
        # Class logits are standardised per image, then mapped to confidences by this scale and shift (fitted in
        # Yolo.calibrate_head): a stand-in for a trained detector's confidence, which an untrained net's overall
        # response to a whole image would otherwise swamp.
        self.register_buffer("confidence", torch.tensor([1.0, 0.0]))

    def raw(self, images: torch.Tensor) -> Tuple[torch.Tensor, ...]:
        """The network's maps (what ONNX Runtime runs): box bin logits [B, 64, H, W] of the three strides (DFL: 16
        bins for each of left, top, right, bottom), then their class logits [B, 80, H, W]."""
        box_maps, cls_maps = self.net(images)
        return (*box_maps, *cls_maps)

    def confidence_map(self, cls_maps: Sequence[torch.Tensor]) -> torch.Tensor:
        """Each image's scale and shift of its class logits [B, 2]: standardised over all its anchors and
        classes, then self.confidence. Sums, not std(): one pass over the maps each."""
        count = sum(m[0].numel() for m in cls_maps)
        mean = sum(m.float().sum(dim=(1, 2, 3)) for m in cls_maps) / count
        square = sum(torch.linalg.vector_norm(m.float().flatten(1), dim=1) ** 2 for m in cls_maps) / count
        std = (square - mean * mean).clamp(min=1e-12).sqrt()
        scale, shift = self.confidence.float().unbind()
        return torch.stack((scale / std, shift - mean * scale / std), 1)

    def dense(self, images: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Every anchor's box bin logits [B, N, 64] and confidence-mapped class logits [B, N, 80] (the margin rule
        and the head's calibration read these; forward() reads only what it needs of the maps), and the images'
        confidence maps."""
        maps = self.raw(images)
        b = images.shape[0]
        boxes = torch.cat([m.float().flatten(2) for m in maps[:3]], 2).transpose(1, 2)
        confidence = self.confidence_map(maps[3:])
        logits = torch.cat([m.float().flatten(2) for m in maps[3:]], 2).transpose(1, 2)
        return boxes, logits * confidence[:, :1, None] + confidence[:, 1:, None], confidence

    def anchors(self, sizes: Sequence[Tuple[int, int]], device) -> torch.Tensor:
        """(centre y, centre x, stride) of every anchor [N, 3], in letterboxed pixels' strides."""
        rows = []
        for (h, w), stride in zip(sizes, STRIDES):
            ys, xs = torch.meshgrid(torch.arange(h, device=device), torch.arange(w, device=device), indexing="ij")
            rows.append(torch.stack((ys.reshape(-1) + 0.5, xs.reshape(-1) + 0.5,
                                     torch.full((h * w,), float(stride), device=device)), 1))
        return torch.cat(rows)

    def grid(self, images: torch.Tensor) -> torch.Tensor:
        side = images.shape[-1]
        return self.anchors([(side // s, side // s) for s in STRIDES], images.device)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """[B, 300, 6] detections (ymin, xmin, ymax, xmax in letterboxed pixels, score, class 0-79); unused rows
        score -1."""
        maps = self.raw(images)
        box_maps, cls_maps = maps[:3], maps[3:]
        confidence = self.confidence_map(cls_maps)
        best, label = zip(*(m.float().max(dim=1) for m in cls_maps))
        best = torch.cat([v.flatten(1) for v in best], 1) * confidence[:, :1] + confidence[:, 1:]
        label = torch.cat([i.flatten(1) for i in label], 1)
        anchors = self.grid(images)
        out = torch.full((images.shape[0], MAX_DETECTIONS, 6), -1.0, device=images.device)
        for b in range(images.shape[0]):
            kept, box, score, cls = select([m[b].flatten(1) for m in box_maps], best[b], label[b], anchors)
            n = kept.numel()
            out[b, :n, :4], out[b, :n, 4], out[b, :n, 5] = box[kept], score[kept], cls[kept].float()
        return out


def decode(box_logits: torch.Tensor, anchors: torch.Tensor) -> torch.Tensor:
    """Boxes (ymin, xmin, ymax, xmax, letterboxed pixels) of some anchors from their bin logits [K, 64] (DFL: each
    side's distance is the expectation of a softmax over 16 bins, in strides)."""
    bins = torch.arange(REG_MAX, device=box_logits.device, dtype=torch.float32)
    left, top, right, bottom = (box_logits.reshape(-1, 4, REG_MAX).softmax(2) * bins).sum(2).T
    cy, cx, stride = anchors.T
    return torch.stack((cy - top, cx - left, cy + bottom, cx + right), -1) * stride[:, None]


def gather_anchors(levels: Sequence[torch.Tensor], index: torch.Tensor) -> torch.Tensor:
    """Rows [K, C] of some anchors (indices over all levels) from per-level maps [C, H*W], without concatenating
    the maps."""
    out = torch.empty((index.numel(), levels[0].shape[0]), dtype=torch.float32, device=index.device)
    start = 0
    for level in levels:
        inside = (index >= start) & (index < start + level.shape[1])
        out[inside] = level[:, index[inside] - start].T.float()
        start += level.shape[1]
    return out


def select(box_levels: Sequence[torch.Tensor], best: torch.Tensor, label: torch.Tensor, anchors: torch.Tensor):
    """One image's detections from its per-level box bin logits [64, H*W] and each anchor's best confidence-mapped
    class logit and class [N]: candidates (above CONF, at most MAX_CANDIDATES) and the indices NMS kept, best
    first: (kept, candidate boxes, scores, classes)."""
    score = torch.sigmoid(best)
    top = score.topk(min(MAX_CANDIDATES, score.numel())).indices
    top = top[score[top] > CONF]
    boxes = decode(gather_anchors(box_levels, top), anchors[top])
    kept = nms(boxes, score[top], label[top])[:MAX_DETECTIONS]
    return kept, boxes, score[top], label[top]


def iou_matrix(boxes: torch.Tensor) -> torch.Tensor:
    area = (boxes[:, 2] - boxes[:, 0]).clamp(min=0) * (boxes[:, 3] - boxes[:, 1]).clamp(min=0)
    lt = torch.maximum(boxes[:, None, :2], boxes[None, :, :2])
    rb = torch.minimum(boxes[:, None, 2:], boxes[None, :, 2:])
    inter = (rb - lt).clamp(min=0).prod(-1)
    return inter / (area[:, None] + area[None, :] - inter).clamp(min=1e-9)


def nms(boxes: torch.Tensor, scores: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Greedy, class-aware non-maximum suppression; indices of the kept boxes, best first."""
    order = scores.argsort(descending=True, stable=True)
    shifted = boxes[order] + (labels[order].float() * (2 * IMAGE))[:, None]   # other classes never overlap
    suppressed = (iou_matrix(shifted) > NMS_IOU).cpu().numpy()
    keep = np.ones(len(order), dtype=bool)
    for i in range(len(order)):
        if keep[i]:
            keep[i + 1:] &= ~suppressed[i, i + 1:]
    return order[torch.from_numpy(np.flatnonzero(keep)).to(order.device)]


# ---- images -------------------------------------------------------------------------------------------------------
def original_size(index: int) -> Tuple[int, int]:
    """(height, width) of image `index` before letterboxing: a function of the index alone, as a dataset's files
    keep their sizes whatever seed draws their content."""
    return ORIGINAL_SIZES[int(np.random.default_rng([index, 2017]).integers(len(ORIGINAL_SIZES)))]


def letterbox(height: int, width: int) -> Tuple[int, int, int, int]:
    """(top, left, content height, content width) of an image of this size in the 640x640 input, as Ultralytics'
    LetterBox: scaled to fit, centred, padded."""
    gain = min(IMAGE / height, IMAGE / width)
    h, w = int(round(height * gain)), int(round(width * gain))
    return int(round((IMAGE - h) / 2 - 0.1)), int(round((IMAGE - w) / 2 - 0.1)), h, w


def synthetic_image(seed: int, index: int, attempt: int = 0) -> np.ndarray:
    """A letterboxed 640x640x3 (HWC) RGB scene in [0, 1]: blocky background, a few flat-coloured rectangles
    ("objects"), noise; the padding 114/255."""
    rng = np.random.default_rng([seed, index, attempt, IMAGE])
    top, left, h, w = letterbox(*original_size(index))
    image = np.full((IMAGE, IMAGE, 3), PAD_VALUE, np.float32)
    coarse = rng.uniform(0.1, 0.9, (h // 32 + 1, w // 32 + 1, 3)).astype(np.float32)
    content = np.repeat(np.repeat(coarse, 32, axis=0), 32, axis=1)[:h, :w]
    for _ in range(int(rng.integers(3, 12))):
        y, x = rng.integers(0, h - 16), rng.integers(0, w - 16)
        bh, bw = rng.integers(16, max(17, h // 2)), rng.integers(16, max(17, w // 2))
        content[y:y + bh, x:x + bw] = rng.uniform(0, 1, 3).astype(np.float32)
    noise = 0.05 * rng.standard_normal((h // 4 + 1, w // 4 + 1, 3), dtype=np.float32)
    content += np.repeat(np.repeat(noise, 4, axis=0), 4, axis=1)[:h, :w]
    image[top:top + h, left:left + w] = np.clip(content, 0.0, 1.0)
    return image


def nchw(images) -> torch.Tensor:
    """[B, H, W, C] numpy (or tensor) -> [B, C, H, W] tensor view (channels-last strides, no copy)."""
    return as_tensor(images).permute(0, 3, 1, 2)


def detections_of(index: int, rows: np.ndarray) -> np.ndarray:
    """The response 7-tuples of one image from its model rows [300, 6] (letterboxed pixels, class 0-79): boxes
    taken back to the original image and normalised by its size, classes as COCO category ids; boxes left with
    no area (wholly in the padding) dropped."""
    rows = rows[rows[:, 4] >= 0]
    top, left, h, w = letterbox(*original_size(index))
    ymin, ymax = ((rows[:, [0, 2]] - top) / h).clip(0.0, 1.0).T
    xmin, xmax = ((rows[:, [1, 3]] - left) / w).clip(0.0, 1.0).T
    height, width = original_size(index)
    keep = ((ymax - ymin) * height >= 1.0) & ((xmax - xmin) * width >= 1.0)
    labels = np.asarray(COCO_80_TO_91, np.float32)[rows[:, 5].astype(np.int64)]
    out = np.stack([np.full(len(rows), index, np.float32), ymin, xmin, ymax, xmax, rows[:, 4], labels], axis=1)
    return out[keep].astype(np.float32)


# ---- the benchmark -------------------------------------------------------------------------------------------------
class Yolo(Benchmark):
    input_names = ("images",)

    def build_model(self, cache_dir: str = "") -> YoloStandIn:
        with one_thread():      # batch-norm statistics and the head's fit: the same whatever pool the run has
            return self._build()

    def _build(self) -> YoloStandIn:
        model = YoloStandIn(SIZES[self.size])
        gen = torch.Generator().manual_seed(WEIGHT_SEED)
        calibration = nchw(np.stack([synthetic_image(CALIBRATION_SEED, i) for i in range(16)])).contiguous()
        with torch.no_grad():
            for m in model.modules():
                if isinstance(m, nn.Conv2d):
                    fan_in = m.in_channels // m.groups * m.kernel_size[0] * m.kernel_size[1]
                    m.weight.normal_(0.0, (2.0 / fan_in) ** 0.5, generator=gen)
                    if m.bias is not None:
                        m.bias.zero_()
                elif isinstance(m, nn.BatchNorm2d):
                    m.momentum = None          # cumulative average over the calibration batch
                    m.reset_running_stats()
            # Batch-norm statistics from calibration images (a stand-in for training), then folded into the convs.
            model.train()
            model.net(calibration)
            model.eval()
            for m in model.modules():
                if isinstance(m, Conv):
                    m.fold()
            self.calibrate_head(model, calibration)
        return model.eval()

    @staticmethod
    def calibrate_head(model: YoloStandIn, calibration: torch.Tensor) -> None:
        """A stand-in for a trained head's confidence: the class logits scaled and shifted so that on calibration
        images about GT_TARGET anchors an image score at least GT_SCORE and about CANDIDATE_TARGET at least CONF (a
        trained YOLO11 on a COCO image), and the box bins spread so that boxes differ in size."""
        for final in model.net.box:
            final[-1].weight.mul_(4.0)
        model.confidence.copy_(torch.tensor([1.0, 0.0]))
        best = model.dense(calibration)[1].max(dim=2).values.flatten()
        anchors = best.numel() / calibration.shape[0]
        hi, lo = (float(best.quantile(1 - k / anchors)) for k in (GT_TARGET, CANDIDATE_TARGET))
        logit = lambda p: float(np.log(p / (1 - p)))      # noqa: E731
        scale = (logit(GT_SCORE) - logit(CONF)) / (hi - lo)
        model.confidence.copy_(torch.tensor([scale, logit(GT_SCORE) - scale * hi]))

    def input_shapes(self, dataset: Arrays):
        return {"images": ((IMAGE, IMAGE, 3), np.dtype(np.float32))}

    def collate(self, rows: Arrays, indices: Sequence[int]) -> Tuple[torch.Tensor, ...]:
        return (nchw(gather(rows["images"], indices)),)

    def load_rows(self, dataset: Arrays, indices: np.ndarray) -> Arrays:
        seed, attempts = int(dataset["seed"][0]), dataset["attempts"]
        return {"images": np.stack([synthetic_image(seed, int(i), int(attempts[i])) for i in indices])}

    calibration_count = 16      # 4.9 MB an image

    def calibration_rows(self, seed: int, indices: np.ndarray) -> Arrays:
        return {"images": np.stack([synthetic_image(seed, int(i)) for i in indices])}

    def generate(self, model: YoloStandIn, count: int, seed: int) -> Arrays:
        dets, attempts = [], np.zeros(count, np.int64)
        with torch.inference_mode():
            for i in range(count):
                for attempt in range(16):
                    images = nchw(synthetic_image(seed, i, attempt)[None])
                    if clear_calls(model, images):
                        break
                else:
                    raise RuntimeError(f"could not generate an image without close calls for sample {i}")
                attempts[i] = attempt
                rows = detections_of(i, model(images)[0].numpy())
                dets.append(rows[rows[:, 5] >= GT_SCORE][:GT_PER_IMAGE])
        return {"seed": np.array([seed], np.int64), "attempts": attempts, "count": np.array([count], np.int64),
                "detections": np.concatenate(dets).astype(np.float32) if dets else np.zeros((0, 7), np.float32)}

    def encode(self, output: torch.Tensor, indices: Sequence[int]) -> Encoded:
        out = output.detach().cpu().numpy()
        return Encoded.pieces([detections_of(int(i), rows) for i, rows in zip(indices, out)], np.float32)

    def write_extras(self, folder: str, arrays: Arrays) -> None:
        os.makedirs(os.path.join(folder, "annotations"), exist_ok=True)
        with open(os.path.join(folder, "annotations", "instances_val2017.json"), "w") as f:
            json.dump(coco_annotations(arrays), f)

    def evaluate(self, responses: Dict[int, np.ndarray], dataset: Arrays) -> AccuracyReport:
        return map_report(coco_annotations(dataset), responses, self.spec.accuracy_target,
                          lambda image: np.array([image["height"], image["width"]] * 2))


def clear_calls(model: YoloStandIn, images: torch.Tensor) -> bool:
    """The margin rule on one image's fp32 outputs: the class of every ground-truth candidate clearly its best, and
    no NMS decision between two ground-truth candidates of a class close (IoU within IOU_MARGIN of NMS_IOU, or
    overlapping with scores within the margin). A score near GT_SCORE needs no margin: every detection down to
    CONF is answered, so one that crosses it stays what the fp32 ground truth made it (matched or not)."""
    box_logits, logits, _ = (x[0] for x in model.dense(images))
    margin = MIN_MARGIN * float(logits.std())
    top2 = logits.topk(2, dim=1).values
    best = top2[:, 0]
    gt = best >= float(np.log(GT_SCORE / (1 - GT_SCORE)))
    if bool((top2[gt, 0] - top2[gt, 1] < margin).any()):
        return False
    candidates = torch.nonzero(gt).flatten()
    if candidates.numel() < 2:
        return True
    labels = logits[candidates].argmax(dim=1)
    boxes = decode(box_logits[candidates], model.grid(images)[candidates])
    iou = iou_matrix(boxes)
    # Only pairs of ground-truth-level boxes: a box under GT_SCORE kept or suppressed is a low-ranked false positive.
    pairs = (labels[:, None] == labels[None, :]) & ~torch.eye(len(candidates), dtype=torch.bool, device=iou.device)
    near = (iou - NMS_IOU).abs() < IOU_MARGIN
    close_scores = (best[candidates][:, None] - best[candidates][None, :]).abs() < margin
    return not bool((pairs & (near | ((iou > NMS_IOU) & close_scores))).any())


def coco_annotations(arrays: Arrays) -> Dict:
    """The fp32 ground truth in the form of COCO's instances_val2017.json (images in qsl_idx order)."""
    count = int(arrays["count"][0])
    images = []
    for i in range(count):
        height, width = original_size(i)
        images.append({"id": i + 1, "file_name": f"{i:012d}.jpg", "height": height, "width": width,
                       "coco_url": f"synthetic://{i:012d}.jpg"})
    annotations = []
    for n, row in enumerate(np.asarray(arrays["detections"])):
        height, width = original_size(int(row[0]))
        ymin, xmin, ymax, xmax = (row[1:5] * np.array([height, width, height, width])).tolist()
        annotations.append({"id": n + 1, "image_id": int(row[0]) + 1, "category_id": int(row[6]),
                            "bbox": [xmin, ymin, xmax - xmin, ymax - ymin],
                            "area": (xmax - xmin) * (ymax - ymin), "iscrowd": 0})
    categories = [{"id": c, "name": f"class_{c}"} for c in COCO_80_TO_91]
    return {"images": images, "annotations": annotations, "categories": categories}
