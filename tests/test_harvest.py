"""Harvest: plates read on site (a stream's outbox, `plateforge read` JSONL) into a checked crops CSV that
imports and trains as it is."""

from __future__ import annotations

import base64
import csv
import json
from pathlib import Path

import cv2
import numpy as np
import pytest
import yaml
from typer.testing import CliRunner

from plateforge.cli.app import app
from plateforge.data import load_dataset
from plateforge.data.errors import BadItems, DataError
from plateforge.data.harvest import harvest, outbox_candidates, reads_candidates
from plateforge.specs import load_specs
from plateforge.stream.outbox import Outbox
from plateforge.synth.crops import make_crop

runner = CliRunner()


def _jpeg(img: np.ndarray) -> str:
    return base64.b64encode(cv2.imencode(".jpg", img)[1].tobytes()).decode()


@pytest.fixture(scope="module")
def outbox(tmp_path_factory) -> tuple[Path, list[dict]]:
    """An outbox of 9 UAE events as a stream stores them: 6 with crops, one plate (A12) passing 3 times, one
    event without a crop, one without a text, one whose crop is not a JPEG."""
    tmp = tmp_path_factory.mktemp("outbox")
    specs = load_specs()
    box = Outbox(tmp / "events.db")
    events = []
    confs = [0.95, 0.42, 0.88, 0.61, 0.97, 0.73]
    for i, conf in enumerate(confs):
        img, label = make_crop(specs["uae-dubai"], np.random.default_rng(500 + i))
        crop = cv2.resize(img, (160, 48))
        text = "A12" if i in (0, 2, 4) else label.text
        events.append(
            {
                "event_id": f"e{i}",
                "camera": "gate" if i < 5 else "lobby",
                "text": text,
                "confidence": conf,
                "region": "uae-dubai",
                "format_ok": True,
                "first_seen_utc": f"2026-12-07T08:0{i}:00.000Z",
                "parts": ["A", text[1:]],
                "best_crop_jpeg": _jpeg(crop),
            }
        )
    events.append({"event_id": "e6", "camera": "gate", "text": "B5", "confidence": 0.5, "best_crop_jpeg": None})
    events.append(
        {
            "event_id": "e7",
            "camera": "gate",
            "text": None,
            "confidence": 0.1,
            "best_crop_jpeg": events[0]["best_crop_jpeg"],
        }
    )
    events.append(
        {"event_id": "e8", "camera": "gate", "text": "C9", "confidence": 0.2, "best_crop_jpeg": "bm90IGEganBlZw=="}
    )
    for e in events:
        box.put(e)
    return tmp / "events.db", events


def test_outbox_harvest_is_least_sure_first_and_imports_as_a_crops_csv(outbox, tmp_path):
    db, events = outbox
    bad = BadItems(skip_bad=True)
    rep = harvest(outbox_candidates(db, bad=bad), tmp_path / "h")
    assert [str(e) for e in bad.errors] == [f"{db}#event e8: its best_crop_jpeg does not decode"]
    assert (rep.rows, rep.seen, rep.no_crop) == (6, 8, 2)
    rows = list(csv.DictReader(rep.labels.open()))
    assert [r["source"] for r in rows] == ["e1", "e3", "e5", "e2", "e0", "e4"]  # by confidence, rising
    assert [r["n"] for r in rows] == ["1", "2", "3", "4", "5", "6"]
    first = rows[0]
    assert first["text"] == events[1]["text"] and first["confidence"] == "0.4200" and first["format_ok"] == "true"
    assert (first["camera"], first["time"], first["region"]) == ("gate", "2026-12-07T08:01:00.000Z", "uae-dubai")
    crop = cv2.imread(str(rep.out / first["image"]))
    assert crop.shape == (48, 160, 3)
    assert [p.name for p in rep.sheets] == ["sheet-001.png"] and cv2.imread(str(rep.sheets[0])).shape[1] == 4 * 260
    # what a person corrects is what trains: the CSV imports as it is
    records = load_dataset(rep.labels)
    assert [r.plates[0].text for r in records] == [r["text"] for r in rows]
    assert records[0].plates[0].region == "uae-dubai" and records[0].width == 160


