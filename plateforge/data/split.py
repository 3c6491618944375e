"""Near-duplicate grouping and reproducible, group-aware train/val splits.

Why hand-written: a 64-bit difference hash (dHash) is a few lines of OpenCV, and grouping needs
"all pairs within ``max_distance`` bits" over thousands to millions of images, which imagehash does not
offer. We find the pairs with multi-index hashing (split the hash into ``max_distance + 1`` bands: two
hashes at most ``max_distance`` bits apart agree exactly on at least one band, by the pigeonhole
principle), compare only within shared band values, and join pairs with a union-find.
"""

from __future__ import annotations

import hashlib
from collections import defaultdict
from dataclasses import replace
from pathlib import Path

import cv2
import numpy as np

from plateforge.data.manifest import ImageRecord, read_manifest, write_manifest
from plateforge.progress import progress

MAX_DISTANCE_LIMIT = 16  # beyond this, unrelated images start to match
DEFAULT_MAX_DISTANCE = 8  # catches re-encoded, resized, brightened and ~2%-cropped copies


def dhash(image: np.ndarray) -> int:
    """64-bit difference hash of a BGR or grayscale uint8 image (resized to 9×8, compares horizontal neighbours)."""
    gray = image if image.ndim == 2 else cv2.cvtColor(image[..., :3], cv2.COLOR_BGR2GRAY)
    small = cv2.resize(gray, (9, 8), interpolation=cv2.INTER_AREA).astype(np.int16)
    bits = (small[:, 1:] > small[:, :-1]).flatten()
    return int(np.packbits(bits).view(">u8")[0])


def dhash_file(path: str) -> int:
    """dHash of an image file (see :func:`dhash`); raises ValueError naming the file when it cannot be read."""
    img = cv2.imread(path, cv2.IMREAD_GRAYSCALE)
    if img is None:
        raise ValueError(f"{path}: not a readable image")
    return dhash(img)


def near_duplicate_groups(
    hashes: list[int], max_distance: int = DEFAULT_MAX_DISTANCE, links: list[tuple[int, int]] = ()
) -> list[int]:
    """Group ids (0..G-1, one per item) joining every pair of hashes within ``max_distance`` differing bits,
    and every pair of item indices in ``links`` (items known to belong together)."""
    if not 0 <= max_distance < MAX_DISTANCE_LIMIT:
        raise ValueError(f"max_distance must be in [0, {MAX_DISTANCE_LIMIT - 1}], got {max_distance}")
    parent = list(range(len(hashes)))

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    def union(a: int, b: int) -> None:
        ra, rb = find(a), find(b)
        if ra != rb:
            parent[max(ra, rb)] = min(ra, rb)

    arr = np.array(hashes, dtype=np.uint64)
    n_bands = max_distance + 1  # pigeonhole: hashes ≤ max_distance bits apart agree exactly on one band
    edges = [round(i * 64 / n_bands) for i in range(n_bands + 1)]
    for lo, hi in zip(edges[:-1], edges[1:], strict=True):
        mask = (1 << (hi - lo)) - 1
        buckets = defaultdict(list)
        for i, h in enumerate(hashes):
            buckets[(h >> lo) & mask].append(i)
        for members in buckets.values():
            if len(members) < 2:
                continue
            idx = np.array(members)
            x = arr[idx][:, None] ^ arr[idx][None, :]
            dist = np.unpackbits(x.view(np.uint8), axis=-1).reshape(len(idx), len(idx), 64).sum(-1)
            for a, b in zip(*np.nonzero(np.triu(dist <= max_distance, 1)), strict=True):
                union(int(idx[a]), int(idx[b]))
    for a, b in links:
        union(a, b)
    roots = [find(i) for i in range(len(hashes))]
    ids = {r: n for n, r in enumerate(dict.fromkeys(roots))}
    return [ids[r] for r in roots]


def group_records(
    records: list[ImageRecord], max_distance: int = DEFAULT_MAX_DISTANCE, by_plate: bool = False
) -> list[ImageRecord]:
    """Return the records with ``group`` set so that near-duplicates share one, as do records that already
    shared a group name (one video, one source scene), and with ``by_plate`` records that show the same plate
    text (one car seen on many days: crops a site harvested; texts with a masked ``?`` are left out of this).

    The new name is ``dup-<dHash>`` of the group's smallest hash: stable across machines and runs.
    """
    hashes = [dhash_file(r.image) for r in progress(records, "hashing images")]
    first_of: dict[str, int] = {}
    links = []
    for i, r in enumerate(records):
        if r.group is not None:
            links.append((first_of.setdefault(r.group, i), i))
        if by_plate:
            for p in r.plates or ():
                if p.text and "?" not in p.text:
                    links.append((first_of.setdefault(f"plate:{p.text}", i), i))
    ids = near_duplicate_groups(hashes, max_distance, links)
    smallest: dict[int, int] = {}
    for g, h in zip(ids, hashes, strict=True):
        smallest[g] = min(h, smallest.get(g, h))
    return [replace(r, group=f"dup-{smallest[g]:016x}") for r, g in zip(records, ids, strict=True)]


def split_records(
    records: list[ImageRecord],
    val: float = 0.2,
    seed: int = 0,
    max_distance: int = DEFAULT_MAX_DISTANCE,
    by_plate: bool = False,
) -> tuple[list[ImageRecord], list[ImageRecord]]:
    """Split into (train, val) so that no near-duplicate group (with ``by_plate``, no plate text either) has
    members in both.

    Groups are ordered by a seeded hash of their content-based name and given to val until it holds
    ``val`` × N images; the same data and seed give the same split on any machine.
    """
    if not 0.0 < val < 1.0:
        raise ValueError(f"val fraction must be between 0 and 1, got {val}")
    grouped = group_records(records, max_distance, by_plate)
    members: dict[str, list[ImageRecord]] = defaultdict(list)
    for r in grouped:
        members[r.group].append(r)
    order = sorted(members, key=lambda g: hashlib.sha256(f"{seed}:{g}:{_names(members[g])}".encode()).hexdigest())
    target = val * len(records)
    train, valid = [], []
    for g in order:
        (valid if len(valid) < target else train).extend(members[g])
    return train, valid


def _names(records: list[ImageRecord]) -> str:
    return ",".join(sorted(Path(r.image).name for r in records))


def split_manifest(
    manifest: str | Path,
    out: str | Path,
    val: float = 0.2,
    seed: int = 0,
    max_distance: int = DEFAULT_MAX_DISTANCE,
    overwrite: bool = False,
    by_plate: bool = False,
) -> dict:
    """Split a manifest into ``out/train.jsonl`` and ``out/val.jsonl`` (see :func:`split_records`).

    Returns a summary: image and group counts per split, the largest group's size, and how many plate texts
    appear in both splits (0 with ``by_plate``).
    """
    records = read_manifest(manifest)
    train, valid = split_records(records, val, seed, max_distance, by_plate)
    out = Path(out)
    write_manifest(train, out / "train.jsonl", overwrite)
    write_manifest(valid, out / "val.jsonl", overwrite)
    sizes = defaultdict(int)
    for r in train + valid:
        sizes[r.group] += 1
    return {
        "images": len(records),
        "groups": len(sizes),
        "largest_group": max(sizes.values(), default=0),
        "train": {"images": len(train), "groups": len({r.group for r in train})},
        "val": {"images": len(valid), "groups": len({r.group for r in valid})},
        "plates_in_both": len(_texts(train) & _texts(valid)),
    }


def _texts(records: list[ImageRecord]) -> set[str]:
    return {p.text for r in records for p in r.plates or () if p.text and "?" not in p.text}
