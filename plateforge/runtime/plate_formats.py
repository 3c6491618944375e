"""Plate formats at read time: does a text match its region's patterns, and which alternative texts (from
per-character alternatives) are most likely, valid patterns first (as OpenALPR's top-N), and which valid text
replaces a read that fails its region's patterns."""

from __future__ import annotations

import heapq
import math
from functools import cache

from plateforge.specs import RegionSpec, load_specs


@cache
def _specs() -> dict[str, RegionSpec]:
    return load_specs()


def format_ok(text: str, region: str | None) -> bool | None:
    """Whether ``text`` is a valid plate of ``region`` (None when the region is unknown to the specs)."""
    spec = _specs().get(region) if region else None
    return None if spec is None else spec.is_valid(text)


def fits_only(text: str, region: str) -> bool:
    """Whether ``text`` is a valid plate of ``region`` and of no other region in the specs."""
    return format_ok(text, region) is True and sum(s.is_valid(text) for s in _specs().values()) == 1


def valid_anywhere(text: str) -> bool:
    """Whether ``text`` is a valid plate of any region in the specs."""
    return any(s.is_valid(text) for s in _specs().values())


def _texts(slot_alternatives: list[list[tuple[str, float]]], keep: int) -> dict[str, float]:
    """The most likely distinct texts (about ``keep`` beams) from per-slot alternatives (``""`` = end of text),
    each with the product of its slot probabilities."""
    beams: list[tuple[float, str, bool]] = [(0.0, "", False)]  # (-log p, text so far, ended)
    for alts in slot_alternatives:
        grown = []
        for cost, text, ended in beams:
            if ended:
                grown.append((cost, text, True))
                continue
            for sym, p in alts:
                grown.append((cost - math.log(max(p, 1e-12)), text + sym, sym == ""))
        beams = heapq.nsmallest(keep, grown)
    scored: dict[str, float] = {}
    for cost, text, _ in beams:
        if text and text not in scored:
            scored[text] = math.exp(-cost)
    return scored


def _valid_for(region: str | None):
    """The validity test of ``region``'s patterns (any region's when None or unknown)."""
    spec = _specs().get(region) if region else None
    return spec.is_valid if spec is not None else valid_anywhere


def top_texts(slot_alternatives: list[list[tuple[str, float]]], region: str | None, n: int) -> list[tuple[str, float]]:
    """The ``n`` best distinct texts from per-slot alternatives (``""`` = end of text), by the product of
    their slot probabilities; texts valid for ``region`` (or, without a region, for any region) rank first."""
    ok = _valid_for(region)
    scored = _texts(slot_alternatives, max(4 * n, 16))
    return sorted(scored.items(), key=lambda kv: (not ok(kv[0]), -kv[1]))[:n]


def fit_format(
    slot_alternatives: list[list[tuple[str, float]]], text: str, region: str | None, min_ratio: float
) -> str | None:
    """For a read ``text`` that fails the patterns of its (known) ``region``: the most likely text valid for
    that region among the per-slot alternatives, when its probability is at least ``min_ratio`` × that of
    the most likely text of all; None when ``text`` is valid, the region unknown, or no valid text is likely
    enough. As OpenALPR's pattern matching, a read is only ever replaced by a valid one."""
    if format_ok(text, region) is not False:
        return None
    ok = _valid_for(region)
    scored = _texts(slot_alternatives, 20)
    valid = [(p, t) for t, p in scored.items() if ok(t)]
    if not valid:
        return None
    p, best_valid = max(valid)
    return best_valid if p >= min_ratio * max(scored.values()) else None
