"""Synthetic test videos: vehicles with rendered plates passing a fixed camera, with per-frame ground truth.

Each *pass* is one vehicle crossing the view once: it approaches (the plate grows while it moves down the
frame), recedes (shrinks, moving up) or crosses sideways, at its own speed, lane, yaw and roll. Passes
overlap in time when ``overlap`` says so, on separate lanes. The plate is rendered once per pass and warped
into every frame with the scene composer's :func:`plate_quad` / :func:`paste_plate`, so a video exercises
the same geometry the detector trained on.

Files written to ``out``: ``video.mp4`` (mp4v, BGR frames), ``frames.jsonl`` (one line per frame:
``{"frame", "t", "plates": [{"pass", "text", "region", "full", "box" xyxy px, "corners" TL,TR,BR,BL px}]}``:
plates at least 30 % inside the frame and not hidden by a nearer vehicle; ``full`` says whether the whole plate
is inside, and ``box`` is clipped to the frame) and ``passes.json`` (one entry per pass: text, region, layout,
motion, direction, first and last frame with the plate fully visible).
"""

from __future__ import annotations

import dataclasses
import json
import math
from dataclasses import asdict, dataclass
from pathlib import Path

import cv2
import numpy as np

from plateforge.data.files import prepare_out_dir
from plateforge.progress import progress
from plateforge.runtime.grey import grey_copy
from plateforge.specs import select_regions
from plateforge.synth.plate import RenderedPlate, render_plate
from plateforge.synth.scene import Backgrounds, _draw_distractors, paste_plate, plate_quad

MOTIONS = ("approach", "recede", "cross")
BODY_HALF_WIDTH = 1.7  # vehicle half-width in plate widths (a 0.52 m plate on a 1.8 m car)


@dataclass(frozen=True)
class VideoOptions:
    """Frame size in pixels and frame rate; number of vehicle passes; seconds a pass takes to cross the view
    (speed); plate height in pixels at its largest; max |yaw| and |roll| in degrees; probability that a pass
    starts before the previous one has left; regions selector (None: all); seed; ``signs``: rounds of signs,
    badges and plate-like text (1-4 each, as the scene generator's distractors) painted on the background, so
    they stand in every frame, as a car park's signage does (0: none; the rest of the video stays the same);
    ``stop_s``: seconds each vehicle stands still halfway along its path, as at a barrier (0: none; the
    passes are otherwise those of 0, each longer by the stop); ``returns``: share of approaching vehicles
    that come back later, receding, with the same plate, ``stay_s`` (least, most) seconds after they left
    the view (a car park's entry and exit; the other passes stay those of 0); ``exposure``: share of the
    frame interval the shutter stays open: each vehicle is smeared along its motion over that share of its
    move since the previous frame, as a camera's exposure smears it (0: sharp; 1: an exposure of 1/fps
    seconds; the ground truth and the passes stay those of 0); ``grey``: frames in grey levels, as a
    monochrome or infrared camera films them (the rest stays the same)."""

    width: int = 1920
    height: int = 1080
    fps: float = 25.0
    passes: int = 10
    seconds: tuple[float, float] = (1.5, 4.0)
    plate_height: tuple[float, float] = (32.0, 70.0)
    max_yaw: float = 25.0
    max_roll: float = 6.0
    overlap: float = 0.3
    regions: str | None = None
    seed: int = 0
    signs: int = 0
    stop_s: float = 0.0
    returns: float = 0.0
    stay_s: tuple[float, float] = (2.0, 6.0)
    exposure: float = 0.0
    grey: bool = False


@dataclass(frozen=True)
class Pass:
    """One vehicle crossing the view. Frames are video frame indices; ``direction`` is where the plate moves
    on screen (up, down, left, right). ``frames`` includes ``stop``, the frames it stands still halfway."""

    index: int
    text: str
    region: str
    layout: str
    motion: str
    direction: str
    start: int
    frames: int
    lane: float
    height_px: float
    yaw: float
    roll: float
    body: tuple[int, int, int]
    stop: int = 0
    returns_of: int | None = None  # the index of the pass whose vehicle this is, leaving again


