"""A fixed camera's photos: how many of its lane's plates the reader finds and reads with ``--zone``
(``ALPR(zones=...)``: the detector looks only at the window around the zone) against reading the whole photo
and keeping the plates centred in the zone. The photos are frames of a ``plateforge synth video``: every
``--every``-th frame with a plate fully inside the zone.

    python benchmarks/zone_read.py --video /tmp/bvhard --zone "0.38,0 0.62,0 0.62,1 0.38,1"
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import cv2

from plateforge import ALPR
from plateforge.runtime.zone import Zone, parse_zone, which_zone
from plateforge.synth.video import read_ground_truth


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--video", type=Path, required=True, help="a folder written by `plateforge synth video`")
    ap.add_argument("--zone", required=True, help="'x,y x,y x,y ...' in pixels or fractions of the frame")
    ap.add_argument("--every", type=int, default=5, help="take every N-th frame")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--json", type=Path, help="write the results here too")
    args = ap.parse_args()
    zone = Zone(parse_zone(args.zone), "--zone")
    frames, _ = read_ground_truth(args.video)
    whole_reader = ALPR(threads=args.threads)
    zone_reader = ALPR(
        detector=whole_reader.detector, recognizer=whole_reader.recognizer, corners=whole_reader.corners, zones=[zone]
    )
    counts = {"whole_photo": {"found": 0, "read": 0}, "with_zone": {"found": 0, "read": 0}}
    plates_seen = 0
    cap = cv2.VideoCapture(str(args.video / "video.mp4"))
    for index, truth in enumerate(frames):
        ok, img = cap.read()
        if not ok:
            break
        plates = [p for p in truth["plates"] if p["full"] and zone.contains(p["box"], img.shape)]
        if not plates or index % args.every:
            continue
        plates_seen += len(plates)
        results = {
            "whole_photo": [r for r in whole_reader.read(img) if which_zone([zone], r.box, img.shape)],
            "with_zone": zone_reader.read(img),
        }
        for name, found in results.items():
            for p in plates:
                cx, cy = (p["box"][0] + p["box"][2]) / 2, (p["box"][1] + p["box"][3]) / 2
                hits = [r for r in found if r.box[0] <= cx <= r.box[2] and r.box[1] <= cy <= r.box[3]]
                counts[name]["found"] += bool(hits)
                counts[name]["read"] += any(r.text == p["text"] for r in hits)
    cap.release()
    out = {"video": str(args.video), "zone": args.zone, "every": args.every, "plates": plates_seen, **counts}
    print(json.dumps(out))
    if args.json:
        args.json.write_text(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
