"""The plate check: a head on the recognizer that scores whether a crop is a plate at all.

The detector finds signs, badges and plate-like text as plates (docs/read.md, "False plates"), and a cut on
the read's confidence drops real plates that are read right but unsurely. The general recognizer's region
head reads the mean of its backbone tokens (128 values per crop), features that already tell plate styles
apart. A linear head on them, fitted by class-balanced logistic regression with an L2 penalty (torch's
L-BFGS), scores how plate-like a crop is. Crops are cut as the reader cuts them: the bundled detector's boxes
(its unsure ones too) and the corner model's corners. Negatives are the boxes it finds in synthetic
plate-free scenes full of signs and text, and off the plates of synthetic scenes; positives the boxes on
plates, synthetic and real, and real plate crops.

The head is written into a copy of the recognizer ONNX as a third output, ``plate`` (N × 1, probability),
beside ``chars`` and ``regions``, which stay bit for bit the same (checked on write); what it was fitted on
is in metadata key ``plateforge_plate_head``. scikit-learn would fit the same model, but it is not a
dependency and torch is; the fit is a few lines.
"""

from __future__ import annotations

import dataclasses
import json
import time
from collections.abc import Iterable, Iterator
from pathlib import Path

import cv2
import numpy as np
import onnx
import torch

from plateforge.export.plate_head import add_plate_head, pooled_features_name
from plateforge.progress import progress
from plateforge.runtime.recognizer import stretch_crop
from plateforge.typed_config import load_config


@dataclasses.dataclass
class PlateHeadConfig:
    """``recognizer`` / ``detector``: ONNX files (``bundled``: the shipped ones); crops are cut by the reader
    these make. Training data: ``plate_free_scenes`` synthetic ``width`` × ``height`` scenes with signs,
    badges, watermarks and plate-like text and no plate (every box found there is a negative);
    ``plate_scenes`` synthetic scenes with plates (boxes on a plate, IoU ≥ 0.5, are positives; boxes on none,
    IoU < 0.1, negatives); ``real``: manifests of photos whose labelled plates give positives; ``real_off``:
    of these, the ones whose boxes off every labelled plate (IoU < 0.1) are negatives too (car badges, wheels,
    lamps), except those read as a valid plate text (labels miss plates); ``real_crops``: manifests of plate
    crops (each image one positive).
    ``hidden``: 0 fits a logistic regression with ``l2`` on the weights of the standardised features; N fits
    a network with one hidden layer of N ReLU units (AdamW, ``weight_decay``); ``threshold``: the suggested
    cut, recorded in the metadata. Validation: fresh scenes of ``val_seed``. ``grey``: every scene, photo and
    crop shown in grey levels (its luma in all three channels), as the reader gives them to a grey network
    (``recognizer_grey.onnx`` reads monochrome frames only, so its check is fitted on what it will see)."""

    recognizer: str = "bundled"
    detector: str = "bundled"
    seed: int = 5000
    width: int = 1280
    height: int = 720
    plate_free_scenes: int = 3000
    plate_scenes: int = 1000
    real: list[str] = dataclasses.field(default_factory=list)
    real_off: list[str] = dataclasses.field(default_factory=list)
    real_crops: list[str] = dataclasses.field(default_factory=list)
    l2: float = 1e-3
    hidden: int = 0
    weight_decay: float = 1e-3
    threshold: float = 0.05
    val_seed: int = 4343
    val_plate_free_scenes: int = 300
    val_plate_scenes: int = 300
    threads: int | None = None
    grey: bool = False


def _in_grey(images: Iterable[tuple[np.ndarray | str, list]]) -> Iterator[tuple[np.ndarray | str, list]]:
    """(image or path, labels) pairs with each image in grey levels (:func:`grey_copy`); an unreadable path
    passes as it is (:func:`reader_crops` skips it)."""
    from plateforge.runtime.grey import grey_copy

    for image, labels in images:
        img = cv2.imread(image) if isinstance(image, str) else image
        yield (image if img is None else grey_copy(img)), labels


