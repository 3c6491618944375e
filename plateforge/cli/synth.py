"""``plateforge synth ...``: synthetic scenes, recognizer crops and per-region preview sheets."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from plateforge.cli.common import console, friendly_errors

app = typer.Typer(help="Synthetic plates: scenes for detectors, crops for recognizers, preview sheets.")

Regions = Annotated[str | None, typer.Option(help="Regions or groups, comma-separated (uae,ch,eu-de); default all.")]
Seed = Annotated[int, typer.Option(help="Seed: the same seed gives the same files.")]
Workers = Annotated[int | None, typer.Option(help="Processes (default: all cores).")]
Augment = Annotated[str, typer.Option(help="Augmentation preset: none, light, medium, heavy.")]
Export = Annotated[str | None, typer.Option(help="Also write yolo and/or coco (comma-separated) under OUT/.")]
Overwrite = Annotated[bool, typer.Option("--overwrite", help="Replace an existing output folder.")]
OutDir = Annotated[Path, typer.Option(help="Output folder (images/ + manifest.jsonl).")]


def _export(records, out: Path, formats: str | None) -> None:
    from plateforge.data.coco import write_coco
    from plateforge.data.yolo import write_yolo

    for fmt in (f.strip() for f in (formats or "").split(",") if f.strip()):
        if fmt == "yolo":
            write_yolo(records, out / "yolo", overwrite=True)
        elif fmt == "coco":
            write_coco(records, out / "coco", overwrite=True)
        else:
            raise ValueError(f"--export takes yolo and/or coco, got {fmt!r}")


@app.command()
@friendly_errors
def scenes(
    out: OutDir,
    n: Annotated[int, typer.Option(help="Number of scenes.")] = 100,
    seed: Seed = 0,
    regions: Regions = None,
    width: Annotated[int, typer.Option(help="Scene width in pixels.")] = 640,
    height: Annotated[int, typer.Option(help="Scene height in pixels.")] = 480,
    real: Annotated[
        list[Path] | None,
        typer.Option(help="Manifest(s) of real photos with labelled plates: plates are painted over them."),
    ] = None,
    real_share: Annotated[float, typer.Option(help="Share of scenes on real photos (when --real is given).")] = 0.5,
    distractors: Annotated[
        float, typer.Option(help="Share of procedural scenes that also get text, watermarks and badges (not plates).")
    ] = 0.0,
    letterbox: Annotated[int | None, typer.Option(help="Letterbox scenes to SIZE x SIZE (e.g. 224).")] = None,
    augment: Augment = "none",
    export: Export = None,
    workers: Workers = None,
    overwrite: Overwrite = False,
) -> None:
    """Scenes with plates in perspective: box, 4 corners, text, region, layout per plate."""
    from plateforge.synth.generate import SynthJob, run_job
    from plateforge.synth.scene import SceneOptions

    opts = SceneOptions(width=width, height=height, real_photo=real_share, distractors=distractors)
    job = SynthJob(
        "scenes", out, n, seed, regions, augment, scene=opts, real=tuple(map(str, real or ())), letterbox=letterbox
    )
    records = run_job(job, workers, overwrite)
    _export(records, out, export)
    plates = sum(len(r.plates) for r in records)
    console.print(f"wrote {len(records)} scenes with {plates} plates to {out}")


@app.command()
@friendly_errors
def crops(
    out: OutDir,
    n: Annotated[int, typer.Option(help="Number of crops.")] = 1000,
    seed: Seed = 0,
    regions: Regions = None,
    augment: Augment = "medium",
    free_text: Annotated[
        float, typer.Option(help="Share of plates printed with random letters and digits in their region's look.")
    ] = 0.0,
    export: Export = None,
    workers: Workers = None,
    overwrite: Overwrite = False,
) -> None:
    """Rectified plate crops with text, as the recognizer sees them."""
    from plateforge.synth.crops import CropOptions
    from plateforge.synth.generate import SynthJob, run_job

    if not 0 <= free_text <= 1:
        raise ValueError(f"--free-text: expected a share between 0 and 1, got {free_text}")
    job = SynthJob("crops", out, n, seed, regions, augment, crop=CropOptions(free_text=free_text))
    records = run_job(job, workers, overwrite)
    _export(records, out, export)
    console.print(f"wrote {len(records)} crops to {out}")


def _pair(value: str, option: str, kind):
    """'LO,HI' → (lo, hi) of ``kind``; a ValueError naming ``option`` when it is not two growing numbers > 0."""
    try:
        lo, hi = (kind(v) for v in value.split(","))
    except ValueError:
        raise ValueError(f"{option}: expected two numbers 'LO,HI', got {value!r}") from None
    if not 0 < lo <= hi:
        raise ValueError(f"{option}: expected 0 < LO <= HI, got {value!r}")
    return lo, hi


@app.command("reader-scenes")
@friendly_errors
def reader_scenes(
    out: OutDir,
    n: Annotated[int, typer.Option(help="Number of scenes.")] = 1000,
    seed: Seed = 0,
    regions: Regions = None,
    occlusion: Annotated[float, typer.Option(help="Share of plates with an occluder over one end.")] = 1.0,
    plate_height: Annotated[
        str, typer.Option(help="Least and most plate height in px, 'LO,HI' (drawn log-uniformly).")
    ] = "16,140",
    plates: Annotated[str, typer.Option(help="Least and most plates per scene, 'LO,HI'.")] = "1,3",
    overwrite: Overwrite = False,
) -> None:
    """1280x720 scenes read by the bundled detector and corner model: every plate it finds whose characters
    all stay visible, labelled with the reader's corners (recognizer training data for plates cut short)."""
    from plateforge.synth.reader_scenes import reader_scenes as make

    heights = _pair(plate_height, "--plate-height", float)
    counts = _pair(plates, "--plates", int)
    records, kept, drawn = make(
        out, n, seed, occlusion, regions=regions, overwrite=overwrite, plate_height=heights, plates=counts
    )
    console.print(f"wrote {len(records)} scenes to {out}: {kept} of {drawn} plates kept")


