"""``plateforge serve``: the plate reader over HTTP (FastAPI, run by uvicorn), with a web page to try it.

Endpoints:

- ``GET /``: a page to drop photos on; it draws each plate's outline (its 4 corners) and text on the photo
  and lists the plates in a table.
- ``GET /health``: ``{"status": "ok", "version": ..., "models": {"detector", "corners", "recognizer"}}`` (file
  names of the models in use), and ``"lists": {name: plates}`` with plate lists.
- ``GET /v1/events`` (with ``events``): the vehicle passes a ``plateforge stream`` stored in its SQLite outbox,
  newest first, searched by plate text (as read, or ``near`` it: one slip away), camera and time
  (:func:`plateforge.stream.outbox.find_events`).
- ``GET /v1/lists``, ``GET /v1/lists/{name}``, ``POST /v1/lists/{name}``, ``DELETE /v1/lists/{name}/{plate}``
  (with ``lists``): the plate lists, their entries, and edits of their files (a visitor's pass added with
  ``valid_from`` / ``valid_until``; :mod:`plateforge.runtime.list_files`). Streams using the same files take
  the edits within seconds.
- ``POST /v1/events/{event_id}/text`` (with ``events``): a person's correction of a pass's text, ``{"text": ...,
  "by": ...}``; the pass goes to the stream's sinks again as revision 2, 3... (``Outbox.correct``).
- ``GET /v1/cameras`` (with ``events``): per camera, passes stored in the last 24 h (or ``since``) and when
  its last pass was stored, so a camera that went quiet shows.
- ``GET /v1/counts?by=hour&tz=Asia/Dubai`` (with ``events``): passes per hour or day and camera, split by
  motion, hours without a pass as zeros (:func:`plateforge.stream.outbox.pass_counts`).
- ``GET /v1/events/{event_id}/frame`` (with ``events`` and ``frames``): a pass's evidence frame (JPEG), the
  frame where its plate was seen largest (``plateforge stream --frames``).
- ``GET /v1/sessions?entry=CAM&exit=CAM`` (with ``events``): parking stays paired from those passes
  (:func:`plateforge.stream.sessions.pair_sessions`).
- ``POST /v1/blur``: one photo as the body in, the same photo out as JPEG with every plate blurred (as
  ``plateforge blur``: the detector from score ``conf``, 0.1, on the whole photo and 2 x 2 tiles); header
  ``X-Plates-Blurred`` counts the regions. 422 for a body that is no readable image.
- ``POST /v1/read``: photos in, plates out. Send one or more photos as files of a multipart form (any field
  name), or one photo as the raw request body (``Content-Type: image/jpeg``, ``image/png``,
  ``application/octet-stream``...; query ``name`` names it in the answer, default ``body``), or as JSON
  ``{"images": [{"name": "cam1.jpg", "data": "<base64>"}, ...]}`` (``Content-Type: application/json``). Query ``top_n``
  (1-10) asks for alternative texts per plate, ``regions`` (``uae``, ``us,eu-de``) places the plates among
  those regions only (as ``plateforge read --regions``), ``zone`` (repeatable) reads only the plates centred in
  it (as ``plateforge read --zone``). The answer is ``{"results": [row, ...]}``, one row per photo in
  the order sent, each the JSON object ``plateforge read`` prints for a photo (:mod:`plateforge.runtime.rows`:
  plates with box xyxy and corners TL, TR, BR, BL in the photo's pixels, text, confidences, region, format
  check, detection and plate scores; timing in ms; or the error that photo met).
  Status: 200 when at least one photo was read (a bad photo among good ones is a row with ``error``, as in a
  batch of ``plateforge read``); 422 when none was; 400 when the request carries no photo or is not a readable
  form; 413 when the body is larger than ``max_upload_mb``. Errors other than rows are ``{"error": "..."}``.

Reads run in the server's thread pool, so requests are read concurrently (ONNX Runtime sessions are
thread-safe; the reader keeps no state between images). Each model runs on ``threads`` ONNX Runtime threads.
"""

from __future__ import annotations

import base64
import copy
import json
import re
import secrets
import sqlite3
import time
from importlib import resources
from pathlib import Path
from typing import Annotated

import cv2
from fastapi import FastAPI, Query, Request
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse, Response
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile

