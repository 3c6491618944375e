"""The dataset manifest: plateforge's one internal currency for labelled plate images.

A manifest is a JSONL file, one image per line (see ``docs/manifest.md``)::

    {"image": "images/0001.jpg", "width": 640, "height": 480, "group": null,
     "plates": [{"box": [x1, y1, x2, y2], "corners": [[x, y], [x, y], [x, y], [x, y]],
                 "text": "AB12345", "region": "uae-dubai", "layout": "one_line"}]}

- ``box`` is xyxy in pixels of the image as stored on disk (x right, y down, origin at the top-left corner).
- ``corners`` are the plate's 4 corners in pixels ordered TL, TR, BR, BL (as read on the plate), or null.
- ``text`` is the plate text without spaces (``?`` marks a character that is masked or unreadable), or null.
- ``region`` is a lowercase code, group first: ``uae-dubai``, ``ch``, ``eu-de``, ``us-ny``, ``br``, ``ru``; or null.
- ``layout`` is ``"one_line"``, ``"two_line"`` or null.
- ``ignore`` (optional, default false): true marks a region the labels leave out on purpose (an unlabelled
  distant plate); detector training and evaluation neither reward nor penalise a detection there.
- ``plates`` is null for an unlabelled image (a calibration frame); ``[]`` means "labelled, no plate".
- ``group`` (optional) names a set of images that must stay in one split (near-duplicates, one video, ...).

Image paths are written relative to the manifest's folder when the image lies under it, else absolute;
:func:`read_manifest` returns them absolute.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path

import cv2
import numpy as np

from plateforge.data.errors import BadItems, DataError

LAYOUTS = ("one_line", "two_line")
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff")
BOX_TOLERANCE_PX = 1.0  # a box may exceed the image by this much (rounding in other tools); it is clipped


@dataclass(frozen=True)
class PlateLabel:
    """One plate. ``box`` xyxy pixels; ``corners`` TL, TR, BR, BL pixels or None. ``ignore``: a region the
    labels leave out on purpose (an unlabelled distant plate, COCO ``iscrowd``, VOC ``difficult``): detector
    training neither rewards nor penalises a detection there, and detector evaluation counts it neither as a
    hit nor as a miss."""

    box: tuple[float, float, float, float]
    corners: tuple[tuple[float, float], ...] | None = None
    text: str | None = None
    region: str | None = None
    layout: str | None = None
    ignore: bool = False

    def to_dict(self) -> dict:
        d = {
            "box": [_num(v) for v in self.box],
            "corners": None if self.corners is None else [[_num(x), _num(y)] for x, y in self.corners],
            "text": self.text,
            "region": self.region,
            "layout": self.layout,
        }
        if self.ignore:  # written only when set, so manifests without ignore regions stay as they were
            d["ignore"] = True
        return d


@dataclass(frozen=True)
class ImageRecord:
    """One image and its plates. ``image`` is a path; ``width``/``height`` in pixels; ``plates`` None = unlabelled."""

    image: str
    width: int
    height: int
    plates: tuple[PlateLabel, ...] | None = ()
    group: str | None = None
    meta: dict = field(default_factory=dict, compare=False)

    def to_dict(self, base_dir: Path | None = None) -> dict:
        d = {
            "image": _portable_path(self.image, base_dir),
            "width": self.width,
            "height": self.height,
            "plates": None if self.plates is None else [p.to_dict() for p in self.plates],
        }
        if self.group is not None:
            d["group"] = self.group
        if self.meta:
            d["meta"] = self.meta
        return d


def _num(v: float) -> float | int:
    """Round coordinates to 1/1000 px so manifests stay readable and diffs stable."""
    r = round(float(v), 3)
    return int(r) if r.is_integer() else r


def _portable_path(image: str, base_dir: Path | None) -> str:
    if base_dir is None:
        return image
    p = Path(image).resolve()
    try:
        return p.relative_to(base_dir.resolve()).as_posix()
    except ValueError:
        return str(p)


def plate_from_dict(d: dict, where: str) -> PlateLabel:
    """Parse and type-check one plate dict (the manifest's format); raise :class:`DataError` naming ``where``."""
    if not isinstance(d, dict):
        raise DataError(where, f"a plate must be an object, got {type(d).__name__}")
    box = d.get("box")
    if not (isinstance(box, list | tuple) and len(box) == 4):
        raise DataError(where, f"plate 'box' must be [x1, y1, x2, y2], got {box!r}")
    corners = d.get("corners")
    if corners is not None:
        ok = isinstance(corners, list | tuple) and len(corners) == 4
        ok = ok and all(isinstance(c, list | tuple) and len(c) == 2 for c in corners)
        if not ok:
            raise DataError(where, f"plate 'corners' must be 4 [x, y] points TL,TR,BR,BL or null, got {corners!r}")
        corners = tuple((float(x), float(y)) for x, y in corners)
    text = d.get("text")
    if text is not None and not isinstance(text, str):
        raise DataError(where, f"plate 'text' must be a string or null, got {text!r}")
    layout = d.get("layout")
    if layout is not None and layout not in LAYOUTS:
        raise DataError(where, f"plate 'layout' must be one of {LAYOUTS} or null, got {layout!r}")
    region = d.get("region")
    if region is not None and not (isinstance(region, str) and region == region.lower() and region):
        raise DataError(where, f"plate 'region' must be a lowercase code such as 'uae-dubai', got {region!r}")
    ignore = d.get("ignore", False)
    if not isinstance(ignore, bool):
        raise DataError(where, f"plate 'ignore' must be true or false, got {ignore!r}")
    try:
        box_t = tuple(float(v) for v in box)
    except (TypeError, ValueError) as e:
        raise DataError(where, f"plate 'box' has a non-number: {box!r}") from e
    return PlateLabel(box=box_t, corners=corners, text=text, region=region, layout=layout, ignore=ignore)


def check_plate(plate: PlateLabel, width: int, height: int, where: str) -> PlateLabel:
    """Check a plate against its image size; clip a box that exceeds the image by ≤ 1 px.

    Raises :class:`DataError` for non-finite numbers, an empty box (x2 ≤ x1 or y2 ≤ y1), or a box or
    corner more than ``BOX_TOLERANCE_PX`` outside the ``width`` × ``height`` image.
    """
    x1, y1, x2, y2 = plate.box
    values = list(plate.box) + ([v for c in plate.corners for v in c] if plate.corners else [])
    if not all(math.isfinite(v) for v in values):
        raise DataError(where, f"plate has a non-finite coordinate: box {list(plate.box)}")
    if x2 <= x1 or y2 <= y1:
        raise DataError(where, f"empty box {_fmt_box(plate.box)} (need x2 > x1 and y2 > y1, xyxy pixels)")
    t = BOX_TOLERANCE_PX
    if x1 < -t or y1 < -t or x2 > width + t or y2 > height + t:
        raise DataError(where, f"box {_fmt_box(plate.box)} lies outside the {width}x{height} image")
    if plate.corners is not None:
        for x, y in plate.corners:
            if x < -t or y < -t or x > width + t or y > height + t:
                raise DataError(where, f"corner ({x:g}, {y:g}) lies outside the {width}x{height} image")
    clipped = (max(0.0, x1), max(0.0, y1), min(float(width), x2), min(float(height), y2))
    if clipped != plate.box:
        plate = replace(plate, box=clipped)
    return plate


def _fmt_box(box: Iterable[float]) -> str:
    return "[" + ", ".join(f"{v:g}" for v in box) + "]"


def probe_image(path: str | os.PathLike, where: str | None = None) -> tuple[int, int]:
    """Return ``(width, height)`` in pixels of an image file, decoding it fully to prove it is readable.

    Raises :class:`DataError` (naming ``where`` or the path) when the file is missing, empty, not an image,
    or a truncated JPEG/PNG.
    """
    where = where or str(path)
    p = Path(path)
    if not p.is_file():
        raise DataError(where, f"image file not found: {p}")
    data = p.read_bytes()
    if not data:
        raise DataError(where, f"image file is empty (0 bytes): {p}")
    img = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED)
    if img is None:
        raise DataError(where, f"not a readable image: {p}")
    if data[:2] == b"\xff\xd8" and b"\xff\xd9" not in data[-64:]:
        raise DataError(where, f"truncated JPEG (no end-of-image marker): {p}")
    if data[:8] == b"\x89PNG\r\n\x1a\n" and b"IEND" not in data[-32:]:
        raise DataError(where, f"truncated PNG (no IEND chunk): {p}")
    return int(img.shape[1]), int(img.shape[0])


