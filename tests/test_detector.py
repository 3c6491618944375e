"""Detector: decoding, assignment, loss, data placement, a few training steps with QAT, export and runtime."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest
import yaml

torch = pytest.importorskip("torch")

from plateforge.ops.boxes import box_iou, letterbox  # noqa: E402
from plateforge.ops.detect import postprocess, select_detections  # noqa: E402


def _raw(rows):
    """Raw detector rows from (box, score, corners) tuples."""
    out = []
    for box, score, corners in rows:
        out.append([*box, score, *np.asarray(corners, np.float32).reshape(8)])
    return np.array(out, np.float32)


def _quad(box):
    x1, y1, x2, y2 = box
    return [[x1, y1], [x2, y1], [x2, y2], [x1, y2]]


def test_select_detections_thresholds_and_suppresses():
    a, b, c = [10, 10, 50, 30], [12, 11, 52, 31], [100, 100, 140, 120]
    raw = _raw([(a, 0.9, _quad(a)), (b, 0.8, _quad(b)), (c, 0.6, _quad(c)), ([0, 0, 5, 5], 0.1, _quad([0, 0, 5, 5]))])
    boxes, scores, corners = select_detections(raw, conf=0.25, iou=0.5)
    assert scores.tolist() == pytest.approx([0.9, 0.6])  # b overlaps a (suppressed), the last is below conf
    assert boxes[1].tolist() == c and corners.shape == (2, 4, 2)
    with pytest.raises(ValueError, match=r"\(N, 13\)"):
        select_detections(np.zeros((4, 6), np.float32))


def test_postprocess_maps_back_to_original_pixels():
    image = np.zeros((100, 200, 3), np.uint8)
    square, lb = letterbox(image, 64)  # scale 0.32, padded 16 px top and bottom
    box_orig = np.array([50, 40, 150, 60], np.float32)
    box_lb = box_orig * lb.scale + [lb.pad_x, lb.pad_y, lb.pad_x, lb.pad_y]
    raw = _raw([(box_lb, 0.95, _quad(box_lb))])
    boxes, scores, corners = postprocess(raw, lb, conf=0.5)
    np.testing.assert_allclose(boxes[0], box_orig, atol=1e-3)
    np.testing.assert_allclose(corners[0], _quad(box_orig), atol=1e-3)


def _grid(size=64, stride=8):
    xs = (np.arange(size // stride) + 0.5) * stride
    pts = np.stack(np.meshgrid(xs, xs), -1).reshape(-1, 2)
    return torch.tensor(pts, dtype=torch.float32), torch.full((len(pts),), float(stride))


def test_assign_picks_points_of_each_plate_even_tiny_ones():
    from plateforge.train.det_loss import DetLossCfg, assign

    points, strides = _grid()
    n = len(points)
    gt = torch.tensor([[[8.0, 8.0, 40.0, 24.0], [50.0, 50.0, 53.0, 52.0], [0, 0, 0, 0]]])  # big, tiny (3x2), pad
    valid = torch.tensor([[True, True, False]])
    boxes = torch.cat([points - 4, points + 4], 1)[None]  # every point predicts its own 8x8 cell
    scores = torch.full((1, n), 0.5)
    pos, idx = assign(scores, boxes, points, strides, gt, valid, DetLossCfg(topk=5))
    assert pos.sum() == 10  # top 5 for each real plate, none for the padding row
    assert set(idx[pos].tolist()) == {0, 1}
    tiny_points = points[pos[0] & (idx[0] == 1)]
    assert (tiny_points - torch.tensor([51.5, 51.0])).abs().max() <= 2.5 * 8  # near the tiny plate
    none, _ = assign(scores, boxes, points, strides, gt, torch.zeros_like(valid), DetLossCfg())
    assert not none.any()


def test_assign_gives_a_shared_point_to_the_plate_it_overlaps_most():
    from plateforge.train.det_loss import DetLossCfg, assign

    points, strides = _grid()
    gt = torch.tensor([[[20.0, 20.0, 44.0, 36.0], [24.0, 20.0, 48.0, 36.0]]])  # two overlapping plates
    boxes = torch.tensor([[20.0, 20.0, 44.0, 36.0]]).expand(len(points), 4)[None].clone()  # all predict plate 0
    pos, idx = assign(
        torch.full((1, len(points)), 0.5), boxes, points, strides, gt, torch.ones(1, 2, dtype=bool), DetLossCfg(topk=50)
    )
    shared = (points[:, 0] > 24) & (points[:, 0] < 44) & (points[:, 1] > 20) & (points[:, 1] < 36)
    assert pos[0, shared].all() and (idx[0, shared] == 0).all()  # inside both: to the one its box matches
    assert (idx[pos] == 1).any()  # plate 1 still gets points of its own


def test_loss_is_small_for_a_perfect_prediction_and_large_otherwise():
    from plateforge.train.det_loss import DetectionLoss, DetLossCfg

    points, strides = _grid()
    gt = torch.tensor([[[16.0, 16.0, 48.0, 32.0]]])
    corners = torch.tensor([[_quad([16.0, 16.0, 48.0, 32.0])]], dtype=torch.float32)
    valid = has = torch.ones(1, 1, dtype=torch.bool)
    perfect = torch.zeros(1, len(points), 13)
    perfect[..., 0] = -12.0
    inside = (points[:, 0] > 16) & (points[:, 0] < 48) & (points[:, 1] > 16) & (points[:, 1] < 32)
    perfect[0, inside, 0] = 12.0
    perfect[0, :, 1:5] = gt[0, 0]
    perfect[0, :, 5:13] = corners.reshape(8)
    loss = DetectionLoss(DetLossCfg(topk=int(inside.sum())))
    good = loss(perfect, points, strides, gt, corners, valid, has)
    assert float(good["box"]) < 1e-4 and float(good["l1"]) < 1e-4 and float(good["corner"]) < 1e-4
    assert float(good["cls"]) < 1e-3
    bad = perfect.clone()
    bad[..., 1:5] += torch.tensor([6.0, -4.0, 3.0, 5.0])
    bad[..., 5:13] += 3.0
    worse = loss(bad, points, strides, gt, corners, valid, has)
    assert float(worse["box"]) > 0.1 and float(worse["corner"]) > 0.05 and float(worse["loss"]) > float(good["loss"])


def test_random_placement_flips_corner_order_and_drops_cut_corners():
    from plateforge.train.det_data import Target, random_placement

    img = np.zeros((100, 100, 3), np.uint8)
    box = np.array([[20, 40, 60, 55]], np.float32)
    t = Target(box, np.array([_quad(box[0])], np.float32), np.array([True]))
    rng = np.random.default_rng(0)
    out, moved = random_placement(img, t, 100, rng, scale_range=(1.0, 1.0), flip=1.0)
    assert out.shape == (100, 100, 3)
    tl, tr, br, bl = moved.corners[0]
    assert tl[0] < tr[0] and tl[1] < bl[1] and br[0] > bl[0]  # still TL, TR, BR, BL after the mirror
    np.testing.assert_allclose(moved.boxes[0], [40, 40, 80, 55], atol=1e-4)
    edge = Target(
        np.array([[70, 10, 140, 30]], np.float32), np.array([_quad([70, 10, 140, 30])], np.float32), np.array([True])
    )
    _, cut = random_placement(
        np.zeros((100, 150, 3), np.uint8), edge, 100, np.random.default_rng(1), scale_range=(1.5, 1.5), flip=0.0
    )
    for k in range(len(cut.boxes)):  # whatever stays visible keeps a box but no corners outside the picture
        assert cut.boxes[k].min() >= 0 and cut.boxes[k].max() <= 100
        assert not cut.has_corners[k] or ((cut.corners[k] >= 0) & (cut.corners[k] <= 100)).all()


def test_train_set_draws_scenes_from_every_source_in_turn():
    from plateforge.train.det import DetConfig
    from plateforge.train.det_data import DetTrainSet, SceneSource
    from plateforge.typed_config import from_dict

    cfg = from_dict(
        DetConfig,
        {"dataset": {"scenes": {"n": 3, "seed": 1}, "more_scenes": [{"n": 2, "seed": 5, "regions": "in"}]}},
        "cfg",
    )
    (focus,) = cfg.dataset.more_scenes
    assert isinstance(focus, SceneSource) and focus.regions == "in"
    small = {"width": 160, "height": 120, "plate_height": (20.0, 30.0), "plates": (1, 1), "real_photo": 0.0}
    ds = DetTrainSet([SceneSource(n=3, seed=1, **small), SceneSource(n=2, seed=5, regions="in", **small)], [], 96)
    assert len(ds) == 5
    assert [ds.scene_maker(i)[0].src.seed for i in range(5)] == [1, 1, 1, 5, 5]
    assert [ds.scene_maker(i)[1] for i in range(5)] == [0, 1, 2, 0, 1]
    maker, _ = ds.scene_maker(4)
    maker.make(np.random.default_rng(0))
    assert [s.code for s in maker.specs] == ["in"]  # the focus source renders only its regions
    img, t = ds[4]
    assert tuple(img.shape) == (96, 96, 3) and len(t.boxes) == 1


def test_train_set_shows_its_grey_share_in_grey_levels():
    from plateforge.train.det_data import DetTrainSet, SceneSource

    small = {"width": 160, "height": 120, "plate_height": (20.0, 30.0), "plates": (1, 1), "real_photo": 0.0}
    colour = DetTrainSet([SceneSource(n=20, seed=1, **small)], [], 96)
    half = DetTrainSet([SceneSource(n=20, seed=1, **small)], [], 96, grey=0.5)
    flat = lambda img: np.ptp(img.numpy().astype(int), axis=2).max() == 0  # noqa: E731
    assert 4 <= sum(flat(half[i][0]) for i in range(20)) <= 16 and not any(flat(colour[i][0]) for i in range(5))
    for i in range(20):  # the labels never change
        assert np.allclose(half[i][1].boxes, colour[i][1].boxes)


def test_a_grey_validation_set_shows_the_same_images_and_labels_in_grey_levels():
    from plateforge.train.det_data import DetValImages, DetValSet, SceneSource

    scenes = SceneSource(n=3, seed=4, width=160, height=120, plate_height=(20.0, 30.0), plates=(1, 1))
    colour = DetValImages(DetValSet("synth", scenes=scenes), 96)
    grey = DetValImages(DetValSet("synth_grey", scenes=scenes, grey=True), 96)
    for i in range(3):
        (a, ta), (b, tb) = colour.labelled(i), grey.labelled(i)
        assert np.ptp(a.astype(int), axis=2).max() > 0 and np.ptp(b.astype(int), axis=2).max() == 0
        assert np.allclose(ta.boxes, tb.boxes)
        assert np.abs(cv2.cvtColor(a, cv2.COLOR_BGR2GRAY).astype(int) - b[..., 0]).max() == 0  # its luma


def _tiny_config(tmp_path: Path, **training) -> Path:
    cfg = {
        "experiment": {"name": "tiny", "output_dir": str(tmp_path / "runs"), "seed": 0},
        "dataset": {
            "scenes": {"n": 12, "seed": 3, "augment": "light", "width": 320, "height": 240, "plate_height": [14, 50]},
            "val": [{"name": "synth", "scenes": {"n": 4, "seed": 9, "augment": "none", "width": 320, "height": 240}}],
        },
        "model": {"name": "detnet_n", "input_size": 128},
        "training": {
            "epochs": 2,
            "batch_size": 4,
            "num_workers": 0,
            "limit_train_batches": 3,
            "warmup_epochs": 0.5,
            "log_every_n_steps": 1,
            **training,
        },
        "quantization": {"qat": True, "qat_fraction": 0.5},
    }
    path = tmp_path / "det.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return path


def test_train_det_with_qat_then_export_and_detect(tmp_path):
    import onnx

    from plateforge.export.onnx_export import export_checkpoint, load_checkpoint
    from plateforge.runtime.detector import PlateDetector
    from plateforge.train.det import train_det
    from tests.test_float_entry import entry_conv_is_float

    run = train_det(_tiny_config(tmp_path))
    rows = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert [r["epoch"] for r in rows] == [0, 1]
    assert [r["flags/qat"] for r in rows] == [0.0, 1.0]  # QAT switched on for the final half
    for key in (
        "train/cls_loss",
        "train/box_loss",
        "train/l1_loss",
        "train/corner_loss",
        "val/synth/map50",
        "val/synth/map5095",
        "val/synth/recall",
        "val/fps",
        "flags/ema",
        "flags/amp",
    ):
        assert key in rows[-1]
    assert (run / "metrics.csv").is_file() and (run / "curves.png").stat().st_size > 1000
    ckpts = run / "checkpoints"
    assert (ckpts / "last.ckpt").is_file() and (ckpts / "best_map5095.ckpt").is_file()
    assert any(p.name.startswith("ckpt_epoch001_map5095") for p in (ckpts / "topk").iterdir())
    ckpt = load_checkpoint(ckpts / "last.ckpt")
    info = ckpt["plateforge"]
    assert info["task"] == "detector" and info["qat"] is True and len(info["dataset_hash"]) == 64
    assert info["config"]["model"]["input_size"] == 128 and "optimizer_states" in ckpt

    qdq = export_checkpoint(ckpts / "last.ckpt", tmp_path / "det_int8.onnx")
    ops = {n.op_type for n in onnx.load(qdq["path"]).graph.node}
    assert {"QuantizeLinear", "DequantizeLinear", "Conv"} <= ops
    assert entry_conv_is_float(onnx.load(qdq["path"]))  # the stem on the image runs in float
    fp32 = export_checkpoint(ckpts / "last.ckpt", tmp_path / "det.onnx", size=160, fake_quant=False)
    assert "QuantizeLinear" not in {n.op_type for n in onnx.load(fp32["path"]).graph.node}
    assert fp32["max_abs_diff"] < 1e-2

    img = np.full((240, 320, 3), 90, np.uint8)
    for path in (qdq["path"], fp32["path"]):
        det = PlateDetector(path, conf=0.0, max_det=5)
        found = det.detect(img)
        assert len(found) == 5 and det.size in (128, 160)
        for d in found:  # original image pixels, corners TL, TR, BR, BL
            assert 0 <= d.box[0] <= d.box[2] <= 320 and 0 <= d.box[1] <= d.box[3] <= 240
            assert len(d.corners) == 4 and 0 <= d.score <= 1

    resumed = train_det(_tiny_config(tmp_path), resume=run, overrides={"training.epochs": 3})
    rows = [json.loads(line) for line in (resumed / "metrics.jsonl").read_text().splitlines()]
    assert [r["epoch"] for r in rows] == [0, 1, 2] and rows[-1]["flags/qat"] == 1.0


def test_detector_rejects_a_recognizer_model():
    from plateforge.runtime.detector import PlateDetector
    from plateforge.runtime.session import bundled_model

    with pytest.raises(ValueError, match="not a plateforge detector"):
        PlateDetector(bundled_model("recognizer.onnx"))


def test_ddp_two_cpu_processes_with_gloo(tmp_path):
    """Lightning's DDP over two CPU processes (gloo): both ranks train, rank 0 writes the run."""
    config = _tiny_config(
        tmp_path, accelerator="cpu", devices=2, strategy="ddp", limit_train_batches=2, epochs=1, ema_decay=0
    )
    env = {**os.environ, "PL_DISABLE_FORK": "1", "OMP_NUM_THREADS": "1"}
    res = subprocess.run(
        [sys.executable, "-m", "plateforge", "train", "det", "--config", str(config)],
        capture_output=True,
        text=True,
        timeout=600,
        env=env,
        cwd=tmp_path,
    )
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]
    assert "Initializing distributed: GLOBAL_RANK: 1, MEMBER: 2/2" in res.stdout + res.stderr
    (run,) = (tmp_path / "runs").iterdir()
    ckpt = torch.load(run / "checkpoints" / "last.ckpt", map_location="cpu", weights_only=False)
    assert ckpt["plateforge"]["world_size"] == 2


