"""Searching stored passes: a plate near the one asked for (`find_events(near=...)`, `plateforge events`,
`GET /v1/events?near=`), and exports as CSV and JSONL."""

from __future__ import annotations

import base64
import csv
import io
import json

import cv2
import numpy as np
import pytest
from typer.testing import CliRunner

from plateforge.cli.app import app
from plateforge.stream.outbox import Outbox, find_events

runner = CliRunner()


def _crop() -> str:
    return base64.b64encode(cv2.imencode(".jpg", np.full((48, 160, 3), 200, np.uint8))[1].tobytes()).decode()


PASSES = [
    # event id, camera, text, candidates of its vote, region, parts, lists
    ("e0", "gate-in", "A12345", [["A12345", 3.1]], "uae-dubai", ["A", "12345"], [{"list": "residents"}]),
    ("e1", "gate-in", "AI2345", [["AI2345", 2.0]], "uae-dubai", ["A", "12345"], []),  # 1 for I: free
    ("e2", "gate-out", "A12846", [["A12846", 1.4]], "uae-dubai", ["A", "12846"], []),  # two edits off
    ("e3", "gate-out", "A1234", [["A1234", 1.2], ["A12345", 1.1]], "uae-dubai", ["A", "1234"], []),  # vote weighed it
    ("e4", "gate-in", "B77", [["B77", 2.0]], "uae-rak", ["B", "77"], []),
    ("e5", "gate-in", "B78", [["B78", 2.0], ["B79", 0.4]], "uae-rak", ["B", "78"], []),  # short: no edits
    ("e6", "gate-in", "1 11", [["111", 2.0]], "uae-abudhabi", ["1", "11"], []),
    ("e7", "gate-in", "111", [["111", 2.0]], "uae-abudhabi", ["11", "1"], []),
]


@pytest.fixture(scope="module")
def outbox(tmp_path_factory):
    path = tmp_path_factory.mktemp("events") / "site.db"
    box = Outbox(path)
    for k, (eid, camera, text, candidates, region, parts, lists) in enumerate(PASSES):
        box.put(
            {
                "event_id": eid,
                "camera": camera,
                "text": text.replace(" ", ""),
                "confidence": 0.9 - k / 100,
                "candidates": candidates,
                "region": region,
                "parts": parts,
                "lists": lists,
                "first_seen_utc": f"2026-12-07T08:0{k}:00.000Z",
                "motion": "approaching",
                "best_crop_jpeg": _crop(),
            }
        )
    box.close()
    return path


def _ids(events: list[dict]) -> list[str]:
    return [e["event_id"] for e in events]


def test_near_finds_slips_and_vote_candidates_not_other_plates(outbox):
    found = find_events(outbox, near="a-12345", limit=None)
    assert _ids(found) == ["e3", "e1", "e0"]  # newest first
    assert [e["near"] for e in found] == [
        {"text": "A12345", "edits": 0},  # e3 was voted A1234 but weighed A12345
        {"text": "AI2345", "edits": 0},
        {"text": "A12345", "edits": 0},
    ]
    assert _ids(find_events(outbox, near="A12345", max_edits=2, limit=None)) == ["e3", "e2", "e1", "e0"]
    assert _ids(find_events(outbox, near="A12345", max_edits=0, limit=None)) == ["e3", "e1", "e0"]
    assert _ids(find_events(outbox, near="B77", limit=None)) == ["e4"]  # B78 is one edit, but too short for one
    assert _ids(find_events(outbox, near="B79", limit=None)) == ["e5"]  # a text its vote weighed, in full
    assert _ids(find_events(outbox, near="1 11", limit=None)) == ["e6"]  # split as printed: not 11 1
    assert _ids(find_events(outbox, near="A12345", camera="gate-in", limit=1)) == ["e1"]  # limit after the match
    with pytest.raises(ValueError, match="no letters or digits"):
        find_events(outbox, near=" - ")
    with pytest.raises(ValueError, match="max_edits: expected 0 to 3"):
        find_events(outbox, near="A1", max_edits=5)