from plateforge import __version__
from plateforge.runtime.alpr import ALPR
from plateforge.runtime.options import ReaderOptions, make_alpr
from plateforge.runtime.plate_lists import PlateList
from plateforge.runtime.rows import image_row
from plateforge.runtime.zone import Zone, parse_zone
from plateforge.stream.events import events_csv, parse_time
from plateforge.stream.outbox import Outbox, camera_activity, find_events, pass_counts
from plateforge.stream.sessions import Gate, pair_sessions

MAX_UPLOAD_MB = 32.0  # a 50-megapixel JPEG is 15-25 MB
MAX_IMAGES = 16  # photos per request
_UNAUTHORIZED = "request: missing or wrong API key (send it as X-API-Key or Authorization: Bearer)"
_EVENT_ID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")


def default_reader() -> ReaderOptions:
    """The reader ``serve`` uses without a config: as ``plateforge read`` reads (FP32 detector, two-step
    letterbox), with one ONNX Runtime thread per model. The stream's INT8 detector with the one-step letterbox
    read 4-5 fewer of 805 / 1,218 synthetic plates for ~1.3 ms less per photo (docs/serve.md)."""
    return ReaderOptions(int8=False, fast_resize=False, threads=1)


def _page() -> str:
    return resources.files("plateforge.server").joinpath("static/index.html").read_text(encoding="utf-8")


def _model_name(component) -> str | None:
    path = getattr(component, "path", None)
    return Path(path).name if path else None


def _key_matches(request: Request, api_key: str) -> bool:
    auth = request.headers.get("authorization", "")
    given = request.headers.get("x-api-key") or (auth[7:] if auth.lower().startswith("bearer ") else "")
    return secrets.compare_digest(given.encode(), api_key.encode())


def json_photos(body: bytes, max_images: int) -> list[tuple[str, bytes | str]]:
    """Photos from a JSON body ``{"images": [{"name": "cam1.jpg", "data": "<base64>"}, ...]}`` as (name, bytes), or
    (name, what is wrong) for an item that holds no photo (its row gets the error; the others are read). Raises
    ValueError for a body that is not such an object."""
    try:
        doc = json.loads(body)
    except ValueError as e:
        raise ValueError(f"request body: not valid JSON ({e})") from None
    items = doc.get("images") if isinstance(doc, dict) else None
    if not isinstance(items, list):
        raise ValueError('request body: expected {"images": [{"name": ..., "data": "<base64>"}, ...]}')
    if len(items) > max_images:
        raise ValueError(f"request body: {len(items)} images, more than the {max_images} a request may carry")
    photos: list[tuple[str, bytes | str]] = []
    for i, item in enumerate(items):
        name = item.get("name") if isinstance(item, dict) else None
        name = name if isinstance(name, str) and name else f"images[{i}]"
        data = item.get("data") if isinstance(item, dict) else None
        if not isinstance(data, str):
            photos.append((name, f'{name}: expected {{"name": ..., "data": "<base64 of the photo>"}}'))
            continue
        try:
            photos.append((name, base64.b64decode(data, validate=True)))
        except ValueError:
            photos.append((name, f"{name}: data is not valid base64"))
    return photos


def _entry_dict(e) -> dict:
    return {"plate": e.plate, "region": e.region, "label": e.label, "valid_from": e.valid_from,
            "valid_until": e.valid_until}  # fmt: skip


