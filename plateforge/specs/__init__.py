"""Plate formats per region, loaded from the YAML files in this folder (one file per region group).

A region (``uae-dubai``, ``ch``, ``eu-de``, ``us-ny``, ``br``, ``ru``) has a hand-written ``regex`` of valid
plate texts (upper-case, no spaces or dashes) and one or more *styles*: the look of one plate series.
A style is drawn on a canvas whose coordinates are fractions of the plate (x right, y down, 0..1):

- ``fields``: the characters that form the plate text, in reading order (top line first). ``text`` is a
  pattern: ``{D1-5}`` 1-5 digits without a leading zero, ``{N3}`` exactly 3 digits, ``{L1-2}`` 1-2 letters
  from the region's ``letters``, ``{A2-7}`` 2-7 letters or digits (vanity plates), ``{name}`` one of
  ``choices[name]`` (a choice may itself be a pattern); other characters are printed as they are (``-``
  and spaces are printed but are not part of the text). A style may set its own ``letters`` (the US
  picture plates stand for every state and vanity plates, which use all 26) and ``letter_weights``, how
  often a listed letter is drawn against the others (weight 1; the US picture plates draw ``O`` at 0.2).
  ``serif_i``: the share of plates that print ``I`` with slab serifs (bars at the top and bottom, as US
  plates do to tell it from ``1``) in fonts that draw it as a bare stem.
- ``bg`` a colour, or ``scenic`` / ``scenic_dark``: a random gradient with soft shapes, new for every plate
  (the picture plates of US states); ``fg`` and ``font`` may be lists, one drawn per plate.
- ``decor``: what a plate shows that is not its text: ``rect`` (a coloured block), ``text`` (a fixed or
  chosen label such as ``DUBAI``), ``circle`` (seals, emblems), ``eu_band`` (blue band, 12 stars, country
  code), ``flag`` (horizontal stripes), ``serrated`` (the flags of Bahrain and Qatar: white on the left, the
  ``color`` on the right, ``teeth`` white points between them), ``sticker`` (a registration sticker of random
  colour), ``emblem`` (a picture of random kind and colours, new for every plate: a star, a sun, a fruit, a
  state outline, a figure),
  ``mirror`` (field ``field``'s printed text again in Arabic script: Arabic-Indic digits and, for the Latin
  letters, the Arabic letters they stand for on the plates of country ``script``, ``sa`` (the default) or
  ``om`` (:data:`ARABIC_LETTER_TABLES`); not part of the text).

The same typed classes serve the generator, training (alphabet, regions) and the runtime (format checks).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

import yaml

# libyaml's safe loader reads the specs in ~11 ms against ~90 ms for the pure-Python one (same documents)
SAFE_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

SPEC_DIR = Path(__file__).parent
LAYOUTS = ("one_line", "two_line")
# font names a spec may use -> files in plateforge/synth/fonts (licences in its README)
FONT_FILES = {
    "din": "OSP-DIN.ttf",
    "bebas": "BebasNeue-Bold.otf",
    "sans": "LiberationSans-Bold.ttf",
    "condensed": "DejaVuSansCondensed-Bold.ttf",
    "arabic": "NotoKufiArabic-Bold.ttf",
    "oswald": "Oswald-SemiBold.woff",
    "roboto_condensed": "RobotoCondensed-Bold.woff",
    "barlow_condensed": "BarlowCondensed-Medium.woff",
    # faces of other US series (real US plates use many; the shared US styles draw from all of these)
    "anton": "Anton-Regular.woff",
    "league_gothic": "LeagueGothic-Regular.woff",
    "fjalla": "FjallaOne-Regular.woff",
    "archivo_narrow": "ArchivoNarrow-Bold.woff",
    "montserrat": "Montserrat-Bold.woff",
    "saira_condensed": "SairaCondensed-Bold.woff",
}
FONTS = tuple(FONT_FILES)
SCENIC = ("scenic", "scenic_dark")  # a background drawn anew for every plate (light or dark)
DECOR_TYPES = ("rect", "text", "circle", "eu_band", "flag", "serrated", "sticker", "emblem", "mirror")
# Latin letter -> the Arabic letter it transliterates on Saudi plates (17 letters; Arabic-Indic digits for digits)
ARABIC_LETTERS = dict(zip("ABJDRSXTEGKLZNHUV", "ابحدرسصطعقكلمنهوى", strict=True))
# the same on Omani plates (11 letters; H is ح and M is م there, where Saudi plates write J and Z)
ARABIC_LETTERS_OM = dict(zip("ABDHKMRSTWY", "ابدحكمرسطوي", strict=True))
ARABIC_LETTER_TABLES = {"sa": ARABIC_LETTERS, "om": ARABIC_LETTERS_OM}  # a mirror decor's ``script``
ARABIC_DIGITS = dict(zip("0123456789", "٠١٢٣٤٥٦٧٨٩", strict=True))
TOKEN = re.compile(r"\{([A-Za-z_]+)(\d+)?(?:-(\d+))?\}")


@dataclass(frozen=True)
class Field:
    """Characters of the plate text drawn in ``box`` (x1, y1, x2, y2 as fractions of the plate)."""

    text: str
    box: tuple[float, float, float, float]
    color: str | None = None  # None: the style's fg
    font: str | None = None  # None: the style's font
    align: str = "center"
    spacing: float = 0.08  # gap between characters as a fraction of the text height


@dataclass(frozen=True)
class Decor:
    """A non-text element; ``box`` in plate fractions. ``text`` may be a ``{choice}`` pattern."""

    type: str
    box: tuple[float, float, float, float]
    color: str | None = None
    text: str | None = None
    font: str | None = None
    colors: tuple[str, ...] = ()  # flag stripes, top to bottom
    field: int | None = None  # mirror: index of the field whose printed text it repeats in Arabic
    script: str = "sa"  # mirror: whose transliteration of Latin letters (a key of ARABIC_LETTER_TABLES)
    teeth: int = 5  # serrated: how many white points bite into the coloured part


@dataclass(frozen=True)
class Style:
    """One plate series: size, colours, font, fields (the text) and decor."""

    name: str
    layout: str
    size_mm: tuple[float, float]
    bg: str
    fg: str
    font: str
    fields: tuple[Field, ...]
    decor: tuple[Decor, ...] = ()
    border: str | None = None
    border_width: float = 0.025  # fraction of the plate height
    corner_radius: float = 0.08  # fraction of the plate height
    bolts: bool = True
    weight: float = 1.0  # how often this style is drawn within its region
    choices: dict[str, tuple[str, ...]] = field(default_factory=dict)
    fg_choices: tuple[str, ...] = ()  # when several: each plate draws its text colour and font from these
    font_choices: tuple[str, ...] = ()
    letters: str | None = None  # letters of its ``{L}`` / ``{A}`` patterns; None: the region's
    letter_weights: dict[str, float] | None = None  # how often a listed letter is drawn against the others (1)
    serif_i: float = 0.0  # share of plates whose ``I`` gets slab serifs (bars top and bottom)

    @property
    def varies(self) -> bool:
        """Whether each plate of this style draws its own background, text colour or font."""
        return self.bg in SCENIC or len(self.fg_choices) > 1 or len(self.font_choices) > 1

    @property
    def aspect(self) -> float:
        return self.size_mm[0] / self.size_mm[1]


@dataclass(frozen=True)
class RegionSpec:
    """A region's plates: ``code`` (lowercase, group first), display ``name``, ``regex`` of valid texts."""

    code: str
    name: str
    group: str
    regex: str
    letters: str
    styles: tuple[Style, ...]

    def is_valid(self, text: str) -> bool:
        """Whether ``text`` (upper-case, no spaces) is a valid plate text of this region."""
        return re.fullmatch(self.regex, text) is not None