def test_cli_events_table_csv_jsonl_and_crops(outbox, tmp_path):
    r = runner.invoke(app, ["events", str(outbox), "--near", "A12345"])
    assert r.exit_code == 0, r.output
    assert "3 passes, newest first" in r.output and "A 1234 (as A12345)" in r.output
    r = runner.invoke(app, ["events", str(outbox), "--camera", "gate-out", "--format", "csv"])
    rows = list(csv.DictReader(io.StringIO(r.output)))
    assert [(x["event_id"], x["text"], x["parts"]) for x in rows] == [
        ("e3", "A1234", "A 1234"),
        ("e2", "A12846", "A 12846"),
    ]
    assert rows[0]["first_seen_utc"] == "2026-12-07T08:03:00.000Z" and rows[0]["confidence"] == "0.87"
    r = runner.invoke(app, ["events", str(outbox), "--list", "residents", "--format", "csv"])
    (row,) = csv.DictReader(io.StringIO(r.output))
    assert (row["event_id"], row["lists"]) == ("e0", "residents")
    r = runner.invoke(
        app, ["events", str(outbox), "--plate", "b7*", "--format", "jsonl", "--crops", str(tmp_path / "c")]
    )
    lines = [json.loads(x) for x in r.output.splitlines() if x.startswith("{")]
    assert _ids(lines) == ["e5", "e4"] and "best_crop_jpeg" not in lines[0]
    assert sorted(p.name for p in (tmp_path / "c").iterdir()) == ["e4.jpg", "e5.jpg"]
    assert cv2.imread(str(tmp_path / "c" / "e4.jpg")).shape == (48, 160, 3)
    r = runner.invoke(app, ["events", str(outbox), "--format", "xml"])
    assert r.exit_code != 0 and "--format must be table, jsonl or csv" in r.output
    r = runner.invoke(app, ["events", str(tmp_path / "none.db")])
    assert r.exit_code != 0 and "no such events file" in r.output


def test_server_searches_near_a_plate(outbox):
    from fastapi.testclient import TestClient

    from plateforge.server.app import create_app

    class NoReader:  # the events endpoints never read a photo
        detector = corners = recognizer = None

    client = TestClient(create_app(NoReader(), events=outbox))
    r = client.get("/v1/events?near=A12345")
    assert _ids(r.json()["events"]) == ["e3", "e1", "e0"] and r.json()["events"][0]["near"]["text"] == "A12345"
    assert _ids(client.get("/v1/events?near=A12345&max_edits=2").json()["events"])[1] == "e2"
    assert client.get("/v1/events?near=A12345&max_edits=4").status_code == 422
    r = client.get("/v1/events?near=--")
    assert r.status_code == 400 and "no letters or digits" in r.json()["error"]
    assert 'id="near"' in client.get("/").text


def test_server_serves_a_passes_evidence_frame(outbox, tmp_path):
    from fastapi.testclient import TestClient

    from plateforge.server.app import create_app
    from plateforge.stream.events import frame_file

    class NoReader:
        detector = corners = recognizer = None

    frame = frame_file(tmp_path / "frames", "gate in", 1796630400.0, "e1")  # as the stream files it
    frame.parent.mkdir(parents=True)
    jpeg = cv2.imencode(".jpg", np.full((72, 128, 3), 90, np.uint8))[1].tobytes()
    frame.write_bytes(jpeg)
    client = TestClient(create_app(NoReader(), events=outbox, frames=tmp_path / "frames", api_key="k"))
    key = {"X-API-Key": "k"}
    r = client.get("/v1/events/e1/frame", headers=key)
    assert r.status_code == 200 and r.headers["content-type"] == "image/jpeg" and r.content == jpeg
    assert client.get("/v1/events/e1/frame").status_code == 401
    r = client.get("/v1/events/e2/frame", headers=key)
    assert r.status_code == 404 and "no evidence frame" in r.json()["error"]
    assert client.get("/v1/events/*/frame", headers=key).json()["error"] == "event '*': not an event id"
    r = TestClient(create_app(NoReader(), events=outbox)).get("/v1/events/e1/frame")
    assert r.status_code == 404 and "--frames" in r.json()["error"]
    page = client.get("/").text
    assert "/frame`" in page and "openFrame" in page


def test_cli_serve_wants_events_with_frames(tmp_path):
    r = runner.invoke(app, ["serve", "--frames", str(tmp_path)])
    assert r.exit_code != 0 and "give --events too" in r.output


def _fresh(tmp_path) -> Outbox:
    box = Outbox(tmp_path / "site.db")
    for eid, camera, text, candidates, region, parts, lists in PASSES[:4]:
        box.put({"event_id": eid, "camera": camera, "text": text, "candidates": candidates, "region": region,
                 "parts": parts, "lists": lists, "confidence": 0.5, "best_crop_jpeg": _crop()})  # fmt: skip
    return box


