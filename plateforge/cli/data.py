"""``plateforge data ...``: import, export, merge, stats, split, hash, calibration sets and harvests."""

from __future__ import annotations

import itertools
import json
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from plateforge.cli.common import console, friendly_errors, out, report_skipped
from plateforge.data import BadItems, load_dataset, read_manifest, write_manifest
from plateforge.data.calib import DEFAULT_N, CalibOptions, build_calibration_set
from plateforge.data.coco import write_coco
from plateforge.data.hashing import dataset_hash
from plateforge.data.merge import merge_datasets
from plateforge.data.split import DEFAULT_MAX_DISTANCE, split_manifest
from plateforge.data.stats import dataset_stats
from plateforge.data.yolo import write_yolo

app = typer.Typer(
    help="Plate datasets: import, export, merge, inspect, split, hash, calibration sets, harvests of site reads."
)

SkipBad = Annotated[bool, typer.Option("--skip-bad", help="Leave out bad items, list each one, and go on.")]
Overwrite = Annotated[bool, typer.Option("--overwrite", help="Replace existing output.")]


def _classes(value: str | None) -> list[str] | None:
    return [c.strip() for c in value.split(",") if c.strip()] if value else None


@app.command("import")
@friendly_errors
def import_(
    src: Annotated[Path, typer.Argument(help="Dataset: VOC folder, COCO JSON, YOLO folder or crops CSV.")],
    out_path: Annotated[Path, typer.Option("--out", help="Manifest JSONL to write.")],
    fmt: Annotated[
        str | None,
        typer.Option("--format", help="voc|coco|yolo|crops-csv|uc3m-ocr|uc3m-scenes (guessed if not given)."),
    ] = None,
    classes: Annotated[str | None, typer.Option(help="Comma-separated class names (ids for YOLO) to keep.")] = None,
    images: Annotated[Path | None, typer.Option(help="Folder holding the images, if not beside the labels.")] = None,
    skip_bad: SkipBad = False,
    overwrite: Overwrite = False,
) -> None:
    """Import a dataset into a plateforge manifest."""
    bad = BadItems(skip_bad)
    records = load_dataset(src, fmt, bad, _classes(classes), images)
    n = write_manifest(records, out_path, overwrite)
    report_skipped(bad)
    plates = sum(len(r.plates or ()) for r in records)
    console.print(f"wrote {out_path}: {n} images, {plates} plates")


@app.command()
@friendly_errors
def export(
    manifest: Annotated[Path, typer.Argument(help="Manifest JSONL.")],
    fmt: Annotated[str, typer.Option("--format", help="yolo | coco")],
    out_dir: Annotated[Path, typer.Option("--out", help="Output folder.")],
    subset: Annotated[str | None, typer.Option(help="YOLO only: write into images/<subset> (train, val).")] = None,
    overwrite: Overwrite = False,
) -> None:
    """Export a manifest as a YOLO tree or a COCO JSON (with images)."""
    records = read_manifest(manifest)
    if fmt == "yolo":
        write_yolo(records, out_dir, subset, overwrite)
    elif fmt == "coco":
        write_coco(records, out_dir, overwrite)
    else:
        raise ValueError(f"--format must be yolo or coco, got {fmt!r}")
    console.print(f"exported {len(records)} images to {out_dir} ({fmt})")


@app.command()
@friendly_errors
def merge(
    sources: Annotated[list[str], typer.Argument(help="Datasets as PATH or FORMAT:PATH (coco:ann.json, yolo:dir).")],
    out_dir: Annotated[Path, typer.Option("--out", help="Output YOLO-style folder.")],
    skip_bad: SkipBad = False,
    overwrite: Overwrite = False,
) -> None:
    """Merge several datasets into one YOLO-style tree with one manifest (all.jsonl)."""
    bad = BadItems(skip_bad)
    records = merge_datasets(sources, out_dir, overwrite, bad)
    report_skipped(bad)
    console.print(f"merged {len(sources)} sources into {out_dir}: {len(records)} images")


