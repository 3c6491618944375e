"""INT8 quantization of plateforge ONNX models with ONNX Runtime's tools.

- ``static``: QDQ graph (QuantizeLinear/DequantizeLinear around int8 weights and uint8 activations),
  per-channel weights, activation ranges calibrated on representative images. This QDQ form is also what
  TensorRT builds an explicit-precision INT8 engine from (``trtexec --onnx=model.int8.onnx --int8``).
- ``dynamic``: int8 weights, activations quantized on the fly (no calibration data).

The model's spec (metadata) is copied to the quantized file, with ``extra.quantization`` set.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import tempfile
from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np
import onnx
from onnxruntime.quantization import (
    CalibrationDataReader,
    CalibrationMethod,
    QuantFormat,
    QuantType,
    quantize_dynamic,
    quantize_static,
)
from onnxruntime.quantization.shape_inference import quant_pre_process

from plateforge.data.calib import VIDEO_SUFFIXES, CalibOptions, build_calibration_set
from plateforge.data.manifest import IMAGE_SUFFIXES
from plateforge.export.float_entry import float_entry_file
from plateforge.export.spec_io import attach_spec, read_spec_from_file
from plateforge.runtime.spec import ModelSpec

MODES = ("static", "dynamic")
CALIBRATION_METHODS = {
    "minmax": CalibrationMethod.MinMax,
    "percentile": CalibrationMethod.Percentile,
    "entropy": CalibrationMethod.Entropy,
}


DETECTOR_OPS = ["Conv", "Relu"]  # Relu fuses into its QLinearConv; Add and Resize in INT8 lost accuracy


def decoding_tail(model: onnx.ModelProto) -> list[str]:
    """Names of the nodes after a network's last convolutions: those no convolution reads downstream (box
    decoding, score sigmoid, concatenation of pixels with scores), which stay in float. ONNX lists nodes in
    topological order, so one backward pass sees every consumer before its producer."""
    nodes = list(model.graph.node)
    consumers: dict[str, list[int]] = {}
    for k, n in enumerate(nodes):
        for i in n.input:
            consumers.setdefault(i, []).append(k)
    feeds_conv = [False] * len(nodes)
    for k in range(len(nodes) - 1, -1, -1):
        nxt = [c for o in nodes[k].output for c in consumers.get(o, [])]
        feeds_conv[k] = any(nodes[c].op_type == "Conv" or feeds_conv[c] for c in nxt)
    return [n.name for n, f in zip(nodes, feeds_conv, strict=True) if n.op_type != "Conv" and n.name and not f]


def calibration_images(source: str | Path, spec: ModelSpec, n: int = 300, seed: int = 0) -> np.ndarray:
    """Up to ``n`` model-ready uint8 images (N, H, W, 3) from a folder of images (a ``plateforge data calib``
    folder too), a manifest, or a video file (frames spread over the video, near-still frames skipped, as
    ``plateforge data calib`` picks them): whole images letterboxed for detectors; for recognizers, every
    plate with a text rectified (manifest) or images stretched (folder)."""
    source = Path(source)
    if source.is_file() and source.suffix.lower() in VIDEO_SUFFIXES:
        if spec.task == "recognizer":
            raise ValueError(f"{source}: a recognizer calibrates on plate crops (a manifest), not video frames")
        with tempfile.TemporaryDirectory() as tmp:
            records = build_calibration_set([source], Path(tmp) / "calib", CalibOptions(n=n, seed=seed))
            if not records:
                raise ValueError(f"{source}: no frames could be read for calibration")
            return calibration_images(Path(tmp) / "calib" / "images", spec, n, seed)
    if spec.task not in ("recognizer", "detector", "corners"):
        raise ValueError(f"calibration for task {spec.task!r} is not supported")
    if source.suffix == ".jsonl":
        if spec.task == "recognizer":
            from plateforge.data.plate_crops import plate_crops

            images = plate_crops(str(source), spec.width, spec.height).images
            return _sample(images, n, seed)
        from plateforge.data.manifest import read_manifest

        files = [Path(r.image) for r in read_manifest(source)]
    elif source.is_dir():
        files = sorted(p for p in source.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES)
    else:
        raise ValueError(f"{source}: give a folder of images, a manifest (.jsonl) or a video for calibration")
    if not files:
        raise ValueError(f"{source}: no images for calibration")
    pick = sorted(np.random.default_rng(seed).permutation(len(files))[:n])
    loaded = [x for x in (cv2.imread(str(files[i]), cv2.IMREAD_COLOR) for i in pick) if x is not None]
    if spec.task == "detector":
        from plateforge.ops.boxes import letterbox

        return np.stack([letterbox(x, spec.height, spec.letterbox_fill)[0] for x in loaded])
    return np.stack([cv2.resize(x, (spec.width, spec.height), interpolation=cv2.INTER_AREA) for x in loaded])


def _sample(images: np.ndarray, n: int, seed: int) -> np.ndarray:
    if len(images) > n:
        images = images[np.random.default_rng(seed).permutation(len(images))[:n]]
    return images


class _Batches(CalibrationDataReader):
    def __init__(self, name: str, images: np.ndarray, batch: int = 16):
        self._it: Iterator = iter([{name: images[i : i + batch]} for i in range(0, len(images), batch)])

    def get_next(self):
        return next(self._it, None)


@contextlib.contextmanager
def _quiet_root_logger():
    """ONNX Runtime's quantizer warns on the root logger about every uint8 input it cannot quantize (all our
    inputs are uint8 by design) and dumps the tensor type: keep that out of the user's terminal."""
    root = logging.getLogger()
    level = root.level
    root.setLevel(logging.ERROR)
    try:
        yield
    finally:
        root.setLevel(level)


