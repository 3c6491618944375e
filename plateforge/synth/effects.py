"""What makes a rendered plate look used: rounded shape, border, bolts, dirt, scratches, fading, glare, shadow.

All functions take BGR uint8 images (H × W × 3) and a NumPy ``Generator`` so the result is fixed by the seed.
"""

from __future__ import annotations

from functools import lru_cache

import cv2
import numpy as np


@lru_cache(maxsize=256)
def rounded_alpha(height: int, width: int, radius: float) -> np.ndarray:
    """Float32 0..1 mask of a rectangle with rounded corners (anti-aliased), ``radius`` in pixels."""
    mask = np.zeros((height * 4, width * 4), np.uint8)
    r = max(0, round(radius * 4))
    cv2.rectangle(mask, (r, 0), (width * 4 - 1 - r, height * 4 - 1), 255, -1)
    cv2.rectangle(mask, (0, r), (width * 4 - 1, height * 4 - 1 - r), 255, -1)
    for cx, cy in ((r, r), (width * 4 - 1 - r, r), (r, height * 4 - 1 - r), (width * 4 - 1 - r, height * 4 - 1 - r)):
        cv2.circle(mask, (cx, cy), r, 255, -1)
    out = cv2.resize(mask, (width, height), interpolation=cv2.INTER_AREA).astype(np.float32) / 255.0
    out.setflags(write=False)
    return out


def blend_solid(img: np.ndarray, alpha: np.ndarray, color: tuple[int, int, int]) -> np.ndarray:
    """``img`` × (1 − alpha) + ``color`` × alpha for a BGR uint8 image and a float32 H × W alpha (new image)."""
    solid = np.empty_like(img)
    solid[:] = color
    alpha = alpha.astype(np.float32, copy=False)
    return cv2.blendLinear(img, solid, 1.0 - alpha, alpha)


def rounded_outline(img: np.ndarray, thickness: int, radius: float, color: tuple[int, int, int]) -> None:
    """Draw a rounded-rectangle border ``thickness`` px wide just inside the plate edge, in place."""
    img[:] = blend_solid(img, _ring(*img.shape[:2], thickness, round(radius, 1)), color)


@lru_cache(maxsize=512)
def _ring(h: int, w: int, thickness: int, radius: float) -> np.ndarray:
    inset = thickness / 2 + max(1, h * 0.02)
    outer = rounded_alpha(h, w, radius)
    inner_h, inner_w = max(1, round(h - 2 * inset - thickness)), max(1, round(w - 2 * inset - thickness))
    inner = np.zeros_like(outer)
    oy, ox = round((h - inner_h) / 2), round((w - inner_w) / 2)
    inner[oy : oy + inner_h, ox : ox + inner_w] = rounded_alpha(inner_h, inner_w, max(0.0, radius - inset))
    ring_outer = np.zeros_like(outer)
    ro_h, ro_w = max(1, round(h - 2 * inset + thickness)), max(1, round(w - 2 * inset + thickness))
    oy2, ox2 = round((h - ro_h) / 2), round((w - ro_w) / 2)
    ring_outer[oy2 : oy2 + ro_h, ox2 : ox2 + ro_w] = rounded_alpha(ro_h, ro_w, radius)
    ring = np.clip(ring_outer - inner, 0, 1)
    ring.setflags(write=False)
    return ring


def bolts(img: np.ndarray, rng: np.random.Generator) -> None:
    """Two mounting bolts (or screws) near the top edge, sometimes also two at the bottom, in place."""
    h, w = img.shape[:2]
    r = max(1, round(h * rng.uniform(0.025, 0.045)))
    ys = [round(h * 0.09)] + ([round(h * 0.91)] if rng.random() < 0.2 else [])
    shade = int(rng.integers(90, 200))
    for y in ys:
        for x in (round(w * rng.uniform(0.1, 0.2)), round(w * rng.uniform(0.8, 0.9))):
            if rng.random() < 0.85:
                cv2.circle(img, (x, y), r, (shade, shade, shade), -1, cv2.LINE_AA)
                cv2.circle(img, (x, y), r, (shade // 3,) * 3, max(1, r // 3), cv2.LINE_AA)


def _soft_blobs(h: int, w: int, rng: np.random.Generator, n: int, scale: float) -> np.ndarray:
    """Float32 0..1 map of ``n`` blurred random ellipses (dirt, wear patches)."""
    m = np.zeros((h, w), np.float32)
    for _ in range(n):
        c = (int(rng.integers(0, w)), int(rng.integers(0, h)))
        ax = (max(1, int(rng.uniform(0.05, scale) * w)), max(1, int(rng.uniform(0.05, scale) * h)))
        cv2.ellipse(m, c, ax, float(rng.uniform(0, 180)), 0, 360, float(rng.uniform(0.3, 1.0)), -1)
    k = max(3, (min(h, w) // 6) | 1)
    return cv2.GaussianBlur(m, (k, k), 0)


def wear(img: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Random mix of dirt, scratches, faded paint, a glare spot and a cast shadow; returns a new image.

    Every step is a uint8 blend in OpenCV (no float copy of the plate): this runs once per generated plate.
    """
    h, w = img.shape[:2]
    out = img.copy()
    if rng.random() < 0.5:  # dirt: brownish-grey patches
        blobs = _soft_blobs(h, w, rng, int(rng.integers(1, 6)), 0.35) * np.float32(rng.uniform(0.2, 0.6))
        dirt = (int(rng.uniform(40, 90)), int(rng.uniform(60, 100)), int(rng.uniform(70, 110)))
        out = blend_solid(out, blobs, dirt)
    if rng.random() < 0.3:  # fading: contrast pulled towards the mean colour
        k = rng.uniform(0.6, 0.9)
        mean = np.array(cv2.mean(out)[:3])[:, None]
        out = cv2.transform(out, np.hstack([np.eye(3) * k, mean * (1 - k)]))
    if rng.random() < 0.3:  # scratches: thin light lines
        for _ in range(int(rng.integers(1, 5))):
            p1 = (int(rng.integers(0, w)), int(rng.integers(0, h)))
            p2 = (p1[0] + int(rng.integers(-w // 4, w // 4)), p1[1] + int(rng.integers(-h // 3, h // 3)))
            cv2.line(out, p1, p2, (200, 200, 200), 1, cv2.LINE_AA)
    if rng.random() < 0.3:  # glare: a bright soft spot
        spot = _soft_blobs(h, w, rng, 1, 0.5) * np.float32(rng.uniform(0.4, 0.9))
        out = blend_solid(out, spot, (255, 255, 255))
    if rng.random() < 0.3:  # shadow: a darker side across a random line
        x = np.linspace(-1, 1, w, dtype=np.float32)[None, :]
        y = np.linspace(-1, 1, h, dtype=np.float32)[:, None]
        a = rng.uniform(0, 2 * np.pi)
        side = np.clip((np.cos(a) * x + np.sin(a) * y - rng.uniform(-0.5, 0.5)) * 6, 0, 1)
        out = blend_solid(out, side * np.float32(rng.uniform(0.3, 0.6)), (0, 0, 0))
    return out
