"""Plate recognizer networks: a small conv backbone and a slot decoder that reads one- and two-line plates.

Why slots and not CTC: CTC reads a left-to-right sequence of columns, and the two rows of a two-line plate
share the same columns. Here K learned slot queries attend over the whole 2-D feature map (two rounds of
cross-attention), so slot k learns "the k-th character in reading order" wherever it sits. Each slot
predicts a character or the pad symbol; masked characters (``?``) are simply not scored in the loss.

Input: uint8 images (B, H, W, 3), BGR, as the runtime gives them; scaling to [0, 1] and normalisation are
inside the network, so they are inside the exported ONNX graph too.
"""

from __future__ import annotations

from collections import OrderedDict

import torch
from torch import nn

from plateforge.train.registry import register


def conv_bn(cin: int, cout: int, stride=1, groups: int = 1, k: int = 3) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(cin, cout, k, stride, k // 2, groups=groups, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True)
    )


class Normalize(nn.Module):
    """uint8 (B, H, W, 3) → float (B, 3, H, W) scaled to about [-2, 2]: the graph's own preprocessing."""

    def __init__(self):
        super().__init__()
        # constants, not weights: kept out of checkpoints (they are in the exported graph)
        self.register_buffer("mean", torch.tensor([0.5, 0.5, 0.5]).view(1, 3, 1, 1) * 255, persistent=False)
        self.register_buffer("std", torch.tensor([0.25, 0.25, 0.25]).view(1, 3, 1, 1) * 255, persistent=False)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return (images.permute(0, 3, 1, 2).float() - self.mean) / self.std


def backbone(widths: tuple[int, int, int, int], last_stride, extra: tuple[int, int, int] = (0, 0, 0)) -> nn.Sequential:
    """Conv stem + depthwise-separable blocks: H/16 × W/8 (``last_stride`` 2) or W/4 (``(2, 1)``) features.

    ``extra``: residual blocks added at the end of the c2 / c3 / c4 stages (named ``2x1``, ``4x1``, ``6x1``...
    so the weights of the base layout keep their names, and a base model's checkpoint starts a deeper one);
    each starts as the identity (its last BatchNorm scale is 0).
    """
    c1, c2, c3, c4 = widths
    layers = [
        ("0", conv_bn(3, c1, 2)),  # H/2, W/2
        ("1", DSBlock(c1, c2, 2)),  # H/4, W/4
        ("2", DSBlock(c2, c2)),
        ("3", DSBlock(c2, c3, (2, 1))),  # H/8, W/4
        ("4", DSBlock(c3, c3)),
        ("5", DSBlock(c3, c4, last_stride)),  # H/16
        ("6", DSBlock(c4, c4)),
    ]
    for after, c, n in zip(("2", "4", "6"), (c2, c3, c4), extra, strict=True):
        at = next(i for i, (name, _) in enumerate(layers) if name == after) + 1
        for k in range(n, 0, -1):
            block = DSBlock(c, c)
            nn.init.zeros_(block.pw[1].weight)
            layers.insert(at, (f"{after}x{k}", block))
    return nn.Sequential(OrderedDict(layers))


class DSBlock(nn.Module):
    """Depthwise 3×3 + pointwise 1×1 (MobileNet-style), residual when shapes allow."""

    def __init__(self, cin: int, cout: int, stride=1):
        super().__init__()
        self.dw = conv_bn(cin, cin, stride, groups=cin)
        self.pw = conv_bn(cin, cout, 1, k=1)
        self.residual = cin == cout and stride == 1

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.pw(self.dw(x))
        return x + y if self.residual else y


