"""Recognizer: slot coding, metrics, a few real training steps, resume, export parity and the runtime."""

import json

import numpy as np
import pytest
import yaml

torch = pytest.importorskip("torch", reason="training tests need the [train] extra (torch)")

from plateforge.eval.ocr_metrics import accuracy_at_coverage, edit_distance, exact, ocr_report  # noqa: E402
from plateforge.ops.slots import IGNORE, decode_slots, encode_text  # noqa: E402
from plateforge.runtime.images import ImageError  # noqa: E402
from plateforge.runtime.session import MODEL_DIR  # noqa: E402

ALPHA = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"


def test_slot_encoding_and_decoding():
    t = encode_text("A1?Z", ALPHA, 6)
    assert t.tolist() == [10, 1, IGNORE, 35, 36, 36]
    with pytest.raises(ValueError, match="at most 3"):
        encode_text("ABCD", ALPHA, 3)
    with pytest.raises(ValueError, match="not in the alphabet"):
        encode_text("A-1", ALPHA, 6)
    logits = np.full((2, 5, 37), -4.0, np.float32)
    for s, c in enumerate([10, 11, 36, 5, 36]):  # "AB", then pad: later slots are ignored
        logits[0, s, c] = 4.0
    logits[1, :, 36] = 4.0  # nothing read
    logits[0, 1, 12] = 3.9  # B vs C nearly tied: low confidence
    (text, conf, chars), (empty, _, _) = decode_slots(logits, ALPHA)
    assert text == "AB" and empty == ""
    assert len(chars) == 2 and conf == pytest.approx(min(chars)) and conf < 0.6 < chars[0]


def test_ocr_metrics():
    assert exact("0745CXV", "074?C?V") and not exact("074CXV", "074?C?V")
    assert edit_distance("ABC", "A?C") == 0 and edit_distance("AXC", "ABC") == 1 and edit_distance("", "AB") == 2
    cov = accuracy_at_coverage([True, True, False, True], [0.9, 0.8, 0.7, 0.1])
    assert cov["acc@cov50"] == 1.0 and cov["acc@cov100"] == 0.75 and cov["cov@acc95"] == 0.5
    rep = ocr_report(["AB1", "CD2"], ["AB1", "CD3"], [0.9, 0.4], ["eu-de", "ch"], ["one_line", "two_line"])
    assert rep["exact"] == 0.5 and rep["per_region"]["ch"]["exact"] == 0.0 and rep["cer"] == pytest.approx(1 / 6)


def test_registry():
    from plateforge.train.registry import create_model, list_models

    assert {"slotnet_s", "slotnet_m"} <= set(list_models())
    with pytest.raises(ValueError, match="unknown model 'nope'"):
        create_model("nope")
    m = create_model("slotnet_s", alphabet=ALPHA, regions=["ch", "ru"])
    chars, regions = m(torch.zeros(3, 48, 160, 3, dtype=torch.uint8))
    assert chars.shape == (3, 10, 37) and regions.shape == (3, 2)


def _grown_from_small(name: str, added: str):
    """slotnet_s and the larger model ``name`` loaded with its weights: the only weights it lacks contain
    ``added``, and it gives the same character logits on random images (returned too)."""
    from plateforge.train.registry import create_model

    small = create_model("slotnet_s", alphabet=ALPHA, regions=["ch", "ru"]).eval()
    grown = create_model(name, alphabet=ALPHA, regions=["ch", "ru"]).eval()
    missing, unexpected = grown.load_state_dict(small.state_dict(), strict=False)
    assert not unexpected and missing and all(added in k for k in missing)
    images = torch.randint(0, 256, (2, 48, 160, 3), dtype=torch.uint8)
    with torch.no_grad():
        assert torch.equal(small(images)[0], grown(images)[0])
    return small, grown, images


def test_a_deeper_recognizer_starts_as_the_small_one():
    """slotnet_sd = slotnet_s + 2 residual blocks that begin as the identity: same outputs from the same weights."""
    _grown_from_small("slotnet_sd", ".6x")


