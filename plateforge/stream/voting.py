"""Text voting across the reads of one track, weighted by per-character confidence.

The length is chosen first (the text length whose reads carry the most confidence), then each position
takes the character with the largest summed confidence among reads of that length. A read that got one
character wrong in one frame is outvoted by the frames that got it right, so the voted text beats any
single frame (measured in benchmarks/stream_bench.py).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field

from plateforge.runtime.plate_formats import format_ok
from plateforge.types import PlateResult


@dataclass(frozen=True)
class VotedText:
    """``text`` voted; ``confidence`` 0..1 (the weakest position's share of the votes times the mean
    confidence of the reads of that length); ``char_confidences`` one 0..1 value per character;
    ``reads`` reads voted; ``agree`` reads whose own text equals the voted text; ``candidates`` whole texts
    with their summed confidence, best first."""

    text: str
    confidence: float
    char_confidences: tuple[float, ...]
    region: str | None
    region_confidence: float
    format_ok: bool | None
    reads: int
    agree: int
    candidates: tuple[tuple[str, float], ...] = field(default=())


class TextVote:
    """Accumulates :class:`PlateResult` reads of one track; :meth:`result` gives the vote so far."""

    def __init__(self) -> None:
        self.reads: list[PlateResult] = []

    def add(self, read: PlateResult) -> None:
        if read.text:  # an empty read carries no vote
            self.reads.append(read)

    def result(self) -> VotedText | None:
        if not self.reads:
            return None
        by_length: dict[int, float] = defaultdict(float)
        for r in self.reads:
            by_length[len(r.text)] += r.confidence + 1e-6
        length = max(by_length, key=by_length.get)
        same = [r for r in self.reads if len(r.text) == length]
        chars, shares = [], []
        for p in range(length):
            votes: dict[str, float] = defaultdict(float)
            for r in same:
                votes[r.text[p]] += r.char_confidences[p] if p < len(r.char_confidences) else r.confidence
            best = max(votes, key=votes.get)
            chars.append(best)
            shares.append(votes[best] / max(sum(votes.values()), 1e-9))
        text = "".join(chars)
        mean_conf = sum(r.confidence for r in same) / len(same)
        regions: dict[str | None, float] = defaultdict(float)
        for r in self.reads:
            regions[r.region] += r.region_confidence
        region = max(regions, key=regions.get)
        whole: dict[str, float] = defaultdict(float)
        for r in self.reads:
            whole[r.text] += r.confidence
        total_region = sum(regions.values())
        return VotedText(
            text=text,
            confidence=round(min(shares) * mean_conf, 4),
            char_confidences=tuple(round(s * mean_conf, 4) for s in shares),
            region=region,
            region_confidence=round(regions[region] / total_region, 4) if total_region else 0.0,
            format_ok=format_ok(text, region),
            reads=len(self.reads),
            agree=sum(r.text == text for r in self.reads),
            candidates=tuple(sorted(((t, round(s, 4)) for t, s in whole.items()), key=lambda x: -x[1])[:5]),
        )
