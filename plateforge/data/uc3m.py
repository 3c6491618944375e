"""UC3M-LP OCR crops (Spanish plates): ``OCR/images/<subset>/<stem>_<T><D|N>-<plate>.jpg``.

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
