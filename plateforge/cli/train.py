"""``plateforge train ...``: train models from a YAML config (needs the ``[train]`` extra)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from plateforge.cli.common import console, friendly_errors

app = typer.Typer(help="Train models (detector, recognizer) from a YAML config.")

Config = Annotated[Path, typer.Option("--config", help="YAML config (see configs/).")]
Resume = Annotated[Path | None, typer.Option(help="Run folder to continue from its checkpoints/last.ckpt.")]
Epochs = Annotated[int | None, typer.Option(help="Override training.epochs.")]
Init = Annotated[
    Path | None,
    typer.Option(
        help="Weights that start a new run (fine-tuning): a checkpoint (.ckpt), an exported model (.onnx), or "
        "'bundled' for the model the package ships for this task."
    ),
]


def _init_path(init: Path | None, bundled: str) -> Path | None:
    """``init`` as given, or the bundled model file ``bundled`` for ``bundled``."""
    from plateforge.runtime.session import bundled_model

    return bundled_model(bundled) if init is not None and str(init) == "bundled" else init


@app.command()
@friendly_errors
def ocr(config: Config, resume: Resume = None, epochs: Epochs = None, init: Init = None) -> None:
    """Train a plate recognizer (slot decoder; one- and two-line plates)."""
    from plateforge.train.ocr import train_ocr

    overrides = {"training.epochs": epochs} if epochs else None
    run_dir = train_ocr(config, resume, overrides, _init_path(init, "recognizer.onnx"))
    console.print(f"run folder: {run_dir} (checkpoints/, metrics.csv, curves.png)")


@app.command()
@friendly_errors
def det(config: Config, resume: Resume = None, epochs: Epochs = None, init: Init = None) -> None:
    """Train a plate detector (box + 4 corners), with late-stage QAT when the config asks for it."""
    from plateforge.train.det import train_det

    overrides = {"training.epochs": epochs} if epochs else None
    run_dir = train_det(config, resume, overrides, _init_path(init, "detector.onnx"))
    console.print(f"run folder: {run_dir} (checkpoints/, metrics.csv, curves.png)")


@app.command()
@friendly_errors
def corners(config: Config, resume: Resume = None, epochs: Epochs = None, init: Init = None) -> None:
    """Train a crop-level corner regressor (ResNet-18 layout, 8 outputs, MAE metric)."""
    from plateforge.train.corners import train_corners

    overrides = {"training.epochs": epochs} if epochs else None
    run_dir = train_corners(config, resume, overrides, _init_path(init, "corners.onnx"))
    console.print(f"run folder: {run_dir} (checkpoints/, metrics.csv, curves.png)")


@app.command("plate-head")
@friendly_errors
def plate_head(
    config: Config,
    out: Annotated[Path, typer.Option(help="Where to write the recognizer ONNX with its plate head.")],
) -> None:
    """Fit the plate check: a head on the recognizer that tells plates from signs and text the detector finds."""
    from plateforge.train.plate_head import train_plate_head

    report = train_plate_head(config, out)
    console.print(f"wrote {out} (report {out.with_suffix('.json')}, scores {out.with_suffix('.png')})")
    for part in ("train", "val"):
        for name, kept in report[part].items():
            console.print(f"{part} {name}: {kept['kept']} of {kept['n']} crops at or above {report['threshold']}")
