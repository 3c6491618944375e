"""Anonymised video and photos (`plateforge blur`): gaps between detections are filled along the track, plates
are held before they are found and after they are lost, and the bundled reader can read no plate afterwards."""

from __future__ import annotations

import json

import cv2
import numpy as np
import pytest
from typer.testing import CliRunner

from plateforge.eval.blur_eval import evaluate_blur, quad_cover
from plateforge.stream.blur import BlurOptions, PlateBlurrer
from plateforge.types import Detection


class ScriptedDetector:
    """Detections by frame: a 40 x 20 px plate moving 10 px right per frame, found only in ``found`` frames."""

    def __init__(self, found: set[int]):
        self.found, self.frame = found, -1

    @staticmethod
    def box(frame: int) -> tuple[float, float, float, float]:
        x = 20.0 + 10 * frame
        return (x, 100.0, x + 40, 120.0)

    def detect(self, image, conf):
        self.frame += 1
        if self.frame not in self.found:
            return []
        x1, y1, x2, y2 = self.box(self.frame)
        return [Detection((x1, y1, x2, y2), ((x1, y1), (x2, y1), (x2, y2), (x1, y2)), 0.9)]


def _quad(box):
    x1, y1, x2, y2 = box
    return np.array([[x1, y1], [x2, y1], [x2, y2], [x1, y2]], np.float32)


def test_gaps_are_filled_along_the_track_and_plates_held_before_and_after():
    found = set(range(6, 10)) | set(range(15, 20))  # unfound in 0-5 (not yet), 10-14 (a gap), 20-29 (gone)
    frames = [np.zeros((240, 480, 3), np.uint8) for _ in range(30)]
    opts = BlurOptions(fill=6, hold=3, grow=0.1)
    out = list(PlateBlurrer(ScriptedDetector(found), opts).run(frames))
    assert [f.index for f in out] == list(range(30))
    cover = [
        max((quad_cover(_quad(ScriptedDetector.box(f.index)), [r], (240, 480)) for r in f.regions), default=0)
        for f in out
    ]
    for k in range(3, 23):  # 3 held before (at its speed, once known), the gap, 3 held after the last sighting
        assert cover[k] == 1.0, (k, cover[k])
    for k in (0, 1, 2, 23, 29):
        assert cover[k] < 0.5, (k, cover[k])
    assert sum(f.detected for f in out) == len(found)
    # a plate lost for longer than `fill` is not interpolated across the gap (it may be another vehicle)
    found = {5, 6, 7, 20, 21}
    out = list(PlateBlurrer(ScriptedDetector(found), BlurOptions(fill=6, hold=2)).run(frames))
    assert not out[14].regions


def test_quad_cover_is_the_covered_share_of_the_plate():
    plate = _quad((10, 10, 50, 30))
    assert quad_cover(plate, [_quad((0, 0, 100, 100))], (100, 100)) == 1.0
    assert quad_cover(plate, [], (100, 100)) == 0.0
    assert quad_cover(plate, [_quad((10, 10, 30, 30))], (100, 100)) == pytest.approx(0.5, abs=0.06)


@pytest.fixture(scope="module")
def video(tmp_path_factory):
    pytest.importorskip("PIL", reason="the synthetic video needs the [synth] extra")
    from plateforge.synth.video import VideoOptions, make_video

    folder = tmp_path_factory.mktemp("blur") / "video"
    make_video(folder, VideoOptions(width=960, height=540, passes=3, seed=11, plate_height=(26, 44)), overwrite=True)
    return folder


def test_the_bundled_reader_reads_no_plate_of_a_blurred_video(video):
    from plateforge import ALPR
    from plateforge.runtime.detector import PlateDetector

    report = evaluate_blur(video, PlateDetector(threads=1), ALPR(threads=1), read_every=4)
    assert report["plates_in_view"] > 100
    assert report["covered"] >= 0.95, report
    assert report["readable_before"] >= 0.5 * report["plates_read"], report  # the plates were readable at all
    assert report["readable_after"] == 0 and report["passes_leaked"] == [], report


