"""UC3M-LP (Spanish plates). OCR crops: ``OCR/images/<subset>/<stem>_<T><D|N>-<plate>.jpg``; scenes:
``LP/images/<subset>/<stem>.jpg`` with YOLO boxes (the crops of a scene share its stem).

``T`` is the plate type (A car, B two-row motorcycle, C moped, D taxi, E trailer), ``D``/``N`` day or night,
and ``<plate>`` the plate text with ``-`` where the dataset masked a character (2 per plate): those become
``?`` so training and metrics skip them. Region ``eu-es``; layout two_line for type B, else one_line.
"""

from __future__ import annotations

import dataclasses
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


def read_uc3m_scenes(src: str | os.PathLike, bad: BadItems | None = None) -> list[ImageRecord]:
    """Scenes of both official splits (``meta.subset`` train / val) with exactly one plate box and one OCR
    crop, so the crop's text belongs to that box: the box from ``LP/`` (YOLO), the text (``?`` masked),
    region and layout from the crop's name in ``OCR/``. ``src`` is the UC3M-LP root. The dataset paints a
    grey block over each masked character in the photo itself."""
    from plateforge.data.yolo import read_yolo

    root = Path(src)
    if not (root / "LP").is_dir() or not (root / "OCR").is_dir():
        raise DataError(str(root), "not a UC3M-LP root: expected LP/ and OCR/ inside")
    texts: dict[str, list[PlateLabel]] = {}
    for crop in read_uc3m_ocr(root / "OCR", bad):
        texts.setdefault(NAME.match(Path(crop.image).stem)["stem"], []).append(crop.plates[0])
    records = []
    for scene in read_yolo(root / "LP", bad):
        known = texts.get(Path(scene.image).stem, [])
        if len(scene.plates or ()) != 1 or len(known) != 1:
            continue
        t = known[0]
        plate = dataclasses.replace(scene.plates[0], text=t.text, region=t.region, layout=t.layout)
        records.append(dataclasses.replace(scene, plates=(plate,), meta={"subset": scene.meta.get("subset")}))
    return records


def uc3m_scene_records(root: str | os.PathLike, split: str = "val") -> list[ImageRecord]:
    """The :func:`read_uc3m_scenes` records of one official split."""
    return [r for r in read_uc3m_scenes(root) if r.meta.get("subset") == split]
