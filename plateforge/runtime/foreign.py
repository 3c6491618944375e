"""Models trained elsewhere, recognised from their inputs and outputs, behind the same runtime classes.

Detectors (float32 NCHW RGB 0..1 input, letterboxed with grey 114, as their exporters do):
- Ultralytics YOLOv8 / YOLO11 raw output ``[1, 4 + nc (+ 3k), N]``: centre x, y, width, height, class scores
  (pose models add k keypoints x, y, visibility; with k = 4 they are the plate corners);
- Ultralytics end-to-end (YOLOv10 / ``nms=True``) ``[1, K, 6]``: x1, y1, x2, y2, score, class;
- open-image-models end-to-end ``[K, 7]``: batch index, x1, y1, x2, y2, class, score.
Recognizers: fast-plate-ocr ONNX (uint8 NHWC, fixed slots) with its YAML config (``max_plate_slots``,
``alphabet``, ``pad_char``, ``img_height``, ``img_width``, ``keep_aspect_ratio``, ``image_color_mode``).

Hand-written because each format is a few lines of array slicing and none of their packages is a runtime
dependency here.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import yaml

from plateforge.ops.boxes import Letterbox, cxcywh_to_xyxy, letterbox, nms
from plateforge.ops.geometry import box_corners

DETECTOR_KINDS = ("ultralytics_raw", "ultralytics_e2e", "oim_e2e")


@dataclass
class ForeignDetector:
    """Pre- and post-processing for a foreign detector ONNX (see the module docstring for the formats)."""

    kind: str
    size: tuple[int, int]  # input height, width
    keypoints: int = 0
    classes: int = 1

    @classmethod
    def from_session(cls, session) -> ForeignDetector:
        inp, out = session.get_inputs()[0], session.get_outputs()[0]
        shape = [d if isinstance(d, int) else -1 for d in out.shape]
        ishape = inp.shape
        if len(ishape) != 4 or ishape[1] != 3:
            raise ValueError(f"unsupported detector input {ishape}: expected N x 3 x H x W (Ultralytics layout)")
        size = (
            int(ishape[2]) if isinstance(ishape[2], int) else 640,
            int(ishape[3]) if isinstance(ishape[3], int) else 640,
        )
        meta = session.get_modelmeta().custom_metadata_map
        kpt = _literal(meta.get("kpt_shape")) or [0, 0]
        names = _literal(meta.get("names")) or {0: "plate"}
        if len(shape) == 2 and shape[1] == 7:
            return cls("oim_e2e", size)
        if len(shape) == 3 and shape[2] == 6:
            return cls("ultralytics_e2e", size)
        if len(shape) == 3:
            nc = len(names)
            k = int(kpt[0]) if kpt else 0
            rows = shape[1]
            if rows != -1 and rows != 4 + nc + 3 * k:
                nc, k = rows - 4, 0  # metadata missing or different: every extra row is a class
            return cls("ultralytics_raw", size, keypoints=k, classes=nc)
        raise ValueError(f"unrecognised detector output shape {out.shape}; supported: {', '.join(DETECTOR_KINDS)}")

    def preprocess(self, img: np.ndarray) -> tuple[np.ndarray, Letterbox]:
        """BGR uint8 → (1, 3, H, W) float32 RGB 0..1, letterboxed (square models; others are padded too)."""
        h, w = self.size
        square, lb = letterbox(img, max(h, w))
        square = square[:h, :w] if (h, w) != square.shape[:2] else square
        x = square[:, :, ::-1].transpose(2, 0, 1)[None].astype(np.float32) / 255.0
        return np.ascontiguousarray(x), lb

    def decode(self, out: np.ndarray, lb: Letterbox, conf: float, iou: float, max_det: int, keep_classes=None):
        """Raw output → (boxes xyxy, scores, corners (K, 4, 2), class ids (K,)) in original image pixels, best
        first; ``keep_classes``: class ids to keep (None: all)."""
        out = np.asarray(out, np.float32)
        if self.kind == "oim_e2e":
            boxes, scores, cls = out[:, 1:5], out[:, 6], out[:, 5].astype(np.int64)
            kps = None
        elif self.kind == "ultralytics_e2e":
            boxes, scores, cls = out[0, :, :4], out[0, :, 4], out[0, :, 5].astype(np.int64)
            kps = None
        else:
            rows = out[0].T  # (N, 4 + nc + 3k)
            boxes = cxcywh_to_xyxy(rows[:, :4])
            class_scores = rows[:, 4 : 4 + self.classes]
            if keep_classes is not None:
                mask = np.zeros(self.classes, bool)
                mask[[c for c in keep_classes if 0 <= c < self.classes]] = True
                class_scores = np.where(mask, class_scores, 0.0)
            cls, scores = class_scores.argmax(1), class_scores.max(1)
            kps = rows[:, 4 + self.classes :].reshape(-1, self.keypoints, 3)[:, :, :2] if self.keypoints == 4 else None
        keep = scores >= conf
        if keep_classes is not None:
            keep &= np.isin(cls, list(keep_classes))
        boxes, scores, cls = boxes[keep], scores[keep], cls[keep]
        kps = kps[keep] if kps is not None else None
        order = nms(boxes, scores, iou, max_det) if self.kind == "ultralytics_raw" else np.argsort(-scores)[:max_det]
        boxes, scores, cls = boxes[order], scores[order], cls[order]
        corners = kps[order] if kps is not None else np.stack([box_corners(b) for b in boxes]) if len(boxes) else None
        corners = np.zeros((0, 4, 2), np.float32) if corners is None else corners
        boxes = lb.boxes_to_original(boxes)
        corners = lb.to_original(corners.reshape(-1, 2)).reshape(-1, 4, 2)
        return boxes, scores, corners, cls


def _literal(text: str | None):
    if not text:
        return None
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError):
        return None


@dataclass
class FastPlateOcrConfig:
    """A fast-plate-ocr plate config (its YAML keys)."""

    max_plate_slots: int
    alphabet: str
    pad_char: str
    img_height: int
    img_width: int
    keep_aspect_ratio: bool = False
    image_color_mode: str = "grayscale"

    @classmethod
    def load(cls, path: str | Path) -> FastPlateOcrConfig:
        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"fast-plate-ocr config not found: {path}")
        d = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        missing = [k for k in ("max_plate_slots", "alphabet", "pad_char", "img_height", "img_width") if k not in d]
        if missing:
            raise ValueError(f"{path}: not a fast-plate-ocr config, missing {missing}")
        if d["pad_char"] not in d["alphabet"]:
            raise ValueError(f"{path}: pad_char {d['pad_char']!r} is not in the alphabet")
        known = set(cls.__dataclass_fields__)
        return cls(**{k: v for k, v in d.items() if k in known})

    def preprocess(self, crop: np.ndarray) -> np.ndarray:
        """BGR uint8 crop → H × W × C uint8 (C = 1 grayscale or 3 RGB), aspect kept with padding if asked."""
        h, w = self.img_height, self.img_width
        if self.keep_aspect_ratio:
            s = min(h / crop.shape[0], w / crop.shape[1])
            nh, nw = max(1, round(crop.shape[0] * s)), max(1, round(crop.shape[1] * s))
            small = cv2.resize(crop, (nw, nh), interpolation=cv2.INTER_LINEAR)
            img = np.zeros((h, w, 3), np.uint8)
            img[(h - nh) // 2 : (h - nh) // 2 + nh, (w - nw) // 2 : (w - nw) // 2 + nw] = small
        else:
            img = cv2.resize(crop, (w, h), interpolation=cv2.INTER_LINEAR)
        if self.image_color_mode == "rgb":
            return img[:, :, ::-1].copy()
        return cv2.cvtColor(img, cv2.COLOR_BGR2GRAY)[:, :, None]

    def to_slot_logits(self, out: np.ndarray) -> tuple[np.ndarray, str]:
        """Model output (N, slots × A) or (N, slots, A) probabilities → log-probabilities (N, slots, A) with the
        pad moved last, and the alphabet without the pad: the layout :func:`decode_slots` reads."""
        probs = np.asarray(out, np.float32).reshape(out.shape[0], self.max_plate_slots, len(self.alphabet))
        pad = self.alphabet.index(self.pad_char)
        order = [i for i in range(len(self.alphabet)) if i != pad] + [pad]
        return np.log(np.clip(probs[:, :, order], 1e-9, 1.0)), "".join(self.alphabet[i] for i in order[:-1])
