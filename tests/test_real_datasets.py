"""Import → export → import on the real sets in ../shared/data/real gives the same labels (skips if absent)."""

from pathlib import Path

import pytest

from plateforge.data import load_dataset
from plateforge.data.coco import write_coco
from plateforge.data.hashing import file_sha256
from plateforge.data.stats import dataset_stats
from plateforge.data.yolo import write_yolo
from tests.conftest import real_dir


class Labels:
    """Labels keyed by image content (exporters rename files); equal when every box matches within
    1/1000 px (the float noise of x + w - x and of 6-decimal YOLO coordinates) and texts are identical."""

    def __init__(self, records, with_text=False):
        self.items = {}
        for r in records:
            plates = [(p.box, (p.text, p.region, p.layout) if with_text else None) for p in r.plates]
            self.items[file_sha256(r.image)] = sorted(plates)

    def __eq__(self, other):
        if self.items.keys() != other.items.keys():
            return False
        for k, mine in self.items.items():
            theirs = other.items[k]
            if len(mine) != len(theirs):
                return False
            for (box_a, text_a), (box_b, text_b) in zip(mine, theirs, strict=True):
                if text_a != text_b or max(abs(a - b) for a, b in zip(box_a, box_b, strict=True)) > 1e-3:
                    return False
        return True


def labels(records, fields=("box",)):
    return Labels(records, with_text="text" in fields)


def test_car_plates_cc0_voc_roundtrips_through_yolo_and_coco(tmp_path):
    records = load_dataset(real_dir("car-plates-cc0"), "voc")
    assert (len(records), sum(len(r.plates) for r in records)) == (297, 328)
    want = labels(records)
    write_yolo(records, tmp_path / "yolo")
    assert labels(load_dataset(tmp_path / "yolo", "yolo")) == want
    write_coco(records, tmp_path / "coco")
    assert labels(load_dataset(tmp_path / "coco" / "annotations.json", "coco")) == want


def test_uc3m_yolo_roundtrips_through_coco_and_keeps_official_subsets(tmp_path):
    records = load_dataset(real_dir("uc3m-lp") / "LP", "yolo")
    stats = dataset_stats(records)
    assert (stats["images"], stats["plates"]) == (1975, 2547)
    assert stats["subsets"] == {"train": 1580, "val": 395}
    want = labels(records)
    write_coco(records, tmp_path / "coco")
    assert labels(load_dataset(tmp_path / "coco" / "annotations.json")) == want
    train = [r for r in records if r.meta["subset"] == "train"]
    write_yolo(train, tmp_path / "yolo", subset="train")
    assert labels(load_dataset(tmp_path / "yolo", "yolo")) == labels(train)


def test_us_crops_csv_roundtrips_text_and_region_through_coco(tmp_path):
    records = load_dataset(real_dir("us-plate-crops") / "labels.csv", "crops-csv")
    assert len(records) == 745
    first = {Path(r.image).name: r for r in records}["ak1165.jpg"].plates[0]
    assert (first.text, first.region) == ("FUW999", "us-ak")
    want = labels(records, ("box", "text"))
    write_coco(records, tmp_path / "coco")
    assert labels(load_dataset(tmp_path / "coco" / "annotations.json"), ("box", "text")) == want


@pytest.mark.parametrize("fmt", ["yolo", "coco"])
def test_real_export_then_reimport_is_stable(tmp_path, fmt):
    """A second export of the re-imported data is byte-identical in labels: no drift across cycles."""
    records = load_dataset(real_dir("car-plates-cc0"), "voc")[:40]
    writer = write_yolo if fmt == "yolo" else write_coco
    writer(records, tmp_path / "a")
    again = load_dataset(tmp_path / "a" if fmt == "yolo" else tmp_path / "a" / "annotations.json", fmt)
    writer(again, tmp_path / "b")
    again2 = load_dataset(tmp_path / "b" if fmt == "yolo" else tmp_path / "b" / "annotations.json", fmt)
    assert labels(again2) == labels(again) == labels(records)


def test_uc3m_scenes_pair_each_single_plate_scene_with_its_masked_text():
    from plateforge.data.uc3m import uc3m_scene_records

    root = real_dir("uc3m-lp")
    val = uc3m_scene_records(root, "val")
    assert len(val) == 323  # of 395 official val scenes: those with one plate box and one OCR crop
    p = val[0].plates[0]
    assert p.text == "597?LK?" and p.region == "eu-es" and 0 <= p.box[0] < p.box[2] <= val[0].width


def test_uc3m_scene_reads_are_scored_on_visible_characters_only():
    from plateforge.eval.read_eval import evaluate_uc3m_scenes, masked_match
    from plateforge.runtime.alpr import ALPR

    assert masked_match("7969FFN", "7?69?FN") and masked_match("769FN", "7?69?FN")  # a masked block: 0 or 1 char
    assert not masked_match("0211DDH", "05?1?DH") and not masked_match("7969FFNX", "7?69?FN")
    few = {f"{i:05d}.jpg" for i in range(0, 200)}
    r = evaluate_uc3m_scenes(ALPR(threads=1), real_dir("uc3m-lp"), only=few)
    # measured with the bundled models: 25 plates, all detected, 6 read right (the target, 85 %, is far off:
    # these photos are 320 px wide, plates about 12 px tall)
    assert r["plates"] == 25 and r["detected"] >= 0.9 and r["visible_chars_right"] >= 0.12
    groups = {k: v for k, v in r["per_group"].items() if k.startswith("height:")}
    assert list(groups) == sorted(groups, key=lambda k: int(k[7:].split("-")[0].rstrip("+")))  # small to large
    assert sum(g["plates"] for g in groups.values()) == 25
    right = sum(g["right"] * g["plates"] for g in groups.values())
    assert abs(right - 25 * r["visible_chars_right"]) < 1e-6


def test_hand_labelled_cc0_texts_match_the_photos_and_are_read_end_to_end():
    """benchmarks/data/car_plates_cc0_val_texts.jsonl (texts read by eye, see its README): its photos are the
    val split's, its boxes the set's VOC boxes, and the bundled reader reads these plates of many countries."""
    from plateforge.data.manifest import read_manifest
    from plateforge.eval.read_eval import evaluate_labelled_reads
    from plateforge.runtime.alpr import ALPR

    voc = {Path(r.image).name: r for r in load_dataset(real_dir("car-plates-cc0"), "voc")}
    recs = read_manifest(Path(__file__).parents[1] / "benchmarks/data/car_plates_cc0_val_texts.jsonl")
    assert len(recs) == 43 and sum(bool(p.text) for r in recs for p in r.plates) == 44
    for r in recs:
        assert Path(r.image).is_file() and [p.box for p in r.plates] == [p.box for p in voc[Path(r.image).name].plates]
    rep = evaluate_labelled_reads(ALPR(threads=1), recs)
    # measured with the bundled models (2026-11-24, session 23 detector): 40 of 44 found, 14 read right (31.8 %;
    # 12 with the detector before, 11 with the recognizer before the UK and Indian regions)
    assert rep["plates"] == 44 and rep["detected"] >= 0.85 and rep["right"] >= 11 / 44
    assert {"region:gb", "region:in"} <= set(rep["per_group"])