def create_app(
    alpr: ALPR | None = None,
    reader: ReaderOptions | None = None,
    max_upload_mb: float = MAX_UPLOAD_MB,
    max_images: int = MAX_IMAGES,
    api_key: str | None = None,
    cors_origins: list[str] | None = None,
    events: str | Path | None = None,
    lists: list[PlateList] | None = None,
    frames: str | Path | None = None,
):
    """The FastAPI app serving ``alpr`` (default: the reader ``reader`` describes, as a site config's ``reader``
    section; None: :func:`default_reader`). ``max_upload_mb``: largest request body accepted (MB);
    ``max_images``: most photos per request; ``api_key``: when set, every ``/v1/`` endpoint (reads, events,
    lists) wants it in header ``X-API-Key`` or ``Authorization: Bearer KEY`` (401 otherwise; the page and ``/health``
    stay open); ``cors_origins``: web origins (``https://gate.example.com``, or ``*``) whose pages may call the API
    from a browser; ``events``: the SQLite outbox a ``plateforge stream`` writes, searched by ``GET /v1/events``
    (created empty when missing, so the server may start before the stream); ``lists``: plate lists each read
    plate is matched against (its row's ``lists``); ``frames``: the folder a stream writes evidence frames to
    (its ``--frames``), served by ``GET /v1/events/{event_id}/frame``."""
    if max_upload_mb <= 0 or max_images < 1:
        raise ValueError(f"max_upload_mb and max_images must be positive, got {max_upload_mb} and {max_images}")
    store = None  # writes (corrections); searches read through read-only connections of their own
    if events is not None:
        try:
            store = Outbox(events)  # the schema, so that a search before the stream's first event finds none
        except sqlite3.DatabaseError as e:
            raise ValueError(f"{events}: not a plateforge events file ({e})") from None
    alpr = alpr if alpr is not None else make_alpr(reader or default_reader())
    if hasattr(alpr, "warm_up"):
        alpr.warm_up()  # the first request should not pay ONNX Runtime's first runs
    limit = int(max_upload_mb * 1024 * 1024)
    page = _page()
    app = FastAPI(
        title="plateforge",
        version=__version__,
        summary="Licence plates in photos: boxes, corners, text, confidences, region.",
    )

    app.state.alpr = alpr
    if api_key is not None:

        @app.middleware("http")
        async def require_key(request: Request, call_next):
            """Every ``/v1/`` endpoint wants the key; the page, ``/health`` and CORS preflights stay open. Added
            before the CORS middleware, so that a refusal carries the CORS headers a browser page needs to read it."""
            guarded = request.url.path.startswith("/v1/") and request.method != "OPTIONS"
            if guarded and not _key_matches(request, api_key):
                return JSONResponse({"error": _UNAUTHORIZED}, status_code=401)
            return await call_next(request)

    if cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=list(cors_origins),
            allow_methods=["GET", "POST", "DELETE"],
            allow_headers=["*"],
            expose_headers=["X-Plates-Blurred"],  # /v1/blur counts what it blurred here
        )

    def error(status: int, message: str) -> JSONResponse:
        return JSONResponse({"error": message}, status_code=status)

    too_large = f"request body: larger than the {max_upload_mb:g} MB limit"

    async def raw_body(request: Request) -> bytes | None:
        """The request body, read as it streams in; None as soon as it passes ``max_upload_mb``."""
        body = bytearray()
        async for chunk in request.stream():
            body += chunk
            if len(body) > limit:
                return None
        return bytes(body)

    @app.get("/", response_class=HTMLResponse, include_in_schema=False)
    def index() -> str:
        return page

    @app.get("/health")
    def health() -> dict:
        """Whether the server is up, and which models it reads with."""
        models = {
            "detector": _model_name(alpr.detector),
            "corners": _model_name(alpr.corners),
            "recognizer": _model_name(alpr.recognizer),
        }
        found = {"status": "ok", "version": __version__, "models": models}
        if lists:
            found["lists"] = {pl.name: len(pl.entries) for pl in lists}
        return found

    @app.post("/v1/read")
    async def read(
        request: Request,
        top_n: int | None = Query(None, ge=1, le=10, description="Alternative texts per plate."),
        name: str = Query("body", description="Name of a photo sent as the raw body, echoed as its row's image."),
        regions: str | None = Query(
            None, description="The regions these photos' plates come from, names or prefixes, comma-separated (uae)."
        ),
        zone: Annotated[
            list[str] | None,
            Query(
                description="Where plates count (a fixed camera): polygon 'x,y x,y x,y ...' in pixels or fractions "
                "of the photo; repeat for more. Only plates centred in one are read, the detector looking around them."
            ),
        ] = None,
    ):
        """Read the plates in photos sent as multipart files, as base64 in JSON, or in one photo sent as the body."""
        declared = request.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > limit:
            return error(413, too_large)
        uploads: list[tuple[str, bytes | str]] = []  # (name, photo bytes, or what is wrong with the item)
        content_type = request.headers.get("content-type", "")
        if content_type.startswith("multipart/form-data"):
            try:
                form = await request.form(max_files=max_images, max_fields=max_images)
            except Exception as e:  # noqa: BLE001 — starlette's parse errors: too many files, broken form
                return error(400, f"request body: not a readable multipart form ({e})")
            files = [(k, v) for k, v in form.multi_items() if isinstance(v, UploadFile)]
            for field, upload in files:
                uploads.append((upload.filename or field, await upload.read()))
            await form.close()
        else:
            body = await raw_body(request)
            if body is None:
                return error(413, too_large)
            if content_type.startswith("application/json"):
                try:
                    uploads = json_photos(body, max_images)
                except ValueError as e:
                    return error(400, str(e))
            elif body:
                uploads.append((name, body))
        if not uploads:
            return error(400, "request: no photo in it; send photos as multipart files, or one photo as the body")
        if sum(len(data) for _, data in uploads if isinstance(data, bytes)) > limit:
            return error(413, too_large)
        reader = alpr
        if top_n is not None or regions is not None or zone:
            reader = copy.copy(alpr)  # shares the models; only this request's options differ
            reader.top_n = alpr.top_n if top_n is None else top_n
            try:
                reader.zones = [Zone(parse_zone(z), f"zone {z!r}") for z in zone or []] or alpr.zones
            except ValueError as e:
                return error(400, str(e))
            if regions is not None:
                if not hasattr(alpr.recognizer, "with_regions"):
                    return error(400, "regions: this server's recognizer cannot be limited to regions")
                try:
                    reader.recognizer = alpr.recognizer.with_regions(regions)
                except ValueError as e:
                    return error(400, str(e))
        rows = await run_in_threadpool(
            lambda: [
                image_row(reader, d, n, lists)[0] if isinstance(d, bytes) else {"image": n, "error": d}
                for n, d in uploads
            ]
        )
        status = 200 if any("plates" in row for row in rows) else 422
        return JSONResponse({"results": rows}, status_code=status)

    blur_detector = copy.copy(alpr.detector)  # the same session; blurring also searches 2 x 2 tiles
    if hasattr(blur_detector, "tiles"):
        blur_detector.tiles = max(blur_detector.tiles, 2)

    @app.post("/v1/blur", responses={200: {"content": {"image/jpeg": {}}}})
    async def blur(
        request: Request,
        conf: float = Query(0.1, gt=0, le=1, description="Detector score from which a plate is blurred."),
    ):
        """One photo as the request body in; the same photo out (JPEG) with every plate pixelated and blurred, as
        ``plateforge blur`` does, and the number of regions blurred in header ``X-Plates-Blurred``."""
        from plateforge.runtime.images import ImageError, load_image
        from plateforge.stream.blur import BlurOptions, blur_image

        if not hasattr(blur_detector, "candidates"):
            return error(400, "blur: this server's detector cannot list its candidates")
        body = await raw_body(request)
        if body is None:
            return error(413, too_large)
        if not body:
            return error(400, "request: no photo in it; send one photo as the request body")
        try:
            image = load_image(body)
        except ImageError as e:
            return error(422, re.sub(r"^<bytes[^>]*>", "request body", str(e)))
        blurred, quads = await run_in_threadpool(blur_image, image, blur_detector, BlurOptions(conf=conf))
        ok, jpeg = cv2.imencode(".jpg", blurred, [cv2.IMWRITE_JPEG_QUALITY, 92])
        return Response(jpeg.tobytes(), media_type="image/jpeg", headers={"X-Plates-Blurred": str(len(quads))})

    by_name = {pl.name: pl for pl in lists or []}

    @app.get("/v1/lists")
    def plate_lists():
        """The server's plate lists: ``{name: {"path", "plates"}}``."""
        return {
            pl.name: {"path": str(pl.path) if pl.path else None, "plates": len(pl.entries)} for pl in by_name.values()
        }

    @app.get("/v1/lists/{name}")
    def list_entries(name: str):
        """The entries of plate list ``name``: plate, region, label, valid_from / valid_until (Unix seconds)."""
        pl = by_name.get(name)
        if pl is None:
            return error(404, f"no plate list {name!r} (the server has {sorted(by_name)})")
        return {"entries": [_entry_dict(e) for e in pl.entries]}

    @app.post("/v1/lists/{name}")
    async def add_to_list(request: Request, name: str):
        """Add a plate to list ``name``'s file, or replace its entry (same plate and region): JSON ``{"plate",
        "region", "label", "valid_from", "valid_until"}`` (times ISO 8601 in the list's tz). Streams using
        the same file take it within seconds."""
        from plateforge.runtime.list_files import upsert_entry

        pl = by_name.get(name)
        if pl is None or pl.path is None:
            return error(404, f"no plate list {name!r} with a file (the server has {sorted(by_name)})")
        try:
            body = await request.json()
        except ValueError:
            body = None
        fields = ("plate", "region", "label", "valid_from", "valid_until")
        if not isinstance(body, dict) or not isinstance(body.get("plate"), str) or set(body) - set(fields):
            return error(400, f"request body: expected JSON with 'plate' and optionally {', '.join(fields[1:])}")
        if any(v is not None and not isinstance(v, str) for v in body.values()):
            return error(400, "request body: every value must be a string")
        try:
            entry, replaced = await run_in_threadpool(upsert_entry, pl.path, **body, tz=pl.tz)
        except ValueError as e:
            return error(422, str(e))
        pl.reload()
        return {"entry": _entry_dict(entry), "replaced": replaced}

    @app.delete("/v1/lists/{name}/{plate}")
    def remove_from_list(name: str, plate: str, region: str | None = None):
        """Remove a plate (of ``region``, or without one) from list ``name``'s file."""
        from plateforge.runtime.list_files import remove_entries

        pl = by_name.get(name)
        if pl is None or pl.path is None:
            return error(404, f"no plate list {name!r} with a file (the server has {sorted(by_name)})")
        removed = remove_entries(pl.path, plate, region)
        if not removed:
            return error(404, f"list {name!r}: no entry {plate!r}" + (f" in {region}" if region else ""))
        pl.reload()
        return {"removed": removed}

    if events is not None:

        @app.get("/v1/events")
        def search_events(
            camera: str | None = Query(None, description="Events of this camera only."),
            text: str | None = Query(None, description="Plates read so, any case; * matches any characters (A12*)."),
            since: str | None = Query(None, description="Stored from this time: ISO 8601 or Unix seconds."),
            until: str | None = Query(None, description="Stored before this time: ISO 8601 or Unix seconds."),
            limit: int | None = Query(
                None,
                ge=1,
                le=100_000,
                description="At most this many events, newest first (JSON: 100 unless "
                "given, at most 1000; CSV: all unless given).",
            ),
            fmt: str = Query(
                "json",
                alias="format",
                pattern="^(json|csv)$",
                description="json, or csv (a download with the columns of plateforge events --format csv).",
            ),
            crops: bool = Query(False, description="Include each event's best plate crop (base64 JPEG)."),
            plate_list: str | None = Query(
                None, alias="list", description="Events that matched this plate list of the stream (* for any)."
            ),
            near: str | None = Query(
                None,
                description="Passes read as this plate or max_edits slips from it (0/O, 1/I... free; plates under "
                "5 characters in full), in the voted text or another text the vote weighed; each gets "
                "near: {text, edits}.",
            ),
            max_edits: int = Query(1, ge=0, le=3, description="Edits near allows."),
        ):
            """Vehicle passes a ``plateforge stream`` stored, newest first (``{"events": [...]}``, each the
            ``plateforge.plate_event/1`` JSON plus ``stored``, its Unix time in the outbox)."""
            if fmt == "json":
                if limit is not None and limit > 1000:
                    return error(400, f"limit: at most 1000 events as JSON, got {limit} (format=csv takes more)")
                limit = limit or 100
            try:
                times = [parse_time(v, k) for k, v in (("since", since), ("until", until))]
                found = find_events(events, camera, text, *times, limit, plate_list, near, max_edits, crops)
            except ValueError as e:
                return error(400, str(e))
            if fmt == "csv":
                return Response(
                    events_csv(found),
                    media_type="text/csv; charset=utf-8",
                    headers={"Content-Disposition": 'attachment; filename="passes.csv"'},
                )
            return {"events": found}

        @app.post("/v1/events/{event_id}/text")
        async def correct_event(request: Request, event_id: str):
            """Correct a pass's text as a person reads it: JSON ``{"text": "A 12345", "by": "operator"}``.
            The stored event gets the text, ``corrected: {was, by, at}`` and ``revision`` one higher, and the
            stream sends it to every sink again (:meth:`plateforge.stream.outbox.Outbox.correct`)."""
            try:
                body = await request.json()
            except ValueError:
                body = None
            if not isinstance(body, dict) or not isinstance(body.get("text"), str):
                return error(400, 'request body: expected JSON {"text": "...", "by": "..."}')
            by = body.get("by")
            if by is not None and not isinstance(by, str):
                return error(400, f"request body: by must be a string, got {by!r}")
            try:
                event = await run_in_threadpool(store.correct, event_id, body["text"], by)
            except KeyError:
                return error(404, f"event {event_id}: not in {events}")
            except ValueError as e:
                return error(422, str(e))
            return {k: v for k, v in event.items() if k != "best_crop_jpeg"}

        @app.get("/v1/cameras")
        def cameras(
            since: str | None = Query(
                None, description="Count passes stored from this time (ISO 8601 or Unix seconds; default: 24 h ago)."
            ),
        ):
            """Per camera: passes stored since ``since``, and when its last pass was stored
            (:func:`plateforge.stream.outbox.camera_activity`): ``{"cameras": [...], "since": ..., "now": ...}``."""
            now = time.time()
            try:
                start = parse_time(since, "since") if since is not None else now - 86400
            except ValueError as e:
                return error(400, str(e))
            return {"cameras": camera_activity(events, start), "since": start, "now": now}

        @app.get("/v1/counts")
        def counts(
            by: str = Query("hour", description="hour or day."),
            tz: str = Query("UTC", description="The time zone whose hours and days count (IANA: Asia/Dubai)."),
            camera: str | None = Query(None, description="This camera's passes only."),
            since: str | None = Query(None, description="Stored from (ISO 8601 or Unix seconds)."),
            until: str | None = Query(None, description="Stored before (ISO 8601 or Unix seconds)."),
            plate_list: str | None = Query(None, alias="list", description="Passes that matched this list (* any)."),
        ):
            """Passes per hour or day and camera, split by motion, hours without a pass as zeros
            (:func:`plateforge.stream.outbox.pass_counts`): ``{"counts": [...], "by": ..., "tz": ...}``."""
            try:
                window = parse_time(since, "since"), parse_time(until, "until")
                rows = pass_counts(events, by, tz, camera, *window, plate_list)
            except ValueError as e:
                return error(400, str(e))
            return {"counts": rows, "by": by, "tz": tz}

        @app.get("/v1/events/{event_id}/frame", responses={200: {"content": {"image/jpeg": {}}}})
        def event_frame(event_id: str):
            """The evidence frame of a pass (JPEG: the frame where its plate was seen largest, with the plate
            drawn), when the server was given the stream's frames folder."""
            if frames is None:
                return error(404, "no frames folder: start the server with --frames (the stream's --frames)")
            if not _EVENT_ID.match(event_id):
                return error(404, f"event {event_id!r}: not an event id")
            found = sorted(Path(frames).glob(f"*/*/{event_id}.jpg"))
            if not found:
                return error(404, f"event {event_id}: no evidence frame (never written, or pruned by keep_days)")
            return FileResponse(found[-1], media_type="image/jpeg")

        @app.get("/v1/sessions")
        def search_sessions(
            entry: Annotated[list[str], Query(description="Entry camera: CAMERA, CAMERA@ZONE, either with :MOTION.")],
            exit_: Annotated[
                list[str], Query(alias="exit", description="Exit camera: CAMERA, CAMERA@ZONE, either with :MOTION.")
            ],
            max_edits: int = Query(1, ge=0, le=3, description="Edits allowed between entry and exit texts."),
        ):
            """Parking stays from the stored passes (:func:`plateforge.stream.sessions.pair_sessions`):
            ``{"closed", "inside", "exits_without_entry", "entries_replaced"}``."""
            try:
                gates = [Gate.parse(g) for g in entry], [Gate.parse(g) for g in exit_]
                return pair_sessions(find_events(events, limit=None, crops=False), *gates, max_edits).to_dict()
            except ValueError as e:
                return error(400, str(e))

    return app
