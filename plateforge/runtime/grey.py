"""Monochrome frames (infrared and grey cameras) and the grey-trained networks that read them.

Most gate and car-park cameras film in infrared at night, and some in grey all day. The bundled detector and
recognizer were trained on colour images only: on synthetic scenes turned grey the reader read 51.9 % of
plates exactly against 88.9 % in colour (docs/read.md, "Monochrome and infrared cameras"). Grey-trained
copies of both ship beside them (``detector_grey*.onnx``, ``recognizer_grey.onnx``), and a frame whose pixels
carry no colour is read with those instead, so colour frames are read exactly as before.

``GREY_FRAME`` says whether the frame being read is monochrome: :class:`~plateforge.runtime.alpr.ALPR` sets it
for each image (:func:`frame_colour`), and the recognizer, which sees crops only, follows it. Unset (None), a
detector looks at the image itself.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

import cv2
import numpy as np

GREY_FRAME: ContextVar[bool | None] = ContextVar("plateforge_grey_frame", default=None)
SPREAD = 2  # grey levels between a pixel's channels that still count as no colour (codec rounding; a dark colour
# photo has a third of its pixels over 2, a grey JPEG none)
COLOURED_SHARE = 0.02  # a frame with fewer pixels than this share coloured (every 8th row and column) is grey


def is_monochrome(image: np.ndarray) -> bool:
    """Whether a BGR uint8 image (or a one-channel one) carries no colour: fewer than 2 % of its pixels,
    sampled every 8th row and column, have two channels more than ``SPREAD`` grey levels apart (~0.2 ms for
    a 1080p frame)."""
    if image.ndim < 3 or image.shape[2] == 1:
        return True
    b, g, r = cv2.split(np.ascontiguousarray(image[::8, ::8, :3]))
    spread = cv2.max(cv2.max(cv2.absdiff(b, g), cv2.absdiff(g, r)), cv2.absdiff(b, r))
    return bool(cv2.countNonZero(cv2.compare(spread, SPREAD, cv2.CMP_GT)) < COLOURED_SHARE * spread.size)


@contextmanager
def frame_colour(image: np.ndarray) -> Iterator[bool]:
    """Within the block, :data:`GREY_FRAME` says whether ``image`` is monochrome; yields that."""
    grey = is_monochrome(image)
    token = GREY_FRAME.set(grey)
    try:
        yield grey
    finally:
        GREY_FRAME.reset(token)


def grey_frame(image: np.ndarray) -> bool:
    """:data:`GREY_FRAME` when set, else whether ``image`` itself is monochrome."""
    grey = GREY_FRAME.get()
    return is_monochrome(image) if grey is None else grey
