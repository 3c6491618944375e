"""Detector training and validation data: synthetic scenes made on the fly and real photos from manifests.

Training samples go through one random placement: scale (log-uniform around the letterbox scale), shift and
horizontal flip (corners re-ordered so TL stays top-left), then the photometric preset. Plates cut by the
crop edge keep their clipped box when at least ``min_visible`` of it stays; their corners are then dropped
(``has_corners`` false) because some lie outside the picture. Validation samples are letterboxed exactly as
the runtime does (:func:`plateforge.ops.boxes.letterbox`) and keep their labels in original pixels.

Why hand-written placement: a single resize + paste moves image, boxes and corners together with one
resampling (small plates are not blurred twice) and swaps corner order on flips, which albumentations'
keypoints do not.
"""

from __future__ import annotations

import dataclasses

import cv2
import numpy as np
import torch
from torch.utils.data import Dataset

from plateforge.data.manifest import ImageRecord, read_manifest
from plateforge.ops.boxes import letterbox
from plateforge.runtime.grey import grey_copy

FLIP_ORDER = [1, 0, 3, 2]  # TL, TR, BR, BL mirrored → TR, TL, BL, BR


@dataclasses.dataclass
class SceneSource:
    """``n`` synthetic scenes per epoch from ``seed`` (item i of epoch e uses seed [seed, e, i]); ``regions``
    selector (None = all); ``augment`` preset; scene size; ``backgrounds``: manifests of real photos whose
    labelled plates are painted over (``real_photo`` of the scenes use one); ``distractors``: share of the
    procedural scenes that also get text, watermarks and badges that are not plates; ``occlusion``: share of
    plates with an occluder (a pole or another car's edge) drawn over part of them."""

    n: int = 20000
    seed: int = 1
    regions: str | None = None
    augment: str = "medium"
    width: int = 640
    height: int = 480
    plates: tuple[int, int] = (1, 3)
    plate_height: tuple[float, float] = (8.0, 110.0)
    backgrounds: list[str] = dataclasses.field(default_factory=list)
    real_photo: float = 0.3
    distractors: float = 0.0
    occlusion: float = 0.15


@dataclasses.dataclass
class PhotoSource:
    """Real photos from a manifest (``subset`` keeps records whose meta subset matches), each ``repeat`` times
    per epoch."""

    manifest: str
    subset: str | None = None
    repeat: int = 1


@dataclasses.dataclass
class DetValSet:
    """A validation set: a manifest (+ subset), or ``scenes`` synthetic scenes (a fixed seed); ``grey``: every
    image shown in grey levels (its luma in all three channels), as a monochrome or infrared camera gives it,
    to validate a grey-trained copy on what it will see."""

    name: str
    manifest: str | None = None
    subset: str | None = None
    scenes: SceneSource | None = None
    grey: bool = False


@dataclasses.dataclass
class Target:
    """Labels of one sample: boxes (K, 4) xyxy, corners (K, 4, 2) TL, TR, BR, BL, has_corners (K,), pixels;
    ``ignore`` (J, 4) xyxy: regions the labels leave out on purpose (no positive, no negative there)."""

    boxes: np.ndarray
    corners: np.ndarray
    has_corners: np.ndarray
    ignore: np.ndarray = dataclasses.field(default_factory=lambda: np.zeros((0, 4), np.float32))

    @classmethod
    def from_record(cls, rec: ImageRecord) -> Target:
        plates = [p for p in rec.plates or () if not p.ignore]
        boxes = np.array([p.box for p in plates], np.float32).reshape(-1, 4)
        corners = np.zeros((len(plates), 4, 2), np.float32)
        has = np.zeros(len(plates), bool)
        for k, p in enumerate(plates):
            if p.corners is not None:
                corners[k], has[k] = p.corners, True
        ignore = np.array([p.box for p in rec.plates or () if p.ignore], np.float32).reshape(-1, 4)
        return cls(boxes, corners, has, ignore)


def _records(manifest: str, subset: str | None) -> list[ImageRecord]:
    """Labelled records of ``manifest`` (of ``subset``); an unlabelled image (``plates: null``) is neither a
    positive nor a negative example, so it is left out."""
    recs = [r for r in read_manifest(manifest) if r.plates is not None]
    if subset is not None:
        recs = [r for r in recs if r.meta.get("subset") == subset]
    if not recs:
        raise ValueError(f"{manifest}: no labelled images" + (f" in subset {subset!r}" if subset else ""))
    return recs


