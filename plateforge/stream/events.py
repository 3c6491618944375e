"""Plate events: one per vehicle pass, versioned JSON with an idempotent id.

Schema ``plateforge.plate_event/1`` (all times in seconds; boxes xyxy pixels; corners TL, TR, BR, BL)::

    {"schema": "plateforge.plate_event/1", "event_id": "<uuid5>", "camera": "gate-1", "track_id": 7,
     "text": "A12345", "confidence": 0.97, "char_confidences": [...], "region": "uae-dubai",
     "region_confidence": 0.99, "format_ok": true, "candidates": [["A12345", 4.8], ...],
     "first_seen": 12.04, "last_seen": 14.52, "dwell_s": 2.48, "first_frame": 301, "last_frame": 363,
     "first_seen_utc": "2026-11-23T05:40:12.040Z", "direction": "down", "motion": "approaching",
     "frames": 58, "ocr_reads": 6,
     "best": {"frame": 350, "box": [...], "corners": [...], "detection_score": 0.91, "confidence": 0.99},
     "best_crop_jpeg": "<base64 JPEG of the rectified plate, BGR source>" | null,
     "vehicle": {"label": "car", "score": 0.88, "box": [...]} | null,   (with a vehicle model)
     "in_view": false,          (true: sent while the plate was still in view, ``events.max_delay_s``;
                                 last_seen, dwell_s, last_frame and frames are then as of that moment)
     "lists": [{"list": "residents", "plate": "A 12345", "text": "A12345", "edits": 0,
                "region": "uae-dubai", "label": "Villa 12"}],   (the site's plate lists the pass matched)
     "parts": ["A", "12345"],   (UAE plates only: code and number, as PlateResult.parts; left out otherwise)
     "zone": "entry" | null,    (the camera's named zone most of the pass's detections were in)
     "frame_path": "frames/gate-1/2026-11-23/<event_id>.jpg" | null,   (``events.frames_dir``: the frame in
                                 which the plate was seen largest, its box, corners and voted text drawn on it)
     "corrected": {"was": "A12845", "by": "operator", "at": "2026-12-07T09:12:00.000Z"},   (a person's
                                 correction of the text, ``Outbox.correct``; the pass is sent again)
     "revision": 2,             (1, left out, as read; one higher with each correction)
     "producer": "plateforge/0.1.0"}

``first_seen`` / ``last_seen`` are the source's clock: the position in a video file or image folder, Unix
time for live streams. ``event_id`` is a UUID5 of camera, first frame and first-seen time (and the track, for
a second plate first seen in the same frame), so processing
the same file again (after a crash, say) gives the same ids: the outbox stores each id once and consumers
can drop duplicates of an at-least-once delivery by it.
"""

from __future__ import annotations

import base64
import csv
import io
import logging
import re
import shutil
import time
import uuid
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path

import cv2
import numpy as np

from plateforge import __version__
from plateforge.types import PlateResult

log = logging.getLogger(__name__)

SCHEMA = "plateforge.plate_event/1"
_NAMESPACE = uuid.UUID("3f6c1c4e-5a53-4d0e-9a38-7f1c9b8e2a10")


# the columns of a CSV export of events (plateforge events --format csv, GET /v1/events?format=csv)
CSV_FIELDS = (
    "first_seen_utc",
    "camera",
    "zone",
    "text",
    "parts",
    "confidence",
    "region",
    "format_ok",
    "motion",
    "direction",
    "dwell_s",
    "lists",
    "near",
    "event_id",
    "frame_path",
)


def csv_value(event: dict, field: str) -> str:
    """One CSV cell of ``event``: parts joined by a space, lists as their names (``residents;visitors``), near
    as ``TEXT (N edits)``, missing values empty."""
    value = event.get(field)
    if value is None or value == []:
        return ""
    if field == "parts":
        return " ".join(value)
    if field == "lists":
        return ";".join(m["list"] for m in value)
    if field == "near":
        return f"{value['text']} ({value['edits']} edits)"
    if isinstance(value, bool):
        return str(value).lower()
    return str(value)


