"""Harvest the plates a reader has seen on site into recognizer training data a person checks first.

Sources: a stream's SQLite outbox (each event's best rectified crop and voted text) or the JSONL that
``plateforge read`` prints over photos (each plate cut from its photo by the read's corners). The output is
a crops CSV that ``plateforge data import`` reads as it is, so the loop is: stream or read on site, harvest,
correct the reads that are wrong, split, fine-tune (``configs/ocr_own_plates.example.yaml``).

Output folder::

    crops/000001.jpg ...   rectified plates (BGR JPEG); an outbox crop is the recognizer's input size, a photo's
                           crop keeps the plate's own pixels (its corners' width and height, plus the reader's
                           margin)
    labels.csv             n,image,text,read,review,region,confidence,format_ok,camera,time,source: one row
                           per crop, least sure first; ``text`` starts as the reader's (``read``) and is what
                           trains: correct it, and set ``review`` to ok, or to drop for a crop that is no plate
                           or that nobody can read (``plateforge data review DIR`` does this in a browser;
                           :mod:`plateforge.data.review`)
    review/sheet-001.png   the crops in the same order, each captioned with its ``n``, read and confidence
                           (the first ``sheets`` pages, 60 crops each)

Written here rather than taken from a labelling tool because the reads are already known: a person only
corrects, and least-sure-first puts the misreads at the top of the list.
"""

from __future__ import annotations

import base64
import csv
import json
import math
import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from plateforge.data.errors import BadItems, DataError
from plateforge.data.files import prepare_out_dir
from plateforge.ops.geometry import quad_size, rectify
from plateforge.runtime.defaults import RECTIFY_MARGIN
from plateforge.runtime.images import ImageError, load_image

COLUMNS = ("n", "image", "text", "read", "review", "region", "confidence", "format_ok", "camera", "time", "source")
SHEET_COLS, SHEET_ROWS = 4, 15  # crops per contact sheet: 60


@dataclass
class Candidate:
    """One plate to harvest: its crop (JPEG bytes, BGR; empty: none), the reader's text and confidence, and where
    it came from
    (``source``: an event id, or ``<image>#<plate index>``; ``time``: ISO 8601 UTC or empty; ``parts``: a UAE
    plate's code and number, shown apart on the review sheet)."""

    jpeg: bytes
    text: str
    confidence: float
    region: str = ""
    format_ok: bool | None = None
    camera: str = ""
    time: str = ""
    source: str = ""
    parts: tuple[str, ...] = ()
    read: str = ""  # the reader's text where a person corrected it (``text`` is then theirs), else empty
    review: str = ""  # "ok" where a person already checked the text


@dataclass
class HarvestReport:
    """What a harvest wrote: ``rows`` crops (``labels``: the CSV), ``sheets`` contact sheets, and how many
    plates were seen, left out as surer than ``below``, over ``per_text``, or without a crop or text."""

    out: Path
    labels: Path
    rows: int
    sheets: list[Path]
    seen: int
    surer: int = 0
    over_per_text: int = 0
    no_crop: int = 0


def outbox_candidates(
    path: str | os.PathLike,
    camera: str | None = None,
    since: float | None = None,
    until: float | None = None,
    bad: BadItems | None = None,
) -> Iterator[Candidate]:
    """The events of an outbox (``find_events`` filters: ``camera``, stored ``since`` / ``until`` Unix seconds)
    as candidates, one at a time; events without a crop or a text (``events.crops: false``) are yielded with an
    empty crop. A pass a person corrected (``Outbox.correct``) comes with their text, the reader's as ``read``,
    and review ok. The crops keep the stream's JPEG bytes (no second compression)."""
    from plateforge.stream.outbox import iter_events  # sqlite only, no runtime models

    if not Path(path).is_file():
        raise DataError(str(path), "outbox file not found")
    bad = BadItems() if bad is None else bad
    for e in iter_events(path, camera=camera, since=since, until=until):
        jpeg = b""
        if e.get("best_crop_jpeg") and e.get("text"):
            jpeg = base64.b64decode(e["best_crop_jpeg"])
            if cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_COLOR) is None:
                bad.report(DataError(f"{path}#event {e.get('event_id')}", "its best_crop_jpeg does not decode"))
                continue
        yield Candidate(
            jpeg=jpeg,
            text=e.get("text") or "",
            confidence=float(e.get("confidence") or 0.0),
            region=e.get("region") or "",
            format_ok=e.get("format_ok"),
            camera=e.get("camera") or "",
            time=e.get("first_seen_utc") or "",
            source=e.get("event_id") or "",
            parts=tuple(e.get("parts") or ()),
            read=(e.get("corrected") or {}).get("was") or "",
            review="ok" if e.get("corrected") else "",
        )


