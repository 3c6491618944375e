"""Video streams: tracker, voting, sources, outbox and the whole pipeline on a synthetic video."""

from __future__ import annotations

import itertools
import json
import threading
import time
import urllib.request
from dataclasses import replace
from pathlib import Path

import cv2
import numpy as np
import pytest

from plateforge.stream.events import direction, event_id
from plateforge.stream.outbox import Dispatcher, Outbox
from plateforge.stream.sources import FrameSource, SourceOptions
from plateforge.stream.tracker import PlateTracker, TrackerOptions, buffered_iou
from plateforge.stream.voting import TextVote
from plateforge.types import Detection, PlateResult
from tests.conftest import REGIONS_BEFORE_SA


def det(x, y, w=60, h=16, score=0.9):
    return Detection((x, y, x + w, y + h), (), score)


def read(text, conf=0.9, chars=None, region="uae-dubai"):
    chars = tuple(chars or [conf] * len(text))
    return PlateResult((0, 0, 1, 1), (), text, conf, chars, region, 0.9, 0.9)


# -- tracker ------------------------------------------------------------------------------------------------
def test_tracker_keeps_ids_through_gaps_low_scores_and_fast_motion():
    tr = PlateTracker(TrackerOptions(max_lost=3))
    ids = {}
    for f in range(30):
        # plate A moves 40 px per frame (more than half its width), plate B drifts and scores low at times
        dets = [det(20 + 40 * f, 100), det(900 - 5 * f, 400, score=0.3 if f % 3 else 0.8)]
        if f in (10, 11):  # A missed for two frames
            dets = dets[1:]
        matched, ended = tr.update(dets, f)
        assert not ended
        for track, i in matched:
            key = "A" if dets[i].box[1] == 100 else "B"
            ids.setdefault(key, set()).add(track.id)
    assert ids == {"A": {1}, "B": {2}}


def test_tracker_ends_lost_tracks_and_starts_new_ones():
    tr = PlateTracker(TrackerOptions(max_lost=2))
    tr.update([det(100, 100)], 0)
    tr.update([det(104, 100)], 1)
    ended = []
    for f in range(2, 6):
        ended += tr.update([], f)[1]
    assert [t.id for t in ended] == [1] and ended[0].hits == 2 and ended[0].last_frame == 1
    matched, _ = tr.update([det(500, 300)], 6)
    assert matched[0][0].id == 2
    # a low-score detection alone never starts a track
    tr2 = PlateTracker()
    assert tr2.update([det(10, 10, score=0.2)], 0) == ([], [])


def test_buffered_iou_links_a_small_plate_that_moved_its_own_width():
    a = np.array([[0, 0, 20, 10]], np.float32)
    b = np.array([[22, 0, 42, 10]], np.float32)  # no plain overlap
    assert buffered_iou(a, b, 0.0)[0, 0] == 0
    assert buffered_iou(a, b, 0.5)[0, 0] > 0.1


# -- voting and events ---------------------------------------------------------------------------------------
def test_vote_outvotes_one_wrong_character_and_ignores_empty_reads():
    v = TextVote()
    v.add(read("A12345", 0.9))
    v.add(read("A12845", 0.6, [0.9, 0.9, 0.9, 0.4, 0.9, 0.9]))  # one wrong, unsure character
    v.add(read("A12345", 0.8))
    v.add(read("", 0.1))
    v.add(read("A1234", 0.3))  # a short read of a minority length
    r = v.result()
    assert r.text == "A12345" and r.reads == 4 and r.agree == 2
    assert r.candidates[0][0] == "A12345"
    assert 0 < r.confidence <= max(c for c in r.char_confidences) <= 1
    assert TextVote().result() is None


def test_event_id_is_stable_and_direction_reads_motion():
    assert event_id("gate", 12, 0.48) == event_id("gate", 12, 0.48) != event_id("gate", 13, 0.48)
    assert direction((100, 100, 160, 116), (100, 300, 190, 324)) == ("down", "approaching")
    assert direction((500, 100, 560, 116), (100, 100, 160, 116)) == ("left", "steady")


# -- outbox --------------------------------------------------------------------------------------------------
def ev(i, camera="cam"):
    return {"event_id": f"id-{i}", "camera": camera, "text": f"T{i}"}


def test_outbox_stores_each_event_once_and_tracks_delivery_per_sink(tmp_path):
    ob = Outbox(tmp_path / "o.sqlite")
    ob.register_sink("a")
    assert ob.put(ev(1)) and ob.put(ev(2)) and not ob.put(ev(1))
    assert [e["event_id"] for _, e in ob.pending("a")] == ["id-1", "id-2"]
    seqs = [s for s, _ in ob.pending("a")]
    ob.mark_delivered("a", seqs[:1])
    assert ob.backlog("a") == 1
    ob.register_sink("b")  # a new sink gets new events only
    ob.put(ev(3))
    assert [e["event_id"] for _, e in ob.pending("b")] == ["id-3"]
    ob.close()
    again = Outbox(tmp_path / "o.sqlite")  # state survives reopening
    assert again.backlog("a") == 2 and len(again.events()) == 3
    # only id-1 is delivered everywhere it must go (sink b came later): undelivered events are never pruned
    assert again.prune(-1) == 1 and again.backlog("a") == 2
    again.mark_delivered("a", [s for s, _ in again.pending("a")])
    again.mark_delivered("b", [s for s, _ in again.pending("b")])
    assert again.prune(-1) == 2 and again.events() == []


def test_the_pruner_deletes_old_delivered_events_in_the_background(tmp_path):
    from plateforge.stream.outbox import Pruner

    ob = Outbox(tmp_path / "o.sqlite")
    ob.register_sink("a")
    for i in range(4):
        ob.put(ev(i))
    ob._con().execute("UPDATE events SET created = created - 40 * 86400 WHERE event_id IN ('id-0', 'id-1', 'id-2')")
    ob.mark_delivered("a", [s for s, e in ob.pending("a") if e["event_id"] != "id-2"])  # id-2 still owed
    pruner = Pruner(ob, keep_s=30 * 86400, every_s=0.05).start()
    deadline = time.monotonic() + 5
    while pruner.pruned < 2 and time.monotonic() < deadline:
        time.sleep(0.02)
    pruner.stop()
    assert pruner.pruned == 2 and [e["event_id"] for e in ob.events()] == ["id-2", "id-3"]
    with pytest.raises(ValueError, match="keep_days must be positive"):
        Pruner(ob, keep_s=0)


class FlakySink:
    name = "flaky"

    def __init__(self, fail_first: int):
        self.fail_first, self.calls, self.got = fail_first, 0, []

    def send(self, events):
        self.calls += 1
        if self.calls <= self.fail_first:
            raise ConnectionError("broker down")
        self.got += [e["event_id"] for e in events]


def test_dispatcher_retries_with_backoff_and_delivers_in_order(tmp_path):
    ob = Outbox(tmp_path / "o.sqlite")
    sink = FlakySink(fail_first=3)
    results = []
    d = Dispatcher(ob, sink, backoff_start=0.02, backoff_max=0.1, on_result=lambda *a: results.append(a)).start()
    for i in range(5):
        ob.put(ev(i))
        d.notify()
    assert d.drain(10)
    d.stop()
    assert sink.got == [f"id-{i}" for i in range(5)]
    assert d.failures == 3 and [r for r in results if r[2]][0][2].startswith("ConnectionError")
    assert results[-1][3] == 0  # backlog reported


