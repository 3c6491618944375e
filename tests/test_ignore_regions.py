"""Ignore regions (``PlateLabel.ignore``): plates a dataset's labels leave out. The manifest keeps them,
COCO / VOC map them, ``data ignore-unlabelled`` marks them with a detector, detector training gives them no
score loss, and detector metrics count them neither as hits nor as misses."""

from __future__ import annotations

import json

import numpy as np
import pytest

from plateforge.data.errors import DataError
from plateforge.data.ignore import mark_unlabelled, unlabelled_boxes
from plateforge.data.manifest import ImageRecord, PlateLabel, plate_from_dict, read_manifest, write_manifest
from plateforge.eval.det_metrics import ImageResult, detection_report


def test_manifest_writes_ignore_only_when_set_and_reads_it_back(tmp_path):
    plain, ignored = PlateLabel((1, 2, 30, 12), text="AB12"), PlateLabel((40, 5, 60, 11), ignore=True)
    assert "ignore" not in plain.to_dict() and ignored.to_dict()["ignore"] is True
    path = tmp_path / "m.jsonl"
    write_manifest([ImageRecord(str(tmp_path / "a.jpg"), 100, 50, (plain, ignored))], path)
    (rec,) = read_manifest(path)
    assert [p.ignore for p in rec.plates] == [False, True]
    with pytest.raises(DataError, match="'ignore' must be true or false"):
        plate_from_dict({"box": [0, 0, 5, 5], "ignore": "yes"}, "m.jsonl:1")


def test_unlabelled_boxes_keeps_detections_no_label_overlaps():
    labelled = np.array([[10, 10, 50, 20]], np.float32)
    found = np.array([[11, 10, 50, 21], [100, 40, 130, 48], [200, 40, 300, 90]], np.float32)
    np.testing.assert_array_equal(unlabelled_boxes(labelled, found), found[1:])  # the first is the labelled plate
    np.testing.assert_array_equal(unlabelled_boxes(labelled, found, max_height=12), found[1:2])  # too tall: kept out
    np.testing.assert_array_equal(unlabelled_boxes(np.zeros((0, 4)), found), found)


def test_mark_unlabelled_adds_ignore_plates_and_leaves_unlabelled_images_alone():
    rec = ImageRecord("a.jpg", 320, 240, (PlateLabel((10, 10, 50, 20), text="X1"),))
    calib = ImageRecord("b.jpg", 320, 240, None)
    found = {"a.jpg": np.array([[10, 10, 50, 20], [300, 230, 330, 238]], np.float32)}  # the 2nd crosses the edge
    out, added = mark_unlabelled([rec, calib], lambda path: found.get(path, np.zeros((0, 4))))
    assert added == 1 and out[1] is calib
    assert out[0].plates[0] == rec.plates[0]
    assert out[0].plates[1] == PlateLabel((300.0, 230.0, 320.0, 238.0), ignore=True)  # clipped to the image


def test_coco_and_voc_map_ignore(tmp_path):
    import cv2

    from plateforge.data import load_dataset
    from plateforge.data.coco import write_coco

    image = tmp_path / "car.jpg"
    cv2.imwrite(str(image), np.zeros((60, 100, 3), np.uint8))
    rec = ImageRecord(
        str(image), 100, 60, (PlateLabel((5, 5, 40, 15), text="A1"), PlateLabel((60, 40, 80, 45), ignore=True))
    )
    write_coco([rec], tmp_path / "coco")
    anns = json.loads((tmp_path / "coco" / "annotations.json").read_text())["annotations"]
    assert [a["iscrowd"] for a in anns] == [0, 1]
    back = load_dataset(tmp_path / "coco" / "annotations.json", "coco")
    assert [p.ignore for p in back[0].plates] == [False, True]

    voc = tmp_path / "voc"
    voc.mkdir()
    cv2.imwrite(str(voc / "car.jpg"), np.zeros((60, 100, 3), np.uint8))
    obj = (
        "<object><name>plate</name><difficult>{}</difficult>"
        "<bndbox><xmin>{}</xmin><ymin>5</ymin><xmax>{}</xmax><ymax>15</ymax></bndbox></object>"
    )
    (voc / "car.xml").write_text(
        f"<annotation><filename>car.jpg</filename>{obj.format(0, 5, 40)}{obj.format(1, 50, 90)}</annotation>"
    )
    (back,) = load_dataset(voc, "voc")
    assert [p.ignore for p in back.plates] == [False, True]


def test_detector_metrics_count_ignore_regions_neither_way():
    gt = np.array([[10, 10, 50, 20]], np.float32)
    ignore = np.array([[100, 40, 130, 48]], np.float32)
    boxes = np.array([[10, 10, 50, 20], [101, 40, 129, 48], [200, 10, 240, 20]], np.float32)  # hit, ignored, false
    scores = np.array([0.9, 0.8, 0.7], np.float32)

    def result(ign):
        return ImageResult(
            gt, np.zeros((1, 4, 2)), np.zeros(1, bool), boxes, scores, np.zeros((3, 4, 2)), 320, 240, ign
        )

    plain = detection_report([result(np.zeros((0, 4), np.float32))], conf=0.5)
    marked = detection_report([result(ignore)], conf=0.5)
    assert plain.precision == pytest.approx(1 / 3) and marked.precision == pytest.approx(1 / 2)
    assert plain.recall == marked.recall == 1.0 and marked.n_plates == 1
    # AP: the detection on the ignore region no longer outranks the false one as a false positive
    assert marked.map50 >= plain.map50


def test_stats_and_yolo_export_keep_ignore_regions_apart(tmp_path):
    import cv2

    from plateforge.data.stats import dataset_stats
    from plateforge.data.yolo import write_yolo

    image = tmp_path / "car.jpg"
    cv2.imwrite(str(image), np.zeros((60, 100, 3), np.uint8))
    rec = ImageRecord(str(image), 100, 60, (PlateLabel((5, 5, 40, 15)), PlateLabel((60, 40, 80, 45), ignore=True)))
    s = dataset_stats([rec])
    assert s["plates"] == 1 and s["ignore_regions"] == 1 and s["plates_per_image"] == {1: 1}
    write_yolo([rec], tmp_path / "yolo")
    (label,) = (tmp_path / "yolo" / "labels").glob("*.txt")
    assert len(label.read_text().splitlines()) == 1  # YOLO has no ignore flag: only the plate is written
