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

from plateforge.stream.pipeline import EventOptions, OcrOptions
from plateforge.stream.sources import SourceOptions
from plateforge.stream.tracker import TrackerOptions


@dataclass(frozen=True)
class ReaderOptions:
    """Models (None: bundled; ``int8`` picks the bundled QAT INT8 detector), detection threshold, ONNX Runtime
    threads per model, bilinear letterbox, the corner model (``auto``, a path, or ``head`` for the
    detector's own corners); ``vehicle_model``: an Ultralytics YOLO ONNX to search plates inside vehicles
    only, with ``vehicle_classes`` (default COCO car, motorcycle, bus, truck) above ``vehicle_conf``."""

    detector: str | None = None
    recognizer: str | None = None
    corners: str = "auto"
    int8: bool = True
    conf: float | None = None
    threads: int | None = 2
    fast_resize: bool = True
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


@dataclass
class SiteConfig:
    cameras: list[CameraConfig] = field(default_factory=list)
    reader: ReaderOptions = ReaderOptions()
    tracker: TrackerOptions = TrackerOptions()
    ocr: OcrOptions = OcrOptions()
    events: EventOptions = EventOptions()
    source: SourceOptions = SourceOptions()
    outbox: str = "plateforge_events.sqlite"
    sinks: list = field(default_factory=list)
    metrics_port: int | None = None


def _build(cls, data, where: str):
    if data is None:
        return cls()
    if not isinstance(data, dict):
        raise ValueError(f"{where}: expected a mapping, got {type(data).__name__}")
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - names)
    if unknown:
        raise ValueError(f"{where}: unknown key(s) {unknown}; known: {sorted(names)}")
    return cls(**data)


def load_site_config(path: str | Path | None) -> SiteConfig:
    """Read a site YAML (None: defaults)."""
    if path is None:
        return SiteConfig()
    path = Path(path)
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError) as e:
        raise ValueError(f"{path}: cannot read the site config: {e}") from e
    if not isinstance(raw, dict):
        raise ValueError(f"{path}: expected a mapping at the top level")
    known = {"cameras", "reader", "tracker", "ocr", "events", "source", "outbox", "sinks", "metrics"}
    unknown = sorted(set(raw) - known)
    if unknown:
        raise ValueError(f"{path}: unknown section(s) {unknown}; known: {sorted(known)}")
    cams = raw.get("cameras") or []
    if not isinstance(cams, list):
        raise ValueError(f"{path}: cameras must be a list")
    cfg = SiteConfig(
        cameras=[_build(CameraConfig, c, f"{path}: cameras[{i}]") for i, c in enumerate(cams)],
        reader=_build(ReaderOptions, raw.get("reader"), f"{path}: reader"),
        tracker=_build(TrackerOptions, raw.get("tracker"), f"{path}: tracker"),
        ocr=_build(OcrOptions, raw.get("ocr"), f"{path}: ocr"),
        events=_build(EventOptions, raw.get("events"), f"{path}: events"),
        source=_build(SourceOptions, raw.get("source"), f"{path}: source"),
        sinks=list(raw.get("sinks") or []),
    )
    outbox = raw.get("outbox") or {}
    if outbox:
        if not isinstance(outbox, dict) or set(outbox) - {"path"}:
            raise ValueError(f"{path}: outbox takes only {{path: FILE}}")
        cfg.outbox = str(outbox["path"])
    metrics = raw.get("metrics") or {}
    if metrics:
        if not isinstance(metrics, dict) or set(metrics) - {"port"}:
            raise ValueError(f"{path}: metrics takes only {{port: N}}")
        cfg.metrics_port = int(metrics["port"])
    return cfg


def make_alpr(r: ReaderOptions):
    """The reader a site config asks for."""
    from plateforge.runtime.alpr import ALPR
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
    )


def make_vehicles(r: ReaderOptions):
    """The vehicle detector a site config asks for, or None."""
    if r.vehicle_model is None:
        return None
    from plateforge.runtime.vehicles import VehicleDetector

    return VehicleDetector(r.vehicle_model, r.vehicle_classes, r.vehicle_conf, threads=r.threads)
