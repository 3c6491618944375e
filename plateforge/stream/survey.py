"""Camera survey: how well a camera's view serves plate reading, measured on a few minutes of its video (or a
folder of its photos), with advice an installer can act on before the site goes live.

The survey runs the stream pipeline as ``plateforge stream`` does (tracking, throttled OCR, voting) and
measures every vehicle pass at its best read: the plate's height and roll in the frame (from its corners,
TL, TR, BR, BL pixels), the frames it stayed in view, its contrast and brightness in the rectified crop, and how
sure and valid its voted read was. Photos are read one by one (each plate is its own pass). The findings
compare those measures with limits measured on the bundled reader (docs/stream.md, "Camera survey").
"""

from __future__ import annotations

import base64
import json
import math
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import cv2
import numpy as np

from plateforge.ops.geometry import quad_size, rectify
from plateforge.runtime.grey import is_monochrome

# Limits, from the measurements in docs/stream.md "Camera survey" (bundled reader, INT8 detector, synthetic
# 1080p videos of 180 passes, processed every 1-16 frames, and 600 clean crops with their contrast lowered;
# ``python benchmarks/survey_limits.py`` measures them again).
GOOD_HEIGHT_PX = 25.0  # passes whose plate reached 25 px: 98.6 % of 146 read right; 20-25 px 80 %
MIN_HEIGHT_PX = 16.0  # 16-20 px 71 %; 12-16 px 42 %; under 12 px 20 % (most of those never found)
MAX_ROLL_DEG = 20.0  # measured up to 20 degrees with no loss; beyond that, not measured
MIN_FRAMES = 8  # passes in view 8+ processed frames: 97.7-98.6 % right; 6-8 95 %; 4-6 73 %; 3-4 62 %; < 3 15 %
MIN_CONTRAST = 40.0  # p95 - p5 grey levels of a crop: < 20 3 % read right; 20-30 38; 30-40 75; 40-60 89.5; 60+ 97-98
BLUR_LIMIT = 0.05  # motion blur, in plate heights: 0.05 costs 1 point of crop reads; 0.1 6-11; 0.15 23-33; 0.2 58
SHUTTERS = (50, 60, 100, 125, 250, 500, 1000, 2000, 4000, 8000)  # 1/N s, the exposures cameras offer
SURE = 0.8  # voted reads this sure and valid were right for 99.2 % of passes; 85 % of passes 25 px+ reached it


@dataclass
class SurveyPass:
    """One vehicle pass (a photo's plate in photo mode) at its best read.

    ``height_px`` / ``width_px``: the plate's corner quad's side lengths in frame pixels, at the read where it
    was tallest; ``roll_deg``: the angle of its top and bottom edges (positive: clockwise on screen);
    ``frames``: frames its plate was tracked in (1 for a photo); ``motion``: how far its plate moved between
    reads, in plate heights per frame (None for a photo or a single read); ``score``: the detector's score of
    the plate at its best read; ``contrast``: p95 − p5 of the rectified crop's grey levels (dim, washed-out or
    burnt-out plates have little); ``brightness``: its median grey level; ``centre``: of its best box, in
    fractions of the frame (x, y)."""

    text: str
    confidence: float
    format_ok: bool
    frames: int
    reads: int
    height_px: float
    width_px: float
    roll_deg: float
    contrast: float
    brightness: float
    centre: tuple[float, float]
    box: list[float]
    score: float = 0.0
    motion: float | None = None
    source: str = ""
    frame: int = 0

    @property
    def sure(self) -> bool:
        return self.confidence >= SURE and self.format_ok


@dataclass
class Finding:
    """One measure of the view: ``verdict`` ``good`` / ``check`` / ``poor``; ``value`` as shown; ``advice``
    what to change (empty when good, except the shutter's, which always gives the exposure to set)."""

    name: str
    value: str
    verdict: str
    advice: str = ""