# -- sources -------------------------------------------------------------------------------------------------
@pytest.fixture
def image_folder(tmp_path):
    folder = tmp_path / "seq"
    folder.mkdir()
    for i in range(12):
        cv2.imwrite(str(folder / f"{i:03d}.png"), np.full((24, 32, 3), i * 10, np.uint8))
    (folder / "005.png").write_bytes(b"not a png")
    return folder


def drain(src):
    src.start()
    out = []
    while not src.done:
        f = src.get(0.05)
        if f is not None:
            out.append(f)
    return out


def test_folder_source_samples_and_skips_unreadable_images(image_folder):
    frames = drain(FrameSource(str(image_folder), "cam", SourceOptions(every=2)))
    assert [f.index for f in frames] == [0, 2, 4, 6, 8, 10]
    src = FrameSource(str(image_folder), "cam", SourceOptions(max_fps=5, folder_fps=25))
    assert [f.index for f in drain(src)] == [0, 10]
    src = FrameSource(str(image_folder), "cam")
    frames = drain(src)
    assert 5 not in [f.index for f in frames] and src.bad_frames == 1 and len(frames) == 11
    assert frames[3].t == pytest.approx(3 / 25) and frames[0].image.shape == (24, 32, 3)


def test_realtime_source_drops_the_oldest_frames_instead_of_blocking(image_folder):
    src = FrameSource(str(image_folder), "cam", SourceOptions(queue_size=3, realtime=True)).start()
    assert src.finished.wait(5)  # capture never blocked on the full queue
    kept = [src.get(0).index for _ in range(3)]
    assert src.dropped == 11 - 3 and kept == [9, 10, 11]


def test_missing_source_names_the_path(tmp_path):
    with pytest.raises(FileNotFoundError, match="nope.mp4"):
        FrameSource(str(tmp_path / "nope.mp4"))


def test_live_source_reconnects_with_backoff():
    src = FrameSource("rtsp://127.0.0.1:9/none", "cam").start()  # nothing listens on port 9
    time.sleep(1.2)
    src.stop()
    assert src.live and src.reconnects >= 1 and src.captured == 0


# -- metrics -------------------------------------------------------------------------------------------------
def test_metrics_endpoint_serves_counts():
    from plateforge.stream.metrics import StreamMetrics
    from tests.brokers import free_port

    port = free_port()
    m = StreamMetrics(port, addr="127.0.0.1")

    class Source:  # what the capture thread of a live camera has counted so far
        camera, captured, dropped, reconnects = "gate", 10, 2, 0

    try:
        for _ in range(3):
            m.processed("gate")
        m.sink_result("kafka", 0, "down", 7)
        m.sync_sources([Source])
        Source.captured, Source.reconnects = 25, 1  # later: more frames, one reconnect
        m.sync_sources([Source])
        text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5).read().decode()
    finally:
        m.close()
    assert 'plateforge_frames_total{camera="gate",state="processed"} 3.0' in text
    assert 'plateforge_frames_total{camera="gate",state="captured"} 25.0' in text
    assert 'plateforge_frames_total{camera="gate",state="dropped"} 2.0' in text
    assert 'plateforge_reconnects_total{camera="gate"} 1.0' in text
    stamp = float(text.split('plateforge_last_frame_timestamp_seconds{camera="gate"} ')[1].split()[0])
    assert abs(stamp - time.time()) < 60
    assert 'plateforge_sink_backlog{sink="kafka"} 7.0' in text
    assert 'plateforge_sink_errors_total{sink="kafka"} 1.0' in text


# -- the whole pipeline on a synthetic video -----------------------------------------------------------------
@pytest.fixture(scope="module")
def video(tmp_path_factory):
    from plateforge.synth.video import VideoOptions, make_video

    out = tmp_path_factory.mktemp("video")
    make_video(
        out,
        VideoOptions(width=960, height=540, passes=6, seed=3, plate_height=(26, 48), regions=REGIONS_BEFORE_SA),
        overwrite=True,
    )
    return out


def test_video_ground_truth_is_consistent(video):
    from plateforge.synth.video import read_ground_truth

    frames, passes = read_ground_truth(video)
    cap = cv2.VideoCapture(str(video / "video.mp4"))
    assert int(cap.get(cv2.CAP_PROP_FRAME_COUNT)) == len(frames)
    assert all(p["first_visible"] >= 0 for p in passes) and len(passes) == 6
    assert any(not p["full"] for fr in frames for p in fr["plates"])  # plates entering and leaving are labelled
    for fr in frames:
        for p in fr["plates"]:
            x1, y1, x2, y2 = p["box"]
            assert 0 <= x1 < x2 <= 959 and 0 <= y1 < y2 <= 539
            if p["full"]:
                assert all(0 < x < 960 and 0 < y < 540 for x, y in p["corners"])


def test_video_signs_stand_on_the_background_and_leave_the_passes_alone(tmp_path):
    from plateforge.synth.video import VideoOptions, make_video, read_ground_truth

    opts = VideoOptions(width=480, height=270, passes=2, seed=5, plate_height=(20, 30))
    make_video(tmp_path / "plain", opts)
    make_video(tmp_path / "signs", replace(opts, signs=3))
    assert read_ground_truth(tmp_path / "plain") == read_ground_truth(tmp_path / "signs")
    first = [cv2.VideoCapture(str(tmp_path / v / "video.mp4")).read()[1] for v in ("plain", "signs")]
    assert np.abs(first[0].astype(int) - first[1].astype(int)).max() > 60  # painted signs, not codec noise


def test_video_exposure_smears_the_moving_plates_and_leaves_the_truth_alone(tmp_path):
    from plateforge.ops.geometry import quad_size, rectify
    from plateforge.synth.video import VideoOptions, make_video, read_ground_truth

    opts = VideoOptions(width=480, height=270, passes=2, seed=5, plate_height=(30, 40))
    make_video(tmp_path / "sharp", opts)
    make_video(tmp_path / "smeared", replace(opts, exposure=1.0))
    frames, _ = read_ground_truth(tmp_path / "sharp")
    assert read_ground_truth(tmp_path / "smeared") == (frames, read_ground_truth(tmp_path / "sharp")[1])
    caps = [cv2.VideoCapture(str(tmp_path / v / "video.mp4")) for v in ("sharp", "smeared")]
    detail = [[], []]
    for fr in frames:
        images = [c.read()[1] for c in caps]
        for p in fr["plates"]:
            if p["full"]:
                w, h = quad_size(p["corners"])
                for k, img in enumerate(images):
                    crop = rectify(img, np.array(p["corners"], np.float32), int(w), int(h))
                    detail[k].append(cv2.Laplacian(cv2.cvtColor(crop, cv2.COLOR_BGR2GRAY), cv2.CV_32F).var())
    assert np.median(detail[1]) < 0.5 * np.median(detail[0])  # the plates lost their edges


