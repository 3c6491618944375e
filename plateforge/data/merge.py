"""Merge several datasets (any supported formats) into one YOLO-style tree with one manifest."""

from __future__ import annotations

import os
from pathlib import Path

from plateforge.data.errors import BadItems
from plateforge.data.manifest import ImageRecord
from plateforge.data.sources import load_dataset, parse_source
from plateforge.data.yolo import write_yolo


def merge_datasets(
    sources: list[str], out: str | os.PathLike, overwrite: bool = False, bad: BadItems | None = None
) -> list[ImageRecord]:
    """Read each source (``PATH`` or ``FORMAT:PATH``) and write them together as a YOLO tree under ``out``
    (``images/``, ``labels/``, ``data.yaml``, ``all.jsonl`` with the full labels). Clashing file names are
    made unique; ``meta["source"]`` records where each image came from. Refuses a non-empty ``out``
    unless ``overwrite``.
    """
    if not sources:
        raise ValueError("merge needs at least one source")
    out = Path(out)
    if out.exists() and any(out.iterdir()) and not overwrite:
        raise FileExistsError(f"{out} exists and is not empty; pass --overwrite to replace it")
    records = []
    for spec in sources:
        fmt, path = parse_source(spec)
        for r in load_dataset(path, fmt, bad):
            records.append(ImageRecord(r.image, r.width, r.height, r.plates, r.group, {**r.meta, "source": spec}))
    write_yolo(records, out, overwrite=overwrite)
    return records
