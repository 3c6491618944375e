"""YOLO txt datasets (Ultralytics layout): import and export.

Layout: ``images/[subset/]name.jpg`` with ``labels/[subset/]name.txt`` beside it (the last ``images``
folder of the path becomes ``labels``). One line per object, all coordinates normalised to [0, 1]:

- detection: ``class xc yc w h``
- pose with the 4 plate corners TL, TR, BR, BL: ``class xc yc w h x y v x y v x y v x y v`` (``v`` = 0 means
  the corner is unknown) or the 2-value form ``class xc yc w h x y x y x y x y``.

A missing label file means "no plates" (as in Ultralytics); a label file without an image is an error,
so no label is lost unnoticed. Text, region and layout have no place in YOLO txt: the exporter writes
them to a manifest beside the tree (``<subset>.jsonl``).
"""

from __future__ import annotations

import os
from pathlib import Path

import yaml

from plateforge.data.errors import BadItems, DataError
from plateforge.data.files import place_image, prepare_out_dir, unique_names
from plateforge.data.manifest import (
    IMAGE_SUFFIXES,
    ImageRecord,
    PlateLabel,
    check_plate,
    list_images,
    probe_image,
    write_manifest,
)
from plateforge.progress import progress

NORM_TOLERANCE = 1e-3


def label_path_for(image: Path) -> Path:
    """Ultralytics rule: replace the last ``images`` folder in the path with ``labels``, suffix ``.txt``."""
    parts = list(image.parts)
    for i in range(len(parts) - 2, -1, -1):
        if parts[i] == "images":
            parts[i] = "labels"
            return Path(*parts).with_suffix(".txt")
    return image.with_suffix(".txt")


def _subset_of(image: Path, root: Path) -> str | None:
    """The folder between ``images/`` and the file (``train``, ``val``), if any."""
    rel = image.relative_to(root).parts
    if "images" in rel:
        rest = rel[len(rel) - 1 - rel[::-1].index("images") + 1 : -1]
        return "/".join(rest) or None
    return None


def read_yolo(
    src: str | os.PathLike, bad: BadItems | None = None, classes: list[int] | None = None
) -> list[ImageRecord]:
    """Import a YOLO tree under ``src``; ``classes`` keeps only those class ids (default: all).

    Each record's ``meta["subset"]`` keeps the folder the image came from (``train``/``val``), so a split the
    dataset authors made is not lost.
    """
    bad = BadItems() if bad is None else bad
    root = Path(src)
    if not root.is_dir():
        raise DataError(str(root), "YOLO dataset folder not found")
    images = list_images(root)
    if not images:
        raise DataError(str(root), f"no images ({', '.join(IMAGE_SUFFIXES)}) found")
    records, used_labels = [], set()
    for image in progress(images, "reading YOLO"):
        label = label_path_for(image)
        used_labels.add(label.resolve())
        try:
            width, height = probe_image(image)
            plates = _read_label_file(label, width, height, classes) if label.is_file() else ()
        except DataError as e:
            bad.report(e)
            continue
        subset = _subset_of(image, root)
        records.append(
            ImageRecord(str(image.resolve()), width, height, plates, meta={"subset": subset} if subset else {})
        )
    for txt in sorted(root.rglob("*.txt")):
        if "labels" in txt.relative_to(root).parts and txt.resolve() not in used_labels:
            bad.report(DataError(str(txt), "label file has no matching image (its labels would be lost)"))
    return records


