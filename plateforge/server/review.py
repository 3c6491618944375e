"""``plateforge data review DIR``: a web page to check a harvest's reads (:mod:`plateforge.data.harvest`).

Endpoints:

- ``GET /``: the page. The crops least sure first, each with its text in an input: Enter keeps the text
  (as read or as corrected) and moves to the next crop, Shift+Enter marks the crop drop (no plate, or
  unreadable); a filter shows the rows left, the corrected, the dropped or all.
- ``GET /api/rows``: ``{"rows": [row, ...], "summary": {...}, "regions": [...]}``, each row the CSV's columns as
  strings; ``regions`` the codes a row's region may take.
- ``POST /api/rows/{n}``: JSON ``{"review": "ok" | "drop" | "", "text": "...", "region": "..."}`` (text and
  region optional) sets row n
  and writes ``labels.csv``; answers ``{"row": ..., "summary": ...}``, 404 for an unknown row, 422 for a bad
  review or an empty text marked ok. Errors are ``{"error": "..."}``.
- ``GET /crops/{file}``: a crop of the folder's ``crops/``.

Written on FastAPI (the server extra) rather than with a labelling tool: the reads are already there and a
person only confirms or corrects one field per crop, which a page of this size does.
"""

from __future__ import annotations

import re
from importlib import resources
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse

from plateforge import __version__
from plateforge.data.review import HarvestLabels, known_regions

_CROP_NAME = re.compile(r"^[A-Za-z0-9._-]+\.(jpg|jpeg|png)$")


def create_review_app(folder: str | Path) -> FastAPI:
    """The review page and API over the harvest folder ``folder`` (its ``labels.csv`` and ``crops/``)."""
    labels = HarvestLabels(folder)
    regions = known_regions()
    crops = labels.folder / "crops"
    page = resources.files("plateforge.server").joinpath("static/review.html").read_text(encoding="utf-8")
    app = FastAPI(title="plateforge review", version=__version__, summary="Check the reads of a harvest.")
    app.state.labels = labels

    def error(status: int, message: str) -> JSONResponse:
        return JSONResponse({"error": message}, status_code=status)

    @app.get("/", response_class=HTMLResponse, include_in_schema=False)
    def index() -> str:
        return page

    @app.get("/api/rows")
    def rows() -> dict:
        """Every row of labels.csv, least sure first, and the counts of rows checked and left."""
        return {"folder": str(labels.folder), "rows": labels.rows, "summary": labels.summary(), "regions": regions}

    @app.post("/api/rows/{n}")
    async def update(n: str, request: Request):
        """Mark row ``n`` ok (with its text, corrected or not) or drop, and write labels.csv."""
        try:
            body = await request.json()
        except ValueError:
            return error(400, 'request body: expected JSON {"review": "ok" | "drop" | "", "text": "..."}')
        if not isinstance(body, dict) or not isinstance(body.get("review", ""), str):
            return error(400, 'request body: expected JSON {"review": "ok" | "drop" | "", "text": "..."}')
        text, region = body.get("text"), body.get("region")
        for field, value in (("text", text), ("region", region)):
            if value is not None and not isinstance(value, str):
                return error(422, f"row {n}: {field} must be a string, got {value!r}")
        try:
            row = labels.update(n, body.get("review", ""), text, region)
        except KeyError:
            return error(404, f"{labels.path}: no row n={n}")
        except ValueError as e:
            return error(422, str(e))
        return {"row": row, "summary": labels.summary()}

    @app.get("/crops/{name}", include_in_schema=False)
    def crop(name: str):
        path = crops / name
        if not _CROP_NAME.match(name) or not path.is_file():
            return error(404, f"crops/{name}: no such crop")
        return FileResponse(path)

    return app
