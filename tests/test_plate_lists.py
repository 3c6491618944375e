"""Plate lists (allow / deny / watch): parsing, fuzzy matching, reloads, events that name their matches and
sinks that take only listed passes."""

from __future__ import annotations

import json
import os
import time
from dataclasses import replace

import pytest

from plateforge.runtime.plate_lists import ListEntry, PlateList, match_lists, normalise_plate, parse_list
from tests.conftest import REGIONS_BEFORE_SA

RESIDENTS = """# residents of the compound
plate,region,label
A 12345,uae-dubai,Villa 12
B-77,uae,
ZH 123456,ch,visitor
"""


def test_lists_parse_plain_text_and_csv_and_name_the_bad_line():
    assert normalise_plate(" a 123-45 ") == "A12345"
    entries = parse_list(RESIDENTS, "residents.csv")
    assert entries == [
        ListEntry("A 12345", "A12345", "uae-dubai", "Villa 12"),
        ListEntry("B-77", "B77", "uae", None),
        ListEntry("ZH 123456", "ZH123456", "ch", "visitor"),
    ]
    assert [e.key for e in parse_list("# stolen\nX 1\n\ny-22\n")] == ["X1", "Y22"]
    with pytest.raises(ValueError, match=r"stolen.txt: line 3: 'AB1,ch' has commas.*header"):
        parse_list("# list\nA1\nAB1,ch\n", "stolen.txt")
    with pytest.raises(ValueError, match=r"r.csv: line 3: '--' has no letters or digits"):
        parse_list("plate\nA1\n--\n", "r.csv")


def test_matching_forgives_one_edit_and_confused_characters_and_respects_regions():
    pl = PlateList("residents", entries=parse_list(RESIDENTS))
    m = pl.match("A12345", "uae-dubai")
    assert (m.list, m.plate, m.edits, m.label) == ("residents", "A 12345", 0, "Villa 12")
    assert pl.match("AI2345", "uae-dubai").edits == 0  # I read for 1
    assert pl.match("A1Z34S", "uae-dubai").edits == 0  # Z for 2, S for 5
    assert pl.match("A1234", "uae-dubai").edits == 1  # one character lost
    assert pl.match("A12", "uae-dubai") is None  # three lost
    assert pl.match("A12345", "uae-sharjah") is None and pl.match("A12345", None) is None  # another emirate
    assert pl.match("B77", "uae-ajman").plate == "B-77"  # 'uae' takes every emirate
    assert pl.match("B77", "ch") is None
    assert pl.match("B78", "uae-ajman") is None  # under fuzzy_from (5) characters: no edits
    assert PlateList("short", entries=parse_list("B77"), fuzzy_from=3).match("B78").edits == 1
    # a read's alternatives are tried in order; the closest match wins, an exact one at once
    m = pl.match(["A1234", "A12345"], "uae-dubai")
    assert (m.text, m.edits) == ("A12345", 0)
    strict = PlateList("stolen", entries=parse_list("A12345\n"), max_edits=0, confusables=False)
    assert strict.match("A12345").edits == 0 and strict.match("AI2345") is None and strict.match("A1234") is None
    assert [m.list for m in match_lists([pl, strict], "A12345", "uae-dubai")] == ["residents", "stolen"]
    assert m.to_dict() == {
        "list": "residents",
        "plate": "A 12345",
        "text": "A12345",
        "edits": 0,
        "region": "uae-dubai",
        "label": "Villa 12",
    }


def test_a_list_file_is_read_again_when_it_changes_and_a_bad_edit_keeps_the_old_plates(tmp_path, caplog):
    path = tmp_path / "residents.txt"
    path.write_text("A12345\n")
    pl = PlateList("residents", path, reload_s=0.0)
    assert pl.match("K999") is None
    path.write_text("A12345\nK999\n")
    os.utime(path, (time.time() + 5, time.time() + 5))  # a new mtime even on coarse file systems
    assert pl.match("K999").plate == "K999"
    path.write_text("A12345,ch\n")  # commas without a header: refused, the two plates stay
    os.utime(path, (time.time() + 10, time.time() + 10))
    assert pl.match("K999").plate == "K999" and "cannot reload" in caplog.text
    with pytest.raises(FileNotFoundError, match="nowhere.txt does not exist"):
        PlateList("x", tmp_path / "nowhere.txt")


