"""``plateforge eval ...``: score models on labelled data, as JSON and a readable table."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from plateforge.cli.common import (
    LowScoreFrom,
    PlateCheck,
    PlateCheckGrey,
    PlateCheckSure,
    RecheckBelow,
    Regions,
    SecondViewBelow,
    SmallBelow,
    Specialists,
    console,
    friendly_errors,
    out,
)
from plateforge.runtime.defaults import (
    LOW_SCORE_FROM,
    PLATE_CHECK,
    PLATE_CHECK_GREY,
    PLATE_CHECK_SURE,
    RECHECK_BELOW,
    SECOND_VIEW_BELOW,
    SMALL_BELOW,
)

app = typer.Typer(help="Evaluate models on labelled data.")


def _read_rates(r: dict) -> tuple[str, str, str]:
    """Exact, hidden-characters-ignored and true-corner read rates of a synthetic report (or group) as text."""
    return f"{r['exact']:.2%}", f"{r['visible_right']:.2%}", f"{r['true_corners_exact']:.2%}"


def _write_json(path: Path | None, report: dict) -> None:
    """Write ``report`` as indented JSON to ``path`` (its folder made as needed); nothing when ``path`` is None."""
    if path:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(report, indent=2))


@app.command()
@friendly_errors
def ocr(
    data: Annotated[Path, typer.Option(help="Manifest of plates with texts (crops or scenes).")],
    model: Annotated[
        Path | None, typer.Option(help="Recognizer ONNX, read alone (default: the bundled one with its specialists).")
    ] = None,
    subset: Annotated[str | None, typer.Option(help="Only records of this meta subset (train/val).")] = None,
    json_out: Annotated[Path | None, typer.Option("--json", help="Also write the full report here.")] = None,
    threads: Annotated[int | None, typer.Option(help="ONNX Runtime threads.")] = None,
    tta: Annotated[bool, typer.Option(help="Also read each crop zoomed out and in, and average.")] = False,
    margin: Annotated[
        float,
        typer.Option(
            help="Border kept around plates with corners, x plate height (the reader keeps 0.075: give it for "
            "plates labelled with the reader's corners, as `synth reader-scenes` writes them)."
        ),
    ] = 0.0,
    regions: Regions = None,
    misreads: Annotated[
        Path | None,
        typer.Option(
            help="Also write the plates read wrong here, as a manifest: hard examples to train on "
            "(a `dataset.real` source of `plateforge train ocr`; docs/train.md)."
        ),
    ] = None,
    misreads_skip_o_zero: Annotated[
        bool,
        typer.Option(help="Leave reads wrong only by O for 0 or 0 for O out of --misreads (one glyph in US faces)."),
    ] = False,
) -> None:
    """Exact-match accuracy, character error rate, per region and layout, accuracy at coverage."""
    from plateforge.eval.ocr_eval import evaluate_recognizer

    rep = evaluate_recognizer(data, model, subset, threads, tta, margin, regions, misreads, misreads_skip_o_zero)
    _write_json(json_out, rep)
    table = Table(title=f"{data} ({rep['n']} plates)")
    table.add_column("group")
    table.add_column("n", justify="right")
    table.add_column("exact match", justify="right")
    table.add_row("all", str(rep["n"]), f"{rep['exact']:.2%}")
    for kind in ("per_layout", "per_region"):
        for name, v in rep.get(kind, {}).items():
            table.add_row(f"{kind[4:]}: {name}", str(v["n"]), f"{v['exact']:.2%}")
    out.print(table)
    cov = rep.get("coverage", {})
    out.print(
        f"CER {rep['cer']:.4f}   region accuracy {rep.get('region_accuracy') or 0:.2%}   "
        + "   ".join(f"{k} {v:.3f}" for k, v in cov.items())
    )
    console.print(f"{rep['ms_per_plate']:.2f} ms per plate (batched)")
    if misreads:
        console.print(f"wrote {rep['misreads']['plates']} misread plates to {misreads}")


@app.command()
@friendly_errors
def det(
    data: Annotated[Path | None, typer.Option(help="Manifest of images with labelled plates.")] = None,
    scenes: Annotated[int, typer.Option(help="Or: this many synthetic scenes (1280x720, seed 777).")] = 0,
    model: Annotated[Path | None, typer.Option(help="Detector ONNX (default: the bundled one).")] = None,
    subset: Annotated[str | None, typer.Option(help="Only records of this meta subset (train/val).")] = None,
    conf: Annotated[float | None, typer.Option(help="Score threshold for P/R/F1 (default: the model's).")] = None,
    json_out: Annotated[Path | None, typer.Option("--json", help="Also write the report here.")] = None,
    threads: Annotated[int | None, typer.Option(help="ONNX Runtime threads.")] = None,
    fast_resize: Annotated[bool, typer.Option(help="Bilinear letterbox, as PlateDetector(fast_resize=True).")] = False,
    tiles: Annotated[int, typer.Option(help="Also detect in N x N overlapping tiles, as PlateDetector(tiles=N).")] = 1,
    corners: Annotated[
        str | None,
        typer.Option(
            help="Refine each plate with a corner model ('bundled' or an ONNX path) and box it by the refined "
            "corners, as plateforge read reports plates. Default: the detector's own boxes and corners."
        ),
    ] = None,
    plate_check: Annotated[
        float,
        typer.Option(
            help="Drop candidates the bundled recognizer's plate check scores under this, as plateforge read "
            "does (0.05; boxes are not read, so --plate-check-sure does not apply); 0: the detector alone."
        ),
    ] = 0.0,
    scene_regions: Annotated[
        str | None,
        typer.Option(help="Regions of the synthetic scenes (codes or groups, comma-separated; default every region)."),
    ] = None,
) -> None:
    """COCO mAP@0.5 and @0.5:0.95, AP/AR for small plates, precision / recall / F1, corner MAE, speed."""
    from plateforge.eval.det_eval import evaluate_detector

    if data is None and scenes <= 0:
        raise ValueError("give --data MANIFEST or --scenes N")
    rep = evaluate_detector(
        model, data, subset, scenes, conf, threads, fast_resize, tiles, corners, plate_check, None, scene_regions
    )
    _write_json(json_out, rep)
    table = Table(title=f"{rep['data']} ({rep['n_images']} images, {rep['n_plates']} plates, {rep['n_small']} small)")
    for col in ("mAP@0.5", "mAP@.5:.95", "AP small", "AR small", "P", "R", "F1", "corner MAE", "ms/image"):
        table.add_column(col, justify="right")
    table.add_row(
        *(f"{rep[k]:.3f}" for k in ("map50", "map5095", "ap_small", "ar_small", "precision", "recall", "f1")),
        f"{rep['corner_mae']:.4f}",
        f"{rep['ms_per_image']:.1f}",
    )
    out.print(table)
    refined = f", boxes from the corners of {rep['corner_model']}" if rep["corner_model"] else ""
    if rep["plate_check"]:
        refined += f", plate check {rep['plate_check']['threshold']}"
    console.print(f"model {rep['model']} at {rep['input_size']} px, threshold {rep['conf']}{refined}")


@app.command()
@friendly_errors
def read(
    scenes: Annotated[
        int | None,
        typer.Option(
            help="Synthetic 1280x720 scenes of every region (1-3 plates each); default 200, or 0 when "
            "--data or --uc3m is given."
        ),
    ] = None,
    seed: Annotated[int, typer.Option(help="Seed of the scenes (training uses other seeds).")] = 2024,
    data: Annotated[
        Path | None,
        typer.Option(help="Manifest of labelled photos (boxes and texts; '?' marks a character not to score)."),
    ] = None,
    uc3m: Annotated[Path | None, typer.Option(help="Also the UC3M-LP val scenes under this folder.")] = None,
    detector: Annotated[Path | None, typer.Option(help="Detector ONNX (default: the bundled one).")] = None,
    recognizer: Annotated[Path | None, typer.Option(help="Recognizer ONNX (default: the bundled one).")] = None,
    corners: Annotated[Path | None, typer.Option(help="Corner model ONNX (default: the bundled one).")] = None,
    json_out: Annotated[Path | None, typer.Option("--json", help="Also write the full report here.")] = None,
    threads: Annotated[int | None, typer.Option(help="ONNX Runtime threads.")] = None,
    tiles: Annotated[int, typer.Option(help="Also detect in N x N overlapping tiles, as ALPR(tiles=N).")] = 1,
    second_view_below: SecondViewBelow = SECOND_VIEW_BELOW,
    recheck_below: RecheckBelow = RECHECK_BELOW,
    low_score_from: LowScoreFrom = LOW_SCORE_FROM,
    plate_check: PlateCheck = PLATE_CHECK,
    plate_check_sure: PlateCheckSure = PLATE_CHECK_SURE,
    plate_check_grey: PlateCheckGrey = PLATE_CHECK_GREY,
    small_below: SmallBelow = SMALL_BELOW,
    specialists: Specialists = True,
    regions: Regions = None,
    width: Annotated[int, typer.Option(help="Width of the synthetic scenes (px); plates stay 16-140 px high.")] = 1280,
    height: Annotated[int, typer.Option(help="Height of the synthetic scenes (px).")] = 720,
    grey: Annotated[
        bool, typer.Option("--grey", help="Turn the synthetic scenes grey, as a monochrome or infrared camera films.")
    ] = False,
    grey_models: Annotated[
        bool, typer.Option(help="Read monochrome images with the bundled grey-trained detector and recognizer.")
    ] = True,
    scene_regions: Annotated[
        str | None,
        typer.Option(
            help="Regions of the synthetic scenes (codes or groups, comma-separated; default every region). "
            "Scores before session 47 were taken without Saudi plates: br,ch,eu,gb,in,ru,uae,us draws those scenes."
        ),
    ] = None,
) -> None:
    """End to end: exact plate reads on synthetic scenes (also with occluder-hidden characters ignored), per
    plate height; on labelled photos of a manifest and on UC3M-LP's real scenes, the plates read right."""
    from plateforge.data.manifest import read_manifest
    from plateforge.eval.read_eval import (
        evaluate_labelled_reads,
        evaluate_reader,
        evaluate_uc3m_scenes,
        labelled_plates,
    )
    from plateforge.runtime.alpr import ALPR

    if scenes is None:
        scenes = 0 if data is not None or uc3m is not None else 200
    if scenes <= 0 and uc3m is None and data is None:
        raise ValueError("nothing to read: give --scenes N (N > 0), --data MANIFEST and/or --uc3m DIR")
    records = read_manifest(data) if data is not None else None
    if records is not None and not any(labelled_plates(r) for r in records):
        raise ValueError(f"{data}: no plate has a text to compare reads with")
    alpr = ALPR(
        detector=detector,
        recognizer=recognizer,
        corners=corners or "auto",
        threads=threads,
        tiles=tiles,
        second_view_below=second_view_below,
        recheck_below=recheck_below,
        low_score_from=low_score_from,
        plate_check=plate_check,
        plate_check_sure=plate_check_sure,
        plate_check_grey=plate_check_grey,
        small_below=small_below,
        specialists=specialists,
        regions=regions,
        grey=grey_models,
    )
    rep = {"synthetic": evaluate_reader(alpr, scenes, seed, width, height, grey, scene_regions) if scenes > 0 else None}
    if records is not None:
        rep["data"] = evaluate_labelled_reads(alpr, records, what=str(data))
    if uc3m is not None:
        rep["uc3m"] = evaluate_uc3m_scenes(alpr, str(uc3m))
    _write_json(json_out, rep)
    syn = rep["synthetic"]
    if syn:
        kind = "grey " if grey else ""
        table = Table(title=f"{scenes} {kind}synthetic {width}x{height} scenes, seed {seed} ({syn['plates']} plates)")
        table.add_column("group")
        for col in ("plates", "exact", "hidden ignored", "true corners"):
            table.add_column(col, justify="right")
        table.add_row("all", str(syn["plates"]), *_read_rates(syn))
        for name, v in syn["per_group"].items():
            if name.startswith("height:") or name.startswith("layout:"):
                table.add_row(name, str(v["plates"]), *_read_rates(v))
        out.print(table)
        f = syn["failures"]
        console.print(
            "hidden ignored: characters an occluder hides not scored; true corners: exact reads of the plates cut "
            "at their labelled corners instead of the reader's own"
        )
        console.print(
            f"detected {syn['detected']:.2%}; {syn['partly_hidden']} plates have characters hidden by an "
            f"occluder; misreads by stage: not detected {f['not_detected']}, wrong only under an occluder "
            f"{f['hidden_only']}, localisation {f['localisation']} (read right from the true corners), recognition "
            f"{f['recognition']}; "
            f"{syn['ms_per_image_p50']:.1f} ms per image (median)"
        )
    if "data" in rep:
        d = rep["data"]
        table = Table(title=f"{data} ({d['plates']} plates with texts)")
        for col, just in (("group", "left"), ("plates", "right"), ("read right", "right")):
            table.add_column(col, justify=just)
        table.add_row("all", str(d["plates"]), f"{d['right']:.2%}")
        for name, v in d["per_group"].items():
            table.add_row(name, str(v["plates"]), f"{v['right']:.2%}")
        out.print(table)
        console.print(f"detected {d['detected']:.2%}" + (f"; {len(d['failed'])} images failed" if d["failed"] else ""))
    if "uc3m" in rep:
        u = rep["uc3m"]
        out.print(
            f"UC3M-LP val: {u['plates']} scenes, visible characters right {u['visible_chars_right']:.2%}, "
            f"detected {u['detected']:.2%}"
        )