def test_outbox_harvest_filters(outbox, tmp_path):
    db, _ = outbox
    bad = BadItems(skip_bad=True)
    rep = harvest(outbox_candidates(db, camera="gate", bad=bad), tmp_path / "a", below=0.9, per_text=1)
    rows = list(csv.DictReader(rep.labels.open()))
    # e5 is the lobby's; e0 (0.95) and e4 (0.97) are too sure; of A12's passes only the least sure (e2) stays
    assert [r["source"] for r in rows] == ["e1", "e3", "e2"] and (rep.surer, rep.over_per_text) == (2, 0)
    rep = harvest(outbox_candidates(db, bad=bad), tmp_path / "b", per_text=1, limit=2, sheets=0)
    assert rep.sheets == [] and not (tmp_path / "b" / "review").exists()  # rows and crops all the same
    assert [r["source"] for r in csv.DictReader(rep.labels.open())] == ["e1", "e3"] and rep.over_per_text == 2
    with pytest.raises(FileExistsError, match="--overwrite"):
        harvest(outbox_candidates(db, bad=bad), tmp_path / "b")
    with pytest.raises(ValueError, match="--below must be in"):
        harvest([], tmp_path / "c", below=1.5)
    with pytest.raises(DataError, match="outbox file not found"):
        list(outbox_candidates(tmp_path / "missing.db"))


def test_reads_harvest_cuts_each_plate_by_its_corners(tmp_path):
    scene = np.full((300, 500, 3), 90, np.uint8)
    plate, _ = make_crop(load_specs()["ch"], np.random.default_rng(7))
    plate = cv2.resize(plate, (120, 30))
    scene[100:130, 200:320] = plate
    cv2.imwrite(str(tmp_path / "car.png"), scene)
    corners = [[200, 100], [320, 100], [320, 130], [200, 130]]
    rows = [
        {
            "image": "car.png",
            "plates": [
                {
                    "box": [200, 100, 320, 130],
                    "corners": corners,
                    "text": "ZH123",
                    "confidence": 0.3,
                    "region": "ch",
                    "format_ok": True,
                }
            ],
        },
        {"image": "broken.jpg", "error": "broken.jpg: not an image"},  # the reader failed: nothing to harvest
        {"image": "empty.png", "plates": []},
        {"image": "gone.png", "plates": [{"corners": corners, "text": "X", "confidence": 0.1}]},
    ]
    reads = tmp_path / "reads.jsonl"
    reads.write_text("\n".join(json.dumps(r) for r in rows) + "\n{not json\n")
    bad = BadItems(skip_bad=True)
    rep = harvest(reads_candidates(reads, bad=bad), tmp_path / "h")
    assert [e.where for e in bad.errors] == [f"{reads}:4", f"{reads}:5"]
    assert "image 'gone.png' not found" in str(bad.errors[0]) and "not JSON" in str(bad.errors[1])
    (row,) = csv.DictReader(rep.labels.open())
    assert (row["text"], row["source"], row["confidence"]) == ("ZH123", "car.png#0", "0.3000")
    crop = cv2.imread(str(rep.out / row["image"]))
    # the plate's own pixels: 120 x 30 plus the reader's margin (0.075 x height) on every side
    assert crop.shape[:2] == (round(30 * 1.15), round(120 + 30 * 0.15))
    inner = crop[2:-2, 5:-5].astype(float)
    ref = cv2.resize(plate, (inner.shape[1], inner.shape[0])).astype(float)
    assert np.abs(inner - ref).mean() < 25  # the plate, not the background around it
    with pytest.raises(DataError, match="not found"):
        list(reads_candidates(reads, bad=BadItems()))  # without skip-bad the first problem is raised


