"""Render one licence plate of a given region and style: a BGR image, its alpha shape and its text."""

from __future__ import annotations

import dataclasses
import math
import zlib
from dataclasses import dataclass

import cv2
import numpy as np

from plateforge.specs import SCENIC, TOKEN, Decor, RegionSpec, Style, arabic_text
from plateforge.synth import effects
from plateforge.synth.glyphs import expand_pattern, fit_mask, label_mask, plate_text, text_mask, text_mask_with_spans

EU_BLUE = "#003399"
EU_YELLOW = "#ffcc00"


@dataclass(frozen=True)
class RenderedPlate:
    """``image`` BGR uint8 (H × W × 3); ``alpha`` float32 0..1 plate shape (rounded corners are 0);
    ``text`` upper-case letters/digits in reading order; ``printed`` the rows as printed (``|`` between rows);
    ``char_boxes`` one xyxy box (plate pixels) per character of ``text``, in the same order."""

    image: np.ndarray
    alpha: np.ndarray
    text: str
    printed: str
    region: str
    layout: str
    style: str
    char_boxes: tuple[tuple[float, float, float, float], ...] = dataclasses.field(default=(), compare=False, repr=False)


def hex_bgr(color: str) -> tuple[int, int, int]:
    """``#rrggbb`` → (b, g, r)."""
    c = color.lstrip("#")
    if len(c) != 6:
        raise ValueError(f"colour must be #rrggbb, got {color!r}")
    r, g, b = (int(c[i : i + 2], 16) for i in (0, 2, 4))
    return b, g, r


def pick_style(spec: RegionSpec, rng: np.random.Generator) -> Style:
    """A style of ``spec`` drawn with the styles' weights."""
    w = np.array([s.weight for s in spec.styles], dtype=float)
    return spec.styles[int(rng.choice(len(w), p=w / w.sum()))]


def _px(box: tuple[float, float, float, float], w: int, h: int) -> tuple[int, int, int, int]:
    x1, y1, x2, y2 = box
    return round(x1 * w), round(y1 * h), max(round(x2 * w), round(x1 * w) + 1), max(round(y2 * h), round(y1 * h) + 1)


def _blend(img: np.ndarray, mask: np.ndarray, x: int, y: int, color: tuple[int, int, int]) -> None:
    """Alpha-blend a solid ``color`` through ``mask`` into ``img`` at (x, y), clipped to the image."""
    h, w = mask.shape
    x0, y0, x1, y1 = max(x, 0), max(y, 0), min(x + w, img.shape[1]), min(y + h, img.shape[0])
    if x1 <= x0 or y1 <= y0:
        return
    m = np.ascontiguousarray(mask[y0 - y : y1 - y, x0 - x : x1 - x])
    img[y0:y1, x0:x1] = effects.blend_solid(np.ascontiguousarray(img[y0:y1, x0:x1]), m, color)


def _draw_text(
    img: np.ndarray, mask: np.ndarray, box_px: tuple[int, int, int, int], color, align: str
) -> tuple[int, float]:
    """Draw ``mask`` fitted into ``box_px``; returns the x (px) where it starts and its horizontal scale."""
    x1, y1, x2, y2 = box_px
    fitted, dx = fit_mask(mask, x2 - x1, y2 - y1, align)
    _blend(img, fitted, x1 + dx, y1, color)
    return x1 + dx, fitted.shape[1] / mask.shape[1]


def _star(cx: float, cy: float, r: float) -> np.ndarray:
    pts = []
    for i in range(10):
        rad = r if i % 2 == 0 else r * 0.42
        a = -math.pi / 2 + i * math.pi / 5
        pts.append((cx + rad * math.cos(a), cy + rad * math.sin(a)))
    return np.round(np.array(pts) * 8).astype(np.int32)


EMBLEMS = ("star", "sun", "fruit", "outline", "figure", "heart")