def test_a_correction_changes_the_text_and_sends_the_pass_again(tmp_path):
    from plateforge.stream.outbox import Dispatcher

    class Collect:
        name = "collect"

        def __init__(self):
            self.got: list[dict] = []

        def send(self, events):
            self.got += events

    box = _fresh(tmp_path)
    sink = Collect()
    dispatcher = Dispatcher(box, sink)
    box.put({"event_id": "e9", "camera": "gate-in", "text": "A12845", "region": "uae-dubai", "format_ok": True})
    dispatcher.start()
    assert dispatcher.drain(5) and [e["event_id"] for e in sink.got] == ["e9"]
    fixed = box.correct("e9", "a 12 845", by="ops")  # three groups typed: the formats split it
    assert (fixed["text"], fixed["parts"], fixed["format_ok"], fixed["revision"]) == ("A12845", ["A", "12845"], True, 2)
    assert dispatcher.drain(5) and [(e["event_id"], e.get("revision")) for e in sink.got] == [("e9", None), ("e9", 2)]
    again = box.correct("e9", "AA 12845")
    assert again["corrected"]["was"] == "A12845" and again["revision"] == 3 and again["parts"] == ["AA", "12845"]
    assert again["corrected"]["by"] is None and again["corrected"]["at"].endswith("Z")
    assert dispatcher.drain(5) and sink.got[-1]["text"] == "AA12845"
    dispatcher.stop()
    assert find_events(box.path, text="AA12845", limit=None)[0]["corrected"]["was"] == "A12845"
    with pytest.raises(KeyError):
        box.correct("nope", "A1")
    with pytest.raises(ValueError, match="expected letters A-Z and digits"):
        box.correct("e9", "--")
    with pytest.raises(ValueError, match="expected letters A-Z and digits"):
        box.correct("e9", "A12.345")


def test_the_server_corrects_a_pass_and_harvest_takes_it_as_checked(tmp_path):
    from fastapi.testclient import TestClient

    from plateforge.data.errors import BadItems
    from plateforge.data.harvest import harvest, outbox_candidates
    from plateforge.server.app import create_app

    class NoReader:
        detector = corners = recognizer = None

    box = _fresh(tmp_path)
    client = TestClient(create_app(NoReader(), events=box.path, api_key="k"))
    key = {"X-API-Key": "k"}
    r = client.post("/v1/events/e2/text", json={"text": "A 12345", "by": "guard"}, headers=key)
    assert r.status_code == 200 and r.json()["text"] == "A12345" and r.json()["corrected"]["was"] == "A12846"
    assert "best_crop_jpeg" not in r.json()
    assert client.post("/v1/events/e2/text", json={"text": "A1"}).status_code == 401
    assert client.post("/v1/events/e77/text", json={"text": "A1"}, headers=key).status_code == 404
    assert client.post("/v1/events/e2/text", json={"text": "##"}, headers=key).status_code == 422
    assert client.post("/v1/events/e2/text", json={"by": "x"}, headers=key).status_code == 400
    assert client.post("/v1/events/e2/text", json={"text": "A1", "by": 3}, headers=key).status_code == 400
    assert "correctPass" in client.get("/").text
    rep = harvest(outbox_candidates(box.path, bad=BadItems()), tmp_path / "h")
    rows = {r["source"]: r for r in csv.DictReader(rep.labels.open())}
    assert (rows["e2"]["text"], rows["e2"]["read"], rows["e2"]["review"]) == ("A12345", "A12846", "ok")
    assert (rows["e1"]["text"], rows["e1"]["read"], rows["e1"]["review"]) == ("AI2345", "AI2345", "")


def test_server_exports_passes_as_csv(outbox):
    from fastapi.testclient import TestClient

    from plateforge.server.app import create_app

    class NoReader:
        detector = corners = recognizer = None

    client = TestClient(create_app(NoReader(), events=outbox))
    r = client.get("/v1/events?format=csv&camera=gate-out")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv")
    assert r.headers["content-disposition"] == 'attachment; filename="passes.csv"'
    rows = list(csv.DictReader(io.StringIO(r.text)))
    assert [(x["event_id"], x["parts"]) for x in rows] == [("e3", "A 1234"), ("e2", "A 12846")]
    cli = runner.invoke(app, ["events", str(outbox), "--camera", "gate-out", "--format", "csv"])
    assert cli.output == r.text  # the same export either way
    assert len(list(csv.DictReader(io.StringIO(client.get("/v1/events?format=csv").text)))) == len(PASSES)
    assert client.get("/v1/events?limit=5000").status_code == 400  # JSON stays at most 1000
    assert client.get("/v1/events?format=xml").status_code == 422
    assert 'id="passes-csv"' in client.get("/").text


