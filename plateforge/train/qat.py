"""Quantization-aware training for the detector: fold BN into the convs, insert fake-quant, export QDQ ONNX.

At the QAT switch every ``ConvBNAct`` gets its BatchNorm folded into the conv (conv + BN + ReLU become one
conv with a fused ReLU, as they run in INT8), per-channel symmetric int8 fake-quant on its weights and a
per-tensor fake-quant on its output; residual sums, FPN sums and the network input get one too. These are
exactly the quantization points ONNX Runtime's static quantizer chooses, so the exported graph
(QuantizeLinear / DequantizeLinear around every conv) runs as integer convolutions in ONNX Runtime, and is
the explicit-precision form TensorRT builds INT8 engines from (``symmetric_activations: true`` for TensorRT).

Fake-quant modules are torch's own (``torch.ao.quantization.FakeQuantize`` with moving-average observers);
the network has identity slots for them, so no graph rewriting is needed.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.ao.quantization import FakeQuantize, MovingAverageMinMaxObserver, MovingAveragePerChannelMinMaxObserver
from torch.nn.utils.fusion import fuse_conv_bn_weights

from plateforge.train.detector_model import AddFQ, ConvBNAct, DetNet, ResBlock


class ActFakeQuant(FakeQuantize):
    """FakeQuantize for activations; computes in float32 (mixed precision hands it float16)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return super().forward(x.float())


def _act_fq(symmetric: bool) -> FakeQuantize:
    """Per-tensor activation fake-quant: int8 with zero point 0 (TensorRT) or uint8 affine (CPUs)."""
    return ActFakeQuant(
        observer=MovingAverageMinMaxObserver,
        quant_min=-128 if symmetric else 0,
        quant_max=127 if symmetric else 255,
        dtype=torch.qint8 if symmetric else torch.quint8,
        qscheme=torch.per_tensor_symmetric if symmetric else torch.per_tensor_affine,
    )


def _weight_fq() -> FakeQuantize:
    return FakeQuantize(
        observer=MovingAveragePerChannelMinMaxObserver,
        quant_min=-127,
        quant_max=127,
        dtype=torch.qint8,
        qscheme=torch.per_channel_symmetric,
        ch_axis=0,
    )


class FoldedBN(nn.Module):
    """Stands where a BatchNorm was folded into its conv: passes values through, keeps the old BN as a child so
    the parameter list (and an optimizer's state over it) stays the same across the QAT switch and resumes."""

    def __init__(self, bn: nn.BatchNorm2d):
        super().__init__()
        self.folded = bn.requires_grad_(False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x


def fold_bn(block: ConvBNAct) -> None:
    """Fold the block's BatchNorm (running statistics) into its conv weights and bias, in place."""
    bn = block.bn
    if not isinstance(bn, nn.BatchNorm2d):
        return
    conv = block.conv
    w, b = fuse_conv_bn_weights(conv.weight, conv.bias, bn.running_mean, bn.running_var, bn.eps, bn.weight, bn.bias)
    with torch.no_grad():
        conv.weight.copy_(w)
        conv.bias.copy_(b)
    block.bn = FoldedBN(bn)


def is_qat(model: nn.Module) -> bool:
    """True when ``model`` already carries fake-quant modules."""
    return any(isinstance(m, FakeQuantize) for m in model.modules())


def prepare_qat(model: DetNet, symmetric_activations: bool = False) -> DetNet:
    """Fold BN and insert fake-quant in place (idempotent); returns ``model``."""
    if is_qat(model):
        return model
    device = next(model.parameters()).device
    model.in_fq = _act_fq(symmetric_activations)
    for m in model.modules():
        if isinstance(m, ConvBNAct):
            fold_bn(m)
            m.w_fq = _weight_fq()
            with torch.no_grad():
                m.w_fq(m.conv.weight.detach().cpu())  # observe once: scales take their per-channel shape
            m.out_fq = _act_fq(symmetric_activations)
        elif isinstance(m, ResBlock | AddFQ):
            m.out_fq = _act_fq(symmetric_activations)
    return model.to(device)


def freeze_observers(model: nn.Module) -> None:
    """Stop updating quantization ranges (for export and final evaluation); fake-quant stays on."""
    model.apply(torch.ao.quantization.disable_observer)


class FrozenFakeQuant(nn.Module):
    """A FakeQuantize with its ranges fixed, in the form the ONNX exporter turns into QuantizeLinear +
    DequantizeLinear (the stock module branches on buffers, which tracing cannot export)."""

    def __init__(self, fq: FakeQuantize):
        super().__init__()
        self.per_channel = fq.qscheme in (torch.per_channel_symmetric, torch.per_channel_affine)
        self.register_buffer("scale", fq.scale.detach().clone().float())
        self.register_buffer("zero_point", fq.zero_point.detach().clone().int())
        # ONNX QuantizeLinear clamps int8 to -128..127; symmetric weights never go below -127 anyway
        self.qmin, self.qmax, self.axis = (-128 if fq.quant_min == -127 else fq.quant_min), fq.quant_max, fq.ch_axis

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.per_channel:
            return torch.fake_quantize_per_channel_affine(
                x, self.scale, self.zero_point, self.axis, self.qmin, self.qmax
            )
        return torch.fake_quantize_per_tensor_affine(x, float(self.scale), int(self.zero_point), self.qmin, self.qmax)


def _replace_fake_quant(model: nn.Module, make) -> nn.Module:
    """Replace every FakeQuantize in ``model`` (in place) by ``make(it)``; returns ``model``."""
    for name, child in list(model.named_children()):
        if isinstance(child, FakeQuantize):
            setattr(model, name, make(child))
        else:
            _replace_fake_quant(child, make)
    return model


def freeze_for_export(model: nn.Module) -> nn.Module:
    """Replace every FakeQuantize in ``model`` (in place) by a :class:`FrozenFakeQuant`; returns ``model``."""
    return _replace_fake_quant(model, FrozenFakeQuant)


def strip_fake_quant(model: nn.Module) -> nn.Module:
    """Replace every FakeQuantize in ``model`` (in place) by an identity: the float network of a QAT model."""
    return _replace_fake_quant(model, lambda _fq: nn.Identity())
