"""Model registry: architectures are built by name (``create_model("slotnet_s", ...)``).

Builders register themselves with :func:`register` in the module that defines them; :func:`create_model`
imports the known model modules explicitly (no ``import *`` side effects).
"""

from __future__ import annotations

import importlib
from collections.abc import Callable

_BUILDERS: dict[str, Callable] = {}
_MODULES = (
    "plateforge.train.recognizer_model",
    "plateforge.train.detector_model",
    "plateforge.train.corner_model",
)


def register(name: str) -> Callable[[Callable], Callable]:
    """Decorator: make a model builder available to :func:`create_model` under ``name``."""

    def wrap(fn: Callable) -> Callable:
        if name in _BUILDERS:
            raise ValueError(f"model {name!r} is registered twice")
        _BUILDERS[name] = fn
        return fn

    return wrap


def _load() -> None:
    for mod in _MODULES:
        try:
            importlib.import_module(mod)
        except ModuleNotFoundError as e:
            if e.name != mod:
                raise


def list_models() -> list[str]:
    """Names of all registered architectures."""
    _load()
    return sorted(_BUILDERS)


def check_model_name(name: str, config=None) -> None:
    """Raise ValueError when ``name`` is no registered architecture, listing those that are; with ``config`` (a
    config file) the message names it, as the training commands check a config as it loads, before any
    training data is made."""
    _load()
    if name not in _BUILDERS:
        what = (
            f"unknown model {name!r}" if config is None else f"{config}: model.name {name!r} is not a registered model"
        )
        raise ValueError(f"{what}; registered: {', '.join(sorted(_BUILDERS))}")


def create_model(name: str, **kwargs):
    """Build a registered architecture by name; ``kwargs`` go to its builder."""
    check_model_name(name)
    return _BUILDERS[name](**kwargs)
