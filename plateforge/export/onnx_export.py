"""Checkpoint → ONNX with the model spec in its metadata, checked against torch (max abs difference).

The graph takes uint8 NHWC BGR images; scaling and normalisation are inside it, so the runtime only resizes.
"""

from __future__ import annotations

import contextlib
import dataclasses
import time
from pathlib import Path

import numpy as np
import torch

from plateforge.export.spec_io import attach_spec
from plateforge.runtime.spec import ModelSpec

OPSET = 17


def load_checkpoint(path: str | Path) -> dict:
    """A plateforge training checkpoint (trusted file: it is unpickled)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint not found: {path}")
    ckpt = torch.load(path, map_location="cpu", weights_only=False)
    if "plateforge" not in ckpt:
        raise ValueError(f"{path}: not a plateforge checkpoint (no 'plateforge' section)")
    return ckpt


def network_state(ckpt: dict) -> dict:
    """The network's weights in a Lightning checkpoint (its ``model.`` entries, prefix dropped; EMA weights
    when the run used EMA)."""
    return {k.removeprefix("model."): v for k, v in ckpt["state_dict"].items() if k.startswith("model.")}


def recognizer_from_checkpoint(ckpt: dict) -> tuple[torch.nn.Module, ModelSpec]:
    """The recognizer network with the checkpoint's (EMA) weights, in eval mode, and its spec."""
    from plateforge.train.registry import create_model

    info = ckpt["plateforge"]
    m = info["config"]["model"]
    model = create_model(
        m["name"],
        alphabet=m["alphabet"],
        regions=info["regions"],
        height=m["height"],
        width=m["width"],
        slots=m["slots"],
    )
    state = network_state(ckpt)
    for legacy in ("mean", "std"):  # checkpoints from before the Normalize module stored these constants
        state.pop(legacy, None)
    model.load_state_dict(state)
    model.eval()
    spec = ModelSpec(
        task="recognizer",
        architecture=m["name"],
        height=m["height"],
        width=m["width"],
        resize="stretch",
        alphabet=m["alphabet"],
        slots=m["slots"],
        regions=tuple(info["regions"]),
        decoder=getattr(model, "output_format", "slots"),
        extra={
            "dataset_hash": info.get("dataset_hash"),
            "git_commit": info.get("git_commit"),
            "exported": time.strftime("%Y-%m-%d"),
        },
    )
    return model, spec


def write_onnx(model: torch.nn.Module, spec: ModelSpec, out: str | Path, inputs: str, outputs: list[str]) -> Path:
    """Trace ``model`` on a uint8 (1, H, W, 3) input of the spec's size into ``out`` (batch axis dynamic,
    opset 17) and attach ``spec`` to its metadata."""
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    names = [inputs, *outputs]
    torch.onnx.export(
        model,
        (torch.zeros(1, spec.height, spec.width, 3, dtype=torch.uint8),),
        str(out),
        input_names=[inputs],
        output_names=outputs,
        dynamic_axes={n: {0: "batch"} for n in names},
        opset_version=OPSET,
        dynamo=False,
    )
    attach_spec(out, spec)
    return out


def parity(model: torch.nn.Module, onnx_path: str | Path, sample: np.ndarray) -> float:
    """Max abs difference between torch and ONNX Runtime outputs on ``sample`` (uint8 NHWC batch); outputs the
    file adds after the network's own (a recognizer's plate check) are not compared."""
    import onnxruntime as ort

    with torch.no_grad():
        ref = model(torch.from_numpy(sample))
    ref = ref if isinstance(ref, tuple | list) else (ref,)
    sess = ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
    names = [o.name for o in sess.get_outputs()][: len(ref)]
    got = sess.run(names, {sess.get_inputs()[0].name: sample})
    return max(float(np.abs(r.numpy() - g).max()) for r, g in zip(ref, got, strict=True))


def export_checked(
    model: torch.nn.Module,
    spec: ModelSpec,
    out: str | Path,
    inputs: str,
    outputs: list[str],
    sample: np.ndarray | None = None,
    n_sample: int = 4,
    float_entry: bool = False,
) -> dict:
    """:func:`write_onnx`, then :func:`parity` on ``sample`` (default: ``n_sample`` random images of the spec's
    size); returns path, size in MB, the max abs difference and the spec. ``float_entry``: the convolution on
    the image runs in float in a QDQ graph and absorbs the input's scaling
    (:func:`plateforge.export.float_entry.float_entry_file`)."""
    out = write_onnx(model, spec, out, inputs, outputs)
    if float_entry:
        from plateforge.export.float_entry import float_entry_file

        float_entry_file(out)
    if sample is None:
        sample = np.random.default_rng(0).integers(0, 256, (n_sample, spec.height, spec.width, 3), dtype=np.uint8)
    return {
        "path": str(out),
        "size_mb": out.stat().st_size / 1e6,
        "max_abs_diff": parity(model, out, sample),
        "spec": dataclasses.asdict(spec),
    }


