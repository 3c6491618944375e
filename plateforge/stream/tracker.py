"""Plate tracking by detection, ByteTrack-style: a constant-velocity Kalman filter per track (OpenCV's
``cv2.KalmanFilter``), Hungarian matching on IoU (SciPy), high-score detections matched first and
low-score ones only to tracks that are already there.

Why our own: the maintained trackers don't fit the runtime's dependencies. supervision (>= 0.26) no longer
ships ByteTrack; roboflow's ``trackers`` requires ``opencv-python`` (the GUI build, which clashes with our
``opencv-python-headless`` and needs libGL on headless boxes) plus supervision, matplotlib and PyAV;
norfair pins numpy < 2 (OpenCV 5 needs numpy 2); BoxMOT needs torch, which the runtime never imports.
What is left to write is the association (about 150 lines, tested in tests/test_stream.py).

Plates are small and fast next to the vehicles ByteTrack was tuned on, so boxes are matched with a
*buffered* IoU (each box grown by ``buffer`` times its size, as C-BIoU does): a small plate that moved more
than its own width between two sampled frames still overlaps its prediction. Boxes are xyxy pixels.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import cv2
import numpy as np

try:
    from scipy.optimize import linear_sum_assignment
except ImportError as e:  # the runtime install has no SciPy; video needs the [stream] extra
    raise ImportError("plate tracking needs SciPy: pip install 'plateforge[stream]'") from e

from plateforge.ops.boxes import cxcywh_to_xyxy, xyxy_to_cxcywh
from plateforge.types import Detection


@dataclass(frozen=True)
class TrackerOptions:
    """``high``: detections at or above start tracks and are matched first; ``low``: detections between
    ``low`` and ``high`` only continue tracks; ``match_iou``: least buffered IoU for a match; ``buffer``: box
    growth for the buffered IoU, as a fraction of width/height on each side; ``max_lost``: processed frames
    a track survives without a detection before it ends."""

    high: float = 0.45
    low: float = 0.15
    match_iou: float = 0.1
    buffer: float = 0.5
    max_lost: int = 12


@dataclass
class Track:
    """One plate followed across frames. ``box`` is the last matched detection's box (xyxy px); ``hits``
    detections matched; ``lost`` processed frames since the last match; ``first_frame`` / ``last_frame`` the
    source frame indices of the first and last match."""

    id: int
    box: tuple[float, float, float, float]
    first_frame: int
    last_frame: int
    hits: int = 1
    lost: int = 0
    kf: cv2.KalmanFilter = field(repr=False, default=None)

    def predicted_box(self) -> np.ndarray:
        """The Kalman state's box, xyxy pixels (after :meth:`PlateTracker.update` predicted this frame)."""
        return cxcywh_to_xyxy(self.kf.statePost[:4, 0][None])[0]


def _measurement(box) -> np.ndarray:
    """A (4, 1) Kalman measurement (cx, cy, w, h) of an xyxy box."""
    return xyxy_to_cxcywh(np.asarray([box], np.float32)).reshape(4, 1)


def _kalman(box) -> cv2.KalmanFilter:
    """State (cx, cy, w, h, vcx, vcy, vw, vh), pixels and pixels per processed frame."""
    kf = cv2.KalmanFilter(8, 4)
    kf.transitionMatrix = np.eye(8, dtype=np.float32) + np.eye(8, k=4, dtype=np.float32)
    kf.measurementMatrix = np.eye(4, 8, dtype=np.float32)
    _set_noise(kf, box[3] - box[1])
    kf.statePost = np.vstack([_measurement(box), np.zeros((4, 1), np.float32)])
    h = max(box[3] - box[1], 1.0)
    kf.errorCovPost = np.diag(np.float32([2, 2, 2, 2, 10, 10, 10, 10]) * (h / 10) ** 2).astype(np.float32)
    return kf


def _set_noise(kf: cv2.KalmanFilter, h: float) -> None:
    """ByteTrack's noise model: standard deviations proportional to the plate height."""
    h = max(float(h), 1.0)
    pos, vel = (h / 20) ** 2, (h / 160) ** 2
    kf.processNoiseCov = np.diag(np.float32([pos, pos, pos, pos, vel, vel, vel, vel])).astype(np.float32)
    m = (h / 20) ** 2
    kf.measurementNoiseCov = np.diag(np.float32([m, m, m, m])).astype(np.float32)


