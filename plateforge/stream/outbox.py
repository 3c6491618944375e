"""The SQLite outbox: every event is stored here first (the embedded default sink), then delivered to each
remote sink at least once, in order, with retry and exponential backoff.

Durability: the event row is committed (WAL, ``synchronous=FULL``) before anything is sent, and a delivery
is marked only after the sink confirmed it, so a broker outage or a SIGKILL of the stream process loses
nothing: on restart each sink's dispatcher starts with what it had not confirmed (a replay). An event id
is stored once (``INSERT OR IGNORE``), so reprocessing the same video does not duplicate events; a
consumer can still see a delivery twice (the sink confirmed, the process died before marking) and drops it
by ``event_id``.

A sink registered for the first time gets events from that moment on, not the table's history.
"""

from __future__ import annotations

import contextlib
import json
import logging
import random
import re
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from plateforge.stream.events import MOTIONS, prune_frames

log = logging.getLogger(__name__)

SCHEMA_SQL = """
CREATE TABLE IF NOT EXISTS events (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    event_id TEXT NOT NULL UNIQUE,
    camera TEXT NOT NULL,
    text TEXT,
    created REAL NOT NULL,
    payload TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS sinks (name TEXT PRIMARY KEY, from_seq INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS deliveries (
    sink TEXT NOT NULL, seq INTEGER NOT NULL, delivered REAL NOT NULL, PRIMARY KEY (sink, seq)
);
"""


# the events a sink (parameter 1) has not confirmed, from the one it was registered at on
_UNDELIVERED = (
    "FROM events e JOIN sinks s ON s.name = ? LEFT JOIN deliveries d ON d.sink = s.name AND d.seq = e.seq "
    "WHERE e.seq >= s.from_seq AND d.seq IS NULL"
)


def _connect(path: str) -> sqlite3.Connection:
    con = sqlite3.connect(path, timeout=30, isolation_level=None)  # autocommit; explicit BEGIN where needed
    con.execute("PRAGMA journal_mode=WAL")
    con.execute("PRAGMA synchronous=FULL")
    return con


