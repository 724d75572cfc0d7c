"""retinanet: a ResNeXt/ResNet trunk, an FPN-style neck, class and box heads, box decoding and NMS.

Input: float32 [3, 800, 800] per sample (held channels-last in RAM), synthesised from its index when LoadGen
loads it (7.7 MB a sample is not worth storing).
Response: float32 7-tuples [qsl_idx, ymin, xmin, ymax, xmax, score, label] per detection, boxes normalised to
[0, 1], labels 1..264, at most 100 per image (fewer than 7 floats = no detection), as the reference writes them.
Accuracy: COCO mAP (pycocotools, as accuracy-openimages.py) against the fp32 stand-in's own detections, which
the dataset folder also holds as `annotations/openimages-mlperf.json`.
Data: a smooth, dim background with about 20 objects: 64-pixel squares of one of KINDS saturated colours (each
kind a class of its own), centred on the stride-32 anchor grid. The `small` stand-in is fitted to them: trunk,
neck and class head are trained (models/fitting.py) to fire on the anchor of each object and nowhere else, and
the box head is the least-squares fit of the planted boxes, which all sit at one offset and size from their
anchor: a constant. So it finds nearly every object, once, by a wide margin, as a trained detector does.
`full`: a ResNeXt50-32x4d trunk, 256-channel FPN on P3-P7, 4-conv heads, 9 anchors per location; not fitted
(too slow to train on a CPU), so its weights stay random.
"""
from __future__ import annotations

import json
import os
from typing import Dict, List, Sequence, Tuple

import numpy as np
import torch
from torch import nn

from ..accuracy import AccuracyReport
from .base import MIN_MARGIN, Arrays, Benchmark, Encoded, as_tensor, gather
from .coco import map_report
from .fitting import TRAINING_INDEX, cached_fit, default_init, fit_key
from .resnet50 import ResNet50Net, _upsample_matrix, build_trunk, fold_batchnorm, measure_batchnorm

IMAGE = 800
NUM_CLASSES = 264
MAX_DETECTIONS = 100
CANDIDATES = 200
NMS_IOU = 0.5
SCORE_THRESHOLD = 0.05
# size -> trunk (width, blocks, groups, inner_factor, patchify stem stride or 0), FPN channels,
#         FPN levels (strides), head depth, anchors per location
SIZES = {
    "small": dict(trunk=(4, (1, 1, 1, 1), 1, 1, 8), fpn=16, levels=(16, 32), head_depth=0, anchors=1),
    "full": dict(trunk=(64, (3, 4, 6, 3), 32, 2, 0), fpn=256, levels=(8, 16, 32, 64, 128), head_depth=4,
                 anchors=9),
}
WEIGHT_SEED = 800
CALIBRATION_SEED = 2**31 - 1    # batch-norm images of the unfitted size: a seed no dataset uses by default
SCORE_LOGIT = float(np.log(SCORE_THRESHOLD / (1 - SCORE_THRESHOLD)))
# The planted objects: OBJECT-pixel squares centred OFFSET pixels into a cell of the OBJECT_STRIDE grid, where a
# stride-32 feature of the small trunk is centred (its view spans 72 pixels), in one of KINDS colours.
KINDS = 12
OBJECT, OBJECT_STRIDE, OFFSET, GAP = 64, 32, 4, 32
OBJECTS_PER_IMAGE = 20          # mean (Poisson) on an 800x800 image; a smaller canvas gets its share
_K = np.arange(KINDS) + 0.5     # colours spread evenly over a sphere (a Fibonacci lattice), radius 1.4
COLOURS = (1.4 * np.stack([np.cos(np.pi * (1 + 5 ** 0.5) * _K) * np.sin(np.arccos(1 - 2 * _K / KINDS)),
                           np.sin(np.pi * (1 + 5 ** 0.5) * _K) * np.sin(np.arccos(1 - 2 * _K / KINDS)),
                           1 - 2 * _K / KINDS], axis=1)).astype(np.float32)
