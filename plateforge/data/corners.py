"""Corners for box-only plate labels, from the bundled corner regressor (the reader's own rectification)."""

from __future__ import annotations

import dataclasses
import os

import cv2
import numpy as np

from plateforge.data.manifest import ImageRecord, read_manifest
from plateforge.progress import progress


def add_corners(manifest: str | os.PathLike, model=None) -> tuple[list[ImageRecord], int]:
    """Records of ``manifest`` with corners (TL, TR, BR, BL pixels) added to every plate that has a box and
    no corners; ``model``: a CornerRegressor (default: the bundled one). Corners the model puts beyond the
    image edge (a plate partly out of the frame) are clipped to it, as manifests require. Returns (records,
    plates filled). Raises ValueError naming an unreadable image."""
    from plateforge.runtime.corners import CornerRegressor

    model = model or CornerRegressor(threads=1)
    out, filled = [], 0
    for rec in progress(read_manifest(manifest), "corners"):
        todo = [i for i, p in enumerate(rec.plates or ()) if p.corners is None and not p.ignore]
        if not todo:
            out.append(rec)
            continue
        img = cv2.imread(rec.image, cv2.IMREAD_COLOR)
        if img is None:
            raise ValueError(f"{rec.image}: cannot read image listed in {manifest}")
        quads = model.refine(img, np.array([rec.plates[i].box for i in todo], np.float32))
        quads = np.clip(quads, 0, [img.shape[1], img.shape[0]])
        plates = list(rec.plates)
        for i, q in zip(todo, quads, strict=True):
            plates[i] = dataclasses.replace(plates[i], corners=tuple((float(x), float(y)) for x, y in q))
        filled += len(todo)
        out.append(dataclasses.replace(rec, plates=tuple(plates)))
    return out, filled
