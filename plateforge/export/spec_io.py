"""Reading and writing the plateforge spec in an ONNX file's metadata (key ``plateforge``)."""

from __future__ import annotations

from pathlib import Path

import onnx

from plateforge.runtime.spec import METADATA_KEY, ModelSpec


def read_spec_from_file(path: str | Path) -> ModelSpec:
    """The plateforge spec in an ONNX file's metadata; ValueError for a model without one."""
    return spec_of(onnx.load(str(path), load_external_data=False), path)


def spec_of(model: onnx.ModelProto, path: str | Path) -> ModelSpec:
    """The plateforge spec in a loaded model's metadata; ValueError naming ``path`` for a model without one."""
    meta = {p.key: p.value for p in model.metadata_props}
    if METADATA_KEY not in meta:
        raise ValueError(f"{path}: not a plateforge model (no '{METADATA_KEY}' metadata)")
    return ModelSpec.from_json(meta[METADATA_KEY])


def attach_spec(path: str | Path, spec: ModelSpec) -> None:
    """Write ``spec`` into the ONNX file's metadata (replacing what was there), in place."""
    model = onnx.load(str(path))
    set_spec(model, spec)
    onnx.save(model, str(path))


def set_spec(model: onnx.ModelProto, spec: ModelSpec) -> None:
    """Put ``spec`` in a loaded model's metadata (replacing what was there)."""
    del model.metadata_props[:]
    entry = model.metadata_props.add()
    entry.key, entry.value = METADATA_KEY, spec.to_json()
    model.producer_name = "plateforge"