def _emblem(img: np.ndarray, box: tuple[int, int, int, int], rng: np.random.Generator) -> None:
    """A picture of random kind and colours inside ``box`` (px), as US plates print between their character
    groups (Georgia's peach, New Mexico's Zia sun, Wyoming's rider, Florida's orange, Texas' star)."""
    x1, y1, x2, y2 = box
    cx, cy, r = (x1 + x2) / 2, (y1 + y2) / 2, min(x2 - x1, y2 - y1) / 2 * rng.uniform(0.7, 1.0)
    colors = [tuple(int(v) for v in rng.integers(0, 230, 3)) for _ in range(3)]
    kind = EMBLEMS[int(rng.integers(0, len(EMBLEMS)))]

    def poly(points: np.ndarray, color) -> None:
        cv2.fillPoly(img, [np.round(points * 8).astype(np.int32)], color, cv2.LINE_AA, shift=3)

    angles = np.linspace(0, 2 * np.pi, 48, endpoint=False)
    if kind == "star":
        poly(_star(cx, cy, r).astype(np.float64) / 8, colors[0])
    elif kind == "sun":  # a disc with four groups of rays (the Zia)
        for a in np.arange(4) * np.pi / 2:
            for k in (-1, 0, 1):
                dx, dy = np.cos(a) * r, np.sin(a) * r
                ox, oy = -np.sin(a) * k * r * 0.22, np.cos(a) * k * r * 0.22
                p0 = (round(cx + 0.45 * dx + ox), round(cy + 0.45 * dy + oy))
                p1 = (round(cx + dx + ox), round(cy + dy + oy))
                cv2.line(img, p0, p1, colors[0], max(1, round(r * 0.1)), cv2.LINE_AA)
        poly(np.stack([cx + 0.35 * r * np.cos(angles), cy + 0.35 * r * np.sin(angles)], 1), colors[1])
    elif kind == "fruit":  # a round fruit with a leaf
        poly(np.stack([cx + 0.8 * r * np.cos(angles), cy + 0.1 * r + 0.8 * r * np.sin(angles)], 1), colors[0])
        leaf = np.stack([cx + 0.35 * r + 0.35 * r * np.cos(angles), cy - 0.75 * r + 0.15 * r * np.sin(angles)], 1)
        poly(leaf, colors[1])
    elif kind == "outline":  # a state's outline: a random smooth blob
        radius = r * (0.75 + 0.25 * np.cumsum(rng.normal(0, 0.35, angles.size)).clip(-1, 1))
        poly(np.stack([cx + radius * np.cos(angles), cy + radius * np.sin(angles)], 1), colors[0])
    elif kind == "figure":  # a silhouette: a few random limbs and a body
        for _ in range(int(rng.integers(3, 6))):
            a, length = rng.uniform(0, 2 * np.pi), rng.uniform(0.5, 1.0) * r
            end = (round(cx + length * np.cos(a)), round(cy + length * np.sin(a)))
            cv2.line(img, (round(cx), round(cy)), end, colors[0], max(1, round(r * 0.22)), cv2.LINE_AA)
        poly(np.stack([cx + 0.4 * r * np.cos(angles), cy + 0.3 * r * np.sin(angles)], 1), colors[0])
    else:  # heart
        t = angles
        hx, hy = 16 * np.sin(t) ** 3, -(13 * np.cos(t) - 5 * np.cos(2 * t) - 2 * np.cos(3 * t) - np.cos(4 * t))
        poly(np.stack([cx + hx * r / 17, cy + hy * r / 17], 1), colors[0])


