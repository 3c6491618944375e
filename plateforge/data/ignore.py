"""Mark the plates a dataset's labels leave out as ignore regions, so detector training stops learning them as
background.

Many real sets label only the plates someone could read: the distant plates of parked cars go unlabelled
(uc3m-lp's 320-px scenes are full of them). Trained on such photos, a detector learns that small plates are
background, and its scores on every small plate fall. :func:`mark_unlabelled` runs a detector over each
labelled image and adds each detection that overlaps no labelled plate as a plate with ``ignore: true``
(box only): training neither rewards nor penalises a detection there (``plateforge.train.det_loss``).
Look at what it marked before training on it (``plateforge read --save-annotated`` draws the same boxes).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

import numpy as np

from plateforge.data.manifest import ImageRecord, PlateLabel
from plateforge.ops.boxes import box_iou


def unlabelled_boxes(
    labelled: np.ndarray, found: np.ndarray, max_iou: float = 0.1, max_height: float | None = None
) -> np.ndarray:
    """The rows of ``found`` (K, 4) xyxy pixels that overlap every row of ``labelled`` (M, 4) xyxy at IoU
    below ``max_iou`` and, with ``max_height``, are lower than that many pixels."""
    found = np.asarray(found, np.float32).reshape(-1, 4)
    labelled = np.asarray(labelled, np.float32).reshape(-1, 4)
    keep = np.ones(len(found), bool)
    if len(labelled) and len(found):
        keep &= box_iou(found, labelled).max(1) < max_iou
    if max_height is not None:
        keep &= (found[:, 3] - found[:, 1]) < max_height
    return found[keep]


def mark_unlabelled(
    records: Iterable[ImageRecord],
    detect: Callable[[str], np.ndarray],
    max_iou: float = 0.1,
    max_height: float | None = None,
    failed: list[str] | None = None,
) -> tuple[list[ImageRecord], int]:
    """Records with each box ``detect(image path)`` returns ((K, 4) xyxy pixels) that no labelled or ignored
    plate overlaps at IoU ≥ ``max_iou`` added as an ignore plate; unlabelled images (``plates`` None) pass
    unchanged. An image ``detect`` cannot read (ValueError) keeps its record unchanged and its message goes to
    ``failed``, so one bad file neither stops the run nor drops a record. Returns the records and the number
    of ignore plates added."""
    out, added = [], 0
    for rec in records:
        if rec.plates is None:
            out.append(rec)
            continue
        try:
            found = detect(rec.image)
        except ValueError as e:
            if failed is None:
                raise
            failed.append(str(e))
            out.append(rec)
            continue
        known = np.array([p.box for p in rec.plates], np.float32).reshape(-1, 4)
        new = unlabelled_boxes(known, found, max_iou, max_height)
        new = np.clip(new, 0, [rec.width, rec.height, rec.width, rec.height])
        new = new[((new[:, 2:] - new[:, :2]) > 0).all(1)]
        marks = tuple(PlateLabel(tuple(float(v) for v in b), ignore=True) for b in new)
        added += len(marks)
        out.append(ImageRecord(rec.image, rec.width, rec.height, rec.plates + marks, rec.group, rec.meta))
    return out, added
