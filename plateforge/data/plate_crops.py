"""Rectified crops of every plate with a text in a manifest: the recognizer's view of a labelled dataset."""

from __future__ import annotations

from dataclasses import dataclass, field

import cv2
import numpy as np

from plateforge.data.manifest import ImageRecord, PlateLabel, read_manifest
from plateforge.ops.geometry import box_corners, rectify


@dataclass
class PlateCrops:
    """``images`` (N, height, width, 3) uint8 BGR, and per crop its text, region and layout; ``sources``: per
    crop the manifest record and plate it was cut from (empty when the crops come from a cache)."""

    images: np.ndarray
    texts: list[str]
    regions: list[str | None]
    layouts: list[str | None]
    sources: list[tuple[ImageRecord, PlateLabel]] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.texts)


def plate_crops(manifest: str, width: int, height: int, subset: str | None = None, margin: float = 0.0) -> PlateCrops:
    """Every plate with a text in ``manifest`` (only records of ``subset`` when given), rectified by its corners
    (or its box when it has none) to ``width`` × ``height``, keeping ``margin`` × the plate height around
    plates with corners (see :func:`~plateforge.ops.geometry.rectify`). Raises ValueError naming an
    unreadable image."""
    images, texts, regions, layouts, sources = [], [], [], [], []
    for rec in read_manifest(manifest):
        if subset is not None and rec.meta.get("subset") != subset:
            continue
        img = cv2.imread(rec.image, cv2.IMREAD_COLOR)
        if img is None:
            raise ValueError(f"{rec.image}: cannot read image listed in {manifest}")
        for p in rec.plates or ():
            if not p.text or p.ignore:
                continue
            if p.corners:
                images.append(rectify(img, np.array(p.corners, np.float32), width, height, margin))
            else:
                images.append(rectify(img, box_corners(p.box), width, height))
            texts.append(p.text)
            regions.append(p.region)
            layouts.append(p.layout)
            sources.append((rec, p))
    if not texts:
        raise ValueError(f"{manifest}: no plates with text (subset={subset!r})")
    return PlateCrops(np.stack(images), texts, regions, layouts, sources)
