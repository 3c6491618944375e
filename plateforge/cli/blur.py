"""``plateforge blur``: copies of videos and photos with every plate made unreadable (see
:mod:`plateforge.stream.blur`)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import cv2
import typer

from plateforge.cli.common import console
from plateforge.runtime.images import VIDEO_SUFFIXES


def _inputs(sources: list[Path]) -> list[tuple[Path, Path]]:
    """(file, its path under --out) for each SOURCE; folders are walked for photos and videos."""
    from plateforge.data.manifest import IMAGE_SUFFIXES

    found = []
    for src in sources:
        if src.is_dir():
            for f in sorted(p for p in src.rglob("*") if p.is_file()):
                if f.suffix.lower() in IMAGE_SUFFIXES + VIDEO_SUFFIXES:
                    found.append((f, f.relative_to(src.parent)))
        else:
            found.append((src, Path(src.name)))
    return found


def blur(
    sources: Annotated[list[Path], typer.Argument(help="Videos, photos, or folders of them (walked).")],
    out: Annotated[Path, typer.Option("--out", help="Folder for the blurred copies (the same names; videos as .mp4).")],
    conf: Annotated[
        float, typer.Option(help="Detector score from which a plate is blurred (low: recall first).")
    ] = 0.1,
    tiles: Annotated[
        int,
        typer.Option(help="Also search N x N tiles for small plates (2: ~2.5x the time; 1: the whole frame only)."),
    ] = 2,
    fill: Annotated[int, typer.Option(help="Video: frames a tracked plate may go unfound and still be blurred.")] = 12,
    hold: Annotated[
        int, typer.Option(help="Video: frames before a plate is first found and after it is last found also blurred.")
    ] = 4,
    grow: Annotated[float, typer.Option(help="Blurred margin around each plate, as a fraction of its size.")] = 0.2,
    log: Annotated[
        bool, typer.Option(help="Video: also write NAME.regions.jsonl, the quads blurred in each frame (an audit).")
    ] = False,
    fp32: Annotated[bool, typer.Option(help="FP32 detector instead of the INT8 one.")] = False,
    threads: Annotated[int | None, typer.Option(help="ONNX Runtime threads (default: all cores).")] = None,
    overwrite: Annotated[bool, typer.Option(help="Replace copies already in --out.")] = False,
) -> None:
    """Copies of videos and photos with every plate pixelated and blurred (dashcam and survey footage, published
    photos, datasets shared outside the site). Videos are tracked, so a plate is also hidden in the frames where
    the detector misses it. One JSON line per input: frames, regions blurred, speed, or the error; exit code 1
    when any input failed or a video could not be decoded to its end ("incomplete"). Sound is not copied."""
    from plateforge.progress import counter
    from plateforge.runtime.detector import INT8_DETECTOR, PlateDetector
    from plateforge.runtime.images import load_image
    from plateforge.runtime.session import bundled_model
    from plateforge.stream.blur import BlurOptions, blur_image, blur_video

    options = BlurOptions(conf=conf, fill=fill, hold=hold, grow=grow)
    detector = PlateDetector(None if fp32 else bundled_model(INT8_DETECTOR), threads=threads, tiles=tiles)
    failed = 0
    for src, rel in _inputs(sources):
        is_video = src.suffix.lower() in VIDEO_SUFFIXES
        dest = out / (rel.with_suffix(".mp4") if is_video else rel)
        row: dict = {"input": str(src), "output": str(dest)}
        try:
            if not src.exists():
                raise ValueError(f"{src}: file not found")
            if dest.exists() and not overwrite:
                raise ValueError(f"{dest}: exists (--overwrite replaces it)")
            dest.parent.mkdir(parents=True, exist_ok=True)
            if is_video:
                log_file = dest.with_suffix(".regions.jsonl").open("w", encoding="utf-8") if log else None
                try:
                    with counter(f"blurring {src.name}") as update:
                        report = blur_video(src, dest, detector, options, log_file, update)
                finally:
                    if log_file is not None:
                        log_file.close()
                row.update({k: v for k, v in report.as_dict().items() if k not in ("source", "output")})
                if report.frames < report.frames_in_header - 1:  # headers may count one frame more than decodes
                    failed += 1
                    row["incomplete"] = True
                    console.print(
                        f"[yellow]{src}: decoding stopped at frame {report.frames} of {report.frames_in_header}; "
                        f"{dest} holds the frames before it[/yellow]"
                    )
            else:
                image, quads = blur_image(load_image(src), detector, options)
                if not cv2.imwrite(str(dest), image):
                    raise ValueError(f"{dest}: cannot write an image there")
                row["regions"] = len(quads)
        except (ValueError, OSError) as e:  # ImageError is a ValueError
            failed += 1
            row = {"input": str(src), "error": str(e)}
        print(json.dumps(row), flush=True)
    if failed:
        console.print(f"[yellow]{failed} input(s) failed[/yellow]")
        raise typer.Exit(1)