CLASS_OF_KIND = np.arange(KINDS) * (NUM_CLASSES // KINDS)     # class index (label - 1) of each kind
# Training steps of each size's fit; a size without an entry keeps seeded random weights.
FIT_STEPS = {"small": 1500}
FIT = dict(canvases=2048, canvas=192, batch=16, lr=6e-3, weight_decay=1e-4, warmup=0.15, negative_weight=2.0,
           prior=0.01, bn_canvases=256)


class Head(nn.Module):
    def __init__(self, channels: int, depth: int, outputs: int):
        super().__init__()
        convs: List[nn.Module] = []
        for _ in range(depth):
            convs += [nn.Conv2d(channels, channels, 3, padding=1), nn.ReLU(inplace=True)]
        self.tower = nn.Sequential(*convs)
        # 1x1 when there is no tower (the small size): a 3x3 over 264 classes would dominate the cost.
        self.out = nn.Conv2d(channels, outputs, 3 if depth else 1, padding=1 if depth else 0)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.out(self.tower(x))


class RetinaNetConvs(nn.Module):
    """Trunk, FPN-style neck and heads: the convolutional part (traceable, so int8 quantization can take it)."""

    def __init__(self, trunk: ResNet50Net, fpn: int, levels: Tuple[int, ...], head_depth: int, anchors: int):
        super().__init__()
        self.trunk = trunk
        stage_strides = tuple(trunk.stem_stride * 2 ** i for i in range(4))
        self.inputs = [stage_strides.index(s) for s in levels if s in stage_strides]
        self.lateral = nn.ModuleList(nn.Conv2d(trunk.stage_channels[i], fpn, 1) for i in self.inputs)
        self.extra = nn.ModuleList(nn.Conv2d(fpn, fpn, 3, 2, 1) for s in levels if s not in stage_strides)
        self.cls = Head(fpn, head_depth, anchors * NUM_CLASSES)
        self.box = Head(fpn, head_depth, anchors * 4)

    def forward(self, images: torch.Tensor) -> Tuple[List[torch.Tensor], List[torch.Tensor]]:
        stages = self.trunk.stages(images)
        feats = [lat(stages[i]) for lat, i in zip(self.lateral, self.inputs)]
        for i in range(len(feats) - 2, -1, -1):        # top-down pathway
            feats[i] = feats[i] + nn.functional.interpolate(feats[i + 1], size=feats[i].shape[-2:], mode="nearest")
        for conv in self.extra:
            feats.append(conv(torch.relu(feats[-1])))
        return [self.cls(f) for f in feats], [self.box(f) for f in feats]


class RetinaNetStandIn(nn.Module):
    def __init__(self, trunk: ResNet50Net, fpn: int, levels: Tuple[int, ...], head_depth: int, anchors: int):
        super().__init__()
        self.levels = levels
        self.anchors = anchors
        self.net = RetinaNetConvs(trunk, fpn, levels, head_depth, anchors)

    def raw(self, images: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Per anchor over all levels: class logits [B, N, 264], box deltas [B, N, 4], anchors [N, 4]."""
        cls_maps, box_maps = self.net(images)
        logits, deltas, anchors = [], [], []
        for cls_map, box_map, stride in zip(cls_maps, box_maps, self.levels):
            b, _, h, w = cls_map.shape
            logits.append(cls_map.permute(0, 2, 3, 1).reshape(b, -1, NUM_CLASSES))
            deltas.append(box_map.permute(0, 2, 3, 1).reshape(b, -1, 4))
            anchors.append(_anchors(h, w, stride, self.anchors, cls_map.device))
        return torch.cat(logits, 1).float(), torch.cat(deltas, 1).float(), torch.cat(anchors, 0)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """[B, 100, 6] detections (ymin, xmin, ymax, xmax in [0,1], score, label 1..264); unused rows score -1."""
        return self.postprocess(*self.raw(images))

    @staticmethod
    def candidates(logits: torch.Tensor, deltas: torch.Tensor, anchors: torch.Tensor):
        """One image's candidates, best first: (anchor indices, scores, boxes in pixels, labels 0..263)."""
        best, label = logits.max(dim=1)
        scores = torch.sigmoid(best)
        top_scores, top = scores.topk(min(CANDIDATES, scores.numel()))
        keep_threshold = top_scores > SCORE_THRESHOLD
        top, top_scores = top[keep_threshold], top_scores[keep_threshold]
        return top, top_scores, _decode(deltas[top], anchors[top]), label[top]

    def postprocess(self, logits: torch.Tensor, deltas: torch.Tensor, anchors: torch.Tensor) -> torch.Tensor:
        out = torch.full((logits.shape[0], MAX_DETECTIONS, 6), -1.0, device=logits.device)
        for b in range(logits.shape[0]):
            _, top_scores, boxes, labels = self.candidates(logits[b], deltas[b], anchors)
            kept = _nms(boxes, top_scores, labels)[:MAX_DETECTIONS]
            n = kept.numel()
            out[b, :n, :4] = (boxes[kept] / IMAGE).clamp(0.0, 1.0)
            out[b, :n, 4] = top_scores[kept]
            out[b, :n, 5] = (labels[kept] + 1).float()
        return out


def _anchors(h: int, w: int, stride: int, per_location: int, device) -> torch.Tensor:
    """(ymin, xmin, ymax, xmax) anchors, 3 scales x 3 ratios when 9 per location."""
    ys, xs = torch.meshgrid(torch.arange(h, device=device), torch.arange(w, device=device), indexing="ij")
    cy, cx = ((ys.reshape(-1, 1) + 0.5) * stride).float(), ((xs.reshape(-1, 1) + 0.5) * stride).float()
    shapes = [(s, r) for s in (1.0, 2 ** (1 / 3), 2 ** (2 / 3)) for r in (0.5, 1.0, 2.0)][:per_location] \
        if per_location > 1 else [(1.0, 1.0)]
    hs = torch.tensor([4 * stride * s * r ** 0.5 for s, r in shapes], device=device)
    ws = torch.tensor([4 * stride * s / r ** 0.5 for s, r in shapes], device=device)
    return torch.stack([cy - hs / 2, cx - ws / 2, cy + hs / 2, cx + ws / 2], dim=-1).reshape(-1, 4)


def _decode(deltas: torch.Tensor, anchors: torch.Tensor) -> torch.Tensor:
    h, w = anchors[:, 2] - anchors[:, 0], anchors[:, 3] - anchors[:, 1]
    cy, cx = anchors[:, 0] + h / 2, anchors[:, 1] + w / 2
    dy, dx, dh, dw = deltas.unbind(-1)
    cy, cx = cy + dy * h, cx + dx * w
    h, w = h * torch.exp(dh.clamp(max=4.0)), w * torch.exp(dw.clamp(max=4.0))
    return torch.stack([cy - h / 2, cx - w / 2, cy + h / 2, cx + w / 2], dim=-1).clamp(0.0, float(IMAGE))


def _iou(boxes: torch.Tensor) -> torch.Tensor:
    area = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
    lt = torch.maximum(boxes[:, None, :2], boxes[None, :, :2])
    rb = torch.minimum(boxes[:, None, 2:], boxes[None, :, 2:])
    inter = (rb - lt).clamp(min=0).prod(-1)
    return inter / (area[:, None] + area[None, :] - inter).clamp(min=1e-9)


def _nms(boxes: torch.Tensor, scores: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Greedy, class-aware non-maximum suppression; indices of the kept boxes, best first."""
    order = scores.argsort(descending=True, stable=True)
    boxes = boxes[order] + (labels[order].float() * (IMAGE + 1))[:, None]    # boxes of different classes never overlap
    suppressed = (_iou(boxes) > NMS_IOU).cpu().numpy()
    keep = np.ones(len(order), dtype=bool)
    for i in range(len(order)):
        if keep[i]:
            keep[i + 1:] &= ~suppressed[i, i + 1:]
    return order[torch.from_numpy(np.flatnonzero(keep)).to(order.device)]


def decided_clearly(logits: torch.Tensor, deltas: torch.Tensor, anchors: torch.Tensor) -> bool:
    """The margin rule for one image's raw outputs: each decision the post-processing takes wins by at least
    MIN_MARGIN of the spread of the scores it is taken from. The spread of an anchor's class scores for its label;
    the spread of the anchors' best scores (over the image) for keeping an anchor (its score against the
    threshold), for the cut to the CANDIDATES best, and for NMS between overlapping candidates of one label."""
    best = logits.max(dim=1).values
    spread = float(best.std()) or 1.0
    if float((best - SCORE_LOGIT).abs().min()) < MIN_MARGIN * spread:
        return False
    ordered = best.sort(descending=True).values
    if ordered.numel() > CANDIDATES and float(ordered[CANDIDATES]) > SCORE_LOGIT and \
            float(ordered[CANDIDATES - 1] - ordered[CANDIDATES]) < MIN_MARGIN * spread:     # the cut decides
        return False
    top, _, boxes, labels = RetinaNetStandIn.candidates(logits, deltas, anchors)
    if top.numel() == 0:
        return True
    top2 = logits[top].topk(2, dim=1).values
    if bool(((top2[:, 0] - top2[:, 1]) < MIN_MARGIN * logits[top].std(dim=1)).any()):
        return False
    overlapping = (_iou(boxes) > NMS_IOU) & (labels[:, None] == labels[None, :])
    gaps = (best[top][:, None] - best[top][None, :]).abs()
    overlapping.fill_diagonal_(False)
    return not bool((overlapping & (gaps < MIN_MARGIN * spread)).any())


def scene(seed: int, index: int, attempt: int = 0, size: int = IMAGE) -> Tuple[np.ndarray, List[Tuple[int, int, int]]]:
    """A normalised size x size x 3 (HWC) scene and its objects as (kind, row, column) of their grid cell:
    a smooth dim background, OBJECT-pixel squares of saturated colours at least GAP apart, noise.
    Kept channels-last in RAM, so the model reads it without a layout copy."""
    rng = np.random.default_rng([seed, index, attempt, size])
    coarse = size // 32
    up = _upsample_matrix(coarse, size)
    image = np.ascontiguousarray((up @ (0.3 * rng.standard_normal((3, coarse, coarse), dtype=np.float32)) @ up.T)
                                 .transpose(1, 2, 0))
    cells = size // OBJECT_STRIDE
    objects: List[Tuple[int, int, int]] = []
    boxes: List[Tuple[int, int]] = []
    for _ in range(int(rng.poisson(OBJECTS_PER_IMAGE * (size / IMAGE) ** 2))):
        for _try in range(10):
            row, col = (int(v) for v in rng.integers(0, cells, 2))
            y, x = row * OBJECT_STRIDE + OFFSET - OBJECT // 2, col * OBJECT_STRIDE + OFFSET - OBJECT // 2
            if min(y, x) < 0 or max(y, x) + OBJECT > size:
                continue
            if any(abs(y - by) < OBJECT + GAP and abs(x - bx) < OBJECT + GAP for by, bx in boxes):
                continue
            kind = int(rng.integers(KINDS))
            image[y:y + OBJECT, x:x + OBJECT] = COLOURS[kind] + 0.1 * rng.standard_normal(3, dtype=np.float32)
            objects.append((kind, row, col))
            boxes.append((y, x))
            break
    # Texture at a quarter of the resolution, each value on a 4x4 block: 16x cheaper to draw.
    noise = 0.25 * rng.standard_normal((size // 4, size // 4, 3), dtype=np.float32)
    image += np.repeat(np.repeat(noise, 4, axis=0), 4, axis=1)
    return image, objects


def synthetic_image(seed: int, index: int, attempt: int = 0) -> np.ndarray:
    return scene(seed, index, attempt)[0]


def fit_detector(model: RetinaNetStandIn, steps: int, seed: int) -> RetinaNetStandIn:
    """Train the trunk (batch norm unfolded), neck and class head so that each object's anchor (on the stride-32
    level) scores its kind's class and every other anchor and class scores nothing (binary cross-entropy, the
    negatives weighted FIT["negative_weight"] per positive anchor); set the box head to the constant that the
    planted boxes regress to; batch norm measured on training canvases and folded.

    Training split: canvases of FIT["canvas"] pixels, TRAINING_INDEX + i of the generator with `seed`."""
    n, size, batch = FIT["canvases"], FIT["canvas"], FIT["batch"]
    levels = [(size // stride) ** 2 for stride in model.levels]
    level = model.levels.index(OBJECT_STRIDE)
    first, cells = sum(levels[:level]), size // OBJECT_STRIDE
    canvases = np.empty((n, size, size, 3), np.float16)       # half the memory; the rounding does not matter here
    positives = np.full((n, sum(levels)), -1, np.int64)       # class index of each anchor, -1: none
    for i in range(n):
        canvases[i], objects = scene(seed, TRAINING_INDEX + i, 0, size)
        for kind, row, col in objects:
            positives[i, first + row * cells + col] = CLASS_OF_KIND[kind]
    canvases_t, positives_t = torch.from_numpy(canvases), torch.from_numpy(positives)

    net = model.net
    default_init(net, seed)
    gen = torch.Generator().manual_seed(seed + 1)
    with torch.no_grad():
        net.cls.out.bias.fill_(float(np.log(FIT["prior"] / (1 - FIT["prior"]))))    # every class rare at first
        side = 4 * OBJECT_STRIDE        # of the level's anchors
        net.box.out.weight.zero_()
        net.box.out.bias.copy_(torch.tensor([(OFFSET - OBJECT_STRIDE / 2) / side] * 2 + [np.log(OBJECT / side)] * 2))
    params = [p for name, p in net.named_parameters() if not name.startswith("box.")]
    optimizer = torch.optim.AdamW(params, lr=FIT["lr"], weight_decay=FIT["weight_decay"])
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=FIT["lr"], total_steps=steps,
                                                   pct_start=FIT["warmup"])
    net.train()
    for _ in range(steps):
        idx = torch.randint(0, n, (batch,), generator=gen)
        logits = model.raw(nchw(canvases_t[idx].float()))[0]
        labels = positives_t[idx]
        positive = labels >= 0
        target = torch.zeros_like(logits)
        target[positive, labels[positive]] = 1.0
        loss = nn.functional.binary_cross_entropy_with_logits(logits, target, reduction="none").sum(dim=2)
        count = positive.sum().clamp(min=1)
        loss = (loss[positive].sum() + FIT["negative_weight"] * loss[~positive].sum()) / count
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        schedule.step()

    bn = FIT["bn_canvases"]
    measure_batchnorm(_Stages(net.trunk), [(nchw(canvases_t[i:i + batch].float()),) for i in range(0, bn, batch)])
    fold_batchnorm(net.trunk)
    return model.eval()


class _Stages(nn.Module):
    def __init__(self, trunk: ResNet50Net):
        super().__init__()
        self.trunk = trunk

    def forward(self, x: torch.Tensor) -> List[torch.Tensor]:
        return self.trunk.stages(x)


def nchw(images) -> torch.Tensor:
    """[B, H, W, C] numpy (or tensor) -> [B, C, H, W] tensor view (channels-last strides, no copy)."""
    return as_tensor(images).permute(0, 3, 1, 2)


class RetinaNet(Benchmark):
    input_names = ("images",)

    def build_model(self, cache_dir: str = "") -> nn.Module:
        cfg = SIZES[self.size]
        width, blocks, groups, inner, patchify = cfg["trunk"]

        def stand_in(trunk: ResNet50Net) -> RetinaNetStandIn:
            return RetinaNetStandIn(trunk, cfg["fpn"], cfg["levels"], cfg["head_depth"], cfg["anchors"])

        steps = FIT_STEPS.get(self.size)
        if steps is None:
            return self._random(stand_in, cfg)

        def skeleton() -> nn.Module:
            return stand_in(fold_batchnorm(ResNet50Net(width, blocks, groups, inner, patchify)))

        def fit() -> nn.Module:
            return fit_detector(stand_in(ResNet50Net(width, blocks, groups, inner, patchify)), steps, WEIGHT_SEED)

        key = fit_key("retinanet", self.size, {"steps": steps, "seed": WEIGHT_SEED, **FIT})
        return cached_fit(key, skeleton, fit, cache_dir, what=f"retinanet {self.size}")

    @staticmethod
    def _random(stand_in, cfg) -> nn.Module:
        """Unfitted: a seeded random trunk (batch norm from a few images), neck and heads."""
        width, blocks, groups, inner, patchify = cfg["trunk"]
        calibration = nchw(np.stack([synthetic_image(CALIBRATION_SEED, i) for i in range(4)])).contiguous()
        trunk = build_trunk(ResNet50Net(width, blocks, groups, inner, patchify),
                            nn.functional.interpolate(calibration, size=224), WEIGHT_SEED)
        model = stand_in(trunk)
        gen = torch.Generator().manual_seed(WEIGHT_SEED + 1)
        with torch.no_grad():
            for name, m in model.named_modules():
                if isinstance(m, nn.Conv2d) and not name.startswith("net.trunk"):
                    fan_in = m.in_channels * m.kernel_size[0] * m.kernel_size[1]
                    m.weight.normal_(0.0, (1.0 / fan_in) ** 0.5, generator=gen)
                    m.bias.zero_()
            model.net.box.out.weight.mul_(0.1)      # small box deltas: boxes stay near their anchors
        return model.eval()

    def input_shapes(self, dataset: Arrays):
        return {"images": ((IMAGE, IMAGE, 3), np.dtype(np.float32))}

    def collate(self, rows: Arrays, indices: Sequence[int]) -> Tuple[torch.Tensor, ...]:
        return (nchw(gather(rows["images"], indices)),)

    def load_rows(self, dataset: Arrays, indices: np.ndarray) -> Arrays:
        seed, attempts = int(dataset["seed"][0]), dataset["attempts"]
        return {"images": np.stack([synthetic_image(seed, int(i), int(attempts[i])) for i in indices])}

    calibration_count = 8       # 7.7 MB an image

    def calibration_rows(self, seed: int, indices: np.ndarray) -> Arrays:
        return {"images": np.stack([synthetic_image(seed, int(i)) for i in indices])}

    def generate(self, model: nn.Module, count: int, seed: int) -> Arrays:
        """The fp32 detections of each image; an image where a decision is not clear (decided_clearly) is
        replaced by its next attempt. Not for a size without a fit: a random detector decides some of its
        thousands of anchors by a hair on every image, so no image would pass."""
        screened = self.size in FIT_STEPS
        attempts = np.zeros(count, np.int64)
        arrays: Arrays = {"seed": np.array([seed], np.int64), "attempts": attempts}
        out = np.zeros((count, MAX_DETECTIONS, 6), np.float32)
        pending = np.arange(count)
        with torch.inference_mode():
            for _ in range(16):
                retry = []
                for start in range(0, pending.size, 4):
                    idx = pending[start:start + 4]
                    raw = model.raw(nchw(self.load_rows(arrays, idx)["images"]))
                    out[idx] = model.postprocess(*raw).numpy()
                    logits, deltas, anchors = raw
                    retry.extend(i for b, i in enumerate(idx)
                                 if screened and not decided_clearly(logits[b], deltas[b], anchors))
                pending = np.asarray(retry, np.int64)
                if pending.size == 0:
                    break
                attempts[pending] += 1
        if pending.size:
            raise RuntimeError(f"could not generate unambiguous images for samples {pending[:5].tolist()}")
        dets = []
        for i, rows in enumerate(out):
            rows = rows[rows[:, 4] >= 0]
            dets.append(np.concatenate([np.full((len(rows), 1), i, np.float32), rows], axis=1))
        table = np.concatenate(dets) if dets else np.zeros((0, 7), np.float32)
        arrays["detections"] = table.astype(np.float32)      # [qsl_idx, ymin, xmin, ymax, xmax, score, label]
        arrays["count"] = np.array([count], np.int64)
        return arrays

    def encode(self, output: torch.Tensor, indices: Sequence[int]) -> Encoded:
        out = output.detach().numpy()
        pieces = []
        for i, rows in zip(indices, out):
            rows = rows[rows[:, 4] >= 0]
            pieces.append(np.concatenate([np.full((len(rows), 1), i, np.float32), rows], axis=1))
        return Encoded.pieces(pieces, np.float32)

    def write_extras(self, folder: str, arrays: Arrays) -> None:
        os.makedirs(os.path.join(folder, "annotations"), exist_ok=True)
        with open(os.path.join(folder, "annotations", "openimages-mlperf.json"), "w") as f:
            json.dump(coco_annotations(arrays), f)

    def evaluate(self, responses: Dict[int, np.ndarray], dataset: Arrays) -> AccuracyReport:
        return map_report(coco_annotations(dataset), responses, self.spec.accuracy_target,
                          lambda image: IMAGE)


def coco_annotations(arrays: Arrays) -> Dict:
    """The fp32 detections as COCO ground truth, in the form of openimages-mlperf.json."""
    count = int(arrays["count"][0])
    images = [{"id": i + 1, "file_name": f"synthetic_{i:08d}.jpg", "height": IMAGE, "width": IMAGE}
              for i in range(count)]
    annotations = []
    for n, row in enumerate(np.asarray(arrays["detections"])):
        ymin, xmin, ymax, xmax = (row[1:5] * IMAGE).tolist()
        annotations.append({"id": n + 1, "image_id": int(row[0]) + 1, "category_id": int(row[6]),
                            "bbox": [xmin, ymin, xmax - xmin, ymax - ymin],
                            "area": (xmax - xmin) * (ymax - ymin), "iscrowd": 0})
    categories = [{"id": c, "name": f"class_{c}"} for c in range(1, NUM_CLASSES + 1)]
    return {"images": images, "annotations": annotations, "categories": categories}