def _box(v, where: str) -> tuple[float, float, float, float]:
    if not (isinstance(v, list) and len(v) == 4 and all(isinstance(x, int | float) for x in v)):
        raise ValueError(f"{where}: box must be [x1, y1, x2, y2] in plate fractions, got {v!r}")
    x1, y1, x2, y2 = (float(x) for x in v)
    if not (0 <= x1 < x2 <= 1 and 0 <= y1 < y2 <= 1):
        raise ValueError(f"{where}: box {v} must satisfy 0 <= x1 < x2 <= 1 and 0 <= y1 < y2 <= 1")
    return x1, y1, x2, y2


def _style(d: dict, region_choices: dict, where: str) -> Style:
    where = f"{where} style {d.get('name')!r}"
    layout = d.get("layout", "one_line")
    if layout not in LAYOUTS:
        raise ValueError(f"{where}: layout must be one of {LAYOUTS}, got {layout!r}")
    fonts = d.get("font", "sans")
    fonts = tuple(fonts) if isinstance(fonts, list) else (fonts,)
    inks = d.get("fg", "#111111")
    inks = tuple(inks) if isinstance(inks, list) else (inks,)
    font = fonts[0]
    fields = tuple(
        Field(
            text=f["text"],
            box=_box(f["box"], where),
            color=f.get("color"),
            font=f.get("font"),
            align=f.get("align", "center"),
            spacing=float(f.get("spacing", 0.08)),
        )
        for f in d["fields"]
    )
    decor = []
    for item in d.get("decor", []):
        if item.get("type") not in DECOR_TYPES:
            raise ValueError(f"{where}: decor type must be one of {DECOR_TYPES}, got {item.get('type')!r}")
        decor.append(
            Decor(
                type=item["type"],
                box=_box(item["box"], where),
                color=item.get("color"),
                text=item.get("text"),
                font=item.get("font"),
                colors=tuple(item.get("colors", ())),
                field=_mirror_field(item, len(fields), where),
                script=_mirror_script(item, where),
                teeth=_teeth(item, where),
            )
        )
    for f in (*fonts, *(f.font for f in fields), *(x.font for x in decor)):
        if f is not None and f not in FONTS:
            raise ValueError(f"{where}: font must be one of {FONTS}, got {f!r}")
    choices = {k: tuple(str(x) for x in v) for k, v in {**region_choices, **d.get("choices", {})}.items()}
    return Style(
        name=d["name"],
        layout=layout,
        size_mm=tuple(d["size_mm"]),
        bg=d.get("bg", "#ffffff"),
        fg=inks[0],
        font=font,
        fields=fields,
        decor=tuple(decor),
        border=d.get("border"),
        border_width=float(d.get("border_width", 0.025)),
        corner_radius=float(d.get("corner_radius", 0.08)),
        bolts=bool(d.get("bolts", True)),
        weight=float(d.get("weight", 1.0)),
        choices=choices,
        fg_choices=inks,
        font_choices=fonts,
        letters=d.get("letters"),
        letter_weights={str(k): float(v) for k, v in d["letter_weights"].items()} if d.get("letter_weights") else None,
        serif_i=_share(d.get("serif_i", 0.0), f"{where}: serif_i"),
    )


