"""INT8 calibration sets: representative, un-augmented frames from videos and/or images, with a manifest.

Static INT8 quantization fits activation ranges on these images, so they should look like deployment:
frames of the site's own cameras, spread over each video, no augmentation. Frames that barely differ
from the previous pick of the same video (a parked scene) are skipped: they add time, not information.
"""

from __future__ import annotations

import math
import os
import random
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from plateforge.data.errors import BadItems, DataError
from plateforge.data.files import prepare_out_dir
from plateforge.data.manifest import IMAGE_SUFFIXES, ImageRecord, probe_image, write_manifest
from plateforge.data.split import dhash
from plateforge.runtime.images import VIDEO_SUFFIXES

DEFAULT_N = 300
STILL_FRAME_BITS = 2  # a frame whose dHash is within this many bits of the previous pick is skipped


@dataclass(frozen=True)
class CalibOptions:
    """``n``: total images; ``every_k``: take every k-th frame; ``per_second``: frames per second of video
    (used when ``every_k`` is None); ``max_per_video``: cap per video; ``seed``: image sampling seed."""

    n: int = DEFAULT_N
    every_k: int | None = None
    per_second: float = 1.0
    max_per_video: int = 100
    seed: int = 0


def _frame_indices(count: int, fps: float, opts: CalibOptions) -> list[int]:
    stride = opts.every_k or max(1, round((fps or 25.0) / opts.per_second))
    picks = list(range(0, count, stride))
    if len(picks) > opts.max_per_video:  # spread the cap over the whole video, not its first minutes
        picks = [picks[round(i * (len(picks) - 1) / (opts.max_per_video - 1))] for i in range(opts.max_per_video)]
    return picks


def _thin(items: list, n: int) -> list:
    """Keep ``n`` items evenly spread over the list."""
    if len(items) <= n:
        return items
    return [items[math.floor(i * len(items) / n)] for i in range(n)]


def build_calibration_set(
    sources: list[str | os.PathLike],
    out: str | os.PathLike,
    opts: CalibOptions = CalibOptions(),
    overwrite: bool = False,
    bad: BadItems | None = None,
) -> list[ImageRecord]:
    """Write up to ``opts.n`` calibration images under ``out/images`` and ``out/calib.jsonl``.

    ``sources`` are video files, image files, or folders of either. Video frames come first (each video
    capped), images fill the rest as a seeded sample. Records are unlabelled (``plates`` null).
    """
    bad = BadItems() if bad is None else bad
    videos, images = [], []
    for s in map(Path, sources):
        if not s.exists():
            bad.report(DataError(str(s), "calibration source not found"))
            continue
        files = [s] if s.is_file() else sorted(p for p in s.rglob("*") if p.is_file())
        videos += [f for f in files if f.suffix.lower() in VIDEO_SUFFIXES]
        images += [f for f in files if f.suffix.lower() in IMAGE_SUFFIXES]
    plan = []  # (video, frame index)
    for v in videos:
        cap = cv2.VideoCapture(str(v))
        if not cap.isOpened():
            bad.report(DataError(str(v), "cannot open video"))
            continue
        count, fps = int(cap.get(cv2.CAP_PROP_FRAME_COUNT)), cap.get(cv2.CAP_PROP_FPS)
        cap.release()
        plan += [(v, i) for i in _frame_indices(count, fps, opts)]
    plan = _thin(plan, opts.n)
    out = prepare_out_dir(out, overwrite)
    (out / "images").mkdir()
    records = _write_video_frames(plan, out / "images", bad)
    rest = max(0, opts.n - len(records))
    sample = random.Random(opts.seed).sample(images, min(rest, len(images)))
    for i, path in enumerate(sorted(sample)):
        try:
            probe_image(path)
        except DataError as e:
            bad.report(e)
            continue
        img = cv2.imread(str(path), cv2.IMREAD_COLOR)
        records.append(_save(img, out / "images" / f"img{i:05d}_{path.stem}.jpg", str(path)))
    write_manifest(records, out / "calib.jsonl", overwrite=True)
    return records


def _write_video_frames(plan: list[tuple[Path, int]], folder: Path, bad: BadItems) -> list[ImageRecord]:
    records: list[ImageRecord] = []
    by_video: dict[Path, list[int]] = {}
    for v, i in plan:
        by_video.setdefault(v, []).append(i)
    for v, wanted in by_video.items():
        cap = cv2.VideoCapture(str(v))
        wanted_set, last, index, prev_hash = set(wanted), max(wanted), 0, None
        while index <= last:
            ok = cap.grab()
            if not ok:
                if index < last:
                    bad.report(DataError(str(v), f"video ended or broke at frame {index} of {last + 1} planned"))
                break
            if index in wanted_set:
                ok, frame = cap.retrieve()
                if ok:
                    h = dhash(frame)
                    if prev_hash is None or bin(h ^ prev_hash).count("1") > STILL_FRAME_BITS:
                        name = f"{v.stem}_f{index:07d}.jpg"
                        records.append(_save(frame, folder / name, f"{v}#frame {index}"))
                        prev_hash = h
            index += 1
        cap.release()
    return records


def _save(img: np.ndarray, path: Path, origin: str) -> ImageRecord:
    cv2.imwrite(str(path), img, [cv2.IMWRITE_JPEG_QUALITY, 95])
    return ImageRecord(str(path), int(img.shape[1]), int(img.shape[0]), None, meta={"source": origin})
