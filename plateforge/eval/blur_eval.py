"""How well an anonymised video hides its plates, on a video with per-frame truth (``plateforge synth video``):

- **covered**: share of the plates in view (every frame's labelled plates) whose labelled corner quad lies
  at least ``min_cover`` under blurred regions, by plate height;
- **readable**: plates the reader (``ALPR.read_corners`` at the labelled corners, its strongest setting) reads
  exactly in the original frames, and in the blurred ones. A plate that was readable and still is after
  blurring is a leak, and so is a pass whose text can be read in any blurred frame.
"""

from __future__ import annotations

import json
from collections import deque
from pathlib import Path

import cv2
import numpy as np

from plateforge.data.crops_csv import normalise_text
from plateforge.stream.blur import BlurOptions, PlateBlurrer

HEIGHTS = (16, 32)  # px: plate-height groups < 16, 16-32, >= 32


def _group(height: float) -> str:
    lo, hi = HEIGHTS
    return f"< {lo} px" if height < lo else (f"{lo}-{hi} px" if height < hi else f">= {hi} px")


def quad_cover(quad, regions, shape) -> float:
    """Share (0..1) of ``quad``'s area ((4, 2) pixels), clipped to a frame of ``shape`` (h, w), that the
    ``regions`` (quads, pixels) cover."""
    h, w = shape[:2]
    q = np.round(np.asarray(quad, np.float32)).astype(np.int32)
    x1, y1 = np.clip(q.min(0) - 1, 0, [w, h])
    x2, y2 = np.clip(q.max(0) + 2, 0, [w, h])
    if x2 <= x1 or y2 <= y1:
        return 1.0
    plate = np.zeros((y2 - y1, x2 - x1), np.uint8)
    cv2.fillPoly(plate, [q - [x1, y1]], 1)
    area = int(plate.sum())
    if area == 0:
        return 1.0
    cover = np.zeros_like(plate)
    for r in regions:
        cv2.fillPoly(cover, [np.round(np.asarray(r, np.float32) - [x1, y1]).astype(np.int32)], 1)
    return float((plate & cover).sum()) / area


def evaluate_blur(
    video_dir: str | Path,
    detector,
    alpr=None,
    options: BlurOptions | None = None,
    min_cover: float = 0.95,
    read_every: int = 1,
) -> dict:
    """Blur ``video_dir/video.mp4`` with ``detector`` and score it against ``video_dir/frames.jsonl``. With
    ``alpr``, every ``read_every``-th frame's labelled plates are read before and after blurring. Returns the
    report as a dict (see the module docstring)."""
    options = options or BlurOptions()
    root = Path(video_dir)
    truth = {}
    with open(root / "frames.jsonl", encoding="utf-8") as f:
        for line in f:
            row = json.loads(line)
            truth[row["frame"]] = row["plates"]
    cap = cv2.VideoCapture(str(root / "video.mp4"))
    if not cap.isOpened():
        raise ValueError(f"{root / 'video.mp4'}: not a readable video")

    def frames():
        while True:
            ok, frame = cap.read()
            if not ok:
                return
            originals.append(frame)
            yield frame

    originals: deque[np.ndarray] = deque()
    groups = {_group(h): {"plates": 0, "covered": 0} for h in (0, HEIGHTS[0], HEIGHTS[1])}
    read = {"plates_read": 0, "readable_before": 0, "readable_after": 0}
    leaked_passes: set[int] = set()
    readable_passes: set[int] = set()
    covers = []
    n = regions = 0
    for out in PlateBlurrer(detector, options).run(frames()):
        original = originals.popleft()
        n += 1
        regions += len(out.regions)
        plates = truth.get(out.index, [])
        for p in plates:
            quad = np.asarray(p["corners"], np.float32)
            cover = quad_cover(quad, out.regions, out.image.shape)
            covers.append(cover)
            g = groups[_group(p["box"][3] - p["box"][1])]
            g["plates"] += 1
            g["covered"] += cover >= min_cover
        if alpr is None or not plates or out.index % read_every:
            continue
        quads = np.array([p["corners"] for p in plates], np.float32)
        before = alpr.read_corners(original, quads)
        after = alpr.read_corners(out.image, quads)
        for p, b, a in zip(plates, before, after, strict=True):
            read["plates_read"] += 1
            text = normalise_text(p["text"])
            if normalise_text(b.text) == text:
                read["readable_before"] += 1
                readable_passes.add(p["pass"])
            if normalise_text(a.text) == text:
                read["readable_after"] += 1
                leaked_passes.add(p["pass"])
    cap.release()
    total = sum(g["plates"] for g in groups.values())
    covered = sum(g["covered"] for g in groups.values())
    report = {
        "video": str(root / "video.mp4"),
        "frames": n,
        "plates_in_view": total,
        "covered": round(covered / total, 4) if total else None,
        "min_cover": min_cover,
        "mean_cover": round(float(np.mean(covers)), 4) if covers else None,
        "regions_per_frame": round(regions / n, 2) if n else None,  # blurred regions, plates or not
        "by_height": {
            k: {**g, "share": round(g["covered"] / g["plates"], 4) if g["plates"] else None} for k, g in groups.items()
        },
        "options": dict(options.__dict__),
    }
    if alpr is not None:
        report.update(read, read_every=read_every, passes_readable_before=len(readable_passes))
        report["passes_leaked"] = sorted(leaked_passes)
    return report