def _mirror_field(item: dict, n_fields: int, where: str) -> int | None:
    """The field index a ``mirror`` decor repeats (checked against the style's fields); None for other decor."""
    if item.get("type") != "mirror":
        return None
    index = item.get("field")
    if not isinstance(index, int) or not 0 <= index < n_fields:
        raise ValueError(
            f"{where}: a mirror decor needs 'field', the index of one of its {n_fields} fields, got {index!r}"
        )
    return index


def _teeth(item: dict, where: str) -> int:
    """How many points a ``serrated`` decor draws (``teeth``, default 5), checked."""
    teeth = item.get("teeth", 5)
    if not isinstance(teeth, int) or not 1 <= teeth <= 20:
        raise ValueError(f"{where}: a serrated decor's teeth must be a whole number from 1 to 20, got {teeth!r}")
    return teeth


def _mirror_script(item: dict, where: str) -> str:
    """Whose letter table a ``mirror`` decor uses (``script``, default ``sa``), checked."""
    script = item.get("script", "sa")
    if script not in ARABIC_LETTER_TABLES:
        known = tuple(ARABIC_LETTER_TABLES)
        raise ValueError(f"{where}: a mirror decor's script must be one of {known}, got {script!r}")
    return script


def arabic_text(printed: str, script: str = "sa") -> str:
    """``printed`` (a field's text as printed) in Arabic script: digits as Arabic-Indic digits in the same
    order, letters as the Arabic letters they stand for on the plates of country ``script`` (``sa``:
    :data:`ARABIC_LETTERS`, ``om``: :data:`ARABIC_LETTERS_OM`), written right to left, one space apart, as
    the plates print them; other characters are dropped."""
    table = ARABIC_LETTER_TABLES[script]
    digits = "".join(ARABIC_DIGITS[c] for c in printed if c in ARABIC_DIGITS)
    letters = " ".join(table[c] for c in printed if c in table)
    return " ".join(t for t in (digits, letters) if t)