def test_video_vehicles_stand_still_halfway_for_stop_s(tmp_path):
    from plateforge.synth.video import VideoOptions, make_video, read_ground_truth

    opts = VideoOptions(width=480, height=270, passes=2, seed=5, plate_height=(20, 30), overlap=0.0)
    make_video(tmp_path / "moving", opts)
    make_video(tmp_path / "stopping", replace(opts, stop_s=1.0))
    (_, moving), (frames, stopping) = read_ground_truth(tmp_path / "moving"), read_ground_truth(tmp_path / "stopping")
    for a, b in zip(moving, stopping, strict=True):
        assert (b["text"], b["stop"], b["frames"]) == (a["text"], 25, a["frames"] + 25)
    boxes = [tuple(p["box"]) for fr in frames for p in fr["plates"] if p["pass"] == 0]
    still = max(sum(1 for _ in g) for _, g in itertools.groupby(boxes))
    assert still >= 25  # one second at 25 frames/s in the same place


def test_stream_gives_one_event_per_pass_and_votes_better_than_single_frames(video, tmp_path):
    from plateforge.eval.stream_eval import score_stream
    from plateforge.runtime.alpr import ALPR
    from plateforge.stream.pipeline import CameraProcessor, OcrOptions, run_stream
    from plateforge.synth.video import read_ground_truth

    frames, passes = read_ground_truth(video)
    alpr = ALPR(threads=1)
    reads = []
    proc = CameraProcessor("cam", alpr, on_read=lambda c, t, f, r: reads.append((t, f, r.text)))
    ob = Outbox(tmp_path / "o.sqlite")
    summary = run_stream([FrameSource(str(video / "video.mp4"), "cam")], {"cam": proc}, ob)
    events = ob.events()
    score = score_stream(events, frames, passes, reads, summary.tracked, summary.ocr_calls)
    assert summary.frames == len(frames) and summary.errors == 0
    assert score["one_event_rate"] >= 5 / 6 and score["unmatched_events"] == 0
    assert score["ocr_saved"] >= 0.7
    # voting, measured against every frame read alone (no throttling)
    every = []
    hook = lambda c, t, f, r: every.append((t, f, r.text))  # noqa: E731
    proc2 = CameraProcessor("cam", alpr, ocr=OcrOptions(always=True), on_read=hook)
    ob2 = Outbox(tmp_path / "o2.sqlite")
    s2 = run_stream([FrameSource(str(video / "video.mp4"), "cam")], {"cam": proc2}, ob2)
    score2 = score_stream(ob2.events(), frames, passes, every, s2.tracked, s2.ocr_calls)
    assert score2["ocr_saved"] == 0
    assert score2["voted_accuracy"] >= score2["single_frame_accuracy"]
    e = events[0]
    assert e["schema"] == "plateforge.plate_event/1" and e["best_crop_jpeg"] and e["dwell_s"] >= 0
    assert e["direction"] in ("up", "down", "left", "right") and e["first_seen"] <= e["last_seen"]


def test_cli_stream_prints_events_and_replays_idempotently(video, tmp_path):
    from typer.testing import CliRunner

    from plateforge.cli.app import app

    args = [
        "stream",
        str(video / "video.mp4"),
        "--camera",
        "gate",
        "--outbox",
        str(tmp_path / "o.sqlite"),
        "--sink",
        str(tmp_path / "events.jsonl"),
        "--every",
        "2",
        "--save-crops",
        str(tmp_path / "crops"),
        "--keep-days",
        "30",  # a pruner runs beside the stream; nothing is old enough to go
    ]
    r = CliRunner().invoke(app, args)
    assert r.exit_code == 0, r.output
    printed = [json.loads(line) for line in r.stdout.splitlines() if line.startswith("{")]
    assert printed and all(e["camera"] == "gate" and "best_crop_jpeg" not in e for e in printed)
    lines = (tmp_path / "events.jsonl").read_text().splitlines()
    assert [json.loads(x)["event_id"] for x in lines] == [e["event_id"] for e in printed]
    crops = sorted((tmp_path / "crops").glob("gate_*.jpg"))
    assert len(crops) == len(printed) and cv2.imread(str(crops[0])).shape[:2] == (48, 160)
    r2 = CliRunner().invoke(app, args)  # the same file again: same ids, nothing new stored or delivered
    assert r2.exit_code == 0 and "(0 new in" in r2.output
    assert len((tmp_path / "events.jsonl").read_text().splitlines()) == len(lines)


def test_cli_stream_with_a_zone_reads_only_plates_inside_it_and_shows_the_zone(video, tmp_path):
    from typer.testing import CliRunner

    from plateforge.cli.app import app
    from plateforge.synth.video import read_ground_truth

    frames, _ = read_ground_truth(video)
    inside = {p["pass"] for fr in frames for p in fr["plates"] if p["full"] and (p["box"][0] + p["box"][2]) / 2 < 480}
    args = ["stream", str(video / "video.mp4"), "--camera", "left", "--zone", "0,0 0.5,0 0.5,1 0,1", "--quiet"]
    args += ["--outbox", str(tmp_path / "o.sqlite"), "--snapshot", str(tmp_path / "snap"), "--threads", "1"]
    r = CliRunner().invoke(app, args)
    assert r.exit_code == 0, r.output
    assert "detections outside zones" in r.output
    events = Outbox(tmp_path / "o.sqlite").events()
    assert events and all((e["best"]["box"][0] + e["best"]["box"][2]) / 2 <= 480 for e in events)
    assert len(events) <= len(inside) < 6  # some passes never enter the left half
    snap = cv2.imread(str(tmp_path / "snap" / "left_first_frame.jpg"))
    raw = cv2.VideoCapture(str(video / "video.mp4")).read()[1]
    diff = np.abs(snap.astype(int) - raw.astype(int)).max(axis=2) > 80  # the zone's outline, not JPEG noise
    assert diff[:, 470:490].sum() > 300 and diff[:, 600:].sum() == 0


def load_site_config_text(path, text):
    from plateforge.stream.config import load_site_config

    path.write_text(text)
    return load_site_config(path)


def test_site_config_errors_name_section_and_key(tmp_path):
    from plateforge.stream.config import load_site_config

    p = tmp_path / "site.yaml"
    p.write_text("cameras:\n  - {id: a, source: x.mp4, fps: 3}\n")
    with pytest.raises(ValueError, match=r"cameras\[0\]: unknown key\(s\) \['fps'\]"):
        load_site_config(p)
    p.write_text("trackr: {}\n")
    with pytest.raises(ValueError, match="unknown section"):
        load_site_config(p)
    p.write_text("reader: {regions: uae}\n")  # a scalar where a list belongs is named, with the fix
    with pytest.raises(ValueError, match=r"reader.regions: expected a list, got 'uae' \(write \[uae\]"):
        load_site_config(p)
    assert load_site_config_text(p, "reader: {regions: [uae, eu-de]}\n").reader.regions == ["uae", "eu-de"]
    p.write_text("cameras:\n  - {source: x.mp4}\n")  # no id: an error naming the camera, not a TypeError
    with pytest.raises(ValueError, match=r"cameras\[0\]: .*'id'"):
        load_site_config(p)
    p.write_text(
        "cameras:\n  - {id: a, source: x.mp4, every: 2}\nocr: {every: 7}\nsinks: [{type: jsonl, path: e.jsonl}]\n"
    )
    cfg = load_site_config(p)
    assert cfg.cameras[0].every == 2 and cfg.ocr.every == 7 and cfg.sinks[0]["type"] == "jsonl"
    p.write_text("cameras:\n  - {id: a, source: x.mp4}\nreader: {small_below: 0, threads: 1}\n")
    from plateforge.stream.config import make_alpr

    assert make_alpr(load_site_config(p).reader).small_below == 0  # the small-plate specialist off