def sincos_2d(h: int, w: int, dim: int, x_step: float = 1.0) -> torch.Tensor:
    """Fixed 2-D sine/cosine position code (1, h*w, dim): half the channels encode y, half x; column j sits at
    x = j * ``x_step`` (0.5 for a grid twice as fine, so a place on the plate keeps its code)."""
    quarter = dim // 4
    freqs = 1.0 / (100.0 ** (torch.arange(quarter) / quarter))
    ys, xs = torch.meshgrid(
        torch.arange(h, dtype=torch.float32), torch.arange(w, dtype=torch.float32) * x_step, indexing="ij"
    )
    parts = [
        torch.sin(ys.flatten()[:, None] * freqs),
        torch.cos(ys.flatten()[:, None] * freqs),
        torch.sin(xs.flatten()[:, None] * freqs),
        torch.cos(xs.flatten()[:, None] * freqs),
    ]
    code = torch.cat(parts, dim=1)
    return torch.nn.functional.pad(code, (0, dim - code.shape[1]))[None]


class SlotSelfAttention(nn.Module):
    """Single-head self-attention among the slots (pre-norm, residual), so slot k sees what the other slots
    read: without it each slot attends to the image alone, and two slots can take the same character (``VS674``
    read ``VS6774``) or none take one. Its output projection starts at zero: the block starts as the identity,
    so a checkpoint of a model without it starts the model with it (``--init``)."""

    def __init__(self, dim: int):
        super().__init__()
        self.norm = nn.LayerNorm(dim)
        self.qkv = nn.Linear(dim, 3 * dim)
        self.out = nn.Linear(dim, dim)
        nn.init.zeros_(self.out.weight)
        nn.init.zeros_(self.out.bias)
        self.scale = dim**-0.5

    def forward(self, slots: torch.Tensor) -> torch.Tensor:
        q, k, v = self.qkv(self.norm(slots)).chunk(3, dim=-1)
        attn = torch.softmax(q @ k.transpose(1, 2) * self.scale, dim=-1)
        return slots + self.out(attn @ v)


class SlotDecoder(nn.Module):
    """K learned queries, two rounds of single-head cross-attention over the feature map, then per-slot logits.

    ``slot_attention``: self-attention among the slots after each round (:class:`SlotSelfAttention`).
    """

    def __init__(
        self,
        dim: int,
        grid: tuple[int, int],
        slots: int,
        n_classes: int,
        rounds: int = 2,
        slot_attention: bool = False,
        x_step: float = 1.0,
    ):
        super().__init__()
        self.register_buffer("pos", sincos_2d(grid[0], grid[1], dim, x_step))
        self.token_norm = nn.LayerNorm(dim)
        self.queries = nn.Parameter(torch.randn(1, slots, dim) * 0.02)
        self.key = nn.Linear(dim, dim)
        self.value = nn.Linear(dim, dim)
        self.q_proj = nn.ModuleList(nn.Linear(dim, dim) for _ in range(rounds))
        self.mlp = nn.ModuleList(
            nn.Sequential(nn.Linear(dim, dim * 2), nn.ReLU(inplace=True), nn.Linear(dim * 2, dim))
            for _ in range(rounds)
        )
        self.norm = nn.ModuleList(nn.LayerNorm(dim) for _ in range(rounds))
        self.slot_attn = nn.ModuleList(SlotSelfAttention(dim) for _ in range(rounds)) if slot_attention else None
        self.classify = nn.Linear(dim, n_classes)
        self.scale = dim**-0.5

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        tokens = self.token_norm(tokens) + self.pos
        k, v = self.key(tokens), self.value(tokens)
        q = self.queries.expand(tokens.shape[0], -1, -1)
        for i, (proj, mlp, norm) in enumerate(zip(self.q_proj, self.mlp, self.norm, strict=True)):
            attn = torch.softmax(proj(q) @ k.transpose(1, 2) * self.scale, dim=-1)
            q = norm(q + attn @ v)
            q = q + mlp(q)
            if self.slot_attn is not None:
                q = self.slot_attn[i](q)
        return self.classify(q)