class Outbox:
    """Events in a SQLite file (``path``). Thread-safe: one connection per thread."""

    def __init__(self, path: str | Path):
        self.path = str(path)
        Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        self._local = threading.local()
        self._con().executescript(SCHEMA_SQL)

    def _con(self) -> sqlite3.Connection:
        con = getattr(self._local, "con", None)
        if con is None:
            con = self._local.con = _connect(self.path)
        return con

    def put(self, event: dict) -> bool:
        """Store ``event`` (a dict with ``event_id`` and ``camera``); False when that id was already there."""
        cur = self._con().execute(
            "INSERT OR IGNORE INTO events (event_id, camera, text, created, payload) VALUES (?, ?, ?, ?, ?)",
            (event["event_id"], event["camera"], event.get("text"), time.time(), json.dumps(event)),
        )
        return cur.rowcount == 1

    def register_sink(self, name: str) -> None:
        con = self._con()
        con.execute(
            "INSERT OR IGNORE INTO sinks (name, from_seq) SELECT ?, COALESCE(MAX(seq), 0) + 1 FROM events", (name,)
        )

    def pending(self, sink: str, limit: int = 100) -> list[tuple[int, dict]]:
        """Undelivered (seq, event) for ``sink``, oldest first."""
        sql = f"SELECT e.seq, e.payload {_UNDELIVERED} ORDER BY e.seq LIMIT ?"
        rows = self._con().execute(sql, (sink, limit)).fetchall()
        return [(seq, json.loads(payload)) for seq, payload in rows]

    def backlog(self, sink: str) -> int:
        """How many events ``sink`` has not confirmed."""
        return self._con().execute(f"SELECT COUNT(*) {_UNDELIVERED}", (sink,)).fetchone()[0]

    def mark_delivered(self, sink: str, seqs: list[int]) -> None:
        con = self._con()
        now = time.time()
        con.execute("BEGIN")
        con.executemany(
            "INSERT OR IGNORE INTO deliveries (sink, seq, delivered) VALUES (?, ?, ?)", [(sink, s, now) for s in seqs]
        )
        con.execute("COMMIT")

    def correct(self, event_id: str, text: str, by: str | None = None) -> dict:
        """Set a stored pass's text as a person read it, and send the pass to every sink again.

        ``text`` is stored without case, spaces or dashes; a UAE plate typed apart (``1 11``) keeps that split
        as its ``parts`` where the formats allow it, else the formats split it where they can. The event gets
        ``corrected: {was (the reader's text, kept over later corrections), by, at (ISO 8601 UTC)}``,
        ``revision`` one higher (2 for the first correction), and ``format_ok`` for the new text; its deliveries
        are forgotten, so each sink's dispatcher sends it again (consumers that drop duplicates by
        ``event_id`` keep the first text; take the higher ``revision`` to follow corrections). Its plate-list
        matches stay those of the read. Returns the event; KeyError for an unknown id, ValueError for a text of
        other characters than A-Z, 0-9, spaces and dashes."""
        from plateforge.data.crops_csv import normalise_text
        from plateforge.runtime.plate_formats import format_ok
        from plateforge.runtime.plate_lists import plate_groups
        from plateforge.runtime.plate_parts import plate_parts, valid_cuts
        from plateforge.stream.events import utc_iso

        key = normalise_text(text)
        if not re.fullmatch(r"[0-9A-Z]+", key):
            raise ValueError(
                f"event {event_id}: text {text!r}: expected letters A-Z and digits (spaces, dashes allowed)"
            )
        con = self._con()
        con.execute("BEGIN IMMEDIATE")
        try:
            row = con.execute("SELECT seq, payload FROM events WHERE event_id = ?", (event_id,)).fetchone()
            if row is None:
                raise KeyError(f"{self.path}: no event {event_id}")
            seq, event = row[0], json.loads(row[1])
            region = event.get("region")
            typed = plate_groups(text)
            cuts = valid_cuts(key, region) or []
            parts = tuple(typed) if len(typed) == 2 and len(typed[0]) in cuts else plate_parts(key, region)
            was = (event.get("corrected") or {}).get("was", event.get("text"))
            event["text"] = key
            event.pop("parts", None)
            if parts:
                event["parts"] = list(parts)
            event["format_ok"] = format_ok(key, region)
            event["corrected"] = {"was": was, "by": by, "at": utc_iso(time.time())}
            event["revision"] = int(event.get("revision") or 1) + 1
            con.execute("UPDATE events SET text = ?, payload = ? WHERE seq = ?", (key, json.dumps(event), seq))
            con.execute("DELETE FROM deliveries WHERE seq = ?", (seq,))
            con.execute("COMMIT")
        except BaseException:
            con.execute("ROLLBACK")
            raise
        return event

    def events(self, camera: str | None = None) -> list[dict]:
        """All stored events (oldest first), optionally of one camera."""
        sql, args = "SELECT payload FROM events", ()
        if camera is not None:
            sql, args = sql + " WHERE camera = ?", (camera,)
        return [json.loads(p) for (p,) in self._con().execute(sql + " ORDER BY seq", args)]

    def prune(self, older_than_s: float) -> int:
        """Delete events older than ``older_than_s`` seconds that every registered sink has delivered."""
        con = self._con()
        cutoff = time.time() - older_than_s
        con.execute("BEGIN")
        cur = con.execute(
            "DELETE FROM events WHERE created < ? AND NOT EXISTS (SELECT 1 FROM sinks s WHERE events.seq >= s.from_seq "
            "AND NOT EXISTS (SELECT 1 FROM deliveries d WHERE d.sink = s.name AND d.seq = events.seq))",
            (cutoff,),
        )
        con.execute("DELETE FROM deliveries WHERE seq NOT IN (SELECT seq FROM events)")
        con.execute("COMMIT")
        return cur.rowcount

    def close(self) -> None:
        con = getattr(self._local, "con", None)
        if con is not None:
            con.close()
            self._local.con = None


