"""Detection metrics: COCO AP / AR through faster-coco-eval, plus precision / recall / F1 at a score
threshold and corner MAE, all from boxes in the same (original image) pixels.

Corner MAE: for each detection matched to a labelled plate with corners (IoU ≥ 0.5), the mean absolute
corner error divided by the plate box's width (x) and height (y), averaged over plates.

Ignore regions (``PlateLabel.ignore``) count neither way: in COCO AP they are crowd annotations (a detection
covering one is left out), and at the threshold a detection that matches no plate but lies at least half
inside an ignore region is not a false positive.
"""

from __future__ import annotations

import contextlib
import io
from dataclasses import dataclass, field

import numpy as np

from plateforge.ops.boxes import box_area, box_intersection, box_iou


@dataclass
class ImageResult:
    """Ground truth and detections of one image, pixels: boxes xyxy, corners (K, 4, 2) TL, TR, BR, BL."""

    gt_boxes: np.ndarray
    gt_corners: np.ndarray
    gt_has_corners: np.ndarray
    boxes: np.ndarray
    scores: np.ndarray
    corners: np.ndarray
    width: int = 0
    height: int = 0
    ignore_boxes: np.ndarray = field(default_factory=lambda: np.zeros((0, 4), np.float32))


def inside_fraction(boxes: np.ndarray, regions: np.ndarray) -> np.ndarray:
    """(K,) share of each box (K, 4) xyxy lying inside its best region (J, 4) xyxy; zeros when J = 0."""
    if len(regions) == 0 or len(boxes) == 0:
        return np.zeros(len(boxes))
    return (box_intersection(boxes, regions) / np.maximum(box_area(boxes), 1e-9)[:, None]).max(1)


@dataclass
class DetReport:
    """COCO metrics (``map50``, ``map5095``, ``ap_small``, ``ar_small``, ``ar100``) and, at ``conf``,
    precision / recall / F1 at IoU 0.5 and ``corner_mae``; ``n_images``, ``n_plates``."""

    map50: float = 0.0
    map5095: float = 0.0
    ap_small: float = -1.0
    ar_small: float = -1.0
    ar100: float = 0.0
    precision: float = 0.0
    recall: float = 0.0
    f1: float = 0.0
    corner_mae: float = float("nan")
    conf: float = 0.25
    n_images: int = 0
    n_plates: int = 0
    n_small: int = 0
    extra: dict = field(default_factory=dict)

    def as_dict(self) -> dict:
        return {k: v for k, v in self.__dict__.items() if k != "extra"} | self.extra


def coco_metrics(results: list[ImageResult]) -> dict[str, float]:
    """COCO box AP/AR over all images (category 'plate'; area ranges in the images' own pixels)."""
    from faster_coco_eval import COCO, COCOeval_faster

    images, anns, dets = [], [], []
    for i, r in enumerate(results):
        images.append({"id": i, "width": int(r.width), "height": int(r.height)})
        for crowd, boxes in ((0, r.gt_boxes), (1, r.ignore_boxes)):  # ignore regions are COCO crowd regions
            for b in boxes:
                w, h = float(b[2] - b[0]), float(b[3] - b[1])
                anns.append(
                    {
                        "id": len(anns) + 1,
                        "image_id": i,
                        "category_id": 1,
                        "bbox": [float(b[0]), float(b[1]), w, h],
                        "area": w * h,
                        "iscrowd": crowd,
                    }
                )
        for b, s in zip(r.boxes, r.scores, strict=True):
            dets.append(
                {
                    "image_id": i,
                    "category_id": 1,
                    "score": float(s),
                    "bbox": [float(b[0]), float(b[1]), float(b[2] - b[0]), float(b[3] - b[1])],
                }
            )
    if not any(a["iscrowd"] == 0 for a in anns):
        return {"map50": 0.0, "map5095": 0.0, "ap_small": -1.0, "ar_small": -1.0, "ar100": 0.0}
    gt = COCO({"images": images, "annotations": anns, "categories": [{"id": 1, "name": "plate"}]})
    if not dets:
        return {"map50": 0.0, "map5095": 0.0, "ap_small": 0.0, "ar_small": 0.0, "ar100": 0.0}
    with contextlib.redirect_stdout(io.StringIO()):
        dt = gt.loadRes(dets)
        ev = COCOeval_faster(gt, dt, iouType="bbox")
        ev.evaluate()
        ev.accumulate()
        ev.summarize()
    s = ev.stats
    return {
        "map5095": float(s[0]),
        "map50": float(s[1]),
        "ap_small": float(s[3]),
        "ar100": float(s[8]),
        "ar_small": float(s[9]),
    }


def match(gt: np.ndarray, boxes: np.ndarray, iou_threshold: float = 0.5) -> list[tuple[int, int]]:
    """Greedy one-to-one matching of detections (in score order) to ground-truth boxes: (det, gt) pairs."""
    if len(gt) == 0 or len(boxes) == 0:
        return []
    iou = box_iou(boxes, gt)
    pairs, used = [], set()
    for d in range(len(boxes)):
        order = np.argsort(-iou[d])
        for g in order:
            if iou[d, g] < iou_threshold:
                break
            if g not in used:
                used.add(int(g))
                pairs.append((d, int(g)))
                break
    return pairs


def detection_report(results: list[ImageResult], conf: float = 0.25, small_area: float = 32.0**2) -> DetReport:
    """COCO AP/AR over every detection, and P/R/F1 + corner MAE for detections scoring at least ``conf``."""
    rep = DetReport(conf=conf, n_images=len(results))
    for k, v in coco_metrics(results).items():
        setattr(rep, k, v)
    tp = fp = n_gt = 0
    errors = []
    for r in results:
        keep = r.scores >= conf
        boxes, corners = r.boxes[keep], r.corners[keep]
        pairs = match(r.gt_boxes, boxes)
        tp += len(pairs)
        unmatched = np.setdiff1d(np.arange(len(boxes)), [d for d, _ in pairs])
        fp += int((inside_fraction(boxes[unmatched], r.ignore_boxes) < 0.5).sum())
        n_gt += len(r.gt_boxes)
        rep.n_small += int((np.prod(r.gt_boxes[:, 2:] - r.gt_boxes[:, :2], 1) < small_area).sum())
        for d, g in pairs:
            if r.gt_has_corners[g]:
                wh = np.maximum(r.gt_boxes[g, 2:] - r.gt_boxes[g, :2], 1.0)
                errors.append(float((np.abs(corners[d] - r.gt_corners[g]) / wh).mean()))
    rep.n_plates = n_gt
    rep.precision = tp / max(1, tp + fp)
    rep.recall = tp / max(1, n_gt)
    rep.f1 = 2 * rep.precision * rep.recall / max(1e-9, rep.precision + rep.recall)
    rep.corner_mae = float(np.mean(errors)) if errors else float("nan")
    return rep
