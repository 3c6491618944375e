"""Whole-image plate reading side by side: plateforge's ALPR vs rapidocr (PP-OCR det + rec on the whole image),
on the same synthetic 1280x720 scenes, one thread each.

A labelled plate counts as read when a result lies on it (plateforge: IoU >= 0.5 with the plate box;
rapidocr: a text line whose centre falls in the plate box, letters and digits kept, joined in reading order)
and its text equals the plate's (characters an occluder hides in the scene may be read as anything or
nothing). rapidocr is optional: pip install --no-deps rapidocr-onnxruntime==1.4.4 && pip install pyclipper
shapely six

    python benchmarks/read_vs_rapidocr.py --scenes 60
"""

from __future__ import annotations

import argparse
import json
import re
import time

import numpy as np

from plateforge.eval.read_eval import masked_match, masked_text, scenes_with_texts, texts_on
from plateforge.runtime.alpr import ALPR


def rapid_texts(result, box) -> str:
    """Letters and digits of the rapidocr lines whose centre lies in ``box``, top to bottom, left to right."""
    lines = []
    for quad, text, _score in result or []:
        c = np.asarray(quad, np.float32).mean(0)
        if box[0] <= c[0] <= box[2] and box[1] <= c[1] <= box[3]:
            lines.append((round(float(c[1]) / 8), float(c[0]), re.sub(r"[^0-9A-Z]", "", text.upper())))
    return "".join(t for _, _, t in sorted(lines))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--scenes", type=int, default=60)
    ap.add_argument("--json", default=None)
    args = ap.parse_args()
    from rapidocr_onnxruntime import RapidOCR

    rapid = RapidOCR(intra_op_num_threads=1, inter_op_num_threads=1)
    alpr = ALPR(threads=1)
    ours = {"right": 0, "ms": []}
    theirs = {"right": 0, "ms": []}
    total = 0
    for img, labels, hidden in scenes_with_texts(args.scenes, seed=2024):
        t = time.perf_counter()
        plates = alpr.read(img)
        ours["ms"].append(1000 * (time.perf_counter() - t))
        t = time.perf_counter()
        result, _ = rapid(img)
        theirs["ms"].append(1000 * (time.perf_counter() - t))
        for label, text, gone in zip(labels, texts_on(plates, labels), hidden, strict=True):
            # characters an occluder hides may be read as anything or nothing (as evaluate_reader counts them)
            truth = masked_text(label.text, gone)
            total += 1
            ours["right"] += text is not None and masked_match(text, truth)
            theirs["right"] += masked_match(rapid_texts(result, label.box), truth)
    rep = {
        "scenes": args.scenes,
        "plates": total,
        "plateforge_exact": ours["right"] / total,
        "rapidocr_exact": theirs["right"] / total,
        "plateforge_ms_p50": float(np.median(ours["ms"])),
        "rapidocr_ms_p50": float(np.median(theirs["ms"])),
    }
    rep["speed_ratio"] = rep["rapidocr_ms_p50"] / rep["plateforge_ms_p50"]
    print(json.dumps(rep, indent=2))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(rep, f, indent=2)


if __name__ == "__main__":
    main()
