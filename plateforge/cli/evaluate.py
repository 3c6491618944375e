"""``plateforge eval ...``: score models on labelled data, as JSON and a readable table."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from plateforge.cli.common import console, friendly_errors, out

app = typer.Typer(help="Evaluate models on labelled data.")


@app.command()
@friendly_errors
def ocr(
    data: Annotated[Path, typer.Option(help="Manifest of plates with texts (crops or scenes).")],
    model: Annotated[Path | None, typer.Option(help="Recognizer ONNX (default: the bundled one).")] = None,
    subset: Annotated[str | None, typer.Option(help="Only records of this meta subset (train/val).")] = None,
    json_out: Annotated[Path | None, typer.Option("--json", help="Also write the full report here.")] = None,
    threads: Annotated[int | None, typer.Option(help="ONNX Runtime threads.")] = None,
) -> None:
    """Exact-match accuracy, character error rate, per region and layout, accuracy at coverage."""
    from plateforge.eval.ocr_eval import evaluate_recognizer

    rep = evaluate_recognizer(data, model, subset, threads)
    if json_out:
        json_out.parent.mkdir(parents=True, exist_ok=True)
        json_out.write_text(json.dumps(rep, indent=2))
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
