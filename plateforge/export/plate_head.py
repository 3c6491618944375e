"""Writing a plate check into a recognizer ONNX and taking it out again (onnx and numpy only).

The check is a logistic-regression head on the features the recognizer's region head reads (fitted by
:mod:`plateforge.train.plate_head`): a Gemm and a Sigmoid from that tensor to the extra output ``plate``
(N × 1, the probability that each crop is a plate), the fit's report in metadata key
``plateforge_plate_head``. Graph surgery with onnx's helpers: the network's own outputs stay bit for bit.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import onnx

from plateforge.runtime.recognizer import PLATE_OUTPUT

METADATA_KEY = "plateforge_plate_head"


def pooled_features_name(model: onnx.ModelProto) -> str:
    """The name of the tensor the region head reads (the input of the node that writes ``regions``)."""
    for node in model.graph.node:
        if "regions" in node.output:
            return node.input[0]
    raise ValueError("the recognizer has no 'regions' output, so no pooled features to put a plate head on")


def strip_plate_head(model: onnx.ModelProto) -> onnx.ModelProto:
    """``model`` without a plate head (its nodes, weights, output and metadata), changed in place."""
    if not any(n.name.startswith("/plate_head/") for n in model.graph.node):
        return model
    nodes = [n for n in model.graph.node if not n.name.startswith("/plate_head/")]
    del model.graph.node[:]
    model.graph.node.extend(nodes)
    used = {name for n in nodes for name in n.input}
    weights = [w for w in model.graph.initializer if w.name in used]  # the head's weights, whatever their names
    del model.graph.initializer[:]
    model.graph.initializer.extend(weights)
    outputs = [o for o in model.graph.output if o.name != PLATE_OUTPUT]
    del model.graph.output[:]
    model.graph.output.extend(outputs)
    meta = [p for p in model.metadata_props if p.key != METADATA_KEY]
    del model.metadata_props[:]
    model.metadata_props.extend(meta)
    return model


def add_plate_head(
    recognizer: str | Path, layers: list[tuple[np.ndarray, np.ndarray]], out: str | Path, info: dict
) -> Path:
    """Write ``recognizer`` with a plate head as output ``plate`` (N × 1 probability) to ``out``, ``info`` in
    its metadata, in place of a head it has; ``plate`` comes after ``chars`` and ``regions``, before any other
    output (``attention``). ``layers``: (weight (out, in), bias (out,)) pairs applied to the pooled features in
    turn, ReLU between them, a sigmoid after the last (which has one output). Checks that ``chars`` and
    ``regions`` are unchanged on random crops."""
    import onnxruntime as ort

    if not layers or layers[-1][0].shape[0] != 1:
        raise ValueError("the plate head's last layer must have one output")
    model = strip_plate_head(onnx.load(str(recognizer)))
    x = pooled_features_name(model)
    for k, (w, b) in enumerate(layers):
        names = (f"plate_head.{k}.weight", f"plate_head.{k}.bias")
        model.graph.initializer.extend(
            [
                onnx.numpy_helper.from_array(np.asarray(w, np.float32), names[0]),
                onnx.numpy_helper.from_array(np.asarray(b, np.float32).reshape(-1), names[1]),
            ]
        )
        y = f"plate_head_{k}"
        model.graph.node.append(onnx.helper.make_node("Gemm", [x, *names], [y], transB=1, name=f"/plate_head/Gemm_{k}"))
        x = y
        if k < len(layers) - 1:
            model.graph.node.append(onnx.helper.make_node("Relu", [x], [f"{x}_relu"], name=f"/plate_head/Relu_{k}"))
            x = f"{x}_relu"
    model.graph.node.append(onnx.helper.make_node("Sigmoid", [x], [PLATE_OUTPUT], name="/plate_head/Sigmoid"))
    outputs = list(model.graph.output)  # the documented order: chars, regions, plate, then any other (attention)
    outputs.insert(2, onnx.helper.make_tensor_value_info(PLATE_OUTPUT, onnx.TensorProto.FLOAT, ["batch", 1]))
    del model.graph.output[:]
    model.graph.output.extend(outputs)
    model.metadata_props.append(onnx.StringStringEntryProto(key=METADATA_KEY, value=json.dumps(info)))
    onnx.checker.check_model(model)
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    onnx.save(model, str(out))
    before = ort.InferenceSession(str(recognizer), providers=["CPUExecutionProvider"])
    after = ort.InferenceSession(str(out), providers=["CPUExecutionProvider"])
    shape = before.get_inputs()[0].shape
    x = np.random.default_rng(0).integers(0, 256, (4, shape[1], shape[2], shape[3]), dtype=np.uint8)
    name = before.get_inputs()[0].name
    old = before.run(["chars", "regions"], {name: x})
    new = after.run(["chars", "regions", PLATE_OUTPUT], {name: x})
    if not all(np.array_equal(a, c) for a, c in zip(old, new[:2], strict=True)):
        raise RuntimeError(f"{out}: chars / regions changed when the plate head was added")
    return out