def test_corner_regressor_trains_exports_and_refines(tmp_path):
    from plateforge.export.onnx_export import export_checkpoint
    from plateforge.ops.geometry import crop_around_box
    from plateforge.runtime.corners import CornerRegressor
    from plateforge.train.corners import train_corners

    scenes = {
        "n": 16,
        "seed": 5,
        "augment": "light",
        "width": 320,
        "height": 240,
        "plates": [1, 1],
        "plate_height": [20, 60],
    }
    cfg = {
        "experiment": {"name": "c", "output_dir": str(tmp_path / "runs")},
        "dataset": {"train": scenes, "val": {**scenes, "n": 8, "seed": 6}},
        "model": {"name": "cornernet_r18_s", "height": 48, "width": 96},
        "training": {"epochs": 1, "batch_size": 8, "num_workers": 0, "limit_train_batches": 2},
    }
    path = tmp_path / "corners.yaml"
    path.write_text(yaml.safe_dump(cfg))
    run = train_corners(path)
    rows = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert 0 < rows[-1]["val/mae"] < 0.5 and (run / "checkpoints" / "best_mae.ckpt").is_file()
    # --init starts a new run from those weights (learning rate 0 here, so the conv weights stay as loaded)
    run2 = train_corners(path, overrides={"training.lr": 0.0}, init=run / "checkpoints" / "best_mae.ckpt")
    assert run2 != run and (run2 / "init_from.txt").is_file()
    w2 = torch.load(run2 / "checkpoints" / "last.ckpt", map_location="cpu", weights_only=False)["state_dict"]
    w0 = torch.load(run / "checkpoints" / "best_mae.ckpt", map_location="cpu", weights_only=False)["state_dict"]
    conv = next(k for k, v in w0.items() if v.ndim == 4)
    torch.testing.assert_close(w2[conv], w0[conv])
    rep = export_checkpoint(run / "checkpoints" / "best_mae.ckpt", tmp_path / "corners.onnx")
    assert rep["max_abs_diff"] < 1e-4
    img = np.zeros((200, 300, 3), np.uint8)
    box = np.array([100, 80, 180, 110], np.float32)
    corners = CornerRegressor(rep["path"]).refine(img, box[None])
    assert corners.shape == (1, 4, 2)
    assert np.abs(corners[0].mean(0) - [140, 95]).max() < 60  # somewhere around the box, in image pixels
    crop, origin, size = crop_around_box(img, box, 0.15, 96, 48)  # the crop maps back exactly
    np.testing.assert_allclose(origin + size, [192, 114.5], atol=1e-4)
    assert crop.shape == (48, 96, 3)


