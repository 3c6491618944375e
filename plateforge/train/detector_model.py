"""Plate detector networks: single-stage, anchor-free, a box + 4 corners + score per anchor point.

Layout: plain residual CNN (conv 3×3 + BN + ReLU only: what ONNX Runtime quantizes statically and TensorRT
accepts), a small FPN over strides 8 / 16 / 32, and a decoupled head per level (score branch, box + corner
branch). Every channel count is a multiple of 8.

Per anchor point (centre of a feature cell, input pixels) the head predicts:
- score logit;
- box centre as an offset from the point, ``raw × stride`` pixels, and size ``exp(raw) × stride`` pixels
  (a point outside a small plate can still regress it exactly);
- corners TL, TR, BR, BL as offsets from the point: ``raw × stride`` pixels.

``forward`` takes uint8 NHWC BGR images (normalisation inside the graph) and returns the decoded
``(B, N, 13)`` the runtime reads (see :mod:`plateforge.ops.detect`); ``raw`` returns what the loss needs.
Each conv block carries identity slots (``w_fq``, ``out_fq``) that QAT fills with fake-quant modules
(:mod:`plateforge.train.qat`).
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from plateforge.train.registry import register

STRIDES = (8, 16, 32)


def _c(channels: float) -> int:
    """Round a channel count to a multiple of 8 (at least 8)."""
    return max(8, int(round(channels / 8)) * 8)


class ConvBNAct(nn.Module):
    """Conv k×k (bias kept so BN can be folded into it for QAT) + BN + optional ReLU."""

    def __init__(self, cin: int, cout: int, k: int = 3, stride: int = 1, act: bool = True):
        super().__init__()
        self.conv = nn.Conv2d(cin, cout, k, stride, k // 2, bias=True)
        self.bn: nn.Module = nn.BatchNorm2d(cout)
        self.act = nn.ReLU(inplace=True) if act else nn.Identity()
        self.in_fq: nn.Module = nn.Identity()
        self.w_fq: nn.Module = nn.Identity()
        self.out_fq: nn.Module = nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        c = self.conv
        y = F.conv2d(self.in_fq(x), self.w_fq(c.weight), c.bias, c.stride, c.padding)
        return self.out_fq(self.act(self.bn(y)))


class ResBlock(nn.Module):
    """Two 3×3 convs with an identity shortcut, ReLU after the sum."""

    def __init__(self, c: int):
        super().__init__()
        self.a = ConvBNAct(c, c)
        self.b = ConvBNAct(c, c, act=False)
        self.out_fq: nn.Module = nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.out_fq(F.relu(x + self.b(self.a(x))))


class AddFQ(nn.Module):
    """Element-wise sum with a fake-quant slot on its output (a quantization point in the FPN)."""

    def __init__(self):
        super().__init__()
        self.out_fq: nn.Module = nn.Identity()

    def forward(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        return self.out_fq(a + b)


class Normalize(nn.Module):
    """uint8 NHWC BGR → float NCHW in 0..1 (first op of the graph)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.permute(0, 3, 1, 2).float() * (1.0 / 255.0)


