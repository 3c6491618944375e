"""The plate check: fitting, writing it into a recognizer, and the reader dropping what is not a plate."""

from __future__ import annotations

import json

import numpy as np
import onnx
import onnxruntime as ort
import pytest

pytest.importorskip("torch")
pytest.importorskip("albumentations")

from plateforge.export.plate_head import add_plate_head  # noqa: E402
from plateforge.runtime.alpr import ALPR  # noqa: E402
from plateforge.runtime.recognizer import PLATE_OUTPUT, PlateRecognizer  # noqa: E402
from plateforge.runtime.session import bundled_model  # noqa: E402
from plateforge.train.plate_head import (  # noqa: E402
    FeatureReader,
    fit_logistic,
    fit_mlp,
    plate_probability,
    train_plate_head,
)
from tests.conftest import REGIONS_BEFORE_SA  # noqa: E402


def _plate_free_scenes(n: int, seed: int = 4242):
    from plateforge.specs import select_regions
    from plateforge.synth.scene import Backgrounds, SceneOptions, compose_scene

    opts = SceneOptions(width=1280, height=720, plates=(0, 0), distractors=1.0, real_photo=0.0)
    bg = Backgrounds(1280, 720, seed=seed)
    return [compose_scene(select_regions(None), np.random.default_rng([seed, i]), opts, bg).image for i in range(n)]


def test_fit_logistic_separates_two_groups_and_ignores_their_sizes():
    rng = np.random.default_rng(0)
    pos = rng.normal(1.0, 1.0, (300, 8)) + [3, 0, 0, 0, 0, 0, 0, 0]
    neg = rng.normal(1.0, 1.0, (3000, 8))
    w, b = fit_logistic(pos, neg, 1e-3)
    assert w.shape == (8,) and abs(w[0]) > 5 * np.abs(w[1:]).max()
    head = [(w[None], np.array([b], np.float32))]
    p_pos, p_neg = plate_probability(pos, head), plate_probability(neg, head)
    assert (p_pos >= 0.5).mean() > 0.9 and (p_neg < 0.5).mean() > 0.9  # balanced: the small class is not given up


def test_fit_mlp_separates_what_a_line_cannot():
    """Plates inside a ring of non-plates: no logistic regression separates them; one hidden layer does."""
    rng = np.random.default_rng(0)
    pos = rng.normal(0, 0.5, (400, 2))
    angle, radius = rng.uniform(0, 2 * np.pi, 2000), rng.uniform(2, 3, 2000)
    neg = np.stack([radius * np.cos(angle), radius * np.sin(angle)], 1)
    head = fit_mlp(pos, neg, hidden=16, weight_decay=1e-3, seed=0)
    assert [w.shape for w, _ in head] == [(16, 2), (1, 16)]
    assert (plate_probability(pos, head) >= 0.5).mean() > 0.95 and (plate_probability(neg, head) < 0.5).mean() > 0.95
    again = fit_mlp(pos, neg, hidden=16, weight_decay=1e-3, seed=0)
    assert all(np.array_equal(a, b) for (a, _), (b, _) in zip(head, again, strict=True))  # seeded


