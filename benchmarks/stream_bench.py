"""Stream benchmark on a synthetic 1080p video (``plateforge synth video``): processed frames per second,
events per pass, voted-text accuracy against single-frame accuracy, OCR calls saved by throttling, and
(with ``--soak-minutes``) resident memory over a long looped run.

    python benchmarks/stream_bench.py --out /tmp/bench_video --passes 40            # make the video, measure
    python benchmarks/stream_bench.py --video /tmp/bench_video --soak-minutes 10    # memory over 10 minutes

Runs, on the same video: ``throttled`` (the default pipeline: INT8 detector, OCR throttling), ``every frame``
(OCR on every tracked plate of every frame: the single-frame baseline), ``fp32`` (FP32 detector) and
``no_plate_check`` (the default without the recognizer's plate check). ``--signs N`` paints signs and
plate-like text on the background, which the plate check is there for. ``--max-delay S`` adds ``early``:
events sent while the plate is in view (``EventOptions.max_delay_s``). Every run reports ``sent_after_s``,
the median and 95th percentile of the time from a pass's first sight to its event (source clock).
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from collections import Counter
from pathlib import Path

import cv2
import numpy as np

from plateforge.eval.stream_eval import score_stream
from plateforge.runtime.alpr import ALPR
from plateforge.runtime.detector import INT8_DETECTOR
from plateforge.runtime.session import bundled_model
from plateforge.runtime.zone import Zone, parse_zone
from plateforge.stream.outbox import Outbox
from plateforge.stream.pipeline import CameraProcessor, EventOptions, OcrOptions, run_stream
from plateforge.stream.sources import FrameSource, SourceOptions
from plateforge.synth.video import VideoOptions, make_video, read_ground_truth


def rss_mb() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


class ClockedProcessor(CameraProcessor):
    """A camera processor that remembers the source clock of the frame it last processed (``now``)."""

    now = 0.0

    def process(self, frame):
        self.now = frame.t
        return super().process(frame)


def one_run(
    video: Path,
    alpr,
    ocr: OcrOptions,
    every: int,
    frames,
    passes,
    events_opts: EventOptions | None = None,
    zones: list | None = None,
    crop_to_zones: bool = True,
) -> dict:
    reads, sent_after = [], []
    proc = ClockedProcessor(
        "bench",
        alpr,
        ocr=ocr,
        events=events_opts or EventOptions(),
        on_read=lambda c, t, f, r: reads.append((t, f, r.text)),
        zones=zones,
        crop_to_zones=crop_to_zones,
    )
    source = FrameSource(str(video / "video.mp4"), "bench", SourceOptions(every=every))
    with tempfile.TemporaryDirectory() as tmp:
        ob = Outbox(Path(tmp) / "o.sqlite")
        s = run_stream([source], {"bench": proc}, ob, on_event=lambda e: sent_after.append(proc.now - e.first_seen))
        events = ob.events()
        ob.close()
    score = score_stream(events, frames, passes, reads, s.tracked, s.ocr_calls)
    q = np.percentile(sent_after, [50, 95]) if sent_after else [0.0, 0.0]
    return {
        "frames": s.frames,
        "seconds": round(s.seconds, 2),
        "fps": round(s.fps, 1),
        **score,
        "sent_after_s": {"p50": round(float(q[0]), 2), "p95": round(float(q[1]), 2)},
    }


def passes_in_zone(video: Path, frames, passes, zone: Zone) -> list[dict]:
    """The passes whose plate centre lies in ``zone`` in most of the frames that show it."""
    cap = cv2.VideoCapture(str(video / "video.mp4"))
    shape = (int(cap.get(cv2.CAP_PROP_FRAME_HEIGHT)), int(cap.get(cv2.CAP_PROP_FRAME_WIDTH)))
    cap.release()
    inside, seen = Counter(), Counter()
    for f in frames:
        for p in f["plates"]:
            seen[p["pass"]] += 1
            inside[p["pass"]] += zone.contains(p["box"], shape)
    return [p for p in passes if inside[p["index"]] > seen[p["index"]] / 2]


def soak(video: Path, alpr, minutes: float) -> dict:
    """Loop the video for ``minutes``; RSS sampled every 30 s."""
    import threading

    proc = CameraProcessor("soak", alpr)
    samples = [(0.0, round(rss_mb(), 1))]
    stop = threading.Event()
    t0 = time.monotonic()

    def sample():
        while not stop.wait(30):
            samples.append((round(time.monotonic() - t0), round(rss_mb(), 1)))
            if time.monotonic() - t0 >= minutes * 60:
                stop.set()

    threading.Thread(target=sample, daemon=True).start()
    with tempfile.TemporaryDirectory() as tmp:
        ob = Outbox(Path(tmp) / "o.sqlite")
        src = FrameSource(str(video / "video.mp4"), "soak", SourceOptions(loop=True))
        s = run_stream([src], {"soak": proc}, ob, stop=stop)
        ob.close()
    samples.append((round(time.monotonic() - t0), round(rss_mb(), 1)))
    return {"minutes": minutes, "frames": s.frames, "fps": round(s.fps, 1), "events": s.events, "rss_mb": samples}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--video", type=Path, help="a folder written by `plateforge synth video`")
    ap.add_argument("--out", type=Path, default=Path("/tmp/stream_bench_video"), help="where to make one")
    ap.add_argument("--passes", type=int, default=40)
    ap.add_argument("--seed", type=int, default=11)
    ap.add_argument("--plate-height", type=float, nargs=2, default=(32.0, 70.0), help="px at the nearest point")
    ap.add_argument("--overlap", type=float, default=0.3, help="share of passes overlapping the previous one")
    ap.add_argument("--stop-s", type=float, default=0.0, help="seconds each vehicle stands still (a barrier)")
    ap.add_argument("--signs", type=int, default=0, help="rounds of signs and plate-like text on the background")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--every", type=int, default=1)
    ap.add_argument("--soak-minutes", type=float, default=0)
    ap.add_argument("--json", type=Path, help="write the results here too")
    ap.add_argument("--no-tta", action="store_true", help="read plates once, without the test-time zooms")
    ap.add_argument("--tiles", type=int, default=1, help="also detect in N x N tiles (reader.tiles)")
    ap.add_argument(
        "--zone",
        help="where plates count ('x,y x,y ...', fractions or px): only passes mostly inside are scored, and a "
        "run 'zone_no_crop' is added (the detector on the whole frame, as before zones cropped it)",
    )
    ap.add_argument("--max-delay", type=float, help="add a run that sends events while the plate is in view")
    ap.add_argument("--grey", action="store_true", help="make the video in grey levels (an infrared camera)")
    ap.add_argument(
        "--no-grey-models", action="store_true", help="read grey frames with the colour-trained networks too"
    )
    ap.add_argument(
        "--only", nargs="+", help="run only these (throttled every_frame fp32_throttled no_plate_check early)"
    )
    args = ap.parse_args()
    video = args.video
    if video is None:
        make_video(
            args.out,
            VideoOptions(
                passes=args.passes,
                seed=args.seed,
                plate_height=tuple(args.plate_height),
                overlap=args.overlap,
                signs=args.signs,
                stop_s=args.stop_s,
                grey=args.grey,
            ),
            overwrite=True,
        )
        video = args.out
    frames, passes = read_ground_truth(video)
    zones = None
    if args.zone:
        zones = [Zone(parse_zone(args.zone), "--zone")]
        passes = passes_in_zone(video, frames, passes, zones[0])
    tta = not args.no_tta
    grey = not args.no_grey_models
    int8 = ALPR(
        detector=str(bundled_model(INT8_DETECTOR)),
        threads=args.threads,
        fast_resize=True,
        tta=tta,
        tiles=args.tiles,
        grey=grey,
    )
    results = {
        "video": str(video),
        "frames": len(frames),
        "passes": len(passes),
        "threads": args.threads,
        "every": args.every,
        "tiles": args.tiles,
        "grey_models": grey,
        "cpus": os.cpu_count(),
    }
    if args.soak_minutes:
        results["soak"] = soak(video, int8, args.soak_minutes)
    else:
        runs = {
            "throttled": lambda: one_run(video, int8, OcrOptions(), args.every, frames, passes, zones=zones),
            "every_frame": lambda: one_run(video, int8, OcrOptions(always=True), args.every, frames, passes),
            "fp32_throttled": lambda: one_run(
                video,
                ALPR(threads=args.threads, fast_resize=True, tta=tta, grey=grey),
                OcrOptions(),
                args.every,
                frames,
                passes,
            ),
            "no_plate_check": lambda: one_run(
                video,
                ALPR(detector=int8.detector, recognizer=int8.recognizer, corners=int8.corners, plate_check=0),
                OcrOptions(),
                args.every,
                frames,
                passes,
            ),
        }
        if zones:
            runs["zone_no_crop"] = lambda: one_run(
                video, int8, OcrOptions(), args.every, frames, passes, zones=zones, crop_to_zones=False
            )
        if args.max_delay is not None:
            early = EventOptions(max_delay_s=args.max_delay)
            runs["early"] = lambda: one_run(video, int8, OcrOptions(), args.every, frames, passes, early, zones)
            if zones:
                runs["early_no_crop"] = lambda: one_run(
                    video, int8, OcrOptions(), args.every, frames, passes, early, zones, crop_to_zones=False
                )
        for name, run in runs.items():
            if not args.only or name in args.only:
                results[name] = run()
    print(json.dumps(results, indent=1))
    if args.json:
        args.json.write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
