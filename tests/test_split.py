"""Near-duplicate groups never straddle train and val; splits are reproducible."""

import cv2
import numpy as np
import pytest

from plateforge.data import ImageRecord, PlateLabel, load_dataset, read_manifest, write_manifest
from plateforge.data.split import DEFAULT_MAX_DISTANCE, dhash, near_duplicate_groups, split_manifest, split_records
from tests.conftest import make_image, real_dir


def test_near_duplicate_groups_by_hamming_distance():
    a = 0xFFFF_0000_FFFF_0000
    # bits from a: 0, 3, 2, 64, 8 (and 11 / 10 from the 2nd / 3rd, so the last one joins nobody at 6)
    hashes = [a, a ^ 0b111, a ^ (1 << 40) ^ (1 << 3), ~a & (2**64 - 1), a ^ 0xFF00]
    assert near_duplicate_groups(hashes, max_distance=6) == [0, 0, 0, 1, 2]
    assert near_duplicate_groups(hashes, max_distance=0) == [0, 1, 2, 3, 4]
    assert near_duplicate_groups(hashes, 6, links=[(3, 4)]) == [0, 0, 0, 1, 1]
    with pytest.raises(ValueError, match="max_distance"):
        near_duplicate_groups(hashes, max_distance=16)


def _variants(img):
    """Copies a dataset full of duplicates holds: re-encoded, resized, brightened, slightly cropped."""
    h, w = img.shape[:2]
    jpeg = cv2.imdecode(cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_QUALITY, 60])[1], cv2.IMREAD_COLOR)
    return [
        jpeg,
        cv2.resize(img, (w * 3 // 4, h * 3 // 4), interpolation=cv2.INTER_AREA),
        cv2.convertScaleAbs(img, alpha=1.0, beta=25),
        img[h // 50 : h - h // 50, w // 50 : w - w // 50],
    ]


def test_dhash_is_stable_under_reencoding_and_resizing(tmp_path):
    img = cv2.imread(str(make_image(tmp_path / "x.png", 320, 240)))
    for v in _variants(img):
        assert bin(dhash(img) ^ dhash(v)).count("1") <= DEFAULT_MAX_DISTANCE


def test_car_plates_cc0_split_never_leaks_a_duplicate_group(tmp_path):
    """The shared copy is already de-duplicated (297 distinct photos), so we add the near-duplicates such a
    scraped set holds (re-encoded, resized, brightened, cropped copies of 30 photos) and check none leaks."""
    records = load_dataset(real_dir("car-plates-cc0"), "voc")
    dup_dir = tmp_path / "dups"
    dup_dir.mkdir()
    added = []
    for r in records[:30]:
        for k, v in enumerate(_variants(cv2.imread(r.image))):
            path = dup_dir / f"{k}_{r.image.rsplit('/', 1)[1]}"
            cv2.imwrite(str(path), v)
            added.append(ImageRecord(str(path), v.shape[1], v.shape[0], ()))
    write_manifest(records + added, tmp_path / "all.jsonl")
    for seed in (0, 1, 2):
        summary = split_manifest(tmp_path / "all.jsonl", tmp_path / f"s{seed}", val=0.2, seed=seed)
        train = read_manifest(tmp_path / f"s{seed}" / "train.jsonl")
        val = read_manifest(tmp_path / f"s{seed}" / "val.jsonl")
        assert {r.group for r in train}.isdisjoint({r.group for r in val})
        assert summary["groups"] == 297  # every copy joined its original; no two distinct photos joined
        assert summary["largest_group"] == 5
        assert abs(len(val) / (len(train) + len(val)) - 0.2) < 0.03
        stem = {}
        for r in train + val:
            stem.setdefault(r.image.rsplit("/", 1)[1].split("_")[-1], set()).add(r.group)
        assert all(len(groups) == 1 for groups in stem.values())


def test_split_is_reproducible_and_respects_given_groups(tmp_path):
    records = []
    for i in range(40):
        path = make_image(tmp_path / f"{i}.png", 96, 64, seed=i)
        records.append(ImageRecord(str(path), 96, 64, (PlateLabel((1, 1, 9, 5)),), group=f"video{i // 8}"))
    a = split_records(records, 0.25, seed=3)
    b = split_records(list(reversed(records)), 0.25, seed=3)
    assert sorted(r.image for r in a[1]) == sorted(r.image for r in b[1])
    val_videos = {r.image for r in a[1]}
    for v in range(5):
        members = {r.image for r in records if r.group == f"video{v}"}
        assert members <= val_videos or members.isdisjoint(val_videos)
    assert len(a[1]) in (8, 16)
    with pytest.raises(ValueError, match="between 0 and 1"):
        split_records(records, 1.5)


def test_split_by_plate_keeps_one_car_on_one_side(tmp_path):
    """Crops a site harvested: 30 cars, each seen on 3 days (different images). By images alone a car's crops
    land on both sides; --by-plate keeps them together. Masked texts (?) do not group."""
    records = []
    for i in range(90):
        path = make_image(tmp_path / f"{i}.png", 96, 64, seed=i)
        text = f"A{1000 + i % 30}" if i < 88 else "A1?00"
        records.append(ImageRecord(str(path), 96, 64, (PlateLabel((0, 0, 96, 64), None, text, "uae-dubai"),)))
    write_manifest(records, tmp_path / "site.jsonl")
    loose = split_manifest(tmp_path / "site.jsonl", tmp_path / "a", 0.2, seed=1)
    tight = split_manifest(tmp_path / "site.jsonl", tmp_path / "b", 0.2, seed=1, by_plate=True)
    assert loose["plates_in_both"] > 0 and tight["plates_in_both"] == 0
    assert tight["groups"] == 30 + 2  # 30 cars, and the two masked crops each on its own
    train, val = (read_manifest(tmp_path / "b" / f"{k}.jsonl") for k in ("train", "val"))
    assert {r.plates[0].text for r in train}.isdisjoint({r.plates[0].text for r in val} - {"A1?00"})


def test_dhash_handles_gray_and_bgra():
    img = np.random.default_rng(0).integers(0, 255, (30, 40, 3), dtype=np.uint8)
    gray = cv2.cvtColor(img, cv2.COLOR_BGR2GRAY)
    bgra = cv2.cvtColor(img, cv2.COLOR_BGR2BGRA)
    assert dhash(img) == dhash(gray) == dhash(bgra)
