"""The INT8 graph pass that keeps the convolution on the image in float (plateforge.export.float_entry)."""

from __future__ import annotations

import numpy as np
import onnx
import onnxruntime as ort
from onnx import TensorProto, helper, numpy_helper

from plateforge.export.float_entry import float_entry_convs, fold_input_scale, folded_input_scale


def entry_conv_is_float(model: onnx.ModelProto) -> bool:
    """True when the graph's 3-channel convolution reads a tensor no DequantizeLinear makes, with a constant
    float weight (what ONNX Runtime runs as a float NCHWc convolution)."""
    producer = {o: n for n in model.graph.node for o in n.output}
    inits = {i.name: i for i in model.graph.initializer}
    for conv in (n for n in model.graph.node if n.op_type == "Conv"):
        w = inits.get(conv.input[1])
        if w is not None and w.dims[1] == 3 and w.data_type == TensorProto.FLOAT:
            src = producer.get(conv.input[0])
            return src is None or src.op_type != "DequantizeLinear"
    return False


def _qdq_net(rng) -> onnx.ModelProto:
    """x float (1, 3, 8, 8) → Q/DQ → Conv 3→4 (int8 weights, DQ) → Relu → Q/DQ → Conv 4→4 (QAT-style DQ(Q(w)))."""
    w1 = rng.integers(-127, 128, (4, 3, 3, 3)).astype(np.int8)
    w2 = rng.normal(0, 0.1, (4, 4, 3, 3)).astype(np.float32)
    f = numpy_helper.from_array
    inits = [
        f(w1, "w1_q"),
        f(np.full(4, 0.004, np.float32), "w1_s"),
        f(np.zeros(4, np.int8), "w1_z"),
        f(w2, "w2"),
        f(np.full(4, 0.002, np.float32), "w2_s"),
        f(np.zeros(4, np.int8), "w2_z"),
        f(np.array(1 / 255, np.float32), "x_s"),
        f(np.array(0, np.uint8), "x_z"),
        f(np.array(0.02, np.float32), "a_s"),
        f(np.array(0, np.uint8), "a_z"),
    ]
    nodes = [
        helper.make_node("QuantizeLinear", ["x", "x_s", "x_z"], ["x_q"]),
        helper.make_node("DequantizeLinear", ["x_q", "x_s", "x_z"], ["x_dq"]),
        helper.make_node("DequantizeLinear", ["w1_q", "w1_s", "w1_z"], ["w1_dq"], axis=0),
        helper.make_node("Conv", ["x_dq", "w1_dq"], ["c1"], name="stem", pads=[1, 1, 1, 1]),
        helper.make_node("Relu", ["c1"], ["r1"]),
        helper.make_node("QuantizeLinear", ["r1", "a_s", "a_z"], ["r1_q"]),
        helper.make_node("DequantizeLinear", ["r1_q", "a_s", "a_z"], ["r1_dq"]),
        helper.make_node("QuantizeLinear", ["w2", "w2_s", "w2_z"], ["w2_q"], axis=0),
        helper.make_node("DequantizeLinear", ["w2_q", "w2_s", "w2_z"], ["w2_dq"], axis=0),
        helper.make_node("Conv", ["r1_dq", "w2_dq"], ["y"], name="body", pads=[1, 1, 1, 1]),
    ]
    return _model(nodes, inits, TensorProto.FLOAT)


def _model(nodes, inits, x_type: int) -> onnx.ModelProto:
    """An opset-17 model of ``nodes`` from input ``x`` (1, 3, 8, 8) of ``x_type`` to float ``y`` (1, 4, 8, 8)."""
    graph = helper.make_graph(
        nodes,
        "test",
        [helper.make_tensor_value_info("x", x_type, [1, 3, 8, 8])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 4, 8, 8])],
        inits,
    )
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])


def _run(model: onnx.ModelProto, x: np.ndarray, optimize: bool = True) -> np.ndarray:
    """ONNX Runtime's output; ``optimize=False``: each node as ONNX defines it (no QLinearConv fusion)."""
    so = ort.SessionOptions()
    if not optimize:
        so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    sess = ort.InferenceSession(model.SerializeToString(), so, providers=["CPUExecutionProvider"])
    return sess.run(None, {"x": x})[0]