def test_corner_crops_cut_around_the_detectors_box():
    from plateforge.train.corners import CornerCrops
    from plateforge.train.det_data import SceneSource

    src = SceneSource(n=6, seed=3, augment="none", plates=(1, 1), plate_height=(40.0, 80.0), occlusion=1.0)
    crops = CornerCrops(src, jitter=0.04, margin=0.15, height=48, width=96, train=True, detector_boxes=1.0)
    found = 0
    for i in range(len(crops)):
        img, t = crops.scenes.make(np.random.default_rng([src.seed, 0, i]))  # the scene item i draws
        box = crops.detected_box(img, t.boxes[0])
        if box is None:
            continue
        found += 1
        assert box_iou(box[None], t.boxes[:1])[0, 0] >= 0.3
        _, target = crops[i]
        # the target is the plate's true corners, in fractions of the crop around the detector's box
        origin = box[:2] - 0.15 * (box[2:] - box[:2])
        size = 1.3 * (box[2:] - box[:2])
        np.testing.assert_allclose(target.numpy().reshape(4, 2) * size + origin, t.corners[0], atol=0.05)
    assert found >= 4


def test_corner_crops_show_their_grey_share_in_grey_levels():
    from plateforge.train.corners import CornerCrops
    from plateforge.train.det_data import SceneSource

    src = SceneSource(n=12, seed=4, augment="none", plates=(1, 1), plate_height=(30.0, 60.0))

    def crops(grey):
        return CornerCrops(src, jitter=0.04, margin=0.15, height=48, width=96, train=False, grey=grey)

    def monochrome(x):
        x = x.numpy().astype(int)
        return bool(np.abs(x[..., 0] - x[..., 1]).max() <= 1 and np.abs(x[..., 1] - x[..., 2]).max() <= 1)

    colour, grey, half = crops(0.0), crops(1.0), crops(0.5)
    n_half = 0
    for i in range(src.n):
        (c, tc), (g, tg) = colour[i], grey[i]
        assert not monochrome(c) and monochrome(g)
        torch.testing.assert_close(tc, tg)  # all grey: the same scene, box and target as colour
        n_half += monochrome(half[i][0])
    assert 2 <= n_half <= 10  # about half
    with pytest.raises(ValueError, match="dataset.grey"):
        crops(1.5)


