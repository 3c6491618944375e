"""Edit a plate list file while streams and servers use it: add (or replace) one entry, remove a plate.

A visitor-management system or a guard's screen adds a visitor's pass through ``plateforge serve``
(``POST /v1/lists/{name}``); the streams that use the same file reload it within seconds
(:class:`plateforge.runtime.plate_lists.PlateList` watches its modification time). Each edit parses the new
text in full before it is written, so a bad entry is refused with the reason and never reaches the file, and
writes it through a temporary file and a rename, so a reader sees the old file or the new one. Comment lines
and the other entries are kept as written.
"""

from __future__ import annotations

import contextlib
import csv
import io
import os
import threading
from collections.abc import Iterator
from pathlib import Path

try:
    import fcntl
except ImportError:  # Windows: the in-process lock only
    fcntl = None

from plateforge.runtime.plate_lists import ListEntry, list_header, normalise_plate, parse_list

_LOCKS: dict[Path, threading.Lock] = {}
_LOCKS_GUARD = threading.Lock()


@contextlib.contextmanager
def _lock(path: Path) -> Iterator[None]:
    """Hold ``path`` for one edit: a lock per file within this process, and on POSIX an ``flock`` on
    ``.<name>.lock`` beside it, so two servers editing one list never lose each other's entries."""
    with _LOCKS_GUARD:
        lock = _LOCKS.setdefault(path.resolve(), threading.Lock())
    with lock, open(path.with_name(f".{path.name}.lock"), "a") as f:
        if fcntl is not None:
            fcntl.flock(f, fcntl.LOCK_EX)  # released when the file closes
        yield


def _is_entry(line: str, header: list[str] | None, key: str, region: str | None) -> bool:
    """Whether a data line of the file is an entry for plate ``key`` (normalised) in ``region``."""
    if not line.strip() or line.lstrip().startswith("#"):
        return False
    if header is None:
        return normalise_plate(line) == key and region is None
    cells = dict(zip(header, next(csv.reader([line])), strict=False))
    if (cells.get("plate") or "").strip().lower() == "plate":
        return False  # the header itself
    return normalise_plate(cells.get("plate") or "") == key and ((cells.get("region") or "").strip() or None) == region


def upsert_entry(
    path: str | os.PathLike,
    plate: str,
    region: str | None = None,
    label: str | None = None,
    valid_from: str | None = None,
    valid_until: str | None = None,
    tz: str | None = None,
) -> tuple[ListEntry, bool]:
    """Add ``plate`` to the list file at ``path``, replacing an entry of the same plate and region; returns
    the entry as parsed and whether one was replaced. A CSV list gets a row in its header's column order; it
    must have a column for each value given. A plain list takes plates alone. ``tz``: the list's zone for
    ``valid_from`` / ``valid_until`` (as the stream reads them). Raises ValueError naming the file."""
    path = Path(path)
    values = {"plate": plate, "region": region, "label": label, "valid_from": valid_from, "valid_until": valid_until}
    key = normalise_plate(plate)
    if not key:
        raise ValueError(f"{path}: plate {plate!r} has no letters or digits")
    with _lock(path):
        text = path.read_text(encoding="utf-8-sig") if path.exists() else ""
        lines = text.splitlines()
        header = list_header(lines)
        given = [k for k, v in values.items() if v not in (None, "")]
        if header is None and given != ["plate"]:
            raise ValueError(
                f"{path}: a plain list holds plates only; to give {', '.join(k for k in given if k != 'plate')}, "
                "make it a CSV whose first line is a header such as plate,region,label,valid_from,valid_until"
            )
        if header is not None and (missing := [k for k in given if k not in header]):
            raise ValueError(f"{path}: its header {','.join(header)} has no column for {', '.join(missing)}")
        kept = [ln for ln in lines if not _is_entry(ln, header, key, region)]
        if header is None:
            row = plate.strip()
        else:
            buf = io.StringIO()
            csv.writer(buf, lineterminator="").writerow([values.get(c) or "" for c in header])
            row = buf.getvalue()
        new = "\n".join([*kept, row]) + "\n"
        entries = parse_list(new, str(path), tz)  # the whole file as the stream will read it: refuse before writing
        _write(path, new)
    added = next(e for e in reversed(entries) if e.key == key and e.region == region)
    return added, len(kept) < len(lines)


def remove_entries(path: str | os.PathLike, plate: str, region: str | None = None) -> int:
    """Remove the entries of ``plate`` (and ``region``: None, the entries without one) from the list file at
    ``path``; returns how many went (0: the file is left as it was)."""
    path = Path(path)
    key = normalise_plate(plate)
    with _lock(path):
        lines = path.read_text(encoding="utf-8-sig").splitlines()
        header = list_header(lines)
        kept = [ln for ln in lines if not _is_entry(ln, header, key, region)]
        if len(kept) < len(lines):
            _write(path, "\n".join(kept) + "\n")
    return len(lines) - len(kept)


def _write(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    with tmp.open("w", encoding="utf-8") as f:
        f.write(text)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
