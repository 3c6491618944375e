"""``run_site``: a whole stream process from a :class:`SiteConfig` — sources, reader, trackers, outbox,
sink dispatchers and metrics — the function under ``plateforge stream``."""

from __future__ import annotations

import dataclasses
import logging
import threading
from collections.abc import Callable

from plateforge.runtime.plate_lists import load_lists
from plateforge.stream.config import SiteConfig, make_alpr, make_vehicles, parse_time
from plateforge.stream.events import PlateEvent
from plateforge.stream.outbox import Dispatcher, Outbox, Pruner
from plateforge.stream.pipeline import CameraProcessor, StreamSummary, run_stream
from plateforge.stream.sinks import make_sink
from plateforge.stream.sources import FrameSource

log = logging.getLogger(__name__)


def _make_sinks(specs: list, lists: list[str] | None = None) -> list[tuple[object, list[str] | None]]:
    """(sink, only_lists) per spec. Sinks get stable names: the type (as :func:`make_sink` names it), then
    ``type-2``, ``type-3``... for repeats, unless the config names a sink itself (the outbox keys deliveries
    by name, so a restart with the same config resumes each sink where it was). ``only_lists`` (a dict
    spec's key) must name lists of ``lists`` or be ``"*"``."""
    seen: dict[str, int] = {}
    sinks = []
    for spec in specs:
        only = None
        if isinstance(spec, dict) and "only_lists" in spec:
            spec = dict(spec)
            only = spec.pop("only_lists")
            only = [only] if isinstance(only, str) else list(only or [])
            unknown = sorted(set(only) - set(lists or []) - {"*"})
            if unknown or not only:
                raise ValueError(
                    f"sink {spec!r}: only_lists {only} must name the site's lists {sorted(lists or [])} or '*'"
                )
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
    sinks = _make_sinks(cfg.sinks, [pl.name for pl in lists])
    outbox = Outbox(cfg.outbox.path)
    pruner = None
    if cfg.outbox.keep_days is not None:
        pruner = Pruner(outbox, cfg.outbox.keep_days * 86400, frames_dir=cfg.events.frames_dir).start()
    on_result = metrics.sink_result if metrics else None
    dispatchers = [Dispatcher(outbox, s, on_result=on_result, only_lists=only).start() for s, only in sinks]
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
