"""Plate geometry in NumPy/OpenCV: rectification of 4 corners and box crops.

Corners are always (4, 2) float pixels ordered TL, TR, BR, BL as read on the plate; boxes are xyxy pixels.
"""

from __future__ import annotations

import cv2
import numpy as np


def quad_size(corners) -> tuple[float, float]:
    """(width, height) in pixels of a quad TL, TR, BR, BL: the means of its top/bottom and left/right edges."""
    c = np.asarray(corners, np.float32).reshape(4, 2)
    width = (np.linalg.norm(c[1] - c[0]) + np.linalg.norm(c[2] - c[3])) / 2
    height = (np.linalg.norm(c[3] - c[0]) + np.linalg.norm(c[2] - c[1])) / 2
    return float(width), float(height)


def rectify(image: np.ndarray, corners: np.ndarray, width: int, height: int, margin: float = 0.0) -> np.ndarray:
    """Perspective-warp the quad ``corners`` (TL, TR, BR, BL pixels) of a BGR image to a ``width`` × ``height``
    crop (the plate flattened, as a recognizer reads it).

    ``margin``: a border kept around the plate on every side, as a fraction of the plate's height (0.075 is
    the mean margin of the recognizer's training crops); it keeps a plate whole when the corners fall a
    little inside it.
    """
    src = np.asarray(corners, np.float32).reshape(4, 2)
    side = max(np.linalg.norm(src[1] - src[0]), np.linalg.norm(src[2] - src[3]))
    dst = np.array([[0, 0], [width, 0], [width, height], [0, height]], np.float32)
    if margin > 0:
        long, tall = (max(v, 1.0) for v in quad_size(src))  # a degenerate quad (a point) gets a 1-px plate's margin
        pad = margin * tall  # margin in source pixels, the same on all sides
        mx, my = width * pad / (long + 2 * pad), height * pad / (tall + 2 * pad)
        dst = np.array([[mx, my], [width - mx, my], [width - mx, height - my], [mx, height - my]], np.float32)
        side *= width / (width - 2 * mx)
    m = cv2.getPerspectiveTransform(src, dst)
    # shrinking a lot through a warp aliases: warp to an intermediate size first, then area-resize
    if side > 2 * width:
        w2, h2 = 2 * width, 2 * height
        m2 = cv2.getPerspectiveTransform(src, dst * 2)
        big = cv2.warpPerspective(image, m2, (w2, h2), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
        return cv2.resize(big, (width, height), interpolation=cv2.INTER_AREA)
    return cv2.warpPerspective(image, m, (width, height), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)


def box_corners(box) -> np.ndarray:
    """The 4 corners (TL, TR, BR, BL) of an xyxy box, float32 (4, 2)."""
    x1, y1, x2, y2 = (float(v) for v in box)
    return np.array([[x1, y1], [x2, y1], [x2, y2], [x1, y2]], np.float32)


def quad_boxes(corners, width: float | None = None, height: float | None = None) -> np.ndarray:
    """The xyxy boxes (K, 4) float32 bounding quads ``corners`` (K, 4, 2) pixels, clipped to a ``width`` ×
    ``height`` image when given (a plate cut by the frame edge is boxed where it is visible)."""
    c = np.asarray(corners, np.float32).reshape(-1, 4, 2)
    boxes = np.concatenate([c.min(1), c.max(1)], 1)
    if width is not None and height is not None:
        boxes = np.clip(boxes, 0, [width, height, width, height]).astype(np.float32)
    return boxes


def crop_around_box(
    image: np.ndarray, box, margin: float, width: int, height: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Crop ``box`` (xyxy pixels) grown by ``margin`` × its width / height on every side, resized to
    ``width`` × ``height`` (BGR uint8; outside the image = edge pixels repeated).

    Returns the crop, ``origin`` (x, y) and ``size`` (w, h) of the cropped region in image pixels, so a point
    (u, v) normalised to the crop (0..1) is ``origin + (u, v) * size`` in the image.
    """
    x1, y1, x2, y2 = (float(v) for v in box)
    w, h = max(x2 - x1, 1.0), max(y2 - y1, 1.0)
    origin = np.array([x1 - margin * w, y1 - margin * h], np.float32)
    size = np.array([w * (1 + 2 * margin), h * (1 + 2 * margin)], np.float32)
    src = np.array([origin, origin + [size[0], 0], origin + size], np.float32)
    dst = np.array([[0, 0], [width, 0], [width, height]], np.float32)
    m = cv2.getAffineTransform(src, dst)
    if size[0] > 2 * width:  # big shrink: area-resize the region first so it does not alias
        ix1, iy1 = int(max(0, np.floor(origin[0]))), int(max(0, np.floor(origin[1])))
        ix2 = int(min(image.shape[1], np.ceil(origin[0] + size[0])))
        iy2 = int(min(image.shape[0], np.ceil(origin[1] + size[1])))
        if ix2 > ix1 + 1 and iy2 > iy1 + 1:
            f = 2 * width / size[0]
            small = cv2.resize(
                image[iy1:iy2, ix1:ix2],
                (max(1, round((ix2 - ix1) * f)), max(1, round((iy2 - iy1) * f))),
                interpolation=cv2.INTER_AREA,
            )
            src_small = (src - [ix1, iy1]) * f
            m = cv2.getAffineTransform(src_small.astype(np.float32), dst)
            image = small
    crop = cv2.warpAffine(image, m, (width, height), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    return crop, origin, size


def make_corner_sample(
    image: np.ndarray,
    box: np.ndarray,
    corners: np.ndarray,
    rng: np.random.Generator,
    jitter: float,
    margin: float,
    height: int,
    width: int,
) -> tuple[np.ndarray, np.ndarray]:
    """A corner-regressor sample: the crop around ``box`` (xyxy) with each side moved by ``jitter`` × the box
    size (normal, as a detector's box would be), grown by ``margin``, ``width`` × ``height``; the target is
    ``corners`` (4, 2, TL, TR, BR, BL) as 8 fractions of the crop."""
    w, h = box[2] - box[0], box[3] - box[1]
    moved = np.asarray(box, np.float32) + rng.normal(0, jitter, 4).astype(np.float32) * [w, h, w, h]
    if moved[2] - moved[0] < 2 or moved[3] - moved[1] < 2:
        moved = np.asarray(box, np.float32)
    crop, origin, size = crop_around_box(image, moved, margin, width, height)
    target = ((np.asarray(corners, np.float32) - origin) / size).reshape(8)
    return crop, target.astype(np.float32)
