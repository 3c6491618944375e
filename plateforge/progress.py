"""Progress bars for long loops (rich), quiet when stderr is not a terminal or PLATEFORGE_QUIET is set."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterable, Iterator
from typing import TypeVar

from rich.console import Console
from rich.progress import track

T = TypeVar("T")
_console = Console(stderr=True)


def progress(items: Iterable[T], description: str, total: int | None = None) -> Iterator[T]:
    """Yield ``items`` while showing a progress bar on stderr (only on a terminal)."""
    if os.environ.get("PLATEFORGE_QUIET") or not sys.stderr.isatty():
        yield from items
        return
    yield from track(items, description=description, total=total, console=_console, transient=True)
