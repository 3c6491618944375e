"""Start a training run from an exported ONNX model (``plateforge train ... --init model.onnx``), such as the
bundled ones, which ship without their training checkpoints.

Export folds each BatchNorm into the convolution before it and renames those weights, so the ONNX file is not
a state dict. This module puts the weights back into the torch network of the same architecture:

- Conv nodes, in graph order, are the network's ``Conv2d`` calls in execution order (the exporter traces one
  forward pass); each gets the folded weight, and the BatchNorm that consumes its output gets statistics
  measured on real inputs (``calib``) so that BatchNorm(conv(x)) equals the folded convolution: in eval mode
  exactly, in training mode up to batch noise.
- A MatMul with a constant weight followed by an Add of a named bias ``P.bias`` is the ``Linear`` ``P``
  (weight transposed); every other named initializer is the state-dict entry of that name.
- Every weight of the network must be found and the rebuilt network must give the ONNX model's outputs on
  ``calib`` (max abs difference checked), or a ValueError says what did not fit.
- A network deeper than the file by identity blocks (a recognizer backbone's ``extra`` blocks, named
  ``backbone.<stage>x<k>``, which start as the identity) keeps those blocks as initialised; the other
  convolutions, in call order, take the file's, so a ``slotnet_sad`` starts from a ``slotnet_sa`` file as
  the same function.
- A recognizer whose config lists other regions than the file (a team adds its country's YAML to
  ``plateforge/specs`` and fine-tunes the bundled reader) keeps the file's region-head rows for the regions
  both list, matched by name; a new region's row starts from the network's fresh initialisation. The check
  then compares the character outputs and the region logits of the shared regions.

Written here because no maintained library maps folded ONNX graphs back onto torch modules (onnx2torch
builds new modules from the graph, not our architectures' weights, and does not unfold BatchNorm).
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import onnx
import torch
from onnx import numpy_helper
from torch import nn
from torch.nn import functional as F

from plateforge.export.float_entry import folded_input_scale


def _conv_calls(model: nn.Module, x: torch.Tensor) -> tuple[list[nn.Conv2d], dict[nn.Conv2d, nn.BatchNorm2d]]:
    """The model's Conv2d modules in call order for input ``x`` (also those a module runs through
    ``F.conv2d`` with its weight, as the detector's QAT-ready blocks do), and the BatchNorm2d that takes each
    one's output."""
    by_weight = {id(m.weight): m for m in model.modules() if isinstance(m, nn.Conv2d)}
    order: list[nn.Conv2d] = []
    produced: dict[int, nn.Conv2d] = {}
    follows: dict[nn.Conv2d, nn.BatchNorm2d] = {}
    conv2d = F.conv2d

    def traced(inp, weight, *args, **kwargs):
        out = conv2d(inp, weight, *args, **kwargs)
        if id(weight) not in by_weight:
            raise ValueError("the model runs a convolution whose weight is no Conv2d module's")
        order.append(by_weight[id(weight)])
        produced[id(out)] = by_weight[id(weight)]
        return out

    def before_bn(mod, inp):
        conv = produced.get(id(inp[0]))
        if conv is not None:
            follows[conv] = mod

    hooks = [m.register_forward_pre_hook(before_bn) for m in model.modules() if isinstance(m, nn.BatchNorm2d)]
    F.conv2d = traced
    try:
        with torch.no_grad():
            model(x)
    finally:
        F.conv2d = conv2d
        for h in hooks:
            h.remove()
    return order, follows