def test_a_20000_plate_list_matches_a_read_in_milliseconds():
    import random
    import string

    rng = random.Random(0)
    plates = ["".join(rng.choices(string.ascii_uppercase + string.digits, k=7)) for _ in range(20000)]
    pl = PlateList("big", entries=parse_list("\n".join(plates)))
    t = time.perf_counter()
    m = pl.match([plates[12345][:-1] + "#", "NOTHERE"])  # last character misread
    assert m is not None and m.plate == plates[12345] and m.edits == 1
    assert time.perf_counter() - t < 1.0  # ~2 ms measured; the bound only catches a pathological slowdown


def test_events_name_the_lists_they_match():
    from plateforge.stream.metrics import StreamMetrics
    from plateforge.stream.pipeline import CameraProcessor
    from tests.test_stream import ScriptedReader, _events

    script = {i: [((10.0, 40.0, 60.0, 52.0), "ZH12345"), ((100.0, 40.0, 150.0, 52.0), "GR4711")] for i in range(20)}
    lists = [
        PlateList("residents", entries=parse_list("plate,region\nZH 12345,ch\n")),
        PlateList("watch", entries=parse_list("ZH12845\n")),
    ]
    metrics = StreamMetrics()
    proc = CameraProcessor("cam", ScriptedReader(script), lists=lists, metrics=metrics)
    events = {e.text: e for _, e in _events(proc, 60)}
    zh = [(m["list"], m["edits"]) for m in events["ZH12345"].to_dict()["lists"]]
    assert zh == [("residents", 0), ("watch", 1)]
    assert events["GR4711"].to_dict()["lists"] == []
    count = metrics.registry.get_sample_value
    assert count("plateforge_list_matches_total", {"camera": "cam", "list": "watch"}) == 1.0


def test_a_sink_with_only_lists_gets_only_listed_passes_and_the_rest_is_not_held_back(tmp_path):
    from plateforge.stream.outbox import Dispatcher, EventFilter, Outbox

    class Collect:
        name = "gate"

        def __init__(self):
            self.got = []

        def send(self, events):
            self.got += [e["event_id"] for e in events]

    ob = Outbox(tmp_path / "o.sqlite")
    gate, any_list = Collect(), Collect()
    any_list.name = "alerts"
    ds = [Dispatcher(ob, gate, only=EventFilter(lists=frozenset({"residents"}))),
          Dispatcher(ob, any_list, only=EventFilter(lists=frozenset({"*"})))]  # fmt: skip
    for i, lists in enumerate([[{"list": "residents"}], [], [{"list": "watch"}], [{"list": "residents"}]]):
        ob.put({"event_id": f"e{i}", "camera": "cam", "first_seen": float(i), "lists": lists})
    assert all(d.start().drain(5) for d in ds)
    for d in ds:
        d.stop()
    assert gate.got == ["e0", "e3"] and any_list.got == ["e0", "e2", "e3"]
    assert ob.backlog("gate") == 0 and ds[0].delivered == 2 and ds[0].skipped == 2


def test_site_config_lists_and_sink_filters_are_checked(tmp_path):
    from plateforge.stream.app import _make_sinks
    from tests.test_stream import load_site_config_text

    (tmp_path / "r.csv").write_text(RESIDENTS)
    cfg = load_site_config_text(
        tmp_path / "site.yaml",
        f"lists:\n  - {{name: residents, path: {tmp_path / 'r.csv'}, max_edits: 0}}\nevents: {{max_delay_s: 2.5}}\n",
    )
    assert cfg.events.max_delay_s == 2.5 and cfg.lists[0].load().match("A12345", "uae-dubai").edits == 0
    specs = [
        {"type": "jsonl", "path": str(tmp_path / "g.jsonl"), "only_lists": ["residents"]},
        str(tmp_path / "a.jsonl"),
    ]
    assert [(s.name, only and only.lists) for s, only in _make_sinks(specs, ["residents"])] == [
        ("jsonl", frozenset({"residents"})),
        ("jsonl-2", None),
    ]
    with pytest.raises(ValueError, match=r"only_lists \['visitors'\] must name the site's lists \['residents'\] or"):
        _make_sinks([{"type": "jsonl", "path": "x.jsonl", "only_lists": ["visitors"]}], ["residents"])


