"""Recognizer accuracy and speed on the same crops, side by side with rapidocr's PP-OCRv4 recognizer.
plateforge is measured as the bare model, with its test-time zooms, and (the bundled model only) with the
zooms and its region specialists as ``PlateRecognizer()`` reads: the two ``read_crops`` rows time whole
calls (preprocessing, inference, decoding) without and with the specialists, the others inference alone.

Run:  python benchmarks/recognizer_bench.py [--data data/us_crops_split/val.jsonl] [--model M.onnx] [--int8 Q.onnx]
rapidocr is optional: pip install --no-deps rapidocr-onnxruntime==1.4.4 && pip install pyclipper shapely six
(--no-deps keeps it from installing opencv-python over opencv-python-headless). Both run on one thread.
"""

from __future__ import annotations

import argparse
import re
import time

import cv2
import numpy as np

from plateforge.data.manifest import read_manifest
from plateforge.eval.ocr_metrics import exact
from plateforge.eval.read_eval import masked_match
from plateforge.ops.geometry import box_corners, rectify
from plateforge.runtime.recognizer import PlateRecognizer, zoom_crop


def load_crops(manifest: str, subset: str | None) -> tuple[list[np.ndarray], list[str]]:
    crops, texts = [], []
    for r in read_manifest(manifest):
        if subset and r.meta.get("subset") != subset:
            continue
        img = cv2.imread(r.image, cv2.IMREAD_COLOR)
        for p in r.plates or ():
            if p.text:
                x1, y1, x2, y2 = (int(round(v)) for v in p.box)
                crop = img[y1:y2, x1:x2] if not p.corners else rectify(img, np.array(p.corners), x2 - x1, y2 - y1)
                crops.append(crop if crop.size else rectify(img, box_corners(p.box), 160, 48))
                texts.append(p.text)
    return crops, texts


def right(read: str, truth: str) -> bool:
    """Exact match; a masked character (``?``, UC3M-LP paints a block over it) may be read as any one
    character or none, since a general OCR such as rapidocr skips the block where a plate reader fills a slot."""
    return masked_match(read, truth) if "?" in truth else exact(read, truth)


def speed(read_one, items: list, read_batch, batch_repeats: int) -> dict:
    """``ms_b1_p50``: median ms of ``read_one(item)`` over the first 300 ``items`` (after a warm-up on the
    first 20); ``plates_per_s_b32``: 32 over the mean seconds of one ``read_batch()`` (a batch of 32 plates;
    after one warm-up call, ``batch_repeats`` timed)."""
    for item in items[:20]:
        read_one(item)
    times = []
    for item in items[:300]:
        t = time.perf_counter()
        read_one(item)
        times.append(time.perf_counter() - t)
    read_batch()
    t = time.perf_counter()
    for _ in range(batch_repeats):
        read_batch()
    per_batch = (time.perf_counter() - t) / batch_repeats
    return {"ms_b1_p50": 1000 * float(np.median(times)), "plates_per_s_b32": 32 / per_batch}


def bench_plateforge(model: str | None, crops, texts, label: str, tta: bool = False) -> dict:
    """Exact match and inference time; with ``tta`` each plate is read at every zoom (as ``plateforge read``
    does), so one plate costs one inference over ``len(zooms)`` images."""
    rec = PlateRecognizer(model, threads=1, batch_size=32, tta=tta, specialists=None)
    k = len(rec.zooms)
    prepped = [rec.preprocess(zoom_crop(c, z)) for c in crops for z in rec.zooms]
    reads = rec.read_crops(crops)
    acc = float(np.mean([right(r.text, t) for r, t in zip(reads, texts, strict=True)]))
    plates = [np.stack(prepped[i * k : (i + 1) * k]) for i in range(min(300, len(crops)))]
    batch = np.stack((prepped * 32)[: 32 * k])
    return {"model": label, "exact": acc, **speed(rec.infer, plates, lambda: rec.infer(batch), 20)}


def bench_reads(crops, texts, specialists: bool) -> dict:
    """The bundled recognizer with its zooms, with or without its specialists: exact match and whole reads
    timed (``read_crops``: preprocessing, inference, decoding; batch 1: one crop per call; batch 32: 32)."""
    rec = PlateRecognizer(threads=1, batch_size=32, tta=True, specialists="auto" if specialists else None)
    reads = rec.read_crops(crops)
    acc = float(np.mean([right(r.text, t) for r, t in zip(reads, texts, strict=True)]))
    batch = (crops * 32)[:32]
    label = "read_crops, zooms" + "".join(f" + {p}" for p in rec.specialists)
    one = [[c] for c in crops[:300]]
    return {"model": label, "exact": acc, **speed(rec.read_crops, one, lambda: rec.read_crops(batch), 10)}


def bench_rapidocr(crops, texts) -> dict | None:
    try:
        from rapidocr_onnxruntime import RapidOCR
    except ImportError:
        print("rapidocr-onnxruntime is not installed: skipping the comparison (see this file's docstring)")
        return None
    engine = RapidOCR(intra_op_num_threads=1, inter_op_num_threads=1)
    reads, times = [], []
    for c in crops:
        t = time.perf_counter()
        res, _ = engine(c, use_det=False, use_cls=False, use_rec=True)
        times.append(time.perf_counter() - t)
        reads.append(re.sub(r"[^A-Z0-9]", "", (res[0][0] if res else "").upper()))
    acc = float(np.mean([right(r, t) for r, t in zip(reads, texts, strict=True)]))
    return {
        "model": "rapidocr PP-OCRv4 rec",
        "exact": acc,
        "ms_b1_p50": 1000 * float(np.median(times)),
        "plates_per_s_b32": float("nan"),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", default="data/us_crops_split/val.jsonl")
    ap.add_argument("--subset", default=None)
    ap.add_argument("--model", default=None, help="recognizer ONNX (default: bundled)")
    ap.add_argument("--int8", default=None, help="also time an INT8 recognizer ONNX")
    args = ap.parse_args()
    crops, texts = load_crops(args.data, args.subset)
    rows = [bench_plateforge(args.model, crops, texts, "plateforge FP32")]
    rows.append(bench_plateforge(args.model, crops, texts, "plateforge FP32 + zooms", tta=True))
    if args.model is None:
        rows.append(bench_reads(crops, texts, specialists=False))
        rows.append(bench_reads(crops, texts, specialists=True))
    if args.int8:
        rows.append(bench_plateforge(args.int8, crops, texts, "plateforge INT8"))
    rapid = bench_rapidocr(crops, texts)
    if rapid:
        rows.append(rapid)
    print(f"{len(crops)} crops from {args.data}; ONNX Runtime, 1 thread")
    print(f"{'model':26s} {'exact match':>11s} {'ms/plate b1 p50':>16s} {'plates/s b32':>13s}")
    for r in rows:
        print(f"{r['model']:26s} {r['exact']:11.2%} {r['ms_b1_p50']:16.2f} {r['plates_per_s_b32']:13.0f}")
    if rapid:
        for r in rows[:-1]:
            print(f"speed ratio, rapidocr ms / {r['model']} ms, batch 1: {rapid['ms_b1_p50'] / r['ms_b1_p50']:.1f}x")


if __name__ == "__main__":
    main()