def quantize_model(
    model: str | Path,
    out: str | Path,
    mode: str = "static",
    calib: str | Path | None = None,
    n_calib: int = 300,
    per_channel: bool = True,
    method: str = "minmax",
) -> dict:
    """Quantize ``model`` to INT8 into ``out``; returns sizes (MB) and the calibration image count.
    ``method``: how static calibration sets each activation's range (:data:`CALIBRATION_METHODS`: the
    extremes seen, or a percentile / entropy fit of their histogram, which ignores rare outliers)."""
    if mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
    if method not in CALIBRATION_METHODS:
        raise ValueError(f"calibration method must be one of {tuple(CALIBRATION_METHODS)}, got {method!r}")
    spec = read_spec_from_file(model)
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp, _quiet_root_logger():
        pre = Path(tmp) / "pre.onnx"
        quant_pre_process(str(model), str(pre), skip_symbolic_shape=True)
        n = 0
        if mode == "static":
            if calib is None:
                raise ValueError("static quantization needs --calib (images, a manifest or a calib folder)")
            images = calibration_images(calib, spec, n_calib)
            n = len(images)
            pre_model = onnx.load(str(pre))  # read once: input name, decoding tail
            quantize_static(
                str(pre),
                str(out),
                # histogram methods stack every batch's values into one array: batches of one keep them even
                _Batches(pre_model.graph.input[0].name, images, 16 if method == "minmax" else 1),
                quant_format=QuantFormat.QDQ,
                per_channel=per_channel,
                activation_type=QuantType.QUInt8,
                weight_type=QuantType.QInt8,
                calibrate_method=CALIBRATION_METHODS[method],
                # detectors: convolutions with their activations in INT8 (no float round trip between a
                # convolution and its Relu), the decoding tail (pixels and 0..1 scores in one tensor) in float
                op_types_to_quantize=DETECTOR_OPS if spec.task == "detector" else None,
                nodes_to_exclude=decoding_tail(pre_model) if spec.task == "detector" else None,
            )
            float_entry_file(out)  # the convolution on the image in float: faster and exact on CPUs (float_entry)
        else:
            quantize_dynamic(str(pre), str(out), per_channel=per_channel, weight_type=QuantType.QInt8)
    extra = {**spec.extra, "quantization": mode, "calibration_images": n}
    if mode == "static":
        extra["calibration_method"] = method
    attach_spec(out, dataclasses.replace(spec, extra=extra))
    return {
        "path": str(out),
        "mode": mode,
        "calibration_images": n,
        "size_mb": out.stat().st_size / 1e6,
        "fp32_size_mb": Path(model).stat().st_size / 1e6,
    }
