"""Crop-level plate corner regressor: a ResNet-18 encoder (torchvision's layout, written here because
torchvision cannot be installed beside our torch) with 8 outputs: TL, TR, BR, BL (x, y) normalised to the
crop (0..1), as the keypoint seed did. Input: uint8 NHWC BGR crops; normalisation inside the graph.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from plateforge.train.registry import register


class BasicBlock(nn.Module):
    def __init__(self, cin: int, cout: int, stride: int):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.down = (
            nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))
            if stride != 1 or cin != cout
            else nn.Identity()
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = F.relu(self.bn1(self.conv1(x)))
        return F.relu(self.bn2(self.conv2(y)) + self.down(x))


class CornerNet(nn.Module):
    """ResNet-18 (stem, 4 stages × 2 basic blocks, strides 4-8-16-32) + global pooling + linear 8."""

    def __init__(self, widths: tuple[int, int, int, int], height: int, width: int):
        super().__init__()
        self.height, self.width = height, width
        self.register_buffer("mean", torch.tensor([0.406, 0.456, 0.485]).view(1, 3, 1, 1) * 255, persistent=False)
        self.register_buffer("std", torch.tensor([0.225, 0.224, 0.229]).view(1, 3, 1, 1) * 255, persistent=False)
        w0 = widths[0]
        self.stem = nn.Sequential(
            nn.Conv2d(3, w0, 7, 2, 3, bias=False), nn.BatchNorm2d(w0), nn.ReLU(inplace=True), nn.MaxPool2d(3, 2, 1)
        )
        layers, cin = [], w0
        for i, c in enumerate(widths):
            layers += [BasicBlock(cin, c, 1 if i == 0 else 2), BasicBlock(c, c, 1)]
            cin = c
        self.layers = nn.Sequential(*layers)
        self.head = nn.Linear(cin, 8)
        nn.init.zeros_(self.head.weight)
        with torch.no_grad():  # start at the crop's inner box (the margin the crops are cut with)
            self.head.bias.copy_(torch.tensor([0.12, 0.12, 0.88, 0.12, 0.88, 0.88, 0.12, 0.88]))

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """(B, H, W, 3) uint8 BGR → (B, 8) corners TL, TR, BR, BL as (x, y) fractions of the crop."""
        x = (images.permute(0, 3, 1, 2).float() - self.mean) / self.std
        x = self.layers(self.stem(x))
        return self.head(x.mean((2, 3)))


@register("cornernet_r18")
def cornernet_r18(height: int = 96, width: int = 192, **_) -> CornerNet:
    """Full ResNet-18 widths (64-512): 11.2 M parameters, as in the keypoint seed."""
    return CornerNet((64, 128, 256, 512), height, width)


@register("cornernet_r18_s")
def cornernet_r18_s(height: int = 96, width: int = 192, **_) -> CornerNet:
    """ResNet-18 layout at a quarter of the widths (16-128): 0.7 M parameters, for edge boxes."""
    return CornerNet((16, 32, 64, 128), height, width)
