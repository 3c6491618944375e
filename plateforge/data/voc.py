"""Pascal VOC XML importer: one XML per image, ``<object><name>..</name><bndbox>xmin ymin xmax ymax</bndbox>``.

Boxes are read as xyxy pixels exactly as written (VOC's 1-based convention is not shifted: the tools that
make plate datasets write pixel edges). Images are found next to the XML, or in ``images/`` or
``JPEGImages/`` beside the annotations folder.
"""

from __future__ import annotations

import os
import xml.etree.ElementTree as ET
from pathlib import Path

from plateforge.data.errors import BadItems, DataError
from plateforge.data.manifest import ImageRecord, PlateLabel, check_plate, probe_image
from plateforge.progress import progress


def _find_image(xml_path: Path, filename: str, images_dir: Path | None) -> Path | None:
    candidates = []
    if images_dir is not None:
        candidates.append(images_dir / filename)
    d = xml_path.parent
    candidates += [d / filename, d.parent / "images" / filename, d.parent / "JPEGImages" / filename]
    return next((c for c in candidates if c.is_file()), None)


def read_voc(
    src: str | os.PathLike,
    bad: BadItems | None = None,
    classes: list[str] | None = None,
    images_dir: str | os.PathLike | None = None,
) -> list[ImageRecord]:
    """Import every ``*.xml`` under ``src``; ``classes`` keeps only objects with those names (default: all)."""
    bad = BadItems() if bad is None else bad
    src = Path(src)
    if not src.exists():
        raise DataError(str(src), "VOC folder not found")
    xmls = sorted(src.rglob("*.xml")) if src.is_dir() else [src]
    if not xmls:
        raise DataError(str(src), "no .xml annotation files found (expected Pascal VOC)")
    img_dir = Path(images_dir) if images_dir else None
    records = []
    for xml_path in progress(xmls, "reading VOC"):
        try:
            records.append(_read_one(xml_path, classes, img_dir))
        except DataError as e:
            bad.report(e)
    return records


def _read_one(xml_path: Path, classes: list[str] | None, images_dir: Path | None) -> ImageRecord:
    where = str(xml_path)
    try:
        root = ET.parse(xml_path).getroot()
    except ET.ParseError as e:
        raise DataError(where, f"malformed XML ({e})") from e
    filename = root.findtext("filename")
    if not filename:
        raise DataError(where, "no <filename> element")
    image = _find_image(xml_path, filename.strip(), images_dir)
    if image is None:
        raise DataError(where, f"image '{filename}' not found beside the XML or in images/ or JPEGImages/")
    width, height = probe_image(image, f"{where} (image {image})")
    size_w, size_h = root.findtext("size/width"), root.findtext("size/height")
    if size_w and size_h and (int(float(size_w)), int(float(size_h))) not in ((width, height), (0, 0)):
        raise DataError(where, f"<size> says {size_w}x{size_h} but the image {image} is {width}x{height}")
    plates = []
    for i, obj in enumerate(root.iter("object")):
        name = (obj.findtext("name") or "").strip()
        if classes and name not in classes:
            continue
        w = f"{where} object {i} ('{name}')"
        bb = obj.find("bndbox")
        if bb is None:
            raise DataError(w, "object has no <bndbox>")
        try:
            box = tuple(float(bb.findtext(k)) for k in ("xmin", "ymin", "xmax", "ymax"))
        except (TypeError, ValueError) as e:
            raise DataError(w, "<bndbox> needs numeric xmin, ymin, xmax, ymax") from e
        difficult = (obj.findtext("difficult") or "0").strip() == "1"  # VOC's "leave out of scoring"
        plates.append(check_plate(PlateLabel(box=box, ignore=difficult), width, height, w))
    return ImageRecord(str(image.resolve()), width, height, tuple(plates))