def test_slot_attention_starts_as_the_small_one_and_then_links_the_slots():
    """slotnet_sa = slotnet_s + self-attention among the slots, which begins as the identity; once its output
    projection is non-zero, one slot's logits depend on another slot's query."""
    small, linked, images = _grown_from_small("slotnet_sa", ".slot_attn.")
    with torch.no_grad():
        for block in linked.decoder.slot_attn:
            torch.nn.init.normal_(block.out.weight, std=0.1)
        before, small_before = linked(images)[0], small(images)[0]
        linked.decoder.queries[0, 9] += 1.0  # move the last slot's query only
        small.decoder.queries[0, 9] += 1.0
        after, small_after = linked(images)[0], small(images)[0]
    assert not torch.allclose(before[:, 0], after[:, 0])  # the first slot sees the last one
    assert torch.equal(small_before[:, 0], small_after[:, 0])  # without slot attention it does not


def test_fine_columns_recognizer_keeps_the_weights_and_the_place_codes():
    """slotnet_saf = slotnet_sa with features every 4 pixels across: the same weights, twice the columns, and
    every second column has the code slotnet_sa gives the same place on the plate."""
    from plateforge.train.recognizer_model import SlotRecognizer
    from plateforge.train.registry import create_model

    coarse = create_model("slotnet_sa", alphabet=ALPHA, regions=["ch", "ru"]).eval()
    fine = create_model("slotnet_saf", alphabet=ALPHA, regions=["ch", "ru"]).eval()
    weights = {k: v for k, v in coarse.state_dict().items() if k != "decoder.pos"}
    missing, unexpected = fine.load_state_dict(weights, strict=False)
    assert missing == ["decoder.pos"] and not unexpected
    images = torch.randint(0, 256, (2, 48, 160, 3), dtype=torch.uint8)
    with torch.no_grad():
        assert fine.backbone(fine.normalize(images)).shape[2:] == (3, 40)
        assert fine(images)[0].shape == coarse(images)[0].shape == (2, 10, 37)
    assert torch.allclose(fine.decoder.pos.view(3, 40, -1)[:, ::2], coarse.decoder.pos.view(3, 20, -1))
    with pytest.raises(ValueError, match="column_stride must be 4 or 8"):
        SlotRecognizer(ALPHA, ["ch"], column_stride=6)


@pytest.fixture(scope="module")
def trained_run(tmp_path_factory):
    """Two tiny epochs of real training (synthetic crops + a made-up real manifest with a masked character)."""
    from plateforge.data import ImageRecord, PlateLabel, write_manifest
    from plateforge.specs import load_specs
    from plateforge.synth.crops import make_crop
    from plateforge.train.ocr import train_ocr

    tmp = tmp_path_factory.mktemp("ocr")
    import cv2

    recs = []
    for i in range(12):
        img, label = make_crop(load_specs()["eu-es"], np.random.default_rng(100 + i))
        path = tmp / f"real{i}.png"
        cv2.imwrite(str(path), img)
        text = label.text[:2] + "?" + label.text[3:]
        recs.append(
            ImageRecord(
                str(path),
                img.shape[1],
                img.shape[0],
                (PlateLabel(label.box, label.corners, text, "eu-es", label.layout),),
            )
        )
    write_manifest(recs, tmp / "real.jsonl")
    cfg = {
        "experiment": {"name": "t", "output_dir": str(tmp / "runs"), "seed": 0},
        "dataset": {
            "synth": {"n": 192, "seed": 3, "regions": "ch,eu", "augment": "light", "lowres": 0.5},
            "real": [
                {"manifest": str(tmp / "real.jsonl"), "repeat": 2},
                # as cut from scenes, and every access seen as a distant plate
                {"manifest": str(tmp / "real.jsonl"), "augment": "none", "margin": 0.075, "lowres": 1.0},
            ],
            "val": [
                {"name": "synth", "synth": {"n": 48, "seed": 4, "regions": "ch,eu", "augment": "none"}},
                {"name": "real", "manifest": str(tmp / "real.jsonl")},
            ],
            "cache_dir": str(tmp / "cache"),
        },
        "model": {"name": "slotnet_s", "regions": ["ch", "eu-de", "eu-es", "eu-fr", "eu-it", "eu-nl"]},
        "training": {"epochs": 1, "batch_size": 32, "limit_train_batches": 3, "ema_decay": 0.9},
    }
    config = tmp / "ocr.yaml"
    config.write_text(yaml.safe_dump(cfg))
    run_dir = train_ocr(config)
    return tmp, config, run_dir


