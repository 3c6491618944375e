"""What each recognizer specialist adds end to end: the same plates read by the default reader and by the same
reader without one specialist at a time (paired: every reader reads the same detections), with the plates each
specialist fixes and breaks. Also measures a specialist of your own before you ship it.

Synthetic 1280x720 scenes of seeds 2024 / 77 / 5 (150 / 150 / 600 scenes: 1,804 plates, exact match, as
``recheck_threshold.py``); with ``--uc3m DIR`` UC3M-LP's val scenes (the 5 visible characters right); with
``--data MANIFEST`` labelled photos (``?`` marks a character not scored), e.g.
``benchmarks/data/car_plates_cc0_val_texts.jsonl``.

    python benchmarks/specialists_ab.py [--uc3m ../shared/data/real/uc3m-lp] [--data M.jsonl]
        [--specialist us-=my_us.onnx] [--small my_small.onnx] [--scenes 0.2]
"""

from __future__ import annotations

import argparse
from collections import Counter
from pathlib import Path

from rich.console import Console
from rich.table import Table

from plateforge.eval.read_eval import labelled_plates, masked_match, results_on, scenes_with_texts
from plateforge.progress import progress
from plateforge.runtime.alpr import ALPR
from plateforge.runtime.corners import CornerRegressor
from plateforge.runtime.detector import PlateDetector
from plateforge.runtime.images import load_image
from plateforge.runtime.recognizer import BUNDLED_SPECIALISTS, SMALL_SPECIALIST, PlateRecognizer
from plateforge.runtime.session import bundled_model

SEEDS = ((2024, 150), (77, 150), (5, 600))  # (seed, scenes): the scenes of recheck_threshold.py


def readers(args) -> dict[str, ALPR]:
    """The reader with every specialist ("all") and, per specialist file, the same reader without it."""
    region = {p: str(bundled_model(f)) for p, f in BUNDLED_SPECIALISTS.items()}
    for item in args.specialist:
        prefix, _, path = item.partition("=")
        if not path:
            raise SystemExit(f"--specialist {item!r}: give PREFIX=MODEL.onnx")
        region[prefix] = path
    small = args.small or str(bundled_model(SMALL_SPECIALIST))
    detector, corners = PlateDetector(threads=args.threads), CornerRegressor(threads=args.threads)

    def reader(specialists: dict, small_specialist: str | None) -> ALPR:
        rec = PlateRecognizer(
            tta=True, threads=args.threads, specialists=specialists, small_specialist=small_specialist
        )
        return ALPR(detector=detector, corners=corners, recognizer=rec, threads=args.threads)

    out = {"all": reader(region, small)}
    for path in dict.fromkeys(region.values()):  # one file may serve several prefixes
        prefixes = ",".join(p for p, f in region.items() if f == path)
        out[f"without {Path(path).stem} ({prefixes})"] = reader({p: f for p, f in region.items() if f != path}, small)
    out[f"without {Path(small).stem} (small plates)"] = reader(region, None)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--uc3m", default=None, help="UC3M-LP folder: also its val scenes")
    ap.add_argument("--data", default=None, help="manifest of labelled photos: also these")
    ap.add_argument("--specialist", action="append", default=[], help="PREFIX=MODEL.onnx: add or replace one")
    ap.add_argument("--small", default=None, help="small-plate specialist ONNX (default: the bundled one)")
    ap.add_argument("--scenes", type=float, default=1.0, help="share of the synthetic scenes to read (0-1)")
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    named = readers(args)
    detector = named["all"].detector
    right = {name: Counter() for name in named}
    fixed = {name: Counter() for name in named}  # plates the reader without a specialist misses
    broken = {name: Counter() for name in named}  # plates it reads and the full reader misses
    plates = Counter()

    def add(kind, image, labels, ok):
        image = load_image(image)
        detections = detector.detect(image)
        got = {name: results_on(r.read_detections(image, detections)[0], labels) for name, r in named.items()}
        for i, lab in enumerate(labels):
            plates[kind] += 1
            hits = {name: got[name][i] is not None and ok(got[name][i].text, lab.text) for name in named}
            for name, hit in hits.items():
                right[name][kind] += hit
                fixed[name][kind] += hits["all"] and not hit
                broken[name][kind] += hit and not hits["all"]

    exact = str.__eq__
    for seed, n in SEEDS:
        count = max(1, round(n * args.scenes))
        for image, labels, _ in progress(scenes_with_texts(count, seed), f"seed {seed}", total=count):
            add("synthetic", image, labels, exact)
    if args.uc3m:
        from plateforge.data.uc3m import uc3m_scene_records

        for rec in progress(uc3m_scene_records(args.uc3m, "val"), "UC3M-LP val"):
            add("uc3m", rec.image, rec.plates, masked_match)
    if args.data:
        from plateforge.data.manifest import read_manifest

        for rec in progress(read_manifest(args.data), Path(args.data).name):
            labelled = labelled_plates(rec)
            if labelled:
                add("photos", rec.image, labelled, masked_match)
    table = Table(title="plates read right; (+fixed -broken): what the specialist does for the full reader")
    table.add_column("reader")
    for kind in plates:
        table.add_column(f"{kind} ({plates[kind]})", justify="right")
    for name in named:
        diff = {k: "" if name == "all" else f" (+{fixed[name][k]} -{broken[name][k]})" for k in plates}
        cells = [f"{right[name][k]}{diff[k]}" for k in plates]
        table.add_row(name, *cells)
    Console().print(table)


if __name__ == "__main__":
    main()
