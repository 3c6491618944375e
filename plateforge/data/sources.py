"""One entry point for every dataset format: :func:`load_dataset` reads any supported source into records."""

from __future__ import annotations

import os
from pathlib import Path

from plateforge.data.coco import read_coco
from plateforge.data.crops_csv import read_crops_csv
from plateforge.data.errors import BadItems, DataError
from plateforge.data.manifest import ImageRecord, read_manifest
from plateforge.data.uc3m import read_uc3m_ocr, read_uc3m_scenes
from plateforge.data.voc import read_voc
from plateforge.data.yolo import read_yolo

FORMATS = ("manifest", "voc", "coco", "yolo", "crops-csv", "uc3m-ocr", "uc3m-scenes")


def detect_format(src: str | os.PathLike) -> str:
    """Guess a source's format from its name and contents: ``.jsonl`` manifest, ``.json`` COCO, ``.csv`` crops,
    a folder with ``.xml`` files VOC, a folder with a ``labels/`` tree or ``.txt`` labels YOLO."""
    p = Path(src)
    if not p.exists():
        raise DataError(str(p), "dataset source not found")
    suffix = p.suffix.lower()
    if p.is_file():
        by_suffix = {".jsonl": "manifest", ".json": "coco", ".csv": "crops-csv", ".xml": "voc"}
        if suffix in by_suffix:
            return by_suffix[suffix]
        raise DataError(str(p), "cannot tell the format of this file; pass --format")
    if next(p.rglob("*.xml"), None) is not None:
        return "voc"
    if (p / "labels").is_dir() or next(p.rglob("*.txt"), None) is not None:
        return "yolo"
    raise DataError(str(p), "cannot tell the dataset format of this folder; pass --format")


def load_dataset(
    src: str | os.PathLike,
    fmt: str | None = None,
    bad: BadItems | None = None,
    classes: list[str] | None = None,
    images_dir: str | os.PathLike | None = None,
) -> list[ImageRecord]:
    """Read a dataset in ``fmt`` (one of :data:`FORMATS`; guessed when None) into manifest records.

    ``classes`` keeps only those class names (VOC, COCO) or ids (YOLO); ``images_dir`` tells where images
    live when the annotation files do not say (VOC, COCO, crops CSV).
    """
    fmt = fmt or detect_format(src)
    if fmt not in FORMATS:
        raise ValueError(f"unknown dataset format {fmt!r}; choose one of {', '.join(FORMATS)}")
    bad = BadItems() if bad is None else bad
    if fmt == "manifest":
        return read_manifest(src, bad)
    if fmt == "voc":
        return read_voc(src, bad, classes, images_dir)
    if fmt == "coco":
        return read_coco(src, bad, classes, images_dir)
    if fmt == "yolo":
        return read_yolo(src, bad, [int(c) for c in classes] if classes else None)
    if fmt == "uc3m-ocr":
        return read_uc3m_ocr(src, bad)
    if fmt == "uc3m-scenes":
        return read_uc3m_scenes(src, bad)
    return read_crops_csv(src, bad, images_dir)


def parse_source(spec: str) -> tuple[str | None, str]:
    """Split ``FORMAT:PATH`` (``coco:ann.json``) into its parts; a plain path gives ``(None, path)``."""
    head, sep, tail = spec.partition(":")
    if sep and head in FORMATS:
        return head, tail
    return None, spec
