"""``plateforge quant-report``: FP32 / INT8 dynamic / INT8 static / QAT side by side for every bundled model."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from plateforge.cli.common import console, friendly_errors, out


@friendly_errors
def quant_report(
    calib: Annotated[Path, typer.Option(help="Calibration images for the detector (folder or manifest).")],
    out_dir: Annotated[Path, typer.Option("--out", help="Folder for report.md, report.json and INT8 files.")],
    scenes: Annotated[int, typer.Option(help="Synthetic scenes for detector accuracy.")] = 100,
    crops: Annotated[int, typer.Option(help="Synthetic crops for corner and recognizer accuracy.")] = 300,
    det_data: Annotated[Path | None, typer.Option(help="Manifest for detector accuracy instead.")] = None,
) -> None:
    """Latency on one thread, size and accuracy (mAP, corner MAE, exact match) per model and INT8 variant."""
    from plateforge.eval.quant_report import quant_report as run
    from plateforge.eval.quant_report import to_markdown

    report = run(out_dir, calib, scenes, crops, det_data)
    out.print(to_markdown(report))
    console.print(f"wrote {out_dir / 'report.md'} and {out_dir / 'report.json'}")