class DetNet(nn.Module):
    """Backbone (stem stride 4, stages at strides 8 / 16 / 32), FPN and heads; ``widths`` are the stage
    channels, ``neck`` the FPN/head channels, ``depth`` residual blocks per stage."""

    output_columns = 13

    def __init__(self, widths: tuple[int, int, int, int, int], neck: int, depth: tuple[int, int, int]):
        super().__init__()
        w0, w1, w2, w3, w4 = (_c(w) for w in widths)
        neck = _c(neck)
        self.strides = STRIDES
        self.normalize = Normalize()
        self.in_fq: nn.Module = nn.Identity()
        self.stem = nn.Sequential(ConvBNAct(3, w0, 3, 2), ConvBNAct(w0, w1, 3, 2))
        self.s8 = nn.Sequential(ConvBNAct(w1, w2, 3, 2), *[ResBlock(w2) for _ in range(depth[0])])
        self.s16 = nn.Sequential(ConvBNAct(w2, w3, 3, 2), *[ResBlock(w3) for _ in range(depth[1])])
        self.s32 = nn.Sequential(ConvBNAct(w3, w4, 3, 2), *[ResBlock(w4) for _ in range(depth[2])])
        self.lat = nn.ModuleList([ConvBNAct(c, neck, 1) for c in (w2, w3, w4)])
        self.add = nn.ModuleList([AddFQ(), AddFQ()])
        self.smooth = nn.ModuleList([ConvBNAct(neck, neck) for _ in range(2)])
        self.cls_branch = nn.ModuleList([ConvBNAct(neck, neck) for _ in STRIDES])
        self.reg_branch = nn.ModuleList([ConvBNAct(neck, neck) for _ in STRIDES])
        self.cls_out = nn.ModuleList([ConvBNAct(neck, 1, 1, act=False) for _ in STRIDES])
        self.reg_out = nn.ModuleList([ConvBNAct(neck, 12, 1, act=False) for _ in STRIDES])
        for m in [*self.cls_out, *self.reg_out]:
            m.bn = nn.Identity()  # plain conv outputs
        for m in self.cls_out:
            nn.init.constant_(m.conv.bias, -4.6)  # prior score 0.01 (focal loss practice)
        self._anchor_cache: dict = {}

    def features(self, x: torch.Tensor) -> list[torch.Tensor]:
        """Normalised float input → per-level raw maps (B, 13, H/s, W/s): score logit, 4 box, 8 corner values."""
        x = self.in_fq(x)
        c8 = self.s8(self.stem(x))
        c16 = self.s16(c8)
        c32 = self.s32(c16)
        p32 = self.lat[2](c32)
        p16 = self.smooth[1](self.add[1](self.lat[1](c16), F.interpolate(p32, scale_factor=2.0, mode="nearest")))
        p8 = self.smooth[0](self.add[0](self.lat[0](c8), F.interpolate(p16, scale_factor=2.0, mode="nearest")))
        out = []
        for i, p in enumerate((p8, p16, p32)):
            out.append(torch.cat([self.cls_out[i](self.cls_branch[i](p)), self.reg_out[i](self.reg_branch[i](p))], 1))
        return out

    def anchors(self, height: int, width: int, device=None) -> tuple[torch.Tensor, torch.Tensor]:
        """Anchor points (N, 2) x, y input pixels (cell centres) and their strides (N,), level by level."""
        key = (height, width, str(device))
        if key not in self._anchor_cache:
            pts, strides = [], []
            for s in self.strides:
                h, w = -(-height // s), -(-width // s)
                ys, xs = torch.meshgrid(torch.arange(h, device=device), torch.arange(w, device=device), indexing="ij")
                pts.append((torch.stack([xs, ys], -1).reshape(-1, 2).float() + 0.5) * s)
                strides.append(torch.full((h * w,), float(s), device=device))
            self._anchor_cache[key] = (torch.cat(pts), torch.cat(strides))
        return self._anchor_cache[key]

    def raw(self, images: torch.Tensor) -> torch.Tensor:
        """uint8 NHWC batch → (B, N, 13): score logit, box x1, y1, x2, y2 (pixels), corners (pixels)."""
        maps = self.features(self.normalize(images))
        flat = torch.cat([m.flatten(2) for m in maps], 2).transpose(1, 2).float()  # (B, N, 13)
        points, strides = self.anchors(images.shape[1], images.shape[2], images.device)
        s = strides[None, :, None]
        centre = points[None] + flat[..., 1:3] * s
        half = torch.exp(flat[..., 3:5].clamp(max=8.0)) * s * 0.5
        corners = flat[..., 5:13] * s + points.repeat(1, 4)[None]
        return torch.cat([flat[..., :1], centre - half, centre + half, corners], -1)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """uint8 NHWC BGR batch → (B, N, 13): x1, y1, x2, y2, score (0..1), 8 corner coordinates, input
        pixels (the exported graph)."""
        raw = self.raw(images)
        return torch.cat([raw[..., 1:5], torch.sigmoid(raw[..., :1]), raw[..., 5:13]], -1)


@register("detnet_n")
def detnet_n(**_) -> DetNet:
    """~0.3 M parameters: the edge default."""
    return DetNet(widths=(8, 16, 32, 64, 96), neck=32, depth=(1, 1, 1))


@register("detnet_s")
def detnet_s(**_) -> DetNet:
    """~0.9 M parameters."""
    return DetNet(widths=(16, 24, 48, 96, 160), neck=48, depth=(1, 2, 1))
