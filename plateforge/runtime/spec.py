"""The self-description every exported plateforge model carries in its ONNX metadata (key ``plateforge``).

One typed class serves export (writes it), the runtime (reads it) and training (builds it from the config),
so a model and its preprocessing cannot drift apart.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field

METADATA_KEY = "plateforge"
SPEC_VERSION = 1


@dataclass(frozen=True)
class ModelSpec:
    """``task``: ``recognizer`` | ``detector`` | ``corners``. Input is ``input_layout`` (``NHWC``) uint8 in
    ``color`` order (``BGR``), ``height`` × ``width`` pixels; scaling and normalisation are inside the graph.

    Recognizer: ``alphabet`` (pad index = len(alphabet)), ``slots``, ``regions`` (region head classes).
    Detector: ``strides``, ``corner_order`` (TL, TR, BR, BL), ``letterbox_fill``.
    """

    task: str
    architecture: str
    height: int
    width: int
    color: str = "BGR"
    input_layout: str = "NHWC"
    input_dtype: str = "uint8"
    resize: str = "stretch"  # recognizer: stretch to height x width; detector: letterbox
    alphabet: str = ""
    decoder: str = "slots"  # recognizer output: "slots" (B, K, A + 1; pad = A) or "ctc" (B, T, A + 1; blank = 0)
    slots: int = 0
    regions: tuple[str, ...] = ()
    corner_order: tuple[str, ...] = ("TL", "TR", "BR", "BL")
    strides: tuple[int, ...] = ()
    letterbox_fill: int = 114
    version: int = SPEC_VERSION
    extra: dict = field(default_factory=dict)

    def to_json(self) -> str:
        return json.dumps(asdict(self), sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> ModelSpec:
        d = json.loads(text)
        if d.get("version", 0) > SPEC_VERSION:
            raise ValueError(f"model spec version {d['version']} is newer than this plateforge ({SPEC_VERSION})")
        for key in ("regions", "corner_order", "strides"):
            if key in d:
                d[key] = tuple(d[key])
        known = set(cls.__dataclass_fields__)
        return cls(**{k: v for k, v in d.items() if k in known})