def buffered_iou(a: np.ndarray, b: np.ndarray, buffer: float) -> np.ndarray:
    """IoU matrix (len(a) × len(b)) of xyxy boxes after growing each by ``buffer`` × its width/height on
    every side."""

    def grow(x):
        w, h = x[:, 2] - x[:, 0], x[:, 3] - x[:, 1]
        return x + np.stack([-w, -h, w, h], 1) * buffer

    a, b = grow(a.reshape(-1, 4)), grow(b.reshape(-1, 4))
    lt = np.maximum(a[:, None, :2], b[None, :, :2])
    rb = np.minimum(a[:, None, 2:], b[None, :, 2:])
    inter = np.prod(np.clip(rb - lt, 0, None), axis=2)
    area_a = np.prod(a[:, 2:] - a[:, :2], axis=1)
    area_b = np.prod(b[:, 2:] - b[:, :2], axis=1)
    return inter / np.maximum(area_a[:, None] + area_b[None, :] - inter, 1e-9)


def _match(tracks: list[Track], boxes: np.ndarray, buffer: float, min_iou: float):
    """Hungarian matching; returns (pairs (track index, box index), unmatched tracks, unmatched boxes)."""
    if not tracks or not len(boxes):
        return [], list(range(len(tracks))), list(range(len(boxes)))
    iou = buffered_iou(np.stack([t.predicted_box() for t in tracks]), boxes, buffer)
    rows, cols = linear_sum_assignment(-iou)
    pairs = [(r, c) for r, c in zip(rows, cols, strict=True) if iou[r, c] >= min_iou]
    mt, mb = {r for r, _ in pairs}, {c for _, c in pairs}
    return pairs, [i for i in range(len(tracks)) if i not in mt], [j for j in range(len(boxes)) if j not in mb]


class PlateTracker:
    """Tracks plates of one camera. Call :meth:`update` once per processed frame, in order."""

    def __init__(self, options: TrackerOptions = TrackerOptions()):
        self.options = options
        self.tracks: list[Track] = []
        self._next_id = 1

    def update(self, detections: list[Detection], frame: int) -> tuple[list[tuple[Track, int]], list[Track]]:
        """Match this frame's detections. Returns (matched (track, detection index) pairs, tracks that just
        ended: unseen for more than ``max_lost`` frames). New tracks start from unmatched high-score
        detections and are returned among the matched pairs."""
        o = self.options
        for t in self.tracks:
            _set_noise(t.kf, t.box[3] - t.box[1])
            t.kf.predict()  # OpenCV copies the prediction into statePost: it stands until a measurement corrects it
        scores = np.array([d.score for d in detections], np.float32)
        boxes = np.array([d.box for d in detections], np.float32).reshape(-1, 4)
        high = np.flatnonzero(scores >= o.high)
        low = np.flatnonzero((scores >= o.low) & (scores < o.high))
        matched: list[tuple[Track, int]] = []

        pairs, left_tracks, left_high = _match(self.tracks, boxes[high], o.buffer, o.match_iou)
        matched += [(self.tracks[ti], int(high[bi])) for ti, bi in pairs]
        remaining = [self.tracks[i] for i in left_tracks]
        pairs, still_left, _ = _match(remaining, boxes[low], o.buffer, max(o.match_iou, 0.3))
        matched += [(remaining[ti], int(low[bi])) for ti, bi in pairs]

        for track, di in matched:
            box = tuple(float(v) for v in boxes[di])
            track.kf.correct(_measurement(box))
            track.box, track.last_frame, track.hits, track.lost = box, frame, track.hits + 1, 0
        for i in still_left:
            remaining[i].lost += 1
        for j in left_high:
            box = tuple(float(v) for v in boxes[high[j]])
            track = Track(self._next_id, box, frame, frame, kf=_kalman(box))
            self._next_id += 1
            self.tracks.append(track)
            matched.append((track, int(high[j])))
        ended = [t for t in self.tracks if t.lost > o.max_lost]
        self.tracks = [t for t in self.tracks if t.lost <= o.max_lost]
        return matched, ended

    def flush(self) -> list[Track]:
        """End every live track (end of stream)."""
        ended, self.tracks = self.tracks, []
        return ended
