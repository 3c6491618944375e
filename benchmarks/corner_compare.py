"""Corners from the detector head vs the crop-level corner regressor, on the same detections.

Synthetic 1280x720 scenes (seed 777, all regions): every labelled plate matched by a detection (IoU >= 0.5)
is scored twice: the detector's own corners, and the regressor's corners from a crop around the detector's
box. Errors are mean absolute corner errors divided by the plate box's width (x) and height (y), and also
in the regressor's crop fractions (box grown by the margin: the keypoint seed's unit), overall and by plate
height (with the regressor's error in image pixels, which shows how close small plates are to one pixel).
One thread.

    python benchmarks/corner_compare.py --scenes 300 [--detector D.onnx] [--corners C.onnx] [--passes 2]

``--passes``: predictions per plate (each after the first crops around the corners the one before found).
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np

from plateforge.eval.det_eval import synthetic_scenes
from plateforge.eval.det_metrics import match
from plateforge.runtime.corners import CornerRegressor
from plateforge.runtime.detector import PlateDetector


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--scenes", type=int, default=300)
    ap.add_argument("--detector", default=None)
    ap.add_argument("--corners", default=None)
    ap.add_argument("--passes", type=int, default=1)
    ap.add_argument("--json", default=None)
    args = ap.parse_args()
    det = PlateDetector(args.detector, threads=1)
    reg = CornerRegressor(args.corners, threads=1, passes=args.passes)
    head, refined, pixels, heights, seconds, plates = [], [], [], [], 0.0, 0
    for img, t in synthetic_scenes(args.scenes):
        found = det.detect(img)
        boxes = np.array([d.box for d in found], np.float32).reshape(-1, 4)
        start = time.perf_counter()
        better = reg.refine(img, boxes)
        seconds += time.perf_counter() - start
        plates += len(boxes)
        for d, g in match(t.boxes, boxes):
            if not t.has_corners[g]:
                continue
            wh = np.maximum(t.boxes[g, 2:] - t.boxes[g, :2], 1.0)
            head.append(float((np.abs(np.array(found[d].corners) - t.corners[g]) / wh).mean()))
            refined.append(float((np.abs(better[d] - t.corners[g]) / wh).mean()))
            pixels.append(float(np.abs(better[d] - t.corners[g]).mean()))
            heights.append(float(wh[1]))
    crop = 1 + 2 * reg.margin
    rep = {
        "passes": args.passes,
        "plates_scored": len(head),
        "detector_head_mae_box": float(np.mean(head)),
        "regressor_mae_box": float(np.mean(refined)),
        "detector_head_mae_crop": float(np.mean(head)) / crop,
        "regressor_mae_crop": float(np.mean(refined)) / crop,
        "regressor_median_mae_crop": float(np.median(refined)) / crop,
        "regressor_ms_per_plate": 1000 * seconds / max(1, plates),
        "regressor_better_share": float(np.mean(np.array(refined) < np.array(head))),
        "by_plate_height": by_height(np.array(refined) / crop, np.array(pixels), np.array(heights)),
    }
    print(json.dumps(rep, indent=2))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(rep, f, indent=2)


def by_height(crop_err: np.ndarray, px_err: np.ndarray, heights: np.ndarray) -> dict:
    """Regressor error per plate-height bin (labelled box height in px): plates, mean and median crop-fraction
    error, mean error in image pixels."""
    out = {}
    for lo, hi in ((0, 24), (24, 40), (40, 64), (64, 10_000)):
        m = (heights >= lo) & (heights < hi)
        if m.any():
            name = f"{lo}-{hi}px" if hi < 10_000 else f">={lo}px"
            out[name] = {
                "plates": int(m.sum()),
                "mae_crop": float(crop_err[m].mean()),
                "median_mae_crop": float(np.median(crop_err[m])),
                "mae_px": float(px_err[m].mean()),
            }
    return out


if __name__ == "__main__":
    main()
