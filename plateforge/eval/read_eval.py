"""End-to-end reader accuracy on synthetic scenes: every labelled plate counts; a plate is read right when a
result overlaps it (IoU ≥ 0.5) with exactly its text. Some scene plates have characters hidden by an occluder
(the generator knows which, :attr:`plateforge.synth.scene.Scene.hidden`); the report gives the strict exact
rate over all plates and, beside it, the rate with hidden characters ignored (each may be read as any one
character or none, as UC3M-LP's masked ones). Needs the ``[synth]`` extra."""

from __future__ import annotations

import bisect
import re
import time

import numpy as np

from plateforge.eval.det_metrics import match
from plateforge.ops.geometry import quad_size
from plateforge.progress import progress
from plateforge.runtime.grey import grey_copy


def scenes_with_texts(
    n: int,
    seed: int = 2024,
    width: int = 1280,
    height: int = 720,
    augment: str = "light",
    plates=(1, 3),
    occlusion: float = 0.15,
    regions: str | None = None,
    plate_height: tuple[float, float] = (16.0, 140.0),
):
    """``n`` synthetic scenes (``regions``, default every region): (BGR image, [PlateLabel], hidden) with
    texts, reproducible by seed; ``hidden`` gives per plate the indices of the characters an occluder hides;
    ``plates``: (least, most) plates per scene; ``occlusion``: share of plates with an occluder;
    ``plate_height``: (least, most) plate height in px, drawn log-uniformly."""
    from plateforge.specs import select_regions
    from plateforge.synth.augment import augment as apply
    from plateforge.synth.augment import scene_pipeline
    from plateforge.synth.scene import Backgrounds, SceneOptions, compose_scene

    specs = select_regions(regions)
    opts = SceneOptions(
        width=width, height=height, plate_height=tuple(plate_height), plates=tuple(plates), occlusion=occlusion
    )
    bg = Backgrounds(width, height, seed=seed)
    for i in range(n):
        rng = np.random.default_rng([seed, i])
        scene = compose_scene(specs, rng, opts, bg)
        image = apply(scene.image, scene_pipeline(augment), int(rng.integers(0, 2**31)))
        yield image, list(scene.plates), list(scene.hidden)


def results_on(plates, labels) -> list:
    """For each labelled plate (anything with an xyxy ``box``), the read result matched to it (IoU ≥ 0.5,
    one result per plate), or None when no result lies on it."""
    gt = np.array([p.box for p in labels], np.float32).reshape(-1, 4)
    boxes = np.array([p.box for p in plates], np.float32).reshape(-1, 4)
    pairs = {g: d for d, g in match(gt, boxes)}
    return [plates[pairs[g]] if g in pairs else None for g in range(len(labels))]


def texts_on(plates, labels) -> list[str | None]:
    """The texts of :func:`results_on` (None where no result lies on a labelled plate)."""
    return [None if p is None else p.text for p in results_on(plates, labels)]


HEIGHT_BINS = (24, 40, 64)  # px: plate height groups of the report (< 24, 24-40, 40-64, >= 64)
UC3M_HEIGHT_BINS = (8, 12, 16)  # px: the same for UC3M-LP's 320 x 240 scenes (box heights)
MAX_ERRORS = 40  # misreads listed in a report (the first ones)


def height_labels(bins: tuple[int, ...] = HEIGHT_BINS) -> list[str]:
    """The names of the height groups cut at ``bins`` (px), smallest first: ``height:0-24`` … ``height:64+``."""
    return [f"height:{lo}-{hi}" for lo, hi in zip((0, *bins), bins, strict=False)] + [f"height:{bins[-1]}+"]


def height_group(label, bins: tuple[int, ...] = HEIGHT_BINS) -> str:
    """The plate height group (px, edges ``bins``) of a labelled plate: its corners' mean left/right edge
    length, else its box's height."""
    h = quad_size(label.corners)[1] if label.corners is not None else label.box[3] - label.box[1]
    return height_labels(bins)[bisect.bisect_right(bins, h)]