def record_from_dict(d: dict, base_dir: Path, where: str) -> ImageRecord:
    """Parse one manifest line (already JSON-decoded); image paths resolve against ``base_dir``."""
    if not isinstance(d, dict):
        raise DataError(where, "each line must be a JSON object")
    for key in ("image", "width", "height"):
        if key not in d:
            raise DataError(where, f"missing key '{key}'")
    image = str(d["image"])
    if not os.path.isabs(image):
        image = str((base_dir / image).resolve())
    try:
        width, height = int(d["width"]), int(d["height"])
    except (TypeError, ValueError) as e:
        raise DataError(where, f"width/height must be integers, got {d['width']!r}/{d['height']!r}") from e
    if width <= 0 or height <= 0:
        raise DataError(where, f"image size must be positive, got {width}x{height}")
    raw = d.get("plates", [])
    if raw is None:
        plates = None
    elif isinstance(raw, list):
        plates = tuple(
            check_plate(plate_from_dict(p, f"{where} plate {i}"), width, height, f"{where} plate {i}")
            for i, p in enumerate(raw)
        )
    else:
        raise DataError(where, f"'plates' must be a list or null, got {type(raw).__name__}")
    group = d.get("group")
    return ImageRecord(image, width, height, plates, None if group is None else str(group), d.get("meta") or {})