def test_added_head_leaves_the_reads_alone_and_scores_the_pooled_features(tmp_path):
    src = bundled_model("recognizer_small.onnx")  # a recognizer without the head
    reader = FeatureReader(src)
    w = np.random.default_rng(1).normal(0, 0.05, reader(np.zeros((1, 48, 160, 3), np.uint8)).shape[1])
    linear = [(w[None].astype(np.float32), np.array([0.3], np.float32))]
    out = add_plate_head(src, linear, tmp_path / "with_head.onnx", {"note": "test"})
    model = onnx.load(str(out))
    assert [o.name for o in model.graph.output] == ["chars", "regions", PLATE_OUTPUT]
    assert json.loads({p.key: p.value for p in model.metadata_props}["plateforge_plate_head"]) == {"note": "test"}
    crops = np.random.default_rng(2).integers(0, 256, (3, 48, 160, 3), dtype=np.uint8)
    before = ort.InferenceSession(str(src)).run(None, {"images": crops})
    after = ort.InferenceSession(str(out)).run(None, {"images": crops})
    assert np.array_equal(before[0], after[0]) and np.array_equal(before[1], after[1])
    expected = plate_probability(reader(list(crops)), linear)
    assert after[2].shape == (3, 1) and np.allclose(after[2][:, 0], expected, atol=1e-5)
    rec = PlateRecognizer(out, specialists=None, small_specialist=None)
    chars, regions, plate = rec.first_look(list(crops))
    assert rec.has_plate_head and np.allclose(plate, expected, atol=1e-5)
    assert np.allclose(chars, rec.view_logits([[c] for c in crops], zooms=(0.0,), specialists=False)[0])
    rng = np.random.default_rng(3)
    mlp = [(rng.normal(0, 0.05, (8, len(w))), rng.normal(0, 0.1, 8)), (rng.normal(0, 1, (1, 8)), np.zeros(1))]
    again = add_plate_head(out, mlp, tmp_path / "again.onnx", {"note": "refit"})  # replaces the linear head
    refit = onnx.load(str(again))
    assert [o.name for o in refit.graph.output] == ["chars", "regions", PLATE_OUTPUT]
    assert len(refit.graph.node) == len(model.graph.node) + 2  # a Gemm and a Relu more, nothing left over
    got = ort.InferenceSession(str(again)).run([PLATE_OUTPUT], {"images": crops})[0][:, 0]
    assert np.allclose(got, plate_probability(reader(list(crops)), mlp), atol=1e-5)
    grey = add_plate_head(bundled_model("recognizer_grey.onnx"), linear, tmp_path / "grey.onnx", {})  # has attention
    names = ["chars", "regions", PLATE_OUTPUT, "attention"]  # the documented order, whatever the file had
    assert [o.name for o in onnx.load(str(grey)).graph.output] == names


def test_train_plate_head_writes_a_recognizer_with_its_report(tmp_path):
    """A tiny fit, with a site's plate-free frames (a `data calib` manifest) as real negatives."""
    import cv2

    from plateforge.data.calib import CalibOptions, build_calibration_set

    frames = tmp_path / "frames"
    frames.mkdir()
    for k, img in enumerate(_plate_free_scenes(1, seed=4242)):  # the detector finds 5 boxes in this one
        cv2.imwrite(str(frames / f"f{k}.jpg"), img)
    build_calibration_set([frames], tmp_path / "site", CalibOptions(n=1))
    site = tmp_path / "site" / "calib.jsonl"
    cfg = tmp_path / "head.yaml"
    cfg.write_text(
        "plate_free_scenes: 4\nplate_scenes: 4\nwidth: 640\nheight: 480\nval_plate_free_scenes: 2\n"
        f"val_plate_scenes: 2\nthreads: 1\nreal: ['{site}']\nreal_off: ['{site}']\n"
    )
    out = tmp_path / "rec.onnx"
    report = train_plate_head(cfg, out)
    assert out.is_file() and out.with_suffix(".png").is_file()
    assert json.loads(out.with_suffix(".json").read_text())["threshold"] == report["threshold"] == 0.05
    assert report["train"]["pos/synthetic"]["n"] > 0 and report["train"]["neg/plate_free"]["n"] > 0
    assert report["train"][f"neg/{site}"]["n"] > 0 and f"pos/{site}" not in report["train"]  # no plates there
    assert PlateRecognizer(out, specialists=None, small_specialist=None).has_plate_head
    bad = tmp_path / "bad.yaml"
    bad.write_text(f"real_off: ['{site}']\n")
    with pytest.raises(ValueError, match="real_off lists .* which real does not"):
        train_plate_head(bad, tmp_path / "x.onnx")
    bad.write_text("real: [nowhere.jsonl]\n")
    with pytest.raises(FileNotFoundError, match="manifest nowhere.jsonl not found"):
        train_plate_head(bad, tmp_path / "x.onnx")