@app.command()
@friendly_errors
def stats(
    src: Annotated[Path, typer.Argument(help="Manifest JSONL or any importable dataset.")],
    fmt: Annotated[str | None, typer.Option("--format", help="Source format (guessed if left out).")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")] = False,
) -> None:
    """Print dataset statistics: images, plates, sizes, regions, layouts."""
    s = dataset_stats(load_dataset(src, fmt))
    if as_json:
        out.print_json(json.dumps(s))
        return
    table = Table(title=f"dataset {src}", show_header=False)
    for key, value in s.items():
        if isinstance(value, dict):
            value = ", ".join(f"{k}: {v:g}" if isinstance(v, float) else f"{k}: {v}" for k, v in value.items())
        table.add_row(key.replace("_", " "), "-" if value in (None, "") else str(value))
    out.print(table)


@app.command()
@friendly_errors
def split(
    manifest: Annotated[Path, typer.Argument(help="Manifest JSONL.")],
    out_dir: Annotated[Path, typer.Option("--out", help="Folder for train.jsonl and val.jsonl.")],
    val: Annotated[float, typer.Option(help="Fraction of images for validation.")] = 0.2,
    seed: Annotated[int, typer.Option(help="Seed: the same seed and data give the same split.")] = 0,
    max_distance: Annotated[
        int, typer.Option(help="Images whose 64-bit dHash differ in ≤ this many bits are near-duplicates.")
    ] = DEFAULT_MAX_DISTANCE,
    by_plate: Annotated[
        bool,
        typer.Option(
            "--by-plate",
            help="Also keep images of the same plate text on one side (crops a site harvested: one car, many days).",
        ),
    ] = False,
    overwrite: Overwrite = False,
) -> None:
    """Split into train/val without putting near-duplicate images into both."""
    s = split_manifest(manifest, out_dir, val, seed, max_distance, overwrite, by_plate)
    console.print(
        f"{s['images']} images in {s['groups']} groups (largest {s['largest_group']}): "
        f"train {s['train']['images']} images / {s['train']['groups']} groups, "
        f"val {s['val']['images']} images / {s['val']['groups']} groups; "
        f"plate texts in both: {s['plates_in_both']} → {out_dir}"
    )


@app.command("ignore-unlabelled")
@friendly_errors
def ignore_unlabelled(
    manifest: Annotated[Path, typer.Argument(help="Manifest JSONL of labelled photos.")],
    out_path: Annotated[Path, typer.Option("--out", help="Manifest JSONL to write.")],
    detector: Annotated[str | None, typer.Option(help="Detector ONNX (default: the bundled one).")] = None,
    conf: Annotated[float, typer.Option(help="Score a detection needs to be marked.")] = 0.25,
    max_iou: Annotated[
        float, typer.Option(help="Marked only if it overlaps every labelled plate below this IoU.")
    ] = 0.1,
    max_height: Annotated[
        float | None, typer.Option(help="Mark only detections lower than this many pixels (distant plates).")
    ] = None,
    threads: Annotated[int | None, typer.Option(help="ONNX Runtime threads.")] = None,
    overwrite: Overwrite = False,
) -> None:
    """Mark plates the labels leave out (the detector finds them, no label overlaps) as ignore regions: detector
    training then neither rewards nor penalises a detection there."""
    from rich.progress import track

    from plateforge.data.ignore import mark_unlabelled
    from plateforge.runtime.detector import PlateDetector
    from plateforge.runtime.images import load_image

    det = PlateDetector(detector, threads=threads)
    records = read_manifest(manifest)

    def detect(path: str):
        return det.candidates(load_image(path), conf)[0]

    failed: list[str] = []
    marked, added = mark_unlabelled(
        track(records, description="detecting", console=console), detect, max_iou, max_height, failed
    )
    write_manifest(marked, out_path, overwrite)
    images = sum(any(p.ignore for p in r.plates or ()) for r in marked)
    console.print(f"wrote {out_path}: {len(marked)} images, {added} ignore regions added in {images} images")
    if failed:  # kept as they were: listed so that none goes unnoticed
        console.print(f"[yellow]{len(failed)} image(s) could not be read and were left unmarked:[/yellow]")
        for message in failed:
            console.print(f"  {message}", highlight=False, markup=False)
        raise typer.Exit(1)


@app.command("hash")
@friendly_errors
def hash_(manifest: Annotated[Path, typer.Argument(help="Manifest JSONL or any importable dataset.")]) -> None:
    """Print the dataset's content hash (image bytes + labels; independent of paths and order)."""
    out.print(dataset_hash(load_dataset(manifest)))


@app.command()
@friendly_errors
def calib(
    sources: Annotated[list[Path], typer.Argument(help="Videos, images, or folders of them.")],
    out_dir: Annotated[Path, typer.Option("--out", help="Output folder (images/ + calib.jsonl).")],
    n: Annotated[int, typer.Option(help="Number of calibration images.")] = DEFAULT_N,
    every_k: Annotated[int | None, typer.Option(help="Take every k-th video frame.")] = None,
    per_second: Annotated[float, typer.Option(help="Video frames per second (when --every-k is not given).")] = 1.0,
    max_per_video: Annotated[int, typer.Option(help="At most this many frames per video.")] = 100,
    seed: Annotated[int, typer.Option(help="Seed for sampling images.")] = 0,
    skip_bad: SkipBad = False,
    overwrite: Overwrite = False,
) -> None:
    """Build an INT8 calibration set from video frames and/or images (no augmentation)."""
    bad = BadItems(skip_bad)
    opts = CalibOptions(n=n, every_k=every_k, per_second=per_second, max_per_video=max_per_video, seed=seed)
    records = build_calibration_set(sources, out_dir, opts, overwrite, bad)
    report_skipped(bad)
    console.print(f"wrote {len(records)} calibration images to {out_dir}")


@app.command("corners")
@friendly_errors
def corners(
    manifest: Annotated[Path, typer.Argument(help="Manifest whose plates have boxes but no corners.")],
    out_path: Annotated[Path, typer.Option("--out", help="Manifest JSONL to write.")],
    overwrite: Overwrite = False,
) -> None:
    """Give every plate without corners the corners (TL, TR, BR, BL) the bundled corner model finds in its
    box, so recognizer crops cut from this data look like the ones the reader cuts at run time."""
    from plateforge.data.corners import add_corners

    records, filled = add_corners(manifest)
    n = write_manifest(records, out_path, overwrite)
    console.print(f"wrote {out_path}: {n} images, corners found for {filled} plates")


@app.command()
@friendly_errors
def harvest(
    sources: Annotated[
        list[Path],
        typer.Argument(help="Streams' outboxes (SQLite) and `plateforge read --format jsonl` outputs, any mix."),
    ],
    out_dir: Annotated[Path, typer.Option("--out", help="Folder for crops/, labels.csv and review/ sheets.")],
    below: Annotated[
        float | None, typer.Option(help="Keep only reads less sure than this (0-1): the ones worth checking.")
    ] = None,
    per_text: Annotated[int | None, typer.Option(help="At most this many crops of one text (least sure kept).")] = None,
    limit: Annotated[int | None, typer.Option(help="At most this many crops in all (least sure first).")] = None,
    camera: Annotated[str | None, typer.Option(help="Outbox: this camera's events only.")] = None,
    since: Annotated[str | None, typer.Option(help="Outbox: events stored from (ISO 8601 or Unix s).")] = None,
    until: Annotated[str | None, typer.Option(help="Outbox: events stored before (ISO 8601 or Unix s).")] = None,
    images: Annotated[Path | None, typer.Option(help="Reads: folder the rows' image paths are under.")] = None,
    sheets: Annotated[
        int, typer.Option(help="Contact sheets (60 crops each) of the least sure; data review shows them all.")
    ] = 20,
    skip_bad: SkipBad = False,
    overwrite: Overwrite = False,
) -> None:
    """Gather the plates read on site into crops and a labels.csv, least sure first, with contact sheets to
    check them by: correct the wrong texts, then `data import labels.csv` and fine-tune (docs/data.md)."""
    from plateforge.data.harvest import harvest as run_harvest
    from plateforge.data.harvest import outbox_candidates, reads_candidates
    from plateforge.progress import progress
    from plateforge.stream.events import parse_time

    bad = BadItems(skip_bad)
    times = parse_time(since, "--since"), parse_time(until, "--until")
    found = []
    for src in sources:  # every source checked before anything is written
        if not src.is_file():
            raise FileNotFoundError(f"{src}: not found (expected an outbox .db or a reads .jsonl)")
        with src.open("rb") as f:
            is_outbox = f.read(16) == b"SQLite format 3\x00"
        if is_outbox:
            found.append(outbox_candidates(src, camera, *times, bad))
        elif camera or since or until:
            raise ValueError(f"{src}: --camera, --since and --until filter an outbox, and this is a reads JSONL")
        else:
            found.append(reads_candidates(src, images, bad))
    rep = run_harvest(
        progress(itertools.chain(*found), "harvesting"), out_dir, below, per_text, limit, overwrite, sheets
    )
    report_skipped(bad)
    left = [
        f"{n} {what}"
        for n, what in (
            (rep.surer, f"as sure as --below {below}"),
            (rep.over_per_text, "over --per-text"),
            (rep.no_crop, "without a crop or text"),
        )
        if n
    ]
    note = f" (left out: {', '.join(left)})" if left else ""
    console.print(
        f"wrote {rep.rows} crops of {rep.seen} plates to {rep.labels}{note}; "
        f"review sheets: {len(rep.sheets)} in {out_dir / 'review'}"
    )
    if rep.rows:
        console.print(f"check the reads: plateforge data review {out_dir}")


@app.command()
@friendly_errors
def review(
    folder: Annotated[Path, typer.Argument(help="A folder `plateforge data harvest` wrote (labels.csv, crops/).")],
    host: Annotated[str, typer.Option(help="Address to listen on (no login: keep it local).")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="TCP port.")] = 8010,
) -> None:
    """Check a harvest's reads in the browser: correct a text and press Enter, Shift+Enter drops a crop that is no
    plate; each change is saved to labels.csv at once (column review: ok or drop)."""
    try:
        import uvicorn

        from plateforge.server.review import create_review_app
    except ImportError as e:
        raise ValueError(
            f"review needs the server extra ({e.name} is missing): pip install 'plateforge[server]'"
        ) from e
    app_ = create_review_app(folder)
    s = app_.state.labels.summary()
    console.print(
        f"{folder / 'labels.csv'}: {s['rows']} crops, {s['ok']} checked, {s['drop']} dropped, {s['left']} left"
    )
    console.print(f"review on http://{host}:{port}/ (Ctrl-C stops)")
    uvicorn.run(app_, host=host, port=port, log_level="warning")
