"""Annotated images: plate boxes, corner quads, text and confidence drawn on a copy of the image (BGR)."""

from __future__ import annotations

import cv2
import numpy as np

from plateforge.types import PlateResult

BLUR_CELLS = 3  # pixel blocks across a blurred plate's height: at 6, two-character plates (a Dubai "U 4", 84 px
# tall) kept two dark blobs from which the reader guessed the text in 2 of 2,337 readable frames; at 3, in none


def draw_plates(image: np.ndarray, plates: list[PlateResult]) -> np.ndarray:
    """A copy of ``image`` with each plate's box (green; orange when its format check failed), its corner
    quad (yellow, TL marked) and ``TEXT 0.97`` above it (a UAE plate's code and number apart: ``16 37820``)."""
    out = image.copy()
    scale = max(0.4, min(out.shape[:2]) / 900)
    thick = max(1, round(2 * scale))
    for p in plates:
        x1, y1, x2, y2 = (int(round(v)) for v in p.box)
        colour = (0, 200, 0) if p.format_ok is not False else (0, 140, 255)
        cv2.rectangle(out, (x1, y1), (x2, y2), colour, thick)
        if len(p.corners) == 4:  # detectors without corners (some foreign models) give a box only
            quad = np.round(np.array(p.corners)).astype(np.int32)
            cv2.polylines(out, [quad], True, (0, 220, 255), max(1, thick - 1))
            cv2.circle(out, tuple(int(v) for v in quad[0]), thick + 1, (0, 0, 255), -1)
        label = f"{' '.join(p.parts) if p.parts else p.text or '?'} {p.confidence:.2f}"
        (tw, th), base = cv2.getTextSize(label, cv2.FONT_HERSHEY_SIMPLEX, 0.6 * scale * 1.5, thick)
        ty = y1 - 4 if y1 - th - 6 > 0 else y2 + th + 4
        cv2.rectangle(out, (x1, ty - th - 3), (x1 + tw + 4, ty + base - 1), (0, 0, 0), -1)
        cv2.putText(out, label, (x1 + 2, ty), cv2.FONT_HERSHEY_SIMPLEX, 0.6 * scale * 1.5, (255, 255, 255), thick)
    return out


def plate_quad(plate, grow: float = 0.15) -> np.ndarray:
    """The region that hides ``plate`` (anything with ``box`` xyxy and ``corners`` TL, TR, BR, BL, image pixels):
    its corner quad (the box when it has none) grown about its centre by ``grow`` of its size on each side;
    (4, 2) float32 pixels."""
    x1, y1, x2, y2 = plate.box
    quad = np.array(plate.corners if len(plate.corners) == 4 else [(x1, y1), (x2, y1), (x2, y2), (x1, y2)], np.float32)
    centre = quad.mean(0)
    return centre + (quad - centre) * (1 + 2 * grow)


def blur_plates(image: np.ndarray, plates: list, grow: float = 0.15, cells: int = BLUR_CELLS) -> np.ndarray:
    """A copy of BGR ``image`` with each plate made unreadable (anonymising photos): its quad grown by ``grow``
    (:func:`plate_quad`) is pixelated and blurred (:func:`blur_quads`). ``plates``: anything with ``box`` and
    ``corners`` (image pixels)."""
    return blur_quads(image, [plate_quad(p, grow) for p in plates], cells)


def blur_quads(image: np.ndarray, quads: list[np.ndarray], cells: int = BLUR_CELLS) -> np.ndarray:
    """A copy of BGR ``image`` with each quad ((4, 2) pixels, any convex polygon) pixelated to about ``cells``
    blocks across its height and then blurred, so no character inside survives."""
    out = image.copy()
    h, w = out.shape[:2]
    for quad in quads:
        quad = np.asarray(quad, np.float32)
        bx1, by1 = np.floor(quad.min(0)).astype(int)
        bx2, by2 = np.ceil(quad.max(0)).astype(int) + 1
        bx1, by1, bx2, by2 = max(bx1, 0), max(by1, 0), min(bx2, w), min(by2, h)
        if bx2 - bx1 < 2 or by2 - by1 < 2:
            continue
        region = out[by1:by2, bx1:bx2]
        rh, rw = region.shape[:2]
        block = max(1, round(rh / cells))
        small = cv2.resize(region, (max(1, rw // block), max(1, rh // block)), interpolation=cv2.INTER_AREA)
        coarse = cv2.resize(small, (rw, rh), interpolation=cv2.INTER_NEAREST)
        coarse = cv2.GaussianBlur(coarse, (0, 0), max(1.0, block / 2))
        mask = np.zeros((rh, rw), np.uint8)
        cv2.fillPoly(mask, [np.round(quad - [bx1, by1]).astype(np.int32)], 255)
        region[mask > 0] = coarse[mask > 0]
    return out