def masked_text(text: str, hidden) -> str:
    """``text`` with the characters at the indices ``hidden`` replaced by ``?`` (see :func:`masked_match`)."""
    return "".join("?" if i in hidden else c for i, c in enumerate(text))


def evaluate_reader(
    alpr,
    scenes: int = 200,
    seed: int = 2024,
    width: int = 1280,
    height: int = 720,
    grey: bool = False,
    regions: str | None = None,
) -> dict:
    """Exact plate reads over all labelled plates of ``scenes`` synthetic ``width`` × ``height`` scenes
    (``exact``); the same with characters hidden by an occluder ignored (``visible_right``; ``partly_hidden``
    plates have such characters); both with plate counts per layout, region and plate height (px) in
    ``per_group``; detection recall and the median ms per image (``alpr.read`` only).

    When ``alpr`` has ``read_corners`` (:class:`~plateforge.runtime.alpr.ALPR` does), each plate is also read
    from its true corners (``true_corners_exact``, also per group) and each misread is put down to one stage
    in ``failures`` (:func:`failure_stage`): which model to improve first. ``grey``: each scene is turned
    grey first (its luma in all three channels), as a monochrome or infrared camera films it. ``regions``: the
    scenes' regions (a selector as :func:`~plateforge.specs.select_regions` takes; None: every region)."""
    total = right = found = visible_right = partly_hidden = right_at_corners = 0
    per: dict[str, list[int]] = {}
    failures = dict.fromkeys(FAILURE_STAGES, 0)
    times, errors = [], []
    read_at = getattr(alpr, "read_corners", None)
    for img, labels, hidden in progress(
        scenes_with_texts(scenes, seed, width, height, regions=regions), "reading scenes", total=scenes
    ):
        if grey:
            img = grey_copy(img)
        t = time.perf_counter()
        plates = alpr.read(img)
        times.append(time.perf_counter() - t)
        at_truth = [r.text for r in read_at(img, [p.corners for p in labels])] if read_at else [None] * len(labels)
        for label, text, gone, truth_read in zip(labels, texts_on(plates, labels), hidden, at_truth, strict=True):
            total += 1
            ok = text == label.text
            found += text is not None
            right += ok
            partly_hidden += bool(gone)
            seen = masked_match(text, masked_text(label.text, gone)) if gone and text is not None else ok
            visible_right += seen
            right_there = truth_read == label.text  # read right from its true corners
            right_at_corners += right_there
            for key in (f"layout:{label.layout}", f"region:{label.region}", height_group(label)):
                counts = per.setdefault(key, [0, 0, 0, 0])
                counts[0] += 1
                counts[1] += ok
                counts[2] += seen
                counts[3] += right_there
            if not ok:
                failures[failure_stage(text, seen, right_there)] += 1
                if len(errors) < MAX_ERRORS:
                    errors.append(
                        {
                            "truth": label.text,
                            "read": text,
                            "region": label.region,
                            "hidden": list(gone),
                            "at_true_corners": truth_read,
                        }
                    )
    n = max(1, total)
    return {
        "scenes": scenes,
        "plates": total,
        "exact": right / n,
        "visible_right": visible_right / n,
        "partly_hidden": partly_hidden,
        "detected": found / n,
        "true_corners_exact": right_at_corners / n if read_at else None,
        "failures": failures if read_at else None,
        "per_group": {
            k: {
                "plates": c[0],
                "exact": round(c[1] / c[0], 4),
                "visible_right": round(c[2] / c[0], 4),
                **({"true_corners_exact": round(c[3] / c[0], 4)} if read_at else {}),
            }
            for k, c in sorted(per.items())
        },
        "ms_per_image_p50": 1000 * float(np.median(times)),
        "errors": errors,
    }


FAILURE_STAGES = ("not_detected", "hidden_only", "localisation", "recognition")


