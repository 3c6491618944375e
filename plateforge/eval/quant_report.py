"""Quantization report: for the detector, the corner model and the recognizer, FP32 / INT8 dynamic / INT8
static (and QAT where one is given) side by side — latency on one thread, file size, accuracy — as markdown
and JSON. Accuracy data: synthetic scenes and crops made here (reproducible seeds) or manifests given.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np

from plateforge.export.quantize import quantize_model


def _latency_ms(path: Path, batch: np.ndarray, runs: int = 50) -> float:
    from plateforge.runtime.session import create_session

    sess = create_session(path, threads=1)
    name = sess.get_inputs()[0].name
    for _ in range(5):
        sess.run(None, {name: batch})
    times = []
    for _ in range(runs):
        t = time.perf_counter()
        sess.run(None, {name: batch})
        times.append(time.perf_counter() - t)
    return 1000 * float(np.median(times))


def corner_samples(n: int, seed: int, width: int, height: int, margin: float):
    """``n`` (crop, 8 target fractions) pairs around synthetic plates' boxes (disturbed by 4 % per side)."""
    from plateforge.eval.det_eval import synthetic_scenes
    from plateforge.ops.geometry import make_corner_sample

    crops, targets = [], []
    rng = np.random.default_rng(seed)
    for img, t in synthetic_scenes(max(1, n // 2) + 5, seed=seed):
        for box, quad in zip(t.boxes, t.corners, strict=True):
            crop, target = make_corner_sample(img, box, quad, rng, 0.04, margin, height, width)
            crops.append(crop)
            targets.append(target)
            if len(crops) == n:
                return np.stack(crops), np.stack(targets)
    return np.stack(crops), np.stack(targets)


def _variants(fp32: Path, out: Path, calib, qat: Path | None) -> dict[str, Path]:
    stem = fp32.stem
    v = {"fp32": fp32}
    v["int8 dynamic"] = Path(quantize_model(fp32, out / f"{stem}.dyn.onnx", "dynamic")["path"])
    v["int8 static"] = Path(quantize_model(fp32, out / f"{stem}.static.onnx", "static", calib)["path"])
    if qat is not None:
        v["qat"] = qat
    return v


def quant_report(out: str | Path, calib: str | Path, scenes: int = 100, crops: int = 300, det_data=None) -> dict:
    """Write ``report.md`` and ``report.json`` under ``out`` (plus the INT8 files) for the bundled models."""
    import cv2

    from plateforge.eval.det_eval import evaluate_detector, synthetic_scenes
    from plateforge.ops.boxes import letterbox
    from plateforge.runtime.corners import CornerRegressor
    from plateforge.runtime.detector import INT8_DETECTOR
    from plateforge.runtime.recognizer import PlateRecognizer
    from plateforge.runtime.session import bundled_model

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    report: dict[str, dict] = {"detector": {}, "corners": {}, "recognizer": {}}

    frame, _ = next(synthetic_scenes(1, seed=4242))
    det_variants = _variants(bundled_model("detector.onnx"), out, calib, bundled_model(INT8_DETECTOR))
    for name, path in det_variants.items():
        rep = evaluate_detector(path, det_data, scenes=0 if det_data else scenes, threads=1)
        square = letterbox(frame, rep["input_size"])[0][None]
        report["detector"][name] = {
            "path": str(path),
            "size_mb": path.stat().st_size / 1e6,
            "latency_ms": _latency_ms(path, square),
            "map50": rep["map50"],
            "map5095": rep["map5095"],
            "recall": rep["recall"],
        }

    reg = CornerRegressor(bundled_model("corners.onnx"))
    x, y = corner_samples(crops, 99, reg.spec.width, reg.spec.height, reg.margin)
    calib_dir = out / "corner_calib"
    calib_dir.mkdir(exist_ok=True)
    for i, c in enumerate(x[:200]):
        cv2.imwrite(str(calib_dir / f"{i:04d}.png"), c)
    for name, path in _variants(bundled_model("corners.onnx"), out, calib_dir, None).items():
        sess_out = CornerRegressor(path, threads=1).session.run(None, {reg.input_name: x})[0]
        report["corners"][name] = {
            "path": str(path),
            "size_mb": path.stat().st_size / 1e6,
            "latency_ms": _latency_ms(path, x[:1]),
            "mae_crop": float(np.abs(sess_out - y).mean()),
        }

    rec_crops, texts = _ocr_crops(crops)
    rec_calib = out / "ocr_calib"
    rec_calib.mkdir(exist_ok=True)
    for i, c in enumerate(rec_crops[:200]):
        cv2.imwrite(str(rec_calib / f"{i:04d}.png"), c)
    for name, path in _variants(bundled_model("recognizer.onnx"), out, rec_calib, None).items():
        rec = PlateRecognizer(path, threads=1)
        reads = rec.read_crops(list(rec_crops))
        batch = np.stack([rec.preprocess(c) for c in rec_crops[:1]])
        report["recognizer"][name] = {
            "path": str(path),
            "size_mb": path.stat().st_size / 1e6,
            "latency_ms": _latency_ms(path, batch),
            "exact": float(np.mean([r.text == t for r, t in zip(reads, texts, strict=True)])),
        }
    (out / "report.json").write_text(json.dumps(report, indent=2))
    (out / "report.md").write_text(to_markdown(report))
    return report


def _ocr_crops(n: int):
    """``n`` synthetic plate crops (all regions, light augmentation, seed 4321) and their texts."""
    from plateforge.specs import select_regions
    from plateforge.synth.augment import augment, crop_pipeline
    from plateforge.synth.crops import make_crop

    specs = select_regions(None)
    crops, texts = [], []
    for i in range(n):
        rng = np.random.default_rng([4321, i])
        img, label = make_crop(specs[int(rng.integers(0, len(specs)))], rng)
        crops.append(augment(img, crop_pipeline("light"), int(rng.integers(0, 2**31))))
        texts.append(label.text)
    return crops, texts


def to_markdown(report: dict) -> str:
    """The report as one markdown table per model."""
    metrics = {"detector": ("map50", "map5095", "recall"), "corners": ("mae_crop",), "recognizer": ("exact",)}
    lines = []
    for model, rows in report.items():
        cols = metrics[model]
        lines += [
            f"### {model}",
            "",
            "| variant | size MB | latency ms (1 thread) | " + " | ".join(cols) + " |",
            "| --- | --- | --- | " + " | ".join("---" for _ in cols) + " |",
        ]
        for name, r in rows.items():
            vals = " | ".join(f"{r[c]:.4f}" if c == "mae_crop" else f"{r[c]:.3f}" for c in cols)
            lines.append(f"| {name} | {r['size_mb']:.2f} | {r['latency_ms']:.2f} | {vals} |")
        lines.append("")
    return "\n".join(lines)
