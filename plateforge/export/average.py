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

from plateforge.export.attention import add_attention_output, strip_attention
from plateforge.export.plate_head import strip_plate_head
from plateforge.export.spec_io import set_spec, spec_of
from plateforge.runtime.recognizer import ATTENTION_OUTPUT


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


def _region_axes(model: onnx.ModelProto, n_regions: int) -> dict[str, int]:
    """The initializers of a recognizer's region head (the Gemm or MatMul + Add that computes the graph output
    ``regions``) with the axis that runs over the regions: a Gemm weight [R, C] (transB), a MatMul weight
    [C, R], a bias [R]."""
    if n_regions == 0 or "regions" not in {o.name for o in model.graph.output}:
        return {}
    inits = {i.name: tuple(i.dims) for i in model.graph.initializer}
    made_by = {o: n for n in model.graph.node for o in n.output}
    head = made_by.get("regions")
    if head is None or head.op_type not in ("Gemm", "MatMul", "Add"):
        return {}
    nodes = [head]
    if head.op_type == "Add":  # MatMul + bias: the MatMul holds the weight
        nodes += [made_by[i] for i in head.input if i in made_by and made_by[i].op_type == "MatMul"]
    axes: dict[str, int] = {}
    for node in nodes:
        trans_b = any(a.name == "transB" and a.i for a in node.attribute)
        for name in (i for i in node.input if i in inits):
            dims = inits[name]
            if len(dims) == 1 and dims[0] == n_regions:
                axes[name] = 0
            elif len(dims) == 2 and dims[0 if trans_b else 1] == n_regions:
                axes[name] = 0 if trans_b else 1
    return axes


def average_models(paths: Sequence[str | Path], out: str | Path) -> dict:
    """Write to ``out`` the first model with every float initializer replaced by the mean over ``paths``.

    All models must be FP32 plateforge models with the same task, architecture, input size, graph and
    initializer shapes; integer initializers (shapes, indices) must be equal. The spec is the first model's,
    with ``extra["averaged_from"]`` listing the files. Returns ``{"path", "models", "size_mb"}``.
    Recognizers may list other regions (a fine-tune that added a country, averaged with the file it started
    from): the region head keeps the first model's regions, each row the mean over the models that have that
    region (matched by name); other models' extra regions are left out. A recognizer's plate check is left out
    too: it fits its own network's features, so fit one for the mean (``plateforge train plate-head``). The
    slot attention output (``attention``) is kept when the first model has it.
    Raises ValueError naming the file and what differs.
    """
    if len(paths) < 2:
        raise ValueError(f"averaging needs at least 2 models, got {len(paths)}")
    loaded = [onnx.load(str(p)) for p in paths]
    attention = any(o.name == ATTENTION_OUTPUT for o in loaded[0].graph.output)
    # a plate check fits one network's features; the attention output is put back on the mean below
    models = [strip_attention(strip_plate_head(m)) for m in loaded]
    specs = [spec_of(m, p) for m, p in zip(models, paths, strict=True)]
    for path, model in zip(paths, models, strict=True):
        if any(n.op_type == "QuantizeLinear" for n in model.graph.node):
            raise ValueError(f"{path}: an INT8 (QDQ) model; average the FP32 models, then quantize")
    first, spec = models[0], specs[0]
    ref = _weights(first)
    ref_uses = _weights_by_use(first)
    ops = [n.op_type for n in first.graph.node]
    sums = {k: ref[k].astype(np.float64) for k in ref_uses.values() if ref[k].dtype.kind == "f"}
    head = _region_axes(first, len(spec.regions))  # region-head weight -> its region axis
    counts = {k: np.ones(len(spec.regions)) for k in head}  # models that have each region, per head weight
    for path, model, s in zip(paths[1:], models[1:], specs[1:], strict=True):
        key, want = (s.task, s.architecture, s.width, s.height), (spec.task, spec.architecture, spec.width, spec.height)
        if key != want:
            raise ValueError(f"{path}: {key} (task, architecture, width, height) differs from {paths[0]}: {want}")
        if [n.op_type for n in model.graph.node] != ops:
            raise ValueError(f"{path}: its graph differs from {paths[0]}'s (export both the same way)")
        w, uses = _weights(model), _weights_by_use(model)
        if uses.keys() != ref_uses.keys() or len(w) != len(ref):
            raise ValueError(f"{path}: its weights are used at other places of the graph than {paths[0]}'s")
        rows = {r: i for i, r in enumerate(s.regions)}
        for pos, name in uses.items():
            k, v = ref_uses[pos], w[name]
            if k in head and tuple(s.regions) != tuple(spec.regions) and v.dtype == ref[k].dtype:
                axis, have = head[k], [j for j, r in enumerate(spec.regions) if r in rows]
                taken = np.take(v, [rows[spec.regions[j]] for j in have], axis=axis).astype(np.float64)
                index = [slice(None)] * v.ndim
                index[axis] = have
                sums[k][tuple(index)] += taken
                counts[k][have] += 1
                continue
            if v.shape != ref[k].shape or v.dtype != ref[k].dtype:
                raise ValueError(
                    f"{path}: weight {name} is {v.dtype}{list(v.shape)}, where {paths[0]} has {k}: "
                    f"{ref[k].dtype}{list(ref[k].shape)}"
                )
            if k in sums:
                sums[k] += v
                if k in counts:
                    counts[k] += 1
            elif not np.array_equal(v, ref[k]):
                raise ValueError(f"{path}: integer constant {name} differs from {paths[0]}'s {k}")
    for init in first.graph.initializer:
        if init.name in sums:
            n = len(models)
            if init.name in counts:  # per region: the models that have it
                shape = [1] * sums[init.name].ndim
                shape[head[init.name]] = -1
                n = counts[init.name].reshape(shape)
            mean = (sums[init.name] / n).astype(ref[init.name].dtype)
            init.CopyFrom(numpy_helper.from_array(mean, init.name))
    set_spec(first, dataclasses.replace(spec, extra={**spec.extra, "averaged_from": [Path(p).name for p in paths]}))
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    onnx.save(first, str(out))
    if attention:
        add_attention_output(out, out)
    return {"path": str(out), "models": len(models), "size_mb": out.stat().st_size / 1e6}
