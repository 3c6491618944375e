"""Progress bars for long loops (rich), quiet when stderr is not a terminal or PLATEFORGE_QUIET is set."""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Callable, Iterable, Iterator
from typing import TypeVar

from rich.console import Console
from rich.progress import Progress, track

T = TypeVar("T")
_console = Console(stderr=True)


def progress(items: Iterable[T], description: str, total: int | None = None, prints: bool = False) -> Iterator[T]:
    """Yield ``items`` while showing a progress bar on stderr (only on a terminal). ``prints``: the loop prints
    its results on stdout as it goes; the bar then leaves stdout alone (rich would send it to stderr), and is
    shown only when stdout goes to a file or a pipe (on a terminal the printed lines show the progress)."""
    if os.environ.get("PLATEFORGE_QUIET") or not sys.stderr.isatty() or (prints and sys.stdout.isatty()):
        yield from items
        return
    if not prints:
        yield from track(items, description=description, total=total, console=_console, transient=True)
        return
    with Progress(*Progress.get_default_columns(), console=_console, transient=True, redirect_stdout=False) as bar:
        yield from bar.track(items, total=total, description=description)


@contextlib.contextmanager
def counter(description: str) -> Iterator[Callable[[int, int], None]]:
    """A progress bar for work counted by a callback rather than a loop (frames a video writer took): yields
    ``update(done, total)`` (total 0: unknown); quiet under the same conditions as :func:`progress`."""
    if os.environ.get("PLATEFORGE_QUIET") or not sys.stderr.isatty():
        yield lambda done, total: None
        return
    with Progress(*Progress.get_default_columns(), console=_console, transient=True) as bar:
        task = bar.add_task(description, total=None)
        yield lambda done, total: bar.update(task, completed=done, total=total or None)
