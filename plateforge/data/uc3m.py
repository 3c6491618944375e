"""UC3M-LP (Spanish plates). OCR crops: ``OCR/images/<subset>/<stem>_<T><D|N>-<plate>.jpg``; scenes:
``LP/images/<subset>/<stem>.jpg`` with YOLO boxes (the crops of a scene share its stem).

``T`` is the plate type (A car, B two-row motorcycle, C moped, D taxi, E trailer), ``D``/``N`` day or night,
and ``<plate>`` the plate text with ``-`` where the dataset masked a character (2 per plate): those become
``?`` so training and metrics skip them. Region ``eu-es``; layout two_line for type B, else one_line.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from plateforge.data.errors import BadItems, DataError
from plateforge.data.manifest import ImageRecord, PlateLabel, list_images, probe_image
from plateforge.progress import progress

NAME = re.compile(r"^(?P<stem>\d+)_(?P<type>[A-E])(?P<light>[DN])-(?P<plate>[0-9A-Z-]{6,9})$")


def read_uc3m_ocr(src: str | os.PathLike, bad: BadItems | None = None) -> list[ImageRecord]:
    """Import the crops under ``src`` (the ``OCR`` folder or one of its image folders)."""
    bad = BadItems() if bad is None else bad
    root = Path(src)
    if not root.is_dir():
        raise DataError(str(root), "UC3M-LP OCR folder not found")
    images = list_images(root)
    if not images:
        raise DataError(str(root), "no images found")
    records = []
    for image in progress(images, "reading UC3M-LP OCR"):
        m = NAME.match(image.stem)
        if m is None:
            bad.report(DataError(str(image), "file name does not follow <stem>_<type><D|N>-<plate>"))
            continue
        try:
            width, height = probe_image(image)
        except DataError as e:
            bad.report(e)
            continue
        text = m["plate"].replace("-", "?")
        layout = "two_line" if m["type"] == "B" else "one_line"
        plate = PlateLabel((0.0, 0.0, float(width), float(height)), None, text, "eu-es", layout)
        meta = {"subset": image.parent.name, "type": m["type"], "light": "night" if m["light"] == "N" else "day"}
        records.append(ImageRecord(str(image.resolve()), width, height, (plate,), meta=meta))
    return records


def uc3m_scene_records(root: str | os.PathLike, split: str = "val") -> list[ImageRecord]:
    """Scenes of the official ``split`` with exactly one plate box and one OCR crop, so the crop's text
    belongs to that box: one record per scene, its plate with box (xyxy pixels), text (``?`` masked), region
    ``eu-es`` and layout. The dataset paints a grey block over each masked character in the photo itself."""
    import cv2

    root = Path(root)
    crops: dict[str, list[re.Match]] = {}
    for crop in sorted((root / "OCR" / "images" / split).glob("*.jpg")):
        m = NAME.match(crop.stem)
        if m:
            crops.setdefault(m["stem"], []).append(m)
    records = []
    for img in sorted((root / "LP" / "images" / split).glob("*.jpg")):
        label = root / "LP" / "labels" / split / f"{img.stem}.txt"
        lines = [ln.split() for ln in label.read_text().splitlines() if ln.strip()] if label.exists() else []
        if len(lines) != 1 or len(crops.get(img.stem, [])) != 1:
            continue
        shape = cv2.imread(str(img), cv2.IMREAD_UNCHANGED).shape
        h, w = shape[:2]
        _, xc, yc, bw, bh = map(float, lines[0])
        box = ((xc - bw / 2) * w, (yc - bh / 2) * h, (xc + bw / 2) * w, (yc + bh / 2) * h)
        m = crops[img.stem][0]
        layout = "two_line" if m["type"] == "B" else "one_line"
        plate = PlateLabel(box, None, m["plate"].replace("-", "?"), "eu-es", layout)
        records.append(ImageRecord(str(img.resolve()), w, h, (plate,), meta={"subset": split}))
    return records


def read_uc3m_scenes(src: str | os.PathLike, bad: BadItems | None = None) -> list[ImageRecord]:
    """The single-plate scenes of both official splits (``meta.subset`` train / val) with their plate texts;
    ``src`` is the UC3M-LP root (holding ``LP/`` and ``OCR/``)."""
    root = Path(src)
    if not (root / "LP").is_dir() or not (root / "OCR").is_dir():
        raise DataError(str(root), "not a UC3M-LP root: expected LP/ and OCR/ inside")
    return uc3m_scene_records(root, "train") + uc3m_scene_records(root, "val")