def test_training_writes_checkpoints_metrics_and_curves(trained_run):
    _, _, run = trained_run
    ck = run / "checkpoints"
    assert (ck / "last.ckpt").is_file() and (ck / "best_exact.ckpt").is_file()
    assert len(list((ck / "topk").glob("ckpt_epoch000_exact*.ckpt"))) == 1
    rows = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert rows[-1]["epoch"] == 0
    for key in ("train/loss", "train/char_loss", "val/synth/exact", "val/real/exact", "val/exact_mean", "lr-AdamW/pg1"):
        assert key in rows[-1], key
    assert (run / "metrics.csv").read_text().startswith("epoch,step,time")
    assert (run / "curves.png").stat().st_size > 5000
    assert list((run / "tensorboard").glob("events.out.tfevents*"))
    info = torch.load(ck / "last.ckpt", map_location="cpu", weights_only=False)["plateforge"]
    assert info["task"] == "recognizer" and len(info["dataset_hash"]) == 64
    assert info["config"]["training"]["batch_size"] == 32 and "git_commit" in info


def test_real_sources_keep_their_own_augmentation_and_margin(trained_run):
    from plateforge.train.ocr import OcrConfig, build_data
    from plateforge.typed_config import load_config

    _, config, _ = trained_run
    cfg = load_config(OcrConfig, config)
    train, _, _, _ = build_data(cfg, cfg.model.regions)
    synth, default, plain = train.datasets
    assert default.augment is not None and plain.augment is None  # the dataset's preset vs the source's "none"
    assert len(default) == 24 and len(plain) == 12
    loose = plain.index[0][0].images[0].astype(np.float32)
    tight = default.index[0][0].images[0].astype(np.float32)
    assert np.abs(loose - tight).mean() > 5  # the margin really changes the crop
    assert (synth.lowres, default.lowres, plain.lowres) == (0.5, 0.0, 1.0)


def test_lowres_crops_lose_detail_but_keep_size_and_label(trained_run):
    import cv2

    from plateforge.train.ocr import OcrConfig, build_data
    from plateforge.train.ocr_data import shrink_crop
    from plateforge.typed_config import load_config

    _, config, _ = trained_run
    cfg = load_config(OcrConfig, config)
    train, _, _, _ = build_data(cfg, cfg.model.regions)
    plain = train.datasets[2]  # no augmentation, lowres 1.0: every access is shrunk
    stored = plain.index[0][0].images[0]
    detail = lambda im: cv2.Laplacian(cv2.cvtColor(np.asarray(im), cv2.COLOR_BGR2GRAY), cv2.CV_32F).var()  # noqa: E731
    seen = [plain[0] for _ in range(4)]
    for img, target, _ in seen:
        assert img.shape == stored.shape and detail(img.numpy()) < 0.6 * detail(stored)
        assert (target.numpy() == plain[0][1].numpy()).all()  # the text does not change
    assert np.abs(seen[0][0].numpy().astype(int) - seen[1][0].numpy()).mean() > 0.5  # a new draw each access
    rng = np.random.default_rng(0)
    assert shrink_crop(stored[:8], rng).shape == stored[:8].shape  # already smaller than the drawn height: as is


def test_resume_continues_from_last(trained_run):
    from plateforge.train.ocr import train_ocr

    _, config, run = trained_run
    step_before = torch.load(run / "checkpoints" / "last.ckpt", map_location="cpu", weights_only=False)["global_step"]
    train_ocr(config, resume=run, overrides={"training.epochs": 2})
    ck = torch.load(run / "checkpoints" / "last.ckpt", map_location="cpu", weights_only=False)
    assert ck["global_step"] == step_before + 3  # exactly one more epoch of 3 steps
    rows = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert [r["epoch"] for r in rows] == [0, 1]


def test_last_checkpoint_is_written_after_every_epoch(tmp_path):
    """A run killed in its third epoch resumes from the second: ``last.ckpt`` is on disk after each epoch,
    not only when training ends."""
    import lightning as L

    from plateforge.train.common import checkpoint_callbacks

    class Toy(L.LightningModule):
        def __init__(self):
            super().__init__()
            self.layer = torch.nn.Linear(2, 1)

        def training_step(self, batch, _):
            return self.layer(batch[0]).pow(2).mean()

        def validation_step(self, batch, _):
            self.log("val/exact", float(self.current_epoch))

        def configure_optimizers(self):
            return torch.optim.SGD(self.parameters(), lr=0.1)

    class Kill(L.Callback):
        def on_train_epoch_start(self, trainer, module):
            if trainer.current_epoch == 2:
                raise RuntimeError("killed")  # as a kill: nothing after this point runs

    data = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(torch.ones(6, 2)), batch_size=2)
    trainer = L.Trainer(
        max_epochs=4,
        callbacks=[*checkpoint_callbacks(tmp_path, "val/exact", "max", "exact"), Kill()],
        logger=False,
        enable_progress_bar=False,
        enable_model_summary=False,
    )
    with pytest.raises(RuntimeError, match="killed"):
        trainer.fit(Toy(), data, data)
    ck = torch.load(tmp_path / "checkpoints" / "last.ckpt", map_location="cpu", weights_only=False)
    assert ck["global_step"] == 6 and ck["epoch"] == 1  # two epochs of 3 steps
    assert sorted(p.name for p in (tmp_path / "checkpoints").iterdir()) == ["best_exact.ckpt", "last.ckpt", "topk"]


