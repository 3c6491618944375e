"""Plate lists (allow, deny, watch): match read plates against lists of known plates, forgiving the slips
a reader makes.

A list file is plain text, one plate per line (``#`` starts a comment), or CSV with a header that has a
``plate`` column and optionally ``region`` (``uae-dubai``; ``uae`` matches every emirate) and ``label``
(shown with the match, e.g. an owner or a unit)::

    plate,region,label
    A 12345,uae-dubai,Villa 12
    ZH 123456,ch,visitor

Optional ``valid_from`` / ``valid_until`` columns make an entry count only within that time (a visitor's
pass): ISO 8601 (``2026-12-07T09:00``, ``2026-12-07``), read in the list's ``tz`` (an IANA zone such as
``Asia/Dubai``; the machine's local zone when none is set) unless the value names its own offset
(``2026-12-07T09:00+04:00``). A date alone as ``valid_until``
includes that whole day. An empty cell leaves that side open. A read is matched against the entries valid at
its time (the pass's first sighting in video, the moment of reading for photos).

Plates compare without case, spaces or dashes. ``max_edits`` allows that many edits (Levenshtein, via
rapidfuzz) to entries of ``fuzzy_from`` characters or more (shorter ones, such as ``A1``, must match in
full: one edit is half of them), and ``confusables`` also lets the characters a reader confuses stand for
each other (0 O D Q, 1 I, 8 B, 5 S, 2 Z, 6 G) at no cost. An entry with a region matches only reads
placed in it. The file is read again when it changes (checked at most every ``reload_s`` seconds), so a
gate takes a new resident without a restart; a file that fails to load keeps the entries it had and logs
why.
"""

from __future__ import annotations

import csv
import logging
import re
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from rapidfuzz import process
from rapidfuzz.distance import Levenshtein

from plateforge.runtime.plate_parts import plate_parts

log = logging.getLogger(__name__)

_CONFUSABLE = str.maketrans("ODQIBSZG", "00018526")


def normalise_plate(text: str) -> str:
    """Upper case, letters and digits only (``"a 123-45"`` → ``"A12345"``)."""
    return "".join(c for c in text.upper() if c.isalnum())


def plate_key(text: str, confusables: bool = True) -> str:
    """The form plates are compared in: :func:`normalise_plate`, and with ``confusables`` each character a
    reader confuses replaced by one of its group (O D Q → 0, I → 1, B → 8, S → 5, Z → 2, G → 6)."""
    key = normalise_plate(text)
    return key.translate(_CONFUSABLE) if confusables else key


_NOT_ALNUM = re.compile(r"[\W_]+")


def plate_keys(texts: list[str], confusables: bool = True) -> list[str]:
    """:func:`plate_key` of many texts at once (one regular expression pass per text: searches over a year of
    stored passes)."""
    keys = [_NOT_ALNUM.sub("", t.upper()) for t in texts]
    return [k.translate(_CONFUSABLE) for k in keys] if confusables else keys


@dataclass(frozen=True)
class ListEntry:
    """One plate of a list: ``plate`` as written in the file, ``key`` its normalised form; ``valid_from`` /
    ``valid_until``: Unix seconds it counts from / until (None: open)."""

    plate: str
    key: str
    region: str | None = None
    label: str | None = None
    valid_from: float | None = None
    valid_until: float | None = None

    def valid_at(self, t: float) -> bool:
        """Whether the entry counts at Unix time ``t``."""
        return (self.valid_from is None or t >= self.valid_from) and (self.valid_until is None or t < self.valid_until)


def list_time(value: str, tz: str | None, end_of_day: bool, where: str) -> float:
    """Unix seconds of a list's ``valid_from`` / ``valid_until`` cell: ISO 8601, in zone ``tz`` (IANA name; None:
    the machine's local zone) unless it names an offset; a date alone is that day's start, or with
    ``end_of_day`` the next day's."""
    try:
        t = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(f"{where}: expected ISO 8601 (2026-12-07 or 2026-12-07T18:00), got {value!r}") from None
    if end_of_day and re.fullmatch(r"\d{4}-\d{2}-\d{2}", value.strip()):
        t += timedelta(days=1)
    if t.tzinfo is None and tz:
        t = t.replace(tzinfo=time_zone(tz, where))
    return t.timestamp()  # a naive time is the machine's local time