class SceneMaker:
    """Scene maker for one process (region specs and background bank built on first use)."""

    def __init__(self, src: SceneSource):
        self.src = src
        self._ready = False

    def make(self, rng: np.random.Generator):
        from plateforge.specs import select_regions
        from plateforge.synth.scene import Backgrounds, SceneOptions, compose_scene

        s = self.src
        if not self._ready:
            self.specs = select_regions(s.regions)
            self.opts = SceneOptions(
                width=s.width,
                height=s.height,
                plates=tuple(s.plates),
                plate_height=tuple(s.plate_height),
                real_photo=s.real_photo,
                distractors=s.distractors,
                occlusion=s.occlusion,
            )
            self.bg = Backgrounds(s.width, s.height, seed=s.seed)
            self.real = [r for m in s.backgrounds for r in read_manifest(m) if r.plates]
            self._ready = True
        scene = compose_scene(self.specs, rng, self.opts, self.bg, self.real)
        rec = ImageRecord("", scene.image.shape[1], scene.image.shape[0], scene.plates)
        return scene.image, Target.from_record(rec)


def load_photo(rec: ImageRecord) -> np.ndarray:
    img = cv2.imread(rec.image, cv2.IMREAD_COLOR)
    if img is None:
        raise ValueError(f"{rec.image}: cannot be read as an image")
    return img


def random_placement(
    img: np.ndarray,
    t: Target,
    size: int,
    rng: np.random.Generator,
    scale_range: tuple[float, float] = (0.6, 1.5),
    flip: float = 0.5,
    min_visible: float = 0.5,
    fill: int = 114,
) -> tuple[np.ndarray, Target]:
    """Resize ``img`` by the letterbox scale × a log-uniform factor, paste it at a random spot of a ``size``
    square, flip it horizontally with probability ``flip``; labels follow."""
    h, w = img.shape[:2]
    lo, hi = np.log(scale_range[0]), np.log(scale_range[1])
    a = size / max(h, w) * float(np.exp(rng.uniform(lo, hi)))
    nw, nh = max(1, round(w * a)), max(1, round(h * a))
    resized = cv2.resize(img, (nw, nh), interpolation=cv2.INTER_AREA if a < 1 else cv2.INTER_LINEAR)
    ox = int(rng.integers(min(0, size - nw), max(0, size - nw) + 1))
    oy = int(rng.integers(min(0, size - nh), max(0, size - nh) + 1))
    canvas = np.full((size, size, 3), fill, np.uint8)
    x0, y0 = max(ox, 0), max(oy, 0)
    x1, y1 = min(ox + nw, size), min(oy + nh, size)
    canvas[y0:y1, x0:x1] = resized[y0 - oy : y1 - oy, x0 - ox : x1 - ox]
    sx = np.array([a, a], np.float32)
    off = np.array([ox, oy], np.float32)
    flipped = rng.random() < flip

    def place(b: np.ndarray) -> np.ndarray:
        """xyxy boxes (K, 4) of ``img`` → the canvas's (scaled, shifted, mirrored with it)."""
        b = (b.reshape(-1, 2, 2) * sx + off).reshape(-1, 4)
        return np.stack([size - b[:, 2], b[:, 1], size - b[:, 0], b[:, 3]], 1) if flipped else b

    boxes, ignore = place(t.boxes), place(t.ignore)
    corners = t.corners * sx + off
    if flipped:
        canvas = np.ascontiguousarray(canvas[:, ::-1])
        corners = corners[:, FLIP_ORDER].copy()
        corners[..., 0] = size - corners[..., 0]
    ignore = np.clip(ignore, 0, size)
    ignore = ignore[((ignore[:, 2:] - ignore[:, :2]) > 0).all(1)]
    clipped = np.clip(boxes, 0, size)
    area = np.prod(boxes[:, 2:] - boxes[:, :2], 1)
    visible = np.prod(np.clip(clipped[:, 2:] - clipped[:, :2], 0, None), 1)
    wh = clipped[:, 2:] - clipped[:, :2]
    keep = (visible >= min_visible * np.maximum(area, 1e-6)) & (wh.min(1) >= 2)
    inside = ((corners >= 0) & (corners <= size)).all((1, 2))
    has = t.has_corners & inside
    return canvas, Target(clipped[keep], corners[keep], has[keep], ignore)