@dataclass
class SurveyReport:
    """What :func:`survey_video` / :func:`survey_photos` measured for one camera."""

    camera: str
    source: str
    mode: str  # "video" or "photos"
    frames: int = 0
    seconds: float = 0.0  # source clock covered (video)
    fps: float | None = None  # source frame rate (video; a live source's as measured)
    size: tuple[int, int] = (0, 0)  # frame width, height in pixels
    passes: list[SurveyPass] = field(default_factory=list)
    findings: list[Finding] = field(default_factory=list)
    zone: str | None = None  # suggested --zone (fractions of the frame), from where plates were read surely
    monochrome: bool | None = None  # the first frame has no colour (infrared or grey camera): grey networks read it
    errors: list[str] = field(default_factory=list)
    view: np.ndarray | None = field(default=None, repr=False)  # a frame to draw the passes on
    crops: list[np.ndarray] = field(default_factory=list, repr=False)  # best crop per pass (BGR), same order

    def to_dict(self) -> dict:
        d = {k: v for k, v in asdict(self).items() if k not in ("view", "crops")}
        d["findings"] = [asdict(f) for f in self.findings]
        return d


def plate_geometry(corners) -> tuple[float, float, float]:
    """Height and width in pixels (mean of the quad's opposite sides) and roll in degrees of a plate's
    corners (TL, TR, BR, BL pixels)."""
    q = np.asarray(corners, np.float32).reshape(4, 2)
    width, height = quad_size(q)
    top, bottom = q[1] - q[0], q[2] - q[3]
    along = top + bottom
    roll = math.degrees(math.atan2(float(along[1]), float(along[0])))
    return float(height), float(width), roll


def crop_light(image: np.ndarray, corners) -> tuple[float, float, np.ndarray]:
    """Contrast (p95 − p5 grey levels) and brightness (median grey level) of the plate's rectified crop, and
    the crop (BGR, the plate's own size in pixels, at least 8 × 4)."""
    height, width, _ = plate_geometry(corners)
    w, h = max(int(round(width)), 8), max(int(round(height)), 4)
    crop = rectify(image, np.asarray(corners, np.float32), w, h)
    grey = cv2.cvtColor(crop, cv2.COLOR_BGR2GRAY) if crop.ndim == 3 else crop
    lo, mid, hi = np.percentile(grey, [5, 50, 95])
    return float(hi - lo), float(mid), crop


def _pct(values, q) -> float:
    return float(np.percentile(np.asarray(values, np.float64), q))


def _checked(name: str, value: str, ok: bool, advice: str) -> Finding:
    """A finding that is ``good`` when ``ok``, else ``check`` with ``advice``."""
    return Finding(name, value, "good" if ok else "check", "" if ok else advice)


