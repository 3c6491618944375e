"""The camera survey: plate geometry and light measures, the installer's findings, and the command on a
synthetic video and a photo folder."""

import json
import math
from pathlib import Path

import cv2
import numpy as np
import pytest
from typer.testing import CliRunner

from plateforge.cli.app import app
from plateforge.stream.survey import (
    GOOD_HEIGHT_PX,
    MIN_HEIGHT_PX,
    SurveyPass,
    SurveyReport,
    crop_light,
    findings,
    longest_exposure,
    plate_geometry,
    shutter_finding,
    suggest_zone,
)


def _quad(cx, cy, w, h, roll_deg):
    a = math.radians(roll_deg)
    rot = np.array([[math.cos(a), -math.sin(a)], [math.sin(a), math.cos(a)]])
    half = np.array([[-w / 2, -h / 2], [w / 2, -h / 2], [w / 2, h / 2], [-w / 2, h / 2]])
    return half @ rot.T + [cx, cy]


def test_plate_geometry_gives_height_width_and_roll_of_the_corners():
    height, width, roll = plate_geometry(_quad(200, 100, 120, 30, 12.0))
    assert height == pytest.approx(30, abs=0.01) and width == pytest.approx(120, abs=0.01)
    assert roll == pytest.approx(12.0, abs=0.01)  # clockwise on screen (y down) is positive
    assert plate_geometry(_quad(200, 100, 120, 30, -7.0))[2] == pytest.approx(-7.0, abs=0.01)


def test_crop_light_measures_the_plate_not_the_frame():
    img = np.zeros((200, 300, 3), np.uint8)  # a black frame
    img[50:90, 60:220] = 200  # a light plate ...
    for x in range(80, 200, 20):
        img[60:80, x : x + 8] = 40  # ... with dark strokes (15 % of it)
    contrast, brightness, crop = crop_light(img, [[60, 50], [220, 50], [220, 90], [60, 90]])
    assert crop.shape[:2] == (40, 160)  # the plate's own size in pixels
    assert contrast == pytest.approx(160, abs=1) and brightness == pytest.approx(200, abs=1)
    washed = ((img.astype(np.float32) - 120) * 0.15 + 120).astype(np.uint8)
    assert crop_light(washed, [[60, 50], [220, 50], [220, 90], [60, 90]])[0] < 30


def _pass(height=40.0, conf=0.97, ok=True, frames=30, roll=2.0, contrast=150.0, box=(100, 100, 200, 130)):
    return SurveyPass(
        text="A12345", confidence=conf, format_ok=ok, frames=frames, reads=3, height_px=height,
        width_px=height * 4, roll_deg=roll, contrast=contrast, brightness=150.0, centre=(0.2, 0.2), box=list(box),
    )  # fmt: skip


def _verdicts(passes, mode="video"):
    r = SurveyReport("gate", "x", mode, passes=passes)
    return {f.name: f.verdict for f in findings(r)}, r


def test_findings_say_what_to_change():
    good, _ = _verdicts([_pass() for _ in range(10)])
    assert set(good.values()) == {"good"} and "frames in view" in good
    assert "frames in view" not in _verdicts([_pass()], mode="photos")[0]  # a photo has no frames in view

    tiny, r = _verdicts([_pass(height=MIN_HEIGHT_PX - 4, conf=0.4) for _ in range(10)])
    assert tiny["plate height"] == "poor" and tiny["sure reads"] == "poor"
    assert "zoom in" in next(f.advice for f in findings(r) if f.name == "plate height")
    mixed, _ = _verdicts([_pass()] * 7 + [_pass(height=GOOD_HEIGHT_PX - 3)] * 3)  # 30 % small
    assert mixed["plate height"] == "check"
    assert _verdicts([_pass(roll=25)] * 10)[0]["plate roll"] == "check"
    assert _verdicts([_pass(frames=3)] * 10)[0]["frames in view"] == "check"
    assert _verdicts([_pass(contrast=20)] * 10)[0]["plate contrast"] == "check"
    none, _ = _verdicts([])
    assert none == {"plates found": "poor"}


def test_shutter_keeps_the_blur_of_moving_plates_under_the_limit():
    # 0.4 plate heights a frame at 25 frames/s: 10 plate heights a second; 0.05 / 10 = 1/200 s → 1/250
    assert longest_exposure(0.4, 25.0) == pytest.approx(1 / 200)
    f = shutter_finding(0.4, 25.0)
    assert "1/250 s" in f.advice and f.verdict == "good"
    fast = shutter_finding(2.0, 25.0)  # 50 plate heights a second → 1/1000 s
    assert "1/1000 s" in fast.advice and fast.verdict == "check"
    assert longest_exposure(0.0, 25.0) == math.inf


def test_suggested_zone_covers_the_sure_reads_only():
    passes = [_pass(box=(100, 300, 200, 330)), _pass(box=(400, 500, 500, 540)), _pass(box=(250, 400, 320, 420))]
    unsure = _pass(conf=0.3, box=(0, 0, 50, 20))
    zone = suggest_zone([*passes, unsure], (1000, 1000), grow=0.05)
    assert zone == "0.05,0.25 0.55,0.25 0.55,0.59 0.05,0.59"
    assert suggest_zone(passes[:2], (1000, 1000)) is None  # too few to say


