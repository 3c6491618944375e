"""Site configuration for ``plateforge stream`` (YAML), e.g.::

    cameras:
      - {id: gate-1, source: rtsp://user:pass@10.0.0.5/stream1, max_fps: 10}
      - {id: exit, source: /data/exit.mp4, every: 2, zone: [[0, 0.4], [1, 0.4], [1, 1], [0, 1]]}
    reader: {int8: true, threads: 2, fast_resize: true}      # detector / recognizer / corners paths optional
    tracker: {high: 0.45, low: 0.15, max_lost: 12}
    ocr: {every: 6, settle_reads: 2, max_reads: 12}
    events: {min_hits: 3, crops: true, max_delay_s: 2.0}   # max_delay_s: send while the plate is in view
    lists:                                                  # events name the entries they match
      - {name: residents, path: residents.csv, max_edits: 1}
    outbox: {path: plateforge_events.sqlite, keep_days: 90}
    sinks:
      - {type: webhook, url: "http://gate-controller/open", only_lists: [residents]}
      - {type: kafka, bootstrap: "broker:9092", topic: plates}
      - {type: mqtt, host: broker, port: 1883, topic: site/plates}
      - {type: webhook, url: "https://example.com/hook"}
      - {type: jsonl, path: events.jsonl}
    metrics: {port: 9108}

Every section is optional; unknown keys are errors that name the section and the key.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path

from plateforge.runtime.options import ReaderOptions, make_alpr, make_vehicles, read_site_yaml
from plateforge.runtime.plate_lists import ListOptions
from plateforge.stream.events import parse_time
from plateforge.stream.pipeline import EventOptions, OcrOptions
from plateforge.stream.sources import SourceOptions
from plateforge.stream.tracker import TrackerOptions
from plateforge.typed_config import from_dict

__all__ = ["SiteConfig", "load_site_config", "ListOptions", "ReaderOptions", "make_alpr", "make_vehicles", "parse_time"]


@dataclass(frozen=True)
class CameraConfig:
    """One source. ``zone``: the polygon where plates count, [[x, y], ...] in pixels or in fractions of the
    frame (:mod:`plateforge.runtime.zone`); None: the whole frame. ``zones``: named polygons instead
    (``{entry: [...], exit: [...]}``): a plate counts in any, and its event names the zone. ``start_time``:
    when a recording's first frame was filmed (ISO 8601, UTC unless it names a time zone; or Unix seconds),
    so its events carry the times they show."""

    id: str
    source: str
    every: int = 1
    max_fps: float | None = None
    realtime: bool = False
    zone: list[list[float]] | None = None
    zones: dict[str, list[list[float]]] | None = None
    start_time: str | None = None

    def make_zones(self) -> list:
        """The camera's :class:`~plateforge.runtime.zone.Zone` s (empty: the whole frame); errors name it."""
        from plateforge.runtime.zone import Zone

        if self.zone is not None and self.zones:
            raise ValueError(f"camera {self.id}: give zone or zones, not both")
        if self.zone is not None:
            return [Zone(self.zone, f"camera {self.id}: zone")]
        return [Zone(pts, f"camera {self.id}: zones.{name}", str(name)) for name, pts in (self.zones or {}).items()]


@dataclass(frozen=True)
class OutboxOptions:
    """``path``: the SQLite file that stores every event first (and delivers it to the sinks);
    ``keep_days``: delete events stored longer ago than this once every sink has them, checked hourly
    (None: keep every event)."""

    path: str = "plateforge_events.sqlite"
    keep_days: float | None = None


@dataclass(frozen=True)
class MetricsOptions:
    """``port``: serve Prometheus metrics there (None: no endpoint)."""

    port: int | None = None


@dataclass
class SiteConfig:
    """A site YAML's sections (see the module docstring); ``sinks`` as :func:`~plateforge.stream.sinks.make_sink`
    takes them."""

    cameras: list[CameraConfig] = field(default_factory=list)
    reader: ReaderOptions = ReaderOptions()
    tracker: TrackerOptions = TrackerOptions()
    ocr: OcrOptions = OcrOptions()
    events: EventOptions = EventOptions()
    source: SourceOptions = SourceOptions()
    lists: list[ListOptions] = field(default_factory=list)
    outbox: OutboxOptions = OutboxOptions()
    sinks: list = field(default_factory=list)
    metrics: MetricsOptions = MetricsOptions()


def load_site_config(path: str | Path | None) -> SiteConfig:
    """Read a site YAML (None: defaults); errors name the file, the section and the key."""
    if path is None:
        return SiteConfig()
    raw = read_site_yaml(path)
    known = [f.name for f in dataclasses.fields(SiteConfig)]
    unknown = sorted(set(raw) - set(known))
    if unknown:
        raise ValueError(f"{path}: unknown section(s) {unknown}; known: {sorted(known)}")
    return from_dict(SiteConfig, raw, str(path))