@app.command()
@friendly_errors
def preview(
    out: Annotated[Path, typer.Option(help="Folder for one PNG contact sheet per region.")],
    regions: Regions = None,
    per_region: Annotated[int, typer.Option(help="Plates per sheet (clean and worn alternate).")] = 12,
    seed: Seed = 0,
    overwrite: Overwrite = False,
) -> None:
    """Contact sheets of each region's plates, to compare with photos of real plates."""
    from plateforge.synth.generate import preview_sheets

    paths = preview_sheets(out, regions, per_region, seed, overwrite)
    console.print(f"wrote {len(paths)} sheets to {out}")


@app.command("regions")
def list_regions() -> None:
    """List the regions, their styles and the regex of valid texts."""
    from rich.table import Table

    from plateforge.cli.common import out as stdout
    from plateforge.specs import load_specs

    table = Table("region", "name", "styles", "regex")
    for spec in load_specs().values():
        table.add_row(spec.code, spec.name, ", ".join(f"{s.name} ({s.layout})" for s in spec.styles), spec.regex)
    stdout.print(table)


@app.command()
@friendly_errors
def video(
    out: Annotated[Path, typer.Option(help="Folder for video.mp4, frames.jsonl (per-frame truth), passes.json.")],
    passes: Annotated[int, typer.Option(help="Vehicle passes.")] = 10,
    width: Annotated[int, typer.Option(help="Frame width in pixels.")] = 1920,
    height: Annotated[int, typer.Option(help="Frame height in pixels.")] = 1080,
    fps: Annotated[float, typer.Option(help="Frames per second.")] = 25.0,
    overlap: Annotated[float, typer.Option(help="Probability that a vehicle enters before the last has left.")] = 0.3,
    signs: Annotated[
        int, typer.Option(help="Rounds of signs and plate-like text (1-4 each) on the background, in every frame.")
    ] = 0,
    stop_s: Annotated[
        float, typer.Option(help="Seconds each vehicle stands still halfway along its path, as at a barrier.")
    ] = 0.0,
    returns: Annotated[
        float,
        typer.Option(help="Share of approaching vehicles that leave again later, receding (car park entry and exit)."),
    ] = 0.0,
    exposure: Annotated[
        float,
        typer.Option(
            help="Motion blur: share of the frame interval the shutter is open (0 sharp; 1: 1/fps s, each vehicle "
            "smeared over its whole move since the last frame)."
        ),
    ] = 0.0,
    plate_height: Annotated[
        str, typer.Option(help="Plate height in pixels at its largest, LO,HI (each pass draws one).")
    ] = "32,70",
    grey: Annotated[
        bool, typer.Option("--grey", help="Grey frames, as a monochrome or infrared camera films them.")
    ] = False,
    regions: Regions = None,
    seed: Seed = 0,
    overwrite: Overwrite = False,
) -> None:
    """A test video: vehicles with plates approaching, receding or crossing at various speeds, sizes and
    angles, with per-frame ground truth (boxes, corners, texts) and one entry per pass."""
    from plateforge.synth.video import VideoOptions, make_video

    opts = VideoOptions(
        width=width,
        height=height,
        fps=fps,
        passes=passes,
        overlap=overlap,
        regions=regions,
        seed=seed,
        signs=signs,
        stop_s=stop_s,
        returns=returns,
        exposure=exposure,
        plate_height=_pair(plate_height, "--plate-height", float),
        grey=grey,
    )
    if not 0 <= exposure <= 1:
        raise ValueError(f"--exposure: expected a share of the frame interval between 0 and 1, got {exposure}")
    info = make_video(out, opts, overwrite)
    console.print(f"wrote {info['video']}: {info['frames']} frames, {info['passes']} passes, {fps:g} fps")