def _share(value: object, what: str) -> float:
    """``value`` as a float in 0..1, or a ValueError naming ``what``."""
    try:
        share = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise ValueError(f"{what} must be a number from 0 to 1, got {value!r}") from None
    if not 0.0 <= share <= 1.0:
        raise ValueError(f"{what} must be a number from 0 to 1, got {value!r}")
    return share


def _check_tokens(style: Style, region: str) -> None:
    texts = [f.text for f in style.fields] + [d.text for d in style.decor if d.text]
    for text in texts:
        for name, lo, _hi in TOKEN.findall(text):
            if name in ("D", "N", "L", "A") and lo:
                continue
            if name not in style.choices:
                raise ValueError(f"{region} style {style.name!r}: pattern {text!r} uses {{{name}}} with no choices")


@cache
def specs_fingerprint() -> str:
    """A hash of the region YAML files and the fonts the renderer draws with (:data:`FONT_FILES`):
    anything cached from rendered plates is keyed by it."""
    import hashlib

    from plateforge.synth.glyphs import FONT_DIR  # glyphs imports this module: not at the top

    h = hashlib.sha1()
    font_files = [FONT_DIR / name for name in sorted(FONT_FILES.values())]
    for path in sorted(SPEC_DIR.glob("*.yaml")) + font_files:
        h.update(path.name.encode() + path.read_bytes())
    return h.hexdigest()[:12]


@cache
def load_specs() -> dict[str, RegionSpec]:
    """All regions from the YAML files in this folder, keyed by region code."""
    regions: dict[str, RegionSpec] = {}
    for path in sorted(SPEC_DIR.glob("*.yaml")):
        doc = yaml.load(path.read_text(encoding="utf-8"), Loader=SAFE_LOADER)
        group = doc["group"]
        for code, r in doc["regions"].items():
            where = f"{path.name} region {code!r}"
            if not (code == group or code.startswith(group + "-")) or code != code.lower():
                raise ValueError(f"{where}: region codes are lowercase and start with the group {group!r}")
            styles = tuple(_style(s, r.get("choices", {}), where) for s in r["styles"])
            spec = RegionSpec(
                code=code,
                name=r["name"],
                group=group,
                regex=r["regex"],
                letters=r.get("letters", "ABCDEFGHIJKLMNOPQRSTUVWXYZ"),
                styles=styles,
            )
            for s in styles:
                _check_tokens(s, code)
            regions[code] = spec
    return regions


def selector_items(selector: str | Sequence[str] | None) -> list[str]:
    """The lower-case region codes or groups of a selector: a comma list (``"uae, eu-de"``) or a list of them."""
    parts = selector.split(",") if isinstance(selector, str) else (selector or [])
    return [s.strip().lower() for s in parts if s.strip()]


def select_regions(selector: str | None = None) -> list[RegionSpec]:
    """Regions named by a comma list of codes or groups (``uae,ch,eu-de``); all when None or empty."""
    specs = load_specs()
    if not selector:
        return list(specs.values())
    chosen: dict[str, RegionSpec] = {}
    for item in selector_items(selector):
        matches = [r for code, r in specs.items() if code == item or r.group == item]
        if not matches:
            groups = sorted({r.group for r in specs.values()})
            raise ValueError(f"unknown region {item!r}; groups: {', '.join(groups)}; regions: {', '.join(specs)}")
        chosen.update((r.code, r) for r in matches)
    return list(chosen.values())
