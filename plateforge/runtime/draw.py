"""Annotated images: plate boxes, corner quads, text and confidence drawn on a copy of the image (BGR)."""

from __future__ import annotations

import cv2
import numpy as np

from plateforge.types import PlateResult


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