def test_cli_stream_with_a_list_sends_listed_passes_early_to_the_gate_sink(tmp_path):
    """The synthetic video's passes; the list holds two of their plates, one with a character changed (one
    edit). The gate sink gets exactly those passes, each sent while its plate was still in view."""
    from typer.testing import CliRunner

    from plateforge.cli.app import app
    from plateforge.synth.video import VideoOptions, make_video, read_ground_truth

    video = tmp_path / "video"
    make_video(
        video,
        VideoOptions(width=960, height=540, passes=4, seed=3, plate_height=(30, 48), regions=REGIONS_BEFORE_SA),
        overwrite=True,
    )
    _, passes = read_ground_truth(video)
    texts = [p["text"] for p in passes]
    listed = [texts[0], texts[2][:-1] + ("0" if texts[2][-1] != "0" else "1")]
    (tmp_path / "residents.txt").write_text("\n".join(listed) + "\n")
    # visitors' passes in Dubai time (UTC+4); the recording starts at 08:00 UTC = 12:00 in Dubai
    (tmp_path / "visitors.csv").write_text(
        f"plate,label,valid_from,valid_until\n{texts[1]},guest,2026-12-07T11:00,2026-12-07T13:00\n"
        f"{texts[3]},late guest,2026-12-07T13:00,\n"
    )
    site = tmp_path / "site.yaml"
    site.write_text(
        f"lists:\n  - {{name: residents, path: {tmp_path / 'residents.txt'}}}\n"
        f"  - {{name: visitors, path: {tmp_path / 'visitors.csv'}, tz: Asia/Dubai}}\n"
        f"sinks:\n  - {{type: jsonl, path: {tmp_path / 'gate.jsonl'}, only_lists: [residents], name: gate}}\n"
        f"  - {{type: jsonl, path: {tmp_path / 'all.jsonl'}}}\n"
    )
    args = ["stream", str(video / "video.mp4"), "--config", str(site), "--outbox", str(tmp_path / "o.sqlite")]
    start = ["--start-time", "2026-12-07T08:00:00Z"]
    r = CliRunner().invoke(app, [*args, *start, "--max-delay", "1.0", "--threads", "1", "--quiet"])
    assert r.exit_code == 0, r.output
    every = [json.loads(x) for x in (tmp_path / "all.jsonl").read_text().splitlines()]
    visitors = {e["text"]: [m["label"] for m in e["lists"] if m["list"] == "visitors"] for e in every}
    assert visitors[texts[1]] == ["guest"] and visitors[texts[3]] == []  # the late guest's pass starts at 13:00
    gate = [json.loads(x) for x in (tmp_path / "gate.jsonl").read_text().splitlines()]
    assert sorted(e["text"] for e in every) == sorted(texts)  # the reader gets these clean plates right
    assert all(e["in_view"] for e in every)
    assert [(e["text"], e["lists"][0]["plate"], e["lists"][0]["edits"]) for e in gate] == [
        (texts[0], listed[0], 0),
        (texts[2], listed[1], 1),
    ]
    r = CliRunner().invoke(app, [*args, "--list", "bad"])
    assert r.exit_code != 0 and "expected NAME=PATH" in r.output


