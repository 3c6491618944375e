"""Shared fixtures: small image datasets made on the fly, and the real sets when present."""

from __future__ import annotations

import os
from pathlib import Path

import cv2
import numpy as np
import pytest

os.environ.setdefault("PLATEFORGE_QUIET", "1")

REAL = Path(__file__).resolve().parents[2] / "shared" / "data" / "real"


def real_dir(name: str) -> Path:
    """Path of a real data set under ../shared/data/real, or skip the test saying why."""
    path = REAL / name
    if not path.is_dir():
        pytest.skip(f"real data set {name} not present at {path} (it lives in the shared folder beside the repo)")
    return path


def make_image(path: Path, width: int = 64, height: int = 48, seed: int = 0) -> Path:
    """Write a random-texture BGR image (distinct per seed) and return its path."""
    rng = np.random.default_rng(seed)
    img = cv2.resize(rng.integers(0, 256, (6, 8, 3), dtype=np.uint8), (width, height), interpolation=cv2.INTER_CUBIC)
    path.parent.mkdir(parents=True, exist_ok=True)
    assert cv2.imwrite(str(path), img)
    return path


@pytest.fixture
def voc_dir(tmp_path: Path) -> Path:
    """A VOC folder with 3 images: 1, 2 and 0 plates."""
    root = tmp_path / "voc"
    boxes = {"a": [(10, 10, 30, 20)], "b": [(1, 2, 20, 12), (30, 30, 60, 40)], "c": []}
    for i, (stem, bs) in enumerate(boxes.items()):
        make_image(root / "images" / f"{stem}.jpg", seed=i)
        objs = "".join(
            f"<object><name>licence</name><bndbox><xmin>{b[0]}</xmin><ymin>{b[1]}</ymin>"
            f"<xmax>{b[2]}</xmax><ymax>{b[3]}</ymax></bndbox></object>"
            for b in bs
        )
        (root / "annotations").mkdir(parents=True, exist_ok=True)
        (root / "annotations" / f"{stem}.xml").write_text(
            f"<annotation><filename>{stem}.jpg</filename><size><width>64</width><height>48</height>"
            f"<depth>3</depth></size>{objs}</annotation>"
        )
    return root


# the regions every synthetic video and scene of the tests drew before Saudi (session 47) and Omani (session 48)
# plates joined: tests whose expectations were set on those plates keep drawing them
REGIONS_BEFORE_SA = "br,ch,eu,gb,in,ru,uae,us"
