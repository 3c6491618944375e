"""Stream benchmark on a synthetic 1080p video (``plateforge synth video``): processed frames per second,
events per pass, voted-text accuracy against single-frame accuracy, OCR calls saved by throttling, and
(with ``--soak-minutes``) resident memory over a long looped run.

    python benchmarks/stream_bench.py --out /tmp/bench_video --passes 40            # make the video, measure
    python benchmarks/stream_bench.py --video /tmp/bench_video --soak-minutes 10    # memory over 10 minutes

Runs, on the same video: ``throttled`` (the default pipeline: INT8 detector, OCR throttling), ``every frame``
(OCR on every tracked plate of every frame: the single-frame baseline), ``fp32`` (FP32 detector) and
``no_plate_check`` (the default without the recognizer's plate check). ``--signs N`` paints signs and
plate-like text on the background, which the plate check is there for.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path

from plateforge.eval.stream_eval import score_stream
from plateforge.runtime.alpr import ALPR
from plateforge.runtime.session import bundled_model
from plateforge.stream.outbox import Outbox
from plateforge.stream.pipeline import CameraProcessor, OcrOptions, run_stream
from plateforge.stream.sources import FrameSource, SourceOptions
from plateforge.synth.video import VideoOptions, make_video, read_ground_truth


def rss_mb() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def one_run(video: Path, alpr, ocr: OcrOptions, every: int, frames, passes) -> dict:
    reads = []
    proc = CameraProcessor("bench", alpr, ocr=ocr, on_read=lambda c, t, f, r: reads.append((t, f, r.text)))
    with tempfile.TemporaryDirectory() as tmp:
        ob = Outbox(Path(tmp) / "o.sqlite")
        s = run_stream(
            [FrameSource(str(video / "video.mp4"), "bench", SourceOptions(every=every))], {"bench": proc}, ob
        )
        events = ob.events()
        ob.close()
    score = score_stream(events, frames, passes, reads, s.tracked, s.ocr_calls)
    return {"frames": s.frames, "seconds": round(s.seconds, 2), "fps": round(s.fps, 1), **score}


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
    ap.add_argument("--signs", type=int, default=0, help="rounds of signs and plate-like text on the background")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--every", type=int, default=1)
    ap.add_argument("--soak-minutes", type=float, default=0)
    ap.add_argument("--json", type=Path, help="write the results here too")
    ap.add_argument("--no-tta", action="store_true", help="read plates once, without the test-time zooms")
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
            ),
            overwrite=True,
        )
        video = args.out
    frames, passes = read_ground_truth(video)
    tta = not args.no_tta
    int8 = ALPR(detector=str(bundled_model("detector_int8.onnx")), threads=args.threads, fast_resize=True, tta=tta)
    results = {
        "video": str(video),
        "frames": len(frames),
        "passes": len(passes),
        "threads": args.threads,
        "every": args.every,
        "cpus": os.cpu_count(),
    }
    if args.soak_minutes:
        results["soak"] = soak(video, int8, args.soak_minutes)
    else:
        results["throttled"] = one_run(video, int8, OcrOptions(), args.every, frames, passes)
        results["every_frame"] = one_run(video, int8, OcrOptions(always=True), args.every, frames, passes)
        fp32 = ALPR(threads=args.threads, fast_resize=True, tta=tta)
        results["fp32_throttled"] = one_run(video, fp32, OcrOptions(), args.every, frames, passes)
        unchecked = ALPR(detector=int8.detector, recognizer=int8.recognizer, corners=int8.corners, plate_check=0)
        results["no_plate_check"] = one_run(video, unchecked, OcrOptions(), args.every, frames, passes)
    print(json.dumps(results, indent=1))
    if args.json:
        args.json.write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