def test_a_uae_plate_read_with_its_parts_matches_only_the_entry_written_that_way():
    """Abu Dhabi 1 11 and 11 1 both read 111; written apart in the list, the read's parts tell them apart."""
    pl = PlateList("residents", entries=parse_list("plate,label\n1 11,Villa 1\n11 1,Villa 2\nA 12345,Villa 3\n"))
    assert pl.match("111", "uae-abudhabi", ("1", "11")).label == "Villa 1"
    assert pl.match("111", "uae-abudhabi", ("11", "1")).label == "Villa 2"
    assert pl.match("111", "uae-abudhabi").label == "Villa 1"  # no parts: the whole text, first entry
    assert pl.match("A12345", "uae-dubai").label == "Villa 3"  # the formats split a Dubai read themselves
    assert pl.match("A1234", "uae-dubai").edits == 1  # one edit still forgiven, group by group
    whole = PlateList("x", entries=parse_list("A12345\n"))
    assert whole.match("A12345", "uae-dubai", ("A", "12345")).edits == 0  # an entry written whole: whole text


def test_events_carry_the_parts_their_reads_agree_on():
    from plateforge.stream.pipeline import CameraProcessor
    from tests.test_stream import ScriptedReader, _events

    class WithParts(ScriptedReader):
        def read_detections(self, img, dets):
            reads, crops = super().read_detections(img, dets)
            return [replace(r, region="uae-abudhabi", parts=("1", "11")) for r in reads], crops

    script = {i: [((10.0, 40.0, 60.0, 52.0), "111")] for i in range(20)}
    lists = [PlateList("residents", entries=parse_list("plate\n11 1\n1 11\n"))]
    ((_, e),) = _events(CameraProcessor("cam", WithParts(script), lists=lists), 60)
    assert e.parts == ("1", "11") and e.to_dict()["parts"] == ["1", "11"]
    assert [m["plate"] for m in e.to_dict()["lists"]] == ["1 11"]


def test_cli_lists_check_points_out_duplicates_short_and_ambiguous_uae_plates(tmp_path):
    from typer.testing import CliRunner

    from plateforge.cli.app import app

    path = tmp_path / "residents.csv"
    path.write_text("plate,region,label\n11234,uae-abudhabi,Villa 1\nA 12345,uae-dubai,\nA-12345,uae-dubai,\nB7,,\n")
    r = CliRunner().invoke(app, ["lists", "check", str(path)])
    said = " ".join(r.output.split())  # the terminal may wrap lines
    assert r.exit_code == 0 and "residents.csv: 4 plates" in said
    assert "written 2 times" in said and "['A 12345', 'A-12345']" in said
    assert "under 5 characters match exactly only: ['B7']" in said
    assert "'11234' may be a UAE code and number split two ways" in said and "'1 1234'" in said
    r = CliRunner().invoke(app, ["lists", "match", str(path), "A1Z345", "--region", "uae-dubai"])
    said = " ".join(r.output.split())
    assert r.exit_code == 0 and "'plate': 'A 12345'" in said and "'edits': 0" in said
    r = CliRunner().invoke(app, ["lists", "match", str(path), "ZZ999"])
    assert r.exit_code == 1 and "no match" in r.output
    r = CliRunner().invoke(app, ["lists", "check", str(tmp_path / "none.csv")])
    assert r.exit_code == 2 and "none.csv does not exist" in r.output


