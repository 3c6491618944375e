"""Detector label assignment and loss, outside the network so each can be tested alone.

Assignment (task-aligned, as TOOD / YOLOv8): an anchor point is a candidate for a plate when it lies inside
the plate's box or within ``center_radius`` strides of its centre (so plates a few pixels tall still get
points); among candidates the ``topk`` with the highest ``score^alpha · IoU^beta`` become positives; a point
claimed by two plates goes to the one its box overlaps most.

Loss: sigmoid focal loss on scores (γ = 2, α = 0.25, positives target 1) + CIoU and L1 on boxes + L1 on
corners, with ``λcls · focal + λbox · CIoU + λL1 · L1 + λcorner · corner``. Box L1 is in strides, corner L1
in fractions of the plate's width and height (the corner MAE reported in validation). Sums are divided by
the number of positives.

Ignore regions (plates the labels leave out on purpose, ``PlateLabel.ignore``): a point that is not a
positive gets no score loss when it lies within half a stride of an ignore box or its predicted box overlaps
one at IoU ≥ ``ignore_iou`` — a detection there is neither rewarded nor penalised.

Why hand-written: torchvision (which has focal and CIoU losses) cannot be installed beside our torch build,
and these are a few lines each.
"""

from __future__ import annotations

import dataclasses
import math

import torch
from torch.nn import functional as F


@dataclasses.dataclass
class DetLossCfg:
    """Loss weights (λ), focal γ / α, and the assigner's top-k, alpha, beta and centre radius (strides)."""

    cls_weight: float = 1.0
    box_weight: float = 2.0
    l1_weight: float = 1.0
    corner_weight: float = 1.0
    focal_gamma: float = 2.0
    focal_alpha: float = 0.25
    topk: int = 10
    align_alpha: float = 0.5
    align_beta: float = 6.0
    center_radius: float = 2.5
    ignore_iou: float = 0.3