def findings(report: SurveyReport) -> list[Finding]:
    """The installer's checklist for one camera, from its passes."""
    ps = report.passes
    out: list[Finding] = []
    if not ps:
        out.append(
            Finding(
                "plates found",
                "0",
                "poor",
                "no plate was found: check that vehicles pass in this stretch of video, that plates are at least "
                f"{MIN_HEIGHT_PX:.0f} px tall, and the camera's focus and exposure",
            )
        )
        return out
    heights = [p.height_px for p in ps]
    small = sum(h < GOOD_HEIGHT_PX for h in heights) / len(ps)
    p50 = _pct(heights, 50)
    value = f"median {p50:.0f} px (10 % under {_pct(heights, 10):.0f} px); {small:.0%} under {GOOD_HEIGHT_PX:.0f} px"
    if p50 < MIN_HEIGHT_PX:
        verdict, advice = "poor", "zoom in, or move the camera nearer the lane, or raise the resolution"
    elif small > 0.2:  # and under 20 px about half the plates are not found at all, so never surveyed
        verdict = "check"
        advice = (
            f"zoom in until plates are {GOOD_HEIGHT_PX:.0f} px tall where they are read, or search small plates "
            "with --tiles 2 (about 4x the detection time)"
        )
    else:
        verdict, advice = "good", ""
    out.append(Finding("plate height", value, verdict, advice))

    rolls = [abs(p.roll_deg) for p in ps]
    p90 = _pct(rolls, 90)
    out.append(
        _checked(
            "plate roll",
            f"90 % within {p90:.1f} deg",
            p90 <= MAX_ROLL_DEG,
            f"level the camera: plates lean more than the {MAX_ROLL_DEG:.0f} deg the reader was measured on",
        )
    )
    if report.mode == "video":
        frames = [p.frames for p in ps]
        few = sum(f < MIN_FRAMES for f in frames) / len(ps)
        value = f"median {_pct(frames, 50):.0f} frames; {few:.0%} of passes under {MIN_FRAMES}"
        if report.fps:
            value += f" (source {report.fps:.1f} frames/s)"
        out.append(
            _checked(
                "frames in view",
                value,
                few <= 0.1,
                "vehicles cross the view too fast: raise the frame rate (or process every frame), or widen the "
                "view along the direction of travel",
            )
        )
    motions = [p.motion for p in ps if p.motion is not None]
    if report.mode == "video" and motions and report.fps:
        out.append(shutter_finding(_pct(motions, 90), report.fps))
    contrasts = [p.contrast for p in ps]
    low = sum(c < MIN_CONTRAST for c in contrasts) / len(ps)
    out.append(
        _checked(
            "plate contrast",
            f"median {_pct(contrasts, 50):.0f} grey levels; {low:.0%} under {MIN_CONTRAST:.0f}",
            low <= 0.1,
            "plates are dim or washed out: adjust exposure for the plate, not the scene (or add IR light)",
        )
    )
    sure = sum(p.sure for p in ps) / len(ps)
    out.append(
        Finding(
            "sure reads",
            f"{sure:.0%} of {len(ps)} {'passes' if report.mode == 'video' else 'plates'} read {SURE:.0%} sure "
            "and valid",
            "good" if sure >= 0.8 else "check" if sure >= 0.5 else "poor",
            "" if sure >= 0.8 else "see the crops sheet: the plates read least surely come first",
        )
    )
    return out


def longest_exposure(motion: float, fps: float) -> float:
    """The longest exposure in seconds that keeps motion blur under ``BLUR_LIMIT`` plate heights for a plate
    moving ``motion`` plate heights a frame at ``fps`` frames a second (inf for a plate standing still)."""
    speed = motion * fps  # plate heights a second
    return BLUR_LIMIT / speed if speed > 0 else math.inf


def shutter_finding(motion: float, fps: float) -> Finding:
    """The exposure to set for plates moving ``motion`` plate heights a frame (the 90th percentile)."""
    longest = longest_exposure(motion, fps)
    n = next((v for v in SHUTTERS if 1.0 / v <= longest), SHUTTERS[-1])
    value = f"90 % of plates move under {motion:.2f} plate heights a frame ({motion * fps:.1f} a second)"
    advice = f"keep the exposure at 1/{n} s or shorter, or moving plates smear (over {BLUR_LIMIT} of their height)"
    return Finding("shutter", value, "good" if n <= 250 else "check", advice)


def suggest_zone(passes: list[SurveyPass], size: tuple[int, int], grow: float = 0.05) -> str | None:
    """A rectangle around the boxes of the passes read surely, grown by ``grow`` of the frame on each side,
    as a ``--zone`` polygon in fractions of the frame; None with fewer than 3 sure passes."""
    boxes = np.array([p.box for p in passes if p.sure], np.float64)
    if len(boxes) < 3 or not size[0] or not size[1]:
        return None
    w, h = size
    x1, y1 = max(boxes[:, 0].min() / w - grow, 0.0), max(boxes[:, 1].min() / h - grow, 0.0)
    x2, y2 = min(boxes[:, 2].max() / w + grow, 1.0), min(boxes[:, 3].max() / h + grow, 1.0)
    return f"{x1:.2f},{y1:.2f} {x2:.2f},{y1:.2f} {x2:.2f},{y2:.2f} {x1:.2f},{y2:.2f}"


def _finish(report: SurveyReport) -> SurveyReport:
    report.findings = findings(report)
    report.zone = suggest_zone(report.passes, report.size)
    return report