def test_entries_count_only_within_their_validity_window():
    from datetime import datetime
    from zoneinfo import ZoneInfo

    dubai = ZoneInfo("Asia/Dubai")
    text = (
        "plate,label,valid_from,valid_until\n"
        "A 12345,day guest,2026-12-07T09:00,2026-12-07\n"  # from 09:00 to the end of the 7th
        "B 55555,contractor,,2026-12-08T18:00+00:00\n"  # open start; an offset of its own
        "C 77777,resident,,\n"
    )
    entries = parse_list(text, "visitors.csv", tz="Asia/Dubai")
    at = lambda *a: datetime(*a, tzinfo=dubai).timestamp()  # noqa: E731
    assert entries[0].valid_from == at(2026, 12, 7, 9) and entries[0].valid_until == at(2026, 12, 8)
    assert entries[1].valid_from is None and entries[1].valid_until == at(2026, 12, 8, 22)
    pl = PlateList("visitors", entries=entries)
    assert pl.match("A12345", at=at(2026, 12, 7, 8, 59)) is None
    assert pl.match("A12345", at=at(2026, 12, 7, 9)).label == "day guest"
    assert pl.match("A12345", at=at(2026, 12, 7, 23, 59)).label == "day guest"
    assert pl.match("A12345", at=at(2026, 12, 8)) is None
    assert pl.match("B55555", at=at(2026, 12, 8, 21, 59)).label == "contractor"
    assert pl.match("B55555", at=at(2026, 12, 8, 22)) is None
    assert pl.match("C77777", at=at(2030, 1, 1)).label == "resident"
    assert [m.list for m in match_lists([pl], "A12345", at=at(2026, 12, 7, 12))] == ["visitors"]
    with pytest.raises(ValueError, match=r"v.csv: line 2: valid_from: expected ISO 8601 .* got 'tomorrow'"):
        parse_list("plate,valid_from\nA1,tomorrow\n", "v.csv")
    with pytest.raises(ValueError, match=r"line 2: valid_until is not after valid_from"):
        parse_list("plate,valid_from,valid_until\nA1,2026-12-07T10:00,2026-12-07T09:00\n", "v.csv")
    with pytest.raises(ValueError, match=r"unknown time zone 'Mars/Base'"):
        parse_list("plate,valid_from\nA1,2026-12-07T10:00\n", "v.csv", tz="Mars/Base")


def test_cli_lists_check_and_match_know_validity(tmp_path):
    from typer.testing import CliRunner

    from plateforge.cli.app import app

    path = tmp_path / "visitors.csv"
    path.write_text("plate,valid_from,valid_until\nA 12345,2020-01-01,2020-01-02\nB 55555,2999-01-01,\nC 77777,,\n")
    r = CliRunner().invoke(app, ["lists", "check", str(path), "--tz", "UTC"])
    said = " ".join(r.output.split())
    assert r.exit_code == 0 and "3 plates" in said
    assert "1 plate(s) no longer valid" in said and "1 plate(s) not valid yet" in said
    r = CliRunner().invoke(app, ["lists", "match", str(path), "A12345"])
    assert r.exit_code == 1 and "no match" in r.output
    r = CliRunner().invoke(app, ["lists", "match", str(path), "A12345", "--at", "2020-01-01T12:00:00Z", "--tz", "UTC"])
    assert r.exit_code == 0 and "'edits': 0" in r.output


def test_list_files_take_a_visitor_and_let_them_go(tmp_path):
    from plateforge.runtime.list_files import remove_entries, upsert_entry

    path = tmp_path / "visitors.csv"
    path.write_text("# guests of the compound\nplate,region,label,valid_from,valid_until\nK 1,uae-dubai,old,,\n")
    entry, replaced = upsert_entry(path, "A 12345", "uae-dubai", "Villa 12 guest", "2026-12-07T09:00", "2026-12-07")
    assert not replaced and (entry.plate, entry.region, entry.label) == ("A 12345", "uae-dubai", "Villa 12 guest")
    assert entry.valid_until is not None and entry.valid_until - entry.valid_from == 15 * 3600
    entry, replaced = upsert_entry(path, "a12345", "uae-dubai", "moved in", None, None)  # same plate: replaced
    assert replaced and entry.label == "moved in" and entry.valid_until is None
    assert path.read_text().splitlines() == [
        "# guests of the compound",
        "plate,region,label,valid_from,valid_until",
        "K 1,uae-dubai,old,,",
        "a12345,uae-dubai,moved in,,",
    ]
    with pytest.raises(ValueError, match="valid_until is not after valid_from"):
        upsert_entry(path, "B 2", None, None, "2026-12-07T10:00", "2026-12-07T09:00")
    with pytest.raises(ValueError, match="has no letters or digits"):
        upsert_entry(path, "--")
    assert len(path.read_text().splitlines()) == 4  # refused edits leave the file as it was
    assert remove_entries(path, "A 12345") == 0  # no region: only entries without one
    assert remove_entries(path, "A-12345", "uae-dubai") == 1 and len(PlateList("v", path).entries) == 1
    plain = tmp_path / "stolen.txt"
    plain.write_text("X 1\n")
    upsert_entry(plain, "Y 22")
    assert plain.read_text() == "X 1\nY 22\n"
    with pytest.raises(ValueError, match="a plain list holds plates only; to give label"):
        upsert_entry(plain, "Z 3", label="red car")
    narrow = tmp_path / "residents.csv"
    narrow.write_text("plate,label\nA 1,x\n")
    with pytest.raises(ValueError, match="has no column for valid_until"):
        upsert_entry(narrow, "B 2", valid_until="2026-12-08")


