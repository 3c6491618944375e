"""``plateforge events``: search the vehicle passes a ``plateforge stream`` stored, and export them (table, JSONL
or CSV), e.g. when a plate came in, or a day's passes for a report (:func:`plateforge.stream.outbox.find_events`)."""

from __future__ import annotations

import base64
import json
import sys
import time
from pathlib import Path
from typing import Annotated

import typer

from plateforge.cli.common import console, friendly_errors, out
from plateforge.stream.events import csv_value, events_csv


@friendly_errors
def events(
    outbox: Annotated[Path, typer.Argument(help="The SQLite outbox plateforge stream writes (its --outbox).")],
    plate: Annotated[
        str | None, typer.Option(help="Passes read as this plate, any case; * matches any characters (A12*).")
    ] = None,
    near: Annotated[
        str | None,
        typer.Option(
            help="Passes read as this plate or one slip from it (0/O, 1/I... free; one edit from 5 characters "
            "on), in the voted text or another text the vote weighed."
        ),
    ] = None,
    max_edits: Annotated[int, typer.Option(help="Edits --near allows (0-3).")] = 1,
    camera: Annotated[str | None, typer.Option(help="This camera's passes only.")] = None,
    since: Annotated[
        str | None, typer.Option(help="Stored from (ISO 8601, UTC unless it names a zone; or Unix s).")
    ] = None,
    until: Annotated[str | None, typer.Option(help="Stored before (ISO 8601 or Unix s).")] = None,
    plate_list: Annotated[
        str | None, typer.Option("--list", help="Passes that matched this plate list of the stream (* for any).")
    ] = None,
    limit: Annotated[int | None, typer.Option(help="At most this many passes, newest first (default: all).")] = None,
    fmt: Annotated[
        str, typer.Option("--format", help="table, jsonl (the event JSON, without crops) or csv.")
    ] = "table",
    crops: Annotated[Path | None, typer.Option(help="Also write each pass's plate crop here (<event_id>.jpg).")] = None,
    follow: Annotated[
        bool,
        typer.Option(
            "--follow", "-f", help="Then print each new pass that matches as it is stored, until Ctrl-C (as tail -f)."
        ),
    ] = False,
    counts: Annotated[
        str | None,
        typer.Option(
            help="Instead of the passes: how many per 'hour' or 'day' and camera (approaching / receding / steady), "
            "hours without a pass as zeros; with --camera, --since, --until, --list."
        ),
    ] = None,
    tz: Annotated[str, typer.Option(help="--counts: the time zone whose hours and days count (IANA: Asia/Dubai).")] = (
        "UTC"
    ),
) -> None:
    """Search the vehicle passes a stream stored, newest first, and print them as a table, JSONL or CSV."""
    from plateforge.stream.events import parse_time
    from plateforge.stream.outbox import find_events

    if fmt not in ("table", "jsonl", "csv"):
        raise ValueError(f"--format must be table, jsonl or csv, got {fmt!r}")
    if counts is not None:
        if plate or near or crops or follow or limit:
            raise ValueError("--counts counts passes: it takes --camera, --since, --until and --list only")
        window = parse_time(since, "--since"), parse_time(until, "--until")
        _print_counts(outbox, counts, tz, camera, *window, plate_list, fmt)
        return
    if limit is not None and limit < 1:
        raise ValueError(f"--limit must be at least 1, got {limit}")
    if follow and until is not None:
        raise ValueError("--follow prints passes as they come: it takes --since, not --until")
    start = parse_time(since, "--since")

    def search(after: float | None, most: int | None) -> list[dict]:
        return find_events(
            outbox,
            camera,
            plate,
            after,
            parse_time(until, "--until"),
            most,
            plate_list,
            near,
            max_edits,
            crops is not None,
        )

    found = search(start, limit)
    _print(found, fmt)
    _write_crops(found, crops)
    if follow:
        _follow(search, found, fmt, crops, start)


