"""A plate's text split into the parts printed apart, for regions whose plates are a code and a number
written without a separator (the UAE: ``16`` and ``37820`` read as ``1637820``), and for Saudi and Omani plates,
whose number and letters are printed in two blocks (``1234ABJ``: ``1234`` and ``ABJ``; ``12345AB``: ``12345``
and ``AB``; the Arabic form is :func:`plateforge.specs.arabic_text`).

The split matters where two plates read alike: Abu Dhabi's code ``1`` with number ``1234`` and code ``11``
with number ``234`` are both ``11234``. The region's spec says which codes exist and how long a number is
(its styles' ``{code}`` and ``{D1-5}`` fields), so most texts have one valid split. Where several are valid,
the recognizer's slot attention decides (output ``attention`` of the bundled recognizer,
:mod:`plateforge.export.attention`): each character's position on the plate is the centre of its slot's
attention over the feature grid, and the code ends at the widest gap between neighbours, across on a one-line
plate, down on a two-line one. On synthetic renders of the seven emirates the attention alone found the
split of 2,036 of the 2,037 plates read right (1 Dubai plate missed; `.devdata`-style script, session 43).
"""

from __future__ import annotations

import re
from functools import cache

import numpy as np

from plateforge.specs import TOKEN, load_specs

TWO_LINE_SPREAD = 0.7  # character centres spread over more than this many grid rows: a two-line plate
BLOCK_KINDS = {"digits": ("DN", r"[0-9]+"), "letters": ("L", r"[A-Z]+")}  # token kinds, literal characters


def _block_lengths(options, kind: str) -> tuple[int, int] | None:
    """(shortest, longest) text a field's ``options`` give (tokens such as ``{D1-3}``, or literals) when all of
    them are ``kind`` ("digits" or "letters"); None otherwise."""
    tokens, literal = BLOCK_KINDS[kind]
    lengths = []
    for option in options:
        m = TOKEN.fullmatch(option)
        if m is not None and m.group(1) in tokens:
            lo = int(m.group(2) or 1)
            lengths.append((lo, int(m.group(3) or lo)))
        elif m is None and re.fullmatch(literal, option):
            lengths.append((len(option), len(option)))
        else:
            return None
    return (min(lo for lo, _ in lengths), max(hi for _, hi in lengths)) if lengths else None


@cache
def _number_letters(region: str) -> re.Pattern | None:
    """The pattern splitting a text of ``region`` into its number and letter blocks, where every style prints
    two fields, digits then letters (Saudi ``1234ABJ``, Omani ``12345AB``), the blocks' lengths taken from the
    spec's choices; None for other regions."""
    spec = load_specs().get(region)
    if spec is None or not spec.styles:
        return None
    spans: tuple[list[tuple[int, int]], ...] = ([], [])  # number, letters: (shortest, longest) per style
    for style in spec.styles:
        names = [TOKEN.fullmatch(f.text) for f in style.fields]
        if len(names) != 2 or None in names:
            return None
        for k, (m, kind) in enumerate(zip(names, ("digits", "letters"), strict=True)):
            span = _block_lengths(style.choices.get(m.group(1), ()), kind)
            if span is None:
                return None
            spans[k].append(span)
    (n_lo, n_hi), (l_lo, l_hi) = ((min(a for a, _ in v), max(b for _, b in v)) for v in spans)
    return re.compile(f"([0-9]{{{n_lo},{n_hi}}})([A-Z]{{{l_lo},{l_hi}}})")


@cache
def _code_number(region: str) -> tuple[frozenset[str], int, int] | None:
    """(codes, shortest number, longest number) of a region whose every style is ``{code}`` then ``{Dm-n}``;
    None for other regions."""
    spec = load_specs().get(region)
    if spec is None or not spec.styles:
        return None
    codes: set[str] = set()
    lengths: set[tuple[int, int]] = set()
    for style in spec.styles:
        texts = [f.text for f in style.fields]
        if len(texts) != 2 or texts[0] != "{code}" or "code" not in style.choices:
            return None
        m = TOKEN.fullmatch(texts[1])
        if m is None or m.group(1) != "D":
            return None
        lo = int(m.group(2) or 1)
        lengths.add((lo, int(m.group(3) or lo)))
        codes.update(style.choices["code"])
    if len(lengths) != 1:
        return None
    (lo, hi), *_ = lengths
    return frozenset(codes), lo, hi


def valid_cuts(text: str, region: str | None) -> list[int] | None:
    """Where ``text`` may split into a code of ``region`` and a number of the allowed length (no leading 0);
    None when the region's plates are not a code and a number."""
    rule = _code_number(region) if region else None
    if rule is None:
        return None
    codes, lo, hi = rule
    return [
        k
        for k in range(1, len(text))
        if text[:k] in codes and lo <= len(text) - k <= hi and re.fullmatch(r"[1-9][0-9]*", text[k:])
    ]


def char_centres(attention: np.ndarray, n: int, grid: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """(x, y) centres in grid cells of the first ``n`` slots' attention (slots × cells, cells = rows × columns
    of ``grid``, row-major)."""
    rows, cols = grid
    w = attention[:n].reshape(n, rows, cols).astype(np.float64)
    total = w.sum((1, 2)) + 1e-9
    xs = (w.sum(1) * np.arange(cols)).sum(1) / total
    ys = (w.sum(2) * np.arange(rows)).sum(1) / total
    return xs, ys


def plate_parts(
    text: str, region: str | None, attention: np.ndarray | None = None, grid: tuple[int, int] | None = None
) -> tuple[str, ...]:
    """``(code, number)`` of a plate of a code-and-number region (see the module docstring), ``(number,
    letters)`` of a Saudi or Omani plate, or ``()``: for other regions, for texts with no valid split, and where several
    splits are valid but no attention (slots × cells, for a feature ``grid`` of rows × columns) says which."""
    blocks = _number_letters(region) if region else None
    if blocks is not None:
        m = blocks.fullmatch(text)
        return (m.group(1), m.group(2)) if m else ()
    cuts = valid_cuts(text, region)
    if not cuts:
        return ()
    if len(cuts) == 1:
        return text[: cuts[0]], text[cuts[0] :]
    if attention is None or grid is None or attention.shape[-1] != grid[0] * grid[1] or len(text) > len(attention):
        return ()
    xs, ys = char_centres(attention, len(text), grid)
    along = ys if ys.max() - ys.min() > TWO_LINE_SPREAD else xs
    gaps = np.diff(along)
    k = max(cuts, key=lambda c: gaps[c - 1])
    return text[:k], text[k:]