class DenseSlots(nn.Module):
    """Slots from the flattened feature map (as fast-plate-ocr): squeeze channels, flatten, one linear layer."""

    def __init__(self, dim: int, grid: tuple[int, int], slots: int, n_classes: int, squeeze: int = 32):
        super().__init__()
        self.grid, self.slots, self.n_classes = grid, slots, n_classes
        self.squeeze = nn.Sequential(nn.Linear(dim, squeeze), nn.ReLU(inplace=True))
        self.classify = nn.Linear(squeeze * grid[0] * grid[1], slots * n_classes)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        x = self.squeeze(tokens).flatten(1)
        return self.classify(x).view(-1, self.slots, self.n_classes)


class SlotRecognizer(nn.Module):
    """uint8 BGR (B, H, W, 3) → (char logits (B, slots, alphabet + 1), region logits (B, regions)).

    Class index ``len(alphabet)`` is the pad symbol (no character in this slot).
    """

    def __init__(
        self,
        alphabet: str,
        regions: list[str],
        height: int = 48,
        width: int = 160,
        slots: int = 10,
        widths: tuple[int, int, int, int] = (24, 48, 96, 128),
        head: str = "attention",
        extra: tuple[int, int, int] = (0, 0, 0),
        slot_attention: bool = False,
        column_stride: int = 8,
    ):
        super().__init__()
        if column_stride not in (4, 8):
            raise ValueError(f"column_stride must be 4 or 8, got {column_stride}")
        self.alphabet, self.regions = alphabet, list(regions)
        self.height, self.width, self.slots = height, width, slots
        c4 = widths[3]
        self.normalize = Normalize()
        self.backbone = backbone(widths, 2 if column_stride == 8 else (2, 1), extra)  # H/16, W/8 or W/4
        grid = (height // 16, width // column_stride)
        if head == "attention":
            self.decoder = SlotDecoder(
                c4, grid, slots, len(alphabet) + 1, slot_attention=slot_attention, x_step=column_stride / 8
            )
        else:
            self.decoder = DenseSlots(c4, grid, slots, len(alphabet) + 1)
        self.region_head = nn.Linear(c4, max(1, len(self.regions)))

    def forward(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        f = self.backbone(self.normalize(images))
        tokens = f.flatten(2).transpose(1, 2)  # (B, h*w, C)
        return self.decoder(tokens), self.region_head(tokens.mean(1))


@register("slotnet_s")
def slotnet_s(alphabet: str, regions: list[str], height: int = 48, width: int = 160, slots: int = 10) -> SlotRecognizer:
    """Small slot recognizer (~0.3 M parameters)."""
    return SlotRecognizer(alphabet, regions, height, width, slots, (24, 48, 96, 128))


class RasterCTCRecognizer(nn.Module):
    """Fully convolutional CTC recognizer that reads one- and two-line plates.

    The backbone keeps 3 row bands × W/4 columns; a context block (full-height 3×3 convs, then wide 1×7 convs)
    lets every cell see the whole plate height and its neighbours. The cells are read in raster order (top
    band left to right, then the next band) as one CTC sequence of 3·W/4 steps, so a two-line plate's top
    line comes before its bottom line, and a one-line plate is read from whichever band the network chooses.
    Output: (B, T, len(alphabet) + 1) logits, class 0 = CTC blank; region logits (B, regions).
    """

    output_format = "ctc"

    def __init__(
        self,
        alphabet: str,
        regions: list[str],
        height: int = 48,
        width: int = 160,
        widths: tuple[int, int, int, int] = (32, 64, 96, 128),
    ):
        super().__init__()
        self.alphabet, self.regions, self.height, self.width = alphabet, list(regions), height, width
        self.slots = 0
        c4 = widths[3]
        self.normalize = Normalize()
        self.backbone = backbone(widths, (2, 1))  # H/16 = 3 bands, W/4 columns
        self.context = nn.Sequential(
            conv_bn(c4, c4, 1, k=3),
            conv_bn(c4, c4, 1, groups=c4 // 8, k=3),
            nn.Conv2d(c4, c4, (1, 7), 1, (0, 3), groups=c4, bias=False),
            nn.BatchNorm2d(c4),
            nn.ReLU(inplace=True),
            conv_bn(c4, c4, 1, k=1),
        )
        self.classify = nn.Conv2d(c4, len(alphabet) + 1, 1)
        self.region_head = nn.Linear(c4, max(1, len(self.regions)))

    def forward(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        f = self.context(self.backbone(self.normalize(images)))
        logits = self.classify(f).flatten(2).transpose(1, 2)  # (B, bands*cols, classes), raster order
        return logits, self.region_head(f.mean((2, 3)))


@register("ctcnet_s")
def ctcnet_s(alphabet: str, regions: list[str], height: int = 48, width: int = 160, slots: int = 0):
    """Small raster-CTC recognizer (one- and two-line plates)."""
    return RasterCTCRecognizer(alphabet, regions, height, width)


@register("slotnet_fc")
def slotnet_fc(
    alphabet: str, regions: list[str], height: int = 48, width: int = 160, slots: int = 10
) -> SlotRecognizer:
    """Small recognizer with dense slots (flattened features → one linear layer per slot set)."""
    return SlotRecognizer(alphabet, regions, height, width, slots, (24, 48, 96, 128), head="dense")


@register("slotnet_sd")
def slotnet_sd(
    alphabet: str, regions: list[str], height: int = 48, width: int = 160, slots: int = 10
) -> SlotRecognizer:
    """``slotnet_s`` two blocks deeper at the 128-channel stage (0.29 M parameters, ~10 % slower); starts from
    a ``slotnet_s`` checkpoint (``--init``) as the same function."""
    return SlotRecognizer(alphabet, regions, height, width, slots, (24, 48, 96, 128), extra=(0, 0, 2))


@register("slotnet_sa")
def slotnet_sa(
    alphabet: str, regions: list[str], height: int = 48, width: int = 160, slots: int = 10
) -> SlotRecognizer:
    """``slotnet_s`` whose slots also attend to each other after each round (0.39 M parameters); starts from a
    ``slotnet_s`` checkpoint (``--init``) as the same function."""
    return SlotRecognizer(alphabet, regions, height, width, slots, (24, 48, 96, 128), slot_attention=True)


@register("slotnet_sad")
def slotnet_sad(
    alphabet: str, regions: list[str], height: int = 48, width: int = 160, slots: int = 10
) -> SlotRecognizer:
    """``slotnet_sa`` two blocks deeper at the 96- and at the 128-channel stage (0.45 M parameters): more
    capacity for a specialist; starts from a ``slotnet_sa`` checkpoint or exported file (``--init``) as the
    same function."""
    return SlotRecognizer(
        alphabet, regions, height, width, slots, (24, 48, 96, 128), slot_attention=True, extra=(0, 2, 2)
    )


@register("slotnet_m")
def slotnet_m(alphabet: str, regions: list[str], height: int = 64, width: int = 192, slots: int = 10) -> SlotRecognizer:
    """Medium slot recognizer: wider channels, larger input."""
    return SlotRecognizer(alphabet, regions, height, width, slots, (32, 64, 128, 192))


@register("slotnet_saf")
def slotnet_saf(
    alphabet: str, regions: list[str], height: int = 48, width: int = 160, slots: int = 10
) -> SlotRecognizer:
    """``slotnet_sa`` with features every 4 input pixels across instead of 8 (3 × 40 tokens for a 48 × 160
    crop): a narrow 10-character plate gets 4 columns per character instead of 2. Same weights as
    ``slotnet_sa`` (the position code keeps a place's code), so a ``slotnet_sa`` checkpoint starts it
    (``--init``); about 1.3× the compute."""
    return SlotRecognizer(
        alphabet, regions, height, width, slots, (24, 48, 96, 128), slot_attention=True, column_stride=4
    )