def export_recognizer(ckpt: dict, out: str | Path, sample: np.ndarray | None = None) -> dict:
    """Export a loaded recognizer checkpoint; returns path, size in MB and the parity max abs difference. A
    slot-attention recognizer also gets output ``attention`` (where each character was read; UAE plate parts,
    :mod:`plateforge.export.attention`)."""
    model, spec = recognizer_from_checkpoint(ckpt)
    info = export_checked(model, spec, out, "images", ["chars", "regions"], sample, n_sample=8)
    from plateforge.export.attention import add_attention_output

    with contextlib.suppress(ValueError):  # an architecture without slot attention is exported as it is
        add_attention_output(info["path"], info["path"])
    return info


def detector_from_checkpoint(ckpt: dict, fake_quant: bool = True) -> tuple[torch.nn.Module, ModelSpec]:
    """The detector network with the checkpoint's (EMA) weights, in eval mode, and its spec. A QAT checkpoint
    keeps its fake-quant (frozen, exports as QDQ INT8) unless ``fake_quant`` is False (its float network)."""
    from plateforge.train.qat import freeze_for_export, freeze_observers, prepare_qat, strip_fake_quant
    from plateforge.train.registry import create_model

    info = ckpt["plateforge"]
    cfg = info["config"]
    model = create_model(cfg["model"]["name"])
    qat = bool(info.get("qat"))
    if qat:
        prepare_qat(model, cfg["quantization"]["symmetric_activations"])
    missing, unexpected = model.load_state_dict(network_state(ckpt), strict=False)
    missing = [k for k in missing if ".bn.folded." not in k]  # folded BNs are kept unused; older runs dropped them
    if missing or unexpected:
        raise ValueError(f"checkpoint does not fit {cfg['model']['name']}: missing {missing}, unexpected {unexpected}")
    model.eval()
    if qat and fake_quant:
        freeze_observers(model)
        freeze_for_export(model)
    elif qat:
        strip_fake_quant(model)
        qat = False
    size = cfg["model"]["input_size"]
    spec = ModelSpec(
        task="detector",
        architecture=cfg["model"]["name"],
        height=size,
        width=size,
        resize="letterbox",
        strides=tuple(model.strides),
        extra={
            "default_conf": cfg["evaluation"]["conf"],
            "default_iou": cfg["evaluation"].get("iou"),
            "quantization": "qat" if qat else None,
            "dataset_hash": info.get("dataset_hash"),
            "git_commit": info.get("git_commit"),
            "exported": time.strftime("%Y-%m-%d"),
        },
    )
    return model, spec


def export_detector(
    ckpt: dict, out: str | Path, size: int | None = None, sample: np.ndarray | None = None, fake_quant: bool = True
) -> dict:
    """Export a loaded detector checkpoint (QAT checkpoints become a QDQ INT8 graph unless ``fake_quant`` is
    False) at its training input size or ``size``; returns path, size in MB and the parity max abs difference
    (pixels / score; INT8 graphs differ from torch's fake-quant by rounding)."""
    model, spec = detector_from_checkpoint(ckpt, fake_quant)
    if size is not None:
        spec = dataclasses.replace(spec, height=size, width=size)
    return export_checked(model, spec, out, "images", ["detections"], sample, n_sample=2, float_entry=True)


def export_corners(ckpt: dict, out: str | Path) -> dict:
    """Export a corner regressor checkpoint (uint8 NHWC crops in, 8 crop fractions out)."""
    from plateforge.train.registry import create_model

    info = ckpt["plateforge"]
    cfg = info["config"]
    m = cfg["model"]
    model = create_model(m["name"], height=m["height"], width=m["width"])
    model.load_state_dict(network_state(ckpt))
    model.eval()
    spec = ModelSpec(
        task="corners",
        architecture=m["name"],
        height=m["height"],
        width=m["width"],
        resize="box_crop",
        extra={
            "margin": cfg["dataset"]["margin"],
            "git_commit": info.get("git_commit"),
            "exported": time.strftime("%Y-%m-%d"),
        },
    )
    return export_checked(model, spec, out, "crops", ["corners"], n_sample=4)


def export_checkpoint(ckpt_path: str | Path, out: str | Path, size: int | None = None, fake_quant: bool = True) -> dict:
    """Export any plateforge checkpoint; the task (recognizer, detector, ...) comes from the checkpoint.
    ``size`` sets a detector's letterbox input size (default: the training size); ``fake_quant`` False
    exports a QAT detector's float network."""
    ckpt = load_checkpoint(ckpt_path)
    task = ckpt["plateforge"]["task"]
    if task == "recognizer":
        return export_recognizer(ckpt, out)
    if task == "detector":
        return export_detector(ckpt, out, size, fake_quant=fake_quant)
    if task == "corners":
        return export_corners(ckpt, out)
    raise ValueError(f"{ckpt_path}: export of task {task!r} is not supported")
