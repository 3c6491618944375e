"""``plateforge serve``: the plate reader as an HTTP service with a web page (see :mod:`plateforge.server.app`)."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Annotated

import typer

from plateforge.cli.common import PlateLists, Regions, console, friendly_errors


@friendly_errors
def serve(
    host: Annotated[str, typer.Option(help="Address to listen on (0.0.0.0: every interface).")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="TCP port.")] = 8000,
    config: Annotated[
        Path | None,
        typer.Option(
            help="Site YAML: its reader section sets the models and options, as for stream (without one: as "
            "plateforge read reads, one thread per model); its lists section adds plate lists."
        ),
    ] = None,
    int8: Annotated[
        bool | None,
        typer.Option(
            "--int8/--fp32",
            help="INT8 detector with the one-step letterbox (10-15 % faster, ~0.4 points fewer exact reads), or the "
            "FP32 detector with the two-step letterbox (default: the config's, else --fp32).",
            show_default=False,
        ),
    ] = None,
    threads: Annotated[
        int | None,
        typer.Option(
            help="ONNX Runtime threads per model (default: the config's, else 1: more threads do not make one "
            "read faster here, and requests run side by side on the cores)."
        ),
    ] = None,
    regions: Regions = None,
    plate_list: PlateLists = None,
    max_upload_mb: Annotated[float, typer.Option(help="Largest request body accepted, in MB.")] = 32.0,
    max_images: Annotated[int, typer.Option(help="Most photos per request.")] = 16,
    api_key: Annotated[
        str | None,
        typer.Option(
            envvar="PLATEFORGE_API_KEY",
            help="Require this key on /v1/read and /v1/events (header X-API-Key or Authorization: Bearer); "
            "better set through the environment variable than on the command line.",
        ),
    ] = None,
    events: Annotated[
        Path | None,
        typer.Option(
            help="The SQLite outbox a plateforge stream writes (its --outbox): search its vehicle passes with "
            "GET /v1/events."
        ),
    ] = None,
    frames: Annotated[
        Path | None,
        typer.Option(
            help="The folder the stream writes evidence frames to (its --frames): each pass's frame at "
            "GET /v1/events/{id}/frame, and on the page."
        ),
    ] = None,
    cors_origin: Annotated[
        list[str] | None, typer.Option(help="A web origin whose pages may call the API from a browser (repeatable).")
    ] = None,
) -> None:
    """Serve the reader over HTTP: POST photos to /v1/read (multipart files, base64 in JSON, or one photo as the
    body) and get the JSON rows `plateforge read` prints; open / in a browser to drop photos on a page."""
    try:
        import uvicorn

        from plateforge.server.app import create_app
    except ImportError as e:
        raise ValueError(f"serve needs the server extra ({e.name} is missing): pip install 'plateforge[server]'") from e
    from plateforge.runtime.options import load_reader_options
    from plateforge.runtime.plate_lists import load_lists, parse_list_option, site_list_options
    from plateforge.server.app import default_reader
    from plateforge.specs import selector_items

    if frames is not None and events is None:
        raise ValueError("--frames serves the evidence frames of stored passes: give --events too")
    reader = load_reader_options(config) if config is not None else default_reader()
    if reader.vehicle_model is not None:
        console.print(
            f"[yellow]warning:[/yellow] {config}: reader.vehicle_model is left out: serve searches whole photos "
            "(vehicle search is for plateforge stream)"
        )
    if regions is not None:
        reader = dataclasses.replace(reader, regions=selector_items(regions))
    if int8 is not None:
        reader = dataclasses.replace(reader, int8=int8, fast_resize=int8)
    if threads is not None:
        reader = dataclasses.replace(reader, threads=threads)
    listed = site_list_options(config) if config is not None else []
    lists = load_lists([*listed, *(parse_list_option(item) for item in plate_list or [])])
    app = create_app(
        reader=reader,
        max_upload_mb=max_upload_mb,
        max_images=max_images,
        api_key=api_key or None,
        cors_origins=cors_origin,
        events=events,
        lists=lists,
        frames=frames,
    )
    console.print(f"plateforge serving on http://{host}:{port}/ (Ctrl-C stops)")
    if events is not None:
        console.print(f"vehicle passes from {events.resolve()} at /v1/events")
    if frames is not None:
        console.print(f"evidence frames from {frames.resolve()} at /v1/events/{{id}}/frame")
    for pl in lists:
        console.print(f"plate list {pl.name}: {len(pl.entries)} plates from {pl.path}")
    uvicorn.run(app, host=host, port=port, log_level="warning")