@pytest.mark.parametrize("name", ["site.example.yaml", "site.gate.yaml"])
def test_the_example_site_configs_load(name):
    from plateforge.runtime.zone import Zone
    from plateforge.stream.config import load_site_config

    cfg = load_site_config(Path(__file__).resolve().parents[1] / "configs" / name)
    assert cfg.cameras and all(c.zone is None or Zone(c.zone).fractions for c in cfg.cameras)
    if name == "site.gate.yaml":
        assert cfg.events.max_delay_s == 2.0 and [pl.name for pl in cfg.lists] == ["residents", "watch", "visitors"]
        assert cfg.lists[2].tz == "Asia/Dubai"
        assert [s.get("only_lists") for s in cfg.sinks] == [["residents", "visitors"], ["watch"], None]


def test_site_config_zones_load_and_a_bad_one_is_named_before_anything_starts(tmp_path):
    from plateforge.stream.app import run_site

    cfg = load_site_config_text(
        tmp_path / "site.yaml",
        "cameras:\n  - {id: gate, source: gate.mp4, zone: [[0, 0.4], [1, 0.4], [1, 1], [0, 1]]}\n",
    )
    assert cfg.cameras[0].zone == [[0, 0.4], [1, 0.4], [1, 1], [0, 1]]
    named = load_site_config_text(
        tmp_path / "lanes.yaml",
        "cameras:\n  - {id: gate, source: gate.mp4, zones: "
        "{entry: [[0, 0], [0.5, 0], [0.5, 1]], exit: [[0.5, 0], [1, 0], [1, 1]]}}\n",
    )
    assert [z.name for z in named.cameras[0].make_zones()] == ["entry", "exit"]
    both = load_site_config_text(
        tmp_path / "both.yaml",
        "cameras:\n  - {id: gate, source: a.mp4, zone: [[0, 0], [1, 0], [1, 1]], "
        "zones: {x: [[0, 0], [1, 0], [1, 1]]}}\n",
    )
    with pytest.raises(ValueError, match="camera gate: give zone or zones, not both"):
        run_site(both)
    bad = load_site_config_text(
        tmp_path / "bad.yaml", "cameras:\n  - {id: gate, source: gate.mp4, zone: [[0, 0], [1, 1]]}\n"
    )
    with pytest.raises(ValueError, match=r"camera gate: zone: expected at least 3 points"):
        run_site(bad)


def test_bad_frame_never_stops_the_stream(video, tmp_path):
    from plateforge.stream.pipeline import CameraProcessor, run_stream

    class Boom:
        def __init__(self, alpr):
            self.alpr, self.n = alpr, 0
            self.detector = self

        def detect(self, img):
            self.n += 1
            if self.n == 3:
                raise RuntimeError("corrupt frame")
            return []

    proc = CameraProcessor("cam", Boom(None))
    s = run_stream([FrameSource(str(video / "video.mp4"), "cam", SourceOptions(every=10))], {"cam": proc})
    assert s.errors == 1 and s.frames == proc.frames and s.captured == proc.frames + 1


def test_stop_event_ends_a_run(video):
    from plateforge.stream.pipeline import CameraProcessor, run_stream

    class Slow:
        detector = None

        def detect(self, img):
            time.sleep(0.05)
            return []

    slow = Slow()
    slow.detector = slow
    stop = threading.Event()
    threading.Timer(0.3, stop.set).start()
    t = time.monotonic()
    s = run_stream([FrameSource(str(video / "video.mp4"), "cam")], {"cam": CameraProcessor("cam", slow)}, stop=stop)
    assert time.monotonic() - t < 5 and 0 < s.frames < 100


def test_looped_folder_runs_on_with_its_clock(image_folder):
    src = FrameSource(str(image_folder), "cam", SourceOptions(loop=True, queue_size=4)).start()
    idx = []
    while len(idx) < 30:
        f = src.get(1.0)
        assert f is not None
        idx.append(f.index)
    src.stop()
    assert idx[:12] == [0, 1, 2, 3, 4, 6, 7, 8, 9, 10, 11, 12] and idx == sorted(idx)


class ScriptedReader:
    """An ALPR stand-in: detections per frame index from a script, every read gives the plate's text (and its
    plate check score from ``plate_scores`` and pattern check from ``valid``, by text); ALPR's own rule decides
    which reads the plate check lets through."""

    def __init__(self, script, plate_scores=None, plate_check=None, plate_check_sure=None, valid=None):
        from plateforge.runtime.alpr import ALPR

        self.script, self.detector = script, self
        self.plate_scores, self.plate_check, self.plate_check_sure = plate_scores or {}, plate_check, plate_check_sure
        self.valid = valid or {}
        self.recognizer, self.plate_check_grey = None, None  # no grey network: one cut for every frame
        self.is_plate, self.plate_cut = ALPR.is_plate.__get__(self), ALPR.plate_cut.__get__(self)
        self._frame = 0

    def detect(self, img):
        return [Detection(box, (), 0.9) for box, _ in self.script.get(int(img[0, 0, 0]), [])]

    def read_detections(self, img, dets):
        texts = dict(self.script[int(img[0, 0, 0])])
        reads = [
            PlateResult(
                d.box,
                ((0, 0),) * 4,
                texts[d.box],
                0.95,
                (0.95,) * len(texts[d.box]),
                "ch-zh",
                0.9,
                0.9,
                format_ok=self.valid.get(texts[d.box]),
                plate_score=self.plate_scores.get(texts[d.box]),
            )
            for d in dets
        ]
        return reads, [np.zeros((8, 16, 3), np.uint8)] * len(dets)


def frames_of(n, fps=25.0):
    from plateforge.stream.sources import Frame

    for i in range(n):
        img = np.zeros((100, 200, 3), np.uint8)
        img[0, 0, 0] = i
        yield Frame("cam", i, i / fps, 1.7e9 + i / fps, img)


@pytest.mark.parametrize("merge_s, events", [(1.5, 1), (0.0, 2)])
def test_a_plate_hidden_for_a_moment_gives_one_event(merge_s, events):
    from plateforge.stream.pipeline import CameraProcessor, EventOptions

    # frames 0-9 and 30-39: the same plate, hidden for 20 frames (0.8 s) in between, and moved meanwhile
    script = {i: [((10.0 + i, 40.0, 60.0 + i, 52.0), "ZH12345")] for i in range(10)}
    script |= {i: [((120.0, 40.0, 170.0, 52.0), "ZH12345")] for i in range(30, 40)}
    proc = CameraProcessor("cam", ScriptedReader(script), events=EventOptions(merge_s=merge_s))
    out = []
    for f in frames_of(80):
        out += proc.process(f)
    out += proc.finish()
    assert len(out) == events
    assert out[0].text == "ZH12345" and out[0].first_frame == 0
    if events == 1:
        assert out[0].last_frame == 39 and out[0].frames == 20 and out[0].dwell_s == pytest.approx(39 / 25)