def _write_crops(found: list[dict], crops: Path | None, say: bool = True) -> None:
    if crops is not None:
        crops.mkdir(parents=True, exist_ok=True)
        for e in found:
            if e.get("best_crop_jpeg"):
                (crops / f"{e['event_id']}.jpg").write_bytes(base64.b64decode(e["best_crop_jpeg"]))
        if say:
            console.print(f"crops of {sum(1 for e in found if e.get('best_crop_jpeg'))} passes in {crops}")


def _follow(search, found: list[dict], fmt: str, crops: Path | None, start: float | None, every_s: float = 1.0):
    """Poll for passes stored after the newest one printed (ids remember those stored in the same instant)."""
    newest = max((e["stored"] for e in found), default=start if start is not None else time.time())
    seen = {e["event_id"] for e in found if e["stored"] >= newest}
    console.print("following: each new pass that matches is printed as it is stored (Ctrl-C stops)")
    try:
        while True:
            time.sleep(every_s)
            new = [e for e in reversed(search(newest, None)) if e["event_id"] not in seen]  # oldest first
            if not new:
                continue
            _write_crops(new, crops, say=False)
            for e in new:
                if fmt == "jsonl":
                    print(json.dumps({k: v for k, v in e.items() if k != "best_crop_jpeg"}), flush=True)
                elif fmt == "csv":
                    sys.stdout.write(events_csv([e]).split("\n", 1)[1])
                    sys.stdout.flush()
                else:
                    out.print("  ".join(c for c in _cells(e) if c), highlight=False)
            top = max(e["stored"] for e in new)
            seen = (seen if top == newest else set()) | {e["event_id"] for e in new if e["stored"] == top}
            newest = top
    except KeyboardInterrupt:
        pass


def _cells(e: dict) -> list[str]:
    """A pass as the table shows it: seen (UTC), camera, plate (parts apart; the text matched ``near``), conf,
    region, motion."""
    text = csv_value(e, "parts") or e.get("text") or ""
    if e.get("near") and e["near"]["text"] != e.get("text"):
        text += f" (as {e['near']['text']})"
    conf = e.get("confidence")
    return [
        (e.get("first_seen_utc") or "")[:19].replace("T", " "),
        e.get("camera", ""),
        text,
        f"{conf:.2f}" if isinstance(conf, int | float) else "",
        e.get("region") or "",
        e.get("motion") or "",
    ]


def _print(found: list[dict], fmt: str) -> None:
    if fmt == "jsonl":
        for e in found:
            print(json.dumps({k: v for k, v in e.items() if k != "best_crop_jpeg"}))
    elif fmt == "csv":
        sys.stdout.write(events_csv(found))
    else:
        from rich import box
        from rich.table import Table

        with_lists = any(e.get("lists") for e in found)
        table = Table(title=f"{len(found)} pass{'' if len(found) == 1 else 'es'}, newest first", box=box.SIMPLE_HEAD)
        cols = ["seen (UTC)", "camera", "plate", "conf", "region", "motion"] + ["lists"] * with_lists + ["event"]
        for col in cols:
            table.add_column(col, no_wrap=col in ("seen (UTC)", "plate", "event"))
        for e in found:
            table.add_row(*_cells(e), *[csv_value(e, "lists")] * with_lists, (e.get("event_id") or "")[:8])
        out.print(table)


def _print_counts(outbox, by, tz, camera, since, until, plate_list, fmt: str) -> None:
    import csv

    from plateforge.stream.outbox import pass_counts

    rows = pass_counts(outbox, by, tz, camera, since, until, plate_list)
    fields = ["period", "camera", "passes", "approaching", "receding", "steady"]
    if fmt == "jsonl":
        for r in rows:
            print(json.dumps({**r, "tz": tz}))
    elif fmt == "csv":
        writer = csv.writer(sys.stdout)
        writer.writerow(fields)
        writer.writerows([r[f] for f in fields] for r in rows)
    else:
        from rich.table import Table

        total = sum(r["passes"] for r in rows)
        table = Table(title=f"{total} passes by {by} ({tz})")
        for f in fields:
            table.add_column(f, justify="right" if f not in ("period", "camera") else "left")
        for r in rows:
            table.add_row(*(str(r[f]) for f in fields))
        out.print(table)