def _read_label_file(label: Path, width: int, height: int, classes: list[int] | None) -> tuple[PlateLabel, ...]:
    plates = []
    for n, line in enumerate(label.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        where = f"{label}:{n}"
        try:
            vals = [float(v) for v in line.split()]
        except ValueError as e:
            raise DataError(where, f"non-numeric value in {line.strip()!r}") from e
        if len(vals) not in (5, 13, 17):
            raise DataError(
                where, f"expected 5 values (class xc yc w h) or a 4-keypoint pose line (13 or 17), got {len(vals)}"
            )
        cls = int(vals[0])
        if cls != vals[0] or cls < 0:
            raise DataError(where, f"class id must be a non-negative integer, got {vals[0]:g}")
        if classes is not None and cls not in classes:
            continue
        xc, yc, w, h = vals[1:5]
        if min(xc, yc, w, h) < -NORM_TOLERANCE or max(xc, yc) > 1 + NORM_TOLERANCE:
            raise DataError(where, f"coordinates must be normalised to [0, 1], got {vals[1:5]}")
        box = ((xc - w / 2) * width, (yc - h / 2) * height, (xc + w / 2) * width, (yc + h / 2) * height)
        corners = None
        if len(vals) > 5:
            step = 3 if len(vals) == 17 else 2
            kp = [vals[5 + i * step : 5 + (i + 1) * step] for i in range(4)]
            if step == 2 or all(k[2] > 0 for k in kp):
                corners = tuple((k[0] * width, k[1] * height) for k in kp)
        plates.append(check_plate(PlateLabel(box=box, corners=corners), width, height, where))
    return tuple(plates)


def write_yolo(
    records: list[ImageRecord],
    out: str | os.PathLike,
    subset: str | None = None,
    overwrite: bool = False,
    pose: bool | None = None,
) -> Path:
    """Write records as a YOLO tree under ``out`` (images, labels, ``data.yaml``, and a manifest).

    ``subset`` (``train``/``val``) writes into ``images/<subset>``; other subsets already in ``out`` are kept.
    ``pose`` writes the 4 corners as keypoints (default: when any plate has corners). Returns ``out``.
    """
    out = Path(out)
    sub = subset or ""
    for rec in records:
        if rec.plates is None:
            raise ValueError(f"{rec.image}: unlabelled image (plates null) cannot be exported to YOLO")
    if subset:
        out.mkdir(parents=True, exist_ok=True)
        for kind in ("images", "labels"):
            prepare_out_dir(out / kind / sub, overwrite)
    else:
        prepare_out_dir(out, overwrite)
    if pose is None:
        pose = any(p.corners is not None for r in records for p in r.plates)
    names = unique_names(r.image for r in records)
    exported = []
    for rec in records:
        name = names[rec.image]
        dst = out / "images" / sub / name
        place_image(rec.image, dst)
        # YOLO labels have no ignore flag: ignore regions stay in the manifest only
        lines = [_label_line(p, rec.width, rec.height, pose) for p in rec.plates if not p.ignore]
        label = out / "labels" / sub / Path(name).with_suffix(".txt")
        label.parent.mkdir(parents=True, exist_ok=True)
        label.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
        exported.append(ImageRecord(str(dst), rec.width, rec.height, rec.plates, rec.group, rec.meta))
    write_manifest(exported, out / f"{subset or 'all'}.jsonl", overwrite=True)
    _update_data_yaml(out, subset, pose)
    return out


def _label_line(p: PlateLabel, width: int, height: int, pose: bool) -> str:
    x1, y1, x2, y2 = p.box
    vals = [(x1 + x2) / 2 / width, (y1 + y2) / 2 / height, (x2 - x1) / width, (y2 - y1) / height]
    if pose:
        for i in range(4):
            if p.corners is None:
                vals += [0.0, 0.0, 0.0]
            else:
                vals += [p.corners[i][0] / width, p.corners[i][1] / height, 2.0]
    return "0 " + " ".join(f"{v:.6f}" for v in vals)


def _update_data_yaml(out: Path, subset: str | None, pose: bool) -> None:
    path = out / "data.yaml"
    data = yaml.safe_load(path.read_text()) if path.is_file() else {}
    data = data or {}
    data["path"] = str(out.resolve())
    if subset:
        data[subset] = f"images/{subset}"
    else:
        data["train"] = data["val"] = "images"
    data["names"] = {0: "plate"}
    if pose:
        data["kpt_shape"] = [4, 3]
        data["flip_idx"] = [1, 0, 3, 2]  # a horizontal flip swaps TL<->TR and BR<->BL
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
