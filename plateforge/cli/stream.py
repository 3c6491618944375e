"""``plateforge stream``: video files, image folders, RTSP/HTTP streams or webcams in; one plate event per
vehicle pass out (stdout JSONL, the SQLite outbox, and any sinks)."""

from __future__ import annotations

import base64
import dataclasses
import json
import logging
import signal
import threading
from pathlib import Path
from typing import Annotated

import typer

from plateforge.cli.common import CameraIds, PlateLists, Regions, camera_ids, console, friendly_errors


@friendly_errors
def stream(
    sources: Annotated[
        list[str] | None, typer.Argument(help="Video files, image folders, rtsp:// or http:// URLs, webcam numbers.")
    ] = None,
    config: Annotated[Path | None, typer.Option(help="Site YAML (cameras, reader, tracker, ocr, sinks...).")] = None,
    camera: CameraIds = None,
    sink: Annotated[
        list[str] | None,
        typer.Option(help="Extra sink: PATH.jsonl, kafka://HOST:PORT/TOPIC, mqtt://HOST:PORT/TOPIC, http(s)://URL."),
    ] = None,
    outbox: Annotated[Path | None, typer.Option(help="SQLite outbox/event store (default: from config).")] = None,
    keep_days: Annotated[
        float | None,
        typer.Option(help="Delete events stored more than this many days ago once every sink has them (hourly)."),
    ] = None,
    every: Annotated[int, typer.Option(help="Process every k-th frame of each SOURCE.")] = 1,
    max_fps: Annotated[float | None, typer.Option(help="Process at most this many frames per second.")] = None,
    realtime: Annotated[bool, typer.Option(help="Files too drop the oldest frames when processing lags.")] = False,
    metrics_port: Annotated[int | None, typer.Option(help="Serve Prometheus metrics on this port.")] = None,
    fp32: Annotated[bool, typer.Option("--fp32", help="FP32 detector instead of the INT8 one.")] = False,
    threads: Annotated[int | None, typer.Option(help="ONNX Runtime threads per model.")] = None,
    vehicle_model: Annotated[
        Path | None, typer.Option(help="Ultralytics YOLO ONNX: search plates inside cars, buses, trucks, bikes only.")
    ] = None,
    regions: Regions = None,
    plate_list: PlateLists = None,
    max_delay: Annotated[
        float | None,
        typer.Option(
            help="Send each pass's event while its plate is in view: once its reads agree, or this many "
            "seconds after it was first seen (a vehicle waiting at a barrier)."
        ),
    ] = None,
    zone: Annotated[
        str | None,
        typer.Option(
            help="Where plates count in each SOURCE: polygon 'x,y x,y x,y ...' in pixels, or in fractions of the "
            "frame when all are in [0, 1]. Plates centred outside are ignored."
        ),
    ] = None,
    start_time: Annotated[
        str | None,
        typer.Option(
            help="When a video file or folder SOURCE was filmed (ISO 8601 or Unix seconds): events then carry the "
            "times the recording shows (first_seen_utc), e.g. for plateforge sessions."
        ),
    ] = None,
    snapshot: Annotated[
        Path | None,
        typer.Option(help="Write each camera's first frame here, with its zone drawn, to check the zone."),
    ] = None,
    frames: Annotated[
        Path | None,
        typer.Option(
            help="Write each event's best frame here, its plate drawn on it, as <camera>/<date>/<event_id>.jpg "
            "(evidence; the event's frame_path)."
        ),
    ] = None,
    quiet: Annotated[bool, typer.Option("--quiet", help="Do not print events on stdout.")] = False,
    save_crops: Annotated[
        Path | None, typer.Option(help="Write each event's best plate crop here as <camera>_<text>_<event_id>.jpg.")
    ] = None,
) -> None:
    """Read plates in video: track them, vote their text over frames and emit one event per vehicle pass.
    Events are printed as JSONL (without the crop), stored in the SQLite outbox and delivered to every sink
    at least once. Ctrl-C ends live streams cleanly."""
    from plateforge.runtime.plate_lists import parse_list_option
    from plateforge.specs import selector_items
    from plateforge.stream.app import run_site
    from plateforge.stream.config import CameraConfig, MetricsOptions, OutboxOptions, load_site_config

    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    cfg = load_site_config(config)
    sources = list(sources or [])
    from plateforge.runtime.zone import parse_zone

    points = [list(p) for p in parse_zone(zone)] if zone is not None else None
    for name, src in zip(camera_ids(sources, camera), sources, strict=True):
        cfg.cameras.append(CameraConfig(name, src, every, max_fps, realtime, zone=points, start_time=start_time))
    cfg.sinks += list(sink or [])
    cfg.lists += [parse_list_option(item) for item in plate_list or []]
    if max_delay is not None:
        cfg.events = dataclasses.replace(cfg.events, max_delay_s=max_delay)
    if frames is not None:
        cfg.events = dataclasses.replace(cfg.events, frames_dir=str(frames))
    if outbox is not None or keep_days is not None:
        cfg.outbox = OutboxOptions(
            str(outbox) if outbox is not None else cfg.outbox.path,
            keep_days if keep_days is not None else cfg.outbox.keep_days,
        )
    if metrics_port is not None:
        cfg.metrics = MetricsOptions(metrics_port)
    if vehicle_model is not None:
        cfg.reader = dataclasses.replace(cfg.reader, vehicle_model=str(vehicle_model))
    if regions is not None:
        cfg.reader = dataclasses.replace(cfg.reader, regions=selector_items(regions))
    if fp32 or threads is not None:
        cfg.reader = dataclasses.replace(
            cfg.reader,
            int8=cfg.reader.int8 and not fp32,
            threads=threads if threads is not None else cfg.reader.threads,
        )
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())

    if save_crops is not None:
        save_crops.mkdir(parents=True, exist_ok=True)

    def show(event) -> None:
        if save_crops is not None and event.best_crop_jpeg:
            name = f"{event.camera}_{event.text or 'unread'}_{event.event_id}.jpg"
            (save_crops / name).write_bytes(base64.b64decode(event.best_crop_jpeg))
        if not quiet:
            d = event.to_dict()
            d.pop("best_crop_jpeg", None)
            print(json.dumps(d), flush=True)

    s = run_site(cfg, on_event=show, stop=stop, snapshot=snapshot)
    console.print(
        f"{s.frames} frames processed ({s.fps:.1f}/s), {s.dropped} dropped, {s.errors} failed; "
        f"{s.events} events ({s.new_events} new in {cfg.outbox.path}); OCR on {s.ocr_calls} of {s.tracked} tracked "
        f"plates{f' ({s.outside} detections outside zones)' if s.outside else ''}; sink backlog {s.backlog or 'none'}",
        highlight=False,
    )
