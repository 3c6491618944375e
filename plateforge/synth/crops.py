"""Rectified plate crops for the recognizer: a rendered plate as a rectifier would cut it out of a frame.

A perfect rectification gives exactly the plate; a real one is a little off. So each crop has a small random
margin of car body around the plate and its corners jittered by a few percent of the plate height, then
(optionally) an augmentation preset. The label keeps where the plate lies in the crop (box xyxy pixels,
corners TL, TR, BR, BL) and its text, region and layout.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from plateforge.data.manifest import PlateLabel
from plateforge.specs import RegionSpec
from plateforge.synth.plate import render_plate
from plateforge.synth.scene import paste_plate


@dataclass(frozen=True)
class CropOptions:
    """``height``: plate height range in pixels; ``margin``: max margin around the plate as a fraction of its
    height; ``jitter``: max corner displacement as a fraction of the plate height; ``free_text``: the share of
    plates printed with random letters and digits in their region's look (``render_plate``)."""

    height: tuple[int, int] = (32, 96)  # drawn in steps of 8 px (plate layouts are cached per height)
    margin: float = 0.15
    jitter: float = 0.04
    free_text: float = 0.0


_NOISE = np.random.default_rng(12345).integers(0, 17, (512, 1024), dtype=np.uint8)


def _noise(rng: np.random.Generator, h: int, w: int) -> np.ndarray:
    """A random window of a fixed grain texture (0..16 grey levels), as 3 identical BGR channels."""
    y = int(rng.integers(0, _NOISE.shape[0] - h)) if h < _NOISE.shape[0] else 0
    x = int(rng.integers(0, _NOISE.shape[1] - w)) if w < _NOISE.shape[1] else 0
    tile = _NOISE[y : y + h, x : x + w]
    if tile.shape != (h, w):
        tile = cv2.resize(tile, (w, h), interpolation=cv2.INTER_NEAREST)
    return cv2.merge([tile, tile, tile])


def make_crop(spec: RegionSpec, rng: np.random.Generator, opts: CropOptions = CropOptions()):
    """Return (BGR uint8 crop, PlateLabel in crop pixels)."""
    h = 8 * int(rng.integers(opts.height[0] // 8, opts.height[1] // 8 + 1))
    free = opts.free_text > 0 and rng.random() < opts.free_text  # no draw at 0: seeds keep their crops
    plate = render_plate(spec, rng, height=h, free_text=free)
    ph, pw = plate.image.shape[:2]
    m = opts.margin * ph
    mx, my = rng.uniform(0, m, 2), rng.uniform(0, m, 2)  # left/right, top/bottom
    cw, ch = round(pw + mx.sum()), round(ph + my.sum())
    body = rng.integers(0, 240, 3)
    canvas = cv2.add(_noise(rng, ch, cw), tuple(float(v) for v in body) + (0.0,))
    quad = np.array([[mx[0], my[0]], [mx[0] + pw, my[0]], [mx[0] + pw, my[0] + ph], [mx[0], my[0] + ph]], np.float32)
    quad += rng.uniform(-opts.jitter, opts.jitter, (4, 2)).astype(np.float32) * ph
    quad = np.clip(quad, 0, [cw - 1, ch - 1]).astype(np.float32)
    paste_plate(canvas, plate, quad)
    lo, hi = quad.min(0), quad.max(0)
    label = PlateLabel(
        (float(lo[0]), float(lo[1]), float(hi[0]), float(hi[1])),
        tuple((float(x), float(y)) for x, y in quad),
        plate.text,
        plate.region,
        plate.layout,
    )
    return canvas, label