def _load_convs(model, path, graph, init, calib) -> tuple[set[int], dict[nn.BatchNorm2d, torch.Tensor]]:
    """Folded conv weights into the model's convolutions (call order = graph order); each BatchNorm after a
    convolution is set to pass the folded bias through. Returns the ids of the parameters set (or kept as
    initialised: the identity blocks of a network deeper than the file) and, per such BatchNorm, the folded
    bias (its statistics are measured next)."""
    convs, bn_after = _conv_calls(model, calib[:1])
    nodes = [n for n in graph.node if n.op_type == "Conv"]
    done: set[int] = set()
    added = _identity_block_params(model)
    if len(convs) > len(nodes) and added:  # a deeper network: its identity blocks keep their initialisation
        convs = [c for c in convs if id(c.weight) not in added]
        done |= added
    if len(convs) != len(nodes):
        raise ValueError(f"{path}: {len(nodes)} convolutions, the model runs {len(convs)}: another architecture")
    folded: dict[nn.BatchNorm2d, torch.Tensor] = {}
    for i, (conv, node) in enumerate(zip(convs, nodes, strict=True)):
        if node.input[1] not in init:
            raise ValueError(f"{path}: convolution {i} has no constant weight (a quantized graph?)")
        w = torch.from_numpy(np.array(init[node.input[1]]))
        scale = folded_input_scale(node)  # the input's x 1/255, folded into the stem at export
        if scale is not None:
            w = w / scale
        b = torch.from_numpy(np.array(init[node.input[2]])) if len(node.input) > 2 else torch.zeros(w.shape[0])
        if w.shape != conv.weight.shape:
            shapes = f"{tuple(w.shape)}, the model {tuple(conv.weight.shape)}"
            raise ValueError(f"{path}: convolution {i} has weight {shapes}")
        conv.weight.copy_(w)
        done.add(id(conv.weight))
        bn = bn_after.get(conv)
        if bn is not None:
            folded[bn] = b
            bn.weight.fill_(1.0), bn.bias.copy_(b), bn.running_mean.zero_(), bn.running_var.fill_(1.0 - bn.eps)
            done.update((id(bn.weight), id(bn.bias)))
            if conv.bias is not None:  # the folded bias goes to the BatchNorm
                conv.bias.zero_()
                done.add(id(conv.bias))
        elif conv.bias is not None:
            conv.bias.copy_(b)
            done.add(id(conv.bias))
        elif b.abs().max() > 0:
            raise ValueError(f"{path}: convolution {i} has a bias the model's convolution lacks")
    return done, folded


def _identity_block_params(model: nn.Module) -> set[int]:
    """Ids of the parameters of the identity-initialised extra blocks of a recognizer backbone (modules named
    ``backbone.<stage>x<k>``, see :func:`plateforge.train.recognizer_model.backbone`)."""
    return {
        id(p) for name, m in model.named_modules() if re.fullmatch(r"backbone\.\d+x\d+", name) for p in m.parameters()
    }


def _named_weights(path, graph, init, state) -> dict[str, np.ndarray]:
    """State-dict entries by name: MatMul weights named after the bias added to their output (transposed:
    ONNX multiplies x by W^T), and every other initializer whose name is a state-dict key."""
    consumers = {inp: n for n in graph.node for inp in n.input}
    named: dict[str, np.ndarray] = {}
    for node in graph.node:
        if node.op_type == "MatMul" and node.input[1] in init:
            add = consumers.get(node.output[0])
            inputs = add.input if add is not None and add.op_type == "Add" else ()
            bias = next((x for x in inputs if x in init), "")
            if not bias.endswith(".bias"):
                raise ValueError(f"{path}: cannot tell which layer the weight {node.input[1]} belongs to")
            named[bias[: -len(".bias")] + ".weight"] = init[node.input[1]].T
    conv_inits = {x for n in graph.node if n.op_type == "Conv" for x in n.input[1:]}
    named.update({k: v for k, v in init.items() if k not in conv_inits and k in state})
    return named


def _calibrate(model: nn.Module, folded: dict[nn.BatchNorm2d, torch.Tensor], calib: torch.Tensor) -> None:
    """Set each BatchNorm of ``folded`` to statistics of its input on ``calib`` and scale / shift that undo
    them, so BatchNorm(conv(x)) = the folded convolution (eval mode: exactly)."""
    stats: dict[nn.BatchNorm2d, tuple[torch.Tensor, torch.Tensor]] = {}

    def measure(bn, inp):
        stats[bn] = (inp[0].mean((0, 2, 3)), inp[0].var((0, 2, 3)))

    hooks = [bn.register_forward_pre_hook(measure) for bn in folded]
    try:
        model(calib)
    finally:
        for h in hooks:
            h.remove()
    for bn, (mean, var) in stats.items():
        bn.running_mean.copy_(mean)
        bn.running_var.copy_(var)
        bn.weight.copy_(torch.sqrt(var + bn.eps))
        bn.bias.copy_(folded[bn] + mean)


def _file_regions(path: Path, graph_model: onnx.ModelProto) -> list[str] | None:
    """The region classes in the file's plateforge metadata (None when it has none)."""
    from plateforge.export.spec_io import spec_of

    try:
        return list(spec_of(graph_model, path).regions) or None
    except ValueError:
        return None


