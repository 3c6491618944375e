"""Importers and exporters on small made-up datasets: labels, round trips, and errors that name the input."""

import json

import pytest

from plateforge.data import BadItems, DataError, ImageRecord, PlateLabel, detect_format, load_dataset
from plateforge.data.coco import write_coco
from plateforge.data.yolo import label_path_for, write_yolo
from tests.conftest import make_image


def by_name(records):
    from pathlib import Path

    return {Path(r.image).stem: r for r in records}


def test_voc_import(voc_dir):
    recs = by_name(load_dataset(voc_dir))
    assert detect_format(voc_dir) == "voc"
    assert [p.box for p in recs["b"].plates] == [(1, 2, 20, 12), (30, 30, 60, 40)]
    assert recs["c"].plates == () and (recs["a"].width, recs["a"].height) == (64, 48)


def test_voc_errors_name_the_file(voc_dir):
    (voc_dir / "annotations" / "d.xml").write_text("<annotation><filename>d.jpg</file")
    (voc_dir / "annotations" / "e.xml").write_text("<annotation><filename>nope.jpg</filename></annotation>")
    make_image(voc_dir / "images" / "f.jpg")
    (voc_dir / "annotations" / "f.xml").write_text(
        "<annotation><filename>f.jpg</filename><object><name>p</name><bndbox><xmin>50</xmin><ymin>1</ymin>"
        "<xmax>90</xmax><ymax>9</ymax></bndbox></object></annotation>"
    )
    with pytest.raises(DataError, match="d.xml: malformed XML"):
        load_dataset(voc_dir)
    bad = BadItems(skip_bad=True)
    recs = load_dataset(voc_dir, "voc", bad)
    assert len(recs) == 3
    messages = sorted(str(e) for e in bad.errors)
    assert len(messages) == 3
    assert "d.xml: malformed XML" in messages[0]
    assert "e.xml: image 'nope.jpg' not found" in messages[1]
    assert "f.xml object 0 ('p'): box [50, 1, 90, 9] lies outside the 64x48 image" in messages[2]


def _full_records(tmp_path):
    img1 = make_image(tmp_path / "src" / "one.jpg", 80, 60, seed=1)
    img2 = make_image(tmp_path / "src" / "two.png", 80, 60, seed=2)
    corners = ((10.0, 12.0), (40.0, 10.0), (41.0, 25.0), (11.0, 27.0))
    p1 = PlateLabel((10.0, 10.0, 41.0, 27.0), corners, "A12345", "uae-dubai", "one_line")
    p2 = PlateLabel((50.0, 5.0, 70.0, 30.0), None, "ZH123", "ch", "two_line")
    return [ImageRecord(str(img1), 80, 60, (p1, p2)), ImageRecord(str(img2), 80, 60, ())]


def test_coco_roundtrip_keeps_corners_text_region_layout(tmp_path):
    recs = _full_records(tmp_path)
    write_coco(recs, tmp_path / "coco")
    coco = json.loads((tmp_path / "coco" / "annotations.json").read_text())
    assert coco["annotations"][0]["keypoints"][:3] == [10.0, 12.0, 2]
    assert coco["annotations"][0]["bbox"] == [10.0, 10.0, 31.0, 17.0]
    back = by_name(load_dataset(tmp_path / "coco" / "annotations.json"))
    assert back["one"].plates == recs[0].plates
    assert back["two"].plates == ()


def test_yolo_pose_roundtrip_keeps_boxes_and_corners(tmp_path):
    recs = _full_records(tmp_path)
    write_yolo(recs, tmp_path / "yolo", subset="train")
    line = (tmp_path / "yolo" / "labels" / "train" / "one.txt").read_text().splitlines()[1]
    assert line.split()[5:] == ["0.000000"] * 12  # a plate without corners: keypoints marked unknown (v=0)
    back = by_name(load_dataset(tmp_path / "yolo"))
    for got, want in zip(back["one"].plates, recs[0].plates, strict=True):
        assert got.box == pytest.approx(want.box, abs=1e-3)
        assert (got.corners is None) == (want.corners is None)
        if want.corners:
            assert [c for xy in got.corners for c in xy] == pytest.approx(
                [c for xy in want.corners for c in xy], abs=1e-3
            )
    assert back["one"].meta == {"subset": "train"}
    assert back["two"].plates == ()
    data = (tmp_path / "yolo" / "data.yaml").read_text()
    assert "kpt_shape" in data and "train: images/train" in data
    # the full labels (text, region, layout) travel in the manifest beside the tree
    manifest = load_dataset(tmp_path / "yolo" / "train.jsonl")
    assert by_name(manifest)["one"].plates == recs[0].plates


