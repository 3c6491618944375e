"""Per-stage latency of the whole reader (decode, detect, rectify, recognize, total): p50 / p95 and frames/s,
for FP32 and INT8 model sets, on one thread and on all cores, over a folder of images or generated scenes."""

from __future__ import annotations

import os
import time
from pathlib import Path

import cv2
import numpy as np

from plateforge.runtime.defaults import LOW_SCORE_FROM, PLATE_CHECK, RECHECK_BELOW, SECOND_VIEW_BELOW, SMALL_BELOW

STAGES = ("decode", "detect", "rectify", "recognize", "total")


def bench_images(folder: str | Path | None, scenes: int, seed: int = 7, plates: int | None = None) -> list[bytes]:
    """JPEG-encoded test images: every image of ``folder``, or ``scenes`` synthetic 1280x720 scenes (with
    ``plates`` plates each when given, else 1 to 3)."""
    if folder is not None:
        from plateforge.data.manifest import list_images

        files = list_images(folder)
        if not files:
            raise ValueError(f"{folder}: no images to benchmark")
        return [f.read_bytes() for f in files]
    from plateforge.eval.read_eval import scenes_with_texts

    return [
        cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_QUALITY, 92])[1].tobytes()
        for img, _, _ in scenes_with_texts(scenes, seed, plates=(plates, plates) if plates else (1, 3))
    ]


def model_sets() -> dict[str, dict]:
    """The bundled model sets: FP32, and INT8 (QAT detector; the recognizer stays FP32, faster here)."""
    from plateforge.runtime.detector import INT8_DETECTOR
    from plateforge.runtime.session import bundled_model

    return {
        "fp32": {"detector": bundled_model("detector.onnx")},
        "int8": {"detector": bundled_model(INT8_DETECTOR)},
    }


def bench_reader(
    images: list[bytes], detector=None, recognizer=None, threads: int = 1, repeat: int = 1, **reader_options
) -> dict:
    """Read every image ``repeat`` times (after a short warm-up); per-stage p50 / p95 ms and frames/s.
    ``reader_options``: keyword options of ``ALPR`` (``tta``, ``tiles``, ``recheck_below`` …)."""
    from plateforge.runtime.alpr import ALPR

    alpr = ALPR(detector, recognizer, threads=threads, **reader_options)
    for data in images[: min(3, len(images))]:
        alpr.read_timed(data)
    rows = [alpr.read_timed(data).timing_ms for _ in range(repeat) for data in images]
    out = {
        s: {"p50": float(np.median([r[s] for r in rows])), "p95": float(np.percentile([r[s] for r in rows], 95))}
        for s in STAGES
    }
    out["fps"] = 1000.0 / max(1e-9, float(np.mean([r["total"] for r in rows])))
    out["threads"] = threads
    out["images"] = len(rows)
    return out


def run_bench(
    folder=None,
    scenes: int = 50,
    threads: list[int] | None = None,
    repeat: int = 1,
    fast_resize: bool = False,
    plates: int | None = None,
    tta: bool = True,
    tiles: int = 1,
    second_view_below: float | None = SECOND_VIEW_BELOW,
    recheck_below: float | None = RECHECK_BELOW,
    specialists: bool = True,
    small_below: float | None = SMALL_BELOW,
    low_score_from: float | None = LOW_SCORE_FROM,
    plate_check: float | None = PLATE_CHECK,
) -> dict:
    """Every bundled model set × thread count; returns {"fp32@1": {...}, ...}; ``tiles``,
    ``second_view_below``, ``recheck_below``, ``specialists``, ``small_below``, ``low_score_from`` and ``plate_check``
    as ``ALPR``."""
    start = time.perf_counter()
    options = dict(
        fast_resize=fast_resize,
        tta=tta,
        tiles=tiles,
        second_view_below=second_view_below,
        recheck_below=recheck_below,
        specialists=specialists,
        small_below=small_below,
        low_score_from=low_score_from,
        plate_check=plate_check,
    )
    images = bench_images(folder, scenes, plates=plates)
    threads = threads or sorted({1, os.cpu_count() or 1})
    report = {}
    for name, models in model_sets().items():
        for t in threads:
            report[f"{name}@{t}"] = bench_reader(images, threads=t, repeat=repeat, **models, **options)
    report["_meta"] = {
        "images": len(images),
        "source": str(folder) if folder else f"{scenes} synthetic 1280x720 scenes ({plates or '1-3'} plates each)",
        "seconds": round(time.perf_counter() - start, 1),
        "cpu_count": os.cpu_count(),
        **options,
    }
    return report
