"""Optional vehicle stage: any Ultralytics-format YOLO ONNX (raw ``[1, 4 + nc, N]`` or end-to-end
``[1, K, 6]``) finds vehicles, and plates are searched inside each vehicle box.

Searching inside vehicles helps twice: a far vehicle's crop is letterboxed to the plate detector's input
at a larger scale than the whole frame (small plates get more pixels), and each plate knows its vehicle
(class, box) for the event. Boxes are xyxy pixels of the original BGR image.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np

from plateforge.ops.boxes import box_area, nms
from plateforge.runtime.foreign import ForeignDetector, _literal
from plateforge.runtime.images import ImageInput, load_image
from plateforge.runtime.session import create_session
from plateforge.types import Detection

COCO_VEHICLES = {2: "car", 3: "motorcycle", 5: "bus", 7: "truck"}


@dataclass(frozen=True)
class Vehicle:
    """``box`` xyxy pixels; ``score`` 0..1; ``class_id`` and ``label`` from the model's class names."""

    box: tuple[float, float, float, float]
    score: float
    class_id: int
    label: str

    def to_dict(self) -> dict:
        return {"box": [round(v, 1) for v in self.box], "score": round(self.score, 4), "label": self.label}


class VehicleDetector:
    """``model``: an Ultralytics YOLO ONNX; ``classes``: class ids to keep (default: COCO car, motorcycle,
    bus, truck); ``conf``: score threshold; ``iou``: NMS overlap; ``threads``: ONNX Runtime threads."""

    def __init__(
        self,
        model: str | os.PathLike,
        classes: list[int] | None = None,
        conf: float = 0.3,
        iou: float = 0.5,
        threads: int | None = None,
    ):
        self.path = str(model)
        if not os.path.isfile(self.path):
            raise FileNotFoundError(f"vehicle model not found: {self.path}")
        self.session = create_session(self.path, threads)
        try:
            self.format = ForeignDetector.from_session(self.session)
        except ValueError as e:
            raise ValueError(f"{self.path}: not an Ultralytics-format detector: {e}") from None
        if self.format.kind == "oim_e2e":
            raise ValueError(f"{self.path}: a plate model (open-image-models), not a vehicle detector")
        names = _literal(self.session.get_modelmeta().custom_metadata_map.get("names")) or {}
        self.names = {int(k): str(v) for k, v in names.items()} if isinstance(names, dict) else {}
        self.classes = set(classes if classes is not None else COCO_VEHICLES)
        self.conf, self.iou = conf, iou
        self.input_name = self.session.get_inputs()[0].name

    def detect(self, image: ImageInput) -> list[Vehicle]:
        """Vehicles of the kept classes, best score first."""
        img = load_image(image)
        x, lb = self.format.preprocess(img)
        out = self.session.run(None, {self.input_name: x})[0]
        boxes, scores, _, cls = self.format.decode(out, lb, self.conf, self.iou, 100, self.classes)
        h, w = img.shape[:2]
        boxes = np.clip(boxes, 0, [w, h, w, h]) if len(boxes) else boxes
        return [
            Vehicle(
                tuple(float(v) for v in b), float(s), int(c), self.names.get(int(c), COCO_VEHICLES.get(int(c), str(c)))
            )
            for b, s, c in zip(boxes, scores, cls, strict=True)
        ]


def plates_in_vehicles(
    plate_detector, image: np.ndarray, vehicles: list[Vehicle], margin: float = 0.05, dedupe_iou: float = 0.5
) -> list[tuple[Detection, int]]:
    """Run ``plate_detector`` on each vehicle crop (grown by ``margin`` of its size) of a BGR ``image``;
    returns (plate in image pixels, index of its vehicle). A plate found in two overlapping vehicles
    (IoU above ``dedupe_iou``) is kept once (NMS), with the smallest vehicle that contains its centre."""
    h, w = image.shape[:2]
    found: list[tuple[Detection, int]] = []
    for vi, v in enumerate(vehicles):
        x1, y1, x2, y2 = v.box
        mx, my = (x2 - x1) * margin, (y2 - y1) * margin
        cx1, cy1 = int(max(0, x1 - mx)), int(max(0, y1 - my))
        cx2, cy2 = int(min(w, x2 + mx)), int(min(h, y2 + my))
        if cx2 - cx1 < 8 or cy2 - cy1 < 8:
            continue
        for d in plate_detector.detect(image[cy1:cy2, cx1:cx2]):
            box = (d.box[0] + cx1, d.box[1] + cy1, d.box[2] + cx1, d.box[3] + cy1)
            corners = tuple((x + cx1, y + cy1) for x, y in d.corners)
            found.append((Detection(box, corners, d.score), vi))
    if not found:
        return []
    boxes = np.array([d.box for d, _ in found], np.float32)
    areas = box_area(np.array([v.box for v in vehicles], np.float32))
    kept: list[tuple[Detection, int]] = []
    for k in nms(boxes, np.array([d.score for d, _ in found], np.float32), dedupe_iou):
        det, vi = found[k]
        cx, cy = (det.box[0] + det.box[2]) / 2, (det.box[1] + det.box[3]) / 2
        holders = [i for i, v in enumerate(vehicles) if v.box[0] <= cx <= v.box[2] and v.box[1] <= cy <= v.box[3]]
        kept.append((det, min(holders, key=lambda i: areas[i]) if holders else vi))
    return kept
