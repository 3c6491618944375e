"""The ``plateforge`` command: one sub-app per command group."""

from __future__ import annotations

import typer

from plateforge import __version__
from plateforge.cli import data, synth

app = typer.Typer(
    name="plateforge",
    help="Read licence plates, and build, train, quantize and deploy your own plate reader.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
app.add_typer(data.app, name="data")
app.add_typer(synth.app, name="synth")


@app.command()
def version() -> None:
    """Print the plateforge version."""
    typer.echo(__version__)


def main() -> None:
    app()
