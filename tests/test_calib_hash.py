"""Calibration sets from videos and images; the dataset content hash."""

import shutil

import cv2
import numpy as np
import pytest

from plateforge.data import BadItems, ImageRecord, PlateLabel, read_manifest
from plateforge.data.calib import CalibOptions, build_calibration_set
from plateforge.data.hashing import dataset_hash
from tests.conftest import make_image


def make_video(path, frames=60, fps=10, size=(96, 64), still_from=None):
    """A video whose frames all differ (a moving bar), frozen from frame ``still_from`` on."""
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), fps, size)
    assert writer.isOpened()
    for i in range(frames):
        k = i if still_from is None else min(i, still_from)
        img = np.full((size[1], size[0], 3), 40, np.uint8)
        cv2.rectangle(img, ((k * 7) % size[0], 0), ((k * 7) % size[0] + 20, size[1]), (255, 200, 50), -1)
        cv2.putText(img, str(k), (5, 40), cv2.FONT_HERSHEY_SIMPLEX, 1.0, (0, 0, 255), 2)
        writer.write(img)
    writer.release()
    return path


def test_calib_samples_videos_by_rate_and_cap_then_fills_with_images(tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    make_video(src / "gate.avi", frames=60, fps=10)  # 6 s at 10 fps → 1 frame/s gives 6
    make_video(src / "long.avi", frames=200, fps=10)  # every 10th frame = 20, capped at 8 spread over the video
    for i in range(10):
        make_image(src / "stills" / f"s{i}.jpg", seed=i)
    opts = CalibOptions(n=20, per_second=1.0, max_per_video=8, seed=1)
    recs = build_calibration_set([src], tmp_path / "calib", opts)
    names = [r.image.rsplit("/", 1)[1] for r in recs]
    gate = [n for n in names if n.startswith("gate_")]
    long = [n for n in names if n.startswith("long_")]
    assert gate == [f"gate_f{i:07d}.jpg" for i in range(0, 60, 10)]
    assert len(long) == 8 and long[0] == "long_f0000000.jpg" and long[-1] == "long_f0000190.jpg"
    assert len(recs) == 20 and sum(n.startswith("img") for n in names) == 6
    manifest = read_manifest(tmp_path / "calib" / "calib.jsonl")
    assert all(r.plates is None for r in manifest)  # unlabelled, not "no plates"
    assert all(cv2.imread(r.image).shape == (r.height, r.width, 3) for r in manifest)


def test_calib_every_k_skips_still_frames_and_reports_bad_files(tmp_path):
    make_video(tmp_path / "parked.avi", frames=50, fps=10, still_from=5)
    (tmp_path / "broken.mp4").write_bytes(b"not a video")
    bad = BadItems(skip_bad=True)
    recs = build_calibration_set(
        [tmp_path / "parked.avi", tmp_path / "broken.mp4", tmp_path / "nope"],
        tmp_path / "out",
        CalibOptions(n=100, every_k=2, max_per_video=100),
        bad=bad,
    )
    # frames 0, 2, 4 move; from frame 5 on the scene is frozen: one more pick (frame 6), then nothing new
    assert [r.image.rsplit("_f", 1)[1] for r in recs] == ["0000000.jpg", "0000002.jpg", "0000004.jpg", "0000006.jpg"]
    assert sorted(e.what for e in bad.errors) == ["calibration source not found", "cannot open video"]
    with pytest.raises(FileExistsError):
        build_calibration_set([tmp_path / "parked.avi"], tmp_path / "out")


def test_dataset_hash_tracks_content_not_paths(tmp_path):
    a = make_image(tmp_path / "a.jpg", seed=1)
    b = make_image(tmp_path / "b.jpg", seed=2)
    plate = PlateLabel((1, 1, 10, 5), None, "X1")
    recs = [ImageRecord(str(a), 64, 48, (plate,)), ImageRecord(str(b), 64, 48, ())]
    h = dataset_hash(recs)
    moved = tmp_path / "elsewhere" / "renamed.jpg"
    moved.parent.mkdir()
    shutil.copy(a, moved)
    assert dataset_hash([recs[1], ImageRecord(str(moved), 64, 48, (plate,))]) == h
    assert dataset_hash([ImageRecord(str(a), 64, 48, (PlateLabel((1, 1, 10, 5), None, "X2"),)), recs[1]]) != h
    make_image(b, seed=3)
    assert dataset_hash(recs) != h