@dataclass(frozen=True)
class EventFilter:
    """Which events a sink takes (a site's ``only_lists``, ``only_cameras``, ``only_zones``, ``only_motion``):
    each set that is not None must hold the event's value; ``lists``: plate lists the pass matched, ``"*"``
    any list. The entry barrier's webhook, say, takes the residents approaching the entry camera only."""

    lists: frozenset[str] | None = None
    cameras: frozenset[str] | None = None
    zones: frozenset[str] | None = None
    motions: frozenset[str] | None = None

    def wants(self, event: dict) -> bool:
        if self.cameras is not None and event.get("camera") not in self.cameras:
            return False
        if self.zones is not None and event.get("zone") not in self.zones:
            return False
        if self.motions is not None and event.get("motion") not in self.motions:
            return False
        if self.lists is not None:
            names = {m.get("list") for m in event.get("lists") or []}
            return bool(names) and ("*" in self.lists or bool(names & self.lists))
        return True


class Dispatcher:
    """Delivers one sink's pending events from the outbox in a background thread: batches in order,
    exponential backoff with jitter on failure (``backoff_start`` doubling to ``backoff_max`` seconds).
    ``on_result(sink, delivered, error, backlog)`` reports each attempt (metrics). ``only``: send only the
    events this :class:`EventFilter` wants; the others are marked delivered unsent, so they never hold the
    sink's queue back."""

    def __init__(
        self,
        outbox: Outbox,
        sink,
        batch: int = 100,
        backoff_start: float = 0.5,
        backoff_max: float = 30.0,
        on_result: Callable[[str, int, str | None, int], None] | None = None,
        only: EventFilter | None = None,
    ):
        self.outbox, self.sink, self.batch = outbox, sink, batch
        self.only = only
        self.backoff_start, self.backoff_max = backoff_start, backoff_max
        self.on_result = on_result
        self.delivered = self.skipped = self.failures = 0
        self.last_error: str | None = None
        outbox.register_sink(sink.name)
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"sink-{sink.name}", daemon=True)

    def start(self) -> Dispatcher:
        self._thread.start()
        return self

    def notify(self) -> None:
        """A new event is in the outbox."""
        self._wake.set()

    def _run(self) -> None:
        backoff = self.backoff_start
        while not self._stop.is_set():
            self._wake.clear()
            try:
                rows = self.outbox.pending(self.sink.name, self.batch)
                if not rows:
                    self._wake.wait(0.5)
                    continue
                events = [e for _, e in rows if self._wanted(e)]
                if events:
                    self.sink.send(events)
                self.outbox.mark_delivered(self.sink.name, [s for s, _ in rows])
                self.delivered += len(events)
                self.skipped += len(rows) - len(events)
                backoff = self.backoff_start
                self._report(len(events), None)
            except Exception as e:  # a sink failure is retried, never fatal
                self.failures += 1
                self.last_error = f"{type(e).__name__}: {e}"
                log.warning(
                    "sink %s: delivery failed (%s); retrying in %.1f s", self.sink.name, self.last_error, backoff
                )
                self._report(0, self.last_error)
                self._stop.wait(backoff * random.uniform(0.8, 1.2))
                backoff = min(backoff * 2, self.backoff_max)

    def _wanted(self, event: dict) -> bool:
        return self.only is None or self.only.wants(event)

    def _report(self, n: int, error: str | None) -> None:
        if self.on_result is not None:
            with contextlib.suppress(Exception):  # metrics must not stop delivery
                self.on_result(self.sink.name, n, error, self.outbox.backlog(self.sink.name))

    def drain(self, timeout: float) -> bool:
        """Wait up to ``timeout`` seconds for the backlog to empty; True when it did."""
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if self.outbox.backlog(self.sink.name) == 0:
                return True
            self._wake.set()
            time.sleep(0.05)
        return self.outbox.backlog(self.sink.name) == 0

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        self._thread.join(timeout=10)
        close = getattr(self.sink, "close", None)
        if close is not None:
            close()