class FeatureReader:
    """The recognizer's pooled features (N × C float32) of BGR uint8 crops of its input size."""

    def __init__(self, recognizer: str | Path, threads: int | None = None):
        import onnxruntime as ort

        model = onnx.load(str(recognizer))
        self.name = pooled_features_name(model)
        model.graph.output.append(onnx.helper.make_tensor_value_info(self.name, onnx.TensorProto.FLOAT, None))
        opts = ort.SessionOptions()
        if threads:
            opts.intra_op_num_threads = threads
        self.session = ort.InferenceSession(model.SerializeToString(), opts, providers=["CPUExecutionProvider"])
        self.input = self.session.get_inputs()[0].name
        _, self.height, self.width, _ = self.session.get_inputs()[0].shape

    def __call__(self, crops: list[np.ndarray]) -> np.ndarray:
        out = []
        for i in range(0, len(crops), 64):
            batch = np.stack([self._fit(c) for c in crops[i : i + 64]])
            out.append(self.session.run([self.name], {self.input: batch})[0])
        return np.concatenate(out) if out else np.zeros((0, 0), np.float32)

    def _fit(self, crop: np.ndarray) -> np.ndarray:
        if crop.shape[:2] == (self.height, self.width):
            return crop
        return stretch_crop(crop, self.width, self.height)


def reader_crops(alpr, images: Iterable[tuple[np.ndarray | str, list]], what: str) -> tuple[list, list]:
    """Crops the reader ``alpr`` cuts from each (image or path, labelled plates with xyxy ``box``): those on a
    labelled plate (IoU ≥ 0.5) and those on none (IoU < 0.1). An image that cannot be read is skipped."""
    from plateforge.ops.boxes import box_iou
    from plateforge.ops.geometry import rectify

    spec = alpr.recognizer.spec
    on, off = [], []
    for image, labels in progress(images, what):
        img = cv2.imread(image) if isinstance(image, str) else image
        if img is None:
            continue
        found, _ = alpr._detect(img)
        if not found:
            continue
        quads = alpr.plate_corners(img, found)
        crops = [rectify(img, q, spec.width, spec.height, alpr.rectify_margin) for q in quads]
        boxes = np.array([d.box for d in found], np.float32)
        gt = np.array([p.box for p in labels], np.float32).reshape(-1, 4)
        best = box_iou(boxes, gt).max(1) if len(gt) else np.zeros(len(crops))
        on += [c for c, v in zip(crops, best, strict=True) if v >= 0.5]
        off += [c for c, v in zip(crops, best, strict=True) if v < 0.1]
    return on, off


def synthetic_scenes(n: int, seed: int, width: int, height: int, plate_free: bool) -> Iterator[tuple]:
    """(BGR image, plate labels) of ``n`` synthetic scenes of every region. ``plate_free``: no plates, signs and
    plate-like text in every scene, half of them with the light scene augmentation."""
    from plateforge.eval.read_eval import scenes_with_texts
    from plateforge.specs import select_regions
    from plateforge.synth.augment import augment, scene_pipeline
    from plateforge.synth.scene import Backgrounds, SceneOptions, compose_scene

    if not plate_free:
        for image, labels, _ in scenes_with_texts(n, seed, width, height):
            yield image, labels
        return
    specs = select_regions(None)
    opts = SceneOptions(width=width, height=height, plates=(0, 0), distractors=1.0)
    backgrounds = Backgrounds(width, height, seed=seed)
    for i in range(n):
        rng = np.random.default_rng([seed, i])
        image = compose_scene(specs, rng, opts, backgrounds).image
        if rng.random() < 0.5:
            image = augment(image, scene_pipeline("light"), int(rng.integers(0, 2**31)))
        yield image, []


def _balanced(pos: np.ndarray, neg: np.ndarray, dtype) -> tuple:
    """Plates (``pos``) and the rest (``neg``) as one standardised set: x (N × C), labels, per-sample weights
    that give both classes equal weight, and the features' mean and spread (to fold back into the head)."""
    x = np.concatenate([pos, neg]).astype(dtype)
    y = np.concatenate([np.ones(len(pos)), np.zeros(len(neg))]).astype(dtype)
    weight = (np.where(y == 1, 0.5 / len(pos), 0.5 / len(neg)) * len(y)).astype(dtype)
    mu, sd = x.mean(0), x.std(0) + 1e-6
    return torch.tensor((x - mu) / sd), torch.tensor(y), torch.tensor(weight), mu, sd