def time_zone(tz: str, where: str) -> ZoneInfo:
    try:
        return ZoneInfo(tz)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"{where}: unknown time zone {tz!r} (an IANA name such as Asia/Dubai)") from None


@dataclass(frozen=True)
class ListMatch:
    """A read that matched an entry of list ``list``: ``text`` the read (or alternative) that matched,
    ``edits`` how far apart the two are after normalisation (confusable pairs cost nothing)."""

    list: str
    plate: str
    text: str
    edits: int
    region: str | None = None
    label: str | None = None

    def to_dict(self) -> dict:
        d = {"list": self.list, "plate": self.plate, "text": self.text, "edits": self.edits}
        if self.region:
            d["region"] = self.region
        if self.label:
            d["label"] = self.label
        return d


def plate_groups(text: str) -> list[str]:
    """The letter-and-digit groups a plate is written in (``"1 11"`` → ``["1", "11"]``, ``"A-12345"`` → ``["A",
    "12345"]``), upper-cased."""
    return [g for g in re.split(r"[^0-9A-Za-z]+", text.upper()) if g]


def list_header(lines: list[str]) -> list[str] | None:
    """The CSV header (lower case) of a list file's ``lines``: its first line that is neither blank nor a comment,
    when it has a ``plate`` column; None for a plain list (one plate per line)."""
    first = next((ln for ln in lines if ln.strip() and not ln.lstrip().startswith("#")), None)
    if first is None:
        return None
    header = [h.strip().lower() for h in next(csv.reader([first]))]
    return header if "plate" in header else None


def parse_list(text: str, source: str = "<list>", tz: str | None = None) -> list[ListEntry]:
    """Entries of a list file's ``text`` (plain or CSV, see the module docstring); errors name ``source``
    and the line. ``tz``: the zone of ``valid_from`` / ``valid_until`` times that name none (None: local)."""
    lines = [(i, ln) for i, ln in enumerate(text.splitlines(), 1) if ln.strip() and not ln.lstrip().startswith("#")]
    if not lines:
        return []
    header = list_header([lines[0][1]])
    if header is not None:
        cells = [dict(zip(header, row, strict=False)) for row in csv.reader([ln for _, ln in lines[1:]])]
        rows = [
            (_cell(c, "plate") or "", _cell(c, "region"), _cell(c, "label"), i, c)
            for (i, _), c in zip(lines[1:], cells, strict=True)
        ]
    else:
        rows = [(ln.strip(), None, None, i, {}) for i, ln in lines]
    entries = []
    for plate, region, label, line, cell in rows:
        if header is None and "," in plate:
            raise ValueError(
                f"{source}: line {line}: {plate!r} has commas; a CSV list needs a header line with a 'plate' "
                "column (and optionally 'region' and 'label')"
            )
        key = normalise_plate(plate)
        if not key:
            raise ValueError(f"{source}: line {line}: {plate!r} has no letters or digits")
        where = f"{source}: line {line}"
        start, end = (
            list_time(v, tz, column == "valid_until", f"{where}: {column}") if (v := _cell(cell, column)) else None
            for column in ("valid_from", "valid_until")
        )
        if start is not None and end is not None and end <= start:
            raise ValueError(f"{where}: valid_until is not after valid_from")
        entries.append(ListEntry(plate, key, region, label, start, end))
    return entries


def _cell(row: dict, column: str) -> str | None:
    value = (row.get(column) or "").strip()
    return value or None


