"""Run the convolution that reads the image in float inside an INT8 (QDQ) graph.

Why: ONNX Runtime's int8 convolution (MLAS, on a CPU with AVX2 and no VNNI) is slow when a convolution has
only 3 input channels: on the bundled detector the stem's QLinearConv (3 → 8 channels at 384 × 384) takes
~2.1 ms against ~0.7 ms for the float convolution in its blocked NCHWc layout, a third of the whole INT8
network, and not exact: without VNNI the u8 × s8 kernel adds products in pairs into int16, which saturates
when bright pixels (255) meet large weights (±127) (on the small graph of tests/test_float_entry.py the fused
stem's output was off by up to 15 quantization steps; the float one gives the graph's defined result). Every
later convolution is 1.3-1.75× faster in INT8. On an AVX-512 VNNI CPU (2026-11-25) the float stem still wins:
the bundled QAT detector's inference 2.66 ms against 3.10 ms with the old int8 stem. So INT8 models keep that
one convolution in float: its input is the normalised image (no Quantize/Dequantize pair) and its weights a
float initializer holding the int8-rounded values (ONNX Runtime constant-folds no DequantizeLinear, and its
NCHWc layout needs constant weights); a bias static PTQ stored in int32 behind a DequantizeLinear becomes a
float initializer too (left there, the convolution runs in plain NCHW, not NCHWc: the bundled corner model's
static INT8 took 1.22 ms against 0.88 ms with it folded, on an AVX-512 VNNI CPU); its output is quantized as
before, so the next layer is unchanged.

ONNX Runtime's quantizer can leave a node out (``nodes_to_exclude``), but the QAT export writes its own QDQ
graph, so one graph pass serves both (static PTQ and QAT). Written here because no library rewrites a QDQ
graph this way.
"""

from __future__ import annotations

import numpy as np
import onnx
from onnx import numpy_helper

MAX_ENTRY_CHANNELS = 4  # a convolution with at most this many input channels reads the image
FOLDED_SCALE_NOTE = "plateforge: input scale folded into the weight: "  # a node doc string, then the scale


def _constant(graph: onnx.GraphProto, producer: dict, name: str) -> np.ndarray:
    """The value of an initializer or of a Constant / Identity-of-constant output."""
    for init in graph.initializer:
        if init.name == name:
            return numpy_helper.to_array(init)
    node = producer.get(name)
    if node is not None and node.op_type == "Identity":
        return _constant(graph, producer, node.input[0])
    if node is not None and node.op_type == "Constant":
        return numpy_helper.to_array(node.attribute[0].t)
    raise ValueError(f"{name!r} is not a constant")


def _dequantized(graph: onnx.GraphProto, producer: dict, dq: onnx.NodeProto) -> np.ndarray:
    """The float values a constant's DequantizeLinear yields: a weight from an int8 initializer (static PTQ)
    or from a QuantizeLinear of float weights (QAT export), or a bias from an int32 initializer (static PTQ);
    per channel along the node's axis."""
    axis = next((a.i for a in dq.attribute if a.name == "axis"), 1)
    source = producer.get(dq.input[0])
    qat = source is not None and source.op_type == "QuantizeLinear"  # DQ(Q(w)): the float weights get rounded
    node = source if qat else dq  # its inputs: the values (float or int8), the scale, the zero point
    v = _constant(graph, producer, node.input[0]).astype(np.float32)
    scale = _constant(graph, producer, node.input[1]).astype(np.float32)
    zero_point = _constant(graph, producer, node.input[2]) if len(node.input) > 2 else np.zeros((), np.int8)
    shape = [1] * v.ndim
    shape[min(axis, v.ndim - 1)] = -1  # per-channel scale and zero point along the axis (a bias has only one)
    s, z = (x.reshape(shape) if x.ndim else x for x in (scale, zero_point.astype(np.float32)))
    if qat:
        info = np.iinfo(zero_point.dtype)
        v = np.clip(np.round(v / s) + z, info.min, info.max)
    return ((v - z) * s).astype(np.float32)


