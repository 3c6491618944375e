"""``plateforge sessions``: parking stays from the events a ``plateforge stream`` stored (see
:mod:`plateforge.stream.sessions`)."""

from __future__ import annotations

import csv
import json
import sys
import time
from pathlib import Path
from typing import Annotated

import typer

from plateforge.cli.common import friendly_errors, out


@friendly_errors
def sessions(
    outbox: Annotated[Path, typer.Argument(help="The SQLite outbox plateforge stream writes (its --outbox).")],
    entry: Annotated[
        list[str],
        typer.Option(help="Entry camera: CAMERA, CAMERA@ZONE (a named zone) or either with :MOTION; repeatable."),
    ],
    exit_: Annotated[
        list[str], typer.Option("--exit", help="Exit camera: CAMERA, CAMERA@ZONE or either with :MOTION; repeatable.")
    ],
    max_edits: Annotated[int, typer.Option(help="Edits allowed between an entry's and an exit's plate text.")] = 1,
    fmt: Annotated[str, typer.Option("--format", help="table, jsonl (one stay per line) or csv.")] = "table",
    json_out: Annotated[Path | None, typer.Option("--json", help="Also write the whole report here.")] = None,
) -> None:
    """Parking stays: each exit paired with the entry of the same plate; durations, the vehicles still inside,
    and the exits and entries that did not pair."""
    from plateforge.stream.outbox import find_events
    from plateforge.stream.sessions import Gate, format_duration, pair_sessions

    if fmt not in ("table", "jsonl", "csv"):
        raise ValueError(f"--format must be table, jsonl or csv, got {fmt!r}")
    events = find_events(outbox, limit=None, crops=False)
    report = pair_sessions(events, [Gate.parse(g) for g in entry], [Gate.parse(g) for g in exit_], max_edits)
    stays = report.closed + report.inside
    if fmt == "jsonl":
        for s in stays:
            print(json.dumps(s.to_dict()))
    elif fmt == "csv":
        writer = csv.writer(sys.stdout)
        fields = list(stays[0].to_dict()) if stays else ["plate"]
        writer.writerow(fields)
        for s in stays:
            writer.writerow([s.to_dict()[f] for f in fields])
    else:
        from rich.table import Table

        table = Table(title=f"{len(report.closed)} stays, {len(report.inside)} vehicles inside")
        for col in ("plate", "entered (UTC)", "left (UTC)", "stayed", "entry → exit"):
            table.add_column(col)
        now = time.time()
        for s in stays:
            left = s.exit_utc[:19].replace("T", " ") if s.exit_utc else "[yellow]inside[/yellow]"
            stayed = format_duration(s.duration_s if s.exit_time is not None else now - s.entry_time)
            cams = f"{s.entry_camera} → {s.exit_camera}" if s.exit_camera else s.entry_camera
            plate = s.plate if s.exit_plate in (None, s.plate) else f"{s.plate} / {s.exit_plate}"
            table.add_row(plate, s.entry_utc[:19].replace("T", " "), left, stayed, cams)
        out.print(table)
    unpaired = len(report.exits_without_entry), len(report.entries_replaced)
    if any(unpaired):
        print(f"{unpaired[0]} exit(s) without an entry, {unpaired[1]} entry(ies) without an exit", file=sys.stderr)
    if json_out is not None:
        json_out.write_text(json.dumps(report.to_dict(), indent=1), encoding="utf-8")
