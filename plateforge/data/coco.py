"""COCO JSON datasets: import and export.

- ``bbox`` is COCO's ``[x, y, w, h]`` in pixels; the manifest uses xyxy.
- The 4 plate corners travel as COCO keypoints ``[x, y, v] × 4`` in the order TL, TR, BR, BL (``v = 0``:
  unknown), with the category's ``keypoints`` naming them.
- Text, region and layout travel in each annotation's ``attributes`` (as CVAT writes them).

An error in any annotation of an image (missing file, box outside the image, unknown image id) leaves the
whole image out and is reported, so no image enters a dataset with a plate silently unlabelled.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from plateforge.data.errors import BadItems, DataError
from plateforge.data.files import place_image, prepare_out_dir, unique_names
from plateforge.data.manifest import LAYOUTS, ImageRecord, PlateLabel, check_plate, probe_image
from plateforge.progress import progress

CORNER_NAMES = ["top_left", "top_right", "bottom_right", "bottom_left"]


def _image_roots(json_path: Path, images_dir: Path | None) -> list[Path]:
    d = json_path.parent
    roots = [images_dir] if images_dir else []
    return roots + [d, d / "images", d.parent / "images"]


def read_coco(
    src: str | os.PathLike,
    bad: BadItems | None = None,
    classes: list[str] | None = None,
    images_dir: str | os.PathLike | None = None,
) -> list[ImageRecord]:
    """Import a COCO JSON file; ``classes`` keeps only categories with those names (default: all)."""
    bad = BadItems() if bad is None else bad
    path = Path(src)
    if not path.is_file():
        raise DataError(str(path), "COCO JSON file not found")
    try:
        coco = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as e:
        raise DataError(f"{path}:{e.lineno}", f"not valid JSON ({e.msg})") from e
    for key in ("images", "annotations"):
        if not isinstance(coco.get(key), list):
            raise DataError(str(path), f"no '{key}' list: not a COCO detection file")
    cats = {c["id"]: c.get("name", str(c["id"])) for c in coco.get("categories", [])}
    keep_cats = {i for i, n in cats.items() if classes is None or n in classes}
    images = {}
    for im in coco["images"]:
        if "id" not in im or "file_name" not in im:
            bad.report(DataError(f"{path}#image {im.get('id')}", "image entry needs 'id' and 'file_name'"))
            continue
        images[im["id"]] = im
    anns: dict[int, list[dict]] = {i: [] for i in images}
    for a in coco["annotations"]:
        where = f"{path}#annotation {a.get('id')}"
        if a.get("image_id") not in images:
            bad.report(DataError(where, f"refers to image_id {a.get('image_id')!r}, which is not in 'images'"))
            continue
        if cats and a.get("category_id") not in keep_cats:
            continue
        anns[a["image_id"]].append(a)
    roots = _image_roots(path, Path(images_dir) if images_dir else None)
    records = []
    for img_id, im in progress(images.items(), "reading COCO", len(images)):
        where = f"{path}#image {img_id} ('{im['file_name']}')"
        try:
            file = next((r / im["file_name"] for r in roots if (r / im["file_name"]).is_file()), None)
            if file is None:
                raise DataError(where, f"image file not found under {', '.join(map(str, roots))}")
            width, height = probe_image(file, where)
            if (im.get("width"), im.get("height")) not in ((width, height), (None, None)):
                raise DataError(where, f"JSON says {im.get('width')}x{im.get('height')}, file is {width}x{height}")
            plates = tuple(_plate(a, width, height, f"{path}#annotation {a.get('id')}") for a in anns[img_id])
        except DataError as e:
            bad.report(e)
            continue
        records.append(ImageRecord(str(file.resolve()), width, height, plates))
    return records


def _plate(a: dict, width: int, height: int, where: str) -> PlateLabel:
    bbox = a.get("bbox")
    if not (isinstance(bbox, list) and len(bbox) == 4):
        raise DataError(where, f"'bbox' must be [x, y, w, h], got {bbox!r}")
    x, y, w, h = (float(v) for v in bbox)
    corners = None
    kp = a.get("keypoints")
    if kp:
        if len(kp) != 12:
            raise DataError(where, f"'keypoints' must hold the 4 plate corners as 12 numbers, got {len(kp)}")
        if all(kp[i * 3 + 2] > 0 for i in range(4)):
            corners = tuple((float(kp[i * 3]), float(kp[i * 3 + 1])) for i in range(4))
    attrs = a.get("attributes") or {}
    layout = attrs.get("layout")
    if layout is not None and layout not in LAYOUTS:
        raise DataError(where, f"attribute 'layout' must be one of {LAYOUTS}, got {layout!r}")
    ignore = bool(a.get("iscrowd", 0))  # a crowd region: neither a plate to find nor background
    plate = PlateLabel((x, y, x + w, y + h), corners, attrs.get("text"), attrs.get("region"), layout, ignore)
    return check_plate(plate, width, height, where)


def write_coco(records: list[ImageRecord], out: str | os.PathLike, overwrite: bool = False) -> Path:
    """Write ``out/annotations.json`` and ``out/images/``; category 1 is ``plate`` with 4 corner keypoints."""
    out = prepare_out_dir(out, overwrite)
    names = unique_names(r.image for r in records)
    images, annotations = [], []
    for img_id, rec in enumerate(records, 1):
        if rec.plates is None:
            raise ValueError(f"{rec.image}: unlabelled image (plates null) cannot be exported to COCO")
        place_image(rec.image, out / "images" / names[rec.image])
        images.append({"id": img_id, "file_name": names[rec.image], "width": rec.width, "height": rec.height})
        for p in rec.plates:
            x1, y1, x2, y2 = p.box
            ann = {
                "id": len(annotations) + 1,
                "image_id": img_id,
                "category_id": 1,
                "bbox": [x1, y1, x2 - x1, y2 - y1],
                "area": (x2 - x1) * (y2 - y1),
                "iscrowd": int(p.ignore),
                "attributes": {"text": p.text, "region": p.region, "layout": p.layout},
            }
            if p.corners is not None:
                ann["keypoints"] = [v for x, y in p.corners for v in (x, y, 2)]
                ann["num_keypoints"] = 4
            annotations.append(ann)
    coco = {
        "info": {"description": "exported by plateforge"},
        "images": images,
        "annotations": annotations,
        "categories": [
            {
                "id": 1,
                "name": "plate",
                "supercategory": "plate",
                "keypoints": CORNER_NAMES,
                "skeleton": [[1, 2], [2, 3], [3, 4], [4, 1]],
            }
        ],
    }
    (out / "annotations.json").write_text(json.dumps(coco), encoding="utf-8")
    return out