def survey_video(
    uri: str,
    alpr,
    camera: str | None = None,
    seconds: float | None = 120.0,
    max_frames: int | None = None,
    every: int = 1,
    zones=None,
    on_frame=None,
) -> SurveyReport:
    """Survey a video file, image sequence folder or live stream for ``seconds`` of its clock (None: to its
    end) or ``max_frames`` processed frames. ``alpr``: the reader (an :class:`~plateforge.runtime.alpr.ALPR`);
    ``zones``: :class:`~plateforge.runtime.zone.Zone` s as in the stream; ``on_frame(done, total)`` is called after
    each processed frame (progress; total 0: unknown)."""
    from plateforge.stream.pipeline import CameraProcessor
    from plateforge.stream.sources import FrameSource, SourceOptions, camera_name

    camera = camera or camera_name(uri)
    report = SurveyReport(camera, uri, "video")
    source = FrameSource(uri, camera, SourceOptions(every=every))
    sightings: dict[int, list[_Sighting]] = {}  # track id → its reads
    surest: dict[int, _Sighting] = {}  # track id → its most confident read, the only one whose crop is kept
    current: dict = {}

    def on_read(_camera, track_id, frame_index, read) -> None:
        contrast, brightness, crop = crop_light(current["image"], read.corners)
        height, width, roll = plate_geometry(read.corners)
        seen = _Sighting(frame_index, tuple(read.box), height, width, roll, contrast, brightness, crop, read.confidence)
        sightings.setdefault(track_id, []).append(seen)
        held = surest.get(track_id)
        if held is None or seen.confidence > held.confidence:
            if held is not None:
                held.crop = None  # memory stays bounded over a long survey
            surest[track_id] = seen
        else:
            seen.crop = None

    proc = CameraProcessor(camera, alpr, zones=zones, on_read=on_read)
    events = []
    first_t = last_t = None
    source.start()
    try:
        while not source.done:
            frame = source.get(timeout=0.05)
            if frame is None:
                continue
            if report.view is None:
                report.view = frame.image.copy()
                report.size = (frame.image.shape[1], frame.image.shape[0])
                report.monochrome = is_monochrome(frame.image)
            first_t = frame.t if first_t is None else first_t
            last_t = frame.t
            current["image"] = frame.image
            try:
                events += proc.process(frame)
            except Exception as e:  # a bad frame is noted and skipped, as in the stream
                report.errors.append(f"frame {frame.index}: {type(e).__name__}: {e}")
            report.frames += 1
            if on_frame is not None:
                on_frame(report.frames, max_frames or 0)
            if max_frames is not None and report.frames >= max_frames:
                break
            if seconds is not None and last_t - first_t >= seconds:
                break
    finally:
        source.stop()
    events += proc.finish()
    if report.frames == 0:
        report.errors.append(f"{source.name}: no frame could be read")
    report.seconds = float(last_t - first_t) if first_t is not None else 0.0
    if report.frames > 1 and report.seconds > 0:  # motion is per source frame: the source's rate, not ours
        kept = source.captured if source.live else report.frames - 1  # a file's clock is its frame index / fps
        report.fps = every * kept / report.seconds
    by_frame: dict[int, list[_Sighting]] = {}
    for seen in sightings.values():
        for x in seen:
            by_frame.setdefault(x.frame, []).append(x)
    for e in events:
        best = e.best
        if not best.get("corners"):
            continue
        b = best["box"]
        at_best = min(by_frame.get(best["frame"], []), key=lambda x: _gap(x.box, b), default=None)
        seen = sightings.get(e.track_id, []) + ([at_best] if at_best is not None else [])
        if not seen:
            continue
        tallest = max(seen, key=lambda x: x.height)
        light = at_best or tallest
        report.passes.append(
            SurveyPass(
                text=e.text or "",
                confidence=float(e.confidence or 0.0),
                format_ok=bool(e.format_ok),
                frames=int(e.frames),
                reads=int(e.ocr_reads),
                height_px=round(tallest.height, 1),
                width_px=round(tallest.width, 1),
                roll_deg=round(tallest.roll, 1),
                contrast=round(light.contrast, 1),
                brightness=round(light.brightness, 1),
                centre=(round((b[0] + b[2]) / 2 / report.size[0], 3), round((b[1] + b[3]) / 2 / report.size[1], 3)),
                box=[round(float(v), 1) for v in b],
                score=round(float(best.get("detection_score", 0.0)), 3),
                motion=_motion(sorted(sightings.get(e.track_id, []), key=lambda x: x.frame)),
                source=uri,
                frame=int(best["frame"]),
            )
        )
        crop = light.crop
        if crop is None and e.best_crop_jpeg:  # the best read came from a track merged into this pass
            crop = cv2.imdecode(np.frombuffer(base64.b64decode(e.best_crop_jpeg), np.uint8), cv2.IMREAD_COLOR)
        report.crops.append(crop)
    return _finish(report)


