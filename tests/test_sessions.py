"""Parking sessions: entries and exits paired into stays, from events as a stream stores them."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
from typer.testing import CliRunner

from plateforge.cli.app import app
from plateforge.stream.outbox import Outbox
from plateforge.stream.sessions import Gate, format_duration, pair_sessions
from tests.conftest import REGIONS_BEFORE_SA

T0 = datetime(2026, 12, 7, 8, 0, tzinfo=UTC).timestamp()


def ev(i: int, camera: str, text: str, minutes: float, motion: str = "approaching") -> dict:
    stamp = datetime.fromtimestamp(T0 + 60 * minutes, UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
    return {"event_id": f"e{i}", "camera": camera, "text": text, "motion": motion, "first_seen_utc": stamp}


EVENTS = [
    ev(0, "gate-in", "A12345", 0),
    ev(1, "gate-in", "B777", 5),
    ev(2, "lobby", "A12345", 6),  # another camera: left out
    ev(3, "gate-out", "AI2345", 95),  # 1 read for I: the A12345 stay, 95 min
    ev(4, "gate-out", "X99999", 96),  # never came in
    ev(5, "gate-in", "K55555", 100),
    ev(6, "gate-in", "K55555", 130),  # in again without an exit: the earlier entry is replaced
    ev(7, "gate-out", "B778", 131),  # under 5 characters: no edits allowed, so not B777
    ev(8, "gate-out", "", 132),  # no text: left out
]


def test_exits_close_the_stay_of_their_plate_and_the_rest_is_reported():
    r = pair_sessions(EVENTS, [Gate("gate-in")], [Gate("gate-out")])
    assert [(s.plate, s.exit_plate, s.duration_s, s.edits) for s in r.closed] == [("A12345", "AI2345", 5700.0, 0)]
    assert r.closed[0].exit_utc == "2026-12-07T09:35:00.000Z" and r.closed[0].exit_camera == "gate-out"
    assert [(s.plate, s.entry_event) for s in r.inside] == [("B777", "e1"), ("K55555", "e6")]
    assert [e["event_id"] for e in r.exits_without_entry] == ["e4", "e7"]
    assert [s.entry_event for s in r.entries_replaced] == ["e5"]
    assert r.to_dict()["exits_without_entry"][0] == {
        "event_id": "e4",
        "camera": "gate-out",
        "text": "X99999",
        "motion": "approaching",
        "first_seen_utc": "2026-12-07T09:36:00.000Z",
    }
    # one edit off: paired with max_edits=1, not with 0; the exact match wins over an older near one
    near = [ev(0, "in", "A12345", 0), ev(1, "in", "A12845", 1), ev(2, "out", "A12845", 9)]
    r = pair_sessions(near, [Gate("in")], [Gate("out")])
    assert [(s.entry_event, s.edits) for s in r.closed] == [("e1", 0)] and r.inside[0].entry_event == "e0"
    r = pair_sessions([ev(0, "in", "A12345", 0), ev(1, "out", "A12385", 9)], [Gate("in")], [Gate("out")], max_edits=0)
    assert not r.closed and len(r.exits_without_entry) == 1


def test_one_camera_tells_entries_from_exits_by_motion():
    events = [
        ev(0, "gate", "DXB4242", 0, "approaching"),
        ev(1, "gate", "DXB4242", 42, "receding"),
        ev(2, "gate", "SHJ777", 50, "steady"),  # neither
    ]
    r = pair_sessions(events, [Gate.parse("gate:approaching")], [Gate.parse("gate:receding")])
    assert [(s.plate, s.duration_s) for s in r.closed] == [("DXB4242", 2520.0)] and not r.inside
    with pytest.raises(ValueError, match="gate 'gate:away'"):
        Gate.parse("gate:away")
    assert Gate.parse("10.0.0.5:554") == Gate("10.0.0.5:554")  # a stream URL's default camera id
    assert Gate.parse("gate@entry") == Gate("gate", None, "entry")
    assert Gate.parse("gate@exit:receding") == Gate("gate", "receding", "exit")
    lanes = [ev(0, "gate", "DXB4242", 0) | {"zone": "entry"}, ev(1, "gate", "DXB4242", 30) | {"zone": "exit"}]
    r = pair_sessions(lanes, [Gate.parse("gate@entry")], [Gate.parse("gate@exit")])
    assert [(s.plate, s.duration_s) for s in r.closed] == [("DXB4242", 1800.0)]
    assert Gate.parse("10.0.0.5:554:receding") == Gate("10.0.0.5:554", "receding")
    assert (
        format_duration(5700) == "1 h 35 min" and format_duration(252) == "4 min 12 s" and format_duration(9) == "9 s"
    )


def test_cli_sessions_reads_the_outbox_a_stream_wrote(tmp_path):
    box = Outbox(tmp_path / "events.sqlite")
    for e in EVENTS:
        box.put(e)
    box.close()
    runner = CliRunner()
    args = ["sessions", str(tmp_path / "events.sqlite"), "--entry", "gate-in", "--exit", "gate-out"]
    r = runner.invoke(app, [*args, "--format", "jsonl", "--json", str(tmp_path / "report.json")])
    assert r.exit_code == 0, r.output
    stays = [json.loads(line) for line in r.stdout.splitlines() if line.startswith("{")]
    assert [(s["plate"], s["duration_s"]) for s in stays] == [("A12345", 5700.0), ("B777", None), ("K55555", None)]
    assert "2 exit(s) without an entry, 1 entry(ies) without an exit" in r.output
    report = json.loads((tmp_path / "report.json").read_text())
    assert len(report["closed"]) == 1 and len(report["inside"]) == 2
    r = runner.invoke(app, [*args, "--format", "table"])
    assert r.exit_code == 0 and "1 stays, 2 vehicles inside" in r.output and "1 h 35 min" in r.output
    r = runner.invoke(app, [*args, "--format", "csv"])
    assert r.stdout.splitlines()[0].startswith("plate,entry_event,entry_camera")
    r = runner.invoke(app, ["sessions", str(tmp_path / "none.sqlite"), "--entry", "a", "--exit", "b"])
    assert r.exit_code == 2 and "none.sqlite: no such events file" in r.output


def test_serve_answers_sessions_from_the_outbox(tmp_path):
    from fastapi.testclient import TestClient

    from plateforge.server.app import create_app

    box = Outbox(tmp_path / "events.sqlite")
    for e in EVENTS:
        box.put(e)
    box.close()
    client = TestClient(create_app(alpr=_NoReader(), events=tmp_path / "events.sqlite"))
    r = client.get("/v1/sessions?entry=gate-in&exit=gate-out")
    assert r.status_code == 200 and [s["plate"] for s in r.json()["closed"]] == ["A12345"]
    assert client.get("/v1/sessions?entry=gate-in&exit=gate:away").status_code == 400
    assert client.get("/v1/sessions?entry=gate-in").status_code == 422  # exit missing


class _NoReader:
    """The server wants a reader; these requests never read a photo."""

    detector = corners = recognizer = None


def test_a_car_park_video_gives_its_stays_with_the_times_the_recording_shows(tmp_path):
    """Vehicles that drive in (approaching) and, some seconds later, out again (receding) past one camera;
    the file's start time makes the events' first_seen_utc the recording's own clock."""
    from plateforge.synth.video import VideoOptions, make_video, read_ground_truth

    video = tmp_path / "park"
    opts = VideoOptions(
        width=960,
        height=540,
        passes=4,
        seed=6,
        plate_height=(36, 56),
        overlap=0.0,
        returns=1.0,
        regions=REGIONS_BEFORE_SA,
    )
    make_video(video, opts, overwrite=True)
    _, passes = read_ground_truth(video)
    back = [p for p in passes if p["returns_of"] is not None]
    assert back and all(passes[p["returns_of"]]["motion"] == "approach" and p["motion"] == "recede" for p in back)
    runner = CliRunner()
    outbox = tmp_path / "events.sqlite"
    r = runner.invoke(
        app,
        ["stream", str(video / "video.mp4"), "--camera", "gate", "--outbox", str(outbox), "--quiet"]
        + ["--start-time", "2026-12-07T08:00:00Z", "--threads", "1", "--frames", str(tmp_path / "frames")],
    )
    assert r.exit_code == 0, r.output
    events = Outbox(outbox).events()
    assert min(e["first_seen_utc"] for e in events) >= "2026-12-07T08:00:00"  # the recording's clock
    frames = [Path(e["frame_path"]) for e in events]  # evidence, filed under the day the recording shows
    assert all(f.is_file() and f.parent == tmp_path / "frames" / "gate" / "2026-12-07" for f in frames)
    report = pair_sessions(events, [Gate.parse("gate:approaching")], [Gate.parse("gate:receding")])
    stays = {s.plate: s.duration_s for s in report.closed}
    for p in back:
        entry = passes[p["returns_of"]]
        want = (p["first_visible"] - entry["first_visible"]) / 25.0  # frames of the video at 25 frames/s
        assert stays[p["text"]] == pytest.approx(want, abs=1.0)
    assert len(stays) == len(back) == 2
    leaving_only = {p["text"] for p in passes if p["motion"] == "recede" and p["returns_of"] is None}
    assert {e["text"] for e in report.exits_without_entry} == leaving_only  # they never came in on camera
