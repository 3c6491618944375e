"""`plateforge serve`: the reader over HTTP gives the rows `plateforge read` prints, goes past bad photos and
refuses bad requests with a status and a message."""

from __future__ import annotations

import json

import cv2
import numpy as np
import pytest
from typer.testing import CliRunner

pytest.importorskip("fastapi", reason="the server extra (fastapi, uvicorn, python-multipart) is not installed")
pytest.importorskip("httpx", reason="FastAPI's TestClient needs httpx (the dev extra)")
pytest.importorskip("albumentations")  # the synthetic scenes

from fastapi.testclient import TestClient  # noqa: E402

from plateforge.cli.app import app as cli  # noqa: E402
from plateforge.runtime.alpr import ALPR  # noqa: E402
from plateforge.runtime.rows import image_row  # noqa: E402
from plateforge.server import create_app  # noqa: E402


@pytest.fixture(scope="module")
def alpr():
    return ALPR(threads=1)


@pytest.fixture(scope="module")
def client(alpr):
    return TestClient(create_app(alpr))


@pytest.fixture(scope="module")
def photos():
    """Three synthetic 1280x720 scenes as JPEG bytes, with their plate texts."""
    from plateforge.eval.read_eval import scenes_with_texts

    out = []
    for img, labels, _ in scenes_with_texts(3, seed=31):
        ok, enc = cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_QUALITY, 95])
        out.append((enc.tobytes(), {lab.text for lab in labels}))
    return out


def _without_timing(row: dict) -> dict:
    return {k: v for k, v in row.items() if k != "timing_ms"}


def test_health_names_the_models_in_use(client):
    r = client.get("/health")
    assert r.status_code == 200
    body = r.json()
    assert body["status"] == "ok"
    assert body["models"] == {"detector": "detector.onnx", "corners": "corners.onnx", "recognizer": "recognizer.onnx"}


def test_multipart_photos_read_in_order_as_the_cli_rows(client, alpr, photos):
    files = [("image", (f"cam{k}.jpg", data, "image/jpeg")) for k, (data, _) in enumerate(photos)]
    r = client.post("/v1/read", files=files)
    assert r.status_code == 200
    rows = r.json()["results"]
    assert [row["image"] for row in rows] == ["cam0.jpg", "cam1.jpg", "cam2.jpg"]
    for row, (data, _) in zip(rows, photos, strict=True):
        assert _without_timing(row) == _without_timing(image_row(alpr, data, row["image"])[0])
        assert set(row["timing_ms"]) == {"decode", "detect", "rectify", "recognize", "total"}
        for p in row["plates"]:
            assert len(p["corners"]) == 4 and len(p["box"]) == 4 and 0 <= p["confidence"] <= 1
    read = {p["text"] for row in rows for p in row["plates"]}
    labelled = set().union(*(texts for _, texts in photos))
    assert len(read & labelled) >= 3, (read, labelled)  # the bundled reader reads these scenes


def test_one_photo_as_the_raw_body(client, photos):
    data, texts = photos[0]
    r = client.post("/v1/read?name=gate-1.jpg", content=data, headers={"Content-Type": "image/jpeg"})
    assert r.status_code == 200
    (row,) = r.json()["results"]
    assert row["image"] == "gate-1.jpg" and {p["text"] for p in row["plates"]} & texts


def test_photos_as_base64_in_json(client, photos):
    import base64

    data, texts = photos[0]
    images = [
        {"name": "gate.jpg", "data": base64.b64encode(data).decode()},
        {"name": "odd.jpg", "data": "***"},
        {"data": 7},
    ]
    r = client.post("/v1/read", json={"images": images})
    assert r.status_code == 200
    rows = r.json()["results"]
    assert [row["image"] for row in rows] == ["gate.jpg", "odd.jpg", "images[2]"]
    assert {p["text"] for p in rows[0]["plates"]} & texts
    assert rows[1]["error"] == "odd.jpg: data is not valid base64"
    assert rows[2]["error"].startswith("images[2]: expected")
    for body, needle in ((b"{", "not valid JSON"), (b'{"image": "x"}', "expected"), (b"[]", "expected")):
        r = client.post("/v1/read", content=body, headers={"Content-Type": "application/json"})
        assert r.status_code == 400 and needle in r.json()["error"], r.json()
    r = client.post("/v1/read", json={"images": []})
    assert r.status_code == 400 and "no photo" in r.json()["error"]


