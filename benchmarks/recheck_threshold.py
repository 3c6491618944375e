"""Which ``recheck_below`` keeps every read: each plate read once (its crop as cut, no zooms, no
specialist) and read in full (every zoom, the second crop of small plates, the specialists), and for each
threshold the plates read right when the first read is kept for plates at least that confident (and in
their region's format).

Synthetic 1280x720 scenes of seeds 2024 / 77 / 5 (150 / 150 / 600 scenes: 1,804 plates, exact match) and,
with ``--uc3m DIR``, UC3M-LP's val scenes (the 5 visible characters right). Use it to pick the threshold
for a recognizer of your own: its confidences may not top out where the bundled one's do (near 0.95).

    python benchmarks/recheck_threshold.py [--uc3m ../shared/data/real/uc3m-lp] [--recognizer R.onnx]
"""

from __future__ import annotations

import argparse

from plateforge.eval.read_eval import masked_match, results_on, scenes_with_texts
from plateforge.runtime.alpr import ALPR
from plateforge.runtime.recognizer import PlateRecognizer

THRESHOLDS = (0.5, 0.7, 0.8, 0.85, 0.9, 0.92, 0.94, 0.96)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--uc3m", default=None, help="UC3M-LP folder: also its val scenes")
    ap.add_argument("--recognizer", default=None, help="recognizer ONNX (default: the bundled one)")
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    full = ALPR(recognizer=args.recognizer, threads=args.threads, recheck_below=None)
    first_look = PlateRecognizer(args.recognizer, threads=args.threads, specialists=None)  # no zooms either
    once = ALPR(
        detector=full.detector,
        corners=full.corners,
        recognizer=first_look,
        threads=args.threads,
        second_view_below=None,
        fit_formats=None,
    )
    rows = {"synthetic": [], "uc3m": []}  # (right in full, right once, first read's confidence, its format ok)

    def add(kind, image, labels, right):
        reads = zip(labels, results_on(full.read(image), labels), results_on(once.read(image), labels), strict=True)
        for lab, f, o in reads:
            right_full = f is not None and right(f.text, lab.text)
            right_once = o is not None and right(o.text, lab.text)
            sure = o is not None and o.format_ok is not False
            rows[kind].append((right_full, right_once, o.confidence if o else 0.0, sure))

    for seed, n in ((2024, 150), (77, 150), (5, 600)):
        for image, labels, _ in scenes_with_texts(n, seed):
            add("synthetic", image, labels, lambda a, b: a == b)
    if args.uc3m:
        from plateforge.data.uc3m import uc3m_scene_records

        for rec in uc3m_scene_records(args.uc3m, "val"):
            add("uc3m", rec.image, rec.plates, masked_match)
    for kind, r in rows.items():
        if not r:
            continue
        print(f"{kind}: {len(r)} plates; read in full {sum(x[0] for x in r)}, once {sum(x[1] for x in r)}")
        for t in THRESHOLDS:
            keep = [c >= t and ok for _, _, c, ok in r]
            right = sum(o if k else f for (f, o, _, _), k in zip(r, keep, strict=True))
            print(f"  recheck_below {t:.2f}: {right} right, first read kept for {sum(keep)}")


if __name__ == "__main__":
    main()