def test_a_grey_networks_plate_check_is_fitted_on_grey_crops(tmp_path, monkeypatch):
    """``grey: true``: every scene, photo and crop reaches the features in grey levels, as monochrome frames
    reach a grey network; paths are loaded first, labels and unreadable paths pass as they are."""
    import cv2

    from plateforge.runtime.grey import GREY_FRAME, is_monochrome
    from plateforge.train import plate_head

    scene = _plate_free_scenes(1, seed=4242)[0]
    photo = tmp_path / "photo.png"
    cv2.imwrite(str(photo), scene)
    got = list(plate_head._in_grey([(scene, ["a"]), (str(photo), ["b"]), (str(tmp_path / "none.png"), [])]))
    assert is_monochrome(got[0][0]) and is_monochrome(got[1][0]) and got[2][0] == str(tmp_path / "none.png")
    assert [g[1] for g in got] == [["a"], ["b"], []] and not is_monochrome(scene)
    seen = []
    features = plate_head.FeatureReader.__call__
    monkeypatch.setattr(
        plate_head.FeatureReader, "__call__", lambda self, crops: seen.extend(crops) or features(self, crops)
    )
    frames = []  # GREY_FRAME at each first look: the boxes off real plates are read as the reader reads them too
    first_look = PlateRecognizer.first_look

    def noted(self, *args, **kwargs):
        frames.append(GREY_FRAME.get())
        return first_look(self, *args, **kwargs)

    monkeypatch.setattr(PlateRecognizer, "first_look", noted)
    from plateforge.data.manifest import ImageRecord, write_manifest

    site = tmp_path / "site.jsonl"  # a labelled photo without plates: every box the reader finds is off them
    site_photo = tmp_path / "site.png"  # read in grey: 3 boxes, one read as no valid plate (seed 4242's 4: valid)
    cv2.imwrite(str(site_photo), _plate_free_scenes(1, seed=4243)[0])
    write_manifest([ImageRecord(str(site_photo), scene.shape[1], scene.shape[0], ())], site)
    cfg = tmp_path / "head.yaml"
    cfg.write_text(
        "plate_free_scenes: 3\nplate_scenes: 3\nwidth: 640\nheight: 480\nval_plate_free_scenes: 1\n"
        f"val_plate_scenes: 1\nthreads: 1\ngrey: true\nreal: ['{site}']\nreal_off: ['{site}']\n"
    )
    report = train_plate_head(cfg, tmp_path / "rec.onnx")
    assert report["config"]["grey"] and len(seen) > 5 and all(is_monochrome(c) for c in seen)
    assert report["train"][f"neg/{site}"]["n"] > 0 and frames and all(f is True for f in frames)


def test_averaged_recognizers_leave_the_plate_check_out(tmp_path):
    """A plate check fits one network's features: the mean of two recognizers has none (fit it again)."""
    from plateforge.export.average import average_models

    bundled = bundled_model("recognizer.onnx")
    assert PLATE_OUTPUT in [o.name for o in onnx.load(str(bundled)).graph.output]
    out = average_models([bundled, bundled_model("recognizer_us.onnx")], tmp_path / "mean.onnx")["path"]
    assert [o.name for o in onnx.load(out).graph.output] == ["chars", "regions", "attention"]
    assert not PlateRecognizer(out, specialists=None, small_specialist=None).has_plate_head


def _with_bias(tmp_path, bias: float):
    """The bundled recognizer's file with its plate head's last layer set to give ``bias`` (always / never a
    plate)."""
    model = onnx.load(str(bundled_model("recognizer.onnx")))
    heads = [i for i in model.graph.initializer if i.name.startswith("plate_head.")]
    last = max(int(i.name.split(".")[1]) for i in heads)
    for init in heads:
        value = onnx.numpy_helper.to_array(init)
        if init.name == f"plate_head.{last}.weight":
            init.CopyFrom(onnx.numpy_helper.from_array(np.zeros_like(value), init.name))
        if init.name == f"plate_head.{last}.bias":
            init.CopyFrom(onnx.numpy_helper.from_array(np.full_like(value, bias), init.name))
    path = tmp_path / f"bias{bias}.onnx"
    onnx.save(model, str(path))
    return path