def test_bad_photos_are_rows_with_errors_and_the_good_ones_are_read(client, photos):
    ok, enc = cv2.imencode(".jpg", np.full((200, 300, 3), 128, np.uint8))
    files = [
        ("image", ("good.jpg", photos[0][0], "image/jpeg")),
        ("image", ("empty.jpg", b"", "image/jpeg")),
        ("image", ("notes.jpg", b"not an image", "image/jpeg")),
        ("image", ("half.jpg", enc.tobytes()[: len(enc) // 2], "image/jpeg")),
    ]
    r = client.post("/v1/read", files=files)
    assert r.status_code == 200  # one photo read: the request succeeded, each bad one says why
    rows = {row["image"]: row for row in r.json()["results"]}
    assert rows["good.jpg"]["plates"]
    assert rows["empty.jpg"]["error"] == "empty.jpg: empty file (0 bytes)"
    assert rows["notes.jpg"]["error"].startswith("notes.jpg: not a readable image")
    assert rows["half.jpg"]["error"].startswith("half.jpg: truncated JPEG")
    r = client.post("/v1/read", files=files[1:])
    assert r.status_code == 422 and all("error" in row for row in r.json()["results"])


def test_bad_requests_get_a_status_and_a_message(alpr, photos):
    small = TestClient(create_app(alpr, max_upload_mb=0.05, max_images=2))
    r = small.post("/v1/read")
    assert r.status_code == 400 and "no photo" in r.json()["error"]
    r = small.post("/v1/read", content=photos[0][0], headers={"Content-Type": "image/jpeg"})
    assert r.status_code == 413 and "0.05 MB" in r.json()["error"]
    tiny = cv2.imencode(".png", np.zeros((8, 8, 3), np.uint8))[1].tobytes()
    r = small.post("/v1/read", files=[("image", (f"{k}.png", tiny, "image/png")) for k in range(3)])
    assert r.status_code == 400 and "multipart" in r.json()["error"]
    r = small.post("/v1/read?top_n=0", content=tiny)
    assert r.status_code == 422  # FastAPI's own check of the query
    with pytest.raises(ValueError, match="max_images"):
        create_app(alpr, max_images=0)


def test_top_n_is_per_request(client, alpr, photos):
    data = photos[0][0]
    r = client.post("/v1/read?top_n=3", content=data)
    plates = r.json()["results"][0]["plates"]
    assert plates and all(1 <= len(p["alternatives"]) <= 3 for p in plates)
    assert any(len(p["alternatives"]) > 1 for p in plates)
    r = client.post("/v1/read", content=data)
    assert all(p["alternatives"] == [] for p in r.json()["results"][0]["plates"]) and alpr.top_n == 1


def test_an_api_key_guards_every_v1_endpoint_and_not_the_page(alpr, photos):
    guarded = TestClient(create_app(alpr, api_key="s3cret", cors_origins=["https://gate.example.com"]))
    data = photos[0][0]
    assert guarded.post("/v1/read", content=data).status_code == 401
    r = guarded.post("/v1/read", content=data, headers={"X-API-Key": "wrong"})
    assert r.status_code == 401 and "API key" in r.json()["error"]
    assert guarded.post("/v1/read", content=data, headers={"X-API-Key": "s3cret"}).status_code == 200
    assert guarded.post("/v1/read", content=data, headers={"Authorization": "Bearer s3cret"}).status_code == 200
    assert guarded.get("/health").status_code == 200 and guarded.get("/").status_code == 200
    preflight = {"Origin": "https://gate.example.com", "Access-Control-Request-Method": "POST"}
    r = guarded.options("/v1/read", headers=preflight)
    assert r.headers["access-control-allow-origin"] == "https://gate.example.com"
    r = guarded.options("/v1/read", headers={**preflight, "Origin": "https://elsewhere.example.com"})
    assert "access-control-allow-origin" not in r.headers
    # a refusal reaches the page on the allowed origin readable (CORS headers on the 401 too)
    r = guarded.post("/v1/read", content=data, headers={"Origin": "https://gate.example.com"})
    assert r.status_code == 401 and r.headers["access-control-allow-origin"] == "https://gate.example.com"
    for path in ("/v1/lists", "/v1/lists/x", "/v1/events"):  # every /v1/ endpoint, with or without a handler
        assert guarded.get(path).status_code == 401


def test_regions_are_per_request(client, alpr, photos):
    data = photos[1][0]  # an Italian and a Texan plate
    everywhere = client.post("/v1/read", content=data).json()["results"][0]["plates"]
    regions = sorted(p["region"] for p in everywhere)  # which US state a plate is, the network tells less surely
    assert len(regions) == 2 and regions[0] == "eu-it" and regions[1].startswith("us-")
    r = client.post("/v1/read?regions=uae", content=data)
    assert r.status_code == 200 and all(p["region"].startswith("uae-") for p in r.json()["results"][0]["plates"])
    r = client.post("/v1/read?regions=atlantis", content=data)
    assert r.status_code == 400 and "'atlantis' names none" in r.json()["error"]
    assert alpr.recognizer.region_mask is None  # the server's own reader is untouched
    again = client.post("/v1/read", content=data).json()["results"][0]["plates"]
    assert [p["region"] for p in again] == [p["region"] for p in everywhere]


def test_events_a_stream_stored_are_searched(alpr, tmp_path):
    import time

    from plateforge.stream.outbox import Outbox

    path = tmp_path / "events.sqlite"
    guarded = TestClient(create_app(alpr, api_key="k", events=path))  # created empty: the stream comes later
    key = {"X-API-Key": "k"}
    assert guarded.get("/v1/events", headers=key).json() == {"events": []}
    assert guarded.get("/v1/events").status_code == 401
    box = Outbox(path)
    passes = [("gate-1", "A12345"), ("gate-1", "B777"), ("exit", "a12999"), ("exit", None)]
    lists = [[{"list": "residents"}], [{"list": "watch"}, {"list": "residents"}], [], None]  # None: older events
    for k, ((camera, text), matched) in enumerate(zip(passes, lists, strict=True)):
        event = {"event_id": f"e{k}", "camera": camera, "text": text, "best_crop_jpeg": "Zm9v"}
        box.put(event | ({"lists": matched} if matched is not None else {}))
    box.close()
    client = TestClient(create_app(alpr, events=path))
    ids = lambda r: [e["event_id"] for e in r.json()["events"]]  # noqa: E731
    r = client.get("/v1/events")
    assert ids(r) == ["e3", "e2", "e1", "e0"] and "best_crop_jpeg" not in r.json()["events"][0]
    assert ids(client.get("/v1/events?camera=gate-1")) == ["e1", "e0"]
    assert ids(client.get("/v1/events?text=A12*")) == ["e2", "e0"]  # any case, * for the rest
    assert ids(client.get("/v1/events?text=b777")) == ["e1"]
    assert ids(client.get("/v1/events?text=A1_345")) == []  # _ and % are not wildcards
    assert ids(client.get("/v1/events?limit=1")) == ["e3"]
    assert ids(client.get("/v1/events?list=residents")) == ["e1", "e0"]
    assert ids(client.get("/v1/events?list=watch")) == ["e1"] and ids(client.get("/v1/events?list=*")) == ["e1", "e0"]
    assert client.get("/v1/events?limit=1&crops=true").json()["events"][0]["best_crop_jpeg"] == "Zm9v"
    now = time.time()
    assert ids(client.get(f"/v1/events?since={now + 60}")) == []
    assert len(ids(client.get(f"/v1/events?since={now - 60}&until=2100-01-01T00:00:00Z"))) == 4
    r = client.get("/v1/events?since=yesterday")
    assert r.status_code == 400 and "since: expected ISO 8601" in r.json()["error"]
    assert TestClient(create_app(alpr)).get("/v1/events").status_code == 404  # no events file given
    (tmp_path / "notes.sqlite").write_text("not a database")
    r = TestClient(create_app(alpr, events=tmp_path / "other.sqlite")).get("/v1/events")
    assert r.status_code == 200
    with pytest.raises(ValueError, match="notes.sqlite: not a plateforge events file"):
        create_app(alpr, events=tmp_path / "notes.sqlite")


def test_the_page_posts_to_the_read_endpoint(client):
    r = client.get("/")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
    assert "/v1/read" in r.text and "/v1/events" in r.text and "/v1/sessions" in r.text
    assert "<canvas" not in r.text.split("<script>")[0]  # photos are drawn by the script


def test_read_rows_name_the_list_entries_their_plates_match(alpr, photos, tmp_path, monkeypatch):
    import uvicorn

    from plateforge.runtime.plate_lists import PlateList, parse_list

    rows = TestClient(create_app(alpr)).post("/v1/read", files={"f": ("a.jpg", photos[1][0])}).json()["results"]
    text = next(p["text"] for p in rows[0]["plates"] if len(p["text"]) >= 5)
    lists = [PlateList("residents", entries=parse_list(f"plate,label\n{text.lower()},Villa 3\n"))]
    client = TestClient(create_app(alpr, lists=lists))
    assert client.get("/health").json()["lists"] == {"residents": 1}
    plates = client.post("/v1/read", files={"f": ("a.jpg", photos[1][0])}).json()["results"][0]["plates"]
    got = {p["text"]: p["lists"] for p in plates}
    assert got[text] == [{"list": "residents", "plate": text.lower(), "text": text, "edits": 0, "label": "Villa 3"}]
    # serve takes lists from a site config's lists section and from --list
    served = {}
    monkeypatch.setattr(uvicorn, "run", lambda app, host, port, **kw: served.update(app=app))
    (tmp_path / "r.txt").write_text(text + "\n")
    (tmp_path / "w.txt").write_text("ZZ99999\n")
    site = tmp_path / "site.yaml"
    site.write_text(f"reader: {{threads: 1}}\nlists:\n  - {{name: residents, path: {tmp_path / 'r.txt'}}}\n")
    res = CliRunner().invoke(cli, ["serve", "--config", str(site), "--list", f"watch={tmp_path / 'w.txt'}"])
    assert res.exit_code == 0, res.output
    assert TestClient(served["app"]).get("/health").json()["lists"] == {"residents": 1, "watch": 1}
    site.write_text("lists: {name: residents}\n")
    res = CliRunner().invoke(cli, ["serve", "--config", str(site)])
    assert res.exit_code == 2 and "lists: expected a list of {name, path} mappings" in res.output


def test_serve_cli_takes_the_reader_from_a_site_config(tmp_path, monkeypatch):
    import uvicorn

    served = {}
    monkeypatch.setattr(uvicorn, "run", lambda app, host, port, **kw: served.update(app=app, host=host, port=port))
    site = tmp_path / "site.yaml"
    site.write_text(json.dumps({"reader": {"regions": ["uae"], "threads": 1}, "cameras": []}))
    res = CliRunner().invoke(cli, ["serve", "--config", str(site), "--fp32", "--port", "8123"])
    assert res.exit_code == 0, res.output
    reader = served["app"].state.alpr
    assert served["port"] == 8123 and served["host"] == "127.0.0.1"
    assert reader.detector.path.endswith("detector.onnx")  # --fp32 over the site's INT8 default
    assert reader.recognizer.region_mask is not None and reader.recognizer.region_mask.sum() < len(
        reader.recognizer.spec.regions
    )
    site.write_text("reader: {threads: 1}\n")
    res = CliRunner().invoke(cli, ["serve", "--config", str(site)])
    assert res.exit_code == 0, res.output
    det = served["app"].state.alpr.detector
    assert det.path.endswith("detector_int8.onnx") and det.fast_resize  # the site's (stream's) defaults
    res = CliRunner().invoke(cli, ["serve"])
    assert res.exit_code == 0, res.output
    alpr = served["app"].state.alpr  # without a config: as plateforge read reads, one thread per model
    assert alpr.detector.path.endswith("detector.onnx") and not alpr.detector.fast_resize
    sessions = [alpr.detector.session, alpr.recognizer.session]
    assert [s.get_session_options().intra_op_num_threads for s in sessions] == [1, 1]
    res = CliRunner().invoke(cli, ["serve", "--events", str(tmp_path / "ev.sqlite")])
    assert res.exit_code == 0 and "/v1/events" in res.output
    assert TestClient(served["app"]).get("/v1/events").json() == {"events": []}
    res = CliRunner().invoke(cli, ["serve", "--int8"])
    assert res.exit_code == 0 and served["app"].state.alpr.detector.path.endswith("detector_int8.onnx")
    res = CliRunner().invoke(cli, ["serve", "--threads", "1"], env={"PLATEFORGE_API_KEY": "k1"})
    assert res.exit_code == 0, res.output
    served_client = TestClient(served["app"])
    assert served_client.post("/v1/read", content=b"x").status_code == 401
    assert served_client.post("/v1/read", content=b"x", headers={"X-API-Key": "k1"}).status_code == 422
    site.write_text("reader: {vehicle_model: yolo.onnx, threads: 1}\n")
    res = CliRunner().invoke(cli, ["serve", "--config", str(site)])
    assert res.exit_code == 0 and "vehicle_model is left out" in res.output
    site.write_text("reader: {colour: red}\n")
    res = CliRunner().invoke(cli, ["serve", "--config", str(site)])
    assert res.exit_code == 2 and "reader: unknown key(s) ['colour']" in res.output


def test_blur_returns_the_photo_with_no_plate_left_readable(client, alpr, photos):
    data, texts = photos[0]
    r = client.post("/v1/blur", content=data, headers={"content-type": "image/jpeg"})
    assert r.status_code == 200 and r.headers["content-type"] == "image/jpeg"
    assert int(r.headers["x-plates-blurred"]) >= len(texts)
    original = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    blurred = cv2.imdecode(np.frombuffer(r.content, np.uint8), cv2.IMREAD_COLOR)
    assert blurred.shape == original.shape
    assert {p.text for p in alpr.read(original)} & texts  # readable before
    assert not {p.text for p in alpr.read(blurred)} & texts  # and not after
    bad = client.post("/v1/blur", content=b"not a photo")
    assert bad.status_code == 422 and bad.json()["error"].startswith("request body: not a readable image")
    assert client.post("/v1/blur", content=b"").status_code == 400


def test_read_takes_a_zone_per_request(client, photos):
    data, texts = next((d, t) for d, t in photos if len(t) >= 2)
    everything = client.post("/v1/read", content=data).json()["results"][0]["plates"]
    first = everything[0]
    x1, y1, x2, y2 = first["box"]
    zone = " ".join(
        f"{x:.0f},{y:.0f}" for x, y in ((x1 - 30, y1 - 20), (x2 + 30, y1 - 20), (x2 + 30, y2 + 20), (x1 - 30, y2 + 20))
    )
    zoned = client.post("/v1/read", params={"zone": zone}, content=data).json()["results"][0]["plates"]
    assert [p["text"] for p in zoned] == [first["text"]] and len(everything) >= 2
    bad = client.post("/v1/read", params={"zone": "1,2 3"}, content=data)
    assert bad.status_code == 400 and "zone '1,2 3'" in bad.json()["error"]
    assert len(client.post("/v1/read", content=data).json()["results"][0]["plates"]) == len(everything)  # not kept
