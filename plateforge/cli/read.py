"""``plateforge read``: photos in, plates out (JSONL, a table or CSV), optionally annotated images."""

from __future__ import annotations

import csv
import json
import sys
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Annotated, TypeVar

import typer

from plateforge.cli.common import (
    EXIT_BAD_INPUT,
    LowScoreFrom,
    PlateCheck,
    PlateCheckGrey,
    PlateCheckSure,
    PlateLists,
    RecheckBelow,
    Regions,
    SecondViewBelow,
    SmallBelow,
    Specialists,
    console,
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

EXIT_SOME_FAILED = 1
T = TypeVar("T")
R = TypeVar("R")


def expand_inputs(paths: list[str], from_list: Path | None) -> list[str]:
    """Paths as given; folders walked (sorted); ``from_list`` adds one path per line (blank lines, # comments
    skipped)."""
    from plateforge.data.manifest import list_images

    items = list(paths)
    if from_list is not None:
        lines = from_list.read_text(encoding="utf-8").splitlines()
        items += [ln.strip() for ln in lines if ln.strip() and not ln.lstrip().startswith("#")]
    expanded = []
    for item in items:
        p = Path(item)
        expanded += [str(x) for x in list_images(p)] if p.is_dir() else [item]
    return expanded


def read(
    paths: Annotated[list[str] | None, typer.Argument(help="Images or folders (walked).")] = None,
    from_list: Annotated[Path | None, typer.Option(help="Text file with one image path per line.")] = None,
    fmt: Annotated[str, typer.Option("--format", help="jsonl, table or csv.")] = "jsonl",
    save_annotated: Annotated[Path | None, typer.Option(help="Write annotated copies here.")] = None,
    save_blurred: Annotated[
        Path | None,
        typer.Option(
            help="Write copies with every plate found made unreadable here (anonymising photos; add "
            "--plate-check-sure 0 to blur plates too unsure to report)."
        ),
    ] = None,
    top_n: Annotated[int, typer.Option(help="Alternative texts per plate, valid patterns first.")] = 1,
    conf: Annotated[float | None, typer.Option(help="Detection threshold (default: the model's).")] = None,
    detector: Annotated[
        Path | None,
        typer.Option(help="Detector ONNX: plateforge, Ultralytics or open-image-models (default: bundled)."),
    ] = None,
    int8: Annotated[
        bool,
        typer.Option(
            "--int8",
            help="The bundled INT8 (QAT) detector: ~1.3 ms faster per photo on CPUs with VNNI, 0.2-0.6 points fewer "
            "exact reads.",
        ),
    ] = False,
    recognizer: Annotated[Path | None, typer.Option(help="Recognizer ONNX (default: bundled).")] = None,
    recognizer_config: Annotated[Path | None, typer.Option(help="YAML of a fast-plate-ocr recognizer.")] = None,
    head_corners: Annotated[bool, typer.Option(help="Use the detector's corners, not the corner model.")] = False,
    threads: Annotated[
        int | None, typer.Option(help="ONNX Runtime threads per model (default: all cores; 1 with --jobs > 1).")
    ] = None,
    jobs: Annotated[
        int,
        typer.Option(
            help="Images read at once, each on its own thread; rows stay in input order (2 on 2 cores: ~1.7x the "
            "images per second; timing_ms then includes waiting for a core)."
        ),
    ] = 1,
    fast_resize: Annotated[
        bool,
        typer.Option(
            help="One bilinear letterbox resize instead of two-step area averaging: ~0.3 ms faster per 720p "
            "frame, slightly less accurate on small plates."
        ),
    ] = False,
    tiles: Annotated[
        int,
        typer.Option(help="Also detect in N x N overlapping tiles: finds smaller plates, N² more detector runs."),
    ] = 1,
    tta: Annotated[
        bool,
        typer.Option(help="Read each plate zoomed out and in too, and average (--no-tta: ~1.5 ms faster per plate)."),
    ] = True,
    fit_formats: Annotated[
        bool,
        typer.Option(help="Replace a read that fails its region's patterns by a likely valid alternative."),
    ] = True,
    second_view_below: SecondViewBelow = SECOND_VIEW_BELOW,
    recheck_below: RecheckBelow = RECHECK_BELOW,
    low_score_from: LowScoreFrom = LOW_SCORE_FROM,
    plate_check: PlateCheck = PLATE_CHECK,
    plate_check_sure: PlateCheckSure = PLATE_CHECK_SURE,
    plate_check_grey: PlateCheckGrey = PLATE_CHECK_GREY,
    small_below: SmallBelow = SMALL_BELOW,
    specialists: Specialists = True,
    regions: Regions = None,
    plate_list: PlateLists = None,
    zone: Annotated[
        list[str] | None,
        typer.Option(
            help="Where plates count in these photos (a fixed camera): polygon 'x,y x,y x,y ...' in pixels, or "
            "fractions of the photo when all are in [0, 1]; repeat for more. Plates centred outside are not "
            "reported, and the detector looks only around the zones, so their plates are larger to it."
        ),
    ] = None,
) -> None:
    """Read licence plates in photos. JSONL prints one object per image (plates, or an error) and goes on past
    bad images; the exit code is 1 when any image failed, 2 for bad arguments."""
    from plateforge.runtime.alpr import ALPR, FIT_FORMATS

    if jobs < 1:
        console.print(f"[red]error:[/red] --jobs must be 1 or more, got {jobs}")
        raise typer.Exit(EXIT_BAD_INPUT)
    if jobs > 1 and threads is None:
        threads = 1  # images side by side on the cores beat one image on all of them (docs/read.md, Speed)
    if int8 and detector is not None:
        console.print("[red]error:[/red] give --int8 (the bundled INT8 detector) or --detector, not both")
        raise typer.Exit(EXIT_BAD_INPUT)
    if int8:
        from plateforge.runtime.detector import INT8_DETECTOR
        from plateforge.runtime.session import bundled_model

        detector = bundled_model(INT8_DETECTOR)
    if fmt not in ("jsonl", "table", "csv"):
        console.print(f"[red]error:[/red] --format must be jsonl, table or csv, got {fmt!r}")
        raise typer.Exit(EXIT_BAD_INPUT)
    try:
        items = expand_inputs(paths or [], from_list)
    except OSError as e:
        console.print(f"[red]error:[/red] {from_list}: {e.strerror or e}")
        raise typer.Exit(EXIT_BAD_INPUT) from None
    if not items:
        console.print("[red]error:[/red] no images given (paths, folders or --from-list)")
        raise typer.Exit(EXIT_BAD_INPUT)
    try:
        from plateforge.runtime.plate_lists import load_lists, parse_list_option
        from plateforge.runtime.zone import Zone, parse_zone

        lists = load_lists([parse_list_option(item) for item in plate_list or []])
        zones = [Zone(parse_zone(z), f"--zone {z!r}") for z in zone or []]
        alpr = ALPR(
            detector,
            recognizer,
            None if head_corners else "auto",
            conf=conf,
            top_n=top_n,
            threads=threads,
            fast_resize=fast_resize,
            recognizer_config=recognizer_config,
            tta=tta,
            fit_formats=FIT_FORMATS if fit_formats else None,
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
            zones=zones,
        )
    except (FileNotFoundError, ValueError) as e:
        console.print(f"[red]error:[/red] {e}")
        raise typer.Exit(EXIT_BAD_INPUT) from None
    alpr.warm_up()  # so that the first image's timing_ms is not ONNX Runtime's first runs
    for folder in (save_annotated, save_blurred):
        if folder:
            folder.mkdir(parents=True, exist_ok=True)
    rows, failed = [], 0
    writer = csv.writer(sys.stdout) if fmt == "csv" else None
    if writer:
        writer.writerow(
            [
                "image",
                "text",
                "confidence",
                "region",
                "format_ok",
                "detection_score",
                "x1",
                "y1",
                "x2",
                "y2",
                "plate_score",
                *(["lists"] if lists else []),
            ]
        )
    from plateforge.progress import progress

    rows_in_order = ordered_map(
        lambda k: read_one(alpr, items[k], save_annotated, k, lists, save_blurred), range(len(items)), jobs
    )
    for row in progress(rows_in_order, "reading plates", total=len(items), prints=fmt != "table"):
        failed += "error" in row
        if fmt == "jsonl":
            print(json.dumps(row), flush=True)
        elif writer:
            for p in row.get("plates", [{"text": "", "error": row.get("error")}]):
                box = p.get("box", ["", "", "", ""])
                writer.writerow(
                    [
                        row["image"],
                        p.get("text", ""),
                        p.get("confidence", ""),
                        p.get("region", ""),
                        p.get("format_ok", ""),
                        p.get("detection_score", ""),
                        *box,
                        p.get("plate_score", ""),
                        *([list_cell(p)] if lists else []),
                    ]
                )
        else:
            rows.append(row)
    if fmt == "table":
        print_table(rows, bool(lists))
    if failed:
        console.print(f"{failed} of {len(items)} image(s) failed")
        raise typer.Exit(EXIT_SOME_FAILED)


def ordered_map(fn: Callable[[T], R], items: Iterable[T], jobs: int) -> Iterator[R]:
    """``fn`` over ``items`` on ``jobs`` threads, results in input order, at most ``2 * jobs`` items in flight (so
    a long list never holds more than a few decoded images)."""
    if jobs <= 1:
        yield from map(fn, items)
        return
    with ThreadPoolExecutor(jobs) as pool:
        pending: deque = deque()
        for item in items:
            pending.append(pool.submit(fn, item))
            if len(pending) >= 2 * jobs:
                yield pending.popleft().result()
        while pending:
            yield pending.popleft().result()


def read_one(
    alpr,
    item: str,
    save_annotated: Path | None,
    index: int,
    lists: list | None = None,
    save_blurred: Path | None = None,
) -> dict:
    """One image → its JSON row (see :mod:`plateforge.runtime.rows`), plates matched against ``lists``; a
    failure becomes ``{"image", "error"}`` and the batch goes on. Annotated and blurred copies are written as
    ``<index>_<stem>.jpg``."""
    from plateforge.runtime.draw import blur_plates, draw_plates
    from plateforge.runtime.rows import image_row

    row, res = image_row(alpr, item, item, lists)
    if res is not None and (save_annotated is not None or save_blurred is not None):
        import cv2

        name = f"{index:05d}_{Path(item).stem}.jpg"
        if save_annotated is not None:
            cv2.imwrite(str(save_annotated / name), draw_plates(res.image, res.plates))
        if save_blurred is not None:
            cv2.imwrite(str(save_blurred / name), blur_plates(res.image, res.plates), [cv2.IMWRITE_JPEG_QUALITY, 92])
    return row


def list_cell(plate: dict) -> str:
    """A plate's list matches as one cell: ``residents: A 12345 (Villa 12); watch: ...``."""
    return "; ".join(
        f"{m['list']}: {m['plate']}" + (f" ({m['label']})" if m.get("label") else "") for m in plate.get("lists", [])
    )


def print_table(rows: list[dict], lists: bool = False) -> None:
    from rich.table import Table

    table = Table()
    cols = ("image", "plate", "confidence", "region", "format", "detection", "ms", *(["lists"] if lists else []))
    for col in cols:
        table.add_column(col)
    blank = [""] * (len(cols) - 2)
    for row in rows:
        if "error" in row:
            table.add_row(Path(row["image"]).name, f"[red]{row['error']}[/red]", *blank)
            continue
        if not row["plates"]:
            table.add_row(Path(row["image"]).name, "—", *blank[:4], f"{row['timing_ms']['total']:.1f}", *blank[5:])
        for p in row["plates"]:
            fmt_ok = {True: "ok", False: "no", None: "?"}[p["format_ok"]]
            table.add_row(
                Path(row["image"]).name,
                " ".join(p["parts"]) if p.get("parts") else p["text"],
                f"{p['confidence']:.2f}",
                p["region"] or "",
                fmt_ok,
                f"{p['detection_score']:.2f}",
                f"{row['timing_ms']['total']:.1f}",
                *([list_cell(p)] if lists else []),
            )
    out.print(table)