def reads_candidates(
    path: str | os.PathLike, images_dir: str | os.PathLike | None = None, bad: BadItems | None = None
) -> Iterator[Candidate]:
    """The plates of ``plateforge read --format jsonl`` output, each cut from its photo by its corners (TL,
    TR, BR, BL pixels) at the plate's own size plus the reader's margin. A row's ``image`` is found as given,
    under ``images_dir``, or beside the JSONL. Rows with an ``error``, bad lines and unreadable photos go to
    ``bad`` (raised unless it skips bad items)."""
    path = Path(path)
    if not path.is_file():
        raise DataError(str(path), "reads JSONL not found")
    bad = BadItems() if bad is None else bad
    roots = ([Path(images_dir)] if images_dir else []) + [Path("."), path.parent]
    with path.open(encoding="utf-8") as f:
        for line_no, line in enumerate(f, 1):
            where = f"{path}:{line_no}"
            if not line.strip():
                continue
            try:
                row = json.loads(line)
                if not isinstance(row, dict) or "image" not in row:
                    raise DataError(where, "not a `plateforge read` JSONL row (an object with 'image')")
                if "error" in row or not row.get("plates"):
                    continue  # the reader failed on it or found nothing: nothing to harvest
                name = str(row["image"])
                file = next((r / name for r in roots if (r / name).is_file()), None)
                if file is None:
                    raise DataError(where, f"image {name!r} not found under {', '.join(map(str, roots))}")
                try:
                    img = load_image(file)
                except ImageError as e:
                    raise DataError(where, str(e)) from None
                for k, plate in enumerate(row["plates"]):
                    yield _photo_candidate(img, plate, f"{name}#{k}", where)
            except json.JSONDecodeError as e:
                bad.report(DataError(where, f"not JSON ({e.msg})"))
            except DataError as e:
                bad.report(e)


def _photo_candidate(img: np.ndarray, plate: dict, source: str, where: str) -> Candidate:
    try:
        quad = np.asarray(plate["corners"], np.float32).reshape(4, 2)
    except (KeyError, TypeError, ValueError):
        raise DataError(where, f"plate {source}: expected 'corners' as 4 [x, y] pixels (TL, TR, BR, BL)") from None
    long, tall = quad_size(quad)
    pad = 2 * RECTIFY_MARGIN * max(tall, 1.0)
    width, height = max(4, round(long + pad)), max(4, round(tall + pad))
    crop = rectify(img, quad, width, height, RECTIFY_MARGIN)
    return Candidate(
        jpeg=cv2.imencode(".jpg", crop, [cv2.IMWRITE_JPEG_QUALITY, 95])[1].tobytes(),
        text=plate.get("text") or "",
        confidence=float(plate.get("confidence") or 0.0),
        region=plate.get("region") or "",
        format_ok=plate.get("format_ok"),
        source=source,
        parts=tuple(plate.get("parts") or ()),
    )


