"""Evaluate a recognizer ONNX on a manifest of plates with texts: the numbers the deployed model gets."""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path

from plateforge.data.manifest import write_manifest
from plateforge.data.plate_crops import PlateCrops, plate_crops
from plateforge.eval.ocr_metrics import exact, o_zero_only, ocr_report
from plateforge.runtime.recognizer import PlateRecognizer


def evaluate_recognizer(
    data: str | Path,
    model: str | Path | None = None,
    subset: str | None = None,
    threads: int | None = None,
    tta: bool = False,
    margin: float = 0.0,
    regions: list[str] | str | None = None,
    misreads: str | Path | None = None,
    misreads_skip_o_zero: bool = False,
) -> dict:
    """Read every plate with a text in ``data`` (rectified by its corners, or its box) and score the reads;
    ``tta``: the recognizer's test-time zooms (see :class:`PlateRecognizer`). With ``model`` None the
    bundled recognizer reads with its bundled specialists, as the reader does; a model given by path reads
    alone. ``margin``: border kept around plates with corners, × the plate height (the reader keeps 0.075;
    give that for plates labelled with the reader's own corners). ``regions``: the regions the plates come
    from, as :class:`PlateRecognizer` takes them (None: every region the model knows). ``misreads``: also
    write the plates read wrong there, as a manifest (see :func:`write_misreads`)."""
    rec = PlateRecognizer(model, threads=threads, tta=tta, regions=regions)
    data_crops = plate_crops(str(data), rec.spec.width, rec.spec.height, subset, margin)
    crops, truths, layouts = list(data_crops.images), data_crops.texts, data_crops.layouts
    t = time.perf_counter()
    reads = rec.read_crops(crops)
    elapsed = time.perf_counter() - t
    report = ocr_report(
        [x.text for x in reads],
        truths,
        [x.confidence for x in reads],
        data_crops.regions,
        layouts,
        [x.region for x in reads],
    )
    report["model"] = rec.path
    report["specialists"] = {prefix: sp.path for prefix, sp in rec.specialists.items()}
    report["tta"] = list(rec.zooms) if len(rec.zooms) > 1 else None
    report["data"] = str(data)
    report["margin"] = margin
    report["regions"] = regions
    report["ms_per_plate"] = 1000 * elapsed / len(crops)
    if misreads is not None:
        n = write_misreads(data_crops, [x.text for x in reads], misreads, misreads_skip_o_zero)
        report["misreads"] = {"path": str(misreads), "plates": n}
    report["errors"] = [
        {"truth": t, "read": x.text, "confidence": round(x.confidence, 3)}
        for t, x in zip(truths, reads, strict=True)
        if not exact(x.text, t)
    ][:50]
    return report


def write_misreads(crops: PlateCrops, reads: list[str], path: str | Path, skip_o_zero: bool = False) -> int:
    """Write the plates of ``crops`` whose read (``reads``, one text per crop) is wrong to ``path`` as a manifest
    (replaced if it exists): each image with its misread plates only, its image paths valid from the file's
    folder, so the file can be a training source (hard examples: ``dataset.real`` of ``plateforge train
    ocr``). ``skip_o_zero``: leave out reads wrong only by an O read as 0 or a 0 read as O. Returns the
    number of plates written."""
    if len(crops.sources) != len(reads):
        raise ValueError(f"misreads: {len(reads)} reads for {len(crops.sources)} plates with a known source")
    wrong: dict[int, tuple] = {}  # id of the record -> (record, its misread plates), in manifest order
    for (rec, plate), read in zip(crops.sources, reads, strict=True):
        if exact(read, plate.text) or (skip_o_zero and o_zero_only(read, plate.text)):
            continue
        wrong.setdefault(id(rec), (rec, []))[1].append(plate)
    records = [dataclasses.replace(rec, plates=tuple(plates)) for rec, plates in wrong.values()]
    write_manifest(records, path, overwrite=True)
    return sum(len(r.plates) for r in records)
