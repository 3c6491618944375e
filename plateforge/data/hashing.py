"""Content hash of a dataset, recorded in training checkpoints to say exactly what a model saw."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from plateforge.data.manifest import ImageRecord
from plateforge.progress import progress


def file_sha256(path: str | Path, chunk: int = 1 << 20) -> str:
    """Hex SHA-256 of a file's bytes."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()


def dataset_hash(records: list[ImageRecord]) -> str:
    """Hex SHA-256 over every image's bytes and its labels, independent of paths and record order.

    Moving or renaming the files keeps the hash; changing one pixel or one label changes it.
    """
    digests = []
    for r in progress(records, "hashing dataset"):
        labels = None if r.plates is None else [p.to_dict() for p in r.plates]
        doc = json.dumps([file_sha256(r.image), r.width, r.height, labels], sort_keys=True)
        digests.append(hashlib.sha256(doc.encode()).hexdigest())
    return hashlib.sha256("\n".join(sorted(digests)).encode()).hexdigest()