class Pruner:
    """Keeps the outbox from growing without end: every ``every_s`` seconds (and once at start) a background
    thread deletes the events stored more than ``keep_s`` seconds ago that every sink has confirmed
    (:meth:`Outbox.prune`). Events a sink still owes are kept, however old. ``frames_dir``: the events' frame
    folder (``EventOptions.frames_dir``), whose days older than ``keep_s`` go too."""

    def __init__(self, outbox: Outbox, keep_s: float, every_s: float = 3600.0, frames_dir: str | None = None):
        if keep_s <= 0:
            raise ValueError(f"{outbox.path}: keep_days must be positive, got {keep_s / 86400:g}")
        self.outbox, self.keep_s, self.every_s, self.frames_dir = outbox, keep_s, every_s, frames_dir
        self.pruned = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="outbox-pruner", daemon=True)

    def start(self) -> Pruner:
        self._thread.start()
        return self

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                n = self.outbox.prune(self.keep_s)
                self.pruned += n
                if n:
                    log.info("%s: pruned %d events older than %.1f days", self.outbox.path, n, self.keep_s / 86400)
                if self.frames_dir is not None:
                    prune_frames(self.frames_dir, self.keep_s)
            except Exception as e:  # a busy or failing database is retried at the next round, never fatal
                log.warning("%s: pruning failed (%s); retrying in %.0f s", self.outbox.path, e, self.every_s)
            self._stop.wait(self.every_s)

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=10)


def _event_filter(
    camera: str | None, text: str | None, since: float | None, until: float | None, plate_list: str | None
) -> tuple[str, list]:
    """The WHERE clause (with its leading space, or empty) and arguments of :func:`find_events`' filters."""
    where, args = [], []
    if camera is not None:
        where.append("camera = ?")
        args.append(camera)
    if text is not None:
        where.append("upper(text) LIKE ? ESCAPE '\\'")
        escaped = text.upper().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        args.append(escaped.replace("*", "%"))
    if plate_list is not None:
        matched = "SELECT 1 FROM json_each(payload, '$.lists') AS m"
        if plate_list == "*":
            where.append(f"EXISTS ({matched})")
        else:
            where.append(f"EXISTS ({matched} WHERE json_extract(m.value, '$.list') = ?)")
            args.append(plate_list)
    if since is not None:
        where.append("created >= ?")
        args.append(since)
    if until is not None:
        where.append("created < ?")
        args.append(until)
    return (" WHERE " + " AND ".join(where) if where else ""), args


@contextlib.contextmanager
def _read_only(path: str | Path) -> Iterator[sqlite3.Connection]:
    """A read-only connection to the outbox at ``path`` (a running stream may keep writing), closed after;
    ValueError naming ``path`` when it is missing or not an outbox."""
    if not Path(path).is_file():
        raise ValueError(f"{path}: no such events file (the SQLite outbox plateforge stream writes)")
    con = sqlite3.connect(f"{Path(path).resolve().as_uri()}?mode=ro", uri=True, timeout=30)
    try:
        yield con
    except sqlite3.DatabaseError as e:
        raise ValueError(f"{path}: not a plateforge events file ({e})") from None
    finally:
        con.close()


def iter_events(
    path: str | Path, camera: str | None = None, since: float | None = None, until: float | None = None
) -> Iterator[dict]:
    """The events of the outbox at ``path``, oldest first, one at a time through a read-only connection (an
    outbox of a year of passes never sits in memory whole); filters as :func:`find_events`'."""
    where_sql, args = _event_filter(camera, None, since, until, None)
    with _read_only(path) as con:
        for payload, created in con.execute(f"SELECT payload, created FROM events{where_sql} ORDER BY seq", args):
            yield {**json.loads(payload), "stored": created}