@dataclass
class _Sighting:
    """One read of a tracked plate: frame index, box xyxy px, height / width px, roll deg, crop light, crop,
    read confidence."""

    frame: int
    box: tuple
    height: float
    width: float
    roll: float
    contrast: float
    brightness: float
    crop: np.ndarray | None  # kept for the track's most confident read only
    confidence: float = 0.0


def _gap(a, b) -> float:
    return float(np.abs(np.asarray(a, np.float64) - np.asarray(b, np.float64)).sum())


def _motion(seen: list[_Sighting]) -> float | None:
    """Median movement of a plate between consecutive reads, in plate heights per frame."""
    steps = []
    for s0, s1 in zip(seen, seen[1:], strict=False):
        if s1.frame > s0.frame:
            (x0, y0), (x1, y1) = _centre(s0.box), _centre(s1.box)
            steps.append(math.hypot(x1 - x0, y1 - y0) / max((s0.height + s1.height) / 2, 1.0) / (s1.frame - s0.frame))
    return round(float(np.median(steps)), 3) if steps else None


def _centre(box) -> tuple[float, float]:
    return (box[0] + box[2]) / 2, (box[1] + box[3]) / 2


def survey_photos(paths: list[str | Path], alpr, camera: str = "photos", on_photo=None) -> SurveyReport:
    """Survey photos from one camera (gate snapshots, say): each plate the reader finds is one pass. An
    unreadable file is noted in ``errors`` and skipped. ``on_photo(done, total)`` is called after each
    (progress)."""
    from plateforge.runtime.images import load_image

    report = SurveyReport(camera, str(paths[0]) if len(paths) == 1 else f"{len(paths)} photos", "photos")
    for path in paths:
        try:
            image = load_image(str(path))
            plates = alpr.read(image)
        except Exception as e:
            report.errors.append(f"{path}: {e}")
            if on_photo is not None:
                on_photo(len(report.errors) + report.frames, len(paths))
            continue
        if report.view is None:
            report.view = image.copy()
            report.size = (image.shape[1], image.shape[0])
            report.monochrome = is_monochrome(image)
        report.frames += 1
        for p in plates:
            contrast, brightness, crop = crop_light(image, p.corners)
            height, width, roll = plate_geometry(p.corners)
            b = p.box
            h, w = image.shape[:2]
            report.passes.append(
                SurveyPass(
                    text=p.text,
                    confidence=float(p.confidence),
                    format_ok=bool(p.format_ok),
                    frames=1,
                    reads=1,
                    height_px=round(height, 1),
                    width_px=round(width, 1),
                    roll_deg=round(roll, 1),
                    contrast=round(contrast, 1),
                    brightness=round(brightness, 1),
                    centre=(round((b[0] + b[2]) / 2 / w, 3), round((b[1] + b[3]) / 2 / h, 3)),
                    box=[round(float(v), 1) for v in b],
                    score=round(float(p.detection_score), 3),
                    source=str(path),
                )
            )
            report.crops.append(crop)
        if on_photo is not None:
            on_photo(len(report.errors) + report.frames, len(paths))
    return _finish(report)


COLOURS = {"good": (80, 200, 80), "check": (0, 190, 255), "poor": (60, 60, 230)}  # BGR


