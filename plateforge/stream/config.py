"""Site configuration for ``plateforge stream`` (YAML), e.g.::

    cameras:
      - {id: gate-1, source: rtsp://user:pass@10.0.0.5/stream1, max_fps: 10}
      - {id: exit, source: /data/exit.mp4, every: 2}
    reader: {int8: true, threads: 2, fast_resize: true}      # detector / recognizer / corners paths optional
    tracker: {high: 0.45, low: 0.15, max_lost: 12}
    ocr: {every: 6, settle_reads: 2, max_reads: 12}
    events: {min_hits: 3, crops: true}
    outbox: {path: plateforge_events.sqlite}
    sinks:
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

import yaml

from plateforge.runtime.defaults import PLATE_CHECK, PLATE_CHECK_SURE, RECHECK_BELOW, SECOND_VIEW_BELOW, SMALL_BELOW
from plateforge.stream.pipeline import EventOptions, OcrOptions
from plateforge.stream.sources import SourceOptions
from plateforge.stream.tracker import TrackerOptions
from plateforge.typed_config import from_dict


@dataclass(frozen=True)
class ReaderOptions:
    """Models (None: bundled; ``int8`` picks the bundled QAT INT8 detector), detection threshold, ONNX Runtime
    threads per model, bilinear letterbox, the corner model (``auto``, a path, or ``head`` for the
    detector's own corners), ``tta`` (the recognizer's test-time zooms, see ``ALPR``), ``fit_formats`` (replace a
    read that fails its region's patterns by a likely valid alternative, see ``ALPR``), ``tiles`` (N > 1: also
    detect in N × N tiles, for plates too small in a wide high-resolution view, see ``PlateDetector``),
    ``second_view_below`` (px; plates less tall are also read from a second crop, see ``ALPR``; 0 or null: off),
    ``recheck_below`` (only plates first read less confidently get the zooms and the second crop, see
    ``ALPR``; 1 or null: every plate), ``small_below`` (px; rechecked plates less tall are also read by the
    small-plate specialist, see ``ALPR``; 0 or null: off), ``specialists`` (the bundled recognizer's region
    specialists and its small-plate specialist, see ``ALPR``), ``regions`` (the regions the site's plates come
    from, names or prefixes such as ``[uae]``: plates are placed, routed and format-checked among them, see
    ``ALPR``; null: every region), ``plate_check`` (reads whose crop the recognizer's plate check scores less
    plate-like than this do not vote, so a sign the detector tracks makes no event, see ``ALPR``; 0 or null: off),
    ``plate_check_sure`` (reads scored from ``plate_check`` up to this vote only when they fit their region's
    patterns, see ``ALPR``; 0 or null: no such condition);
    ``vehicle_model``: an
    Ultralytics YOLO ONNX to search plates inside vehicles only, with ``vehicle_classes`` (default COCO car,
    motorcycle, bus, truck) above ``vehicle_conf``."""

    detector: str | None = None
    recognizer: str | None = None
    corners: str = "auto"
    int8: bool = True
    conf: float | None = None
    threads: int | None = 2
    fast_resize: bool = True
    tta: bool = True
    fit_formats: bool = True
    tiles: int = 1
    second_view_below: float | None = SECOND_VIEW_BELOW
    recheck_below: float | None = RECHECK_BELOW
    small_below: float | None = SMALL_BELOW
    specialists: bool = True
    regions: list[str] | None = None
    plate_check: float | None = PLATE_CHECK
    plate_check_sure: float | None = PLATE_CHECK_SURE
    vehicle_model: str | None = None
    vehicle_classes: list[int] | None = None
    vehicle_conf: float = 0.3


@dataclass(frozen=True)
class CameraConfig:
    id: str
    source: str
    every: int = 1
    max_fps: float | None = None
    realtime: bool = False


@dataclass(frozen=True)
class OutboxOptions:
    """``path``: the SQLite file that stores every event first (and delivers it to the sinks)."""

    path: str = "plateforge_events.sqlite"


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
    outbox: OutboxOptions = OutboxOptions()
    sinks: list = field(default_factory=list)
    metrics: MetricsOptions = MetricsOptions()


def load_site_config(path: str | Path | None) -> SiteConfig:
    """Read a site YAML (None: defaults); errors name the file, the section and the key."""
    if path is None:
        return SiteConfig()
    path = Path(path)
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError) as e:
        raise ValueError(f"{path}: cannot read the site config: {e}") from e
    if not isinstance(raw, dict):
        raise ValueError(f"{path}: expected a mapping at the top level")
    known = [f.name for f in dataclasses.fields(SiteConfig)]
    unknown = sorted(set(raw) - set(known))
    if unknown:
        raise ValueError(f"{path}: unknown section(s) {unknown}; known: {sorted(known)}")
    return from_dict(SiteConfig, raw, str(path))


def make_alpr(r: ReaderOptions):
    """The reader a site config asks for."""
    from plateforge.runtime.alpr import ALPR, FIT_FORMATS
    from plateforge.runtime.session import bundled_model

    detector = r.detector or (str(bundled_model("detector_int8.onnx")) if r.int8 else None)
    corners = None if r.corners == "head" else r.corners
    return ALPR(
        detector=detector,
        recognizer=r.recognizer,
        corners=corners,
        conf=r.conf,
        threads=r.threads,
        fast_resize=r.fast_resize,
        tta=r.tta,
        fit_formats=FIT_FORMATS if r.fit_formats else None,
        tiles=r.tiles,
        second_view_below=r.second_view_below,
        recheck_below=r.recheck_below,
        small_below=r.small_below,
        specialists=r.specialists,
        regions=r.regions,
        plate_check=r.plate_check,
        plate_check_sure=r.plate_check_sure,
    )


def make_vehicles(r: ReaderOptions):
    """The vehicle detector a site config asks for, or None."""
    if r.vehicle_model is None:
        return None
    from plateforge.runtime.vehicles import VehicleDetector

    return VehicleDetector(r.vehicle_model, r.vehicle_classes, r.vehicle_conf, threads=r.threads)