def iter_manifest(path: str | os.PathLike, bad: BadItems | None = None) -> Iterator[ImageRecord]:
    """Yield the records of a manifest JSONL file; bad lines go to ``bad`` (raise by default)."""
    bad = BadItems() if bad is None else bad
    path = Path(path)
    if not path.is_file():
        raise DataError(str(path), "manifest file not found")
    base = path.parent
    with path.open(encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            if not line.strip():
                continue
            where = f"{path}:{n}"
            try:
                d = json.loads(line)
            except json.JSONDecodeError as e:
                bad.report(DataError(where, f"not valid JSON ({e.msg} at column {e.colno})"))
                continue
            try:
                yield record_from_dict(d, base, where)
            except DataError as e:
                bad.report(e)


def read_manifest(path: str | os.PathLike, bad: BadItems | None = None) -> list[ImageRecord]:
    """Read a whole manifest JSONL file into a list of :class:`ImageRecord` (image paths absolute)."""
    return list(iter_manifest(path, bad))


def write_manifest(records: Iterable[ImageRecord], path: str | os.PathLike, overwrite: bool = False) -> int:
    """Write records as JSONL; refuse to replace an existing file unless ``overwrite``. Returns the count."""
    path = Path(path)
    if path.exists() and not overwrite:
        raise FileExistsError(f"{path} exists; pass --overwrite to replace it")
    path.parent.mkdir(parents=True, exist_ok=True)
    base = path.parent
    n = 0
    tmp = path.with_name(path.name + ".tmp")
    with tmp.open("w", encoding="utf-8") as f:
        for rec in records:
            f.write(json.dumps(rec.to_dict(base), ensure_ascii=False) + "\n")
            n += 1
    tmp.replace(path)
    return n


def list_images(root: str | os.PathLike) -> list[Path]:
    """All image files under ``root`` (recursive), sorted by path."""
    root = Path(root)
    return sorted(p for p in root.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file())