def test_reader_drops_plates_the_head_rejects_and_reports_the_score(tmp_path):
    from plateforge.eval.read_eval import scenes_with_texts

    img, labels, _ = next(iter(scenes_with_texts(1, seed=31)))
    yes = ALPR(recognizer=_with_bias(tmp_path, 20.0), threads=1, specialists=False)
    no = ALPR(recognizer=_with_bias(tmp_path, -20.0), threads=1, specialists=False)
    kept = yes.read(img)
    assert kept and all(p.plate_score == pytest.approx(1.0) for p in kept)
    assert no.read(img) == []
    off = ALPR(recognizer=no.recognizer, threads=1, plate_check=0)
    plates = off.read(img)
    assert [p.text for p in plates] == [p.text for p in kept]
    assert all(p.plate_score == pytest.approx(0.0) and p.to_dict()["plate_score"] == 0.0 for p in plates)
    with pytest.raises(ValueError, match="plate_check: expected a plate probability"):
        ALPR(recognizer=no.recognizer, threads=1, plate_check=1.5)


def test_an_unsure_plate_check_keeps_only_reads_that_fit_their_patterns(tmp_path):
    """Every crop scored 0.2: between plate_check (0.05) and plate_check_sure (0.3) only valid reads stay."""
    from plateforge.eval.read_eval import scenes_with_texts

    unsure = ALPR(recognizer=_with_bias(tmp_path, float(np.log(0.2 / 0.8))), threads=1, specialists=False)
    off = ALPR(detector=unsure.detector, recognizer=unsure.recognizer, corners=unsure.corners, plate_check=0)
    lenient = ALPR(detector=unsure.detector, recognizer=unsure.recognizer, corners=unsure.corners, plate_check_sure=0)
    images = _plate_free_scenes(12) + [img for img, _, _ in scenes_with_texts(2, seed=31)]
    every = [p for im in images for p in off.read(im)]
    assert {p.format_ok for p in every} == {True, False}  # both kinds are there to keep and to drop
    assert all(p.plate_score == pytest.approx(0.2, abs=1e-4) for p in every)
    assert [p.text for im in images for p in unsure.read(im)] == [p.text for p in every if p.format_ok]
    assert [p.text for im in images for p in lenient.read(im)] == [p.text for p in every]
    with pytest.raises(ValueError, match="plate_check_sure: expected a plate probability"):
        ALPR(recognizer=unsure.recognizer, threads=1, plate_check_sure=-0.1)


def test_bundled_reader_reports_fewer_signs_as_plates_and_keeps_the_plates():
    """The shipped head: on plate-free scenes of signs and plate-like text most false plates go; every plate
    read right on synthetic scenes stays."""
    from plateforge.eval.read_eval import results_on, scenes_with_texts

    alpr = ALPR(threads=2)
    assert alpr.recognizer.has_plate_head
    unchecked = ALPR(detector=alpr.detector, recognizer=alpr.recognizer, corners=alpr.corners, plate_check=0)
    images = _plate_free_scenes(12)
    before = sum(len(unchecked.read(im)) for im in images)
    after = sum(len(alpr.read(im)) for im in images)
    assert before >= 4 and after <= before / 2, (before, after)

    def right(reader, img, labels) -> int:
        found = results_on(reader.read(img), labels)
        return sum(r is not None and r.text == lab.text for r, lab in zip(found, labels, strict=True))

    counts = [
        (right(unchecked, img, labels), right(alpr, img, labels)) for img, labels, _ in scenes_with_texts(6, seed=77)
    ]
    before, after = (sum(c) for c in zip(*counts, strict=True))
    assert before >= 6 and after == before


def test_eval_det_drops_what_the_plate_check_rejects_as_the_reader_does(tmp_path):
    from plateforge.eval.det_eval import evaluate_detector

    # the scenes of before Saudi and Omani plates: every plate in them is read plate-like
    plain = evaluate_detector(scenes=3, threads=1, corners="bundled", scene_regions=REGIONS_BEFORE_SA)
    checked = evaluate_detector(
        scenes=3, threads=1, corners="bundled", plate_check=0.05, scene_regions=REGIONS_BEFORE_SA
    )
    assert plain["plate_check"] is None and checked["plate_check"]["threshold"] == 0.05
    assert checked["recall"] == plain["recall"] and checked["precision"] >= plain["precision"]
    never = evaluate_detector(
        scenes=3, threads=1, corners="bundled", plate_check=0.05, recognizer=_with_bias(tmp_path, -20.0)
    )
    assert never["recall"] == 0.0
    with pytest.raises(ValueError, match="no plate check"):
        evaluate_detector(scenes=1, plate_check=0.05, recognizer=bundled_model("recognizer_us.onnx"))
