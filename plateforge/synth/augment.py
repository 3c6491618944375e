"""Augmentation presets (albumentations) for plate crops and scenes, and the letterbox resize.

Presets are named ``none``, ``light``, ``medium``, ``heavy``. Crop presets may move pixels (the text label
does not change); scene presets are photometric plus weather, so boxes and corners stay exact, and the
letterbox moves corners with the image (albumentations keypoints). Results are fixed by the seed given
per call. albumentations is imported only when a preset is used (it is part of the ``[train]`` and
``[synth]`` extras, not of the edge runtime).
"""

from __future__ import annotations

import os
from functools import cache

import numpy as np

# albumentations checks PyPI for a newer version on import: a network call per process (and a stall when
# offline, on every DataLoader worker); plateforge pins its version instead
os.environ.setdefault("NO_ALBUMENTATIONS_UPDATE", "1")

PRESETS = ("none", "light", "medium", "heavy")


def _photometric(level: int) -> list:
    import albumentations as A

    s = (0.0, 0.5, 1.0, 1.5)[level]
    return [
        A.ColorJitter(brightness=0.3 * s, contrast=0.3 * s, saturation=0.3 * s, hue=0.03 * s, p=0.8),
        A.MotionBlur(blur_limit=(3, 3 + 2 * level), p=0.15 * level),
        A.GaussNoise(std_range=(0.01, 0.03 * level), p=0.2 * level),
        A.ISONoise(p=0.1 * level),
        A.Downscale(scale_range=(max(0.25, 0.8 - 0.2 * level), 0.9), p=0.15 * level),
        A.ImageCompression(quality_range=(max(20, 90 - 25 * level), 95), p=0.2 * level),
    ]


def _weather(level: int, fog: bool = True) -> list:
    import albumentations as A

    out = [
        A.RandomShadow(shadow_roi=(0, 0, 1, 1), p=0.05 * level),
        A.RandomRain(rain_type="drizzle", p=0.03 * level),
    ]
    if fog:  # RandomFog costs ~0.4 s on a 640x480 scene (thousands of blended circles): crops only
        out.insert(1, A.RandomFog(fog_coef_range=(0.1, 0.2 + 0.1 * level), p=0.03 * level))
    return out


@cache
def crop_pipeline(preset: str):
    """An albumentations Compose for recognizer crops (geometric jitter, photometric, cut-outs, weather)."""
    import albumentations as A

    level = _level(preset)
    if level == 0:
        return None
    geometric = [
        # fit_output: the whole plate stays in the crop, so no character leaves the picture (labels stay true)
        A.Perspective(scale=(0.01, 0.02 + 0.015 * level), fit_output=True, p=0.3 * level),
        A.Affine(
            rotate=(-2 * level, 2 * level),
            shear=(-4 * level, 4 * level),
            scale=(0.92, 1.0),
            fit_output=True,
            p=0.3 * level,
        ),
    ]
    dropout = [
        A.CoarseDropout(
            num_holes_range=(1, level), hole_height_range=(0.1, 0.3), hole_width_range=(0.02, 0.06), p=0.05 * level
        )
    ]
    return A.Compose(
        geometric + _photometric(level) + _weather(level) + dropout,
        keypoint_params=A.KeypointParams(format="xy", remove_invisible=False),
    )


@cache
def scene_pipeline(preset: str):
    """An albumentations Compose for scenes: photometric and weather only (labels stay exact)."""
    import albumentations as A

    level = _level(preset)
    if level == 0:
        return None
    return A.Compose(_photometric(level) + _weather(level, fog=False))


def _level(preset: str) -> int:
    if preset not in PRESETS:
        raise ValueError(f"unknown augmentation preset {preset!r}; choose one of {', '.join(PRESETS)}")
    return PRESETS.index(preset)


def augment(image: np.ndarray, pipeline, seed: int) -> np.ndarray:
    """Apply ``pipeline`` (or nothing when None) to a BGR uint8 image, reproducibly for ``seed``."""
    if pipeline is None:
        return image
    pipeline.set_random_seed(seed)
    return pipeline(image=image)["image"]


def augment_with_points(image: np.ndarray, points: np.ndarray, pipeline, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Like :func:`augment` for a pipeline with keypoints: ``points`` (N × 2, x y pixels) move with the image."""
    if pipeline is None:
        return image, points
    pipeline.set_random_seed(seed)
    out = pipeline(image=image, keypoints=[tuple(p) for p in points.reshape(-1, 2)])
    return out["image"], np.asarray(out["keypoints"], np.float32).reshape(-1, 2)


def letterbox(image: np.ndarray, points: np.ndarray, size: int, fill: int = 114) -> tuple[np.ndarray, np.ndarray]:
    """Resize the longest side to ``size`` and pad to ``size`` × ``size`` (centred, grey ``fill``).

    ``points`` (N × 2, x y pixels) are mapped into the letterboxed image; returns (image, points).
    """
    pipe = _letterbox_pipeline(size, fill)
    out = pipe(image=image, keypoints=[tuple(p) for p in points.reshape(-1, 2)])
    return out["image"], np.asarray(out["keypoints"], np.float32).reshape(-1, 2)


@cache
def _letterbox_pipeline(size: int, fill: int):
    import albumentations as A
    import cv2

    return A.Compose(
        [
            A.LongestMaxSize(max_size=size, interpolation=cv2.INTER_LINEAR),
            A.PadIfNeeded(
                min_height=size, min_width=size, position="center", border_mode=cv2.BORDER_CONSTANT, fill=fill
            ),
        ],
        keypoint_params=A.KeypointParams(format="xy", remove_invisible=False),
    )