def test_cli_harvest_outbox_and_reads(outbox, tmp_path):
    db, _ = outbox
    r = runner.invoke(app, ["data", "harvest", str(db), "--out", str(tmp_path / "o"), "--skip-bad", "--below", "0.9"])
    assert r.exit_code == 0, r.output
    assert "wrote 4 crops of 8 plates" in r.output and "2 as sure as --below 0.9" in r.output
    assert "skipped 1 bad item" in r.output
    r = runner.invoke(app, ["data", "harvest", str(db), "--out", str(tmp_path / "o2"), "--since", "yesterday"])
    assert r.exit_code != 0 and "--since: expected ISO 8601" in r.output
    reads = tmp_path / "reads.jsonl"
    reads.write_text("")
    r = runner.invoke(app, ["data", "harvest", str(reads), "--out", str(tmp_path / "r"), "--camera", "gate"])
    assert r.exit_code != 0 and "filter an outbox" in r.output
    r = runner.invoke(app, ["data", "harvest", str(reads), "--out", str(tmp_path / "r")])
    assert r.exit_code == 0 and "wrote 0 crops of 0 plates" in r.output
    both = ["data", "harvest", str(db), str(reads), str(db), "--out", str(tmp_path / "b"), "--skip-bad"]
    r = runner.invoke(app, both)  # several sources, any mix: one list, least sure first
    assert r.exit_code == 0 and "wrote 12 crops of 16 plates" in r.output
    r = runner.invoke(app, ["data", "harvest", str(db), str(tmp_path / "gone.db"), "--out", str(tmp_path / "g")])
    assert r.exit_code != 0 and "gone.db: not found" in r.output and not (tmp_path / "g").exists()


def test_harvested_crops_train_a_recognizer(outbox, tmp_path):
    """The whole loop in small: harvest, import, a few training steps with the crops as real data and as a
    validation set of their own."""
    from plateforge.data import write_manifest
    from plateforge.train.ocr import train_ocr

    db, _ = outbox
    rep = harvest(outbox_candidates(db, bad=BadItems(skip_bad=True)), tmp_path / "h")
    write_manifest(load_dataset(rep.labels), tmp_path / "site.jsonl")
    cfg = {
        "experiment": {"name": "site", "output_dir": str(tmp_path / "runs"), "seed": 0},
        "dataset": {
            "synth": {"n": 64, "seed": 3, "regions": "uae", "augment": "light"},
            "real": [{"manifest": str(tmp_path / "site.jsonl"), "repeat": 4}],
            "val": [{"name": "site", "manifest": str(tmp_path / "site.jsonl")}],
            "cache_dir": str(tmp_path / "cache"),
        },
        "model": {"name": "slotnet_s", "regions": ["uae-dubai", "uae-abudhabi"]},
        "training": {"epochs": 1, "batch_size": 16, "limit_train_batches": 2},
    }
    config = tmp_path / "ocr.yaml"
    config.write_text(yaml.safe_dump(cfg))
    run = train_ocr(config)
    last = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()][-1]
    assert "val/site/exact" in last


def test_review_marks_rows_and_import_leaves_dropped_ones_out(outbox, tmp_path):
    from plateforge.data.review import HarvestLabels

    db, _ = outbox
    rep = harvest(outbox_candidates(db, bad=BadItems(skip_bad=True)), tmp_path / "h")
    labels = HarvestLabels(rep.out)
    assert labels.summary() == {"rows": 6, "ok": 0, "drop": 0, "corrected": 0, "left": 6}
    labels.update(1, "drop")
    row = labels.update("2", "OK", "b 77-1")  # typed as printed: spaces, dash, lower case
    assert (row["text"], row["read"], row["review"]) == ("B771", rows_text(rep, 2), "ok")
    assert labels.update(3, "ok", region="UAE-Sharjah")["region"] == "uae-sharjah"  # the reader placed it wrongly
    assert labels.summary() == {"rows": 6, "ok": 2, "drop": 1, "corrected": 1, "left": 3}
    with pytest.raises(ValueError, match="region 'atlantis' is not one plateforge knows"):
        labels.update(4, "ok", region="atlantis")
    with pytest.raises(KeyError):
        labels.update(99, "ok")
    assert labels.update(5, "ok", "a1?3")["text"] == "A1?3"  # ? for a character nobody can read
    with pytest.raises(ValueError, match="expected letters A-Z, digits, and"):
        labels.update(5, "ok", "A1.3")
    with pytest.raises(ValueError, match="empty text cannot be ok"):
        labels.update(4, "ok", " ")
    with pytest.raises(ValueError, match="review must be"):
        labels.update(4, "maybe")
    again = HarvestLabels(rep.out)  # what is on disk: the same rows, nothing left half-written
    assert again.rows == labels.rows and not list(rep.out.glob("*.tmp"))
    records = load_dataset(rep.labels)
    assert len(records) == 5 and records[0].plates[0].text == "B771"  # row 1 dropped