class DetTrainSet(Dataset):
    """Synthetic scenes (from each of ``scenes`` in turn) + real photos at ``size`` × ``size`` with random
    placement; call :meth:`set_epoch` so synthetic scenes and placements change every epoch."""

    def __init__(
        self,
        scenes: list[SceneSource],
        photos: list[PhotoSource],
        size: int,
        augment: str = "medium",
        scale_range: tuple[float, float] = (0.6, 1.5),
        seed: int = 0,
        grey: float = 0.0,
    ):
        self.makers = [SceneMaker(s) for s in scenes if s.n > 0]
        self.n_scenes = sum(m.src.n for m in self.makers)
        self.photos = [r for src in photos for r in _records(src.manifest, src.subset) for _ in range(src.repeat)]
        self.size, self.augment, self.scale_range, self.seed = size, augment, tuple(scale_range), seed
        self.grey = grey
        self.epoch = 0
        from plateforge.synth.augment import scene_pipeline

        scene_pipeline(augment)  # import albumentations once here, not in every worker

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        return self.n_scenes + len(self.photos)

    def scene_maker(self, i: int) -> tuple[SceneMaker, int]:
        """The scene source of item ``i`` (< ``n_scenes``) and the item's index within that source."""
        for maker in self.makers:
            if i < maker.src.n:
                return maker, i
            i -= maker.src.n
        raise IndexError(i)

    def __getitem__(self, i: int):
        from plateforge.synth.augment import augment, scene_pipeline

        rng = np.random.default_rng([self.seed, self.epoch, i])
        if i < self.n_scenes:
            maker, j = self.scene_maker(i)
            img, t = maker.make(np.random.default_rng([maker.src.seed, self.epoch, j]))
            preset = maker.src.augment
        else:
            rec = self.photos[i - self.n_scenes]
            img, t = load_photo(rec), Target.from_record(rec)
            preset = self.augment
        img, t = random_placement(img, t, self.size, rng, self.scale_range)
        # photometric after placement: on the (smaller) network input, same look, half the cost
        img = augment(img, scene_pipeline(preset), int(rng.integers(0, 2**31)))
        if self.grey > 0 and rng.random() < self.grey:  # a monochrome or infrared camera
            img = grey_copy(img)
        return torch.from_numpy(np.ascontiguousarray(img)), t


class DetValImages(Dataset):
    """Letterboxed validation images with labels in original pixels."""

    def __init__(self, spec: DetValSet, size: int):
        self.spec, self.size = spec, size
        if spec.scenes is not None:
            self.scenes, self.records = SceneMaker(spec.scenes), None
            self.n = spec.scenes.n
        else:
            if spec.manifest is None:
                raise ValueError(f"validation set {spec.name!r}: give a manifest or scenes")
            self.scenes, self.records = None, _records(spec.manifest, spec.subset)
            self.n = len(self.records)

    def __len__(self) -> int:
        return self.n

    def labelled(self, i: int) -> tuple[np.ndarray, Target]:
        """Item ``i`` before the letterbox: the BGR image and its labels (scenes: seed [seed, 0, i])."""
        if self.records is not None:
            rec = self.records[i]
            img, t = load_photo(rec), Target.from_record(rec)
        else:
            from plateforge.synth.augment import augment, scene_pipeline

            rng = np.random.default_rng([self.spec.scenes.seed, 0, i])
            img, t = self.scenes.make(rng)
            img = augment(img, scene_pipeline(self.spec.scenes.augment), int(rng.integers(0, 2**31)))
        return (grey_copy(img) if self.spec.grey else img), t

    def __getitem__(self, i: int):
        img, t = self.labelled(i)
        square, lb = letterbox(img, self.size)
        return torch.from_numpy(square), t, lb, i


def worker_init(_worker_id: int) -> None:
    """DataLoader workers: one OpenCV / torch thread each (many workers × all-core thread pools thrash)."""
    cv2.setNumThreads(1)
    torch.set_num_threads(1)


def _padded(arrays: list[np.ndarray]) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-sample arrays (K_i, ...) → (B, max K_i (at least 1), ...) float, zero-padded, and the (B, max K_i)
    bool mask of real rows."""
    m = max(1, max(len(a) for a in arrays))
    out = torch.zeros(len(arrays), m, *arrays[0].shape[1:])
    valid = torch.zeros(len(arrays), m, dtype=torch.bool)
    for k, a in enumerate(arrays):
        out[k, : len(a)] = torch.from_numpy(a)
        valid[k, : len(a)] = True
    return out, valid


def collate_train(batch):
    """Stack images (B, S, S, 3) uint8 and pad labels to the batch's most plates: boxes (B, M, 4), corners
    (B, M, 4, 2), valid (B, M), has_corners (B, M); ignore regions padded the same way: (B, J, 4) xyxy and
    their valid mask (B, J)."""
    images = torch.stack([b[0] for b in batch])
    targets = [b[1] for b in batch]
    boxes, valid = _padded([t.boxes for t in targets])
    corners, _ = _padded([t.corners for t in targets])
    has = _padded([t.has_corners for t in targets])[0].bool()
    ignore, ignore_valid = _padded([t.ignore for t in targets])
    return images, boxes, corners, valid, has, ignore, ignore_valid


class ValMeta:
    """Targets, letterboxes and indices of a validation batch (a plain object: Lightning leaves it on the CPU)."""

    def __init__(self, targets: list[Target], letterboxes: list, indices: list[int]):
        self.targets, self.letterboxes, self.indices = targets, letterboxes, indices


def collate_val(batch):
    """Images stacked (B, S, S, 3) uint8, and a :class:`ValMeta`."""
    return torch.stack([b[0] for b in batch]), ValMeta(
        [b[1] for b in batch], [b[2] for b in batch], [b[3] for b in batch]
    )
