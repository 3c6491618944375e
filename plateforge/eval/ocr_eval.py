"""Evaluate a recognizer ONNX on a manifest of plates with texts: the numbers the deployed model gets."""

from __future__ import annotations

import time
from pathlib import Path

import cv2
import numpy as np

from plateforge.data.manifest import read_manifest
from plateforge.eval.ocr_metrics import exact, ocr_report
from plateforge.ops.geometry import box_corners, rectify
from plateforge.runtime.recognizer import PlateRecognizer


def evaluate_recognizer(
    data: str | Path, model: str | Path | None = None, subset: str | None = None, threads: int | None = None
) -> dict:
    """Read every plate with a text in ``data`` (rectified by its corners, or its box) and score the reads."""
    rec = PlateRecognizer(model, threads=threads)
    crops, truths, regions, layouts = [], [], [], []
    for r in read_manifest(data):
        if subset is not None and r.meta.get("subset") != subset:
            continue
        img = cv2.imread(r.image, cv2.IMREAD_COLOR)
        if img is None:
            raise ValueError(f"{r.image}: cannot read image listed in {data}")
        for p in r.plates or ():
            if p.text:
                corners = np.array(p.corners, np.float32) if p.corners else box_corners(p.box)
                crops.append(rectify(img, corners, rec.spec.width, rec.spec.height))
                truths.append(p.text)
                regions.append(p.region)
                layouts.append(p.layout)
    if not crops:
        raise ValueError(f"{data}: no plates with text to evaluate (subset={subset!r})")
    t = time.perf_counter()
    reads = rec.read_crops(crops)
    elapsed = time.perf_counter() - t
    report = ocr_report(
        [x.text for x in reads], truths, [x.confidence for x in reads], regions, layouts, [x.region for x in reads]
    )
    report["model"] = rec.path
    report["data"] = str(data)
    report["ms_per_plate"] = 1000 * elapsed / len(crops)
    report["errors"] = [
        {"truth": t, "read": x.text, "confidence": round(x.confidence, 3)}
        for t, x in zip(truths, reads, strict=True)
        if not exact(x.text, t)
    ][:50]
    return report