def test_short_plates_one_character_apart_are_two_passes():
    """A UAE car (31) leaves the view and another (A1) enters within the merge window: one edit apart, but
    half of a two-character plate, so two passes; a hidden 7-character plate read one character off still
    continues its pass, and 0/O-style confusions are free at any length."""
    from plateforge.stream.pipeline import CameraProcessor, same_plate

    assert not same_plate("31", "A1", 1) and same_plate("B0", "BO", 1) and same_plate("A1234", "A123", 1)
    assert same_plate("ZH12345", "ZH12346", 1) and not same_plate("ZH12345", "ZH12356", 0)
    from plateforge.stream.pipeline import one_plate
    from plateforge.stream.voting import VotedText

    def vote(text, *others):
        return VotedText(text, 0.9, (), "uae-abudhabi", 1.0, True, 3, 2, ((text, 2.0), *((t, 0.5) for t in others)))

    assert one_plate(vote("1642"), vote("42", "1642"), 1)  # leaving the view, read in part: still the pass
    assert one_plate(vote("42", "1642"), vote("1642"), 1) and not one_plate(vote("1642"), vote("42", "B2"), 1)
    script = {i: [((10.0, 40.0 + i, 60.0, 52.0 + i), "31")] for i in range(10)}
    script |= {i: [((120.0, 90.0 - i, 170.0, 102.0 - i), "A1")] for i in range(20, 30)}
    assert sorted(e.text for _, e in _events(CameraProcessor("cam", ScriptedReader(script)), 80)) == ["31", "A1"]


def test_two_plates_first_seen_in_one_frame_are_two_passes_in_the_outbox(tmp_path):
    """Two vehicles side by side enter the view in the same frame: their events must not share an id (the
    outbox stores an id once, so one pass would be lost), and reading the same frames again gives the same ids."""
    from plateforge.stream.outbox import Outbox
    from plateforge.stream.pipeline import CameraProcessor

    script = {i: [((10.0, 40.0, 60.0, 52.0), "ZH12345"), ((120.0, 40.0, 170.0, 52.0), "BE777")] for i in range(10)}
    runs = [[e for _, e in _events(CameraProcessor("cam", ScriptedReader(script)), 60)] for _ in range(2)]
    assert sorted(e.text for e in runs[0]) == ["BE777", "ZH12345"] and runs[0][0].first_frame == runs[0][1].first_frame
    ids = [e.event_id for e in runs[0]]
    assert len(set(ids)) == 2 and ids == [e.event_id for e in runs[1]]  # distinct, and idempotent
    box = Outbox(tmp_path / "o.sqlite")
    assert [box.put(e.to_dict()) for e in runs[0] + runs[1]] == [True, True, False, False]


def _events(proc, frames: int, fps: float = 25.0) -> list[tuple[int, object]]:
    """(frame index at which it came out, event) for every event of ``frames`` scripted frames."""
    out = []
    for f in frames_of(frames, fps):
        out += [(f.index, e) for e in proc.process(f)]
    return out + [(frames, e) for e in proc.finish()]


def test_a_vehicle_waiting_at_a_barrier_is_sent_while_in_view():
    """Without max_delay_s the event waits for the vehicle to leave; with it, the event goes out as soon as
    two reads agree (frame 6), once, and the rest of the pass makes no second event."""
    from plateforge.stream.pipeline import CameraProcessor, EventOptions

    script = {i: [((40.0, 40.0, 90.0, 52.0), "ZH12345")] for i in range(200)}  # 8 s in front of the camera
    late = _events(CameraProcessor("cam", ScriptedReader(script)), 250)
    assert [(e.in_view, e.last_frame) for _, e in late] == [(False, 199)] and late[0][0] > 199  # after it left
    proc = CameraProcessor("cam", ScriptedReader(script), events=EventOptions(max_delay_s=3.0))
    early = _events(proc, 250)
    assert [(f, e.text, e.in_view, e.first_frame, e.last_frame, e.frames) for f, e in early] == [
        (6, "ZH12345", True, 0, 6, 7)
    ]
    assert early[0][1].to_dict()["in_view"] is True and early[0][1].event_id == late[0][1].event_id


def test_an_unsettled_pass_is_sent_after_max_delay_s():
    from plateforge.stream.pipeline import CameraProcessor, EventOptions, OcrOptions

    script = {i: [((40.0, 40.0, 90.0, 52.0), "ZH12345")] for i in range(200)}
    proc = CameraProcessor(
        "cam", ScriptedReader(script), ocr=OcrOptions(settle_reads=99), events=EventOptions(max_delay_s=2.0)
    )
    assert [(f, e.in_view) for f, e in _events(proc, 250)] == [(50, True)]  # 2 s at 25 frames/s


def test_a_pass_sent_early_stays_one_event_when_its_plate_is_hidden_and_back():
    from plateforge.stream.pipeline import CameraProcessor, EventOptions, OcrOptions

    # hidden for 20 frames (0.8 s < merge_s) after it was sent: the second track continues the pass
    script = {i: [((10.0 + i, 40.0, 60.0 + i, 52.0), "ZH12345")] for i in range(30)}
    script |= {i: [((120.0, 40.0, 170.0, 52.0), "ZH12345")] for i in range(50, 120)}
    proc = CameraProcessor("cam", ScriptedReader(script), events=EventOptions(max_delay_s=3.0))
    assert [(f, e.first_frame) for f, e in _events(proc, 200)] == [(6, 0)]
    # hidden before it settled: the second track sends the whole pass, from the first track's first frame
    script = {i: [((10.0 + i, 40.0, 60.0 + i, 52.0), "ZH12345")] for i in range(4)}
    script |= {i: [((120.0, 40.0, 170.0, 52.0), "ZH12345")] for i in range(20, 120)}
    proc = CameraProcessor("cam", ScriptedReader(script), ocr=OcrOptions(every=5), events=EventOptions(max_delay_s=3.0))
    assert [(f, e.first_frame, e.frames, e.in_view) for f, e in _events(proc, 200)] == [(25, 0, 10, True)]


def test_zones_take_pixels_or_fractions_and_name_bad_points():
    from plateforge.runtime.zone import Zone, parse_zone

    lane = Zone([[0, 0.5], [0.5, 0.5], [0.5, 1], [0, 1]])  # the bottom-left quarter, any resolution
    assert (
        lane.fractions and lane.contains((10, 60, 50, 70), (100, 200)) and lane.contains((90, 90, 110, 95), (100, 200))
    )
    assert not lane.contains((10, 10, 50, 20), (100, 200))  # above
    assert lane.contains((900, 900, 950, 920), (1080, 1920))  # the same quarter of a bigger frame
    px = Zone(parse_zone("0,50 100,50 100,100 0,100"))
    assert (
        not px.fractions
        and px.contains((10, 60, 50, 70), (100, 200))
        and not px.contains((150, 60, 190, 70), (100, 200))
    )
    for bad in ([[0, 0], [1, 1]], [[0, 0], [1, 1], [-1, 0]], [[0, 0, 1], [1, 1, 1], [0, 1, 1]]):
        with pytest.raises(ValueError, match="camera gate: zone"):
            Zone(bad, "camera gate: zone")
    with pytest.raises(ValueError, match="expected points 'x,y x,y x,y"):
        parse_zone("0,0 1,1,1 0,1")


