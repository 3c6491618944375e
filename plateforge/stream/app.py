"""``run_site``: a whole stream process from a :class:`SiteConfig` — sources, reader, trackers, outbox,
sink dispatchers and metrics — the function under ``plateforge stream``."""

from __future__ import annotations

import dataclasses
import logging
import threading
from collections.abc import Callable

from plateforge.runtime.plate_lists import load_lists
from plateforge.stream.config import SiteConfig, make_alpr, make_vehicles, parse_time
from plateforge.stream.events import MOTIONS, PlateEvent
from plateforge.stream.outbox import Dispatcher, EventFilter, Outbox, Pruner
from plateforge.stream.pipeline import CameraProcessor, StreamSummary, run_stream
from plateforge.stream.sinks import make_sink
from plateforge.stream.sources import FrameSource

log = logging.getLogger(__name__)


def _make_sinks(
    specs: list,
    lists: list[str] | None = None,
    cameras: list[str] | None = None,
    zones: list[str] | None = None,
) -> list[tuple[object, EventFilter | None]]:
    """(sink, filter) per spec. Sinks get stable names: the type (as :func:`make_sink` names it), then
    ``type-2``, ``type-3``... for repeats, unless the config names a sink itself (the outbox keys deliveries
    by name, so a restart with the same config resumes each sink where it was). A dict spec may take only some
    events (:class:`EventFilter`): ``only_lists`` (the site's ``lists`` or ``"*"``), ``only_cameras`` (camera
    ids of ``cameras``), ``only_zones`` (zone names of ``zones``), ``only_motion`` (approaching, receding,
    steady); a single value or a list each. Names that are not the site's are refused with the choices."""
    seen: dict[str, int] = {}
    sinks = []
    choices = {
        "only_lists": ("lists", [*(lists or []), "*"], "the site's lists"),
        "only_cameras": ("cameras", cameras, "the site's cameras"),
        "only_zones": ("zones", zones, "the cameras' zone names"),
        "only_motion": ("motions", list(MOTIONS), "one of"),
    }
    for spec in specs:
        only = None
        if isinstance(spec, dict) and any(k in spec for k in choices):
            spec, picked = dict(spec), {}
            for key, (field, allowed, what) in choices.items():
                if key not in spec:
                    continue
                value = spec.pop(key)
                value = [value] if isinstance(value, str) else list(value or [])
                unknown = sorted(set(value) - set(allowed)) if allowed is not None else []
                if unknown or not value:
                    shown = sorted(set(allowed or []) - {"*"})
                    tail = " or '*'" if key == "only_lists" else ""
                    raise ValueError(f"sink {spec!r}: {key} {value} must name {what} {shown}{tail}")
                picked[field] = frozenset(value)
            only = EventFilter(**picked)
        sink = make_sink(spec)
        if not (isinstance(spec, dict) and spec.get("name")):
            seen[sink.name] = seen.get(sink.name, 0) + 1
            if seen[sink.name] > 1:
                sink.name = f"{sink.name}-{seen[sink.name]}"
        sinks.append((sink, only))
    return sinks


def run_site(
    cfg: SiteConfig,
    on_event: Callable[[PlateEvent], None] | None = None,
    stop: threading.Event | None = None,
    drain_s: float = 10.0,
    alpr=None,
    snapshot: str | None = None,
) -> StreamSummary:
    """Run every camera of ``cfg`` until the files end or ``stop`` is set. Events go to the outbox (SQLite)
    first, then to each sink. ``snapshot``: a folder for each camera's first frame with its zone drawn."""
    if not cfg.cameras:
        raise ValueError("no sources: give video files, folders, stream URLs or webcam numbers")
    ids = [c.id for c in cfg.cameras]
    if len(set(ids)) != len(ids):
        raise ValueError(f"camera ids must be unique, got {ids}")
    zones = {c.id: c.make_zones() for c in cfg.cameras}
    sources = [
        FrameSource(
            c.source,
            c.id,
            dataclasses.replace(
                cfg.source,
                every=c.every,
                max_fps=c.max_fps,
                realtime=c.realtime or cfg.source.realtime,
                start_time=parse_time(c.start_time, f"camera {c.id}: start_time"),
            ),
        )
        for c in cfg.cameras
    ]
    metrics = None
    if cfg.metrics.port is not None:
        from plateforge.stream.metrics import StreamMetrics

        metrics = StreamMetrics(cfg.metrics.port)
    alpr = alpr or make_alpr(cfg.reader)
    if hasattr(alpr, "warm_up"):
        alpr.warm_up()  # live cameras' first frames should not pay ONNX Runtime's first runs
    vehicles = make_vehicles(cfg.reader)
    lists = load_lists(cfg.lists)
    zone_names = sorted({z.name for c in cfg.cameras for z in c.make_zones() if z.name})
    sinks = _make_sinks(cfg.sinks, [pl.name for pl in lists], [c.id for c in cfg.cameras], zone_names)
    outbox = Outbox(cfg.outbox.path)
    pruner = None
    if cfg.outbox.keep_days is not None:
        pruner = Pruner(outbox, cfg.outbox.keep_days * 86400, frames_dir=cfg.events.frames_dir).start()
    on_result = metrics.sink_result if metrics else None
    dispatchers = [Dispatcher(outbox, s, on_result=on_result, only=only).start() for s, only in sinks]
    processors = {
        c.id: CameraProcessor(
            c.id,
            alpr,
            cfg.tracker,
            cfg.ocr,
            cfg.events,
            metrics=metrics,
            vehicles=vehicles,
            lists=lists,
            zones=zones[c.id],
            snapshot=snapshot,
        )
        for c in cfg.cameras
    }
    try:
        tick = (lambda: metrics.sync_sources(sources)) if metrics is not None else None
        return run_stream(sources, processors, outbox, dispatchers, on_event, stop, drain_s, on_tick=tick)
    finally:
        if pruner is not None:
            pruner.stop()
        for d in dispatchers:
            d.stop()
        if metrics is not None:
            metrics.close()
        outbox.close()
