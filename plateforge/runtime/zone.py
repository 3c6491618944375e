"""A camera's detection zone: the part of the frame where plates count (the lane at a barrier, not the
road behind it or the parked cars beside it).

A zone is a polygon of (x, y) points, in pixels, or in fractions of the frame's width and height when
every coordinate lies in [0, 1] (then it fits any resolution the camera sends). A plate is in the zone
when the centre of its box is inside the polygon or on its edge. A camera may have several named zones
(the entry and the exit lane of one view): a plate counts in any of them, and its event names the zone
most of its detections were in.
"""

from __future__ import annotations

import cv2
import numpy as np

from plateforge.ops.boxes import cut_by_window
from plateforge.types import Detection


def parse_zone(text: str) -> list[tuple[float, float]]:
    """Points from ``"x,y x,y x,y ..."`` (the ``--zone`` option); errors name the text."""
    try:
        points = [tuple(float(v) for v in p.split(",")) for p in text.replace(";", " ").split()]
    except ValueError:
        raise ValueError(f"zone {text!r}: expected points 'x,y x,y x,y ...'") from None
    if any(len(p) != 2 for p in points):
        raise ValueError(f"zone {text!r}: expected points 'x,y x,y x,y ...'")
    return points


class Zone:
    """See the module docstring. ``points``: at least three (x, y) pairs; ``name``: the zone's name in events
    (None: an unnamed zone)."""

    def __init__(self, points, where: str = "zone", name: str | None = None):
        pts = np.asarray(points, np.float32)
        if pts.ndim != 2 or pts.shape[1] != 2 or len(pts) < 3 or not np.isfinite(pts).all():
            raise ValueError(f"{where}: expected at least 3 points [x, y], got {points!r}")
        if (pts < 0).any():
            raise ValueError(f"{where}: coordinates must not be negative, got {points!r}")
        self.points, self.name = pts, name
        self.fractions = bool((pts <= 1.0).all())
        self._scaled: dict[tuple[int, int], np.ndarray] = {}

    def polygon(self, shape) -> np.ndarray:
        """The polygon in pixels of an image of ``shape`` (h, w, ...), as OpenCV's N × 1 × 2 float32."""
        h, w = shape[:2]
        key = (h, w)
        if key not in self._scaled:
            pts = self.points * np.float32([w, h]) if self.fractions else self.points
            self._scaled[key] = pts.reshape(-1, 1, 2).astype(np.float32)
        return self._scaled[key]

    def contains(self, box, shape) -> bool:
        """Whether the centre of the xyxy pixel ``box`` lies in the zone of an image of ``shape``."""
        cx, cy = (box[0] + box[2]) / 2, (box[1] + box[3]) / 2
        return cv2.pointPolygonTest(self.polygon(shape), (float(cx), float(cy)), False) >= 0

    def draw(self, image: np.ndarray, color=(0, 200, 255)) -> np.ndarray:
        """A copy of the BGR ``image`` with the zone outlined (to check a zone against a camera's view)."""
        out = image.copy()
        thickness = max(2, round(image.shape[1] / 480))
        poly = self.polygon(image.shape).astype(np.int32)
        cv2.polylines(out, [poly], True, color, thickness, cv2.LINE_AA)
        if self.name:
            x, y = poly.reshape(-1, 2).min(0)
            scale = max(0.6, image.shape[1] / 1280)
            cv2.putText(
                out,
                self.name,
                (int(x) + 6, int(y) + int(28 * scale)),
                cv2.FONT_HERSHEY_SIMPLEX,
                scale,
                color,
                thickness,
            )
        return out


def which_zone(zones: list[Zone], box, shape) -> Zone | None:
    """The first of ``zones`` that holds the centre of xyxy ``box`` in an image of ``shape``, or None."""
    return next((z for z in zones if z.contains(box, shape)), None)


ZONE_MARGIN = 0.08  # of the frame's longer side: a plate whose centre is in a zone may reach this far out of it


def zones_window(zones: list[Zone], shape, margin: float = ZONE_MARGIN) -> tuple[int, int, int, int] | None:
    """The part of an image of ``shape`` (h, w, ...) where plates that count can lie: the bounding box of the
    ``zones``, grown by ``margin`` of the image's longer side on each side and clipped to the image (x1, y1,
    x2, y2 pixels); None when that is (nearly) the whole image. The detector looks there only, so its
    letterboxed input shows the zones' plates larger."""
    if not zones:
        return None
    h, w = shape[:2]
    pts = np.concatenate([z.polygon(shape).reshape(-1, 2) for z in zones])
    pad = margin * max(h, w)
    x1, y1 = np.floor(np.maximum(pts.min(0) - pad, 0)).astype(int)
    x2, y2 = np.ceil(np.minimum(pts.max(0) + pad, [w, h])).astype(int)
    if (x2 - x1) * (y2 - y1) > 0.9 * w * h:
        return None
    return int(x1), int(y1), int(x2), int(y2)


def from_window(found: list[Detection], window: tuple[int, int, int, int], shape) -> list[Detection | None]:
    """Detections made in the crop ``window`` (x1, y1, x2, y2) of an image of ``shape`` (h, w, ...), moved to the
    image's pixels; None for each that the window's edge cuts (:func:`~plateforge.ops.boxes.cut_by_window`)."""
    cut = cut_by_window([d.box for d in found], window, shape[1], shape[0])
    return [None if c else d.shifted(window[0], window[1]) for d, c in zip(found, cut, strict=True)]