def test_plates_outside_the_zone_make_no_track_and_no_event():
    from plateforge.runtime.zone import Zone
    from plateforge.stream.pipeline import CameraProcessor

    # the frames are 200 px wide: ZH12345 drives in the left half, GR4711 in the right
    script = {i: [((10.0, 40.0, 60.0, 52.0), "ZH12345"), ((120.0, 40.0, 170.0, 52.0), "GR4711")] for i in range(20)}
    lane = [Zone([[0, 0], [0.5, 0], [0.5, 1], [0, 1]])]  # the stand-in detector ignores the window: whole frames
    proc = CameraProcessor("cam", ScriptedReader(script), zones=lane, crop_to_zones=False)
    (_, e), *rest = _events(proc, 40)
    assert not rest and e.text == "ZH12345" and e.zone is None and e.to_dict()["zone"] is None
    assert proc.outside == 20 and proc.detections == 20
    # two named lanes of one view: both plates count, each event names its lane
    lanes = [
        Zone([[0, 0], [0.5, 0], [0.5, 1], [0, 1]], name="entry"),
        Zone([[0.5, 0], [1, 0], [1, 1], [0.5, 1]], name="exit"),
    ]
    proc = CameraProcessor("cam", ScriptedReader(script), zones=lanes)
    assert sorted((e.text, e.zone) for _, e in _events(proc, 40)) == [("GR4711", "exit"), ("ZH12345", "entry")]


def test_each_event_keeps_the_frame_where_its_plate_was_largest(tmp_path):
    from plateforge.stream.events import frame_file, prune_frames
    from plateforge.stream.pipeline import CameraProcessor, EventOptions

    # an approaching plate: 8 px tall at first, 27 px at frame 19
    script = {i: [((40.0, 40.0, 90.0 + 2 * i, 48.0 + i), "ZH12345")] for i in range(20)}
    frames = tmp_path / "frames"
    proc = CameraProcessor("gate 1", ScriptedReader(script), events=EventOptions(frames_dir=str(frames)))
    (_, e), *rest = _events(proc, 40)
    assert not rest and e.frame_path == str(frame_file(frames, "gate 1", 1.7e9, e.event_id))
    assert Path(e.frame_path).parent.parent.name == "gate_1" and Path(e.frame_path).parent.name == "2023-11-14"
    img = cv2.imread(e.frame_path)
    assert img.shape == (100, 200, 3) and img[67, 40:128, 1].mean() > 100  # frame 19's box (green), drawn on black
    assert e.to_dict()["frame_path"] == e.frame_path
    # sent while in view (frame 3), the file shows frame 3; when the pass ends, it is written again larger
    proc = CameraProcessor(
        "gate", ScriptedReader(script), events=EventOptions(frames_dir=str(tmp_path / "early"), max_delay_s=2.0)
    )
    out, early = [], None
    for f in frames_of(40):
        out += proc.process(f)
        if out and early is None:
            early = (f.index, cv2.imread(out[0].frame_path)[67, 40:128, 1].mean())
    assert early[0] == 3 and early[1] < 20  # sent at frame 3 (two reads agree), its box not yet that low
    out += proc.finish()
    assert len(out) == 1 and out[0].in_view and cv2.imread(out[0].frame_path)[67, 40:128, 1].mean() > 100
    # retention: a day folder goes once the whole day is older than keep_s
    day_end = 1.7e9 - 1.7e9 % 86400 + 86400
    assert prune_frames(frames, keep_s=3600, now=day_end + 1800) == 0 and Path(e.frame_path).exists()
    assert prune_frames(frames, keep_s=3600, now=day_end + 7200) == 1 and not Path(e.frame_path).exists()


@pytest.mark.parametrize("plate_check, texts", [(0.05, ["ZH12345"]), (None, ["ZH12345", "EXIT"])])
def test_a_tracked_sign_the_plate_check_rejects_makes_no_event(plate_check, texts):
    """The sign leaves view first, so the plate's track ends while the sign's (no votes) is held."""
    script = {
        i: [((10.0, 40.0, 60.0, 52.0), "ZH12345")] + [((120.0, 10.0, 180.0, 30.0), "EXIT")] * (i < 8) for i in range(20)
    }
    reader = ScriptedReader(script, plate_scores={"ZH12345": 0.97, "EXIT": 0.01}, plate_check=plate_check)
    assert sorted(_event_texts(reader, 40)) == sorted(texts)


@pytest.mark.parametrize("sure, texts", [(0.3, ["ZH12345", "GR4711"]), (None, ["ZH12345", "GR4711", "EXIT"])])
def test_an_unsure_plate_check_needs_a_valid_read_to_make_an_event(sure, texts):
    """Scored between plate_check and plate_check_sure, a read votes only when it fits its region's patterns."""
    script = {
        i: [((10.0, 40.0, 60.0, 52.0), "ZH12345"), ((70.0, 40.0, 110.0, 52.0), "GR4711")]
        + [((120.0, 10.0, 180.0, 30.0), "EXIT")] * (i < 8)
        for i in range(20)
    }
    reader = ScriptedReader(
        script,
        plate_scores={"ZH12345": 0.97, "GR4711": 0.2, "EXIT": 0.2},
        plate_check=0.05,
        plate_check_sure=sure,
        valid={"ZH12345": True, "GR4711": True, "EXIT": False},
    )
    assert sorted(_event_texts(reader, 40)) == sorted(texts)


def _event_texts(reader, frames: int) -> list[str]:
    """The texts of the events one camera gives for ``frames`` scripted frames."""
    from plateforge.stream.pipeline import CameraProcessor

    proc = CameraProcessor("cam", reader)
    out = []
    for f in frames_of(frames):
        out += proc.process(f)
    return [e.text for e in out + proc.finish()]


# -- optional vehicle stage ----------------------------------------------------------------------------------
def _vehicle_model(tmp_path, rows):
    """An Ultralytics-shaped COCO detector (64 × 64 input, 80 classes) that always outputs ``rows``:
    (cx, cy, w, h in input pixels, class id, score)."""
    from tests.test_foreign_models import _constant_model

    out = np.zeros((1, 84, 20), np.float32)
    for j, (cx, cy, w, h, c, s) in enumerate(rows):
        out[0, :4, j] = [cx, cy, w, h]
        out[0, 4 + c, j] = s
    return _constant_model(tmp_path / "yolo_coco.onnx", out, [1, 3, 64, 64])


