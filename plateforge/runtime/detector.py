"""``PlateDetector``: a whole image in, plates out as :class:`~plateforge.types.Detection` (ONNX Runtime)."""

from __future__ import annotations

import os

import numpy as np

from plateforge.ops.boxes import Letterbox, cut_by_window, letterbox, nms, tile_windows
from plateforge.ops.detect import postprocess
from plateforge.ops.geometry import quad_boxes
from plateforge.runtime.foreign import ForeignDetector
from plateforge.runtime.grey import grey_frame
from plateforge.runtime.images import ImageInput, load_image
from plateforge.runtime.session import bundled_model, bundled_partner, create_session, read_spec
from plateforge.runtime.spec import ModelSpec
from plateforge.types import Detection

DEFAULT_DETECTOR = "detector.onnx"
INT8_DETECTOR = "detector_int8.onnx"  # bundled: the same detector trained with QAT, exported as QDQ INT8
GREY_DETECTORS = {DEFAULT_DETECTOR: "detector_grey.onnx", INT8_DETECTOR: "detector_grey_int8.onnx"}  # monochrome
TILE_OVERLAP = 0.3  # each tile 1.3 times a plain grid cell, so a small plate lies whole inside at least one
TILE_MAX_HEIGHT = 16.0  # a tile's plate is kept only if lower than this at the whole image's letterbox scale (px)
DEFAULT_NMS_IOU = 0.3  # plates do not overlap: two boxes of one small plate a few pixels apart fall under 0.5


