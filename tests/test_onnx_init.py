"""Training runs start from exported ONNX models (the bundled ones ship without checkpoints): the weights go
back into the torch network with BatchNorm unfolded, and the network gives the file's outputs."""

import json

import numpy as np
import pytest
import torch
import yaml

pytest.importorskip("lightning")

from plateforge.ops.boxes import letterbox  # noqa: E402
from plateforge.ops.geometry import rectify  # noqa: E402
from plateforge.runtime.session import bundled_model  # noqa: E402
from plateforge.train.onnx_init import load_onnx_weights  # noqa: E402
from plateforge.train.registry import create_model  # noqa: E402


def plate_crops(n: int, width: int = 160, height: int = 48) -> torch.Tensor:
    """``n`` rectified synthetic plate crops (uint8 NHWC BGR) of every region."""
    from plateforge.specs import load_specs
    from plateforge.synth.crops import make_crop

    specs = list(load_specs().values())
    crops = []
    for i in range(n):
        img, label = make_crop(specs[i % len(specs)], np.random.default_rng([77, i]))
        crops.append(rectify(img, np.array(label.corners), width, height))
    return torch.from_numpy(np.stack(crops))


def scenes(n: int, size: int = 384) -> torch.Tensor:
    """``n`` letterboxed synthetic scenes (uint8 NHWC BGR)."""
    from plateforge.eval.read_eval import scenes_with_texts

    return torch.from_numpy(np.stack([letterbox(img, size, 114)[0] for img, _, _ in scenes_with_texts(n, seed=9)]))


def test_a_recognizer_with_a_new_region_starts_from_the_bundled_file():
    """A team adds its country's YAML and fine-tunes the bundled recognizer: the region head grows. Shared
    regions keep the file's rows (matched by name, in any order), the new one starts fresh, and the characters
    read exactly as the file reads them."""
    import onnxruntime as ort

    from plateforge.runtime.recognizer import PlateRecognizer

    spec = PlateRecognizer().spec
    have = list(spec.regions)
    want = ["gb", *reversed(have[1:])]  # a new region, one dropped, the rest in another order
    rec = create_model(
        spec.architecture, alphabet=spec.alphabet, regions=want, height=spec.height, width=spec.width, slots=spec.slots
    )
    calib = plate_crops(48)
    assert load_onnx_weights(rec, bundled_model("recognizer.onnx"), calib) < 1e-3
    sess = ort.InferenceSession(str(bundled_model("recognizer.onnx")), providers=["CPUExecutionProvider"])
    file_chars, file_regions = sess.run(None, {sess.get_inputs()[0].name: calib[:8].numpy()})[:2]
    rec.eval()
    with torch.no_grad():
        chars, regions = (t.numpy() for t in rec(calib[:8]))
    np.testing.assert_allclose(chars, file_chars, atol=1e-3)
    for i, region in enumerate(want[1:], start=1):
        np.testing.assert_allclose(regions[:, i], file_regions[:, have.index(region)], atol=1e-3)
    assert regions.shape == (8, len(want))
    with pytest.raises(ValueError, match="does not fit the model"):  # another alphabet still stops
        bad = create_model(
            spec.architecture, alphabet=spec.alphabet[:-1], regions=want, height=spec.height, width=spec.width
        )
        load_onnx_weights(bad, bundled_model("recognizer.onnx"), calib)


def test_bundled_models_load_back_into_their_networks():
    from plateforge.runtime.recognizer import PlateRecognizer

    spec = PlateRecognizer().spec
    rec = create_model(
        spec.architecture,
        alphabet=spec.alphabet,
        regions=list(spec.regions),
        height=spec.height,
        width=spec.width,
        slots=spec.slots,
    )
    calib = plate_crops(64)
    assert load_onnx_weights(rec, bundled_model("recognizer.onnx"), calib) < 1e-3
    chars, _ = rec(calib[:8])
    assert chars.shape == (8, spec.slots, len(spec.alphabet) + 1)
    rec.train()  # training mode normalises by batch statistics: close to the file's outputs, not equal
    with torch.no_grad():
        chars_train, _ = rec(calib)
    rec.eval()
    with torch.no_grad():
        chars_eval, _ = rec(calib)
    agree = (chars_train.argmax(-1) == chars_eval.argmax(-1)).float().mean()
    assert agree > 0.95, agree

    det = create_model("detnet_n")
    assert load_onnx_weights(det, bundled_model("detector.onnx"), scenes(8)) < 1e-2  # pixels

    corners = create_model("cornernet_r18_s", height=96, width=192)
    assert load_onnx_weights(corners, bundled_model("corners.onnx"), plate_crops(32, 192, 96)) < 1e-4


def test_a_file_of_another_architecture_is_refused():
    wide = create_model("cornernet_r18", height=96, width=192)  # full-width ResNet-18: other shapes
    with pytest.raises(ValueError, match="corners.onnx"):
        load_onnx_weights(wide, bundled_model("corners.onnx"), plate_crops(4, 192, 96))
    rec = create_model("slotnet_s", alphabet="0123456789", regions=["a"], height=48, width=160, slots=10)
    with pytest.raises(ValueError, match="recognizer.onnx"):
        load_onnx_weights(rec, bundled_model("recognizer.onnx"), plate_crops(4))


def test_train_init_bundled_starts_from_the_shipped_corner_model(tmp_path):
    from typer.testing import CliRunner

    from plateforge.cli.app import app

    scene = {"n": 32, "seed": 5, "augment": "light", "width": 320, "height": 240, "plates": [1, 1]}
    scene["plate_height"] = [24, 60]
    cfg = {
        "experiment": {"name": "c", "output_dir": str(tmp_path / "runs")},
        "dataset": {"train": scene, "val": {**scene, "n": 16, "seed": 6}},
        "model": {"name": "cornernet_r18_s", "height": 96, "width": 192},
        "training": {"epochs": 1, "batch_size": 16, "num_workers": 0, "limit_train_batches": 1, "lr": 0.0},
    }
    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump(cfg))
    res = CliRunner().invoke(app, ["train", "corners", "--config", str(path), "--init", "bundled"])
    assert res.exit_code == 0, res.output
    (run,) = (tmp_path / "runs").iterdir()
    assert (run / "init_from.txt").read_text().strip().endswith("corners.onnx")
    mae = json.loads((run / "metrics.jsonl").read_text().splitlines()[-1])["val/mae"]
    assert mae < 0.03, mae  # the shipped model's accuracy; an untrained one scores 0.068 here


def test_a_deeper_recognizer_starts_from_the_bundled_file_as_the_same_function():
    """``slotnet_sad`` is ``slotnet_sa`` with identity-initialised extra blocks: it starts from the bundled
    file with the file's outputs, its new blocks as initialised; a deeper network without slot attention
    (``slotnet_sd``, another architecture) is still refused."""
    from plateforge.runtime.recognizer import PlateRecognizer

    spec = PlateRecognizer().spec
    kwargs = dict(alphabet=spec.alphabet, regions=list(spec.regions), height=spec.height, width=spec.width)
    deep = create_model("slotnet_sad", **kwargs)
    fresh = {k: v.clone() for k, v in deep.state_dict().items() if "x1" in k or "x2" in k}
    assert len(fresh) >= 4
    assert load_onnx_weights(deep, bundled_model("recognizer.onnx"), plate_crops(32)) < 1e-3
    for name, value in fresh.items():
        torch.testing.assert_close(deep.state_dict()[name], value)
    with pytest.raises(ValueError, match="another architecture"):
        load_onnx_weights(create_model("slotnet_sd", **kwargs), bundled_model("recognizer.onnx"), plate_crops(8))