def test_blur_command_writes_videos_and_photos_and_names_bad_inputs(video, tmp_path):
    from plateforge.cli.app import app

    photos = tmp_path / "photos"
    photos.mkdir()
    cap = cv2.VideoCapture(str(video / "video.mp4"))
    for _ in range(40):
        ok, frame = cap.read()
    cv2.imwrite(str(photos / "frame.png"), frame)
    (photos / "broken.jpg").write_bytes(b"\xff\xd8 not really")
    out = tmp_path / "out"
    args = ["blur", str(video / "video.mp4"), str(photos), "--out", str(out), "--tiles", "1", "--log"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 1, result.output  # the broken photo
    rows = [json.loads(line) for line in result.stdout.splitlines() if line.startswith("{")]
    by_name = {r["input"].rsplit("/", 1)[-1]: r for r in rows}
    assert "truncated JPEG" in by_name["broken.jpg"]["error"]
    assert by_name["video.mp4"]["frames"] == int(cv2.VideoCapture(str(video / "video.mp4")).get(7))
    assert by_name["frame.png"]["regions"] >= 1
    blurred = cv2.VideoCapture(str(out / "video.mp4"))
    assert blurred.get(7) == by_name["video.mp4"]["frames"] and blurred.get(3) == 960
    assert (out / "photos" / "frame.png").exists()
    logged = [json.loads(line) for line in (out / "video.regions.jsonl").read_text().splitlines()]
    assert len(logged) == by_name["video.mp4"]["frames_with_plates"] and len(logged[0]["regions"][0]) == 4
    again = CliRunner().invoke(app, args)  # existing copies are not replaced without --overwrite
    assert "exists (--overwrite replaces it)" in again.stdout


def test_eval_blur_command_reports_coverage_by_height(video, tmp_path):
    from plateforge.cli.app import app

    result = CliRunner().invoke(
        app,
        [
            "eval",
            "blur",
            "--video",
            str(video),
            "--tiles",
            "1",
            "--read-every",
            "0",
            "--json",
            str(tmp_path / "r.json"),
        ],
    )
    assert result.exit_code == 0, result.output
    report = json.loads((tmp_path / "r.json").read_text())
    assert (
        report["covered"] >= 0.95 and sum(g["plates"] for g in report["by_height"].values()) == report["plates_in_view"]
    )
    assert "readable_after" not in report and "covered" in result.output


def test_a_video_cut_short_keeps_its_decoded_frames_and_fails_the_run(video, tmp_path):
    from plateforge.cli.app import app

    cap = cv2.VideoCapture(str(video / "video.mp4"))
    avi = tmp_path / "cut.avi"
    writer = cv2.VideoWriter(str(avi), cv2.VideoWriter_fourcc(*"MJPG"), 25, (960, 540))
    for _ in range(60):
        writer.write(cap.read()[1])
    writer.release()
    data = avi.read_bytes()
    avi.write_bytes(data[: len(data) // 2])  # a recording cut off mid-file
    result = CliRunner().invoke(app, ["blur", str(avi), "--out", str(tmp_path / "out"), "--tiles", "1"])
    assert result.exit_code == 1
    row = json.loads(next(line for line in result.stdout.splitlines() if line.startswith("{")))
    assert row["incomplete"] and 10 < row["frames"] < 60 and row["frames_in_header"] == 60
    assert cv2.VideoCapture(row["output"]).get(cv2.CAP_PROP_FRAME_COUNT) == row["frames"]


def test_frames_decoded_on_a_thread_keep_their_order_and_errors():
    from plateforge.stream.blur import _on_thread

    assert list(_on_thread(iter(range(50)), depth=3)) == list(range(50))

    def broken():
        yield 1
        raise OSError("disk gone")

    got = []
    with pytest.raises(OSError, match="disk gone"):
        for item in _on_thread(broken()):
            got.append(item)
    assert got == [1]
    endless = _on_thread(iter(range(10**9)), depth=2)
    assert next(endless) == 0
    endless.close()  # stops the producer thread instead of leaving it blocked
