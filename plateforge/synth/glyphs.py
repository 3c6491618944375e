"""Text on plates: pattern expansion and fast rendering of text rows from cached glyphs.

Why hand-written: Pillow draws text well but re-rasterises every call (~0.1 ms per glyph), which alone
would cap the generator far below 1,000 crops/s. We rasterise each glyph once per font (Pillow +
FreeType, with raqm shaping for Arabic labels), keep it as an alpha mask on a shared baseline, and build
rows by concatenating masks with NumPy; one ``cv2.resize`` fits the row to its box.
"""

from __future__ import annotations

import re
from functools import cache
from pathlib import Path

import cv2
import numpy as np
from PIL import Image, ImageDraw, ImageFont

from plateforge.specs import FONT_FILES, TOKEN

FONT_DIR = Path(__file__).parent / "fonts"
RASTER_SIZE = 96  # px font size at which glyphs are rasterised once
DIGITS = "0123456789"


def expand_pattern(
    pattern: str,
    rng: np.random.Generator,
    letters: str,
    choices: dict[str, tuple[str, ...]],
    letter_weights: dict[str, float] | None = None,
) -> str:
    """Fill a field pattern: ``{D1-5}`` digits without a leading zero, ``{N3}`` digits, ``{L1-2}`` letters from
    ``letters``, ``{A2-7}`` letters or digits, ``{name}`` a choice; other characters are kept.
    ``letter_weights`` makes the listed characters of ``{L}`` / ``{A}`` that much rarer or commoner than the
    others (weight 1); without it every character of the pool is equally likely."""

    def fill(m: re.Match) -> str:
        name, lo, hi = m.group(1), m.group(2), m.group(3)
        if name in ("D", "N", "L", "A") and lo:
            n = int(rng.integers(int(lo), int(hi or lo) + 1))
            pool = {"L": letters, "A": letters + DIGITS}.get(name, DIGITS)
            if letter_weights and name in ("L", "A"):
                p = np.array([letter_weights.get(c, 1.0) for c in pool])
                chars = [pool[i] for i in rng.choice(len(pool), n, p=p / p.sum())]
            else:
                chars = [pool[i] for i in rng.integers(0, len(pool), n)]
            if name == "D":
                chars[0] = DIGITS[1:][int(rng.integers(0, 9))]
            return "".join(chars)
        options = choices[name]
        return options[int(rng.integers(0, len(options)))]

    for _ in range(3):  # a choice may itself be a pattern (Dutch side codes: '{N2}-{L3}-{N1}')
        pattern = TOKEN.sub(fill, pattern)
        if not TOKEN.search(pattern):
            break
    return pattern


def plate_text(printed: str) -> str:
    """The text label of printed characters: letters and digits only (spaces, dashes, dots dropped)."""
    return "".join(c for c in printed if c.isalnum())


@cache
def _font(name: str) -> ImageFont.FreeTypeFont:
    return ImageFont.truetype(str(FONT_DIR / FONT_FILES[name]), RASTER_SIZE)


@cache
def _glyph(font: str, ch: str) -> np.ndarray:
    """Alpha mask (float32 0..1) of one character in a cell of the font's full line height, baseline shared."""
    f = _font(font)
    ascent, descent = f.getmetrics()
    width = max(1, round(f.getlength(ch)))
    img = Image.new("L", (width, ascent + descent), 0)
    ImageDraw.Draw(img).text((0, 0), ch, font=f, fill=255)
    return np.asarray(img, dtype=np.float32) / 255.0


@cache
def _label(font: str, text: str) -> np.ndarray:
    """Alpha mask of a whole label, shaped by raqm (right-to-left joining for Arabic), cropped to its ink."""
    f = _font(font)
    left, top, right, bottom = f.getbbox(text)
    img = Image.new("L", (right - left + 4, bottom - top + 4), 0)
    ImageDraw.Draw(img).text((2 - left, 2 - top), text, font=f, fill=255)
    return _crop_ink(np.asarray(img, dtype=np.float32) / 255.0)


def _crop_ink(mask: np.ndarray) -> np.ndarray:
    rows = np.flatnonzero(mask.max(1) > 0.05)
    cols = np.flatnonzero(mask.max(0) > 0.05)
    if rows.size == 0:
        return mask[:1, :1]
    return mask[rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1]


