"""``CornerRegressor``: refines a plate's 4 corners from a crop around its detected box (ONNX Runtime)."""

from __future__ import annotations

import os

import numpy as np

from plateforge.ops.geometry import crop_around_box, quad_boxes
from plateforge.runtime.grey import grey_frame
from plateforge.runtime.session import bundled_model, bundled_partner, create_session, read_spec

DEFAULT_CORNERS = "corners.onnx"
GREY_CORNERS = "corners_grey.onnx"  # the bundled model's grey-trained copy, for monochrome frames


class CornerRegressor:
    """Crop-level corner model: for each box (xyxy pixels) of an image, corners TL, TR, BR, BL in image pixels.

    The crop is the box grown by the model's ``margin`` on every side (the same crop it was trained on).
    ``passes``: how many times to predict; each pass after the first crops around the bounding box of the
    corners the pass before found, which is closer to the plate than the detector's box.

    ``grey``: a corner model for monochrome images (infrared and grey cameras; :mod:`plateforge.runtime.grey`),
    used instead of ``model`` for every image without colour; ``"auto"``: the bundled grey-trained copy when
    ``model`` is the bundled one, none for other models; None: none.
    """

    def __init__(
        self,
        model: str | os.PathLike | None = None,
        threads: int | None = None,
        providers=None,
        passes: int = 1,
        grey: str | os.PathLike | None = "auto",
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
        if grey == "auto":
            grey = bundled_partner(self.path, {DEFAULT_CORNERS: GREY_CORNERS})
        self.grey_path = None if grey is None else str(grey)
        self.grey_session = None
        if self.grey_path is not None:
            self.grey_session = create_session(self.grey_path, threads, providers)
            theirs = read_spec(self.grey_session)
            if theirs is None or (theirs.task, theirs.height, theirs.width) != (spec.task, spec.height, spec.width):
                raise ValueError(f"grey corner model {self.grey_path}: not a corner model of {self.path}'s input size")
            if float(theirs.extra.get("margin", 0.15)) != self.margin:
                raise ValueError(f"grey corner model {self.grey_path}: its crop margin differs from {self.path}'s")

    def refine(self, image: np.ndarray, boxes: np.ndarray) -> np.ndarray:
        """Corners (K, 4, 2) image pixels for ``boxes`` (K, 4) xyxy of a BGR uint8 ``image``."""
        boxes = np.asarray(boxes, np.float32).reshape(-1, 4)
        if len(boxes) == 0:
            return np.zeros((0, 4, 2), np.float32)
        session = self.grey_session if self.grey_session is not None and grey_frame(image) else self.session
        corners = self._predict(session, image, boxes)
        for _ in range(self.passes - 1):
            corners = self._predict(session, image, quad_boxes(corners))
        return corners

    def _predict(self, session, image: np.ndarray, boxes: np.ndarray) -> np.ndarray:
        crops, origins, sizes = [], [], []
        for box in boxes:
            crop, origin, size = crop_around_box(image, box, self.margin, self.spec.width, self.spec.height)
            crops.append(crop)
            origins.append(origin)
            sizes.append(size)
        out = session.run(None, {self.input_name: np.stack(crops)})[0].reshape(-1, 4, 2)
        return (out * np.array(sizes)[:, None, :] + np.array(origins)[:, None, :]).astype(np.float32)
