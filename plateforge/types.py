"""Result types shared by the runtime, the CLI and the server. Boxes are xyxy pixels; corners TL, TR, BR, BL."""

from __future__ import annotations

from dataclasses import asdict, dataclass


@dataclass(frozen=True)
class PlateRead:
    """What the recognizer read on one rectified plate.

    ``text`` upper-case letters/digits in reading order (top row first); ``confidence`` 0..1 for the whole
    read (the weakest slot, the end-of-text slot included); ``char_confidences`` one 0..1 value per character;
    ``region`` the region code (``uae-dubai``, ``eu-de``...) and ``region_confidence`` its probability.
    """

    text: str
    confidence: float
    char_confidences: tuple[float, ...]
    region: str | None = None
    region_confidence: float = 0.0

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class Detection:
    """A plate found by the detector, in original image pixels.

    ``box`` (x1, y1, x2, y2); ``corners`` ((x, y) × 4) ordered TL, TR, BR, BL as read on the plate;
    ``score`` 0..1.
    """

    box: tuple[float, float, float, float]
    corners: tuple[tuple[float, float], ...]
    score: float

    def to_dict(self) -> dict:
        return {"box": list(self.box), "corners": [list(c) for c in self.corners], "score": self.score}