def test_init_starts_a_new_run_from_trained_weights(trained_run):
    from plateforge.train.ocr import train_ocr

    _, config, run = trained_run
    best = run / "checkpoints" / "best_exact.ckpt"
    new = train_ocr(config, init=best)
    assert new != run and (new / "init_from.txt").read_text().strip() == str(best.resolve())
    ck = torch.load(new / "checkpoints" / "last.ckpt", map_location="cpu", weights_only=False)
    assert ck["global_step"] == 3  # a fresh schedule, not a resume


def test_init_grows_a_small_checkpoint_into_a_deeper_model_only(trained_run):
    from plateforge.train.ocr import train_ocr

    _, config, run = trained_run
    best = run / "checkpoints" / "best_exact.ckpt"
    deeper = train_ocr(config, init=best, overrides={"model.name": "slotnet_sd"})
    assert (deeper / "checkpoints" / "last.ckpt").is_file()
    linked = train_ocr(config, init=best, overrides={"model.name": "slotnet_sa"})
    assert (linked / "checkpoints" / "last.ckpt").is_file()
    fine = train_ocr(config, init=linked / "checkpoints" / "last.ckpt", overrides={"model.name": "slotnet_saf"})
    assert (fine / "checkpoints" / "last.ckpt").is_file()
    from plateforge.train.average import average_checkpoints

    with pytest.raises(ValueError, match="slotnet_sa.*differs from"):
        average_checkpoints([best, linked / "checkpoints" / "last.ckpt"], linked / "x.ckpt")
    with pytest.raises(ValueError, match="does not fit model 'slotnet_fc'"):
        train_ocr(config, init=best, overrides={"model.name": "slotnet_fc"})


def test_init_from_a_checkpoint_follows_the_configs_regions(trained_run):
    """A checkpoint of other regions starts a run whose config adds one and drops one: shared regions keep
    their region-head rows (matched by name), the new one starts fresh."""
    from plateforge.train.ocr import train_ocr

    _, config, run = trained_run
    best = run / "checkpoints" / "best_exact.ckpt"
    old = torch.load(best, map_location="cpu", weights_only=False)
    have = old["plateforge"]["regions"]
    want = ["gb", *reversed(have[1:])]
    new = train_ocr(config, init=best, overrides={"model.regions": want, "training.lr": 0.0})
    ck = torch.load(new / "checkpoints" / "last.ckpt", map_location="cpu", weights_only=False)
    assert ck["plateforge"]["regions"] == want
    w_old, w_new = old["state_dict"]["model.region_head.weight"], ck["state_dict"]["model.region_head.weight"]
    assert w_new.shape[0] == len(want)
    for i, region in enumerate(want[1:], start=1):
        torch.testing.assert_close(w_new[i], w_old[have.index(region)])


def test_averaged_checkpoints_hold_the_mean_weights_and_export(trained_run, tmp_path):
    """plateforge average a.ckpt b.ckpt: the mean of the network weights, as a checkpoint that exports."""
    from typer.testing import CliRunner

    from plateforge.cli.app import app
    from plateforge.export.onnx_export import export_checkpoint

    _, _, run = trained_run
    a, b = run / "checkpoints" / "best_exact.ckpt", run / "checkpoints" / "last.ckpt"
    out = tmp_path / "soup.ckpt"
    res = CliRunner().invoke(app, ["average", str(a), str(b), "--out", str(out)])
    assert res.exit_code == 0 and "mean of 2 models" in res.output, res.output
    sa, sb, so = (torch.load(p, map_location="cpu", weights_only=False)["state_dict"] for p in (a, b, out))
    for k, v in so.items():
        want = (sa[k].double() + sb[k].double()) / 2 if v.is_floating_point() else sa[k]
        torch.testing.assert_close(v.double() if v.is_floating_point() else v, want)
    assert "optimizer_states" not in torch.load(out, map_location="cpu", weights_only=False)
    assert export_checkpoint(out, tmp_path / "soup.onnx")["max_abs_diff"] < 1e-4
    mixed = CliRunner().invoke(app, ["average", str(a), str(MODEL_DIR / "recognizer.onnx"), "--out", str(out)])
    assert mixed.exit_code == 2 and "mixed" in mixed.output


