"""Recognizer training data: synthetic crops (rendered once, cached as arrays) mixed with real crops.

Every sample is a (height, width, 3) uint8 BGR image at the model's input size, its slot targets (masked
``?`` characters ignored) and its region index (ignored when the region is not one the model knows).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
from pathlib import Path

import cv2
import numpy as np
import torch
from torch.utils.data import Dataset

from plateforge.data.plate_crops import PlateCrops
from plateforge.ops.slots import IGNORE, encode_text
from plateforge.progress import progress
from plateforge.runtime.grey import grey_copy

SYNTH_CACHE_VERSION = 2  # bump when the renderer changes what a seed produces


@dataclasses.dataclass
class SynthSource:
    """``n`` synthetic crops from ``seed``, of ``regions`` (selector; None = all), with an ``augment`` preset;
    ``lowres``: the share of training accesses that see the crop shrunk first (see :func:`shrink_crop`);
    ``free_text``: the share of plates printed with random letters and digits (``CropOptions.free_text``)."""

    n: int = 50000
    seed: int = 1
    regions: str | None = None
    augment: str = "medium"
    lowres: float = 0.0
    free_text: float = 0.0


@dataclasses.dataclass
class RealSource:
    """Real crops from a manifest (``subset`` keeps only records whose meta subset matches); each is used
    ``repeat`` times per epoch, with fresh augmentation each time (``augment``: a preset name, or None for the
    dataset's ``real_augment``). ``margin``: border kept around plates with corners when they are rectified,
    as a fraction of the plate height (0.075 is what the reader keeps: use it for crops cut from scenes).
    ``lowres``: the share of accesses that see the crop shrunk first (see :func:`shrink_crop`)."""

    manifest: str
    subset: str | None = None
    repeat: int = 1
    augment: str | None = None
    margin: float = 0.0
    lowres: float = 0.0


@dataclasses.dataclass
class ValSet:
    """A validation set: a manifest (+ subset, rectified with ``margin`` as in :class:`RealSource`) or
    synthetic crops."""

    name: str
    manifest: str | None = None
    subset: str | None = None
    synth: SynthSource | None = None
    margin: float = 0.0


_worker: dict = {}


def _init_worker(src: SynthSource, height: int, width: int) -> None:
    from plateforge.specs import select_regions

    _worker.update(src=src, size=(width, height), specs=select_regions(src.regions))


def _render(i: int):
    from plateforge.synth.augment import augment, crop_pipeline
    from plateforge.synth.crops import CropOptions, make_crop

    src: SynthSource = _worker["src"]
    rng = np.random.default_rng([src.seed, i])
    specs = _worker["specs"]
    img, label = make_crop(specs[int(rng.integers(0, len(specs)))], rng, CropOptions(free_text=src.free_text))
    img = augment(img, crop_pipeline(src.augment), int(rng.integers(0, 2**31)))
    img = cv2.resize(img, _worker["size"], interpolation=cv2.INTER_AREA)
    return img, label.text, label.region, label.layout


def synth_arrays(
    src: SynthSource, height: int, width: int, cache_dir: str | Path | None = None, workers: int | None = None
) -> PlateCrops:
    """Render ``src.n`` crops at the model size (all cores), cached in ``cache_dir`` by their settings and by the
    plate specs and fonts they were drawn from (editing a region's YAML renders them anew)."""
    from plateforge.specs import specs_fingerprint

    settings = {k: v for k, v in dataclasses.asdict(src).items() if k != "lowres"}  # lowres acts per access
    if not settings["free_text"]:
        del settings["free_text"]  # the key of sets made before free text existed stays the same
    key = json.dumps([settings, height, width, SYNTH_CACHE_VERSION, specs_fingerprint()], sort_keys=True)
    path = Path(cache_dir) / f"synth_{hashlib.sha1(key.encode()).hexdigest()[:12]}.npz" if cache_dir else None
    if path is not None and path.is_file():
        z = np.load(path, allow_pickle=False)
        meta = json.loads(str(z["meta"]))
        return PlateCrops(z["images"], meta["texts"], meta["regions"], meta["layouts"])
    workers = workers or os.cpu_count() or 1
    from plateforge.synth.generate import pool_context

    with pool_context().Pool(workers, initializer=_init_worker, initargs=(src, height, width)) as pool:
        items = list(progress(pool.imap(_render, range(src.n), chunksize=256), "rendering synthetic crops", src.n))
    arrays = PlateCrops(
        np.stack([x[0] for x in items]), [x[1] for x in items], [x[2] for x in items], [x[3] for x in items]
    )
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        meta = json.dumps({"texts": arrays.texts, "regions": arrays.regions, "layouts": arrays.layouts})
        tmp = path.with_suffix(".tmp.npz")
        np.savez(tmp, images=arrays.images, meta=np.array(meta))
        tmp.replace(path)
    return arrays


LOWRES_HEIGHT = (9.0, 24.0)  # px: crop heights a shrunk crop is drawn at (a distant plate in a whole frame)


def shrink_crop(img: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A crop as a distant plate looks once stretched back to the model size: area-shrunk to a height drawn
    uniformly from :data:`LOWRES_HEIGHT` (width kept in proportion), JPEG-compressed at quality 40-90 half of
    the time (frames arrive compressed), then bilinearly resized back to ``img``'s size. BGR uint8 in and out."""
    h, w = img.shape[:2]
    th = float(rng.uniform(*LOWRES_HEIGHT))
    if th >= h:
        return img
    small = cv2.resize(img, (max(2, round(w * th / h)), max(2, round(th))), interpolation=cv2.INTER_AREA)
    if rng.random() < 0.5:
        ok, enc = cv2.imencode(".jpg", small, [cv2.IMWRITE_JPEG_QUALITY, int(rng.integers(40, 91))])
        small = cv2.imdecode(enc, cv2.IMREAD_COLOR) if ok else small
    return cv2.resize(small, (w, h), interpolation=cv2.INTER_LINEAR)


class OcrDataset(Dataset):
    """Samples from several :class:`PlateCrops`; ``augment`` (an albumentations pipeline or None) runs per access;
    ``lowres``: the share of accesses that then see the crop through :func:`shrink_crop`; ``grey``: the share
    that see it in grey levels (its luma in all three channels), as a monochrome or infrared camera gives it."""

    def __init__(
        self,
        parts: list[tuple[PlateCrops, int]],
        alphabet: str,
        slots: int,
        regions: list[str],
        augment=None,
        seed: int = 0,
        lowres: float = 0.0,
        grey: float = 0.0,
    ):
        self.index = [(arrays, i) for arrays, repeat in parts for _ in range(repeat) for i in range(len(arrays))]
        self.alphabet, self.slots = alphabet, slots
        self.region_index = {r: k for k, r in enumerate(regions)}
        self.augment = augment
        self.seed = seed
        self.lowres, self.grey = lowres, grey
        self.calls = 0

    def __len__(self) -> int:
        return len(self.index)

    def __getitem__(self, k: int):
        arrays, i = self.index[k]
        img = arrays.images[i]
        if self.augment is not None:
            self.calls += 1
            self.augment.set_random_seed(self.seed * 1_000_003 + self.calls)
            out = self.augment(image=img)["image"]
            if out.shape != img.shape:
                out = cv2.resize(out, (img.shape[1], img.shape[0]), interpolation=cv2.INTER_AREA)
            img = out
        if self.lowres > 0:
            self.calls += 1
            rng = np.random.default_rng([self.seed, k, self.calls])
            if rng.random() < self.lowres:
                img = shrink_crop(img, rng)
        if self.grey > 0:
            self.calls += 1
            if np.random.default_rng([self.seed, k, self.calls, 7]).random() < self.grey:
                img = grey_copy(img)
        target = encode_text(arrays.texts[i], self.alphabet, self.slots)
        region = self.region_index.get(arrays.regions[i], IGNORE)
        return torch.from_numpy(np.ascontiguousarray(img)), torch.from_numpy(target), torch.tensor(region)