def _pass_verdict(p: SurveyPass) -> str:
    if p.height_px < MIN_HEIGHT_PX or not p.sure:
        return "poor"
    return "good" if p.height_px >= GOOD_HEIGHT_PX else "check"


def draw_view(report: SurveyReport) -> np.ndarray:
    """The survey's frame with every pass's best box (green: read surely and ≥ GOOD_HEIGHT_PX tall, orange:
    sure but small, red: unsure or under MIN_HEIGHT_PX), its height in pixels, and the suggested zone."""
    img = report.view.copy() if report.view is not None else np.zeros((360, 640, 3), np.uint8)
    h, w = img.shape[:2]
    scale = max(w / 1280, 0.6)
    for p in report.passes:
        x1, y1, x2, y2 = (int(round(v)) for v in p.box)
        colour = COLOURS[_pass_verdict(p)]
        cv2.rectangle(img, (x1, y1), (x2, y2), colour, max(2, int(2 * scale)))
        at, font = (x1, max(y1 - 5, 12)), 0.5 * scale
        cv2.putText(img, f"{p.height_px:.0f}px", at, cv2.FONT_HERSHEY_SIMPLEX, font, (0, 0, 0), 3)
        cv2.putText(img, f"{p.height_px:.0f}px", at, cv2.FONT_HERSHEY_SIMPLEX, font, colour, 1)
    if report.zone:
        pts = np.array([[float(v) for v in xy.split(",")] for xy in report.zone.split()]) * [w, h]
        cv2.polylines(img, [pts.astype(np.int32)], True, (255, 200, 0), max(1, int(2 * scale)))
        cv2.putText(
            img, "suggested zone", (int(pts[0][0]) + 4, int(pts[0][1]) + int(18 * scale)),
            cv2.FONT_HERSHEY_SIMPLEX, 0.6 * scale, (255, 200, 0), max(1, int(scale)),
        )  # fmt: skip
    return img


def draw_crops(report: SurveyReport, columns: int = 6, cell: tuple[int, int] = (200, 60)) -> np.ndarray:
    """A contact sheet of the passes' best crops, the least sure first, each labelled with its text, height
    in pixels and confidence (red: unsure or invalid)."""
    order = sorted(range(len(report.passes)), key=lambda i: (report.passes[i].sure, report.passes[i].confidence))
    cw, ch = cell
    rows = max(1, math.ceil(len(order) / columns))
    sheet = np.full((rows * (ch + 22), columns * cw, 3), 255, np.uint8)
    for k, i in enumerate(order):
        p, crop = report.passes[i], report.crops[i]
        r, c = divmod(k, columns)
        x, y = c * cw, r * (ch + 22)
        if crop is not None and crop.size:
            s = min((cw - 8) / crop.shape[1], ch / crop.shape[0])
            small = cv2.resize(crop, (max(1, int(crop.shape[1] * s)), max(1, int(crop.shape[0] * s))))
            sheet[y : y + small.shape[0], x + 4 : x + 4 + small.shape[1]] = small
        colour = (0, 120, 0) if p.sure else (0, 0, 200)
        label = f"{p.text or '?'} {p.height_px:.0f}px {p.confidence:.2f}"
        cv2.putText(sheet, label, (x + 4, y + ch + 16), cv2.FONT_HERSHEY_SIMPLEX, 0.45, colour, 1)
    return sheet


def write_report(report: SurveyReport, out: str | Path) -> dict[str, str]:
    """Write ``<camera>_survey.json``, ``<camera>_view.jpg`` and ``<camera>_crops.jpg`` into ``out``; returns
    their paths."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    paths = {
        "json": out / f"{report.camera}_survey.json",
        "view": out / f"{report.camera}_view.jpg",
        "crops": out / f"{report.camera}_crops.jpg",
    }
    d = report.to_dict()
    d["written"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    paths["json"].write_text(json.dumps(d, indent=1) + "\n")
    cv2.imwrite(str(paths["view"]), draw_view(report))
    cv2.imwrite(str(paths["crops"]), draw_crops(report))
    return {k: str(v) for k, v in paths.items()}