def test_entry_convolution_runs_in_float_with_the_int8_rounded_weights():
    rng = np.random.default_rng(0)
    model = _qdq_net(rng)
    x = rng.integers(0, 256, (1, 3, 8, 8)).astype(np.float32) / 255  # on the input's quantization grid
    meaning = _run(model, x, optimize=False)  # the QDQ graph's defined result
    assert not entry_conv_is_float(model)
    assert float_entry_convs(model) == ["stem"]
    onnx.checker.check_model(model)
    assert entry_conv_is_float(model)
    ops = [n.op_type for n in model.graph.node]
    assert ops.count("QuantizeLinear") == 2 and ops.count("DequantizeLinear") == 2  # the stem's pairs gone
    assert {i.name for i in model.graph.initializer} >= {"stem.float_weight", "w2"}
    assert "w1_q" not in {i.name for i in model.graph.initializer}  # the int8 copy is dropped
    # the int8 values dequantized and an input on its grid: the graph's defined result, optimised or not.
    # (The fused int8 stem need not match it: on AVX2 without VNNI its int16 pair sums of 255 x 127 saturate.)
    assert np.allclose(_run(model, x), meaning, atol=1e-5)
    assert np.allclose(_run(model, x, optimize=False), meaning, atol=1e-5)
    assert float_entry_convs(model) == []  # nothing left to change


def test_an_int32_bias_of_the_entry_convolution_becomes_a_float_constant():
    """Static PTQ stores biases in int32 behind a DequantizeLinear; left there, ONNX Runtime cannot run the
    float entry convolution in its NCHWc layout (the bundled corner model's static INT8: 1.22 -> 0.88 ms)."""
    rng = np.random.default_rng(3)
    model = _qdq_net(rng)
    f = numpy_helper.from_array
    bias_scale = np.full(4, 0.004 / 255, np.float32)  # input scale x weight scale, as the quantizer sets it
    bias = rng.integers(-5000, 5000, 4).astype(np.int32)
    model.graph.initializer.extend([f(bias, "b1_q"), f(bias_scale, "b1_s"), f(np.zeros(4, np.int32), "b1_z")])
    stem = next(n for n in model.graph.node if n.name == "stem")
    stem.input.append("b1_dq")
    model.graph.node.insert(0, helper.make_node("DequantizeLinear", ["b1_q", "b1_s", "b1_z"], ["b1_dq"], axis=0))
    x = rng.integers(0, 256, (1, 3, 8, 8)).astype(np.float32) / 255
    meaning = _run(model, x, optimize=False)
    assert float_entry_convs(model) == ["stem"]
    onnx.checker.check_model(model)
    inits = {i.name: i for i in model.graph.initializer}
    assert stem.input[2] == "stem.float_bias" and inits["stem.float_bias"].data_type == TensorProto.FLOAT
    assert "b1_q" not in inits and sum(n.op_type == "DequantizeLinear" for n in model.graph.node) == 2
    assert np.allclose(_run(model, x), meaning, atol=1e-5)


def test_a_convolution_after_a_quantized_layer_stays_int8():
    model = _qdq_net(np.random.default_rng(1))
    float_entry_convs(model)
    body = next(n for n in model.graph.node if n.name == "body")
    producer = {o: n for n in model.graph.node for o in n.output}
    assert producer[body.input[0]].op_type == "DequantizeLinear"
    assert producer[body.input[1]].op_type == "DequantizeLinear"


def test_input_scale_folds_into_the_float_convolution():
    """x · (1/255) → Conv becomes Conv with weights / 255: same output, one pass over the image less."""
    rng = np.random.default_rng(2)
    f = numpy_helper.from_array
    nodes = [
        helper.make_node("Cast", ["x"], ["xf"], to=TensorProto.FLOAT),
        helper.make_node("Mul", ["xf", "c"], ["xs"]),
        helper.make_node("Conv", ["xs", "w", "b"], ["y"], name="stem", pads=[1, 1, 1, 1]),
    ]
    inits = [
        f(np.array(1 / 255, np.float32), "c"),
        f(rng.normal(0, 1, (4, 3, 3, 3)).astype(np.float32), "w"),
        f(rng.normal(0, 1, 4).astype(np.float32), "b"),
    ]
    model = _model(nodes, inits, TensorProto.UINT8)
    x = rng.integers(0, 256, (1, 3, 8, 8)).astype(np.uint8)
    before = _run(model, x)
    assert fold_input_scale(model) == ["stem"]
    onnx.checker.check_model(model)
    assert "Mul" not in {n.op_type for n in model.graph.node} and "c" not in {i.name for i in model.graph.initializer}
    assert np.allclose(_run(model, x), before, rtol=1e-5, atol=1e-4)
    assert fold_input_scale(model) == []
    stem = next(n for n in model.graph.node if n.op_type == "Conv")  # --init divides the scale back out
    assert abs(folded_input_scale(stem) - 1 / 255) < 1e-9


def test_bundled_detectors_carry_both_rewrites():
    from plateforge.runtime.session import bundled_model

    for name in ("detector.onnx", "detector_int8.onnx"):
        model = onnx.load(str(bundled_model(name)))
        assert entry_conv_is_float(model) and float_entry_convs(model) == [] and fold_input_scale(model) == []
