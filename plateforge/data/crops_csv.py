"""CSV of plate crops with their text (recognizer data), e.g. ``image,state,text`` or ``image,text,region``.

Columns: ``image`` (path relative to the CSV's folder, its ``images/`` folder, or ``images_dir``) and
``text`` are required; ``region`` (used as is), ``state`` (a US state: region ``us-<state>``), and
``layout`` are optional. A row whose ``review`` is ``drop`` (a harvest's crop a person found to be no
plate, :mod:`plateforge.data.review`) is left out. Each crop becomes one record whose single plate box is the
whole image; corners are unknown (null). Spaces and dashes in the text are removed, letters upper-cased.
"""

from __future__ import annotations

import csv
import os
from pathlib import Path

from plateforge.data.errors import BadItems, DataError
from plateforge.data.manifest import LAYOUTS, ImageRecord, PlateLabel, probe_image


def normalise_text(text: str) -> str:
    """Plate text as plateforge stores it: upper-case, no spaces or dashes."""
    return "".join(text.split()).replace("-", "").upper()


def read_crops_csv(
    src: str | os.PathLike, bad: BadItems | None = None, images_dir: str | os.PathLike | None = None
) -> list[ImageRecord]:
    """Import a CSV of plate crops; see the module docstring for the columns."""
    bad = BadItems() if bad is None else bad
    path = Path(src)
    if not path.is_file():
        raise DataError(str(path), "CSV file not found")
    roots = ([Path(images_dir)] if images_dir else []) + [path.parent, path.parent / "images"]
    with path.open(newline="", encoding="utf-8") as f:
        reader = csv.DictReader(f)
        missing = {"image", "text"} - set(reader.fieldnames or [])
        if missing:
            raise DataError(f"{path}:1", f"header lacks column(s) {sorted(missing)}; got {reader.fieldnames}")
        records = []
        for row in reader:
            where = f"{path}:{reader.line_num}"
            if (row.get("review") or "").strip().lower() == "drop":
                continue
            try:
                records.append(_record(row, roots, where))
            except DataError as e:
                bad.report(e)
    return records


def _record(row: dict, roots: list[Path], where: str) -> ImageRecord:
    name = (row.get("image") or "").strip()
    text = normalise_text(row.get("text") or "")
    if not name:
        raise DataError(where, "empty 'image' cell")
    if not text:
        raise DataError(where, f"empty 'text' for image {name!r}")
    file = next((r / name for r in roots if (r / name).is_file()), None)
    if file is None:
        raise DataError(where, f"image {name!r} not found under {', '.join(map(str, roots))}")
    width, height = probe_image(file, where)
    region = (row.get("region") or "").strip().lower() or None
    if region is None and (row.get("state") or "").strip():
        region = f"us-{row['state'].strip().lower()}"
    layout = (row.get("layout") or "").strip() or None
    if layout is not None and layout not in LAYOUTS:
        raise DataError(where, f"'layout' must be one of {LAYOUTS}, got {layout!r}")
    plate = PlateLabel((0.0, 0.0, float(width), float(height)), None, text, region, layout)
    return ImageRecord(str(file.resolve()), width, height, (plate,))
