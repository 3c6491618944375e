"""``plateforge survey``: check a camera's view for plate reading before a site goes live (see
:mod:`plateforge.stream.survey`)."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Annotated

import typer

from plateforge.cli.common import CameraIds, Regions, camera_ids, console, friendly_errors

VERDICT_STYLE = {"good": "green", "check": "yellow", "poor": "red"}


def _photos(src: str) -> list[Path] | None:
    """The photos of SOURCE when it is a photo or a folder of photos, else None (a video or a stream)."""
    from plateforge.data.manifest import IMAGE_SUFFIXES

    p = Path(src)
    if p.is_dir():
        return sorted(f for f in p.rglob("*") if f.is_file() and f.suffix.lower() in IMAGE_SUFFIXES)
    if p.suffix.lower() in IMAGE_SUFFIXES:
        return [p]
    return None


@friendly_errors
def survey(
    sources: Annotated[
        list[str] | None,
        typer.Argument(
            help="One per camera: a video file, an rtsp:// or http:// URL, a webcam number, or a photo folder."
        ),
    ] = None,
    config: Annotated[
        Path | None,
        typer.Option(help="Site YAML: survey each of its cameras with its own every and zones, and its reader."),
    ] = None,
    out: Annotated[
        Path, typer.Option(help="Folder for <camera>_survey.json, <camera>_view.jpg and <camera>_crops.jpg.")
    ] = Path("survey"),
    seconds: Annotated[
        float, typer.Option(help="Video: seconds of the source's clock to survey (0: a file to its end).")
    ] = 120.0,
    max_frames: Annotated[int | None, typer.Option("--frames", help="Video: stop after this many frames.")] = None,
    every: Annotated[int, typer.Option(help="Video: process every k-th frame, as the stream will.")] = 1,
    camera: CameraIds = None,
    zone: Annotated[
        str | None,
        typer.Option(help="Where plates count: polygon 'x,y x,y ...' in pixels or fractions, as in the stream."),
    ] = None,
    sequence: Annotated[
        bool, typer.Option(help="A photo folder is a video's frames in name order (tracked), not separate photos.")
    ] = False,
    regions: Regions = None,
    tiles: Annotated[
        int | None, typer.Option(help="Also search N x N tiles for small plates, as the stream will.")
    ] = None,
    fp32: Annotated[bool, typer.Option("--fp32", help="FP32 detector instead of the INT8 one.")] = False,
    threads: Annotated[int | None, typer.Option(help="ONNX Runtime threads per model.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print each camera's findings as one JSON line.")] = False,
) -> None:
    """Check each camera's view for plate reading: plate height and roll, frames in view, contrast, how surely
    plates are read, with what to change, and a suggested zone. Writes a JSON report, the passes drawn on a
    frame and a sheet of their plate crops (least sure first). Exit code 1 when a source gave no frame."""
    from rich.table import Table

    from plateforge.progress import counter
    from plateforge.runtime.options import ReaderOptions, make_alpr
    from plateforge.runtime.zone import Zone, parse_zone
    from plateforge.specs import selector_items
    from plateforge.stream.survey import survey_photos, survey_video, write_report

    sources = list(sources or [])
    zones = [Zone(parse_zone(zone), "--zone")] if zone is not None else None
    cameras = [(name, src, every, zones) for name, src in zip(camera_ids(sources, camera), sources, strict=True)]
    reader = ReaderOptions(threads=threads)
    if config is not None:
        from plateforge.stream.config import load_site_config

        cfg = load_site_config(config)
        cameras = [(c.id, c.source, c.every, c.make_zones() or None) for c in cfg.cameras] + cameras
        reader = cfg.reader if threads is None else dataclasses.replace(cfg.reader, threads=threads)
    if not cameras:
        raise ValueError("nothing to survey: give video files, stream URLs, photo folders, or --config site.yaml")
    overrides = {"int8": False} if fp32 else {}
    if tiles is not None:
        overrides["tiles"] = tiles
    if regions is not None:
        overrides["regions"] = selector_items(regions)
    alpr = make_alpr(dataclasses.replace(reader, **overrides))
    failed = 0
    for name, src, cam_every, cam_zones in cameras:
        photos = None if sequence else _photos(src)
        if photos is not None:
            if not photos:
                raise ValueError(f"{src}: no photos in this folder")
            alpr.zones = list(cam_zones or [])  # a gate's snapshots: only the plates in its lane
            with counter(f"surveying {name}") as update:
                report = survey_photos(photos, alpr, camera=name, on_photo=update)
            alpr.zones = []
        else:
            with counter(f"surveying {name}") as update:
                report = survey_video(
                    src, alpr, camera=name, seconds=seconds or None, max_frames=max_frames, every=cam_every,
                    zones=cam_zones, on_frame=update,
                )  # fmt: skip
        if report.frames == 0:
            failed += 1
        paths = write_report(report, out)
        if as_json:
            print(json.dumps({"camera": name, **report.to_dict(), "written": paths}), flush=True)
            continue
        what = f"{report.frames} frames ({report.seconds:.0f} s)"
        if report.mode == "photos":
            what = f"{report.frames} photos"
        mono = ", monochrome (read by the grey-trained networks)" if report.monochrome else ""
        table = Table(title=f"{name}: {len(report.passes)} plates in {what}, {report.size[0]}x{report.size[1]}{mono}")
        for col in ("check", "measured", "verdict", "what to change"):
            table.add_column(col, overflow="fold")
        for f in report.findings:
            style = VERDICT_STYLE.get(f.verdict, "")
            table.add_row(f.name, f.value, f"[{style}]{f.verdict}[/{style}]" if style else f.verdict, f.advice)
        console.print(table)
        if report.zone:
            console.print(f'suggested zone (where plates were read surely): --zone "{report.zone}"', highlight=False)
        for err in report.errors[:5]:
            console.print(f"[yellow]{err}[/yellow]")
        console.print(f"written: {paths['json']}, {paths['view']}, {paths['crops']}", highlight=False)
    if failed:
        raise typer.Exit(1)
