"""Scenes with plates: rendered plates placed in perspective on procedural backgrounds or real photos.

Geometry: every plate is warped by a homography from its flat rendering; its label is the warped outer
corners (TL, TR, BR, BL as read on the plate, in scene pixels) and the box is their axis-aligned hull
(xyxy pixels). On real photos each labelled real plate is painted over by a synthetic one, so no real
plate is left in the scene without a label.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import cv2
import numpy as np

from plateforge.data.manifest import ImageRecord, PlateLabel
from plateforge.specs import RegionSpec
from plateforge.synth.glyphs import text_mask
from plateforge.synth.plate import RenderedPlate, render_plate


@dataclass(frozen=True)
class SceneOptions:
    """Scene size in pixels; plates per scene; plate height range in pixels (the short side of the plate);
    max yaw / pitch / roll in degrees; probability that a plate is partly occluded; probability that a scene
    uses a real photo (when real backgrounds are given); probability that a procedural scene also gets
    plate-like things that are not plates (free text, watermarks, car badges: hard negatives for a detector)."""

    width: int = 640
    height: int = 480
    plates: tuple[int, int] = (1, 3)
    plate_height: tuple[float, float] = (10.0, 110.0)
    max_yaw: float = 40.0
    max_pitch: float = 20.0
    max_roll: float = 12.0
    occlusion: float = 0.15
    real_photo: float = 0.5
    distractors: float = 0.0

    def __post_init__(self):
        if not 0.0 <= self.distractors <= 1.0:
            raise ValueError(f"distractors is a share of scenes between 0 and 1, got {self.distractors}")


@dataclass(frozen=True)
class Scene:
    """``image`` BGR uint8; ``plates`` labels in scene pixels; ``background`` the real photo used, if any;
    ``rendered`` the flat plates as drawn, in label order (for checks and debugging); ``hidden`` for each plate
    the indices (into its text) of the characters an occluder hides (more than :data:`HIDDEN_COVER` of the
    character's box covered): the labels keep those characters in the text, a reader cannot see them."""

    image: np.ndarray
    plates: tuple[PlateLabel, ...]
    background: str | None = None
    rendered: tuple[RenderedPlate, ...] = field(default=(), compare=False, repr=False)
    hidden: tuple[tuple[int, ...], ...] = ()


def plate_quad(w: float, h: float, cx: float, cy: float, yaw: float, pitch: float, roll: float) -> np.ndarray:
    """Corners TL, TR, BR, BL (4 × 2 float32, pixels) of a ``w`` × ``h`` plate centred at (cx, cy), seen with
    ``yaw``/``pitch``/``roll`` degrees of rotation under a pinhole camera."""
    f = 2.5 * max(w, h)  # focal length: moderate perspective
    pts = np.array([[-w / 2, -h / 2, 0], [w / 2, -h / 2, 0], [w / 2, h / 2, 0], [-w / 2, h / 2, 0]], np.float64)
    ry, rx, rz = (math.radians(a) for a in (yaw, pitch, roll))
    rot_y = np.array([[math.cos(ry), 0, math.sin(ry)], [0, 1, 0], [-math.sin(ry), 0, math.cos(ry)]])
    rot_x = np.array([[1, 0, 0], [0, math.cos(rx), -math.sin(rx)], [0, math.sin(rx), math.cos(rx)]])
    rot_z = np.array([[math.cos(rz), -math.sin(rz), 0], [math.sin(rz), math.cos(rz), 0], [0, 0, 1]])
    p = pts @ (rot_z @ rot_x @ rot_y).T
    p[:, 2] += f
    quad = p[:, :2] * (f / p[:, 2:3])
    return (quad + [cx, cy]).astype(np.float32)


def paste_plate(scene: np.ndarray, plate: RenderedPlate, quad: np.ndarray) -> None:
    """Warp ``plate`` onto ``quad`` (TL, TR, BR, BL scene pixels) and alpha-blend it into ``scene`` in place."""
    ph, pw = plate.image.shape[:2]
    x0, y0 = np.floor(quad.min(0)).astype(int) - 1
    x1, y1 = np.ceil(quad.max(0)).astype(int) + 2
    x0, y0 = max(x0, 0), max(y0, 0)
    x1, y1 = min(x1, scene.shape[1]), min(y1, scene.shape[0])
    if x1 <= x0 or y1 <= y0:
        return
    src = np.array([[0, 0], [pw, 0], [pw, ph], [0, ph]], np.float32)
    m = cv2.getPerspectiveTransform(src, quad - np.array([x0, y0], np.float32))
    size = (x1 - x0, y1 - y0)
    # big downscales alias: pre-shrink the flat plate close to its on-screen size first
    scale = (np.linalg.norm(quad[1] - quad[0]) + 1) / pw
    if scale < 0.5:
        small = (max(2, round(pw * scale * 1.5)), max(2, round(ph * scale * 1.5)))
        img = cv2.resize(plate.image, small, interpolation=cv2.INTER_AREA)
        alpha = cv2.resize(plate.alpha, small, interpolation=cv2.INTER_AREA)
        src = np.array([[0, 0], [small[0], 0], [small[0], small[1]], [0, small[1]]], np.float32)
        m = cv2.getPerspectiveTransform(src, quad - np.array([x0, y0], np.float32))
    else:
        img, alpha = plate.image, plate.alpha
    warped = cv2.warpPerspective(img, m, size, flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    a = cv2.warpPerspective(alpha, m, size, flags=cv2.INTER_LINEAR, borderValue=0)
    roi = scene[y0:y1, x0:x1]
    roi[:] = cv2.blendLinear(np.ascontiguousarray(roi), warped, 1.0 - a, a)


class Backgrounds:
    """Procedural backgrounds: a small bank of textures made once, cropped, tinted and flipped per scene."""

    def __init__(self, width: int, height: int, seed: int = 0, bank: int = 6):
        rng = np.random.default_rng(seed)
        self.width, self.height = width, height
        self.bank = [self._texture(rng, width * 2, height * 2) for _ in range(bank)]

    @staticmethod
    def _texture(rng: np.random.Generator, w: int, h: int) -> np.ndarray:
        low = rng.integers(30, 220, (rng.integers(3, 7), rng.integers(3, 7), 3)).astype(np.uint8)
        img = cv2.resize(low, (w, h), interpolation=cv2.INTER_CUBIC).astype(np.float32)
        blotches = cv2.resize(rng.normal(0, 20, (h // 16, w // 16, 1)).astype(np.float32), (w, h))
        img += blotches[..., None] + rng.normal(0, 4, (h, w, 1)).astype(np.float32)
        for _ in range(40):  # buildings, road markings, poles, signs
            c = tuple(int(v) for v in rng.integers(0, 256, 3))
            x, y = int(rng.integers(0, w)), int(rng.integers(0, h))
            if rng.random() < 0.6:
                cv2.rectangle(img, (x, y), (x + int(rng.integers(10, w // 4)), y + int(rng.integers(5, h // 4))), c, -1)
            else:
                cv2.line(img, (x, y), (int(rng.integers(0, w)), int(rng.integers(0, h))), c, int(rng.integers(1, 6)))
        return np.clip(img, 0, 255).astype(np.uint8)

    def sample(self, rng: np.random.Generator) -> np.ndarray:
        tex = self.bank[int(rng.integers(0, len(self.bank)))]
        y = int(rng.integers(0, tex.shape[0] - self.height + 1))
        x = int(rng.integers(0, tex.shape[1] - self.width + 1))
        crop = tex[y : y + self.height, x : x + self.width]
        gain = rng.uniform(0.6, 1.3)
        tint = np.hstack([np.eye(3) * gain, rng.uniform(-30, 30, (3, 1))])  # per-channel gain + offset
        img = cv2.transform(crop, tint)  # saturating uint8 arithmetic in one pass
        return cv2.flip(img, 1) if rng.random() < 0.5 else img


def _draw_vehicle(img: np.ndarray, quad: np.ndarray, rng: np.random.Generator) -> None:
    """A crude car rear/front around a plate: body colour, lights, bumper line; gives plates realistic context."""
    x0, y0 = quad.min(0)
    x1, y1 = quad.max(0)
    pw, ph = x1 - x0, y1 - y0
    bw, bh = pw * rng.uniform(3.0, 4.5), ph * rng.uniform(4.0, 7.0)
    cx, top = (x0 + x1) / 2 + rng.uniform(-0.2, 0.2) * pw, y0 - bh * rng.uniform(0.45, 0.7)
    body = tuple(int(v) for v in rng.integers(10, 240, 3))
    p1, p2 = (int(cx - bw / 2), int(top)), (int(cx + bw / 2), int(y1 + ph * rng.uniform(0.5, 1.5)))
    cv2.rectangle(img, p1, p2, body, -1)
    shade = tuple(max(0, v - 60) for v in body)
    cv2.line(img, (p1[0], int(y1 + ph * 0.3)), (p2[0], int(y1 + ph * 0.3)), shade, max(1, int(ph * 0.15)))
    light = (30, 30, int(rng.integers(150, 255)))
    for sx in (p1[0] + bw * 0.05, p2[0] - bw * 0.22):
        cv2.rectangle(img, (int(sx), int(y0 - ph * 1.2)), (int(sx + bw * 0.17), int(y0 - ph * 0.4)), light, -1)


def _occlude(img: np.ndarray, quad: np.ndarray, rng: np.random.Generator) -> tuple[int, int, int, int]:
    """Cover one side of a plate (5-20 % of its width) with a pole, a hand or another car's edge; returns the
    covered rectangle (xyxy scene pixels, both ends inclusive, as cv2.rectangle fills it)."""
    x0, y0 = quad.min(0)
    x1, y1 = quad.max(0)
    w = (x1 - x0) * rng.uniform(0.05, 0.2)
    left = rng.random() < 0.5
    a = x0 - 2 if left else x1 - w
    color = tuple(int(v) for v in rng.integers(0, 200, 3))
    rect = (int(a), int(y0 - (y1 - y0)), int(a + w + 2), int(y1 + (y1 - y0)))
    cv2.rectangle(img, rect[:2], rect[2:], color, -1)
    return rect


HIDDEN_COVER = 0.25  # a character counts as hidden when more than this share of its box is covered


def hidden_chars(plate: RenderedPlate, quad: np.ndarray, rects: list[tuple[int, int, int, int]]) -> tuple[int, ...]:
    """Indices (into ``plate.text``) of the characters that the ``rects`` (xyxy scene pixels, inclusive) cover
    by more than :data:`HIDDEN_COVER` of their box, the plate drawn on ``quad`` (TL, TR, BR, BL scene pixels).
    Coverage is the share of a 6 × 6 grid of points over the character box that lands in a rectangle."""
    if not rects or not plate.char_boxes:
        return ()
    ph, pw = plate.image.shape[:2]
    flat = np.array([[0, 0], [pw, 0], [pw, ph], [0, ph]], np.float32)
    homography = cv2.getPerspectiveTransform(flat, quad.astype(np.float32))
    t = (np.arange(6) + 0.5) / 6
    hidden = []
    for i, (x1, y1, x2, y2) in enumerate(plate.char_boxes):
        gx, gy = np.meshgrid(x1 + t * (x2 - x1), y1 + t * (y2 - y1))
        pts = cv2.perspectiveTransform(np.stack([gx, gy], -1).reshape(-1, 1, 2).astype(np.float32), homography)[:, 0]
        covered = np.zeros(len(pts), bool)
        for a, b, c, d in rects:
            covered |= (pts[:, 0] >= a) & (pts[:, 0] <= c + 1) & (pts[:, 1] >= b) & (pts[:, 1] <= d + 1)
        if covered.mean() > HIDDEN_COVER:
            hidden.append(i)
    return tuple(hidden)


_WORDS = ("SALE", "TAXI", "STOP", "PARKING", "AUTO", "OPEN", "EXIT", "SERVICE", "MOTORS", "RENT", "POLICE")
_WEB = ("www.", "", "@", "photo by ")
_HERSHEY = (cv2.FONT_HERSHEY_SIMPLEX, cv2.FONT_HERSHEY_DUPLEX, cv2.FONT_HERSHEY_COMPLEX, cv2.FONT_HERSHEY_TRIPLEX)


def _random_text(rng: np.random.Generator) -> str:
    """A word, a run of capitals and digits, or a watermark-like web address."""
    kind = rng.random()
    alnum = "ABCDEFGHJKLMNPRSTUVWXYZ0123456789"
    if kind < 0.35:
        return str(rng.choice(_WORDS))
    if kind < 0.7:
        return "".join(rng.choice(list(alnum), int(rng.integers(2, 9))))
    name = "".join(rng.choice(list("abcdefghijklmnoprstuvwyz"), int(rng.integers(4, 10))))
    return f"{rng.choice(_WEB)}{name}{rng.choice(['.com', '.net', '', '.in', ' 2024'])}"


def _clear_of(box: tuple[float, float, float, float], plates: list[np.ndarray], margin: float = 4.0) -> bool:
    """Whether the xyxy ``box`` stays ``margin`` px clear of the hull of every quad in ``plates`` (scene pixels)."""
    x0, y0, x1, y1 = box
    return all(
        x1 + margin < q[:, 0].min()
        or x0 - margin > q[:, 0].max()
        or y1 + margin < q[:, 1].min()
        or y0 - margin > q[:, 1].max()
        for q in plates
    )


def _draw_distractors(img: np.ndarray, plates: list[np.ndarray], rng: np.random.Generator) -> None:
    """1-4 things that look a little like plates but are not: text straight on the scene (shop words, runs of
    capitals and digits in the plate fonts, web-address watermarks) and oval car badges. None has a plate's
    background panel, and none touches a plate quad (scene pixels)."""
    hgt, wid = img.shape[:2]
    for _ in range(int(rng.integers(1, 5))):
        color = tuple(int(v) for v in rng.integers(0, 256, 3))
        if rng.random() < 0.3:  # badge: an oval ring with a mark inside
            w = float(rng.uniform(10, 70))
            h = w * rng.uniform(0.35, 0.8)
            x, y = rng.uniform(0, wid - w), rng.uniform(0, hgt - h)
            if not _clear_of((x, y, x + w, y + h), plates):
                continue
            c, axes = (int(x + w / 2), int(y + h / 2)), (int(w / 2), int(h / 2))
            cv2.ellipse(img, c, axes, 0, 0, 360, color, max(1, int(h / 8)), cv2.LINE_AA)
            cv2.putText(
                img,
                str(rng.choice(list("HKVTSMN"))),
                (int(x + w * 0.35), int(y + h * 0.75)),
                cv2.FONT_HERSHEY_SIMPLEX,
                h / 40,
                color,
                max(1, int(h / 10)),
                cv2.LINE_AA,
            )
            continue
        text = _random_text(rng)
        th = float(rng.uniform(7, 48))
        if text == text.upper():  # capitals and digits: in a plate font; web addresses: in a Hershey font
            mask = text_mask(text, str(rng.choice(["din", "sans", "condensed", "bebas"])))
            tw = mask.shape[1] * th / mask.shape[0]
            x, y = rng.uniform(0, max(1.0, wid - tw)), rng.uniform(0, hgt - th)
            if tw >= wid or not _clear_of((x, y, x + tw, y + th), plates):
                continue
            m = cv2.resize(mask, (max(1, int(tw)), max(1, int(th))), interpolation=cv2.INTER_AREA)[..., None]
            roi = img[int(y) : int(y) + m.shape[0], int(x) : int(x) + m.shape[1]]
            m = m[: roi.shape[0], : roi.shape[1]]
            roi[:] = (roi * (1 - m) + np.array(color, np.float32) * m).astype(np.uint8)
        else:
            font = int(rng.choice(_HERSHEY))
            scale = th / 22
            (tw, _), _ = cv2.getTextSize(text, font, scale, max(1, int(th / 12)))
            x, y = rng.uniform(0, max(1.0, wid - tw)), rng.uniform(th, hgt)
            if tw >= wid or not _clear_of((x, y - th, x + tw, y + th * 0.3), plates):
                continue
            cv2.putText(img, text, (int(x), int(y)), font, scale, color, max(1, int(th / 12)), cv2.LINE_AA)


def _render_height(on_screen: float) -> int:
    """Height to draw a flat plate at before warping it to ``on_screen`` px: a bit larger (the warp then only
    shrinks), in 8 px steps between 24 and 128 (plate layouts are cached per height)."""
    return int(np.clip(8 * round(on_screen * 1.4 / 8), 24, 128))


def _plate_height_px(rng: np.random.Generator, lo: float, hi: float) -> float:
    """Log-uniform plate height: small plates are as common as large ones on a log scale."""
    return float(math.exp(rng.uniform(math.log(lo), math.log(hi))))


def compose_scene(
    specs: list[RegionSpec],
    rng: np.random.Generator,
    opts: SceneOptions = SceneOptions(),
    backgrounds: Backgrounds | None = None,
    real: list[ImageRecord] | None = None,
) -> Scene:
    """One scene with its plate labels; a real photo from ``real`` with probability ``opts.real_photo``."""
    if real and rng.random() < opts.real_photo:
        return _real_scene(specs, rng, real[int(rng.integers(0, len(real)))], opts)
    bg = backgrounds or Backgrounds(opts.width, opts.height)
    img = bg.sample(rng)
    placed: list[tuple[RenderedPlate, np.ndarray]] = []
    for _ in range(int(rng.integers(opts.plates[0], opts.plates[1] + 1))):
        spec = specs[int(rng.integers(0, len(specs)))]
        h = _plate_height_px(rng, *opts.plate_height)
        plate = render_plate(spec, rng, height=_render_height(h))
        aspect = plate.image.shape[1] / plate.image.shape[0]
        quad = _free_spot(rng, h * aspect, h, opts, [q for _, q in placed])
        if quad is not None:
            placed.append((plate, quad))
    for _, quad in placed:  # all vehicles first, so no vehicle is drawn over another car's plate
        if rng.random() < 0.7:
            _draw_vehicle(img, quad, rng)
    rects: list[list[tuple[int, int, int, int]]] = []  # per plate: the occluders drawn after it
    for plate, quad in placed:
        paste_plate(img, plate, quad)
        rects.append([])
        if rng.random() < opts.occlusion:
            rect = _occlude(img, quad, rng)
            for later in rects:  # an occluder lies over this plate and every plate pasted before it
                later.append(rect)
    if opts.distractors and rng.random() < opts.distractors:  # no draw when off: seeded scenes stay the same
        _draw_distractors(img, [q for _, q in placed], rng)
    labels = [_label(plate, quad) for plate, quad in placed]
    hidden = tuple(hidden_chars(p, q, r) for (p, q), r in zip(placed, rects, strict=True))
    return Scene(img, tuple(labels), rendered=tuple(p for p, _ in placed), hidden=hidden)


def _free_spot(rng, w: float, h: float, opts: SceneOptions, taken: list[np.ndarray]) -> np.ndarray | None:
    """A plate quad fully inside the scene and clear of the plates already placed (with a margin)."""
    for _ in range(20):
        yaw = rng.uniform(-opts.max_yaw, opts.max_yaw)
        pitch = rng.uniform(-opts.max_pitch, opts.max_pitch)
        roll = rng.uniform(-opts.max_roll, opts.max_roll)
        cx, cy = rng.uniform(0, opts.width), rng.uniform(0, opts.height)
        quad = plate_quad(w, h, cx, cy, yaw, pitch, roll)
        lo, hi = quad.min(0), quad.max(0)
        if lo[0] < 1 or lo[1] < 1 or hi[0] > opts.width - 1 or hi[1] > opts.height - 1:
            continue
        if _clear_of((lo[0], lo[1], hi[0], hi[1]), taken, margin=0.5 * h):
            return quad
    return None


def _label(plate: RenderedPlate, quad: np.ndarray) -> PlateLabel:
    lo, hi = quad.min(0), quad.max(0)
    corners = tuple((float(x), float(y)) for x, y in quad)
    box = (float(lo[0]), float(lo[1]), float(hi[0]), float(hi[1]))
    return PlateLabel(box, corners, plate.text, plate.region, plate.layout)


def _real_scene(specs: list[RegionSpec], rng: np.random.Generator, rec: ImageRecord, opts: SceneOptions) -> Scene:
    """Paint a synthetic plate over every labelled plate of a real photo (scaled to the scene width)."""
    photo = cv2.imread(rec.image, cv2.IMREAD_COLOR)
    if photo is None:
        raise ValueError(f"{rec.image}: background photo cannot be read")
    scale = opts.width / photo.shape[1]
    img = cv2.resize(photo, (opts.width, round(photo.shape[0] * scale)), interpolation=cv2.INTER_LINEAR)
    labels, rendered = [], []
    for real_plate in rec.plates or ():
        x1, y1, x2, y2 = (v * scale for v in real_plate.box)
        # cover the real plate with a margin so none of its characters stays visible
        mx, my = (x2 - x1) * 0.06, (y2 - y1) * 0.10
        x1, y1 = max(0.0, x1 - mx), max(0.0, y1 - my)
        x2, y2 = min(img.shape[1] - 1.0, x2 + mx), min(img.shape[0] - 1.0, y2 + my)
        box_aspect = (x2 - x1) / max(y2 - y1, 1e-3)
        spec, style = _closest_style(specs, box_aspect, rng)
        plate = render_plate(spec, rng, height=_render_height(y2 - y1), style=style)
        quad = np.array([[x1, y1], [x2, y1], [x2, y2], [x1, y2]], np.float32)
        paste_plate(img, plate, quad)
        labels.append(_label(plate, quad))
        rendered.append(plate)
    return Scene(img, tuple(labels), rec.image, tuple(rendered), hidden=((),) * len(labels))


def _closest_style(specs: list[RegionSpec], aspect: float, rng: np.random.Generator):
    """A (region, style) whose plate aspect is near ``aspect`` (random among the closest few)."""
    options = [(abs(math.log(s.aspect / aspect)), i, j) for i, r in enumerate(specs) for j, s in enumerate(r.styles)]
    options.sort()
    best = options[0][0]
    near = [o for o in options if o[0] <= best + 0.25]
    _, i, j = near[int(rng.integers(0, len(near)))]
    return specs[i], specs[i].styles[j]
