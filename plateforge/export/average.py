"""Weight averaging of ONNX models ("model soup", Wortsman et al. 2022): the mean of the float weights of
models of one architecture fine-tuned from the same starting weights often beats each of them.

Works on the exported FP32 files, so it needs no checkpoint and no torch. Written here because the ONNX
tools (onnx, onnxruntime) have no weight averaging; it is a loop over initializers.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import onnx
from onnx import numpy_helper

from plateforge.export.spec_io import set_spec, spec_of


def _weights(model: onnx.ModelProto) -> dict[str, np.ndarray]:
    return {i.name: numpy_helper.to_array(i) for i in model.graph.initializer}


def _weights_by_use(model: onnx.ModelProto) -> dict[tuple[int, int], str]:
    """Each initializer's name keyed by its first use (node index, input index). Exporters name the same weight
    differently (``s8.0.conv.weight`` from a float model, ``onnx::Conv_549`` once conv and BN were fused for
    QAT), so two models of one graph are matched by where a weight is used, not by its name."""
    names = {i.name for i in model.graph.initializer}
    uses: dict[tuple[int, int], str] = {}
    seen: set[str] = set()
    for i, node in enumerate(model.graph.node):
        for j, name in enumerate(node.input):
            if name in names and name not in seen:
                uses[(i, j)] = name
                seen.add(name)
    return uses


def average_models(paths: Sequence[str | Path], out: str | Path) -> dict:
    """Write to ``out`` the first model with every float initializer replaced by the mean over ``paths``.

    All models must be FP32 plateforge models with the same task, architecture, input size, graph and
    initializer shapes; integer initializers (shapes, indices) must be equal. The spec is the first model's,
    with ``extra["averaged_from"]`` listing the files. Returns ``{"path", "models", "size_mb"}``.
    Raises ValueError naming the file and what differs.
    """
    if len(paths) < 2:
        raise ValueError(f"averaging needs at least 2 models, got {len(paths)}")
    models = [onnx.load(str(p)) for p in paths]
    specs = [spec_of(m, p) for m, p in zip(models, paths, strict=True)]
    for path, model in zip(paths, models, strict=True):
        if any(n.op_type == "QuantizeLinear" for n in model.graph.node):
            raise ValueError(f"{path}: an INT8 (QDQ) model; average the FP32 models, then quantize")
    first, spec = models[0], specs[0]
    ref = _weights(first)
    ref_uses = _weights_by_use(first)
    ops = [n.op_type for n in first.graph.node]
    sums = {k: ref[k].astype(np.float64) for k in ref_uses.values() if ref[k].dtype.kind == "f"}
    for path, model, s in zip(paths[1:], models[1:], specs[1:], strict=True):
        key, want = (s.task, s.architecture, s.width, s.height), (spec.task, spec.architecture, spec.width, spec.height)
        if key != want:
            raise ValueError(f"{path}: {key} (task, architecture, width, height) differs from {paths[0]}: {want}")
        if [n.op_type for n in model.graph.node] != ops:
            raise ValueError(f"{path}: its graph differs from {paths[0]}'s (export both the same way)")
        w, uses = _weights(model), _weights_by_use(model)
        if uses.keys() != ref_uses.keys() or len(w) != len(ref):
            raise ValueError(f"{path}: its weights are used at other places of the graph than {paths[0]}'s")
        for pos, name in uses.items():
            k, v = ref_uses[pos], w[name]
            if v.shape != ref[k].shape or v.dtype != ref[k].dtype:
                raise ValueError(
                    f"{path}: weight {name} is {v.dtype}{list(v.shape)}, where {paths[0]} has {k}: "
                    f"{ref[k].dtype}{list(ref[k].shape)}"
                )
            if k in sums:
                sums[k] += v
            elif not np.array_equal(v, ref[k]):
                raise ValueError(f"{path}: integer constant {name} differs from {paths[0]}'s {k}")
    for init in first.graph.initializer:
        if init.name in sums:
            mean = (sums[init.name] / len(models)).astype(ref[init.name].dtype)
            init.CopyFrom(numpy_helper.from_array(mean, init.name))
    set_spec(first, dataclasses.replace(spec, extra={**spec.extra, "averaged_from": [Path(p).name for p in paths]}))
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    onnx.save(first, str(out))
    return {"path": str(out), "models": len(models), "size_mb": out.stat().st_size / 1e6}