def region_rows(rows: torch.Tensor, fresh: torch.Tensor, have: list[str], want: list[str]) -> torch.Tensor:
    """Region-head rows (weight or bias, one row per region) for the regions ``want``: the trained row of
    ``rows`` where ``have`` (its regions) lists the region, the network's fresh row where it does not."""
    out = fresh.detach().clone()
    for i, region in enumerate(want):
        if region in have:
            out[i] = rows[have.index(region)]
    return out


def _parity_shared_regions(model: nn.Module, path: Path, calib: torch.Tensor, have: list[str], want: list[str]):
    """Max abs difference of the character outputs and of the region logits both list (ONNX vs torch)."""
    import onnxruntime as ort

    sample = calib.numpy()
    with torch.no_grad():
        chars, regions = (t.numpy() for t in model(calib))
    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    got_chars, got_regions = sess.run(None, {sess.get_inputs()[0].name: sample})[:2]
    pairs = [(i, have.index(r)) for i, r in enumerate(want) if r in have]
    diff = float(np.abs(chars - got_chars).max())
    if pairs:
        ours, theirs = zip(*pairs, strict=True)
        diff = max(diff, float(np.abs(regions[:, list(ours)] - got_regions[:, list(theirs)]).max()))
    return diff


def load_onnx_weights(model: nn.Module, path: str | Path, calib: torch.Tensor, atol: float = 1e-3) -> float:
    """Copy the weights of the exported ONNX file ``path`` into ``model`` (the same architecture, built from the
    same config), BatchNorm statistics measured on ``calib`` (a batch of the model's uint8 inputs, e.g. one
    training batch). Returns the max abs difference between the ONNX outputs and the model's (eval mode) on
    ``calib``; raises ValueError naming what does not fit, or when that difference exceeds ``atol``."""
    from plateforge.export.onnx_export import parity

    path = Path(path)
    proto = onnx.load(str(path))
    graph = proto.graph
    init = {i.name: numpy_helper.to_array(i) for i in graph.initializer}
    file_regions, model_regions = _file_regions(path, proto), list(getattr(model, "regions", None) or [])
    regrow = (
        file_regions is not None
        and bool(model_regions)
        and file_regions != model_regions
        and hasattr(model, "region_head")
    )
    state = model.state_dict()
    params = dict(model.named_parameters())
    modes = {m: m.training for m in model.modules()}
    model.eval()
    try:
        with torch.no_grad():
            done, folded = _load_convs(model, path, graph, init, calib)
            for name, value in _named_weights(path, graph, init, state).items():
                if name not in state:
                    raise ValueError(f"{path}: {name} is not in the model: another architecture")
                if regrow and name.startswith("region_head.") and value.shape[0] == len(file_regions):
                    trained = torch.from_numpy(np.array(value))
                    value = region_rows(trained, state[name], file_regions, model_regions).numpy()
                if (want := tuple(state[name].shape)) != value.shape:
                    raise ValueError(f"{path}: {name} {value.shape} does not fit the model: {want}")
                target = params.get(name, state[name])
                target.copy_(torch.from_numpy(np.array(value)))
                done.add(id(target))
            missing = [n for n, p in params.items() if id(p) not in done]
            if missing:
                raise ValueError(f"{path}: no weights in the file for {missing[:5]}")
            _calibrate(model, folded, calib)
        if regrow:
            diff = _parity_shared_regions(model, path, calib, file_regions, model_regions)
        else:
            diff = parity(model, path, calib.numpy())
    finally:
        for m, training in modes.items():  # back to the modes the model came in (Lightning keeps them)
            m.train(training)
    if diff > atol:
        raise ValueError(f"{path}: the rebuilt network differs from the file by {diff:.2g} (> {atol})")
    return diff


def start_from(init: str | Path, model: nn.Module, loader, run_dir: Path, load_checkpoint) -> None:
    """Start a new run's ``model`` from ``init``: an exported ONNX file (:func:`load_onnx_weights`, the first
    batch of the training ``loader`` (images first) as calibration) or a checkpoint, whose loaded dict
    (``state_dict``, and ``plateforge`` with the regions of a recognizer) goes to ``load_checkpoint``; the file
    is recorded in ``run_dir/init_from.txt``."""
    if str(init).endswith(".onnx"):
        load_onnx_weights(model, init, next(iter(loader))[0])
    else:
        load_checkpoint(torch.load(init, map_location="cpu", weights_only=False))
    (run_dir / "init_from.txt").write_text(str(Path(init).resolve()) + "\n")
