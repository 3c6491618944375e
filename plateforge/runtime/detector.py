"""``PlateDetector``: a whole image in, plates out as :class:`~plateforge.types.Detection` (ONNX Runtime)."""

from __future__ import annotations

import os

import numpy as np

from plateforge.ops.boxes import letterbox
from plateforge.ops.detect import postprocess
from plateforge.runtime.foreign import ForeignDetector
from plateforge.runtime.images import ImageInput, load_image
from plateforge.runtime.session import bundled_model, create_session, read_spec
from plateforge.runtime.spec import ModelSpec
from plateforge.types import Detection

DEFAULT_DETECTOR = "detector.onnx"


class PlateDetector:
    """Finds plates with box, 4 corners (TL, TR, BR, BL) and score, in original image pixels.

    ``model``: a plateforge detector ONNX (default: the bundled one); ``conf``: score threshold (default: the
    model's); ``iou``: NMS IoU threshold; ``threads``: ONNX Runtime intra-op threads; ``corners``: a
    :class:`~plateforge.runtime.corners.CornerRegressor` that replaces the head's corners by its own (more
    accurate, ~1.7 ms per plate) or None; ``fast_resize``: bilinear letterbox instead of area averaging.
    """

    def __init__(
        self,
        model: str | os.PathLike | None = None,
        conf: float | None = None,
        iou: float = 0.5,
        max_det: int = 100,
        threads: int | None = None,
        providers: list[str] | None = None,
        corners=None,
        fast_resize: bool = False,
    ):
        self.path = str(model or bundled_model(DEFAULT_DETECTOR))
        self.session = create_session(self.path, threads, providers)
        spec = read_spec(self.session)
        self.foreign = None
        if spec is None:  # Ultralytics / open-image-models ONNX, recognised from its outputs
            try:
                self.foreign = ForeignDetector.from_session(self.session)
            except ValueError as e:
                raise ValueError(f"{self.path}: not a plateforge detector and {e}") from None
            spec = ModelSpec("detector", self.foreign.kind, *self.foreign.size, input_layout="NCHW")
        elif spec.task != "detector":
            raise ValueError(f"{self.path}: not a plateforge detector (its spec says task {spec.task!r})")
        self.spec = spec
        self.size = spec.height
        self.conf = conf if conf is not None else float(spec.extra.get("default_conf", 0.25))
        self.iou, self.max_det = iou, max_det
        self.corners, self.fast_resize = corners, fast_resize
        self.input_name = self.session.get_inputs()[0].name

    def infer(self, batch: np.ndarray) -> np.ndarray:
        """Raw output (B, N, 13) for a letterboxed (B, S, S, 3) uint8 BGR batch."""
        return self.session.run(None, {self.input_name: batch})[0]

    def detect(self, image: ImageInput) -> list[Detection]:
        """Plates in one image (path, bytes or BGR array), best score first."""
        img = load_image(image)
        if self.foreign is not None:
            x, lb = self.foreign.preprocess(img)
            out = self.session.run(None, {self.input_name: x})[0]
            boxes, scores, corners, _ = self.foreign.decode(out, lb, self.conf, self.iou, self.max_det)
        else:
            square, lb = letterbox(img, self.size, self.spec.letterbox_fill, self.fast_resize)
            raw = self.infer(square[None])[0]
            boxes, scores, corners = postprocess(raw, lb, self.conf, self.iou, self.max_det)
        if self.corners is not None and len(boxes):
            corners = self.corners.refine(img, boxes)
        return [
            Detection(tuple(float(v) for v in b), tuple((float(x), float(y)) for x, y in c), float(s))
            for b, s, c in zip(boxes, scores, corners, strict=True)
        ]