def box_iou_pairwise(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """IoU of xyxy boxes ``a`` (..., M, 4) against ``b`` (..., N, 4) → (..., M, N)."""
    lt = torch.maximum(a[..., :, None, :2], b[..., None, :, :2])
    rb = torch.minimum(a[..., :, None, 2:], b[..., None, :, 2:])
    inter = (rb - lt).clamp(min=0).prod(-1)
    area_a = (a[..., 2:] - a[..., :2]).clamp(min=0).prod(-1)
    area_b = (b[..., 2:] - b[..., :2]).clamp(min=0).prod(-1)
    return inter / (area_a[..., :, None] + area_b[..., None, :] - inter + 1e-9)


def ciou(a: torch.Tensor, b: torch.Tensor, eps: float = 1e-7) -> torch.Tensor:
    """Complete IoU of matching xyxy boxes (K, 4) and (K, 4) → (K,) (IoU − centre distance − aspect terms)."""
    wa, ha = (a[:, 2] - a[:, 0]).clamp(min=eps), (a[:, 3] - a[:, 1]).clamp(min=eps)
    wb, hb = (b[:, 2] - b[:, 0]).clamp(min=eps), (b[:, 3] - b[:, 1]).clamp(min=eps)
    inter = (torch.minimum(a[:, 2], b[:, 2]) - torch.maximum(a[:, 0], b[:, 0])).clamp(min=0) * (
        torch.minimum(a[:, 3], b[:, 3]) - torch.maximum(a[:, 1], b[:, 1])
    ).clamp(min=0)
    iou = inter / (wa * ha + wb * hb - inter + eps)
    cw = torch.maximum(a[:, 2], b[:, 2]) - torch.minimum(a[:, 0], b[:, 0])
    ch = torch.maximum(a[:, 3], b[:, 3]) - torch.minimum(a[:, 1], b[:, 1])
    c2 = cw**2 + ch**2 + eps
    rho2 = ((a[:, 0] + a[:, 2] - b[:, 0] - b[:, 2]) ** 2 + (a[:, 1] + a[:, 3] - b[:, 1] - b[:, 3]) ** 2) / 4
    v = (4 / math.pi**2) * (torch.atan(wb / hb) - torch.atan(wa / ha)) ** 2
    with torch.no_grad():
        alpha = v / (v - iou + (1 + eps))
    return iou - rho2 / c2 - alpha * v


def sigmoid_focal_loss(logits: torch.Tensor, targets: torch.Tensor, gamma: float, alpha: float) -> torch.Tensor:
    """Element-wise sigmoid focal loss (Lin et al. 2017) of ``logits`` against 0/1 ``targets``."""
    p = torch.sigmoid(logits)
    ce = F.binary_cross_entropy_with_logits(logits, targets, reduction="none")
    p_t = p * targets + (1 - p) * (1 - targets)
    loss = ce * (1 - p_t) ** gamma
    if alpha >= 0:
        loss = loss * (alpha * targets + (1 - alpha) * (1 - targets))
    return loss


@torch.no_grad()
def assign(
    scores: torch.Tensor,
    boxes: torch.Tensor,
    points: torch.Tensor,
    strides: torch.Tensor,
    gt_boxes: torch.Tensor,
    gt_valid: torch.Tensor,
    cfg: DetLossCfg,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Task-aligned assignment for a batch.

    ``scores`` (B, N) predicted probabilities, ``boxes`` (B, N, 4) predicted xyxy pixels, ``points`` (N, 2)
    anchor points, ``strides`` (N,), ``gt_boxes`` (B, M, 4) xyxy pixels, ``gt_valid`` (B, M) bool.
    Returns ``positive`` (B, N) bool and ``gt_index`` (B, N) long (meaningful where positive).
    """
    b, n = scores.shape
    m = gt_boxes.shape[1]
    if m == 0:
        return torch.zeros(b, n, dtype=torch.bool, device=scores.device), torch.zeros(
            b, n, dtype=torch.long, device=scores.device
        )
    px, py = points[:, 0], points[:, 1]
    g = gt_boxes[:, :, None, :]  # (B, M, 1, 4)
    inside = (px > g[..., 0]) & (px < g[..., 2]) & (py > g[..., 1]) & (py < g[..., 3])
    cx, cy = (g[..., 0] + g[..., 2]) / 2, (g[..., 1] + g[..., 3]) / 2
    r = cfg.center_radius * strides
    near = ((px - cx).abs() < r) & ((py - cy).abs() < r)
    cand = (inside | near) & gt_valid[:, :, None]  # (B, M, N)
    iou = box_iou_pairwise(gt_boxes, boxes)  # (B, M, N)
    align = scores[:, None, :].pow(cfg.align_alpha) * iou.pow(cfg.align_beta)
    align = torch.where(cand, align + 1e-9 * iou.clamp(min=1e-6), torch.zeros_like(align))  # ties → IoU
    k = min(cfg.topk, n)
    top = align.topk(k, dim=-1).indices  # (B, M, k)
    pos = torch.zeros_like(cand).scatter_(-1, top, True) & cand  # (B, M, N)
    multi = pos.sum(1) > 1  # (B, N) points claimed twice
    if multi.any():
        best = torch.where(pos, iou, torch.full_like(iou, -1)).argmax(1)  # (B, N)
        one_hot = F.one_hot(best, m).permute(0, 2, 1).bool()
        pos = torch.where(multi[:, None, :], one_hot & pos, pos)
    return pos.any(1), pos.float().argmax(1)


@torch.no_grad()
def ignored_points(
    boxes: torch.Tensor,
    points: torch.Tensor,
    strides: torch.Tensor,
    ignore_boxes: torch.Tensor,
    ignore_valid: torch.Tensor,
    min_iou: float,
) -> torch.Tensor:
    """(B, N) bool: points within half a stride of an ignore box, or whose predicted box (``boxes`` (B, N, 4)
    xyxy pixels) overlaps one at IoU ≥ ``min_iou``. ``ignore_boxes`` (B, J, 4) xyxy pixels, ``ignore_valid``
    (B, J) bool."""
    b, n = boxes.shape[:2]
    if ignore_boxes.shape[1] == 0 or not ignore_valid.any():
        return torch.zeros(b, n, dtype=torch.bool, device=boxes.device)
    px, py = points[:, 0], points[:, 1]
    g = ignore_boxes[:, :, None, :]  # (B, J, 1, 4)
    half = strides / 2
    near = (px > g[..., 0] - half) & (px < g[..., 2] + half) & (py > g[..., 1] - half) & (py < g[..., 3] + half)
    hit = near | (box_iou_pairwise(ignore_boxes, boxes) >= min_iou)
    return (hit & ignore_valid[:, :, None]).any(1)


class DetectionLoss(torch.nn.Module):
    """Scores the network's :meth:`~plateforge.train.detector_model.DetNet.raw` output against a batch."""

    def __init__(self, cfg: DetLossCfg):
        super().__init__()
        self.cfg = cfg

    def forward(
        self,
        raw: torch.Tensor,
        points: torch.Tensor,
        strides: torch.Tensor,
        gt_boxes: torch.Tensor,
        gt_corners: torch.Tensor,
        gt_valid: torch.Tensor,
        gt_has_corners: torch.Tensor,
        ignore_boxes: torch.Tensor | None = None,
        ignore_valid: torch.Tensor | None = None,
    ) -> dict[str, torch.Tensor]:
        """``raw`` (B, N, 13); ``gt_boxes`` (B, M, 4) xyxy; ``gt_corners`` (B, M, 4, 2); ``gt_valid`` and
        ``gt_has_corners`` (B, M) bool; ``ignore_boxes`` (B, J, 4) xyxy and ``ignore_valid`` (B, J) bool, or
        None. Returns the loss terms and their weighted ``loss``."""
        c = self.cfg
        raw = raw.float()
        logits, boxes = raw[..., 0], raw[..., 1:5]
        pos, idx = assign(torch.sigmoid(logits).detach(), boxes.detach(), points, strides, gt_boxes, gt_valid, c)
        n_pos = max(1.0, float(pos.sum()))
        focal = sigmoid_focal_loss(logits, pos.float(), c.focal_gamma, c.focal_alpha)
        if ignore_boxes is not None and ignore_valid is not None:
            skip = ignored_points(boxes.detach(), points, strides, ignore_boxes, ignore_valid, c.ignore_iou) & ~pos
            focal = focal * (~skip)
        cls = focal.sum() / n_pos
        zero = raw.sum() * 0
        if not pos.any():
            terms = {"cls": cls, "box": zero, "l1": zero, "corner": zero}
        else:
            bi = torch.arange(raw.shape[0], device=raw.device)[:, None].expand_as(idx)[pos]
            gi = idx[pos]
            tb = gt_boxes[bi, gi]
            pb = boxes[pos]
            stride = strides[None].expand_as(pos)[pos][:, None]
            box = (1 - ciou(pb, tb)).sum() / n_pos
            l1 = ((pb - tb).abs() / stride).sum() / n_pos / 4
            has = gt_has_corners[bi, gi]
            if has.any():
                tc = gt_corners[bi, gi][has]  # (P, 4, 2)
                pc = raw[..., 5:13][pos][has].reshape(-1, 4, 2)
                wh = (tb[has, 2:] - tb[has, :2]).clamp(min=1.0)[:, None, :]
                corner = ((pc - tc).abs() / wh).mean()
            else:
                corner = zero
            terms = {"cls": cls, "box": box, "l1": l1, "corner": corner}
        terms["loss"] = (
            c.cls_weight * terms["cls"]
            + c.box_weight * terms["box"]
            + c.l1_weight * terms["l1"]
            + c.corner_weight * terms["corner"]
        )
        terms["positives"] = torch.tensor(float(pos.sum()) / max(1, raw.shape[0]))
        return terms