def float_entry_convs(model: onnx.ModelProto) -> list[str]:
    """Rewrite ``model`` (a QDQ graph) in place so that each convolution reading the network's float input
    (≤ ``MAX_ENTRY_CHANNELS`` input channels, fed by Quantize → Dequantize of a tensor that no layer
    upstream made: the image after its normalisation) runs in float; returns the names of the convolutions
    changed (may be none)."""
    graph = model.graph
    producer = {o: n for n in graph.node for o in n.output}
    plans = []  # found on the graph as given, changed after: a rewritten entry makes its successors look float
    for conv in [n for n in graph.node if n.op_type == "Conv"]:
        dq_in, dq_w = producer.get(conv.input[0]), producer.get(conv.input[1])
        if dq_in is None or dq_in.op_type != "DequantizeLinear" or dq_w is None or dq_w.op_type != "DequantizeLinear":
            continue
        q_in = producer.get(dq_in.input[0])
        if q_in is None or q_in.op_type != "QuantizeLinear" or _after_a_layer(producer, q_in.input[0]):
            continue  # a layer's output, not the network's (normalised) input
        weight = _dequantized(graph, producer, dq_w)
        if weight.ndim == 4 and weight.shape[1] <= MAX_ENTRY_CHANNELS:
            plans.append((conv, q_in.input[0], weight))
    for conv, source, weight in plans:
        name = f"{conv.name or conv.output[0]}.float_weight"
        graph.initializer.append(numpy_helper.from_array(weight, name))
        conv.input[0], conv.input[1] = source, name
        dq_b = producer.get(conv.input[2]) if len(conv.input) > 2 and conv.input[2] else None
        if dq_b is not None and dq_b.op_type == "DequantizeLinear":  # static PTQ stores the bias in int32
            bias = f"{conv.name or conv.output[0]}.float_bias"
            graph.initializer.append(numpy_helper.from_array(_dequantized(graph, producer, dq_b), bias))
            conv.input[2] = bias
    _drop_unused(graph)
    return [conv.name or conv.output[0] for conv, _, _ in plans]


LAYER_OPS = {"DequantizeLinear", "Conv", "ConvInteger", "QLinearConv", "MatMul", "Gemm"}


def _after_a_layer(producer: dict, tensor: str) -> bool:
    """Whether a layer (a convolution, a matrix product or a dequantized tensor) lies upstream of ``tensor``."""
    stack, seen = [tensor], set()
    while stack:
        node = producer.get(stack.pop())
        if node is None or id(node) in seen:
            continue
        if node.op_type in LAYER_OPS:
            return True
        seen.add(id(node))
        stack.extend(node.input)
    return False


def _drop_unused(graph: onnx.GraphProto) -> None:
    """Remove nodes whose outputs nothing reads (repeatedly), keeping the graph outputs."""
    needed = {o.name for o in graph.output}
    while True:
        used = needed | {i for n in graph.node for i in n.input}
        dead = [n for n in graph.node if not any(o in used for o in n.output)]
        if not dead:
            break
        for n in dead:
            graph.node.remove(n)
    used = {i for n in graph.node for i in n.input}
    for init in [i for i in graph.initializer if i.name not in used]:
        graph.initializer.remove(init)


def fold_input_scale(model: onnx.ModelProto) -> list[str]:
    """Fold a constant scalar ``Mul`` on the network's input (the detector's ``× 1/255``) into the float
    convolutions that read it: conv(x · c, W) = conv(x, c · W), zero padding included. Saves a pass over the
    whole image (~0.5 ms for a 384 × 384 input on one thread). Rewrites ``model`` in place; returns the
    names of the convolutions changed."""
    graph = model.graph
    producer = {o: n for n in graph.node for o in n.output}
    consumers: dict[str, list[onnx.NodeProto]] = {}
    for n in graph.node:
        for i in n.input:
            consumers.setdefault(i, []).append(n)
    inits = {i.name: i for i in graph.initializer}
    changed = []
    for mul in [n for n in graph.node if n.op_type == "Mul"]:
        scalar = [i for i in mul.input if _is_scalar(graph, producer, i)]
        if len(scalar) != 1 or _after_a_layer(producer, mul.output[0]):
            continue
        data = next(i for i in mul.input if i != scalar[0])
        users = consumers.get(mul.output[0], [])
        if not users or mul.output[0] in {o.name for o in graph.output}:
            continue
        if not all(u.op_type == "Conv" and u.input[0] == mul.output[0] and u.input[1] in inits for u in users):
            continue
        c = float(_constant(graph, producer, scalar[0]))
        for conv in users:
            w = numpy_helper.to_array(inits[conv.input[1]]).astype(np.float32)
            name = f"{conv.name or conv.output[0]}.scaled_weight"
            graph.initializer.append(numpy_helper.from_array(w * np.float32(c), name))
            conv.input[0], conv.input[1] = data, name
            conv.doc_string = f"{FOLDED_SCALE_NOTE}{c!r}"  # so --init can unfold it (train.onnx_init)
            changed.append(conv.name or conv.output[0])
    _drop_unused(graph)
    return changed


def folded_input_scale(conv: onnx.NodeProto) -> float | None:
    """The input scale :func:`fold_input_scale` multiplied into this convolution's weight, or None."""
    if conv.doc_string.startswith(FOLDED_SCALE_NOTE):
        return float(conv.doc_string[len(FOLDED_SCALE_NOTE) :])
    return None


def _is_scalar(graph: onnx.GraphProto, producer: dict, name: str) -> bool:
    try:
        return _constant(graph, producer, name).size == 1
    except ValueError:
        return False


def float_entry_file(path) -> list[str]:
    """:func:`float_entry_convs` then :func:`fold_input_scale` on an ONNX file, saved in place (metadata
    kept); the names of the convolutions changed."""
    model = onnx.load(str(path))
    changed = float_entry_convs(model) + fold_input_scale(model)
    if changed:
        onnx.save(model, str(path))
    return changed