class PlateList:
    """A named list of plates, from a file (``path``) or given ``entries``; see the module docstring."""

    def __init__(
        self,
        name: str,
        path: str | Path | None = None,
        entries: list[ListEntry] | None = None,
        max_edits: int = 1,
        confusables: bool = True,
        reload_s: float = 2.0,
        fuzzy_from: int = 5,
        tz: str | None = None,
    ):
        if (path is None) == (entries is None):
            raise ValueError(f"list {name!r}: give a path or entries, not {'both' if path else 'neither'}")
        if max_edits < 0:
            raise ValueError(f"list {name!r}: max_edits must be >= 0, got {max_edits}")
        self.name, self.max_edits, self.confusables, self.reload_s = name, max_edits, confusables, reload_s
        self.fuzzy_from, self.tz = fuzzy_from, tz
        if tz:
            time_zone(tz, f"list {name!r}")
        self.path = Path(path) if path is not None else None
        self._mtime: float | None = None
        self._checked = 0.0
        self._index: tuple[list[ListEntry], list[str], dict] = ([], [], {})
        if entries is not None:
            self._set(entries)
        else:
            if not self.path.is_file():
                raise FileNotFoundError(f"list {name!r}: {self.path} does not exist")
            self._load()

    def _set(self, entries: list[ListEntry]) -> None:
        """Index ``entries``; the index replaces the old one in one assignment, so a match running on another
        thread (a server's requests) sees the old list or the new one, never half of each."""
        entries = list(entries)
        keys = [plate_key(e.key, self.confusables) for e in entries]
        # entries written in groups ('1 11', 'A-12345'): (indices, group keys joined by '|') by group count
        grouped: dict[int, tuple[list[int], list[str]]] = {}
        for i, e in enumerate(entries):
            groups = [plate_key(g, self.confusables) for g in plate_groups(e.plate)]
            if len(groups) > 1:
                idx, joined = grouped.setdefault(len(groups), ([], []))
                idx.append(i)
                joined.append("|".join(groups))
        self._index = (entries, keys, grouped)

    @property
    def entries(self) -> list[ListEntry]:
        return self._index[0]

    def reload(self) -> None:
        """Read the file again now (after an edit this process made; others are seen within ``reload_s``)."""
        if self.path is not None:
            self._load()

    def _load(self) -> None:
        mtime = self.path.stat().st_mtime
        self._set(parse_list(self.path.read_text(encoding="utf-8-sig"), str(self.path), self.tz))
        self._mtime = mtime
        log.info("list %s: %d plates from %s", self.name, len(self.entries), self.path)

    def _refresh(self) -> None:
        """Reload the file when it changed; keep the old entries when it cannot be read."""
        now = time.monotonic()
        if self.path is None or now - self._checked < self.reload_s:
            return
        self._checked = now
        try:
            if self.path.stat().st_mtime != self._mtime:
                self._load()
        except (OSError, ValueError, UnicodeDecodeError) as e:
            log.error("list %s: keeping %d plates, cannot reload %s: %s", self.name, len(self.entries), self.path, e)

    def match(
        self,
        texts: str | list[str],
        region: str | None = None,
        parts: tuple[str, ...] | list[str] = (),
        at: float | None = None,
    ) -> ListMatch | None:
        """The closest entry to any of ``texts`` (a read, then its alternatives) within ``max_edits``, or None.
        Ties go to the earlier text, then to the earlier entry. ``parts``: the read's code and number
        (:attr:`~plateforge.types.PlateResult.parts`); an entry written in as many groups (``1 11``) is then
        compared group by group, so ``1 11`` and ``11 1`` stay two plates. Alternatives get their parts from
        the region's formats where those allow one split only. ``at``: the read's Unix time (None: now);
        entries not valid then (``valid_from`` / ``valid_until``) are passed over."""
        self._refresh()
        at = time.time() if at is None else at
        index = self._index  # one list throughout, even if a reload swaps it meanwhile
        best: ListMatch | None = None
        for k, text in enumerate([texts] if isinstance(texts, str) else texts):
            key = plate_key(text or "", self.confusables)
            if not key:
                continue
            split = tuple(parts) if k == 0 and parts else plate_parts(text, region)
            for i, d in self._distances(index, key, split):
                entry = index[0][i]
                if entry.region and not _in_region(region, entry.region):
                    continue
                if d > 0 and len(entry.key) < self.fuzzy_from:
                    continue
                if not entry.valid_at(at):
                    continue
                if best is None or d < best.edits:
                    best = ListMatch(self.name, entry.plate, text, int(d), entry.region, entry.label)
                break
            if best is not None and best.edits == 0:
                break
        return best

    def _distances(self, index: tuple, key: str, parts: tuple[str, ...]) -> list[tuple[int, int]]:
        """(entry index, edits) within ``max_edits`` in ``index`` (:meth:`_set`), closest first: entries
        written in ``len(parts)`` groups are compared group by group with ``parts``, the others by their whole
        key."""
        _, all_keys, grouped = index
        cutoff = self.max_edits
        found = {
            i: d
            for _, d, i in process.extract(key, all_keys, scorer=Levenshtein.distance, score_cutoff=cutoff, limit=None)
        }
        if len(parts) > 1 and len(parts) in grouped:
            idx, keys = grouped[len(parts)]
            joined = "|".join(plate_key(p, self.confusables) for p in parts)
            for i in idx:
                found.pop(i, None)
            for _, d, j in process.extract(joined, keys, scorer=Levenshtein.distance, score_cutoff=cutoff, limit=None):
                found[idx[j]] = d
        return sorted(found.items(), key=lambda f: (f[1], f[0]))


