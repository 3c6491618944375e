"""Write synthetic datasets to disk: scenes, crops and preview sheets, spread over processes.

Item ``i`` of a run with seed ``s`` is drawn from ``numpy.random.default_rng([s, i])``, so the output is the
same for a seed whatever the number of workers, and any item can be re-made alone.
"""

from __future__ import annotations

import multiprocessing as mp
import os
from dataclasses import dataclass, field, replace
from pathlib import Path

import cv2
import numpy as np

from plateforge.data.files import prepare_out_dir
from plateforge.data.manifest import ImageRecord, PlateLabel, read_manifest, write_manifest
from plateforge.progress import progress
from plateforge.specs import RegionSpec, select_regions
from plateforge.synth.augment import augment, augment_with_points, crop_pipeline, letterbox, scene_pipeline
from plateforge.synth.crops import CropOptions, make_crop
from plateforge.synth.plate import render_plate
from plateforge.synth.scene import Backgrounds, SceneOptions, compose_scene


@dataclass(frozen=True)
class SynthJob:
    """What to make. ``kind`` is ``scenes`` or ``crops``; ``regions`` a selector (``uae,ch``; None = all);
    ``real`` manifests whose photos (with labelled plates) serve as scene backgrounds; ``letterbox`` a square
    output size for scenes (None keeps ``scene.width`` × ``scene.height``)."""

    kind: str
    out: Path
    n: int
    seed: int = 0
    regions: str | None = None
    augment: str = "none"
    scene: SceneOptions = field(default_factory=SceneOptions)
    crop: CropOptions = field(default_factory=CropOptions)
    real: tuple[str, ...] = ()
    letterbox: int | None = None
    image_format: str = "jpg"


_state: dict = {}


def _init(job: SynthJob) -> None:
    """Per-process set-up: region specs, the background bank, real photos."""
    _state["job"] = job
    _state["specs"] = select_regions(job.regions)
    if job.kind == "scenes":
        _state["bg"] = Backgrounds(job.scene.width, job.scene.height, seed=job.seed)
        _state["real"] = [r for m in job.real for r in read_manifest(m) if r.plates]


def _make(i: int) -> ImageRecord:
    job: SynthJob = _state["job"]
    rng = np.random.default_rng([job.seed, i])
    specs: list[RegionSpec] = _state["specs"]
    if job.kind == "crops":
        spec = specs[int(rng.integers(0, len(specs)))]
        img, label = make_crop(spec, rng, job.crop)
        corners = np.array(label.corners, np.float32)
        img, corners = augment_with_points(img, corners, crop_pipeline(job.augment), int(rng.integers(0, 2**31)))
        labels = (_with_corners(label, corners, img.shape[1], img.shape[0]),)
    else:
        scene = compose_scene(specs, rng, job.scene, _state["bg"], _state["real"])
        img = augment(scene.image, scene_pipeline(job.augment), int(rng.integers(0, 2**31)))
        labels = scene.plates
        if job.letterbox:
            img, labels = _letterbox_labels(img, labels, job.letterbox)
    path = job.out / "images" / f"{job.kind[:-1]}_{i:07d}.{job.image_format}"
    if not cv2.imwrite(str(path), img, [cv2.IMWRITE_JPEG_QUALITY, 92]):
        raise OSError(f"cannot write {path}")
    return ImageRecord(str(path), img.shape[1], img.shape[0], labels)


def _with_corners(label: PlateLabel, quad: np.ndarray, width: int, height: int) -> PlateLabel:
    """``label`` with new corners (TL, TR, BR, BL pixels, clipped to the image) and their hull as the box."""
    q = np.clip(quad, 0, [width, height])
    lo, hi = q.min(0), q.max(0)
    corners = tuple((float(x), float(y)) for x, y in q)
    return replace(label, box=(float(lo[0]), float(lo[1]), float(hi[0]), float(hi[1])), corners=corners)