def _plan(opts: VideoOptions, rng: np.random.Generator) -> tuple[list[Pass], list[RenderedPlate]]:
    specs = select_regions(opts.regions)
    passes, plates, start = [], [], int(opts.fps * 0.5)
    lanes = np.linspace(0.25, 0.75, 3)
    for i in range(opts.passes):
        spec = specs[int(rng.integers(0, len(specs)))]
        plate = render_plate(spec, rng, height=96)
        motion = MOTIONS[int(rng.integers(0, len(MOTIONS)))]
        stop = round(opts.stop_s * opts.fps)
        frames = max(2, round(rng.uniform(*opts.seconds) * opts.fps)) + stop
        direction = {"approach": "down", "recede": "up"}.get(motion, "right" if rng.random() < 0.5 else "left")
        passes.append(
            Pass(
                index=i,
                text=plate.text,
                region=plate.region,
                layout=plate.layout,
                motion=motion,
                direction=direction,
                start=start,
                frames=frames,
                lane=float(lanes[i % len(lanes)]),
                height_px=float(rng.uniform(*opts.plate_height)),
                yaw=float(rng.uniform(-opts.max_yaw, opts.max_yaw)),
                roll=float(rng.uniform(-opts.max_roll, opts.max_roll)),
                body=tuple(int(v) for v in rng.integers(20, 235, 3)),
                stop=stop,
            )
        )
        plates.append(plate)
        # the next vehicle enters after this one has left, or (overlap) while it is still in view
        gap = (
            rng.uniform(0.3, 0.7) * frames if rng.random() < opts.overlap else frames + rng.uniform(0.3, 1.0) * opts.fps
        )
        start += round(gap)
    if opts.returns > 0:
        back = np.random.default_rng([opts.seed, 2])  # its own generator: the other passes stay those of 0
        for p in [p for p in passes if p.motion == "approach"]:
            if back.random() >= opts.returns:
                continue
            later = p.start + p.frames + round(back.uniform(*opts.stay_s) * opts.fps)
            passes.append(
                dataclasses.replace(
                    p, index=len(passes), motion="recede", direction="up", start=later, returns_of=p.index
                )
            )
            plates.append(plates[p.index])
    return passes, plates


def _quad_at(p: Pass, plate: RenderedPlate, f: int, w: int, h: int) -> np.ndarray:
    """Plate corners (TL, TR, BR, BL px) of pass ``p`` at video frame ``f``; may lie partly off-screen."""
    moving, k = p.frames - p.stop, f - p.start
    k = k if k < moving // 2 else max(moving // 2, k - p.stop)  # stands still halfway for ``stop`` frames
    s = k / max(moving - 1, 1)  # 0..1 along the path
    aspect = plate.image.shape[1] / plate.image.shape[0]
    if p.motion == "cross":
        ph = p.height_px
        x = -0.1 * w + s * 1.2 * w if p.direction == "right" else 1.1 * w - s * 1.2 * w
        y = h * (0.45 + 0.3 * p.lane)
    else:
        grow = s if p.motion == "approach" else 1.0 - s  # 0 far .. 1 near
        ph = p.height_px * (0.45 + 0.55 * grow)
        x = w * p.lane + (grow - 0.5) * 0.1 * w * math.copysign(1, p.yaw)
        y = -0.05 * h + grow * 1.1 * h
    return plate_quad(ph * aspect, ph, x, y, p.yaw, 0.0, p.roll)


