"""``CornerRegressor``: refines a plate's 4 corners from a crop around its detected box (ONNX Runtime)."""

from __future__ import annotations

import os

import numpy as np

from plateforge.ops.geometry import crop_around_box, quad_boxes
from plateforge.runtime.session import bundled_model, create_session, read_spec

DEFAULT_CORNERS = "corners.onnx"


class CornerRegressor:
    """Crop-level corner model: for each box (xyxy pixels) of an image, corners TL, TR, BR, BL in image pixels.

    The crop is the box grown by the model's ``margin`` on every side (the same crop it was trained on).
    ``passes``: how many times to predict; each pass after the first crops around the bounding box of the
    corners the pass before found, which is closer to the plate than the detector's box.
    """

    def __init__(
        self,
        model: str | os.PathLike | None = None,
        threads: int | None = None,
        providers=None,
        passes: int = 1,
    ):
        if passes < 1:
            raise ValueError(f"CornerRegressor: passes must be at least 1, got {passes}")
        self.passes = passes
        self.path = str(model or bundled_model(DEFAULT_CORNERS))
        self.session = create_session(self.path, threads, providers)
        spec = read_spec(self.session)
        if spec is None or spec.task != "corners":
            raise ValueError(f"{self.path}: not a plateforge corner model (no corners spec in its metadata)")
        self.spec = spec
        self.margin = float(spec.extra.get("margin", 0.15))
        self.input_name = self.session.get_inputs()[0].name

    def refine(self, image: np.ndarray, boxes: np.ndarray) -> np.ndarray:
        """Corners (K, 4, 2) image pixels for ``boxes`` (K, 4) xyxy of a BGR uint8 ``image``."""
        boxes = np.asarray(boxes, np.float32).reshape(-1, 4)
        if len(boxes) == 0:
            return np.zeros((0, 4, 2), np.float32)
        corners = self._predict(image, boxes)
        for _ in range(self.passes - 1):
            corners = self._predict(image, quad_boxes(corners))
        return corners

    def _predict(self, image: np.ndarray, boxes: np.ndarray) -> np.ndarray:
        crops, origins, sizes = [], [], []
        for box in boxes:
            crop, origin, size = crop_around_box(image, box, self.margin, self.spec.width, self.spec.height)
            crops.append(crop)
            origins.append(origin)
            sizes.append(size)
        out = self.session.run(None, {self.input_name: np.stack(crops)})[0].reshape(-1, 4, 2)
        return (out * np.array(sizes)[:, None, :] + np.array(origins)[:, None, :]).astype(np.float32)