def test_ignore_regions_take_no_score_loss_and_move_with_the_placement():
    from plateforge.train.det_data import Target, collate_train, random_placement
    from plateforge.train.det_loss import DetectionLoss, DetLossCfg, ignored_points, sigmoid_focal_loss

    points, strides = _grid()
    ignore = torch.tensor([[[40.0, 40.0, 44.0, 43.0]]])  # a tiny unlabelled plate: no point lies inside it
    boxes = torch.cat([points - 4, points + 4], 1)[None]
    hit = ignored_points(boxes, points, strides, ignore, torch.ones(1, 1, dtype=torch.bool), 0.3)
    assert hit.sum() >= 1 and (points[hit[0]] - torch.tensor([42.0, 41.5])).abs().max() <= 4 + 2  # beside it only
    assert not ignored_points(boxes, points, strides, ignore, torch.zeros(1, 1, dtype=torch.bool), 0.3).any()

    gt = torch.tensor([[[8.0, 8.0, 24.0, 16.0]]])
    corners = torch.tensor([[_quad([8.0, 8.0, 24.0, 16.0])]], dtype=torch.float32)
    valid = has = torch.ones(1, 1, dtype=torch.bool)
    raw = torch.zeros(1, len(points), 13)
    raw[..., 0] = -8.0
    raw[0, :, 1:5] = boxes[0]
    raw[0, hit[0], 0] = 6.0  # the network fires on the unlabelled plate
    loss = DetectionLoss(DetLossCfg())
    plain = loss(raw, points, strides, gt, corners, valid, has)
    marked = loss(raw, points, strides, gt, corners, valid, has, ignore, torch.ones(1, 1, dtype=torch.bool))
    # the detection on the ignore region loses exactly its focal penalty; every other point is scored as before
    penalty = sigmoid_focal_loss(raw[0, hit[0], 0], torch.zeros(int(hit.sum())), 2.0, 0.25).sum()
    n_pos = float(plain["positives"])
    assert float(plain["cls"]) - float(marked["cls"]) == pytest.approx(float(penalty) / n_pos, rel=1e-4)
    assert float(penalty) / n_pos > 0.1
    assert float(marked["box"]) == pytest.approx(float(plain["box"]))  # the labelled plate is scored as before

    t = Target(gt[0].numpy(), corners[0].numpy(), np.array([True]), np.array([[60, 40, 80, 45]], np.float32))
    _, moved = random_placement(np.zeros((100, 100, 3), np.uint8), t, 100, np.random.default_rng(0), (1.0, 1.0), 1.0)
    np.testing.assert_allclose(moved.ignore, [[20, 40, 40, 45]], atol=1e-4)  # mirrored with the image
    batch = collate_train(
        [
            (torch.zeros(100, 100, 3, dtype=torch.uint8), moved),
            (
                torch.zeros(100, 100, 3, dtype=torch.uint8),
                Target(np.zeros((0, 4), np.float32), np.zeros((0, 4, 2), np.float32), np.zeros(0, bool)),
            ),
        ]
    )
    assert batch[5].shape == (2, 1, 4) and batch[6].tolist() == [[True], [False]]
