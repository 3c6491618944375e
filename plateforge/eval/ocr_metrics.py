"""Plate reading metrics: exact match, character error rate, per region / layout, accuracy at coverage.

``?`` in a ground-truth text is a masked character (uc3m-lp): it matches any predicted character and is
not counted as an error, but the lengths must still agree.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence

import numpy as np

COVERAGES = (0.5, 0.8, 0.9, 0.95, 1.0)


def exact(pred: str, truth: str) -> bool:
    """Whether ``pred`` reads ``truth`` (``?`` in ``truth`` matches any character)."""
    return len(pred) == len(truth) and all(t == "?" or p == t for p, t in zip(pred, truth, strict=True))


def o_zero_only(pred: str, truth: str) -> bool:
    """Whether ``pred`` differs from ``truth`` only where one has the letter O and the other the digit 0 (one
    glyph in many US typefaces, and real US labels write either)."""
    if len(pred) != len(truth):
        return False
    diff = [(p, t) for p, t in zip(pred, truth, strict=True) if p != t and t != "?"]
    return bool(diff) and all({p, t} == {"O", "0"} for p, t in diff)


def edit_distance(pred: str, truth: str) -> int:
    """Levenshtein distance where a ``?`` in ``truth`` substitutes for free."""
    prev = list(range(len(truth) + 1))
    for i, p in enumerate(pred, 1):
        cur = [i] + [0] * len(truth)
        for j, t in enumerate(truth, 1):
            cur[j] = min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (0 if t in ("?", p) else 1))
        prev = cur
    return prev[-1]


def _group(preds, truths, keys) -> dict:
    groups: dict[str, list[int]] = defaultdict(list)
    for i, k in enumerate(keys):
        groups[k or "unknown"].append(i)
    return {
        k: {"n": len(idx), "exact": float(np.mean([exact(preds[i], truths[i]) for i in idx]))}
        for k, idx in sorted(groups.items())
    }


def accuracy_at_coverage(correct: Sequence[bool], confidence: Sequence[float]) -> dict:
    """Accuracy of the most confident reads at each coverage (share of reads kept), and the coverage at which
    the kept reads reach 95 % / 99 % accuracy: how well confidence separates right from wrong reads."""
    order = np.argsort(-np.asarray(confidence, dtype=float), kind="stable")
    ok = np.asarray(correct, dtype=float)[order]
    if ok.size == 0:
        return {}
    running = np.cumsum(ok) / np.arange(1, ok.size + 1)
    out = {f"acc@cov{int(c * 100)}": float(running[max(0, int(np.ceil(c * ok.size)) - 1)]) for c in COVERAGES}
    for target in (0.95, 0.99):
        reach = np.flatnonzero(running >= target)
        out[f"cov@acc{int(target * 100)}"] = float((reach.max() + 1) / ok.size) if reach.size else 0.0
    return out


def ocr_report(
    preds: Sequence[str],
    truths: Sequence[str],
    confidences: Sequence[float] | None = None,
    regions: Sequence[str | None] | None = None,
    layouts: Sequence[str | None] | None = None,
    pred_regions: Sequence[str | None] | None = None,
) -> dict:
    """All reading metrics for one evaluation set as a JSON-ready dict."""
    n = len(truths)
    if len(preds) != n:
        raise ValueError(f"{len(preds)} predictions for {n} ground-truth texts")
    correct = [exact(p, t) for p, t in zip(preds, truths, strict=True)]
    chars = sum(len(t) - t.count("?") for t in truths)
    report = {
        "n": n,
        "exact": float(np.mean(correct)) if n else 0.0,
        "cer": sum(edit_distance(p, t) for p, t in zip(preds, truths, strict=True)) / max(1, chars),
    }
    if regions is not None:
        report["per_region"] = _group(preds, truths, regions)
    if layouts is not None:
        report["per_layout"] = _group(preds, truths, layouts)
    if confidences is not None:
        report["coverage"] = accuracy_at_coverage(correct, confidences)
    if pred_regions is not None and regions is not None:
        known = [(p, t) for p, t in zip(pred_regions, regions, strict=True) if t]
        report["region_accuracy"] = float(np.mean([p == t for p, t in known])) if known else None
    return report
