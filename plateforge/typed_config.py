"""Typed YAML configs: a YAML mapping into a (nested) dataclass, with errors that name the file and the key.
Torch-free, so the runtime's configs (``plateforge stream``'s site file) and the training configs share it."""

from __future__ import annotations

import dataclasses
import types
import typing
from pathlib import Path

import yaml


def from_dict(cls, data: dict | None, where: str = "config"):
    """Build dataclass ``cls`` from a dict, recursing into nested dataclasses and lists of them.

    Unknown keys are errors (a typo must not be silently ignored); missing keys take the defaults.
    """
    data = data or {}
    if not isinstance(data, dict):
        raise ValueError(f"{where}: expected a mapping, got {type(data).__name__}")
    hints = typing.get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = set(data) - names
    if unknown:
        raise ValueError(f"{where}: unknown key(s) {sorted(unknown)}; allowed: {sorted(names)}")
    kwargs = {}
    for key, value in data.items():
        kwargs[key] = _convert(hints[key], value, f"{where}.{key}")
    try:
        return cls(**kwargs)
    except TypeError as e:  # a required key missing
        raise ValueError(f"{where}: {e}") from None


def _convert(tp, value, where: str):
    origin = typing.get_origin(tp)
    if dataclasses.is_dataclass(tp):
        return from_dict(tp, value, where)
    if origin in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        if value is None:
            return None
        dc = [a for a in args if dataclasses.is_dataclass(a)]
        if dc and isinstance(value, dict):
            return from_dict(dc[0], value, where)
        return _convert(args[0], value, where) if len(args) == 1 else value
    if origin is list:
        if value is not None and not isinstance(value, list):
            raise ValueError(f"{where}: expected a list, got {value!r} (write [{value}] for one item)")
        (item,) = typing.get_args(tp)
        return [_convert(item, v, f"{where}[{i}]") for i, v in enumerate(value or [])]
    return value


def load_config(cls, path: str | Path):
    """Read a YAML file into the typed config ``cls``; errors name the file and the key."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"config file not found: {path}")
    return from_dict(cls, yaml.safe_load(path.read_text(encoding="utf-8")), str(path))