def fit_logistic(pos: np.ndarray, neg: np.ndarray, l2: float) -> tuple[np.ndarray, float]:
    """Weights (C,) and bias of a logistic regression on the raw features, plates (``pos``, N × C) against the
    rest (``neg``): classes weighted equally, features standardised for the fit, ``l2`` on the weights."""
    xt, yt, wt, mu, sd = _balanced(pos, neg, np.float64)
    w = torch.zeros(xt.shape[1], dtype=torch.float64, requires_grad=True)
    b = torch.zeros((), dtype=torch.float64, requires_grad=True)
    opt = torch.optim.LBFGS([w, b], max_iter=500, line_search_fn="strong_wolfe")

    def closure():
        opt.zero_grad()
        bce = torch.nn.functional.binary_cross_entropy_with_logits(xt @ w + b, yt, reduction="none")
        loss = (bce * wt).mean() + l2 * (w * w).sum()
        loss.backward()
        return loss

    opt.step(closure)
    w_raw = w.detach().numpy() / sd
    return w_raw.astype(np.float32), float(b.detach().numpy() - (w_raw * mu).sum())


Head = list[tuple[np.ndarray, np.ndarray]]  # (weight (out, in), bias (out,)) per layer, ReLU between


def fit_mlp(pos: np.ndarray, neg: np.ndarray, hidden: int, weight_decay: float, seed: int = 0) -> Head:
    """A one-hidden-layer network (``hidden`` ReLU units) scoring plates (``pos``, N × C) against the rest
    (``neg``): classes weighted equally, features standardised (folded into the first layer), full-batch
    AdamW for 300 steps, deterministic for a ``seed``."""
    xt, yt, wt, mu, sd = _balanced(pos, neg, np.float32)
    gen = torch.Generator().manual_seed(seed)
    first, last = torch.nn.Linear(xt.shape[1], hidden), torch.nn.Linear(hidden, 1)
    for layer in (first, last):  # seeded initialisation, independent of torch's global generator
        bound = 1 / layer.in_features**0.5
        with torch.no_grad():
            layer.weight.uniform_(-bound, bound, generator=gen)
            layer.bias.uniform_(-bound, bound, generator=gen)
    net = torch.nn.Sequential(first, torch.nn.ReLU(), last)
    opt = torch.optim.AdamW(net.parameters(), 3e-3, weight_decay=weight_decay)
    for _ in range(300):
        opt.zero_grad()
        bce = torch.nn.functional.binary_cross_entropy_with_logits(net(xt)[:, 0], yt, reduction="none")
        (bce * wt).mean().backward()
        opt.step()
    w1, b1 = first.weight.detach().numpy() / sd, first.bias.detach().numpy()
    b1 = b1 - w1 @ mu
    return [(w1, b1), (last.weight.detach().numpy(), last.bias.detach().numpy())]


def plate_probability(features: np.ndarray, head: Head) -> np.ndarray:
    """The head's probability (N,) that each crop is a plate, from pooled features (N × C)."""
    x = features.astype(np.float32)
    for k, (w, b) in enumerate(head):
        x = x @ w.T + b
        if k < len(head) - 1:
            x = np.maximum(x, 0)
    return 1.0 / (1.0 + np.exp(-x[:, 0]))


def _kept(p: np.ndarray, threshold: float) -> dict:
    return {"n": int(len(p)), "kept": int((p >= threshold).sum())}


