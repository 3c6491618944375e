"""Synthetic data speed on one core: scenes/s (640x480) and crops/s, with and without writing files.

Run: python benchmarks/synth_speed.py [--n-scenes 300] [--n-crops 2000] [--augment none]
Targets (issue 3): >= 150 scenes/s and >= 1,000 crops/s per core.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np

from plateforge.specs import select_regions
from plateforge.synth.augment import augment, augment_with_points, crop_pipeline, scene_pipeline
from plateforge.synth.crops import make_crop
from plateforge.synth.generate import SynthJob, run_job
from plateforge.synth.scene import Backgrounds, SceneOptions, compose_scene


def rate(fn, n: int) -> float:
    fn(0)  # warm caches (glyphs, fonts, pipelines)
    t = time.perf_counter()
    for i in range(1, n + 1):
        fn(i)
    return n / (time.perf_counter() - t)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--n-scenes", type=int, default=300)
    ap.add_argument("--n-crops", type=int, default=2000)
    ap.add_argument("--augment", default="none", help="preset for the in-memory runs: none, light, medium, heavy")
    args = ap.parse_args()
    specs = select_regions(None)
    opts = SceneOptions()
    bg = Backgrounds(opts.width, opts.height)
    spipe, cpipe = scene_pipeline(args.augment), crop_pipeline(args.augment)

    def scene(i: int) -> None:
        s = compose_scene(specs, np.random.default_rng([0, i]), opts, bg)
        augment(s.image, spipe, i)

    def crop(i: int) -> None:
        rng = np.random.default_rng([0, i])
        img, label = make_crop(specs[i % len(specs)], rng)
        augment_with_points(img, np.array(label.corners, np.float32), cpipe, i)

    rows = [
        (f"scenes in memory, 640x480, augment={args.augment}", rate(scene, args.n_scenes)),
        (f"crops in memory, augment={args.augment}", rate(crop, args.n_crops)),
    ]
    with tempfile.TemporaryDirectory() as tmp:
        for kind, n in (("scenes", args.n_scenes), ("crops", args.n_crops)):
            t = time.perf_counter()
            run_job(SynthJob(kind, Path(tmp) / kind, n, augment="none"), workers=1)
            rows.append((f"{kind} written to disk (JPEG q92 + manifest), one process", n / (time.perf_counter() - t)))
    print(f"{'what':64s} {'items/s per core':>16s}")
    for what, r in rows:
        print(f"{what:64s} {r:16.0f}")


if __name__ == "__main__":
    main()