def events_csv(events: list[dict]) -> str:
    """``events`` as CSV text: a header of :data:`CSV_FIELDS`, then one row per event (:func:`csv_value`)."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(CSV_FIELDS)
    for e in events:
        writer.writerow([csv_value(e, f) for f in CSV_FIELDS])
    return buf.getvalue()


def event_id(camera: str, first_frame: int, first_seen: float, track: int | None = None) -> str:
    """The idempotent id of a pass: the same camera, first frame and first-seen time give the same id;
    ``track`` tells apart passes first seen in the same frame (the second of them and on)."""
    key = f"{camera}|{first_frame}|{first_seen:.3f}" + (f"|{track}" if track is not None else "")
    return str(uuid.uuid5(_NAMESPACE, key))


MOTIONS = ("approaching", "receding", "steady")  # an event's ``motion``, from :func:`direction`


def direction(first_box, last_box) -> tuple[str, str]:
    """(screen direction up/down/left/right of the plate centre from first to last box, motion
    approaching / receding / steady from the plate height) for two xyxy boxes."""
    (ax1, ay1, ax2, ay2), (bx1, by1, bx2, by2) = first_box, last_box
    dx, dy = (bx1 + bx2 - ax1 - ax2) / 2, (by1 + by2 - ay1 - ay2) / 2
    screen = ("right" if dx > 0 else "left") if abs(dx) >= abs(dy) else ("down" if dy > 0 else "up")
    ratio = (by2 - by1) / max(ay2 - ay1, 1e-6)
    motion = "approaching" if ratio > 1.15 else "receding" if ratio < 1 / 1.15 else "steady"  # MOTIONS
    return screen, motion


def utc_iso(t: float) -> str:
    return datetime.fromtimestamp(t, UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def parse_time(value: str | float | None, where: str) -> float | None:
    """Unix seconds from a number or an ISO 8601 time (UTC when it names no zone); errors name ``where``."""
    if value is None:
        return None
    try:
        return float(value)
    except (TypeError, ValueError):
        pass
    try:
        t = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(f"{where}: expected ISO 8601 (2026-12-07T08:00:00Z) or Unix seconds, got {value!r}") from None
    return (t if t.tzinfo else t.replace(tzinfo=UTC)).timestamp()


def jpeg_b64(crop: np.ndarray | None, quality: int = 90) -> str | None:
    if crop is None or not crop.size:
        return None
    ok, buf = cv2.imencode(".jpg", crop, [cv2.IMWRITE_JPEG_QUALITY, quality])
    return base64.b64encode(buf.tobytes()).decode("ascii") if ok else None


def frame_file(frames_dir: str | Path, camera: str, first_wall: float, event: str) -> Path:
    """Where an event's frame goes: ``<frames_dir>/<camera>/<UTC date of first sight>/<event id>.jpg`` (the
    camera id made safe for a file name)."""
    day = datetime.fromtimestamp(first_wall, UTC).strftime("%Y-%m-%d")
    return Path(frames_dir) / re.sub(r"[^A-Za-z0-9._-]", "_", camera) / day / f"{event}.jpg"


def write_frame(path: Path, image: np.ndarray, read: PlateResult, quality: int = 85) -> bool:
    """Write BGR ``image`` as JPEG to ``path`` with ``read``'s box, corners and text drawn; False (logged)
    when it cannot be written, so a full disk never stops the stream."""
    from plateforge.runtime.draw import draw_plates

    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        if cv2.imwrite(str(path), draw_plates(image, [read]), [cv2.IMWRITE_JPEG_QUALITY, quality]):
            return True
        log.error("cannot write the event frame %s", path)
    except Exception as e:  # noqa: BLE001 — evidence is extra: a full disk or a bad frame never stops a stream
        log.error("cannot write the event frame %s: %s: %s", path, type(e).__name__, e)
    return False


def prune_frames(frames_dir: str | Path, keep_s: float, now: float | None = None) -> int:
    """Delete the day folders of ``frames_dir`` (``<camera>/<YYYY-MM-DD>``) whose whole day ended more than
    ``keep_s`` seconds before ``now``; returns how many files went."""
    cutoff = (time.time() if now is None else now) - keep_s
    gone = 0
    for day in Path(frames_dir).glob("*/*"):
        try:
            end = datetime.strptime(day.name, "%Y-%m-%d").replace(tzinfo=UTC).timestamp() + 86400
        except ValueError:
            continue  # not a day folder of ours
        if day.is_dir() and end < cutoff:
            files = [f for f in day.iterdir() if f.is_file()]
            gone += len(files)
            shutil.rmtree(day, ignore_errors=True)
    return gone


@dataclass(frozen=True)
class PlateEvent:
    """One vehicle pass (see the module docstring for the fields and their units)."""

    event_id: str
    camera: str
    track_id: int
    text: str
    confidence: float
    char_confidences: tuple[float, ...]
    region: str | None
    region_confidence: float
    format_ok: bool | None
    candidates: tuple[tuple[str, float], ...]
    first_seen: float
    last_seen: float
    dwell_s: float
    first_frame: int
    last_frame: int
    first_seen_utc: str
    direction: str
    motion: str
    frames: int
    ocr_reads: int
    best: dict
    best_crop_jpeg: str | None = None
    vehicle: dict | None = None
    in_view: bool = False
    lists: tuple[dict, ...] = ()
    frame_path: str | None = None
    parts: tuple[str, ...] = ()
    zone: str | None = None
    schema: str = SCHEMA
    producer: str = f"plateforge/{__version__}"

    def to_dict(self) -> dict:
        d = asdict(self)
        d["candidates"] = [list(c) for c in self.candidates]
        d["char_confidences"] = list(self.char_confidences)
        d["lists"] = [dict(m) for m in self.lists]
        if self.parts:
            d["parts"] = list(self.parts)
        else:
            del d["parts"]
        return d
