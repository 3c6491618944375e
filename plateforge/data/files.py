"""File helpers shared by exporters: output folders that refuse to overwrite, unique names, image placement."""

from __future__ import annotations

import hashlib
import os
import shutil
from collections.abc import Iterable
from pathlib import Path


def prepare_out_dir(path: str | os.PathLike, overwrite: bool) -> Path:
    """Create ``path``; refuse (FileExistsError) if it exists and is not empty, unless ``overwrite``.

    With ``overwrite`` the folder is emptied first, so no stale file from an earlier run survives.
    """
    path = Path(path)
    if path.exists() and any(path.iterdir()):
        if not overwrite:
            raise FileExistsError(f"{path} exists and is not empty; pass --overwrite to replace it")
        shutil.rmtree(path)
    path.mkdir(parents=True, exist_ok=True)
    return path


def unique_names(paths: Iterable[str]) -> dict[str, str]:
    """Map each image path to a file name unique within the set: its base name, or ``stem_<hash8>.ext`` when
    two images share a stem (``a.jpg`` and ``a.png`` would share the label file ``a.txt``)."""
    paths = list(dict.fromkeys(paths))
    counts: dict[str, int] = {}
    for p in paths:
        key = Path(p).stem.lower()
        counts[key] = counts.get(key, 0) + 1
    out = {}
    for p in paths:
        name = Path(p).name
        if counts[Path(p).stem.lower()] > 1:
            digest = hashlib.sha1(str(Path(p).resolve()).encode()).hexdigest()[:8]
            name = f"{Path(p).stem}_{digest}{Path(p).suffix}"
        out[p] = name
    return out


def place_image(src: str | os.PathLike, dst: str | os.PathLike) -> None:
    """Put a copy of ``src`` at ``dst``: a hard link where the file system allows, else a byte copy."""
    dst = Path(dst)
    dst.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.link(src, dst)
    except OSError:
        shutil.copyfile(src, dst)