@cache
def _row_band(font: str) -> tuple[int, int]:
    """Rows [top, bottom) of the glyph cell that hold capitals and digits: the band a text row is fitted by."""
    cells = [_glyph(font, c) for c in "HX80Q"]  # Q: its tail dips below the baseline
    ink = np.flatnonzero(np.max([c.max(1) for c in cells], axis=0) > 0.05)
    return int(ink[0]), int(ink[-1]) + 1


def _band_glyph(font: str, ch: str) -> np.ndarray:
    """The cap-band rows of one character's mask, cropped to its ink columns."""
    top, bottom = _row_band(font)
    cell = _glyph(font, ch)[top:bottom]
    cols = np.flatnonzero(cell.max(0) > 0.05)
    return cell[:, cols[0] : cols[-1] + 1] if cols.size else cell


@cache
def _serif_i(font: str) -> np.ndarray:
    """:func:`_band_glyph` of ``I`` with slab serifs: a bar at its top and bottom, centred on the stem, about
    half as wide as the font's ``H`` and a little thinner than the stem (the ``I`` of US plates, which tells
    it from ``1``; the sans fonts bundled here draw a bare stem)."""
    stem = _band_glyph(font, "I")
    height, stem_w = stem.shape
    bar_w = max(round(0.55 * _band_glyph(font, "H").shape[1]), round(1.8 * stem_w))
    bar_h = max(1, min(round(0.75 * stem_w), round(0.12 * height)))
    out = np.zeros((height, bar_w), np.float32)
    x = (bar_w - stem_w) // 2
    out[:, x : x + stem_w] = stem
    ink = np.flatnonzero(stem.max(1) > 0.5)  # the stem's own rows: the band may reach below for a Q's tail
    top, bottom = (int(ink[0]), int(ink[-1]) + 1) if ink.size else (0, height)
    out[top : top + bar_h] = 1.0
    out[bottom - bar_h : bottom] = 1.0
    return out


def text_mask(text: str, font: str, spacing: float = 0.08, serif_i: bool = False) -> np.ndarray:
    """Alpha mask of a row of characters (cap-height band only), ``spacing`` × band height between glyphs;
    ``serif_i`` draws ``I`` with slab serifs."""
    return text_mask_with_spans(text, font, spacing, serif_i)[0]


def text_mask_with_spans(
    text: str, font: str, spacing: float = 0.08, serif_i: bool = False
) -> tuple[np.ndarray, list[tuple[int, int]]]:
    """:func:`text_mask` and the column span ``(x0, x1)`` (mask pixels, end exclusive) of each character of
    ``text`` in order (a space gets its blank span)."""
    top, bottom = _row_band(font)
    gap = np.zeros((bottom - top, max(0, round(spacing * (bottom - top)))), np.float32)
    parts, spans, x = [], [], 0
    for ch in text:
        if ch == " ":
            part = np.zeros((bottom - top, round(0.35 * (bottom - top))), np.float32)
        elif ch == "I" and serif_i:
            part = _serif_i(font)
        else:
            part = _band_glyph(font, ch)
        spans.append((x, x + part.shape[1]))
        parts.append(part)
        x += part.shape[1]
        if ch != " ":
            parts.append(gap)
            x += gap.shape[1]
    if not parts:
        return np.zeros((bottom - top, 1), np.float32), spans
    return np.concatenate(parts[:-1] if parts[-1] is gap else parts, axis=1), spans


def label_mask(text: str, font: str) -> np.ndarray:
    """Alpha mask of a fixed label (any script), cropped to its ink."""
    return _label(font, text)


def fit_mask(mask: np.ndarray, width: int, height: int, align: str = "center") -> tuple[np.ndarray, int]:
    """Scale ``mask`` to ``height`` px (keeping its aspect), squeezed horizontally if wider than ``width``.

    Returns the resized mask and its x offset inside the ``width`` × ``height`` box.
    """
    h, w = mask.shape
    new_w = max(1, min(width, round(w * height / h)))
    resized = cv2.resize(mask, (new_w, max(1, height)), interpolation=cv2.INTER_AREA)
    x = {"left": 0, "right": width - new_w}.get(align, (width - new_w) // 2)
    return resized, x