def test_exporters_refuse_to_overwrite(tmp_path):
    recs = _full_records(tmp_path)
    write_coco(recs, tmp_path / "c")
    with pytest.raises(FileExistsError, match="--overwrite"):
        write_coco(recs, tmp_path / "c")
    write_coco(recs, tmp_path / "c", overwrite=True)
    write_yolo(recs, tmp_path / "y", subset="train")
    write_yolo(recs, tmp_path / "y", subset="val")  # another subset into the same tree is fine
    with pytest.raises(FileExistsError):
        write_yolo(recs, tmp_path / "y", subset="val")


def test_yolo_errors_name_file_and_line(tmp_path):
    root = tmp_path / "ds"
    make_image(root / "images" / "a.jpg")
    make_image(root / "images" / "b.jpg", seed=3)
    (root / "labels").mkdir()
    (root / "labels" / "a.txt").write_text("0 0.5 0.5 0.2 0.1\n0 0.5 0.5 0.2\n")
    (root / "labels" / "b.txt").write_text("0 1.7 0.5 0.2 0.1\n")
    (root / "labels" / "orphan.txt").write_text("0 0.5 0.5 0.2 0.1\n")
    assert label_path_for(root / "images" / "a.jpg") == root / "labels" / "a.txt"
    bad = BadItems(skip_bad=True)
    assert load_dataset(root, "yolo", bad) == []
    msgs = [str(e) for e in bad.errors]
    assert f"{root}/labels/a.txt:2: expected 5 values" in msgs[0]
    assert f"{root}/labels/b.txt:1: coordinates must be normalised" in msgs[1]
    assert f"{root}/labels/orphan.txt: label file has no matching image" in msgs[2]


def test_yolo_class_filter_and_missing_label_means_no_plate(tmp_path):
    root = tmp_path / "ds"
    make_image(root / "images" / "a.jpg", 100, 100)
    make_image(root / "images" / "b.jpg", 100, 100, seed=5)
    (root / "labels").mkdir()
    (root / "labels" / "a.txt").write_text("0 0.5 0.5 0.2 0.1\n2 0.2 0.2 0.1 0.1\n")
    recs = by_name(load_dataset(root, "yolo", classes=["0"]))
    assert [p.box for p in recs["a"].plates] == [pytest.approx((40, 45, 60, 55))]
    assert recs["b"].plates == ()


def test_coco_errors(tmp_path):
    make_image(tmp_path / "images" / "a.jpg")
    coco = {
        "images": [
            {"id": 1, "file_name": "a.jpg", "width": 64, "height": 48},
            {"id": 2, "file_name": "gone.jpg", "width": 64, "height": 48},
        ],
        "annotations": [
            {"id": 7, "image_id": 1, "category_id": 1, "bbox": [1, 1, 10, 5]},
            {"id": 8, "image_id": 9, "category_id": 1, "bbox": [1, 1, 10, 5]},
        ],
        "categories": [{"id": 1, "name": "plate"}],
    }
    path = tmp_path / "ann.json"
    path.write_text(json.dumps(coco))
    with pytest.raises(DataError, match="annotation 8: refers to image_id 9"):
        load_dataset(path)
    bad = BadItems(skip_bad=True)
    recs = load_dataset(path, "coco", bad)
    assert [r.plates[0].box for r in recs] == [(1, 1, 11, 6)]
    assert any("gone.jpg" in str(e) and "not found" in str(e) for e in bad.errors)
    path.write_text("{oops")
    with pytest.raises(DataError, match="not valid JSON"):
        load_dataset(path)


def test_crops_csv(tmp_path):
    make_image(tmp_path / "images" / "p1.jpg", 120, 40)
    (tmp_path / "labels.csv").write_text("image,state,text\np1.jpg,ny,abc 1234\nmissing.jpg,ca,X1\np1.jpg,ca,\n")
    bad = BadItems(skip_bad=True)
    recs = load_dataset(tmp_path / "labels.csv", None, bad)
    assert recs[0].plates == (PlateLabel((0, 0, 120, 40), None, "ABC1234", "us-ny", None),)
    assert [e.where for e in bad.errors] == [f"{tmp_path}/labels.csv:3", f"{tmp_path}/labels.csv:4"]