def _in_region(region: str | None, wanted: str) -> bool:
    """Whether a read placed in ``region`` is in ``wanted`` (a region or a prefix group: ``uae``)."""
    return region is not None and (region == wanted or region.startswith(wanted + "-"))


@dataclass(frozen=True)
class ListOptions:
    """A plate list (:mod:`plateforge.runtime.plate_lists`): ``name`` (events and ``only_lists`` of sinks
    use it), ``path`` (plain text or CSV); ``max_edits``, ``fuzzy_from`` and ``confusables`` for the
    matching; ``tz``: the zone of its ``valid_from`` / ``valid_until`` times (IANA, e.g. Asia/Dubai; None: the
    machine's local zone)."""

    name: str
    path: str
    max_edits: int = 1
    fuzzy_from: int = 5
    confusables: bool = True
    tz: str | None = None

    def load(self) -> PlateList:
        return PlateList(
            self.name,
            self.path,
            max_edits=self.max_edits,
            confusables=self.confusables,
            fuzzy_from=self.fuzzy_from,
            tz=self.tz,
        )


def parse_list_option(item: str) -> ListOptions:
    """``NAME=PATH`` (the ``--list`` option of read, serve and stream) as :class:`ListOptions`."""
    name, sep, path = item.partition("=")
    if not sep or not name.strip() or not path.strip():
        raise ValueError(f"--list {item!r}: expected NAME=PATH, e.g. residents=residents.csv")
    return ListOptions(name.strip(), path.strip())


def site_list_options(path: str | Path) -> list[ListOptions]:
    """The ``lists`` section of the site YAML at ``path`` (none: an empty list); errors name file and item."""
    from plateforge.runtime.options import read_site_yaml
    from plateforge.typed_config import from_dict

    raw = read_site_yaml(path).get("lists") or []
    if not isinstance(raw, list):
        raise ValueError(f"{path}: lists: expected a list of {{name, path}} mappings, got {raw!r}")
    return [from_dict(ListOptions, item, f"{path}: lists[{i}]") for i, item in enumerate(raw)]


def load_lists(options: list[ListOptions]) -> list[PlateList]:
    """The lists ``options`` name, checked for unique names; errors name the list and its file."""
    names = [o.name for o in options]
    if len(set(names)) != len(names):
        raise ValueError(f"plate list names must be unique, got {names}")
    return [o.load() for o in options]


def match_lists(
    lists: list[PlateList],
    texts: str | list[str],
    region: str | None = None,
    parts: tuple[str, ...] = (),
    at: float | None = None,
) -> list[ListMatch]:
    """The match in each list that has one, in list order (``parts``, ``at``: see :meth:`PlateList.match`)."""
    return [m for pl in lists if (m := pl.match(texts, region, parts, at)) is not None]
