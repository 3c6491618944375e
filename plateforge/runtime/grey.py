"""Monochrome frames (infrared and grey cameras) and the grey-trained networks that read them.

Most gate and car-park cameras film in infrared at night, and some in grey all day. The bundled detector and
recognizer were trained on colour images only: on synthetic scenes turned grey the reader read 54.8 % of
plates exactly against 88.3 % in colour (docs/read.md, "Monochrome and infrared cameras"). Grey-trained
copies of both and of the corner model ship beside them (``detector_grey*.onnx``, ``recognizer_grey.onnx``,
``corners_grey.onnx``), and a frame whose pixels
carry no colour is read with those instead, so colour frames are read exactly as before.

``GREY_FRAME`` says whether the frame being read is monochrome: :class:`~plateforge.runtime.alpr.ALPR` sets it
for each image (:func:`frame_colour`), and the recognizer, which sees crops only, follows it. Unset (None), a
detector or corner model looks at the image itself.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

import cv2
import numpy as np

GREY_FRAME: ContextVar[bool | None] = ContextVar("plateforge_grey_frame", default=None)
SPREAD = 2  # grey levels a channel difference may stray from the frame's own and count as no colour (codec
# rounding; a dark colour photo has about a third of its pixels further off, a grey JPEG none)
COLOURED_SHARE = 0.02  # a frame with fewer sampled pixels than this share coloured is grey
SAMPLES = 16000  # pixels looked at, about: every 8th row and column of a 720p frame, every 11th of a 1080p one


def grey_copy(image: np.ndarray) -> np.ndarray:
    """A BGR uint8 image as a monochrome or infrared camera would give it: its luma in all three channels."""
    return cv2.cvtColor(cv2.cvtColor(image, cv2.COLOR_BGR2GRAY), cv2.COLOR_GRAY2BGR)


def is_monochrome(image: np.ndarray) -> bool:
    """Whether a BGR uint8 image (or a one-channel one) carries no colour: of about ``SAMPLES`` pixels on a
    grid, fewer than 2 % have a channel difference (B − G or G − R) more than ``SPREAD`` grey levels
    from the frame's most common one. That takes out a constant offset between channels, which video
    decoders leave in grey frames (OpenCV's MPEG-4 decoding puts every pixel 3 levels apart). ~0.2 ms for a
    1080p frame."""
    if image.ndim < 3 or image.shape[2] == 1:
        return True
    step = max(4, int((image.shape[0] * image.shape[1] / SAMPLES) ** 0.5))
    s = image[::step, ::step, :3].astype(np.int16)
    for a, b in ((0, 1), (1, 2)):
        d = (s[..., a] - s[..., b]).ravel()
        usual = int(np.bincount(d + 255, minlength=511).argmax()) - 255  # the frame's own offset
        if np.count_nonzero(np.abs(d - usual) > SPREAD) >= COLOURED_SHARE * d.size:
            return False
    return True


@contextmanager
def frame_colour(image: np.ndarray) -> Iterator[bool]:
    """Within the block, :data:`GREY_FRAME` says whether ``image`` is monochrome; yields that. Inside a block
    already open (the stream opens one per frame, and the reader one per image within it), the frame's
    answer stands and is not computed again."""
    known = GREY_FRAME.get()
    if known is not None:
        yield known
        return
    with known_frame(is_monochrome(image)) as grey:
        yield grey


@contextmanager
def known_frame(grey: bool) -> Iterator[bool]:
    """Within the block, :data:`GREY_FRAME` is ``grey`` (a frame whose colour is known without looking: warm-up
    runs, crops fitted for a grey network); yields it."""
    token = GREY_FRAME.set(grey)
    try:
        yield grey
    finally:
        GREY_FRAME.reset(token)


def grey_frame(image: np.ndarray) -> bool:
    """:data:`GREY_FRAME` when set, else whether ``image`` itself is monochrome."""
    grey = GREY_FRAME.get()
    return is_monochrome(image) if grey is None else grey
