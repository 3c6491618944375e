"""Exposing a slot recognizer's attention as an output (onnx and numpy only), so the runtime knows where on
the plate each character was read.

``slotnet_sa`` reads each character with a slot that attends over the backbone's feature map (3 × 20 for
the 48 × 160 input). The weights of the last cross-attention round, N × slots × (3 · 20), become output
``attention`` through an Identity node: graph surgery adds one output, and the network's own outputs stay
bit for bit. :func:`plateforge.runtime.plate_parts.plate_parts` uses it to tell a UAE plate's code from its
number (``1|11`` from ``11|1``), which the text alone cannot.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
from onnx import helper

from plateforge.runtime.recognizer import ATTENTION_OUTPUT


def cross_attention_name(model: onnx.ModelProto) -> str:
    """The tensor of the decoder's last cross-attention weights: the output of the last ``Softmax`` under
    ``/decoder/`` that is not a slot self-attention. Raises ValueError for a model without one."""
    found = [
        n.output[0]
        for n in model.graph.node
        if n.op_type == "Softmax" and n.name.startswith("/decoder/") and "slot_attn" not in n.name
    ]
    if not found:
        raise ValueError("no cross-attention in this recognizer (an architecture without slot attention)")
    return found[-1]


def strip_attention(model: onnx.ModelProto) -> onnx.ModelProto:
    """``model`` without the output ``attention`` and its Identity node, changed in place."""
    nodes = [n for n in model.graph.node if ATTENTION_OUTPUT not in n.output]
    del model.graph.node[:]
    model.graph.node.extend(nodes)
    outputs = [o for o in model.graph.output if o.name != ATTENTION_OUTPUT]
    del model.graph.output[:]
    model.graph.output.extend(outputs)
    return model


def add_attention_output(recognizer: str | Path, out: str | Path) -> Path:
    """Write ``recognizer`` with output ``attention`` (N × slots × cells) to ``out`` (the input file unchanged
    when it has one already). Checks on random crops that the other outputs are unchanged. Raises ValueError,
    writing nothing, for a recognizer without slot cross-attention."""
    import onnxruntime as ort

    model = onnx.load(str(recognizer))
    if any(o.name == ATTENTION_OUTPUT for o in model.graph.output):
        if Path(out) != Path(recognizer):
            onnx.save(model, str(out))
        return Path(out)
    source = cross_attention_name(model)  # ValueError before anything is written
    before = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])  # out may be it
    model.graph.node.append(helper.make_node("Identity", [source], [ATTENTION_OUTPUT], name="/attention_out"))
    model.graph.output.append(
        helper.make_tensor_value_info(ATTENTION_OUTPUT, onnx.TensorProto.FLOAT, ["batch", "slots", "cells"])
    )
    onnx.checker.check_model(model)
    onnx.save(model, str(out))
    after = ort.InferenceSession(str(out), providers=["CPUExecutionProvider"])
    shape = [d if isinstance(d, int) else 2 for d in before.get_inputs()[0].shape]
    x = np.random.default_rng(0).integers(0, 256, shape, dtype=np.uint8)
    name = before.get_inputs()[0].name
    old = before.run(None, {name: x})
    new = after.run(None, {name: x})
    for o in range(len(old)):
        if not np.array_equal(old[o], new[o]):
            raise RuntimeError(f"{out}: output {before.get_outputs()[o].name} changed")
    att = new[-1]
    if att.ndim != 3 or not np.allclose(att.sum(-1), 1, atol=1e-3):
        raise RuntimeError(f"{out}: {source} is not an attention over cells (shape {att.shape})")
    return Path(out)
