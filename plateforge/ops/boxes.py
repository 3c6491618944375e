"""Box and corner operations in NumPy, shared by detector training (validation) and the runtime.

Formats are in the names: ``xyxy`` = (x1, y1, x2, y2) pixels, ``cxcywh`` = (centre x, centre y, width, height)
pixels; corners are (N, 4, 2) pixels ordered TL, TR, BR, BL. Letterbox: resize keeping the aspect ratio,
pad centred to a square of ``size`` pixels; :class:`Letterbox` maps coordinates back to the original image.

Why hand-written: these are a few lines each, and the runtime must not depend on torch (torchvision.ops).
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np


def cxcywh_to_xyxy(boxes: np.ndarray) -> np.ndarray:
    """(N, 4) centre-size boxes → (N, 4) corner boxes, pixels."""
    b = np.asarray(boxes, np.float32)
    half = b[:, 2:4] / 2
    return np.concatenate([b[:, :2] - half, b[:, :2] + half], axis=1)


def xyxy_to_cxcywh(boxes: np.ndarray) -> np.ndarray:
    """(N, 4) corner boxes → (N, 4) centre-size boxes, pixels."""
    b = np.asarray(boxes, np.float32)
    return np.concatenate([(b[:, :2] + b[:, 2:4]) / 2, b[:, 2:4] - b[:, :2]], axis=1)


def box_area(boxes: np.ndarray) -> np.ndarray:
    """Areas of (N, 4) xyxy boxes (0 for empty boxes)."""
    b = np.asarray(boxes, np.float32)
    return np.clip(b[:, 2] - b[:, 0], 0, None) * np.clip(b[:, 3] - b[:, 1], 0, None)


def box_intersection(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """(N, M) intersection areas of xyxy boxes ``a`` (N, 4) and ``b`` (M, 4)."""
    a, b = np.asarray(a, np.float32), np.asarray(b, np.float32)
    lt = np.maximum(a[:, None, :2], b[None, :, :2])
    rb = np.minimum(a[:, None, 2:], b[None, :, 2:])
    return np.prod(np.clip(rb - lt, 0, None), axis=2)


def box_iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """(N, M) intersection-over-union of xyxy boxes ``a`` (N, 4) and ``b`` (M, 4)."""
    a, b = np.asarray(a, np.float32), np.asarray(b, np.float32)
    inter = box_intersection(a, b)
    union = box_area(a)[:, None] + box_area(b)[None, :] - inter
    return np.where(union > 0, inter / np.maximum(union, 1e-9), 0.0).astype(np.float32)


def nms(boxes: np.ndarray, scores: np.ndarray, iou_threshold: float = 0.5, max_keep: int | None = None) -> np.ndarray:
    """Indices of the boxes kept by greedy non-maximum suppression, highest score first (xyxy boxes)."""
    order = np.argsort(-np.asarray(scores), kind="stable")
    boxes = np.asarray(boxes, np.float32)
    keep = []
    while order.size:
        i = order[0]
        keep.append(int(i))
        if max_keep is not None and len(keep) >= max_keep:
            break
        iou = box_iou(boxes[i : i + 1], boxes[order[1:]])[0]
        order = order[1:][iou <= iou_threshold]
    return np.array(keep, dtype=np.int64)


def tile_windows(width: int, height: int, grid: int, overlap: float = 0.3) -> list[tuple[int, int, int, int]]:
    """``grid`` × ``grid`` windows (x1, y1, x2, y2 pixels, x2 / y2 exclusive) covering a ``width`` × ``height``
    image, each ``1 + overlap`` times the size of a plain grid cell, spread evenly from edge to edge; row by row.
    """
    if grid < 1 or overlap < 0:
        raise ValueError(f"tile grid must be >= 1 and overlap >= 0, got grid={grid}, overlap={overlap}")
    if grid == 1:
        return [(0, 0, width, height)]
    tw = min(width, max(1, round(width / grid * (1 + overlap))))
    th = min(height, max(1, round(height / grid * (1 + overlap))))
    xs = [round(i * (width - tw) / (grid - 1)) for i in range(grid)]
    ys = [round(i * (height - th) / (grid - 1)) for i in range(grid)]
    return [(x, y, x + tw, y + th) for y in ys for x in xs]


WINDOW_EDGE = 2.0  # px: a box this close to an edge a window cut out of its image is a cut plate


def cut_by_window(boxes, window: tuple[int, int, int, int], width: int, height: int, edge: float = WINDOW_EDGE):
    """For each xyxy box (K × 4, pixels of the crop ``window`` = x1, y1, x2, y2 of a ``width`` × ``height``
    image; tiles, zone windows): whether it touches, within ``edge`` px, an edge where the window cut the image.
    Such a box holds part of a plate, read as another plate. The image's own edges do not count. (K,) bool."""
    b = np.asarray(boxes, np.float32).reshape(-1, 4)
    x1, y1, x2, y2 = window
    return (
        ((x1 > 0) & (b[:, 0] <= edge))
        | ((y1 > 0) & (b[:, 1] <= edge))
        | ((x2 < width) & (b[:, 2] >= x2 - x1 - edge))
        | ((y2 < height) & (b[:, 3] >= y2 - y1 - edge))
    )


