"""The ``plateforge`` command: one sub-app per command group."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from plateforge import __version__
from plateforge.cli import (
    bench,
    blur,
    data,
    evaluate,
    events,
    lists,
    quant_report,
    read,
    serve,
    sessions,
    stream,
    survey,
    synth,
    train,
)

app = typer.Typer(
    name="plateforge",
    help="Read licence plates, and build, train, quantize and deploy your own plate reader.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
app.command("read")(read.read)
app.command("bench")(bench.bench)
app.command("blur")(blur.blur)
app.command("survey")(survey.survey)
app.command("stream")(stream.stream)
app.command("serve")(serve.serve)
app.command("events")(events.events)
app.command("sessions")(sessions.sessions)
app.command("quant-report")(quant_report.quant_report)
app.add_typer(data.app, name="data")
app.add_typer(synth.app, name="synth")
app.add_typer(train.app, name="train")
app.add_typer(evaluate.app, name="eval")
app.add_typer(lists.app, name="lists")


@app.command("export")
def export(
    checkpoint: Annotated[Path, typer.Argument(help="Training checkpoint (.ckpt).")],
    out: Annotated[Path, typer.Option("--out", help="ONNX file to write.")],
    size: Annotated[int | None, typer.Option(help="Detector letterbox input size (default: training size).")] = None,
    float_only: Annotated[
        bool, typer.Option("--float", help="QAT detector: export its float network instead of QDQ INT8.")
    ] = False,
) -> None:
    """Export a checkpoint to a self-describing ONNX (uint8 in, spec in metadata) and check it against torch.
    Detector checkpoints trained with QAT export as a QDQ INT8 graph."""
    from plateforge.cli.common import console, friendly_errors
    from plateforge.export.onnx_export import export_checkpoint

    report = friendly_errors(export_checkpoint)(checkpoint, out, size, not float_only)
    console.print(
        f"wrote {report['path']} ({report['size_mb']:.2f} MB); "
        f"torch vs ONNX Runtime max abs difference {report['max_abs_diff']:.2e}"
    )


@app.command("average")
def average(
    models: Annotated[
        list[Path],
        typer.Argument(help="FP32 plateforge ONNX models of one architecture, or training checkpoints (.ckpt)."),
    ],
    out: Annotated[Path, typer.Option("--out", help="ONNX file (or .ckpt for checkpoints) to write.")],
) -> None:
    """Average the weights of models fine-tuned from the same start (a model soup); quantize the result after.
    Checkpoints average into a checkpoint that starts a new run (``train ... --init``) or exports."""
    from plateforge.cli.common import console, friendly_errors

    def run(models: list[Path], out: Path) -> dict:
        ckpts = [m.suffix == ".ckpt" for m in models]
        if any(ckpts) and not all(ckpts):
            raise ValueError(f"{', '.join(map(str, models))}: checkpoints and ONNX files mixed; average one kind")
        if all(ckpts):
            from plateforge.train.average import average_checkpoints

            return average_checkpoints(models, out)
        from plateforge.export.average import average_models

        return average_models(models, out)

    r = friendly_errors(run)(models, out)
    console.print(f"wrote {r['path']} ({r['size_mb']:.2f} MB), the mean of {r['models']} models")


@app.command()
def version() -> None:
    """Print the plateforge version."""
    typer.echo(__version__)


@app.command("quantize")
def quantize(
    model: Annotated[Path, typer.Argument(help="plateforge ONNX model (FP32).")],
    out: Annotated[Path, typer.Option("--out", help="INT8 ONNX file to write.")],
    mode: Annotated[str, typer.Option(help="static (QDQ, calibrated) or dynamic.")] = "static",
    calib: Annotated[
        Path | None, typer.Option(help="Calibration data: a folder of images, a manifest (.jsonl) or a video.")
    ] = None,
    n_calib: Annotated[int, typer.Option(help="Calibration images to use.")] = 300,
    method: Annotated[
        str, typer.Option(help="Static calibration: minmax (extremes seen), percentile or entropy (histogram fits).")
    ] = "minmax",
) -> None:
    """Quantize a model to INT8 (static QDQ with calibration, or dynamic); the spec travels with it."""
    from plateforge.cli.common import console, friendly_errors
    from plateforge.export.quantize import quantize_model

    r = friendly_errors(quantize_model)(model, out, mode, calib, n_calib, method=method)
    console.print(
        f"wrote {r['path']} ({r['mode']}, {r['size_mb']:.2f} MB from {r['fp32_size_mb']:.2f} MB, "
        f"{r['calibration_images']} calibration images)"
    )


def main() -> None:
    app()