def test_export_parity_metadata_and_runtime(trained_run, tmp_path):
    from plateforge.export.onnx_export import export_checkpoint
    from plateforge.runtime.recognizer import PlateRecognizer

    _, _, run = trained_run
    report = export_checkpoint(run / "checkpoints" / "last.ckpt", tmp_path / "rec.onnx")
    assert report["max_abs_diff"] < 1e-4
    rec = PlateRecognizer(tmp_path / "rec.onnx", threads=1)
    assert rec.spec.task == "recognizer" and rec.spec.alphabet == ALPHA and rec.spec.color == "BGR"
    assert rec.attention_grid == (3, 20)  # the slot decoder's attention is exported too (UAE plate parts)
    assert rec.spec.regions == ("ch", "eu-de", "eu-es", "eu-fr", "eu-it", "eu-nl")
    img = np.random.default_rng(0).integers(0, 255, (40, 150, 3), dtype=np.uint8)
    single = rec.run(img)
    assert isinstance(single.text, str) and 0 <= single.confidence <= 1 and single.region in rec.spec.regions
    reads = rec.run(
        [
            img,
            img[..., 0],
            np.dstack([img, np.full(img.shape[:2], 255, np.uint8)]),
            (img.astype(np.uint16) * 257),
            np.zeros((3000, 9000, 3), np.uint8),
        ]
    )
    assert len(reads) == 5 and (reads[0].text, reads[0].region) == (single.text, single.region)
    # batched or alone, the same read up to float rounding (ONNX Runtime's kernels differ by batch size)
    assert reads[0].confidence == pytest.approx(single.confidence, abs=1e-5)
    assert reads[0].region_confidence == pytest.approx(single.region_confidence, abs=1e-5)
    for bad, msg in [
        (np.zeros((0, 10, 3), np.uint8), "empty"),
        (np.zeros((2, 50, 3), np.uint8), "too small"),
        (b"", "empty"),
        (b"not an image", "not a readable image"),
        (tmp_path / "nope.png", "not found"),
    ]:
        with pytest.raises((ImageError, ValueError), match=msg):
            rec.run(bad)


def test_ctc_decoding_and_masked_class():
    from plateforge.ops.slots import decode_ctc

    alpha = ALPHA + "?"
    logits = np.full((1, 8, len(alpha) + 1), -4.0, np.float32)
    for t, k in enumerate([0, 11, 11, 0, 11, 2, 0, 37]):  # blank A A blank A 1 blank ?
        logits[0, t, k] = 4.0
    ((text, conf, chars),) = decode_ctc(logits, alpha)
    assert text == "AA1?" and len(chars) == 4 and conf == pytest.approx(min(chars))
    assert encode_text("A?", alpha, 4).tolist() == [10, 36, 37, 37]  # "?" is a class in a CTC alphabet


def test_model_spec_roundtrip_and_version_guard():
    from plateforge.runtime.spec import ModelSpec

    spec = ModelSpec(
        task="recognizer",
        architecture="slotnet_s",
        height=48,
        width=160,
        alphabet=ALPHA,
        slots=10,
        regions=("ch", "ru"),
        decoder="slots",
    )
    assert ModelSpec.from_json(spec.to_json()) == spec
    with pytest.raises(ValueError, match="newer"):
        ModelSpec.from_json(spec.to_json().replace('"version": 1', '"version": 99'))


