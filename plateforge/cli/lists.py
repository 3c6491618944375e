"""``plateforge lists``: check a plate list file before a site uses it, and try reads against it."""

from __future__ import annotations

import time
from collections import defaultdict
from pathlib import Path
from typing import Annotated

import typer

from plateforge.cli.common import console, friendly_errors, out

Tz = Annotated[
    str | None,
    typer.Option(help="Zone of valid_from / valid_until times that name none (IANA, e.g. Asia/Dubai; default: local)."),
]

app = typer.Typer(
    help="Plate lists (residents, watch lists): check a file, try a read against it.", no_args_is_help=True
)


def list_warnings(path: Path, fuzzy_from: int = 5, tz: str | None = None) -> tuple[int, list[str]]:
    """(entries, warnings) for the list file at ``path``: entries whose validity has passed or is to come, plates
    written twice (the same after case, spaces, dashes and 0/O-style confusions), plates matched exactly only
    (shorter than ``fuzzy_from``), and UAE plates written whole whose code and number the formats cannot tell
    apart (write them ``1 1234``). ``tz``: the zone of times that name none (None: the machine's local zone)."""
    from plateforge.runtime.plate_lists import PlateList, plate_key
    from plateforge.runtime.plate_parts import valid_cuts
    from plateforge.specs import load_specs

    pl = PlateList(path.stem, path, tz=tz)
    seen: dict[str, list[str]] = defaultdict(list)
    warnings = []
    now = time.time()
    expired = [e.plate for e in pl.entries if e.valid_until is not None and e.valid_until <= now]
    later = [e.plate for e in pl.entries if e.valid_from is not None and e.valid_from > now]
    if expired:
        warnings.append(f"{len(expired)} plate(s) no longer valid (valid_until has passed): {expired[:10]}")
    if later:
        warnings.append(f"{len(later)} plate(s) not valid yet (valid_from is to come): {later[:10]}")
    for e in pl.entries:
        seen[(plate_key(e.key), e.region)].append(e.plate)
    for plates in seen.values():
        if len(plates) > 1:
            warnings.append(f"written {len(plates)} times (the same plate to the matcher): {plates}")
    short = [e.plate for e in pl.entries if len(e.key) < fuzzy_from]
    if short:
        warnings.append(f"{len(short)} plate(s) under {fuzzy_from} characters match exactly only: {short[:10]}")
    uae = [r for r in load_specs() if r.startswith("uae-")]
    for e in pl.entries:
        if e.plate != e.key or (e.region and not e.region.startswith("uae")):
            continue  # written in parts, or of another region
        regions = [e.region] if e.region in uae else uae
        if any(len(valid_cuts(e.key, r) or []) > 1 for r in regions):
            warnings.append(
                f"{e.plate!r} may be a UAE code and number split two ways; write it with a space (e.g. "
                f"'{e.key[0]} {e.key[1:]}' or '{e.key[:2]} {e.key[2:]}') to match one plate only"
            )
    return len(pl.entries), warnings


@app.command("check")
@friendly_errors
def check(
    path: Annotated[Path, typer.Argument(help="A list file: CSV with a 'plate' column, or one per line.")],
    tz: Tz = None,
) -> None:
    """Parse a list file and point out what would surprise a site: passes expired or not valid yet, duplicates,
    plates too short for the one-edit forgiveness, UAE plates written whole whose code and number are ambiguous."""
    n, warnings = list_warnings(path, tz=tz)
    out.print(f"{path}: {n} plates")
    for w in warnings:
        console.print(f"[yellow]warning:[/yellow] {w}")


@app.command("match")
@friendly_errors
def match(
    path: Annotated[Path, typer.Argument(help="A list file.")],
    texts: Annotated[list[str], typer.Argument(help="Plate texts as a reader gives them (the first is the read).")],
    region: Annotated[str | None, typer.Option(help="The read's region, e.g. uae-dubai.")] = None,
    max_edits: Annotated[int, typer.Option(help="Edits allowed, as in a site config.")] = 1,
    at: Annotated[
        str | None, typer.Option(help="The read's time (ISO 8601 or Unix s; default now), for valid_from/until.")
    ] = None,
    tz: Tz = None,
) -> None:
    """Which entry a read would match, as the stream and the reader match it (UAE texts split into code and
    number by their formats where those allow one split)."""
    from plateforge.runtime.plate_lists import PlateList
    from plateforge.stream.events import parse_time

    pl = PlateList(path.stem, path, max_edits=max_edits, tz=tz)
    m = pl.match(list(texts), region, at=parse_time(at, "--at"))
    if m is None:
        out.print("no match")
        raise typer.Exit(1)
    out.print(m.to_dict())
