"""Scoring a stream run against a synthetic video's ground truth (``plateforge synth video``).

An event belongs to the pass whose ground-truth box overlaps the event's best box most (IoU ≥ 0.3) at the
event's best frame. Reported: passes with exactly one event, passes with none, events matching no pass,
voted-text accuracy (events whose text equals their pass's text) against single-frame accuracy (every OCR
read of a matched track, scored alone), and OCR calls against tracked plates.
"""

from __future__ import annotations

from collections import defaultdict

import numpy as np

from plateforge.ops.boxes import box_iou


def match_pass(frames: list[dict], frame: int, box) -> int | None:
    """The pass id whose plate box at ``frame`` overlaps ``box`` (xyxy) best with IoU ≥ 0.3, or None."""
    if not 0 <= frame < len(frames) or not frames[frame]["plates"]:
        return None
    plates = frames[frame]["plates"]
    ious = box_iou(np.array([p["box"] for p in plates], np.float32), np.array([box], np.float32))[:, 0]
    best = int(ious.argmax())
    return plates[best]["pass"] if ious[best] >= 0.3 else None


def score_stream(
    events: list[dict],
    frames: list[dict],
    passes: list[dict],
    reads: list[tuple[int, int, str]] | None = None,
    tracked: int = 0,
    ocr_calls: int = 0,
) -> dict:
    """``events`` as dicts; ``reads`` (track id, frame, text) of every OCR call, when recorded (all tracks of
    one camera). Passes never fully visible are left out."""
    visible = {p["index"]: p for p in passes if p["first_visible"] >= 0}
    per_pass: dict[int, list[dict]] = defaultdict(list)
    unmatched = 0
    track_pass: dict[int, int] = {}
    for e in events:
        pid = match_pass(frames, e["best"].get("frame", -1), e["best"].get("box", [0, 0, 0, 0]))
        if pid is None or pid not in visible:
            unmatched += 1
            continue
        per_pass[pid].append(e)
        track_pass[e["track_id"]] = pid
    one = sum(len(per_pass.get(i, [])) == 1 for i in visible)
    missed = sum(len(per_pass.get(i, [])) == 0 for i in visible)
    firsts = [evs[0] for evs in per_pass.values()]
    voted_right = sum(e["text"] == visible[track_pass[e["track_id"]]]["text"] for e in firsts)
    out = {
        "passes": len(visible),
        "events": len(events),
        "one_event": one,
        "one_event_rate": round(one / max(len(visible), 1), 4),
        "missed_passes": missed,
        "split_passes": sum(len(v) > 1 for v in per_pass.values()),
        "unmatched_events": unmatched,
        "voted_accuracy": round(voted_right / max(len(visible), 1), 4),
    }
    if reads is not None:
        scored = [(t, text) for t, _, text in reads if t in track_pass]
        right = [text == visible[track_pass[t]]["text"] for t, text in scored]
        out["single_frame_accuracy"] = round(float(np.mean(right)), 4) if right else 0.0
        out["reads_scored"] = len(right)
    if tracked:
        out["ocr_calls"] = ocr_calls
        out["tracked_plates"] = tracked
        out["ocr_saved"] = round(1 - ocr_calls / tracked, 4)
    return out
