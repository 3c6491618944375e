"""Scene plates as the reader cuts them: synthetic scenes read by the bundled detector and corner model, each
labelled plate that the detector finds kept with the reader's corners instead of its true ones.

Recognizer training data for what the reader gets wrong: an occluder over one end of a plate stops the
detector's box and the corner model at the occluder, and the rectified crop stretches the visible part to
the full width. With ``occlusion=1.0`` every plate has an occluder; plates with a character hidden by it
(:attr:`plateforge.synth.scene.Scene.hidden`) are left out, so every kept text is readable in its crop.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from plateforge.data.manifest import ImageRecord, PlateLabel, write_manifest
from plateforge.eval.det_metrics import match
from plateforge.ops.geometry import quad_boxes
from plateforge.progress import progress


def reader_scenes(
    out: str | Path,
    n: int,
    seed: int = 0,
    occlusion: float = 1.0,
    width: int = 1280,
    height: int = 720,
    regions: str | None = None,
    alpr=None,
    overwrite: bool = False,
    plate_height: tuple[float, float] = (16.0, 140.0),
    plates: tuple[int, int] = (1, 3),
) -> tuple[list[ImageRecord], int, int]:
    """Write ``n`` scenes (``width`` × ``height`` BGR JPEGs under ``out/images``, light augmentation, ``plates``
    (least, most; 1-3) plates per scene of ``plate_height`` px (16-140), a share ``occlusion`` of them partly
    covered) and ``out/manifest.jsonl`` with the kept plates:
    those an :class:`~plateforge.runtime.alpr.ALPR` (``alpr``, default the bundled models on all cores)
    detects (IoU ≥ 0.5), whose characters are all visible and whose reader corners lie inside the frame,
    with the reader's corners (TL, TR, BR, BL image pixels) and their box (xyxy). Scenes with no kept plate
    are not written. Returns (records, plates kept, plates drawn)."""
    from plateforge.eval.read_eval import scenes_with_texts
    from plateforge.runtime.alpr import ALPR

    out = Path(out)
    manifest = out / "manifest.jsonl"
    if manifest.exists() and not overwrite:
        raise FileExistsError(f"{manifest} exists (use overwrite to replace it)")
    (out / "images").mkdir(parents=True, exist_ok=True)
    alpr = alpr or ALPR()
    scenes = scenes_with_texts(
        n, seed, width, height, "light", plates, occlusion=occlusion, regions=regions, plate_height=plate_height
    )
    records, kept, drawn = [], 0, 0
    for i, (image, labels, hiddens) in enumerate(progress(scenes, "reader scenes", total=n)):
        drawn += len(labels)
        detections = alpr.detector.detect(image)
        if not detections:
            continue
        quads = alpr.plate_corners(image, detections)
        boxes = np.array([d.box for d in detections], np.float32).reshape(-1, 4)
        truth = np.array([p.box for p in labels], np.float32).reshape(-1, 4)
        found = {g: d for d, g in match(truth, boxes)}
        kept_plates = []
        for g, (label, hidden) in enumerate(zip(labels, hiddens, strict=True)):
            if hidden or g not in found:
                continue
            q = quads[found[g]]
            if q.min() < 0 or (q[:, 0] > width).any() or (q[:, 1] > height).any():
                continue  # the reader's corners run past the frame: a manifest cannot hold them
            box = tuple(float(v) for v in quad_boxes(q)[0])
            corners = tuple((float(x), float(y)) for x, y in q)
            kept_plates.append(PlateLabel(box, corners, label.text, label.region, label.layout))
        if kept_plates:
            path = out / "images" / f"{i:06d}.jpg"
            cv2.imwrite(str(path), image, [cv2.IMWRITE_JPEG_QUALITY, 92])
            records.append(ImageRecord(str(path), width, height, tuple(kept_plates)))
            kept += len(kept_plates)
    write_manifest(records, manifest, overwrite=True)
    return records, kept, drawn