def test_quantize_static_and_dynamic_keep_the_spec(trained_run, tmp_path):
    import cv2

    from plateforge.export.onnx_export import export_checkpoint
    from plateforge.export.quantize import quantize_model
    from plateforge.runtime.recognizer import PlateRecognizer

    tmp, _, run = trained_run
    export_checkpoint(run / "checkpoints" / "last.ckpt", tmp_path / "rec.onnx")
    calib = tmp_path / "calib"
    calib.mkdir()
    for i in range(8):
        cv2.imwrite(str(calib / f"{i}.png"), cv2.imread(str(tmp / f"real{i}.png")))
    st = quantize_model(tmp_path / "rec.onnx", tmp_path / "st.onnx", "static", calib)
    dy = quantize_model(tmp_path / "rec.onnx", tmp_path / "dy.onnx", "dynamic")
    assert st["calibration_images"] == 8 and dy["size_mb"] < dy["fp32_size_mb"]
    for path, mode in ((tmp_path / "st.onnx", "static"), (tmp_path / "dy.onnx", "dynamic")):
        rec = PlateRecognizer(path, threads=1)
        assert rec.spec.extra["quantization"] == mode and rec.spec.alphabet == ALPHA
        assert isinstance(rec.run(cv2.imread(str(tmp / "real0.png"))).text, str)
    with pytest.raises(ValueError, match="needs --calib"):
        quantize_model(tmp_path / "rec.onnx", tmp_path / "x.onnx", "static")
    # histogram calibration (ranges that ignore rare outliers); the method travels in the spec
    pc = quantize_model(tmp_path / "rec.onnx", tmp_path / "pc.onnx", "static", calib, method="percentile")
    rec = PlateRecognizer(pc["path"], threads=1)
    assert rec.spec.extra["calibration_method"] == "percentile" and isinstance(
        rec.run(np.zeros((48, 160, 3), np.uint8)).text, str
    )
    with pytest.raises(ValueError, match="calibration method"):
        quantize_model(tmp_path / "rec.onnx", tmp_path / "x.onnx", "static", calib, method="kl")


def test_run_folders_of_the_same_second_do_not_collide(tmp_path):
    from plateforge.train.common import ExperimentCfg, new_run_dir

    exp = ExperimentCfg(name="x", output_dir=str(tmp_path / "runs"))
    runs = [new_run_dir(exp, "m") for _ in range(3)]
    assert len({r.name for r in runs}) == 3 and all(r.is_dir() for r in runs)


def test_a_masked_character_slot_is_pushed_away_from_end_of_text():
    """uc3m-lp crops hide 2 characters: their slots are not scored for which character, but the loss says a
    character is there, so a fine-tune does not learn to stop the text at a masked last character."""
    from types import SimpleNamespace

    from plateforge.train.ocr import RecognizerModule

    pad = len(ALPHA)
    fake = SimpleNamespace(
        ctc=False, cfg=SimpleNamespace(model=SimpleNamespace(alphabet=ALPHA), loss=SimpleNamespace(label_smoothing=0.0))
    )
    targets = torch.from_numpy(encode_text("12A?", ALPHA, 6))[None]
    reads_on = torch.full((1, 6, pad + 1), -5.0)
    for slot, k in enumerate(targets[0].tolist()):
        reads_on[0, slot, k if k != IGNORE else 5] = 5.0  # the masked slot says "5"
    stops = reads_on.clone()
    stops[0, 3] = -5.0
    stops[0, 3, pad] = 5.0  # the masked slot says "end of text"
    on, stop = RecognizerModule._char_loss(fake, reads_on, targets), RecognizerModule._char_loss(fake, stops, targets)
    assert on < 0.01 and stop > 1.0
    without_mask = torch.from_numpy(encode_text("12A5", ALPHA, 6))[None]
    assert RecognizerModule._char_loss(fake, reads_on, without_mask) == pytest.approx(float(on), abs=1e-3)


def test_grey_share_shows_that_share_of_crops_in_grey_levels(trained_run):
    import dataclasses

    from plateforge.train.ocr import OcrConfig, build_data
    from plateforge.typed_config import load_config

    _, config, _ = trained_run
    cfg = load_config(OcrConfig, config)
    assert cfg.dataset.grey == 0.0  # off unless a config asks for it
    cfg = dataclasses.replace(cfg, dataset=dataclasses.replace(cfg.dataset, grey=0.5))
    train, _, _, _ = build_data(cfg, cfg.model.regions)
    synth = train.datasets[0]
    assert all(d.grey == 0.5 for d in train.datasets)
    grey = [bool((img[..., 0] == img[..., 1]).all() and (img[..., 1] == img[..., 2]).all()) for img, _, _ in (
        synth[k % len(synth)] for k in range(200))]  # fmt: skip
    assert 0.35 < np.mean(grey) < 0.65
