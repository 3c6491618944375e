"""Detector latency on a 1280x720 frame with one plate, one ONNX Runtime thread: letterbox + inference +
decoding (what ``PlateDetector.detect`` does), median and p95 over ``--runs``, for each model given. The
models take turns run by run, so a machine whose speed drifts (shared CPUs) slows them alike.

    python benchmarks/detector_bench.py MODEL.onnx [MODEL2.onnx ...] [--runs 200]
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from plateforge.eval.det_eval import synthetic_scenes
from plateforge.ops.boxes import letterbox
from plateforge.ops.detect import postprocess
from plateforge.runtime.detector import PlateDetector


def frame_with_one_plate() -> np.ndarray:
    for img, t in synthetic_scenes(50, seed=4242):
        if len(t.boxes) == 1:
            return img
    raise RuntimeError("no one-plate scene among 50")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("models", nargs="+")
    ap.add_argument("--runs", type=int, default=200)
    ap.add_argument("--fast-resize", action="store_true", help="bilinear letterbox instead of area averaging")
    args = ap.parse_args()
    frame = frame_with_one_plate()
    print(f"frame {frame.shape[1]}x{frame.shape[0]}, 1 thread, {args.runs} runs")
    print(f"{'model':40s} {'size':>5s} {'total p50':>10s} {'p95':>8s} {'letterbox':>10s} {'infer':>8s} {'decode':>8s}")
    dets = [PlateDetector(path, threads=1) for path in args.models]
    parts = [[] for _ in dets]
    for i in range(args.runs + 10):
        for det, out in zip(dets, parts, strict=True):
            t0 = time.perf_counter()
            square, lb = letterbox(frame, det.size, det.spec.letterbox_fill, args.fast_resize)
            t1 = time.perf_counter()
            raw = det.infer(square[None])[0]
            t2 = time.perf_counter()
            postprocess(raw, lb, det.conf, det.iou, det.max_det)
            t3 = time.perf_counter()
            if i >= 10:
                out.append((t3 - t0, t1 - t0, t2 - t1, t3 - t2))
    for path, det, out in zip(args.models, dets, parts, strict=True):
        p = np.array(out) * 1000
        print(
            f"{path:40s} {det.size:5d} {np.median(p[:, 0]):9.2f}ms {np.percentile(p[:, 0], 95):7.2f}ms "
            f"{np.median(p[:, 1]):9.2f}ms {np.median(p[:, 2]):7.2f}ms {np.median(p[:, 3]):7.2f}ms"
        )


if __name__ == "__main__":
    main()
