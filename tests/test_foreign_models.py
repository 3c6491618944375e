"""Bring-your-own models: small ONNX graphs shaped like Ultralytics (raw, pose, end-to-end),
open-image-models and fast-plate-ocr exports load through PlateDetector / PlateRecognizer / ALPR."""

from __future__ import annotations

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from plateforge.runtime.alpr import ALPR
from plateforge.runtime.detector import PlateDetector
from plateforge.runtime.recognizer import PlateRecognizer


def _constant_model(path, value: np.ndarray, input_shape, input_type=TensorProto.FLOAT, metadata=None):
    """An ONNX model whose output is ``value`` (the input only feeds a zero so the graph uses it)."""
    nodes = [
        helper.make_node("Cast", ["x"], ["xf"], to=TensorProto.FLOAT),
        helper.make_node("ReduceMean", ["xf"], ["m"], keepdims=0),
        helper.make_node("Mul", ["m", "zero"], ["z"]),
        helper.make_node("Add", ["value", "z"], ["y"]),
    ]
    graph = helper.make_graph(
        nodes,
        "foreign",
        [helper.make_tensor_value_info("x", input_type, input_shape)],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, list(value.shape))],
        [numpy_helper.from_array(value.astype(np.float32), "value"), numpy_helper.from_array(np.float32(0), "zero")],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    for k, v in (metadata or {}).items():
        model.metadata_props.append(onnx.StringStringEntryProto(key=k, value=v))
    onnx.save(model, str(path))
    return path


IMG = np.full((320, 640, 3), 90, np.uint8)  # letterboxed to 64: scale 0.1, 16 px of padding top and bottom


def _expect_one_plate(dets, box):
    assert len(dets) == 1
    np.testing.assert_allclose(dets[0].box, box, atol=0.5)
    assert 0.8 <= dets[0].score <= 1.0 and len(dets[0].corners) == 4


def test_ultralytics_raw_output(tmp_path):
    out = np.zeros((1, 5, 84), np.float32)
    out[0, :, 3] = [32, 32, 20, 10, 0.9]  # cx, cy, w, h (input pixels), score
    out[0, :, 4] = [33, 32, 20, 10, 0.85]  # a duplicate NMS removes
    det = PlateDetector(_constant_model(tmp_path / "y8.onnx", out, [1, 3, 64, 64]), threads=1)
    assert det.foreign.kind == "ultralytics_raw"
    _expect_one_plate(det.detect(IMG), [220, 110, 420, 210])


def test_ultralytics_pose_gives_corners(tmp_path):
    out = np.zeros((1, 4 + 1 + 12, 84), np.float32)
    kps = [22, 27, 1, 42, 28, 1, 42, 37, 1, 22, 36, 1]
    out[0, :, 0] = [32, 32, 20, 10, 0.95, *kps]
    det = PlateDetector(
        _constant_model(
            tmp_path / "pose.onnx", out, [1, 3, 64, 64], metadata={"kpt_shape": "[4, 3]", "names": "{0: 'plate'}"}
        ),
        threads=1,
    )
    (d,) = det.detect(IMG)
    np.testing.assert_allclose(d.corners[0], (220, 110), atol=0.5)  # TL keypoint mapped back
    np.testing.assert_allclose(d.corners[2], (420, 210), atol=0.5)


def test_ultralytics_end2end_and_open_image_models(tmp_path):
    e2e = np.zeros((1, 10, 6), np.float32)
    e2e[0, 0] = [22, 27, 42, 37, 0.9, 0]
    det = PlateDetector(_constant_model(tmp_path / "e2e.onnx", e2e, [1, 3, 64, 64]), threads=1)
    assert det.foreign.kind == "ultralytics_e2e"
    _expect_one_plate(det.detect(IMG), [220, 110, 420, 210])
    tiled = PlateDetector(det.path, threads=1, tiles=2)  # tiles run through the same foreign decoding
    dets = tiled.detect(IMG)
    assert any(np.allclose(d.box, [220, 110, 420, 210], atol=0.5) for d in dets)  # the whole pass's plate kept
    h, w = IMG.shape[:2]
    assert all(0 <= d.box[0] < d.box[2] <= w and 0 <= d.box[1] < d.box[3] <= h for d in dets)
    oim = np.array([[0, 22, 27, 42, 37, 0, 0.88]], np.float32)
    det = PlateDetector(_constant_model(tmp_path / "oim.onnx", oim, [1, 3, 64, 64]), threads=1)
    assert det.foreign.kind == "oim_e2e"
    _expect_one_plate(det.detect(IMG), [220, 110, 420, 210])


def test_unknown_model_is_refused_clearly(tmp_path):
    path = _constant_model(tmp_path / "odd.onnx", np.zeros((3, 3), np.float32), [1, 3, 64, 64])
    with pytest.raises(ValueError, match="not a plateforge detector and unrecognised detector output"):
        PlateDetector(path)


def _fpo(tmp_path, color="grayscale"):
    alphabet = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ_"
    slots = 9
    probs = np.full((1, slots, len(alphabet)), 0.001, np.float32)
    for s, ch in enumerate("AB12C"):
        probs[0, s, alphabet.index(ch)] = 0.97
    probs[0, 5:, alphabet.index("_")] = 0.99
    channels = 1 if color == "grayscale" else 3
    model = _constant_model(tmp_path / "fpo.onnx", probs.reshape(1, -1), [1, 64, 128, channels], TensorProto.UINT8)
    cfg = tmp_path / "plate_config.yaml"
    cfg.write_text(
        f"max_plate_slots: {slots}\nalphabet: '{alphabet}'\npad_char: '_'\nimg_height: 64\nimg_width: 128\n"
        f"keep_aspect_ratio: true\ninterpolation: linear\nimage_color_mode: {color}\n"
    )
    return model, cfg


@pytest.mark.parametrize("color", ["grayscale", "rgb"])
def test_fast_plate_ocr_recognizer(tmp_path, color):
    model, cfg = _fpo(tmp_path, color)
    rec = PlateRecognizer(model, config=cfg, batch_size=1)
    read = rec.run(np.full((40, 160, 3), 200, np.uint8))
    assert read.text == "AB12C" and read.confidence > 0.9 and read.region is None
    with pytest.raises(ValueError, match="needs its YAML config"):
        PlateRecognizer(model)


def test_alpr_with_foreign_detector_and_recognizer(tmp_path):
    e2e = np.zeros((1, 10, 6), np.float32)
    e2e[0, 0] = [22, 27, 42, 37, 0.9, 0]
    det = PlateDetector(_constant_model(tmp_path / "e2e.onnx", e2e, [1, 3, 64, 64]), threads=1)
    model, cfg = _fpo(tmp_path)
    alpr = ALPR(det, PlateRecognizer(model, config=cfg, batch_size=1), corners=None)
    (plate,) = alpr.read(IMG)
    assert plate.text == "AB12C" and plate.format_ok is None
    np.testing.assert_allclose(plate.box, [220, 110, 420, 210], atol=0.5)
    # the same models by path, as `plateforge read --recognizer M --recognizer-config C` gives them
    by_path = ALPR(det, model, corners=None, recognizer_config=cfg, tta=True)
    assert [p.text for p in by_path.read(IMG)] == ["AB12C"]  # tta: one zoom per call of a batch-1 model
