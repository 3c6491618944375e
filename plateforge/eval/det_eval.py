"""Evaluate a detector ONNX on labelled images (a manifest or synthetic scenes): the numbers the deployed
model gets, through :class:`~plateforge.runtime.detector.PlateDetector` (letterbox, ONNX Runtime, decoding)."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from plateforge.eval.det_metrics import ImageResult, detection_report
from plateforge.ops.geometry import quad_boxes, rectify
from plateforge.runtime.corners import CornerRegressor
from plateforge.runtime.defaults import RECTIFY_MARGIN
from plateforge.runtime.detector import PlateDetector
from plateforge.runtime.recognizer import PlateRecognizer


def _labelled_images(data: str | Path, subset: str | None):
    """The labelled images of a manifest with their labels, as validation in training reads them."""
    from plateforge.train.det_data import DetValImages, DetValSet

    ds = DetValImages(DetValSet("data", manifest=str(data), subset=subset), 32)
    for i in range(len(ds)):
        yield ds.labelled(i)


def synthetic_scenes(
    n: int,
    seed: int = 777,
    width: int = 1280,
    height: int = 720,
    augment: str = "light",
    regions: str | None = None,
):
    """``n`` synthetic scenes with labels, made reproducibly from ``seed`` (needs ``[synth]``): the images of a
    scene validation set, before the letterbox. ``regions``: a selector of the plates' regions (codes or
    groups, comma-separated; None: every region)."""
    from plateforge.train.det_data import DetValImages, DetValSet, SceneSource

    scenes = SceneSource(
        n=n, seed=seed, regions=regions, augment=augment, width=width, height=height, plate_height=(12.0, 140.0)
    )
    ds = DetValImages(DetValSet("synth", scenes=scenes), 32)
    for i in range(n):
        yield ds.labelled(i)


REFINE_MIN_SCORE = 0.05  # candidates below it keep the detector's box in AP (they barely move it)


def evaluate_detector(
    model: str | Path | None = None,
    data: str | Path | None = None,
    subset: str | None = None,
    scenes: int = 0,
    conf: float | None = None,
    threads: int | None = None,
    fast_resize: bool = False,
    tiles: int = 1,
    corners: CornerRegressor | str | Path | None = None,
    plate_check: float | None = None,
    recognizer: PlateRecognizer | str | Path | None = None,
    scene_regions: str | None = None,
) -> dict:
    """COCO AP / AR, precision / recall / F1 at the model's default threshold (or ``conf``), corner MAE, and
    milliseconds per image (letterbox + inference + decoding at the threshold, as ``detect`` runs), on
    ``data`` or on ``scenes`` synthetic scenes (of ``scene_regions``, a region selector; None: every region);
    ``tiles``: as :class:`PlateDetector`.

    ``corners``: a corner model (object, ONNX path or ``"bundled"``) that refines each candidate scoring at
    least ``REFINE_MIN_SCORE``, whose box becomes the bounding box of the refined corners, as the reader
    reports plates; its time is counted for the plates found at the threshold. None: the detector alone.
    ``plate_check``: candidates of those that ``recognizer`` (default: the bundled one) scores less plate-like
    than this, cut at their corners as the reader cuts them, are dropped, as the reader drops them (its time
    is counted for the plates found at the threshold). Boxes are not read here, so the reader's second rule
    (``ALPR(plate_check_sure=...)``: an unsure plate also needs a valid read) is not applied."""
    det = PlateDetector(model, conf=conf, threads=threads, fast_resize=fast_resize, tiles=tiles)
    if corners == "bundled":
        corners = CornerRegressor(threads=threads)
    elif corners is not None and not hasattr(corners, "refine"):
        corners = CornerRegressor(corners, threads=threads)
    rec = None
    if plate_check:
        rec = (
            recognizer if hasattr(recognizer, "first_look") else PlateRecognizer(recognizer, threads, specialists=None)
        )
        if not rec.has_plate_head:
            raise ValueError(f"{rec.path}: no plate check in this recognizer (plateforge train plate-head)")
    items = _labelled_images(data, subset) if data else synthetic_scenes(scenes, regions=scene_regions)
    results, elapsed = [], 0.0
    for img, t in items:
        h, w = img.shape[:2]
        start = time.perf_counter()
        passes = det.run_passes(img)
        found, _, found_quads = det.select(passes, det.conf)  # the runtime's path, timed
        if corners is not None and len(found):
            found_quads = corners.refine(img, found)
        if rec is not None and len(found):
            rec.first_look([rectify(img, q, rec.spec.width, rec.spec.height, RECTIFY_MARGIN) for q in found_quads])
        elapsed += time.perf_counter() - start
        boxes, scores, quads = det.select(passes, 0.001)  # every candidate, for AP, from the same inference
        refine = scores >= REFINE_MIN_SCORE
        if corners is not None and refine.any():
            quads[refine] = corners.refine(img, boxes[refine])
            boxes[refine] = quad_boxes(quads[refine], w, h)
        if rec is not None and refine.any():
            at = np.flatnonzero(refine)
            crops = [rectify(img, q, rec.spec.width, rec.spec.height, RECTIFY_MARGIN) for q in quads[at]]
            keep = np.ones(len(boxes), bool)
            keep[at[rec.first_look(crops)[2] < plate_check]] = False
            boxes, scores, quads = boxes[keep], scores[keep], quads[keep]
        results.append(ImageResult(t.boxes, t.corners, t.has_corners, boxes, scores, quads, w, h, t.ignore))
    if not results:
        raise ValueError("nothing to evaluate: give a manifest with labelled images or scenes > 0")
    rep = detection_report(results, conf=det.conf).as_dict()
    what = f"{scenes} synthetic scenes" + (f" of {scene_regions}" if scene_regions else "")
    rep.update(model=det.path, data=str(data) if data else what, input_size=det.size)
    rep["tiles"] = tiles
    rep["corner_model"] = corners.path if corners is not None else None
    rep["plate_check"] = {"recognizer": rec.path, "threshold": plate_check} if rec is not None else None
    rep["ms_per_image"] = 1000 * elapsed / len(results)
    return rep