def rows_text(rep, n: int) -> str:
    return next(r["read"] for r in csv.DictReader(rep.labels.open()) if r["n"] == str(n))


def test_review_takes_a_hand_made_crops_csv_and_names_bad_files(tmp_path):
    from plateforge.data.review import HarvestLabels

    (tmp_path / "labels.csv").write_text("n,image,text\n1,crops/a.jpg,AB12\n2,crops/b.jpg,CD34\n")
    labels = HarvestLabels(tmp_path)
    labels.update(2, "ok", "CD35")
    assert (tmp_path / "labels.csv").read_text().splitlines() == [
        "n,image,text,read,review",
        "1,crops/a.jpg,AB12,AB12,",
        "2,crops/b.jpg,CD35,CD34,ok",
    ]
    (tmp_path / "labels.csv").write_text("n,image,text,review\n1,a.jpg,AB12,sure\n")
    with pytest.raises(DataError, match=r"labels.csv:2: 'review' must be empty, ok or drop, got 'sure'"):
        HarvestLabels(tmp_path)
    (tmp_path / "labels.csv").write_text("n,image,text\n1,a.jpg,AB12\n1,b.jpg,CD34\n")
    with pytest.raises(DataError, match="repeats a number"):
        HarvestLabels(tmp_path)
    with pytest.raises(DataError, match="not found"):
        HarvestLabels(tmp_path / "nothing")


def test_review_page_and_api(outbox, tmp_path):
    from fastapi.testclient import TestClient

    from plateforge.server.review import create_review_app

    db, _ = outbox
    rep = harvest(outbox_candidates(db, bad=BadItems(skip_bad=True)), tmp_path / "h")
    client = TestClient(create_review_app(rep.out))
    page = client.get("/")
    assert page.status_code == 200 and "Shift+Enter" in page.text
    body = client.get("/api/rows").json()
    assert [r["n"] for r in body["rows"]] == ["1", "2", "3", "4", "5", "6"] and body["summary"]["left"] == 6
    crop = client.get("/crops/000001.jpg")
    assert crop.status_code == 200 and cv2.imdecode(np.frombuffer(crop.content, np.uint8), 1).shape == (48, 160, 3)
    assert client.get("/crops/..%2Flabels.csv").status_code == 404
    assert client.get("/crops/missing.jpg").json() == {"error": "crops/missing.jpg: no such crop"}
    r = client.post("/api/rows/1", json={"review": "ok", "text": "A 99"})
    assert r.status_code == 200 and r.json()["row"]["text"] == "A99" and r.json()["summary"]["corrected"] == 1
    assert client.post("/api/rows/2", json={"review": "drop"}).json()["summary"]["drop"] == 1
    assert client.post("/api/rows/77", json={"review": "ok"}).status_code == 404
    assert client.post("/api/rows/3", json={"review": "later"}).status_code == 422
    assert client.post("/api/rows/3", json={"review": "ok", "text": 5}).status_code == 422
    assert client.post("/api/rows/3", json={"review": "ok", "region": "mars"}).status_code == 422
    assert (
        client.post("/api/rows/4", json={"review": "ok", "region": "uae-ajman"}).json()["row"]["region"] == "uae-ajman"
    )
    assert "uae-dubai" in client.get("/api/rows").json()["regions"]
    assert client.post("/api/rows/3", content=b"not json").status_code == 400
    rows = list(csv.DictReader(rep.labels.open()))
    assert [(r["text"], r["review"]) for r in rows[:3]] == [
        ("A99", "ok"),
        (rows[1]["read"], "drop"),
        (rows[2]["read"], ""),
    ]