def test_vehicle_detector_keeps_vehicle_classes_only(tmp_path):
    from plateforge.runtime.vehicles import VehicleDetector

    # on a 640 × 320 image (scale 0.1, 16 px padding): a car, a person, a truck
    path = _vehicle_model(tmp_path, [(20, 30, 20, 16, 2, 0.9), (40, 30, 10, 20, 0, 0.95), (50, 30, 16, 16, 7, 0.6)])
    vd = VehicleDetector(path, threads=1)
    found = vd.detect(np.zeros((320, 640, 3), np.uint8))
    assert [v.label for v in found] == ["car", "truck"]
    np.testing.assert_allclose(found[0].box, [100, 60, 300, 220], atol=0.5)
    assert [
        v.label for v in VehicleDetector(path, classes=[0], threads=1).detect(np.zeros((320, 640, 3), np.uint8))
    ] == ["0"]
    with pytest.raises(FileNotFoundError, match="vehicle model not found"):
        VehicleDetector(tmp_path / "missing.onnx")


def test_plates_are_searched_inside_vehicles_and_mapped_back(video):
    from plateforge.runtime.detector import PlateDetector
    from plateforge.runtime.vehicles import Vehicle, plates_in_vehicles
    from plateforge.synth.video import read_ground_truth

    frames, _ = read_ground_truth(video)
    k = next(i for i, f in enumerate(frames) if f["plates"] and f["plates"][0]["full"])
    cap = cv2.VideoCapture(str(video / "video.mp4"))
    cap.set(cv2.CAP_PROP_POS_FRAMES, k)
    ok, img = cap.read()
    gt = frames[k]["plates"][0]["box"]
    pw, ph = gt[2] - gt[0], gt[3] - gt[1]
    around = Vehicle((gt[0] - 1.5 * pw, gt[1] - 4 * ph, gt[2] + 1.5 * pw, gt[3] + ph), 0.9, 2, "car")
    elsewhere = Vehicle((0, 0, 40, 40), 0.8, 7, "truck")
    found = plates_in_vehicles(PlateDetector(threads=1), img, [elsewhere, around])
    assert len(found) >= 1 and all(vi == 1 for _, vi in found)
    from plateforge.ops.boxes import box_iou

    assert box_iou(np.array([found[0][0].box]), np.array([gt]))[0, 0] > 0.6


def test_events_name_their_vehicle(video, tmp_path):
    from plateforge.runtime.alpr import ALPR
    from plateforge.runtime.vehicles import VehicleDetector
    from plateforge.stream.pipeline import CameraProcessor, run_stream

    everything = VehicleDetector(_vehicle_model(tmp_path, [(32, 32, 64, 36, 2, 0.9)]), threads=1)
    proc = CameraProcessor("cam", ALPR(threads=1), vehicles=everything)
    events = []
    run_stream(
        [FrameSource(str(video / "video.mp4"), "cam", SourceOptions(every=2))], {"cam": proc}, on_event=events.append
    )
    assert events and all(e.vehicle["label"] == "car" and len(e.vehicle["box"]) == 4 for e in events)


def test_stream_urls_keep_passwords_out_of_names_and_logs():
    from plateforge.stream.sources import _redact

    src = FrameSource("rtsp://admin:s3cret@10.0.0.7:554/main", options=SourceOptions())
    assert src.camera == "10.0.0.7:554" and "s3cret" not in src.name and src.live
    assert _redact("/videos/a.mp4") == "/videos/a.mp4"


def test_quantize_calibrates_the_detector_on_video_frames(video, tmp_path):
    """Calibration takes the frames ``plateforge data calib`` picks: up to n, spread over the video, near-still
    frames (an empty road between two cars) skipped."""
    from plateforge.data.calib import CalibOptions, build_calibration_set
    from plateforge.export.quantize import quantize_model
    from plateforge.runtime.detector import PlateDetector
    from plateforge.runtime.session import bundled_model

    r = quantize_model(bundled_model("detector.onnx"), tmp_path / "det_s8.onnx", "static", video / "video.mp4", 12)
    picked = build_calibration_set([video / "video.mp4"], tmp_path / "calib", CalibOptions(n=12))
    assert r["calibration_images"] == len(picked) and 9 <= len(picked) <= 12
    assert r["size_mb"] < r["fp32_size_mb"]
    import onnx

    from plateforge.synth.video import read_ground_truth
    from tests.test_float_entry import entry_conv_is_float

    assert entry_conv_is_float(onnx.load(str(tmp_path / "det_s8.onnx")))  # the stem on the image in float

    frames, _ = read_ground_truth(video)
    k = max(range(len(frames)), key=lambda i: sum(p["box"][3] - p["box"][1] for p in frames[i]["plates"] if p["full"]))
    cap = cv2.VideoCapture(str(video / "video.mp4"))
    cap.set(cv2.CAP_PROP_POS_FRAMES, k)
    img = cap.read()[1]
    fp32 = PlateDetector(threads=1).detect(img)
    int8 = PlateDetector(tmp_path / "det_s8.onnx", threads=1).detect(img)
    assert len(int8) == len(fp32) >= 1


def test_data_corners_fills_box_only_plates_with_the_corner_model(tmp_path):
    import dataclasses

    from plateforge.data.corners import add_corners
    from plateforge.data.manifest import ImageRecord, write_manifest
    from plateforge.specs import select_regions
    from plateforge.synth.scene import SceneOptions, compose_scene

    records, truth = [], []
    for i in range(6):
        scene = compose_scene(select_regions("eu"), np.random.default_rng(i), SceneOptions(plate_height=(30, 60)))
        path = tmp_path / f"s{i}.png"
        cv2.imwrite(str(path), scene.image)
        plates = tuple(dataclasses.replace(p, corners=None) for p in scene.plates)
        records.append(ImageRecord(str(path), 640, 480, plates))
        truth += [np.array(p.corners) for p in scene.plates]
    write_manifest(records, tmp_path / "boxes.jsonl")
    filled_records, filled = add_corners(tmp_path / "boxes.jsonl")
    assert filled == len(truth) > 0
    got = [np.array(p.corners) for r in filled_records for p in r.plates]
    heights = [t[:, 1].max() - t[:, 1].min() for t in truth]
    errors = [np.abs(g - t).mean() / h for g, t, h in zip(got, truth, heights, strict=True)]
    assert float(np.median(errors)) < 0.1  # corners within a tenth of the plate height


def test_data_corners_clips_corners_beyond_the_image_edge(tmp_path):
    """A plate cut by the frame edge: the corner model may put a corner outside the image; the filled manifest
    keeps it on the edge, so it can be written and read back (it was rejected as out of the image)."""
    from plateforge.data.corners import add_corners
    from plateforge.data.manifest import ImageRecord, PlateLabel, read_manifest, write_manifest

    class Outward:  # a corner model that overshoots by 5 px on every side
        def refine(self, image, boxes):
            x1, y1, x2, y2 = boxes[0]
            return np.array([[[x1 - 5, y1 - 5], [x2 + 5, y1 - 5], [x2 + 5, y2 + 5], [x1 - 5, y2 + 5]]], np.float32)

    path = tmp_path / "edge.png"
    cv2.imwrite(str(path), np.zeros((100, 200, 3), np.uint8))
    write_manifest(
        [ImageRecord(str(path), 200, 100, (PlateLabel((150, 70, 200, 100), text="AB123"),))], tmp_path / "b.jsonl"
    )
    records, filled = add_corners(tmp_path / "b.jsonl", model=Outward())
    write_manifest(records, tmp_path / "c.jsonl")
    (rec,) = read_manifest(tmp_path / "c.jsonl")
    assert filled == 1 and rec.plates[0].corners == ((145, 65), (200, 65), (200, 100), (145, 100))


