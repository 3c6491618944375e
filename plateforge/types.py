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

    def shifted(self, dx: float, dy: float) -> Detection:
        """The same plate in an image whose origin lies (-dx, -dy) from this one's: a detection in a crop at
        (dx, dy) moved to the full image's pixels."""
        x1, y1, x2, y2 = self.box
        return Detection(
            (x1 + dx, y1 + dy, x2 + dx, y2 + dy), tuple((x + dx, y + dy) for x, y in self.corners), self.score
        )


@dataclass(frozen=True)
class PlateResult:
    """One plate read in a whole image.

    ``box`` xyxy and ``corners`` TL, TR, BR, BL in original image pixels; ``text``, ``confidence`` (0..1),
    ``char_confidences``, ``region`` / ``region_confidence`` from the recognizer; ``detection_score`` (0..1);
    ``format_ok``: whether ``text`` matches its region's plate patterns (None when no region is known);
    ``alternatives``: (text, score) candidates best first, when top-N was asked for; ``plate_score``: the
    recognizer's plate check, the probability (0..1) that the crop is a plate at all (None without one);
    ``parts``: ``(code, number)`` of a plate whose region prints them apart without a separator (the UAE:
    ``("16", "37820")`` for text ``1637820``; :mod:`plateforge.runtime.plate_parts`), ``(number, letters)`` of
    a Saudi or Omani plate (``("1234", "ABJ")``, ``("12345", "AB")``), else ``()`` and left out of :meth:`to_dict`.
    """

    box: tuple[float, float, float, float]
    corners: tuple[tuple[float, float], ...]
    text: str
    confidence: float
    char_confidences: tuple[float, ...]
    region: str | None
    region_confidence: float
    detection_score: float
    format_ok: bool | None = None
    alternatives: tuple[tuple[str, float], ...] = ()
    plate_score: float | None = None
    parts: tuple[str, ...] = ()

    def to_dict(self) -> dict:
        d = asdict(self)
        if self.parts:
            d["parts"] = list(self.parts)
        else:
            del d["parts"]
        d["box"] = [round(v, 1) for v in self.box]
        d["corners"] = [[round(x, 1), round(y, 1)] for x, y in self.corners]
        d["confidence"] = round(self.confidence, 4)
        d["char_confidences"] = [round(c, 4) for c in self.char_confidences]
        d["region_confidence"] = round(self.region_confidence, 4)
        d["detection_score"] = round(self.detection_score, 4)
        d["alternatives"] = [[t, round(s, 4)] for t, s in self.alternatives]
        return d
