"""``plateforge bench``: per-stage latency of the reader, FP32 and INT8, one thread and all cores."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from plateforge.cli.common import (
    LowScoreFrom,
    PlateCheck,
    RecheckBelow,
    SecondViewBelow,
    SmallBelow,
    Specialists,
    console,
    friendly_errors,
    out,
)
from plateforge.runtime.defaults import LOW_SCORE_FROM, PLATE_CHECK, RECHECK_BELOW, SECOND_VIEW_BELOW, SMALL_BELOW


@friendly_errors
def bench(
    folder: Annotated[Path | None, typer.Argument(help="Folder of images (default: generated scenes).")] = None,
    scenes: Annotated[int, typer.Option(help="Synthetic 1280x720 scenes when no folder is given.")] = 50,
    threads: Annotated[list[int] | None, typer.Option(help="Thread counts (default: 1 and all cores).")] = None,
    repeat: Annotated[int, typer.Option(help="Passes over the images.")] = 1,
    fast_resize: Annotated[bool, typer.Option(help="Bilinear letterbox (faster, see the detector card).")] = False,
    json_out: Annotated[Path | None, typer.Option("--json", help="Also write the report here.")] = None,
    plates: Annotated[int | None, typer.Option(help="Plates per synthetic scene (default: 1 to 3).")] = None,
    tta: Annotated[bool, typer.Option(help="The recognizer's test-time zooms, as plateforge read does.")] = True,
    tiles: Annotated[int, typer.Option(help="Also detect in N x N overlapping tiles, as plateforge read --tiles.")] = 1,
    second_view_below: SecondViewBelow = SECOND_VIEW_BELOW,
    recheck_below: RecheckBelow = RECHECK_BELOW,
    low_score_from: LowScoreFrom = LOW_SCORE_FROM,
    plate_check: PlateCheck = PLATE_CHECK,
    small_below: SmallBelow = SMALL_BELOW,
    specialists: Specialists = True,
) -> None:
    """Latency per stage (decode, detect, rectify, recognize, total) p50 / p95 and frames/s."""
    from rich.table import Table

    from plateforge.eval.bench import STAGES, run_bench

    rep = run_bench(
        folder,
        scenes,
        threads,
        repeat,
        fast_resize,
        plates,
        tta,
        tiles,
        second_view_below=second_view_below,
        recheck_below=recheck_below,
        low_score_from=low_score_from,
        plate_check=plate_check,
        specialists=specialists,
        small_below=small_below,
    )
    meta = rep.pop("_meta")
    table = Table(title=f"{meta['source']}: {meta['images']} images, {meta['cpu_count']} cores")
    table.add_column("models @ threads")
    for s in STAGES:
        table.add_column(f"{s} p50 / p95 ms", justify="right")
    table.add_column("frames/s", justify="right")
    for name, r in rep.items():
        table.add_row(name, *(f"{r[s]['p50']:.2f} / {r[s]['p95']:.2f}" for s in STAGES), f"{r['fps']:.1f}")
    out.print(table)
    console.print(
        "int8 = QAT detector (QDQ); recognizer and corner model FP32 (static INT8 saves at most 0.2 ms per plate "
        "on the CPUs measured: plateforge quant-report)"
    )
    if json_out:
        json_out.write_text(json.dumps({**rep, "_meta": meta}, indent=2))
