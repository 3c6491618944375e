"""Parking sessions: pair each vehicle's entry event with its exit event, for stays, durations and the
vehicles still inside.

Entries and exits are events of chosen cameras (``gate-in``), optionally of one named zone of a camera
(``gate@entry``: one view of both lanes) or of one motion only (``gate:approaching`` for a single camera
that sees vehicles come in towards it and leave away from it).
Events are taken in time order (``first_seen_utc``, the wall clock when the plate was first seen). An
exit closes the open session whose plate it matches (the same plate rules as plate lists: case, spaces
and dashes ignored, 0/O-style confusions forgiven, up to ``max_edits`` edits for plates of 5 characters or
more), the exact match first, then the fewest edits, then the latest entry. An exit that matches no open
session is reported as an exit without entry; an entry of a plate that is already inside replaces the
older entry, which is reported as an entry without exit.

Video files carry the time they were processed, not the time they were filmed, in ``first_seen_utc``:
sessions are for live cameras, or for files whose events carry real times.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Iterable
from dataclasses import asdict, dataclass

from rapidfuzz.distance import Levenshtein

from plateforge.runtime.plate_lists import plate_key
from plateforge.stream.events import MOTIONS, parse_time


@dataclass(frozen=True)
class Gate:
    """Which events count as entries (or exits): those of ``camera``, of its named ``zone`` and of ``motion``
    only, when given."""

    camera: str
    motion: str | None = None
    zone: str | None = None

    @classmethod
    def parse(cls, text: str) -> Gate:
        """``CAMERA``, ``CAMERA@ZONE`` (a named zone of the camera: one view's entry lane) and either with
        ``:MOTION`` (approaching, receding, steady). A camera id may hold a colon itself (``10.0.0.5:554``, the
        default id of a stream URL): only a last part of letters is a motion."""
        rest, sep, motion = text.rpartition(":")
        if not sep or not motion.isalpha():
            rest, motion = text, ""
        camera, _, zone = rest.partition("@")
        if not camera or (motion and motion not in MOTIONS) or "@" in rest and not zone:
            raise ValueError(
                f"gate {text!r}: expected CAMERA, CAMERA@ZONE, or either with :MOTION, MOTION one of {list(MOTIONS)}"
            )
        return cls(camera, motion or None, zone or None)

    def takes(self, event: dict) -> bool:
        return (
            event.get("camera") == self.camera
            and (self.motion is None or event.get("motion") == self.motion)
            and (self.zone is None or event.get("zone") == self.zone)
        )


@dataclass(frozen=True)
class ParkingSession:
    """One stay. Times are Unix seconds (``*_utc`` the same as ISO 8601); ``exit_*`` None while the vehicle
    is inside (or its exit was not seen); ``edits`` between the entry and exit reads of the plate."""

    plate: str
    entry_event: str
    entry_camera: str
    entry_time: float
    entry_utc: str
    exit_plate: str | None = None
    exit_event: str | None = None
    exit_camera: str | None = None
    exit_time: float | None = None
    exit_utc: str | None = None
    duration_s: float | None = None
    edits: int | None = None

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class SessionReport:
    """``closed``: stays with both ends; ``inside``: entries with no exit yet, oldest first; ``exits_without_entry``
    and ``entries_replaced`` (an entry of a plate already inside pushes out the older one): the events that
    did not pair."""

    closed: list[ParkingSession]
    inside: list[ParkingSession]
    exits_without_entry: list[dict]
    entries_replaced: list[ParkingSession]

    def to_dict(self) -> dict:
        return {
            "closed": [s.to_dict() for s in self.closed],
            "inside": [s.to_dict() for s in self.inside],
            "exits_without_entry": [_brief(e) for e in self.exits_without_entry],
            "entries_replaced": [s.to_dict() for s in self.entries_replaced],
        }


def _brief(event: dict) -> dict:
    return {k: event.get(k) for k in ("event_id", "camera", "text", "motion", "first_seen_utc")}


def event_time(event: dict) -> float:
    """Unix seconds of an event's ``first_seen_utc``; ValueError naming the event when it has none."""
    stamp = event.get("first_seen_utc")
    if not stamp:
        raise ValueError(f"event {event.get('event_id')}: no first_seen_utc")
    return parse_time(stamp, f"event {event.get('event_id')}: first_seen_utc")


def pair_sessions(
    events: Iterable[dict],
    entries: list[Gate],
    exits: list[Gate],
    max_edits: int = 1,
    fuzzy_from: int = 5,
) -> SessionReport:
    """Pair entry and exit events into stays (see the module docstring). Events of other cameras, and those
    without text, are left out."""
    timed = sorted(((event_time(e), e) for e in events if e.get("text")), key=lambda te: te[0])
    inside: list[tuple[str, ParkingSession]] = []  # (plate key, open stay), oldest first
    closed, lost, replaced = [], [], []
    for t, e in timed:
        key = plate_key(e["text"])
        if any(g.takes(e) for g in entries):
            replaced += [s for k, s in inside if k == key]
            inside = [(k, s) for k, s in inside if k != key]
            inside.append((key, ParkingSession(e["text"], e["event_id"], e["camera"], t, e["first_seen_utc"])))
        elif any(g.takes(e) for g in exits):
            best, best_rank = None, None
            for k, s in inside:
                d = Levenshtein.distance(key, k)
                allowed = max_edits if min(len(key), len(k)) >= fuzzy_from else 0
                if d > allowed:
                    continue
                rank = (d, -s.entry_time)
                if best_rank is None or rank < best_rank:
                    best, best_rank = (k, s), rank
            if best is None:
                lost.append(e)
                continue
            inside.remove(best)
            stay = best[1]
            closed.append(
                dataclasses.replace(
                    stay,
                    exit_plate=e["text"],
                    exit_event=e["event_id"],
                    exit_camera=e["camera"],
                    exit_time=t,
                    exit_utc=e["first_seen_utc"],
                    duration_s=round(t - stay.entry_time, 3),
                    edits=best_rank[0],
                )
            )
    return SessionReport(closed, [s for _, s in inside], lost, replaced)


def format_duration(seconds: float | None) -> str:
    """``2 h 05 min``, ``4 min 12 s``; empty for None."""
    if seconds is None or math.isnan(seconds):
        return ""
    s = int(round(seconds))
    if s >= 3600:
        return f"{s // 3600} h {s % 3600 // 60:02d} min"
    return f"{s // 60} min {s % 60:02d} s" if s >= 60 else f"{s} s"