def find_events(
    path: str | Path,
    camera: str | None = None,
    text: str | None = None,
    since: float | None = None,
    until: float | None = None,
    limit: int | None = 100,
    plate_list: str | None = None,
    near: str | None = None,
    max_edits: int = 1,
    crops: bool = True,
) -> list[dict]:
    """Events stored in the outbox at ``path``, newest first, read through a read-only connection (a running
    stream may keep writing). ``camera``: that camera's only; ``text``: plates read so, letters in any case,
    ``*`` matching any run of characters (``A12*``); ``since`` / ``until``: stored from / before these Unix
    times (seconds); ``limit``: at most this many (None: all); ``plate_list``: events that matched this plate list
    (``"*"``: any); ``near``: passes whose text, or another text their vote weighed (``candidates``), is this
    plate or ``max_edits`` edits from it, as plate lists match (case, spaces and dashes ignored, 0/O, 1/I, 8/B...
    free, plates under 5 characters only in full; :mod:`plateforge.runtime.plate_lists`); each such event
    gets ``"near": {"text", "edits"}``, the text that matched; ``crops=False`` leaves out each event's
    ``best_crop_jpeg`` inside SQLite (parking stays over months of passes need a few fields, not 5 KB of JPEG
    each). Raises ValueError naming a file that is not an outbox."""
    where_sql, args = _event_filter(camera, text, since, until, plate_list)
    payload = "payload" if crops else "json_remove(payload, '$.best_crop_jpeg')"
    with _read_only(path) as con:
        if near is not None:
            return _find_near(con, where_sql, args, near, max_edits, limit, payload)
        sql = f"SELECT {payload}, created FROM events{where_sql} ORDER BY seq DESC LIMIT ?"
        rows = con.execute(sql, (*args, -1 if limit is None else int(limit))).fetchall()
    return [{**json.loads(p), "stored": created} for p, created in rows]


def _find_near(
    con: sqlite3.Connection, where_sql: str, args: list, near: str, max_edits: int, limit: int | None, payload: str
):
    """``find_events(near=...)``: the texts of the selected events (voted and candidates, without the crops)
    are screened with one rapidfuzz pass over their whole keys, which finds every event the plate-list match
    can (a match by parts is never closer than the whole texts are); only those are matched in full and
    loaded (100,000 stored passes with their crops: 1.5-2.0 s loaded and matched one by one, 1.0-1.2 s so;
    most of that is SQLite reading the candidates out of each event's JSON)."""
    from rapidfuzz import process
    from rapidfuzz.distance import Levenshtein

    from plateforge.runtime.plate_lists import plate_key, plate_keys

    plate = _near_plate(near, max_edits)
    sql = (
        "SELECT seq, text, json_extract(payload, '$.candidates'), json_extract(payload, '$.region'), "
        f"json_extract(payload, '$.parts') FROM events{where_sql} ORDER BY seq DESC"
    )
    rows = con.execute(sql, args).fetchall()
    row_texts = []  # per event: its voted text, then the other texts its vote weighed
    for _, text, candidates, _, _ in rows:
        text = text or ""
        row_texts.append([text] + [c[0] for c in json.loads(candidates or "[]") if c and c[0] and c[0] != text])
    owner = [i for i, texts in enumerate(row_texts) for _ in texts]
    keys = plate_keys([t for texts in row_texts for t in texts], plate.confusables)
    query = plate_key(near, plate.confusables)
    screened = sorted({owner[j] for _, _, j in process.extract(
        query, keys, scorer=Levenshtein.distance, score_cutoff=max_edits, limit=None)})  # fmt: skip
    found = []
    for i in screened:  # newest first, as rows are
        seq, _, _, region, parts = rows[i]
        m = plate.match(row_texts[i], region, tuple(json.loads(parts or "[]")))
        if m is None:
            continue
        doc, created = con.execute(f"SELECT {payload}, created FROM events WHERE seq = ?", (seq,)).fetchone()
        found.append({**json.loads(doc), "stored": created, "near": {"text": m.text, "edits": m.edits}})
        if limit is not None and len(found) >= limit:
            break
    return found


def camera_activity(path: str | Path, since: float | None = None) -> list[dict]:
    """Per camera of the outbox at ``path``: ``{"camera", "passes", "last_stored", "last_seen_utc"}`` over the
    events stored from ``since`` (Unix seconds; None: all), and ``last_stored`` / ``last_seen_utc`` of its newest
    pass whenever it was: a camera whose last pass is long ago has stopped seeing plates (a blocked lens, a
    dropped stream). Read-only; sorted by camera."""
    with _read_only(path) as con:
        rows = con.execute(
            "SELECT camera, SUM(created >= ?), MAX(created), "
            "(SELECT json_extract(payload, '$.first_seen_utc') FROM events e2 WHERE e2.camera = e.camera "
            "ORDER BY seq DESC LIMIT 1) FROM events e GROUP BY camera ORDER BY camera",
            (since if since is not None else float("-inf"),),
        ).fetchall()
    return [
        {"camera": c, "passes": int(n or 0), "last_stored": last, "last_seen_utc": seen} for c, n, last, seen in rows
    ]


