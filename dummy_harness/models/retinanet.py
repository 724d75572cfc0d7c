"""retinanet: a ResNeXt/ResNet trunk, an FPN-style neck, class and box heads, box decoding and NMS.

Input: float32 [3, 800, 800] per sample (held channels-last in RAM), synthesised from its index when LoadGen
loads it (7.7 MB a sample is not worth storing).
Response: float32 7-tuples [qsl_idx, ymin, xmin, ymax, xmax, score, label] per detection, boxes normalised to
[0, 1], labels 1..264, at most 100 per image (fewer than 7 floats = no detection), as the reference writes them.
Accuracy: COCO mAP (pycocotools, as accuracy-openimages.py) against the fp32 stand-in's own detections, which
the dataset folder also holds as `annotations/openimages-mlperf.json`.
`full`: a ResNeXt50-32x4d trunk, 256-channel FPN on P3-P7, 4-conv heads, 9 anchors per location.
"""
from __future__ import annotations

import contextlib
import io
import json
import os
from typing import Dict, List, Sequence, Tuple

import numpy as np
import torch
from torch import nn

from ..accuracy import AccuracyReport
from .base import Arrays, Benchmark, Encoded, as_tensor, gather
from .resnet50 import ResNet50Net, build_trunk

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
CALIBRATION_SEED = 2**31 - 1    # batch-norm calibration images: a seed no dataset uses by default


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
        logits, deltas, anchors = self.raw(images)
        out = torch.full((images.shape[0], MAX_DETECTIONS, 6), -1.0, device=images.device)
        best, label = logits.max(dim=2)
        for b in range(images.shape[0]):
            scores = torch.sigmoid(best[b])
            k = min(CANDIDATES, scores.numel())
            top_scores, top = scores.topk(k)
            keep_threshold = top_scores > SCORE_THRESHOLD
            top, top_scores = top[keep_threshold], top_scores[keep_threshold]
            boxes = _decode(deltas[b, top], anchors[top])
            labels = label[b, top]
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


def _nms(boxes: torch.Tensor, scores: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Greedy, class-aware non-maximum suppression; indices of the kept boxes, best first."""
    order = scores.argsort(descending=True, stable=True)
    boxes = boxes[order] + (labels[order].float() * (IMAGE + 1))[:, None]    # boxes of different classes never overlap
    area = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
    lt = torch.maximum(boxes[:, None, :2], boxes[None, :, :2])
    rb = torch.minimum(boxes[:, None, 2:], boxes[None, :, 2:])
    inter = (rb - lt).clamp(min=0).prod(-1)
    iou = inter / (area[:, None] + area[None, :] - inter).clamp(min=1e-9)
    suppressed = (iou > NMS_IOU).cpu().numpy()
    keep = np.ones(len(order), dtype=bool)
    for i in range(len(order)):
        if keep[i]:
            keep[i + 1:] &= ~suppressed[i, i + 1:]
    return order[torch.from_numpy(np.flatnonzero(keep)).to(order.device)]


def synthetic_image(seed: int, index: int) -> np.ndarray:
    """A normalised 800x800x3 (HWC) scene: blocky background, a few bright rectangles ("objects"), noise.
    Kept channels-last in RAM, so the model reads it without a layout copy."""
    rng = np.random.default_rng([seed, index, IMAGE])
    coarse = rng.standard_normal((25, 25, 3), dtype=np.float32)
    image = np.repeat(np.repeat(coarse, 32, axis=0), 32, axis=1)
    for _ in range(int(rng.integers(2, 8))):
        y, x = rng.integers(0, IMAGE - 64, size=2)
        h, w = rng.integers(32, 320, size=2)
        image[y:y + h, x:x + w, :] += 2.0 * rng.standard_normal(3, dtype=np.float32)
    # Texture at 200x200, repeated 4x4: fine enough for the stand-in, 16x cheaper to draw than full resolution.
    noise = 0.25 * rng.standard_normal((IMAGE // 4, IMAGE // 4, 3), dtype=np.float32)
    image += np.repeat(np.repeat(noise, 4, axis=0), 4, axis=1)
    return image


def nchw(images) -> torch.Tensor:
    """[B, H, W, C] numpy (or tensor) -> [B, C, H, W] tensor view (channels-last strides, no copy)."""
    return as_tensor(images).permute(0, 3, 1, 2)


class RetinaNet(Benchmark):
    input_names = ("images",)

    def build_model(self) -> nn.Module:
        cfg = SIZES[self.size]
        width, blocks, groups, inner, patchify = cfg["trunk"]
        calibration = nchw(np.stack([synthetic_image(CALIBRATION_SEED, i) for i in range(4)])).contiguous()
        trunk = build_trunk(ResNet50Net(width, blocks, groups, inner, patchify),
                            nn.functional.interpolate(calibration, size=224), WEIGHT_SEED)
        model = RetinaNetStandIn(trunk, cfg["fpn"], cfg["levels"], cfg["head_depth"], cfg["anchors"])
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
        seed = int(dataset["seed"][0])
        return {"images": np.stack([synthetic_image(seed, int(i)) for i in indices])}

    calibration_count = 8       # 7.7 MB an image

    def calibration_rows(self, seed: int, indices: np.ndarray) -> Arrays:
        return {"images": np.stack([synthetic_image(seed, int(i)) for i in indices])}

    def generate(self, model: nn.Module, count: int, seed: int) -> Arrays:
        arrays: Arrays = {"seed": np.array([seed], np.int64)}
        dets = []
        with torch.inference_mode():
            for start in range(0, count, 4):
                idx = np.arange(start, min(start + 4, count))
                out = model(nchw(self.load_rows(arrays, idx)["images"])).numpy()
                for i, rows in zip(idx, out):
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
        from pycocotools.coco import COCO
        from pycocotools.cocoeval import COCOeval

        gt = coco_annotations(dataset)
        detections, image_ids, mismatched = [], set(), 0
        for idx, data in responses.items():
            image = gt["images"][idx]
            image_ids.add(image["id"])
            for row in data[: len(data) // 7 * 7].reshape(-1, 7):
                mismatched += int(row[0]) != idx
                ymin, xmin, ymax, xmax = row[1:5] * IMAGE
                detections.append({"image_id": image["id"], "category_id": int(row[6]), "score": float(row[5]),
                                   "bbox": [float(xmin), float(ymin), float(xmax - xmin), float(ymax - ymin)]})
        with contextlib.redirect_stdout(io.StringIO()):       # pycocotools narrates every step
            coco_gt = COCO()
            coco_gt.dataset = gt
            coco_gt.createIndex()
            stats = 0.0
            if detections:
                coco_eval = COCOeval(coco_gt, coco_gt.loadRes(detections), iouType="bbox")
                coco_eval.params.imgIds = sorted(image_ids)
                coco_eval.evaluate()
                coco_eval.accumulate()
                coco_eval.summarize()
                stats = float(coco_eval.stats[0])
        mean_ap = 100.0 * max(stats, 0.0)
        return AccuracyReport(metric="mAP", value=mean_ap, reference=100.0,
                              target_fraction=self.spec.accuracy_target,
                              official_lines=[f"mAP={mean_ap:.3f}%"],
                              details={"detections": len(detections), "images": len(image_ids),
                                       "payload_index_mismatches": mismatched})


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