@app.command()
@friendly_errors
def blur(
    video: Annotated[
        Path, typer.Option(help="Folder of `plateforge synth video` (video.mp4 and frames.jsonl, the per-frame truth).")
    ],
    conf: Annotated[float, typer.Option(help="As plateforge blur --conf.")] = 0.1,
    tiles: Annotated[int, typer.Option(help="As plateforge blur --tiles.")] = 2,
    fill: Annotated[int, typer.Option(help="As plateforge blur --fill.")] = 12,
    hold: Annotated[int, typer.Option(help="As plateforge blur --hold.")] = 4,
    grow: Annotated[float, typer.Option(help="As plateforge blur --grow.")] = 0.2,
    read_every: Annotated[
        int, typer.Option(help="Read the labelled plates of every N-th frame before and after blurring; 0: no reads.")
    ] = 1,
    fp32: Annotated[bool, typer.Option(help="FP32 detector instead of the INT8 one.")] = False,
    threads: Annotated[int | None, typer.Option(help="ONNX Runtime threads.")] = None,
    json_out: Annotated[Path | None, typer.Option("--json", help="Also write the report here.")] = None,
) -> None:
    """How well `plateforge blur` hides a video's plates: the share of labelled plates 95 % covered, by height,
    and the plates the bundled reader reads at their labelled corners before and after blurring."""
    from plateforge.eval.blur_eval import evaluate_blur
    from plateforge.runtime.detector import INT8_DETECTOR, PlateDetector
    from plateforge.runtime.session import bundled_model
    from plateforge.stream.blur import BlurOptions

    detector = PlateDetector(None if fp32 else bundled_model(INT8_DETECTOR), threads=threads, tiles=tiles)
    alpr = None
    if read_every > 0:
        from plateforge import ALPR

        alpr = ALPR(threads=threads)
    options = BlurOptions(conf=conf, fill=fill, hold=hold, grow=grow)
    rep = evaluate_blur(video, detector, alpr, options, read_every=max(read_every, 1))
    rep["tiles"] = tiles
    _write_json(json_out, rep)
    table = Table(title=f"{rep['video']}: {rep['frames']} frames, {rep['plates_in_view']} plates in view")
    table.add_column("plate height")
    table.add_column("plates", justify="right")
    table.add_column(f"covered ≥ {rep['min_cover']:.0%}", justify="right")
    for name, g in [*rep["by_height"].items(), ("all", {"plates": rep["plates_in_view"], "share": rep["covered"]})]:
        table.add_row(name, str(g["plates"]), "-" if g["share"] is None else f"{g['share']:.2%}")
    out.print(table)
    if alpr is not None:
        console.print(
            f"read at the labelled corners: {rep['readable_before']} of {rep['plates_read']} before blurring, "
            f"{rep['readable_after']} after; passes readable before {rep['passes_readable_before']}, "
            f"after {len(rep['passes_leaked'])}"
        )