def _decor(
    img: np.ndarray, d: Decor, style: Style, rng: np.random.Generator | None, choices, rows: list[str] | None = None
) -> None:
    """Draw one decor item; ``rng`` is only used by items drawn anew per plate (a ``{choice}`` text, a
    sticker, an emblem); ``rows``: the plate's printed fields, which a ``mirror`` repeats."""
    h, w = img.shape[:2]
    x1, y1, x2, y2 = _px(d.box, w, h)
    color = hex_bgr(d.color or style.fg)
    if d.type == "rect":
        cv2.rectangle(img, (x1, y1), (x2 - 1, y2 - 1), color, -1, cv2.LINE_AA)
    elif d.type == "circle":
        center = ((x1 + x2) / 2, (y1 + y2) / 2)
        axes = ((x2 - x1) / 2, (y2 - y1) / 2)
        cv2.ellipse(
            img,
            (round(center[0] * 8), round(center[1] * 8)),
            (round(axes[0] * 8), round(axes[1] * 8)),
            0,
            0,
            360,
            color,
            -1,
            cv2.LINE_AA,
            shift=3,
        )
    elif d.type == "flag":
        colors = d.colors or ("#ffffff", "#0039a6", "#d52b1e")
        for i, c in enumerate(colors):
            ya = y1 + round(i * (y2 - y1) / len(colors))
            yb = y1 + round((i + 1) * (y2 - y1) / len(colors))
            cv2.rectangle(img, (x1, ya), (x2 - 1, yb - 1), hex_bgr(c), -1)
    elif d.type == "serrated":  # white on the left, the colour on the right, white points biting into it
        cv2.rectangle(img, (x1, y1), (x2 - 1, y2 - 1), color, -1, cv2.LINE_AA)
        base, tip, step = x1 + (x2 - x1) * 0.30, x1 + (x2 - x1) * 0.55, (y2 - y1) / d.teeth
        edge = [(x1, y1), (base, y1)]
        for i in range(d.teeth):
            edge += [(tip, y1 + (i + 0.5) * step), (base, y1 + (i + 1) * step)]
        edge.append((x1, y2))
        cv2.fillPoly(img, [np.round(np.array(edge) * 8).astype(np.int32)], (255, 255, 255), cv2.LINE_AA, shift=3)
    elif d.type == "eu_band":
        cv2.rectangle(img, (x1, y1), (x2 - 1, y2 - 1), hex_bgr(d.color or EU_BLUE), -1)
        bw, bh = x2 - x1, y2 - y1
        cx, cy, ring = x1 + bw / 2, y1 + bh * 0.30, min(bw, bh) * 0.30
        for i in range(12):
            a = i * math.pi / 6
            star = _star(cx + ring * math.cos(a), cy + ring * math.sin(a), max(ring * 0.17, 0.8))
            cv2.fillPoly(img, [star], hex_bgr(EU_YELLOW), cv2.LINE_AA, shift=3)
        if d.text:
            code = expand_pattern(d.text, rng, "", choices)
            _draw_text(
                img,
                text_mask(code, "din"),
                (x1 + bw // 8, y1 + round(bh * 0.64), x2 - bw // 8, y1 + round(bh * 0.9)),
                (255, 255, 255),
                "center",
            )
    elif d.type == "sticker":
        tint = tuple(int(v) for v in rng.integers(30, 256, 3))
        cv2.rectangle(img, (x1, y1), (x2 - 1, y2 - 1), tint, -1)
        ink = (20, 20, 20) if sum(tint) > 380 else (235, 235, 235)
        _draw_text(
            img,
            text_mask(str(int(rng.integers(10, 30))), "sans"),
            (x1 + 1, y1 + (y2 - y1) // 4, x2 - 1, y2 - (y2 - y1) // 4),
            ink,
            "center",
        )
    elif d.type == "emblem":
        _emblem(img, (x1, y1, x2, y2), rng)
    elif d.type == "mirror":  # its field's printed text in Arabic script
        text = arabic_text(rows[d.field], d.script)
        if text:
            _draw_text(img, label_mask(text, d.font or "arabic"), (x1, y1, x2, y2), color, "center")
    elif d.type == "text":
        text = expand_pattern(d.text or "", rng, "", choices)
        font = d.font or style.font
        mask = label_mask(text, font) if font == "arabic" else text_mask(text, font, 0.06)
        _draw_text(img, mask, (x1, y1, x2, y2), color, "center")


def _is_static(d: Decor) -> bool:
    return d.type not in ("sticker", "emblem", "mirror") and (d.text is None or "{" not in d.text)


_BASE_CACHE: dict[tuple[int, int], np.ndarray] = {}
_BASE_CACHE_MAX = 1024


def scenic_background(height: int, width: int, rng: np.random.Generator, dark: bool) -> np.ndarray:
    """A random picture-plate background (BGR uint8): a vertical two-colour gradient with a few soft shapes
    (hills, a sun, stripes) in nearby colours, light enough for dark text (or dark enough for light text)."""
    lo, hi = (25, 95) if dark else (175, 255)

    def colour() -> np.ndarray:
        hsv = np.array([[[rng.integers(0, 180), rng.integers(0, 160), rng.integers(lo, hi)]]], np.uint8)
        return cv2.cvtColor(hsv, cv2.COLOR_HSV2BGR)[0, 0].astype(np.float32)

    t = np.linspace(0.0, 1.0, height, dtype=np.float32)[:, None, None]
    img = (1 - t) * colour() + t * colour()
    img = np.repeat(img, width, axis=1)
    for _ in range(int(rng.integers(0, 4))):
        layer = np.zeros((height, width), np.uint8)
        kind = rng.integers(0, 3)
        if kind == 0:  # hills along the bottom
            xs = np.linspace(0, width, int(rng.integers(3, 8)))
            ys = height * rng.uniform(0.45, 0.95, xs.size)
            pts = np.concatenate([[[0, height]], np.stack([xs, ys], 1), [[width, height]]]).astype(np.int32)
            cv2.fillPoly(layer, [pts], 255, cv2.LINE_AA)
        elif kind == 1:  # a sun or an emblem
            c = (int(rng.uniform(0, width)), int(rng.uniform(0, height)))
            cv2.circle(layer, c, int(height * rng.uniform(0.15, 0.6)), 255, -1, cv2.LINE_AA)
        else:  # a band
            y = int(rng.uniform(0, height * 0.9))
            cv2.rectangle(layer, (0, y), (width, y + int(height * rng.uniform(0.05, 0.3))), 255, -1)
        a = layer.astype(np.float32)[..., None] / 255 * rng.uniform(0.3, 0.8)
        img = img * (1 - a) + colour() * a
    return np.clip(img, 0, 255).astype(np.uint8)


def _draw_base(style: Style, height: int, rng: np.random.Generator | None) -> np.ndarray:
    """Background, fixed decor and border of ``style`` at ``height`` px (``rng`` only for scenic backgrounds)."""
    w = max(8, round(height * style.aspect))
    if style.bg in SCENIC:
        base = scenic_background(height, w, rng, dark=style.bg == "scenic_dark")
    else:
        base = np.empty((height, w, 3), np.uint8)
        base[:] = hex_bgr(style.bg)
    for d in style.decor:
        if _is_static(d):
            _decor(base, d, style, None, style.choices)
    if style.border:
        t = max(1, round(style.border_width * height))
        effects.rounded_outline(base, t, style.corner_radius * height, hex_bgr(style.border))
    return base


def _base(style: Style, height: int) -> np.ndarray:
    """The part of a fixed style that never changes at a given height, cached (read-only)."""
    key = (id(style), height)
    base = _BASE_CACHE.get(key)
    if base is None:
        base = _draw_base(style, height, None)
        base.setflags(write=False)
        if len(_BASE_CACHE) >= _BASE_CACHE_MAX:
            _BASE_CACHE.pop(next(iter(_BASE_CACHE)))
        _BASE_CACHE[key] = base
    return base


def _draw_rows(spec: RegionSpec, style: Style, rng: np.random.Generator, tries: int = 100) -> list[str]:
    """The printed text of each field, drawn again until the plate text is valid for the region (a style's
    patterns can combine into texts the law does not allow, such as German plates over 8 characters)."""
    letters = style.letters or spec.letters
    for _ in range(tries):
        rows = [expand_pattern(f.text, rng, letters, style.choices, style.letter_weights) for f in style.fields]
        if spec.is_valid(plate_text("".join(rows))):
            return rows
    raise ValueError(f"{spec.code} style {style.name!r}: no valid text in {tries} draws; check its fields and regex")


FREE_TEXT_CHARS = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
FREE_TEXT_MAX = 10  # characters of a whole free-text plate: as many as the longest format of any region


def _free_rows(rows: list[str], style: Style, rng: np.random.Generator) -> list[str]:
    """Each field that holds a pattern gets random letters and digits instead, about as many as its drawn
    text (one or two fewer to one more, sometimes split by a space, ``FREE_TEXT_MAX`` in all); fixed fields
    stay as they are."""
    drawn = [sum(ch.isalnum() for ch in row) for row in rows]
    free = [bool(TOKEN.search(f.text)) and n > 0 for f, n in zip(style.fields, drawn, strict=True)]
    sizes = [max(1, n + int(rng.integers(-2, 2))) if f else n for f, n in zip(free, drawn, strict=True)]
    while sum(sizes) > FREE_TEXT_MAX and any(f and k > 1 for f, k in zip(free, sizes, strict=True)):
        longest = max((k, i) for i, (f, k) in enumerate(zip(free, sizes, strict=True)) if f)[1]
        sizes[longest] -= 1
    out = []
    for f, row, n in zip(free, rows, sizes, strict=True):
        if not f:
            out.append(row)
            continue
        text = "".join(FREE_TEXT_CHARS[int(k)] for k in rng.integers(0, len(FREE_TEXT_CHARS), n))
        if n >= 4 and rng.random() < 0.5:
            cut = int(rng.integers(1, n))
            text = f"{text[:cut]} {text[cut:]}"
        out.append(text)
    return out


def _serif_i(style: Style, rows: list[str]) -> bool:
    """Whether this plate prints ``I`` with slab serifs: ``style.serif_i`` of plates, decided by a hash of the
    text rather than by a draw from the generator, so that adding serifs to a style leaves every other random
    choice (and so every plate without an ``I``) of a seeded run as it was."""
    if style.serif_i <= 0.0 or not any("I" in r for r in rows):
        return False
    return zlib.crc32("|".join(rows).encode()) / 2**32 < style.serif_i


def render_plate(
    spec: RegionSpec,
    rng: np.random.Generator,
    height: int = 96,
    style: Style | None = None,
    dirty: bool = True,
    free_text: bool = False,
) -> RenderedPlate:
    """Draw a random plate of region ``spec`` (a random style unless given), ``height`` pixels tall.

    ``dirty`` allows the wear of a real plate (dirt, scratches, faded paint, glare, shadow): 70 % of plates get
    some, at random strength; the rest stay clean, as many real plates are. ``free_text``: the region's look
    with random letters and digits instead of its formats (vanity, dateless and foreign plates; a recognizer
    trained on formats alone reads ``TAXI`` as ``TAX1``); the text then need not pass the region's regex.
    """
    style = style or pick_style(spec, rng)
    if style.varies:
        ink = style.fg_choices[int(rng.integers(0, len(style.fg_choices)))]
        font = style.font_choices[int(rng.integers(0, len(style.font_choices)))]
        style = dataclasses.replace(style, fg=ink, font=font)
        img = _draw_base(style, height, rng)
    else:
        img = _base(style, height).copy()
    w = img.shape[1]
    for d in style.decor:
        if not _is_static(d) and d.type != "mirror":
            _decor(img, d, style, rng, style.choices)
    rows = _draw_rows(spec, style, rng)
    if free_text:
        rows = _free_rows(rows, style, rng)
    for d in style.decor:  # drawn once the fields' texts are known
        if d.type == "mirror":
            _decor(img, d, style, rng, style.choices, rows)
    char_boxes = []
    serif_i = _serif_i(style, rows)
    for f, printed in zip(style.fields, rows, strict=True):
        mask, spans = text_mask_with_spans(printed, f.font or style.font, f.spacing, serif_i)
        box = _px(f.box, w, height)
        x0, scale = _draw_text(img, mask, box, hex_bgr(f.color or style.fg), f.align)
        char_boxes += [
            (x0 + a * scale, float(box[1]), x0 + b * scale, float(box[3]))
            for ch, (a, b) in zip(printed, spans, strict=True)
            if ch.isalnum()
        ]
    radius = style.corner_radius * height
    if style.bolts:
        effects.bolts(img, rng)
    alpha = effects.rounded_alpha(height, w, radius)
    if dirty and rng.random() < 0.7:
        img = effects.wear(img, rng)
    text = plate_text("".join(rows))
    return RenderedPlate(img, alpha, text, "|".join(rows), spec.code, style.layout, style.name, tuple(char_boxes))