def failure_stage(read: str | None, visible_right: bool, right_at_true_corners: bool) -> str:
    """The stage a misread plate is put down to (one of :data:`FAILURE_STAGES`): ``not_detected`` (no result
    on it), ``hidden_only`` (wrong only where an occluder hides characters), ``localisation`` (read right
    from its true corners, so the reader's corners cost it) or ``recognition`` (wrong from its true corners
    too)."""
    if read is None:
        return "not_detected"
    if visible_right:
        return "hidden_only"
    return "localisation" if right_at_true_corners else "recognition"


def masked_match(read: str, truth: str) -> bool:
    """Whether ``read`` shows every visible character of ``truth`` in place. UC3M-LP paints a grey block over
    each masked character (``?``) in the photo itself, so a reader may give any one character there or none:
    ``?`` matches zero or one character, every other character must match exactly."""
    pattern = "".join(".?" if c == "?" else re.escape(c) for c in truth)
    return re.fullmatch(pattern, read) is not None


def labelled_plates(record) -> list:
    """The plates of a manifest record that have a text to score (none when the record is unlabelled)."""
    return [p for p in record.plates or () if p.text]


def evaluate_labelled_reads(alpr, records, bins: tuple[int, ...] = HEIGHT_BINS, what: str = "photos") -> dict:
    """End to end on labelled photos (:class:`~plateforge.data.manifest.ImageRecord`, e.g. a manifest of your
    own): every plate with a text counts; it is right when a result overlaps its box (IoU ≥ 0.5) and shows its
    text, where a ``?`` in the label (a masked or unreadable character) matches any one character or none
    (:func:`masked_match`). ``right`` and ``detected`` are shares of those plates, also per plate height (px,
    cut at ``bins``) and per labelled region. An image that cannot be read counts its plates as missed and is
    listed in ``failed``."""
    right = found = total = 0
    errors, failed = [], []
    per: dict[str, list[int]] = {}
    for rec in progress(records, f"reading {what}"):
        labels = labelled_plates(rec)
        if not labels:
            continue
        try:
            texts = texts_on(alpr.read(rec.image), labels)
        except Exception as e:  # one bad photo must not end the evaluation
            texts = [None] * len(labels)
            failed.append({"image": rec.image, "error": str(e)})
        for label, text in zip(labels, texts, strict=True):
            ok = text is not None and masked_match(text, label.text)
            total += 1
            found += text is not None
            right += ok
            for key in (height_group(label, bins), f"region:{label.region or 'unknown'}"):
                group = per.setdefault(key, [0, 0])
                group[0] += ok
                group[1] += 1
            if not ok and len(errors) < MAX_ERRORS:
                errors.append({"image": rec.image, "truth": label.text, "read": text})
    n = max(1, total)
    order = [*height_labels(bins), *sorted(k for k in per if k.startswith("region:"))]
    return {
        "plates": total,
        "right": right / n,
        "detected": found / n,
        "per_group": {k: {"right": round(per[k][0] / per[k][1], 4), "plates": per[k][1]} for k in order if k in per},
        "errors": errors,
        "failed": failed,
    }


def evaluate_uc3m_scenes(alpr, root: str, split: str = "val", only: set[str] | None = None) -> dict:
    """End-to-end on UC3M-LP scenes (320 px wide photos of Spanish cars; single-plate scenes, see
    :func:`~plateforge.data.uc3m.uc3m_scene_records`): a plate is right when a result overlaps its box
    (IoU ≥ 0.5) and shows its visible characters (5 of 7) in place; also by plate (box) height in pixels.
    ``only``: image file names to keep. The report of :func:`evaluate_labelled_reads`, with ``right`` also
    under its older name ``visible_chars_right``."""
    from pathlib import Path

    from plateforge.data.uc3m import uc3m_scene_records

    records = [r for r in uc3m_scene_records(root, split) if only is None or Path(r.image).name in only]
    rep = evaluate_labelled_reads(alpr, records, UC3M_HEIGHT_BINS, "UC3M-LP scenes")
    return {**rep, "visible_chars_right": rep["right"]}
