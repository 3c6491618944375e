"""Detector output decoding in NumPy: the one postprocess used by the runtime and by validation in training.

A plateforge detector ONNX outputs ``(B, N, 13)`` per anchor point, in letterboxed input pixels:
``x1, y1, x2, y2, score (0..1), TLx, TLy, TRx, TRy, BRx, BRy, BLx, BLy``.
"""

from __future__ import annotations

import numpy as np

from plateforge.ops.boxes import Letterbox, nms

OUTPUT_COLUMNS = 13


def select_detections(
    raw: np.ndarray, conf: float = 0.25, iou: float = 0.5, max_det: int = 100
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One image's raw output (N, 13) → (boxes xyxy (K, 4), scores (K,), corners (K, 4, 2)) after the score
    threshold ``conf`` and NMS at ``iou``, best first, at most ``max_det``; still in letterboxed pixels."""
    raw = np.asarray(raw, np.float32)
    if raw.ndim != 2 or raw.shape[1] != OUTPUT_COLUMNS:
        raise ValueError(f"detector output must be (N, {OUTPUT_COLUMNS}), got {raw.shape}")
    keep = raw[:, 4] >= conf
    cand = raw[keep]
    if len(cand) > 20 * max_det:  # NMS is quadratic: keep the best candidates only
        cand = cand[np.argsort(-cand[:, 4], kind="stable")[: 20 * max_det]]
    idx = nms(cand[:, :4], cand[:, 4], iou, max_det)
    cand = cand[idx] if len(idx) else cand[:0]
    return cand[:, :4].copy(), cand[:, 4].copy(), cand[:, 5:13].reshape(-1, 4, 2).copy()


def detections_to_original(boxes: np.ndarray, corners: np.ndarray, lb: Letterbox) -> tuple[np.ndarray, np.ndarray]:
    """Letterboxed boxes (K, 4) and corners (K, 4, 2) → original image pixels (clipped to the image)."""
    return lb.boxes_to_original(boxes), lb.to_original(corners.reshape(-1, 2)).reshape(-1, 4, 2)


def postprocess(
    raw: np.ndarray, lb: Letterbox, conf: float = 0.25, iou: float = 0.5, max_det: int = 100
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Raw output of one image → (boxes, scores, corners) in original image pixels (see :func:`select_detections`)."""
    boxes, scores, corners = select_detections(raw, conf, iou, max_det)
    boxes, corners = detections_to_original(boxes, corners, lb)
    return boxes, scores, corners