def _body_box(quad: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(top-left, bottom-right) pixels of the vehicle body drawn around a plate quad."""
    lo, hi = quad.min(0), quad.max(0)
    (pw, ph), cx = hi - lo, (lo[0] + hi[0]) / 2
    return (
        np.array([cx - BODY_HALF_WIDTH * pw, lo[1] - 4.0 * ph]),
        np.array([cx + BODY_HALF_WIDTH * pw, hi[1] + 1.0 * ph]),
    )


def _draw_body(img: np.ndarray, quad: np.ndarray, color: tuple[int, int, int]) -> None:
    """A vehicle rear around the plate: body, bumper line and two lights, scaled with the plate."""
    (x0, y0), (x1, y1) = quad.min(0), quad.max(0)
    pw, ph = x1 - x0, y1 - y0
    lo, hi = _body_box(quad)
    p1, p2 = (int(lo[0]), int(lo[1])), (int(hi[0]), int(hi[1]))
    cv2.rectangle(img, p1, p2, color, -1)
    shade = tuple(max(0, v - 60) for v in color)
    cv2.line(img, (p1[0], int(y1 + ph * 0.3)), (p2[0], int(y1 + ph * 0.3)), shade, max(1, int(ph * 0.15)))
    for sx in (p1[0] + 0.1 * pw, p2[0] - 0.8 * pw):
        cv2.rectangle(img, (int(sx), int(y0 - ph * 1.2)), (int(sx + 0.7 * pw), int(y0 - ph * 0.4)), (30, 30, 200), -1)


def _smear(img: np.ndarray, box: tuple[np.ndarray, np.ndarray], move: np.ndarray) -> None:
    """Motion blur inside ``box`` (top-left, bottom-right px): the mean along the ``move`` vector (x, y px)."""
    length = float(np.hypot(*move))
    if length < 1.0:
        return
    n = int(np.ceil(length)) | 1  # odd: the kernel has a centre
    kernel = np.zeros((n, n), np.float32)
    c, (dx, dy) = n // 2, move / 2
    cv2.line(kernel, (round(c - dx), round(c - dy)), (round(c + dx), round(c + dy)), 1.0, 1, cv2.LINE_AA)
    kernel /= kernel.sum()
    h, w = img.shape[:2]
    x0, y0 = (max(int(v), 0) for v in box[0])
    x1, y1 = min(int(box[1][0]) + 1, w), min(int(box[1][1]) + 1, h)
    if x1 <= x0 or y1 <= y0:
        return
    ax0, ay0, ax1, ay1 = max(x0 - n, 0), max(y0 - n, 0), min(x1 + n, w), min(y1 + n, h)  # with neighbours
    smeared = cv2.filter2D(img[ay0:ay1, ax0:ax1], -1, kernel, borderType=cv2.BORDER_REPLICATE)
    img[y0:y1, x0:x1] = smeared[y0 - ay0 : y1 - ay0, x0 - ax0 : x1 - ax0]


def _share_inside(quad: np.ndarray, w: int, h: int) -> float:
    """Share of the plate's box inside the frame."""
    lo, hi = quad.min(0), quad.max(0)
    inter = np.clip(np.minimum(hi, [w, h]) - np.maximum(lo, 0), 0, None)
    return float(np.prod(inter) / max(np.prod(hi - lo), 1e-6))


def _inside(quad: np.ndarray, w: int, h: int) -> bool:
    lo, hi = quad.min(0), quad.max(0)
    return lo[0] >= 1 and lo[1] >= 1 and hi[0] <= w - 1 and hi[1] <= h - 1


def make_video(out: str | Path, opts: VideoOptions = VideoOptions(), overwrite: bool = False) -> dict:
    """Write ``video.mp4``, ``frames.jsonl`` and ``passes.json`` under ``out``; returns a summary
    (paths, frames, passes). Raises ValueError when OpenCV cannot write MP4 here."""
    out = prepare_out_dir(Path(out), overwrite)
    rng = np.random.default_rng(opts.seed)
    passes, plates = _plan(opts, rng)
    n_frames = max(p.start + p.frames for p in passes) + int(opts.fps * 0.5)
    background = Backgrounds(opts.width, opts.height, seed=opts.seed, bank=1).sample(rng)
    noise = rng.normal(0, 3, (opts.height, opts.width, 1)).astype(np.int16)  # fixed sensor pattern
    background = np.clip(background.astype(np.int16) + noise, 0, 255).astype(np.uint8)
    signs = np.random.default_rng([opts.seed, 1])  # its own generator: the passes stay those of signs=0
    for _ in range(opts.signs):
        _draw_distractors(background, [], signs)
    video_path = out / "video.mp4"
    writer = cv2.VideoWriter(str(video_path), cv2.VideoWriter_fourcc(*"mp4v"), opts.fps, (opts.width, opts.height))
    if not writer.isOpened():
        raise ValueError(f"{video_path}: OpenCV cannot write MP4 (mp4v) on this machine")
    first = [-1] * len(passes)
    last = [-1] * len(passes)
    with open(out / "frames.jsonl", "w", encoding="utf-8") as gt:
        for f in progress(range(n_frames), "video frames", total=n_frames):
            img = background.copy()
            active = [(p, plates[p.index]) for p in passes if p.start <= f < p.start + p.frames]
            # far vehicles first so a near one is drawn over them
            quads = sorted(
                ((p, pl, _quad_at(p, pl, f, opts.width, opts.height)) for p, pl in active),
                key=lambda t: float(np.ptp(t[2][:, 1])),
            )
            labels = []
            for p, plate, quad in quads:
                _draw_body(img, quad, p.body)
                paste_plate(img, plate, quad)
                if opts.exposure > 0 and f > p.start:
                    before = _quad_at(p, plate, f - 1, opts.width, opts.height)
                    _smear(img, _body_box(quad), (quad.mean(0) - before.mean(0)) * opts.exposure)
            for p, _, quad in quads:
                nearer = [q for o, _, q in quads if o is not p and np.ptp(q[:, 1]) > np.ptp(quad[:, 1])]
                if _covered(quad, nearer) or _share_inside(quad, opts.width, opts.height) < 0.3:
                    continue
                full = _inside(quad, opts.width, opts.height)
                lo = np.maximum(quad.min(0), 0)
                hi = np.minimum(quad.max(0), [opts.width - 1, opts.height - 1])
                labels.append(
                    {
                        "pass": p.index,
                        "text": p.text,
                        "region": p.region,
                        "full": bool(full),
                        "box": [round(float(v), 1) for v in (*lo, *hi)],
                        "corners": [[round(float(x), 1), round(float(y), 1)] for x, y in quad],
                    }
                )
                if full:
                    first[p.index] = f if first[p.index] < 0 else first[p.index]
                    last[p.index] = f
            writer.write(grey_copy(img) if opts.grey else img)
            gt.write(json.dumps({"frame": f, "t": round(f / opts.fps, 4), "plates": labels}) + "\n")
    writer.release()
    final = [asdict(p) | {"first_visible": a, "last_visible": b} for p, a, b in zip(passes, first, last, strict=True)]
    (out / "passes.json").write_text(json.dumps(final, indent=1), encoding="utf-8")
    return {
        "video": str(video_path),
        "frames": n_frames,
        "passes": len(passes),
        "fps": opts.fps,
        "ground_truth": str(out / "frames.jsonl"),
    }


def _covered(quad: np.ndarray, nearer: list[np.ndarray], share: float = 0.2) -> bool:
    """Whether a nearer vehicle's body (drawn after) hides more than ``share`` of this plate's box."""
    lo, hi = quad.min(0), quad.max(0)
    area = max(float(np.prod(hi - lo)), 1e-6)
    for q in nearer:
        blo, bhi = _body_box(q)
        inter = np.clip(np.minimum(hi, bhi) - np.maximum(lo, blo), 0, None)
        if float(np.prod(inter)) > share * area:
            return True
    return False


def read_ground_truth(folder: str | Path) -> tuple[list[dict], list[dict]]:
    """(frames, passes) from a folder written by :func:`make_video`."""
    folder = Path(folder)
    with open(folder / "frames.jsonl", encoding="utf-8") as f:
        frames = [json.loads(line) for line in f if line.strip()]
    passes = json.loads((folder / "passes.json").read_text(encoding="utf-8"))
    return frames, passes
