"""COCO mAP of 7-tuple detection responses (retinanet, yolo), scored by pycocotools as the reference scripts do."""
from __future__ import annotations

import contextlib
import io
from typing import Any, Callable, Dict

import numpy as np

from ..accuracy import AccuracyReport


def map_report(gt: Dict, responses: Dict[int, np.ndarray], target_fraction: float,
               box_scale: Callable[[Dict], Any]) -> AccuracyReport:
    """mAP of `responses` (qsl_idx -> float32 [qsl_idx, ymin, xmin, ymax, xmax, score, category] rows, boxes in
    [0, 1]) against the COCO ground truth `gt` (image i of the dataset is gt["images"][i]); `box_scale(image)` is
    what a normalised box is multiplied by to give the pixels the ground truth is written in."""
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    detections, image_ids, mismatched = [], set(), 0
    for idx, data in responses.items():
        image = gt["images"][idx]
        image_ids.add(image["id"])
        for row in data[: len(data) // 7 * 7].reshape(-1, 7):
            mismatched += int(row[0]) != idx
            ymin, xmin, ymax, xmax = row[1:5] * box_scale(image)
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
    return AccuracyReport(metric="mAP", value=mean_ap, reference=100.0, target_fraction=target_fraction,
                          official_lines=[f"mAP={mean_ap:.3f}%"],
                          details={"detections": len(detections), "images": len(image_ids),
                                   "ground_truth_boxes": len(gt["annotations"]),
                                   "payload_index_mismatches": mismatched})