def _letterbox_labels(img: np.ndarray, labels, size: int):
    pts = np.array([c for p in labels for c in p.corners], np.float32).reshape(-1, 2)
    out, moved = letterbox(img, pts, size)
    return out, tuple(_with_corners(p, moved[4 * k : 4 * k + 4], size, size) for k, p in enumerate(labels))


def pool_context():
    """Worker processes from a fork server (a clean single-threaded process), not forked from the caller: a
    fork of a process whose other threads hold locks (ONNX Runtime, OpenCV, Kafka, a stream's capture
    threads) can leave the child deadlocked. ``spawn`` where there is no fork."""
    return mp.get_context("forkserver" if "forkserver" in mp.get_all_start_methods() else "spawn")


def run_job(job: SynthJob, workers: int | None = None, overwrite: bool = False) -> list[ImageRecord]:
    """Make ``job.n`` items under ``job.out`` (``images/`` + ``manifest.jsonl``) with ``workers`` processes
    (default: all cores); returns the records in item order, as written."""
    if job.kind not in ("scenes", "crops"):
        raise ValueError(f"kind must be scenes or crops, got {job.kind!r}")
    if job.n < 1:
        raise ValueError(f"--n must be at least 1, got {job.n}")
    select_regions(job.regions)  # fail early on an unknown region
    crop_pipeline(job.augment) if job.kind == "crops" else scene_pipeline(job.augment)
    prepare_out_dir(job.out, overwrite)
    (job.out / "images").mkdir()
    workers = workers or os.cpu_count() or 1
    desc = f"synth {job.kind}"
    if workers == 1:
        _init(job)
        records = [_make(i) for i in progress(range(job.n), desc)]
    else:
        with pool_context().Pool(workers, initializer=_init, initargs=(job,)) as pool:
            chunk = max(1, min(64, job.n // (workers * 8)))
            records = list(progress(pool.imap(_make, range(job.n), chunksize=chunk), desc, total=job.n))
    write_manifest(records, job.out / "manifest.jsonl", overwrite=True)
    return read_manifest(job.out / "manifest.jsonl")  # exactly what is on disk (coordinates to 1/1000 px)


def preview_sheets(
    out: Path, regions: str | None = None, per_region: int = 12, seed: int = 0, overwrite: bool = False
) -> list[Path]:
    """One contact-sheet PNG per region: ``per_region`` plates (clean and worn) with their texts."""
    prepare_out_dir(out, overwrite)
    paths = []
    for spec in select_regions(regions):
        rng = np.random.default_rng([seed, sum(map(ord, spec.code))])
        tiles = []
        for k in range(per_region):
            plate = render_plate(spec, rng, height=96, style=spec.styles[k % len(spec.styles)], dirty=k % 2 == 1)
            tile = np.full((150, 420, 3), 235, np.uint8)
            scale = min(400 / plate.image.shape[1], 110 / plate.image.shape[0])
            img = cv2.resize(plate.image, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
            y, x = 8, (420 - img.shape[1]) // 2
            tile[y : y + img.shape[0], x : x + img.shape[1]] = img
            caption = f"{plate.text}  {plate.style}"
            cv2.putText(tile, caption, (10, 142), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (40, 40, 40), 1, cv2.LINE_AA)
            tiles.append(tile)
        cols = 3
        tiles += [np.full_like(tiles[0], 235)] * (-len(tiles) % cols)
        grid = np.vstack([np.hstack(tiles[r : r + cols]) for r in range(0, len(tiles), cols)])
        header = np.full((40, grid.shape[1], 3), 255, np.uint8)
        cv2.putText(
            header,
            f"{spec.code}: {spec.name}  (regex {spec.regex})",
            (10, 27),
            cv2.FONT_HERSHEY_SIMPLEX,
            0.6,
            (0, 0, 0),
            1,
            cv2.LINE_AA,
        )
        path = out / f"{spec.code}.png"
        cv2.imwrite(str(path), np.vstack([header, grid]))
        paths.append(path)
    return paths