def order_corners(points: np.ndarray) -> np.ndarray:
    """Order 4 points (4, 2) as TL, TR, BR, BL: sorted clockwise around their centre (image y points down),
    starting at the corner whose edge to the next corner points most nearly to the right. Correct for any
    plate aspect ratio up to ±45° of rotation."""
    p = np.asarray(points, np.float32).reshape(4, 2)
    c = p.mean(0)
    p = p[np.argsort(np.arctan2(p[:, 1] - c[1], p[:, 0] - c[0]))]  # clockwise on screen
    edges = np.roll(p, -1, axis=0) - p
    rightness = edges[:, 0] / np.maximum(np.linalg.norm(edges, axis=1), 1e-9)
    return np.roll(p, -int(np.argmax(rightness)), axis=0)


@dataclass(frozen=True)
class Letterbox:
    """How an image of ``width`` × ``height`` was resized by ``scale`` and padded by (``pad_x``, ``pad_y``) to a
    ``size`` × ``size`` square; maps points between the two."""

    width: int
    height: int
    size: int
    scale: float
    pad_x: float
    pad_y: float

    def to_original(self, points: np.ndarray) -> np.ndarray:
        """Letterboxed pixel coordinates (..., 2) → original image pixels, clipped to the image."""
        p = (np.asarray(points, np.float32) - [self.pad_x, self.pad_y]) / self.scale
        return np.clip(p, 0, [self.width, self.height]).astype(np.float32)

    def boxes_to_original(self, boxes: np.ndarray) -> np.ndarray:
        """Letterboxed xyxy boxes (N, 4) → original image pixels, clipped."""
        return self.to_original(np.asarray(boxes, np.float32).reshape(-1, 2, 2)).reshape(-1, 4)


def shrink(image: np.ndarray, width: int, height: int) -> np.ndarray:
    """Shrink an image to ``width`` × ``height`` px with area averaging, fast.

    OpenCV's area resize is slow for a fractional factor (~3.5 ms for 1280x720 → 384x216 on one core) but
    fast for an integer one. So the image is first area-averaged by the largest integer factor k that divides
    both sides and leaves the image at least the target size, then the remaining factor (< 2) is bilinear:
    ~0.9 ms, within 0.3 grey levels (mean absolute) of the one-step area resize.
    """
    h, w = image.shape[:2]
    k = int(min(w / width, h / height))
    while k >= 2 and (w % k or h % k):
        k -= 1
    if k >= 2:
        image = cv2.resize(image, (w // k, h // k), interpolation=cv2.INTER_AREA)
        h, w = image.shape[:2]
    if (w, h) == (width, height):
        return image
    rest = cv2.INTER_LINEAR if max(w / width, h / height) < 2 else cv2.INTER_AREA
    return cv2.resize(image, (width, height), interpolation=rest)


def letterbox(image: np.ndarray, size: int, fill: int = 114, fast: bool = False) -> tuple[np.ndarray, Letterbox]:
    """Resize a BGR image so its longer side is ``size`` and pad it centred to ``size`` × ``size`` with ``fill``.

    Shrinking averages areas (:func:`shrink`: no aliasing, ~0.9 ms for a 1280x720 frame on one core); ``fast``
    uses one bilinear resize instead (~0.25 ms, slightly less accurate on small plates). Returns the square
    image and the :class:`Letterbox` that maps detections back.
    """
    h, w = image.shape[:2]
    scale = size / max(h, w)
    nw, nh = max(1, round(w * scale)), max(1, round(h * scale))
    if scale < 1 and not fast:
        resized = shrink(image, nw, nh)
    else:
        resized = cv2.resize(image, (nw, nh), interpolation=cv2.INTER_LINEAR)
    pad_x, pad_y = (size - nw) // 2, (size - nh) // 2
    out = np.full((size, size, 3), fill, np.uint8)
    out[pad_y : pad_y + nh, pad_x : pad_x + nw] = resized
    return out, Letterbox(w, h, size, scale, float(pad_x), float(pad_y))