def harvest(
    candidates: Iterable[Candidate],
    out: str | os.PathLike,
    below: float | None = None,
    per_text: int | None = None,
    limit: int | None = None,
    overwrite: bool = False,
    sheets: int = 20,
) -> HarvestReport:
    """Write ``candidates`` to ``out`` (see the module docstring), least sure first. ``below``: keep only reads
    less sure than this (the ones worth checking); ``per_text``: at most this many crops of one text (the
    least sure ones; a resident's car passes daily); ``limit``: at most this many crops in all; ``sheets``: at
    most this many contact sheets, of 60 crops each, of the least sure (``plateforge data review`` shows all)."""
    if sheets < 0:
        raise ValueError(f"--sheets must be 0 or more, got {sheets}")
    if below is not None and not 0 < below <= 1:
        raise ValueError(f"--below must be in (0, 1], got {below}")
    for name, value in (("--per-text", per_text), ("--limit", limit)):
        if value is not None and value < 1:
            raise ValueError(f"{name} must be at least 1, got {value}")
    out = prepare_out_dir(out, overwrite)
    crops = out / "crops"
    crops.mkdir()
    seen = surer = no_crop = over = 0
    kept: list[tuple[Candidate, Path]] = []  # each crop goes to disk at once: memory holds the rows only
    for c in candidates:
        seen += 1
        if not c.jpeg or not c.text:
            no_crop += 1
        elif below is not None and c.confidence >= below:
            surer += 1
        else:
            tmp = crops / f".{seen:08d}.jpg"
            tmp.write_bytes(c.jpeg)
            c.jpeg = b""
            kept.append((c, tmp))
    kept.sort(key=lambda k: (k[0].confidence, k[0].source))
    if per_text is not None:
        counts: dict[str, int] = {}
        capped = []
        for c, tmp in kept:
            counts[c.text] = counts.get(c.text, 0) + 1
            if counts[c.text] <= per_text:
                capped.append((c, tmp))
            else:
                tmp.unlink()
        over, kept = len(kept) - len(capped), capped
    if limit is not None:
        for _, tmp in kept[limit:]:
            tmp.unlink()
        kept = kept[:limit]
    labels = out / "labels.csv"
    with labels.open("w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(COLUMNS)
        for n, (c, tmp) in enumerate(kept, 1):
            image = f"crops/{n:06d}.jpg"
            tmp.rename(out / image)
            ok = "" if c.format_ok is None else str(bool(c.format_ok)).lower()
            read = c.read or c.text
            writer.writerow(
                [n, image, c.text, read, c.review, c.region, f"{c.confidence:.4f}", ok, c.camera, c.time, c.source]
            )
    rows = [(c, out / f"crops/{n:06d}.jpg") for n, (c, _) in enumerate(kept, 1)]
    drawn = rows[: sheets * SHEET_COLS * SHEET_ROWS]
    pages = review_sheets(drawn, out / "review") if drawn else []
    return HarvestReport(out, labels, len(rows), pages, seen, surer, over, no_crop)


def review_sheets(rows: list[tuple[Candidate, Path]], folder: Path) -> list[Path]:
    """Contact sheets of ``rows`` (a candidate and its crop file) in order, 60 to a PNG, each crop captioned
    ``n  TEXT  confidence`` (a UAE text as code and number; red under 0.5, orange under 0.8)."""
    folder.mkdir(parents=True, exist_ok=True)
    per = SHEET_COLS * SHEET_ROWS
    paths = []
    for page in range(math.ceil(len(rows) / per)):
        part = rows[page * per : (page + 1) * per]
        tiles = [_tile(n, c, path) for n, (c, path) in enumerate(part, page * per + 1)]
        tiles += [np.full_like(tiles[0], 255)] * (-len(tiles) % SHEET_COLS)
        grid = np.vstack([np.hstack(tiles[r : r + SHEET_COLS]) for r in range(0, len(tiles), SHEET_COLS)])
        header = np.full((34, grid.shape[1], 3), 255, np.uint8)
        title = f"plates {page * per + 1}-{page * per + len(part)} of {len(rows)}, least sure first"
        title += " (n = the row of labels.csv)"
        cv2.putText(header, title, (8, 23), cv2.FONT_HERSHEY_SIMPLEX, 0.55, (0, 0, 0), 1, cv2.LINE_AA)
        path = folder / f"sheet-{page + 1:03d}.png"
        cv2.imwrite(str(path), np.vstack([header, grid]))
        paths.append(path)
    return paths


def _tile(n: int, c: Candidate, path: Path) -> np.ndarray:
    tile = np.full((104, 260, 3), 255, np.uint8)
    crop = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if crop is not None:
        h, w = crop.shape[:2]
        scale = min(240 / w, 72 / h)
        img = cv2.resize(crop, (max(1, round(w * scale)), max(1, round(h * scale))), interpolation=cv2.INTER_AREA)
        y, x = 4, (260 - img.shape[1]) // 2
        tile[y : y + img.shape[0], x : x + img.shape[1]] = img
    colour = (0, 0, 200) if c.confidence < 0.5 else (0, 120, 230) if c.confidence < 0.8 else (40, 40, 40)
    caption = f"{n}  {' '.join(c.parts) or c.text}  {c.confidence:.2f}"
    cv2.putText(tile, caption, (6, 96), cv2.FONT_HERSHEY_SIMPLEX, 0.55, colour, 1, cv2.LINE_AA)
    cv2.rectangle(tile, (0, 0), (259, 103), (210, 210, 210), 1)
    return tile