COUNT_PERIODS = ("hour", "day")


def pass_counts(
    path: str | Path,
    by: str = "hour",
    tz: str = "UTC",
    camera: str | None = None,
    since: float | None = None,
    until: float | None = None,
    plate_list: str | None = None,
) -> list[dict]:
    """Vehicle passes per ``by`` (hour or day, of the wall clock in IANA time zone ``tz``: a site's own hours)
    and camera, from the outbox at ``path``: ``{"period" ("2026-12-07 14:00" or "2026-12-07"), "camera",
    "passes", "approaching", "receding", "steady"}``, oldest first. Periods without a pass between a camera's
    first and last counted one are rows of zeros, so a camera that stopped shows. A pass counts in the period
    its plate was first seen (``first_seen_utc``). Filters as :func:`find_events` (stored time, camera, list).
    Read-only, one row at a time."""
    from plateforge.runtime.plate_lists import time_zone

    if by not in COUNT_PERIODS:
        raise ValueError(f"by: expected one of {', '.join(COUNT_PERIODS)}, got {by!r}")
    zone = time_zone(tz, "tz")
    where_sql, args = _event_filter(camera, None, since, until, plate_list)
    # keyed by the period's start in UTC: the two 02:00 hours of a night when clocks go back are two periods
    counts: dict[tuple[datetime, str], dict] = {}
    with _read_only(path) as con:
        rows = con.execute(
            f"SELECT camera, json_extract(payload, '$.first_seen_utc'), json_extract(payload, '$.motion') "
            f"FROM events{where_sql}",
            args,
        )
        for cam, seen, motion in rows:
            if not seen:
                continue
            local = datetime.fromisoformat(seen.replace("Z", "+00:00")).astimezone(zone)
            start = local.replace(minute=0, second=0, microsecond=0)
            if by == "day":
                start = start.replace(hour=0)
            row = counts.setdefault((start.astimezone(UTC), cam), _zero_counts())
            row["passes"] += 1
            if motion in MOTIONS:
                row[motion] += 1
    out = []
    for cam in sorted({c for _, c in counts}):
        starts = sorted(t for t, c in counts if c == cam)
        t = starts[0]
        while t <= starts[-1]:  # steps in UTC, so that a daylight-saving change neither skips nor repeats an hour
            label = t.astimezone(zone).strftime("%Y-%m-%d %H:00" if by == "hour" else "%Y-%m-%d")
            out.append({"period": label, "camera": cam, **counts.get((t, cam), _zero_counts())})
            t = t + timedelta(hours=1) if by == "hour" else _next_day(t, zone)
    return sorted(out, key=lambda r: (r["period"], r["camera"]))


def _zero_counts() -> dict:
    return {m: 0 for m in ("passes", *MOTIONS)}


def _next_day(t: datetime, zone) -> datetime:
    """The next local midnight in ``zone`` after ``t`` (a local midnight, in UTC), in UTC."""
    d = t.astimezone(zone).date() + timedelta(days=1)
    return datetime(d.year, d.month, d.day, tzinfo=zone).astimezone(UTC)


def _near_plate(near: str, max_edits: int):
    """A one-plate list to match events against (``find_events(near=...)``)."""
    from plateforge.runtime.plate_lists import ListEntry, PlateList, normalise_plate

    key = normalise_plate(near)
    if not key:
        raise ValueError(f"near: {near!r} has no letters or digits")
    if not 0 <= max_edits <= 3:
        raise ValueError(f"max_edits: expected 0 to 3, got {max_edits}")
    return PlateList("near", entries=[ListEntry(near, key)], max_edits=max_edits)
