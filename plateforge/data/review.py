"""A harvest's ``labels.csv`` checked row by row (``plateforge data review``, :mod:`plateforge.server.review`).

Each row's ``review`` column says what a person made of it: empty (not checked yet), ``ok`` (the text is
right, as read or as corrected) or ``drop`` (no plate, or nobody can read it: ``plateforge data import``
leaves the row out). Every change rewrites the file whole through a temporary file and a rename, so the CSV
on disk is always complete, and a spreadsheet may edit the same file between sessions.
"""

from __future__ import annotations

import csv
import os
import re
import threading
from pathlib import Path

from plateforge.data.crops_csv import normalise_text
from plateforge.data.errors import DataError

REVIEWS = ("", "ok", "drop")


def known_regions() -> list[str]:
    """The region codes of plateforge's plate specs (``uae-dubai``, ``us-ny``, ...), sorted."""
    from plateforge.specs import load_specs

    return sorted(load_specs())


class HarvestLabels:
    """The rows of ``<folder>/labels.csv`` (a :mod:`plateforge.data.harvest` output), kept in memory and
    written back on every :meth:`update`. Thread-safe."""

    def __init__(self, folder: str | os.PathLike):
        self.folder = Path(folder)
        self.path = self.folder / "labels.csv"
        if not self.path.is_file():
            raise DataError(str(self.path), "not found: review a folder `plateforge data harvest` wrote")
        with self.path.open(newline="", encoding="utf-8") as f:
            reader = csv.DictReader(f)
            self.columns = list(reader.fieldnames or [])
            missing = {"n", "image", "text"} - set(self.columns)
            if missing:
                raise DataError(f"{self.path}:1", f"header lacks column(s) {sorted(missing)}; got {self.columns}")
            self.rows = list(reader)
        for column, after in (("read", "text"), ("review", "read")):  # a CSV made by hand, or by an older harvest
            if column not in self.columns:
                self.columns.insert(self.columns.index(after) + 1, column)
        for line, row in enumerate(self.rows, 2):
            row["read"] = row.get("read") or row["text"]
            row["review"] = (row.get("review") or "").strip().lower()
            if row["review"] not in REVIEWS:
                raise DataError(f"{self.path}:{line}", f"'review' must be empty, ok or drop, got {row['review']!r}")
        self._by_n = {row["n"]: row for row in self.rows}
        if len(self._by_n) != len(self.rows):
            raise DataError(str(self.path), "column 'n' repeats a number: each row needs its own")
        self._lock = threading.Lock()

    def summary(self) -> dict:
        """Counts of rows: ``rows``, ``ok``, ``drop``, ``corrected`` (ok with a text other than the reader's),
        ``left`` (not checked yet)."""
        ok = [r for r in self.rows if r["review"] == "ok"]
        corrected = sum(1 for r in ok if r["read"] != r["text"])
        drop = sum(1 for r in self.rows if r["review"] == "drop")
        return {"rows": len(self.rows), "ok": len(ok), "drop": drop, "corrected": corrected,
                "left": len(self.rows) - len(ok) - drop}  # fmt: skip

    def update(self, n: str | int, review: str, text: str | None = None, region: str | None = None) -> dict:
        """Set row ``n``'s ``review`` (``ok``, ``drop`` or empty) and, when given, its ``text`` (spaces and dashes
        removed, upper-cased; A-Z, 0-9 and ``?`` for a character nobody can read, which training leaves out of
        the loss; column ``read`` keeps the reader's text) and ``region`` (a region plateforge knows,
        or empty for unknown). Raises KeyError for an unknown row, ValueError for a bad review or region, or an
        empty text marked ok."""
        review = review.strip().lower()
        if review not in REVIEWS:
            raise ValueError(f"review must be empty, ok or drop, got {review!r}")
        if region is not None:
            region = region.strip().lower()
            if region and region not in known_regions():
                raise ValueError(f"region {region!r} is not one plateforge knows ({', '.join(known_regions())})")
        with self._lock:
            row = self._by_n.get(str(n))
            if row is None:
                raise KeyError(f"{self.path}: no row n={n}")
            new_text = row["text"] if text is None else normalise_text(text)
            if review == "ok" and not new_text:
                raise ValueError(f"row {n}: an empty text cannot be ok (mark the row drop instead)")
            if new_text and not re.fullmatch(r"[0-9A-Z?]+", new_text):
                raise ValueError(f"row {n}: text {new_text!r}: expected letters A-Z, digits, and ? for unreadable")
            row["text"] = new_text
            if region is not None:
                if "region" not in self.columns:
                    self.columns.insert(self.columns.index("review") + 1, "region")
                row["region"] = region
            row["review"] = review
            self._write()
            return dict(row)

    def _write(self) -> None:
        tmp = self.path.with_name(self.path.name + ".tmp")
        with tmp.open("w", newline="", encoding="utf-8") as f:
            writer = csv.DictWriter(f, self.columns, extrasaction="ignore")
            writer.writeheader()
            for row in self.rows:
                writer.writerow({c: row.get(c, "") for c in self.columns})
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, self.path)