@pytest.fixture(scope="module")
def video(tmp_path_factory):
    from plateforge.synth.video import VideoOptions, make_video

    folder = tmp_path_factory.mktemp("survey") / "v"
    make_video(folder, VideoOptions(width=960, height=540, passes=3, seed=21, plate_height=(30, 44)), overwrite=True)
    return folder


def test_survey_measures_each_pass_of_a_video(video, tmp_path):
    from plateforge.runtime.alpr import ALPR
    from plateforge.stream.survey import survey_video, write_report
    from plateforge.synth.video import read_ground_truth

    frames, passes = read_ground_truth(video)
    truth = {p["text"] for p in passes}
    tallest = max(plate_geometry(p["corners"])[0] for f in frames for p in f["plates"] if p["full"])
    report = survey_video(str(video / "video.mp4"), ALPR(threads=1), seconds=None)
    assert report.frames == len(frames) and report.fps == pytest.approx(25.0, abs=0.01)
    assert report.size == (960, 540) and report.monochrome is False
    assert len(report.passes) == len(passes) and {p.text for p in report.passes} & truth
    for p in report.passes:
        assert 10 <= p.height_px <= tallest + 2 and p.frames >= 6 and p.contrast > 40
    assert [f.name for f in report.findings] == [
        "plate height", "plate roll", "frames in view", "shutter", "plate contrast", "sure reads",
    ]  # fmt: skip
    paths = write_report(report, tmp_path)
    data = json.loads(Path(paths["json"]).read_text())
    assert len(data["passes"]) == len(passes) and data["findings"][0]["name"] == "plate height"
    view, sheet = cv2.imread(paths["view"]), cv2.imread(paths["crops"])
    assert view.shape[:2] == (540, 960) and sheet is not None and sheet.shape[1] > 0
    short = survey_video(str(video / "video.mp4"), ALPR(threads=1), max_frames=10)
    assert short.frames == 10


def test_survey_command_on_a_video_and_a_photo_folder(video, tmp_path):
    made = CliRunner().invoke(app, ["synth", "scenes", "--out", str(tmp_path / "scenes"), "--n", "3", "--seed", "5"])
    assert made.exit_code == 0, made.output
    (tmp_path / "scenes" / "images" / "broken.jpg").write_bytes(b"not a jpeg")
    out = tmp_path / "out"
    res = CliRunner().invoke(
        app,
        ["survey", str(video / "video.mp4"), str(tmp_path / "scenes" / "images"), "--camera", "lane1",
         "--camera", "snaps", "--out", str(out), "--json", "--threads", "1"],
    )  # fmt: skip
    assert res.exit_code == 0, res.output
    rows = [json.loads(line) for line in res.output.splitlines() if line.startswith("{")]
    assert [r["camera"] for r in rows] == ["lane1", "snaps"]
    assert rows[0]["mode"] == "video" and rows[1]["mode"] == "photos" and rows[1]["frames"] == 3
    assert any("broken.jpg" in e for e in rows[1]["errors"])  # named, and the other photos surveyed
    assert (out / "lane1_view.jpg").exists() and (out / "snaps_crops.jpg").exists()
    left = CliRunner().invoke(
        app, ["survey", str(tmp_path / "scenes" / "images"), "--zone", "0,0 0.01,0 0.01,0.01", "--out", str(out),
              "--json", "--threads", "1"],
    )  # fmt: skip
    (row,) = [json.loads(line) for line in left.output.splitlines() if line.startswith("{")]
    assert row["passes"] == []  # a zone in the corner: no plate of the photos counts
    missing = CliRunner().invoke(app, ["survey", str(tmp_path / "nope.mp4"), "--out", str(out)])
    assert missing.exit_code == 2 and "nope.mp4" in missing.output


def test_survey_command_takes_the_cameras_of_a_site_config(video, tmp_path):
    site = tmp_path / "site.yaml"
    site.write_text(
        f"cameras:\n  - {{id: lane-2, source: {video / 'video.mp4'}, every: 2, "
        "zone: [[0, 0], [1, 0], [1, 1], [0, 1]]}\nreader: {threads: 1}\n"
    )
    res = CliRunner().invoke(app, ["survey", "--config", str(site), "--out", str(tmp_path / "o"), "--json"])
    assert res.exit_code == 0, res.output
    (row,) = [json.loads(line) for line in res.output.splitlines() if line.startswith("{")]
    assert row["camera"] == "lane-2" and row["fps"] == pytest.approx(25.0, abs=0.01)
    total = len((video / "frames.jsonl").read_text().splitlines())
    assert row["frames"] == (total + 1) // 2  # its every: 2
    none = CliRunner().invoke(app, ["survey", "--out", str(tmp_path / "o")])
    assert none.exit_code == 2 and "nothing to survey" in none.output


@pytest.mark.parametrize("command", ["survey", "stream"])
def test_camera_ids_must_match_the_sources(command, tmp_path):
    res = CliRunner().invoke(app, [command, "a.mp4", "b.mp4", "--camera", "gate-1"])
    assert res.exit_code == 2 and "--camera given 1 time(s) for 2 source(s)" in res.output