def test_http_camera_drops_oldest_frames_and_reconnects_after_an_outage():
    from tests.brokers import free_port, start_mjpeg_camera

    port = free_port()
    cam = start_mjpeg_camera(port)
    src = FrameSource(f"http://127.0.0.1:{port}/stream.mjpg", "cam", SourceOptions(queue_size=4)).start()
    try:
        time.sleep(1.5)  # nobody takes frames: capture goes on, the oldest are dropped
        assert src.live and src.dropped > 0 and src.queue.qsize() == 4
        first = src.get(1.0)
        assert first is not None and first.image.shape == (120, 160, 3)
        cam.kill()
        cam.wait()
        time.sleep(1.0)
        while src.get(0) is not None:  # empty what was captured before the outage
            pass
        before = src.captured
        cam = start_mjpeg_camera(port)
        end = time.monotonic() + 20
        while src.captured <= before and time.monotonic() < end:
            time.sleep(0.1)
        assert src.captured > before and src.reconnects >= 1
    finally:
        src.stop()
        cam.kill()


def test_several_sources_run_in_one_process(video, image_folder, tmp_path):
    from plateforge.runtime.alpr import ALPR
    from plateforge.stream.pipeline import CameraProcessor, run_stream

    alpr = ALPR(threads=1)
    sources = [
        FrameSource(str(video / "video.mp4"), "gate-a", SourceOptions(every=2)),
        FrameSource(str(image_folder), "lobby"),
    ]
    procs = {s.camera: CameraProcessor(s.camera, alpr) for s in sources}
    ob = Outbox(tmp_path / "o.sqlite")
    s = run_stream(sources, procs, ob)
    assert procs["lobby"].frames == 11 and procs["gate-a"].frames == s.frames - 11
    assert ob.events("gate-a") and not ob.events("lobby")  # the folder of flat grey images has no plates


def test_cli_stream_errors_name_the_bad_input(tmp_path):
    from typer.testing import CliRunner

    from plateforge.cli.app import app

    r = CliRunner().invoke(app, ["stream", str(tmp_path / "nope.mp4"), "--outbox", str(tmp_path / "o.sqlite")])
    assert r.exit_code == 2 and "nope.mp4: no such video file" in r.output
    r = CliRunner().invoke(app, ["stream", "--outbox", str(tmp_path / "o.sqlite")])
    assert r.exit_code == 2 and "no sources" in r.output


def test_an_event_that_cannot_be_stored_is_retried_then_stops_the_run():
    from plateforge.stream.pipeline import _store

    class Flaky:
        path = "flaky.sqlite"

        def __init__(self, fails):
            self.fails, self.stored = fails, []

        def put(self, e):
            if self.fails:
                self.fails -= 1
                raise OSError("disk I/O error")
            self.stored.append(e)
            return True

    ok = Flaky(2)
    assert _store(ok, {"event_id": "a"}) and ok.stored == [{"event_id": "a"}]
    with pytest.raises(RuntimeError, match="flaky.sqlite: cannot store event b"):
        _store(Flaky(9), {"event_id": "b"}, tries=2)


def test_with_zones_the_detector_looks_at_the_window_around_them_and_boxes_come_back_in_frame_pixels():
    from plateforge.runtime.zone import Zone, zones_window
    from plateforge.stream.pipeline import CameraProcessor

    class WhiteBoxDetector:  # finds the white rectangle in whatever image it is given
        seen = []

        def detect(self, img):
            self.seen.append(img.shape)
            ys, xs = np.nonzero(img[:, :, 0] == 255)
            box = (float(xs.min()), float(ys.min()), float(xs.max() + 1), float(ys.max() + 1))
            return [Detection(box, ((box[0], box[1]), (box[2], box[1]), (box[2], box[3]), (box[0], box[3])), 0.9)]

    class Reader:
        detector = WhiteBoxDetector()

    frame = np.zeros((300, 400, 3), np.uint8)
    frame[200:212, 250:290] = 255
    lane = Zone([[0.6, 0.5], [0.8, 0.5], [0.8, 1], [0.6, 1]])
    assert zones_window([lane], frame.shape) == (208, 118, 352, 300)  # grown by 8 % of 400 px, clipped
    assert zones_window([Zone([[0, 0], [1, 0], [1, 1], [0, 1]])], frame.shape) is None  # the whole frame anyway
    cropped = CameraProcessor("cam", Reader(), zones=[lane])._detect(frame)
    assert Reader.detector.seen[-1] == (182, 144, 3)  # the detector saw the window only
    assert cropped[0].box == (250.0, 200.0, 290.0, 212.0) and cropped[0].corners[2] == (290.0, 212.0)
    whole = CameraProcessor("cam", Reader(), zones=[lane], crop_to_zones=False)._detect(frame)
    assert Reader.detector.seen[-1] == (300, 400, 3) and whole[0].box == cropped[0].box


def test_a_plate_cut_by_the_frame_edge_is_not_read_while_its_track_is_young():
    """A vehicle entering from the bottom shows a cut plate for a few frames, which reads as something else;
    those frames are not read, so the vote starts from the whole plate. A plate that stays at the edge is read
    once its track is older (BORDER_HITS)."""
    from plateforge.stream.pipeline import BORDER_HITS, CameraProcessor

    script = {i: [((40.0, 90.0 - i, 90.0, 100.0), "ZH1")] for i in range(3)}  # cut by the bottom edge (100 px)
    script |= {i: [((40.0, 80.0 - i, 90.0, 92.0 - i), "ZH12345")] for i in range(3, 20)}
    reads = []
    proc = CameraProcessor("cam", ScriptedReader(script), on_read=lambda c, t, f, r: reads.append((f, r.text)))
    (_, event), *rest = _events(proc, 60)
    assert not rest and event.text == "ZH12345" and event.first_frame == 0
    assert reads and reads[0][0] == 3 and all(text == "ZH12345" for _, text in reads)
    stuck = {i: [((0.0, 40.0, 50.0, 52.0), "GR4711")] for i in range(20)}  # always at the left edge
    reads.clear()
    proc = CameraProcessor("cam", ScriptedReader(stuck), on_read=lambda c, t, f, r: reads.append((f, r.text)))
    assert [e.text for _, e in _events(proc, 60)] == ["GR4711"] and reads[0][0] == BORDER_HITS


def test_a_plate_the_window_cuts_is_left_out_but_not_one_at_the_image_edge():
    from plateforge.ops.boxes import cut_by_window

    def cut(box):  # cut on the left and right; top and bottom are the image's (400 x 200)
        return bool(cut_by_window([box], (100, 0, 300, 200), 400, 200)[0])

    assert cut((0.0, 50.0, 40.0, 60.0))  # at the window's left edge
    assert cut((170.0, 50.0, 200.0, 60.0))  # at its right edge
    assert not cut((50.0, 0.0, 90.0, 12.0))  # the image's own top edge
    assert not cut((50.0, 50.0, 90.0, 62.0))
