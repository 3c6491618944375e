"""Shared CLI plumbing: turning library errors into one readable line and an exit code."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Annotated

import typer
from rich.console import Console

from plateforge.data.errors import BadItems, DataError

# reader options shared by `read`, `eval read` and `bench`: one declaration, one help text (defaults stay at
# each parameter, equal to ALPR's)
SecondViewBelow = Annotated[
    float, typer.Option(help="Plates less tall (px) are also read from a second corner estimate's crop; 0: off.")
]
SmallBelow = Annotated[
    float,
    typer.Option(help="Rechecked plates less tall (px) are also read by the small-plate specialist; 0: off."),
]
RecheckBelow = Annotated[
    float,
    typer.Option(
        help="Only plates first read less confidently than this get the zooms and the second crop; "
        "1: every plate (~2.5 ms more per plate)."
    ),
]
LowScoreFrom = Annotated[
    float,
    typer.Option(
        help="Detections scored from this up to the detection threshold are read too, and kept when the read is "
        "sure (0.7) and fits its region's patterns; 0: off."
    ),
]
PlateCheck = Annotated[
    float,
    typer.Option(
        help="Drop plates whose crop the recognizer's plate check scores less plate-like than this (signs, "
        "plate-like text); 0: off."
    ),
]
PlateCheckSure = Annotated[
    float,
    typer.Option(
        help="Plates the plate check scores from --plate-check up to this are kept only when their read fits "
        "their region's patterns; 0: no such condition."
    ),
]
PlateCheckGrey = Annotated[
    float,
    typer.Option(
        help="--plate-check in monochrome frames (infrared), whose crops the grey network's own plate check "
        "scores; --plate-check 0 turns both off."
    ),
]
Regions = Annotated[
    str | None,
    typer.Option(
        help="The regions your plates come from, names or prefixes, comma-separated (uae; us,eu-de): each plate "
        "is placed, routed and format-checked among them alone (default: every region)."
    ),
]
PlateLists = Annotated[
    list[str] | None,
    typer.Option(
        "--list",
        help="Plate list NAME=PATH (plain text, or CSV with a 'plate' column and optional 'region', 'label'): each "
        "plate names the entries it matches, within one edit and 0/O-style confusions. Repeat for more lists.",
    ),
]
CameraIds = Annotated[
    list[str] | None, typer.Option("--camera", help="Camera id for each SOURCE, in order (default: from the name).")
]


def camera_ids(sources: list[str], given: list[str] | None) -> list[str]:
    """One camera id per source: ``--camera`` as given (one per source, else ValueError), or each source's own
    (``plateforge.stream.sources.camera_name``: the host of a stream URL, a file's or folder's name)."""
    from plateforge.stream.sources import camera_name

    names = list(given or [])
    if names and len(names) != len(sources):
        raise ValueError(f"--camera given {len(names)} time(s) for {len(sources)} source(s): give one per source")
    return names or [camera_name(src) for src in sources]


Specialists = Annotated[
    bool,
    typer.Option(
        help="Rechecked plates of regions with a bundled specialist (US, in, ru, br, eu-de, UAE) re-read by it, "
        "and those under --small-below px tall also by the small-plate specialist (--no-: faster p95)."
    ),
]

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
            message = str(e)
            if isinstance(e, FileNotFoundError) and e.filename and message.startswith("[Errno"):
                message = f"{e.filename}: no such file or folder"  # the OS's wording names no input first
            console.print(f"[red]error:[/red] {message}", highlight=False, markup=True)
            raise typer.Exit(EXIT_BAD_INPUT) from None

    return wrapper


def report_skipped(bad: BadItems) -> None:
    """List every item that ``--skip-bad`` left out, so none goes unnoticed."""
    if not bad.errors:
        return
    console.print(f"[yellow]skipped {len(bad.errors)} bad item(s):[/yellow]")
    for e in bad.errors:
        console.print(f"  {e}", highlight=False, markup=False)
