"""The limits behind ``plateforge survey``'s findings (``plateforge.stream.survey``), measured on the bundled
reader: passes read right by plate height, roll and frames in view on synthetic 1080p videos with truth, and
crops read right by contrast.

    python benchmarks/survey_limits.py --videos /tmp/survey_limits      # makes the videos once (~4 min)

Videos: ``--seeds`` 60-pass 1080p videos with plates 10-80 px tall (the last seed 10-30 px), yaw up to 45
and roll up to 20 degrees, 0.5-4 s crossings; each surveyed as the stream processes it, every 1, 2, 4, 8 and 16
frames (fewer frames per pass, as faster vehicles or a lower frame rate give). A pass is right when its event's
text equals the truth; a pass with no event is wrong. Heights and roll are the truth's, over the frames where
the whole plate is in view, so passes the survey never found count too. Contrast: ``--crops`` clean synthetic
crops (``--augment none``) with their contrast lowered about the middle, towards white and towards black, plus
sensor noise (sigma 3), read at their true corners (``ALPR.read_corners``), binned by the survey's contrast
measure (p95 − p5 grey levels). Motion blur: the first 300 of those crops enlarged twice, smeared across or
along the plate's height by 0-0.3 of it, shrunk to a 30-px plate and read at their true corners.
"""

from __future__ import annotations

import argparse
import json
from collections import defaultdict
from pathlib import Path

import cv2
import numpy as np

from plateforge.eval.stream_eval import match_pass
from plateforge.ops.geometry import quad_size
from plateforge.runtime.alpr import ALPR
from plateforge.runtime.options import ReaderOptions, make_alpr
from plateforge.stream.survey import crop_light, plate_geometry, survey_video
from plateforge.synth.video import VideoOptions, make_video, read_ground_truth


def video_rows(folder: Path, alpr, every: int) -> list[dict]:
    """One row per pass fully in view at some frame: truth height / roll / frames in view and whether read."""
    frames, passes = read_ground_truth(folder)
    truth: dict[int, dict] = {}
    for fr in frames:
        for p in fr["plates"]:
            if p["full"]:
                h, _, r = plate_geometry(p["corners"])
                t = truth.setdefault(p["pass"], {"height": 0.0, "roll": 0.0, "frames": 0})
                t["height"], t["roll"] = max(t["height"], h), max(t["roll"], abs(r))
                t["frames"] += 1
    report = survey_video(str(folder / "video.mp4"), alpr, seconds=None, every=every)
    found: dict[int, list] = defaultdict(list)
    for sp in report.passes:
        pid = match_pass(frames, sp.frame, sp.box)
        if pid is not None:
            found[pid].append(sp)
    rows = []
    for p in passes:
        if p["first_visible"] < 0 or p["index"] not in truth:
            continue
        t, got = truth[p["index"]], found.get(p["index"], [])
        rows.append(
            {
                "every": every,
                "height": t["height"],
                "roll": t["roll"],
                "frames": t["frames"] / every,
                "found": bool(got),
                "right": bool(got) and got[0].text == p["text"],
                "sure": bool(got) and got[0].sure,
            }
        )
    return rows


def contrast_rows(crops: Path, alpr) -> list[dict]:
    rng = np.random.default_rng(0)
    rows = []
    for line in (crops / "manifest.jsonl").read_text().splitlines():
        rec = json.loads(line)
        img = cv2.imread(str(crops / rec["image"])).astype(np.float32)
        plate = rec["plates"][0]
        for mode in ("middle", "white", "black"):
            for c in (1.0, 0.5, 0.3, 0.2, 0.15, 0.1, 0.07, 0.05):
                if mode == "middle":
                    x = img.mean() + (img - img.mean()) * c
                elif mode == "white":
                    x = 255 - (255 - img) * c
                else:
                    x = img * c
                x = np.clip(x + rng.normal(0, 3, x.shape), 0, 255).astype(np.uint8)
                contrast = crop_light(x, plate["corners"])[0]
                read = alpr.read_corners(x, [plate["corners"]])[0]
                rows.append({"contrast": contrast, "right": read.text == plate["text"]})
    return rows