def train_plate_head(config: str | Path, out: str | Path) -> dict:
    """Fit the plate head of the YAML ``config`` (:class:`PlateHeadConfig`) and write the recognizer with it
    to ``out``. Returns the report (also in the metadata and in ``out`` with ``.json``): crops per source and,
    at the threshold, how many of each source's training and validation crops it keeps; a histogram of the
    validation scores goes to ``out`` with ``.png``."""
    from plateforge.data.manifest import read_manifest
    from plateforge.runtime.alpr import ALPR
    from plateforge.runtime.grey import grey_copy, known_frame
    from plateforge.runtime.plate_formats import format_ok
    from plateforge.runtime.session import bundled_model

    cfg = load_config(PlateHeadConfig, config)
    for path in [*cfg.real, *cfg.real_off, *cfg.real_crops]:  # before minutes of scenes, not after
        if not Path(path).is_file():
            raise FileNotFoundError(f"{config}: manifest {path} not found")
    for path in cfg.real_off:
        if path not in cfg.real:
            raise ValueError(f"{config}: real_off lists {path}, which real does not: list it under both")
    if cfg.hidden < 0 or cfg.plate_free_scenes < 0 or cfg.plate_scenes < 0:
        raise ValueError(f"{config}: hidden, plate_free_scenes and plate_scenes must be 0 or more")
    rec = bundled_model("recognizer.onnx") if cfg.recognizer == "bundled" else Path(cfg.recognizer)
    det = None if cfg.detector == "bundled" else cfg.detector
    alpr = ALPR(detector=det, threads=cfg.threads)
    features = FeatureReader(rec, cfg.threads)
    shown = _in_grey if cfg.grey else iter  # what the reader is given: grey images for a grey network's check
    t0 = time.time()
    sets: dict[str, np.ndarray] = {}
    _, off = reader_crops(
        alpr, shown(synthetic_scenes(cfg.plate_free_scenes, cfg.seed, cfg.width, cfg.height, True)), "plate-free scenes"
    )
    sets["neg/plate_free"] = features(off)
    on, off = reader_crops(
        alpr, shown(synthetic_scenes(cfg.plate_scenes, cfg.seed + 1, cfg.width, cfg.height, False)), "plate scenes"
    )
    sets["pos/synthetic"], sets["neg/synthetic"] = features(on), features(off)
    for path in cfg.real:
        records = read_manifest(path)
        on, off = reader_crops(alpr, shown((r.image, list(r.plates or ())) for r in records), Path(path).name)
        sets[f"pos/{path}"] = features(on)
        if path in cfg.real_off and off:
            with known_frame(cfg.grey):  # read as the reader reads them: by the grey network in grey frames
                reads = alpr.recognizer.decode(*alpr.recognizer.first_look(off)[:2])
            sets[f"neg/{path}"] = features(
                [c for c, r in zip(off, reads, strict=True) if not format_ok(r.text, r.region)]
            )
    for path in cfg.real_crops:
        crops = [c for c in (cv2.imread(r.image) for r in read_manifest(path)) if c is not None]
        crops = [grey_copy(c) for c in crops] if cfg.grey else crops
        sets[f"pos/{path}"] = features(crops)
    pos = np.concatenate([v for k, v in sets.items() if k.startswith("pos/") and len(v)])
    neg = np.concatenate([v for k, v in sets.items() if k.startswith("neg/") and len(v)])
    if cfg.hidden:
        head = fit_mlp(pos, neg, cfg.hidden, cfg.weight_decay, cfg.seed)
    else:
        w, b = fit_logistic(pos, neg, cfg.l2)
        head = [(w[None], np.array([b], np.float32))]
    _, val_off = reader_crops(
        alpr,
        shown(synthetic_scenes(cfg.val_plate_free_scenes, cfg.val_seed, cfg.width, cfg.height, True)),
        "val plate-free",
    )
    val_on, val_off2 = reader_crops(
        alpr,
        shown(synthetic_scenes(cfg.val_plate_scenes, cfg.val_seed + 1, cfg.width, cfg.height, False)),
        "val plate scenes",
    )
    val = {"neg/plate_free": features(val_off), "pos/synthetic": features(val_on), "neg/synthetic": features(val_off2)}
    report = {
        "config": dataclasses.asdict(cfg),
        "recognizer": str(rec),
        "threshold": cfg.threshold,
        "train": {k: _kept(plate_probability(v, head), cfg.threshold) for k, v in sets.items() if len(v)},
        "val": {k: _kept(plate_probability(v, head), cfg.threshold) for k, v in val.items() if len(v)},
        "seconds": round(time.time() - t0, 1),
    }
    from plateforge.train.common import git_commit

    report["git_commit"] = git_commit()
    out = add_plate_head(rec, head, out, report)
    Path(out).with_suffix(".json").write_text(json.dumps(report, indent=1), encoding="utf-8")
    _plot(val, head, cfg.threshold, Path(out).with_suffix(".png"))
    return report


def _plot(val: dict[str, np.ndarray], head: Head, threshold: float, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 3.5))
    bins = np.linspace(0, 1, 41)
    for name, feats in val.items():
        if len(feats):
            ax.hist(plate_probability(feats, head), bins=bins, histtype="step", label=f"{name} ({len(feats)})")
    ax.axvline(threshold, color="k", linestyle="--", label=f"threshold {threshold}")
    ax.set_yscale("log")
    ax.set_xlabel("plate probability")
    ax.set_ylabel("crops")
    ax.set_title("plate head on validation crops cut by the reader")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