def test_server_edits_a_list_the_stream_reads(tmp_path):
    from fastapi.testclient import TestClient

    from plateforge.server.app import create_app

    class NoReader:
        detector = corners = recognizer = None

    path = tmp_path / "visitors.csv"
    path.write_text("plate,region,label,valid_from,valid_until\n")
    watching = PlateList("visitors", path, reload_s=0.0, tz="Asia/Dubai")  # as a stream holds it
    served = PlateList("visitors", path, tz="Asia/Dubai")
    client = TestClient(create_app(NoReader(), lists=[served], api_key="k"))
    key = {"X-API-Key": "k"}
    body = {"plate": "A 12345", "region": "uae-dubai", "label": "guest", "valid_from": "2026-12-07T09:00",
            "valid_until": "2026-12-07T18:00"}  # fmt: skip
    r = client.post("/v1/lists/visitors", json=body, headers=key)
    assert r.status_code == 200 and r.json()["replaced"] is False and r.json()["entry"]["label"] == "guest"
    noon = 1796630400.0  # 2026-12-07T12:00+04:00
    assert served.match("A12345", "uae-dubai", at=noon).label == "guest"
    os.utime(path, (time.time() + 5, time.time() + 5))  # a later mtime, as a separate write would leave
    assert watching.match("A12345", "uae-dubai", at=noon).label == "guest"  # the stream's copy reloaded
    assert client.get("/v1/lists", headers=key).json() == {"visitors": {"path": str(path), "plates": 1}}
    assert client.get("/v1/lists/visitors", headers=key).json()["entries"][0]["valid_until"] == noon + 6 * 3600
    assert client.post("/v1/lists/visitors", json=body).status_code == 401
    bad = client.post("/v1/lists/visitors", json=body | {"valid_until": "soon"}, headers=key)
    assert bad.status_code == 422 and "expected ISO 8601" in bad.json()["error"]
    assert client.post("/v1/lists/visitors", json={"label": "x"}, headers=key).status_code == 400
    assert client.post("/v1/lists/visitors", json=body | {"colour": "red"}, headers=key).status_code == 400
    assert client.post("/v1/lists/watch", json=body, headers=key).status_code == 404
    r = client.delete("/v1/lists/visitors/A%2012345?region=uae-dubai", headers=key)
    assert r.status_code == 200 and r.json() == {"removed": 1} and served.entries == []
    assert client.delete("/v1/lists/visitors/A12345?region=uae-dubai", headers=key).status_code == 404


def _add_many(path: str, prefix: str) -> None:
    from plateforge.runtime.list_files import upsert_entry

    for i in range(15):
        upsert_entry(path, f"{prefix} {1000 + i}", label="guest")


def test_two_processes_editing_one_list_lose_nothing(tmp_path):
    import multiprocessing as mp

    path = tmp_path / "visitors.csv"
    path.write_text("plate,label\n")
    ctx = mp.get_context("spawn")
    procs = [ctx.Process(target=_add_many, args=(str(path), p)) for p in ("A", "B")]
    for p in procs:
        p.start()
    for p in procs:
        p.join(60)
    assert all(p.exitcode == 0 for p in procs)
    assert len(PlateList("v", path).entries) == 30