def test_cli_events_follow_prints_new_passes_as_they_are_stored(tmp_path):
    import signal
    import subprocess
    import sys
    import threading

    box = _fresh(tmp_path)
    cmd = [sys.executable, "-m", "plateforge", "events", str(box.path), "--follow", "--format", "jsonl"]
    # a background shell starts its jobs with SIGINT ignored, and Python keeps it so: give the child Ctrl-C back
    proc = subprocess.Popen(
        [*cmd, "--near", "K55555"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    watchdog = threading.Timer(90, proc.kill)  # a broken follow fails the test instead of hanging it
    watchdog.start()
    try:
        assert "following" in proc.stderr.readline()  # in the loop, however slowly it started
        box.put({"event_id": "n1", "camera": "gate-in", "text": "K55555", "region": "uae-rak", "confidence": 0.9})
        box.put({"event_id": "n2", "camera": "gate-in", "text": "Q11111", "region": "uae-rak", "confidence": 0.9})
        box.put({"event_id": "n3", "camera": "gate-in", "text": "K5555S", "region": "uae-rak", "confidence": 0.9})
        lines = [proc.stdout.readline(), proc.stdout.readline()]  # waits until both are printed
    finally:
        proc.send_signal(signal.SIGINT)
        rest, err = proc.communicate(timeout=30)
        watchdog.cancel()
    assert proc.returncode == 0, err
    assert [json.loads(x)["event_id"] for x in lines] == ["n1", "n3"] and rest == ""  # oldest first; S for 5 free
    r = runner.invoke(app, ["events", str(box.path), "--follow", "--until", "2030-01-01"])
    assert r.exit_code != 0 and "takes --since, not --until" in r.output


def test_cameras_show_their_passes_and_when_they_went_quiet(tmp_path):
    import time

    from fastapi.testclient import TestClient

    from plateforge.server.app import create_app
    from plateforge.stream.outbox import camera_activity

    class NoReader:
        detector = corners = recognizer = None

    box = _fresh(tmp_path)  # e0, e1 at gate-in; e2, e3 at gate-out
    box._con().execute("UPDATE events SET created = created - 7200 WHERE camera = 'gate-out'")  # 2 h ago
    box.put({"event_id": "x", "camera": "gate-in", "text": "Q1", "first_seen_utc": "2026-12-07T08:00:00.000Z"})
    got = {c["camera"]: c for c in camera_activity(box.path, time.time() - 3600)}
    assert (got["gate-in"]["passes"], got["gate-out"]["passes"]) == (3, 0)
    assert got["gate-in"]["last_seen_utc"] == "2026-12-07T08:00:00.000Z"
    assert time.time() - got["gate-out"]["last_stored"] > 7000  # quiet for two hours
    client = TestClient(create_app(NoReader(), events=box.path))
    body = client.get("/v1/cameras").json()
    assert [(c["camera"], c["passes"]) for c in body["cameras"]] == [("gate-in", 3), ("gate-out", 2)]  # 24 h
    hour_ago = time.time() - 3600
    assert client.get(f"/v1/cameras?since={hour_ago}").json()["cameras"][1]["passes"] == 0
    assert client.get("/v1/cameras?since=soon").status_code == 400
    assert 'id="cameras"' in client.get("/").text


def test_pass_counts_by_local_hour_and_day_with_empty_hours_as_zeros(tmp_path):
    from fastapi.testclient import TestClient

    from plateforge.server.app import create_app
    from plateforge.stream.outbox import pass_counts

    class NoReader:
        detector = corners = recognizer = None

    box = Outbox(tmp_path / "site.db")
    seen = [  # UTC; Dubai is UTC+4
        ("a", "gate-in", "2026-12-07T05:10:00.000Z", "approaching"),
        ("b", "gate-in", "2026-12-07T05:50:00.000Z", "approaching"),
        ("c", "gate-in", "2026-12-07T08:05:00.000Z", "receding"),
        ("d", "gate-out", "2026-12-07T19:59:00.000Z", "receding"),  # 23:59 in Dubai
        ("e", "gate-out", "2026-12-07T20:01:00.000Z", "steady"),  # 00:01 the next day in Dubai
        ("f", "gate-out", None, "steady"),  # no time: not counted
    ]
    for eid, camera, utc, motion in seen:
        box.put({"event_id": eid, "camera": camera, "text": "A1", "first_seen_utc": utc, "motion": motion})
    box.close()
    hours = pass_counts(box.path, "hour", "Asia/Dubai", camera="gate-in")
    assert [(r["period"], r["passes"], r["approaching"], r["receding"]) for r in hours] == [
        ("2026-12-07 09:00", 2, 2, 0),
        ("2026-12-07 10:00", 0, 0, 0),  # a quiet hour shows
        ("2026-12-07 11:00", 0, 0, 0),
        ("2026-12-07 12:00", 1, 0, 1),
    ]
    days = pass_counts(box.path, "day", "Asia/Dubai")
    assert [(r["period"], r["camera"], r["passes"]) for r in days] == [
        ("2026-12-07", "gate-in", 3),
        ("2026-12-07", "gate-out", 1),
        ("2026-12-08", "gate-out", 1),
    ]
    assert [r["passes"] for r in pass_counts(box.path, "day")] == [3, 2]  # in UTC both gate-out passes are the 7th
    with pytest.raises(ValueError, match="unknown time zone 'Mars/Base'"):
        pass_counts(box.path, "hour", "Mars/Base")
    with pytest.raises(ValueError, match="by: expected one of hour, day"):
        pass_counts(box.path, "week")
    r = runner.invoke(app, ["events", str(box.path), "--counts", "day", "--tz", "Asia/Dubai", "--format", "csv"])
    assert r.exit_code == 0, r.output
    assert r.stdout.splitlines()[:2] == [
        "period,camera,passes,approaching,receding,steady",
        "2026-12-07,gate-in,3,2,1,0",
    ]
    assert runner.invoke(app, ["events", str(box.path), "--counts", "day", "--plate", "A1"]).exit_code == 2
    client = TestClient(create_app(NoReader(), events=box.path))
    body = client.get("/v1/counts", params={"by": "day", "tz": "Asia/Dubai", "camera": "gate-out"}).json()
    assert [(c["period"], c["passes"], c["steady"]) for c in body["counts"]] == [
        ("2026-12-07", 1, 0),
        ("2026-12-08", 1, 1),
    ]
    assert client.get("/v1/counts", params={"by": "minute"}).status_code == 400
    assert 'id="counts-table"' in client.get("/").text  # the page's passes per hour today


def test_pass_counts_step_over_a_daylight_saving_change(tmp_path):
    from plateforge.stream.outbox import pass_counts

    box = Outbox(tmp_path / "site.db")
    for eid, utc in (("a", "2026-03-29T00:30:00.000Z"), ("b", "2026-03-29T02:30:00.000Z")):  # 01:30 CET, 04:30 CEST
        box.put({"event_id": eid, "camera": "cam", "text": "ZH1", "first_seen_utc": utc, "motion": "steady"})
    box.close()
    got = [(r["period"], r["passes"]) for r in pass_counts(box.path, "hour", "Europe/Zurich")]
    assert got == [("2026-03-29 01:00", 1), ("2026-03-29 03:00", 0), ("2026-03-29 04:00", 1)]  # 02:00 never was


def test_pass_counts_keep_the_two_hours_of_a_night_when_clocks_go_back_apart(tmp_path):
    from plateforge.stream.outbox import pass_counts

    box = Outbox(tmp_path / "site.db")
    seen = (
        "2026-10-24T23:30:00.000Z",
        "2026-10-25T00:30:00.000Z",
        "2026-10-25T01:30:00.000Z",
        "2026-10-25T02:30:00.000Z",
    )
    for k, utc in enumerate(seen):  # Zurich: 01:30 CEST, 02:30 CEST, 02:30 CET (clocks went back), 03:30 CET
        box.put({"event_id": f"e{k}", "camera": "cam", "text": "ZH1", "first_seen_utc": utc, "motion": "steady"})
    box.close()
    got = [(r["period"], r["passes"]) for r in pass_counts(box.path, "hour", "Europe/Zurich")]
    assert got == [("2026-10-25 01:00", 1), ("2026-10-25 02:00", 1), ("2026-10-25 02:00", 1), ("2026-10-25 03:00", 1)]
    assert [(r["period"], r["passes"]) for r in pass_counts(box.path, "day", "Europe/Zurich")] == [("2026-10-25", 4)]