class PlateDetector:
    """Finds plates with box, 4 corners (TL, TR, BR, BL) and score, in original image pixels.

    ``model``: a plateforge detector ONNX (default: the bundled one); ``conf``: score threshold (default: the
    model's); ``iou``: NMS IoU threshold (default: the model's, else 0.3: boxes overlapping more are taken as
    one plate); ``threads``: ONNX Runtime intra-op threads; ``corners``: a
    :class:`~plateforge.runtime.corners.CornerRegressor` that replaces the head's corners by its own (more
    accurate, ~1.7 ms per plate), each box then being the bounding box of the refined corners (tighter:
    synthetic mAP@.5:.95 0.69 -> 0.93), or None; ``fast_resize``: bilinear letterbox instead of area averaging;
    ``tiles``: 1 looks at the whole image only; N > 1 also looks at N × N overlapping tiles, each letterboxed to
    the model's input on its own, so plates too small at the whole image's scale are seen ~N / 1.3 times larger
    (sliced inference, as SAHI): for wide views and 320-px thumbnails; it costs N² more detector runs. A tile
    keeps only plates lower than 16 px at the whole image's input scale and not cut by a tile edge; a plate the
    whole-image pass finds at ``conf`` keeps that pass's box, so the tiles only add plates (NMS).

    ``grey``: a detector for monochrome images (infrared and grey cameras; :mod:`plateforge.runtime.grey`),
    which then looks at every image without colour instead of ``model``; ``"auto"``: the bundled grey-trained
    copy of a bundled ``model`` (FP32 or INT8), none for other models; None: none.
    """

    def __init__(
        self,
        model: str | os.PathLike | None = None,
        conf: float | None = None,
        iou: float | None = None,
        max_det: int = 100,
        threads: int | None = None,
        providers: list[str] | None = None,
        corners=None,
        fast_resize: bool = False,
        tiles: int = 1,
        grey: str | os.PathLike | None = "auto",
    ):
        if not isinstance(tiles, int) or tiles < 1:
            raise ValueError(f"tiles must be a whole number >= 1 (tiles per side), got {tiles!r}")
        self.tiles = tiles
        self.path = str(model or bundled_model(DEFAULT_DETECTOR))
        self.session = create_session(self.path, threads, providers, batch=1)  # one window per run
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
        default_iou = spec.extra.get("default_iou") or DEFAULT_NMS_IOU
        self.iou, self.max_det = (iou if iou is not None else float(default_iou)), max_det
        self.corners, self.fast_resize = corners, fast_resize
        self.input_name = self.session.get_inputs()[0].name
        if grey == "auto":
            grey = bundled_partner(self.path, GREY_DETECTORS)
        self.grey_path = None if grey is None else str(grey)
        self.grey_session = None
        if self.grey_path is not None:
            self.grey_session = create_session(self.grey_path, threads, providers, batch=1)
            theirs = read_spec(self.grey_session)
            if theirs is None or (theirs.task, theirs.height, theirs.width) != (spec.task, spec.height, spec.width):
                raise ValueError(f"grey detector {self.grey_path}: not a detector of {self.path}'s input size")

    def infer(self, batch: np.ndarray, grey: bool = False) -> np.ndarray:
        """Raw output (1, N, 13) for a letterboxed (1, S, S, 3) uint8 BGR batch (the session is built for
        batches of one: a detector runs one image or tile at a time); ``grey``: with the grey detector, when
        there is one."""
        session = self.grey_session if grey and self.grey_session is not None else self.session
        return session.run(None, {self.input_name: batch})[0]

    def detect(self, image: ImageInput, conf: float | None = None) -> list[Detection]:
        """Plates in one image (path, bytes or BGR array), best score first; ``conf``: this call's score
        threshold (default: the detector's)."""
        img = load_image(image)
        return self.as_detections(img, *self.candidates(img, self.conf if conf is None else conf))

    def as_detections(
        self, img: np.ndarray, boxes: np.ndarray, scores: np.ndarray, corners: np.ndarray
    ) -> list[Detection]:
        """:class:`Detection` objects of :meth:`candidates` output for ``img``; with ``corners`` set, its corner
        model refines each plate's corners and its box becomes their bounding box."""
        if self.corners is not None and len(boxes):
            corners = self.corners.refine(img, boxes)
            boxes = quad_boxes(corners, img.shape[1], img.shape[0])
        return [
            Detection(tuple(float(v) for v in b), tuple((float(x), float(y)) for x, y in c), float(s))
            for b, s, c in zip(boxes, scores, corners, strict=True)
        ]

    def candidates(self, img: np.ndarray, conf: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(boxes xyxy (K, 4), scores (K,), head corners (K, 4, 2)) in ``img``'s pixels with score >= ``conf``,
        best first: the whole image and, with ``tiles`` > 1, its tiles, merged by NMS."""
        return self.select(self.run_passes(img), conf)

    def run_passes(self, img: np.ndarray) -> list[tuple[tuple[int, int, int, int], np.ndarray, Letterbox]]:
        """The model's raw output for the whole image, then for each tile: (window x1, y1, x2, y2 pixels of
        ``img``, raw output, letterbox of that window); :meth:`select` decodes them at any threshold."""
        h, w = img.shape[:2]
        windows = [(0, 0, w, h)]
        if self.tiles > 1:
            windows += tile_windows(w, h, self.tiles, TILE_OVERLAP)
        passes = []
        grey = self.grey_session is not None and grey_frame(img)
        for x1, y1, x2, y2 in windows:
            part = img[y1:y2, x1:x2]
            if self.foreign is not None:
                x, lb = self.foreign.preprocess(part)
                out = self.session.run(None, {self.input_name: x})[0]
            else:
                square, lb = letterbox(part, self.size, self.spec.letterbox_fill, self.fast_resize)
                out = self.infer(square[None], grey)[0]
            passes.append(((x1, y1, x2, y2), out, lb))
        return passes

    def select(self, passes, conf: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Decode :meth:`run_passes` output at ``conf``: boxes, scores, head corners in the image's pixels, best
        first. A tile keeps plates lower than 16 px at the whole image's input scale that no shared tile edge
        cuts; a plate the whole-image pass finds at the model's threshold keeps that box."""
        (_, _, w, h), out, lb = passes[0]
        boxes, scores, corners = self._decode(out, lb, conf)
        if len(passes) == 1:
            return boxes, scores, corners
        max_height = TILE_MAX_HEIGHT * max(h, w) / self.size  # in image pixels
        parts = [(boxes, scores, corners)]
        for (x1, y1, x2, y2), out, lb in passes[1:]:
            b, s, c = self._decode(out, lb, conf)
            keep = ((b[:, 3] - b[:, 1]) < max_height) & ~cut_by_window(b, (x1, y1, x2, y2), w, h)
            parts.append((b[keep] + [x1, y1, x1, y1], s[keep], c[keep] + [x1, y1]))
        boxes, scores, corners = (np.concatenate(p).astype(np.float32) for p in zip(*parts, strict=True))
        # a plate the whole-image pass finds at the model's threshold keeps that box (the corner model and the
        # recognizer learned from such boxes); the tiles add plates, they do not replace found ones
        first = np.zeros(len(scores), bool)
        first[: len(parts[0][1])] = parts[0][1] >= self.conf
        keep = nms(boxes, scores + 2.0 * first, self.iou, self.max_det)
        keep = keep[np.argsort(-scores[keep], kind="stable")]
        return boxes[keep], scores[keep], corners[keep]

    def _decode(self, out: np.ndarray, lb: Letterbox, conf: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """One window's raw output → boxes, scores, corners in that window's pixels, score >= ``conf``."""
        if self.foreign is not None:
            boxes, scores, corners, _ = self.foreign.decode(out, lb, conf, self.iou, self.max_det)
            return boxes, scores, corners
        return postprocess(out, lb, conf, self.iou, self.max_det)
