"""Shared CLI plumbing: turning library errors into one readable line and an exit code."""

from __future__ import annotations

import functools
from collections.abc import Callable

import typer
from rich.console import Console

from plateforge.data.errors import BadItems, DataError

console = Console(stderr=True, soft_wrap=True)  # never break a path in an error message
out = Console()
EXIT_BAD_INPUT = 2


def friendly_errors(fn: Callable) -> Callable:
    """Print DataError / FileExistsError / ValueError / FileNotFoundError as ``error: ...`` and exit 2."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except (DataError, FileExistsError, FileNotFoundError, ValueError) as e:
            console.print(f"[red]error:[/red] {e}", highlight=False, markup=True)
            raise typer.Exit(EXIT_BAD_INPUT) from None

    return wrapper


def report_skipped(bad: BadItems) -> None:
    """List every item that ``--skip-bad`` left out, so none goes unnoticed."""
    if not bad.errors:
        return
    console.print(f"[yellow]skipped {len(bad.errors)} bad item(s):[/yellow]")
    for e in bad.errors:
        console.print(f"  {e}", highlight=False, markup=False)
