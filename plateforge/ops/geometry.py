"""Plate geometry in NumPy/OpenCV: rectification of 4 corners and box crops.

Corners are always (4, 2) float pixels ordered TL, TR, BR, BL as read on the plate; boxes are xyxy pixels.
"""

from __future__ import annotations

import cv2
import numpy as np


def rectify(image: np.ndarray, corners: np.ndarray, width: int, height: int) -> np.ndarray:
    """Perspective-warp the quad ``corners`` (TL, TR, BR, BL pixels) of a BGR image to a ``width`` × ``height``
    crop (the plate flattened, as a recognizer reads it)."""
    src = np.asarray(corners, np.float32).reshape(4, 2)
    dst = np.array([[0, 0], [width, 0], [width, height], [0, height]], np.float32)
    m = cv2.getPerspectiveTransform(src, dst)
    # shrinking a lot through a warp aliases: warp to an intermediate size first, then area-resize
    side = max(np.linalg.norm(src[1] - src[0]), np.linalg.norm(src[2] - src[3]))
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