def blur_rows(crops: Path, alpr, n: int = 300) -> list[dict]:
    """The first ``n`` clean crops enlarged twice, smeared across or along the plate's height by a share of
    it, shrunk to a 30-px plate and read at their true corners."""
    rows = []
    for line in (crops / "manifest.jsonl").read_text().splitlines()[:n]:
        rec = json.loads(line)
        big = cv2.resize(cv2.imread(str(crops / rec["image"])), None, fx=2, fy=2, interpolation=cv2.INTER_CUBIC)
        corners = np.asarray(rec["plates"][0]["corners"], np.float32) * 2
        height = quad_size(corners)[1]
        for axis in ("across", "along"):
            for share in (0.0, 0.05, 0.1, 0.15, 0.2, 0.3):
                k = max(1, int(round(share * height)))
                kernel = np.zeros((k, k), np.float32)
                if axis == "across":
                    kernel[k // 2, :] = 1.0 / k
                else:
                    kernel[:, k // 2] = 1.0 / k
                x = cv2.filter2D(big, -1, kernel, borderType=cv2.BORDER_REPLICATE) if k > 1 else big
                s = 30.0 / height
                x = cv2.resize(x, None, fx=s, fy=s, interpolation=cv2.INTER_AREA)
                read = alpr.read_corners(x, [corners * s])[0]
                rows.append({"blur": share, "axis": axis, "right": read.text == rec["plates"][0]["text"]})
    return rows


def table(rows: list[dict], key: str, edges: list[float]) -> list[dict]:
    out = []
    for lo, hi in zip(edges, edges[1:], strict=False):
        sel = [r for r in rows if lo <= r[key] < hi]
        if sel:
            out.append(
                {
                    key: f"{lo:g}-{hi:g}",
                    "n": len(sel),
                    "right": round(float(np.mean([r["right"] for r in sel])), 3),
                    **({"found": round(float(np.mean([r["found"] for r in sel])), 3)} if "found" in sel[0] else {}),
                }
            )
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--videos", type=Path, default=Path("/tmp/survey_limits"), help="folder for the test videos")
    ap.add_argument("--seeds", default="4601,4602,4603,4604")
    ap.add_argument("--every", default="1,2,4,8,16")
    ap.add_argument("--crops", type=int, default=600, help="clean crops for the contrast table (0: skip)")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--passes", type=int, default=60, help="passes per video")
    ap.add_argument("--blur-crops", type=int, default=300, help="clean crops for the motion-blur table")
    ap.add_argument("--json", type=Path, help="also write the results here")
    a = ap.parse_args()
    seeds = [int(s) for s in a.seeds.split(",")]
    folders = []
    for i, seed in enumerate(seeds):
        folder = a.videos / f"video_{seed}"
        small = i == len(seeds) - 1 and len(seeds) > 1
        if not (folder / "frames.jsonl").exists():
            opts = VideoOptions(
                passes=a.passes, seed=seed, plate_height=(10.0, 30.0) if small else (10.0, 80.0), max_yaw=45.0,
                max_roll=20.0, seconds=(0.5, 4.0),
            )  # fmt: skip
            make_video(folder, opts, overwrite=True)
        folders.append(folder)
    alpr = make_alpr(ReaderOptions(threads=a.threads))
    rows = []
    for every in (int(e) for e in a.every.split(",")):
        for folder in folders:
            rows += video_rows(folder, alpr, every)
    first = [r for r in rows if r["every"] == 1]
    result = {
        "passes": len(first),
        "by_height_px": table(first, "height", [0, 12, 16, 20, 25, 30, 40, 60, 100]),
        "by_roll_deg (plates 25 px+)": table([r for r in first if r["height"] >= 25], "roll", [0, 5, 10, 15, 20.1]),
        "by_frames_in_view (plates 25 px+, every 1-16)": table(
            [r for r in rows if r["height"] >= 25], "frames", [0, 3, 4, 6, 8, 12, 20, 10000]
        ),
        "sure_reads_right": round(float(np.mean([r["right"] for r in rows if r["sure"]])), 4),
        "sure_share (plates 25 px+, every 1)": round(
            float(np.mean([r["sure"] for r in first if r["height"] >= 25])), 4
        ),
    }
    if a.crops:
        crops = a.videos / "clean_crops"
        if not (crops / "manifest.jsonl").exists():
            from plateforge.synth.generate import SynthJob, run_job

            run_job(SynthJob("crops", crops, a.crops, seed=4610, augment="none"), overwrite=True)
        rows_b = blur_rows(crops, ALPR(threads=a.threads), a.blur_crops)
        for axis in ("across", "along"):
            result[f"by_blur_plate_heights ({axis})"] = table(
                [r for r in rows_b if r["axis"] == axis], "blur", [0, 0.01, 0.06, 0.11, 0.16, 0.21, 0.31]
            )
        result["by_contrast"] = table(
            contrast_rows(crops, ALPR(threads=a.threads)), "contrast", [0, 20, 30, 40, 60, 80, 256]
        )
    print(json.dumps(result, indent=1))
    if a.json:
        a.json.write_text(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
