"""Anonymised video: every plate in every frame pixelated and blurred, for footage that is shared, published
or kept beyond a site's retention rules (dashcams, street surveys, training data).

A plate must be hidden in every frame, not only where the detector fires, so one pass goes through the video
with a short look-ahead (frames held in memory, ``lookahead`` of them):

- every detection at or above ``conf`` (low: blurring wants recall; a blurred patch of bumper costs nothing)
  is blurred in its frame;
- detections are tracked (:class:`~plateforge.stream.tracker.PlateTracker`); a plate unseen for up to
  ``fill`` frames between two detections is blurred in those frames too, its quad interpolated between them;
- a track's first detection is also blurred in the ``hold`` frames before it, and its last one in the
  ``hold`` frames after, moved on at the plate's last speed (a plate is found a few frames after it becomes
  readable, and lost a few frames before it goes).

Regions are the plate's corner quad (TL, TR, BR, BL, frame pixels) grown by ``grow`` of its size on each side.
No OCR runs: only the detector, so it is as fast as detection (the INT8 detector by default).
"""

from __future__ import annotations

import contextlib
import queue
import threading
import time
from collections import deque
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from plateforge.runtime.draw import BLUR_CELLS, blur_quads, plate_quad


@dataclass(frozen=True)
class BlurOptions:
    """``conf``: detector score from which a plate is blurred; ``track_from``: score from which a detection
    starts a track (whose gaps are filled); ``fill``: most frames a tracked plate may go unseen between two
    detections and still be blurred in between; ``hold``: frames before a track's first detection and after
    its last in which it is blurred too; ``grow``: growth of each plate's quad on each side, as a fraction of
    its size; ``cells``: pixel blocks across a blurred region's height."""

    conf: float = 0.1
    track_from: float = 0.3
    fill: int = 12
    hold: int = 4
    grow: float = 0.2
    cells: int = BLUR_CELLS

    @property
    def lookahead(self) -> int:
        """Frames held back before they are written: enough to fill a gap or hold a new plate backwards."""
        return max(self.fill, self.hold)


@dataclass
class BlurredFrame:
    """One frame out: ``index`` (0-based, in the input), ``image`` (BGR, plates blurred), ``regions`` the
    blurred quads ((4, 2) pixels each), and how many came from a detection in this frame (``detected``); the
    others were filled in from the plate's track."""

    index: int
    image: np.ndarray
    regions: list[np.ndarray] = field(default_factory=list)
    detected: int = 0


@dataclass
class _Seen:
    frame: int  # last sighting
    quad: np.ndarray
    velocity: np.ndarray  # px per frame, (4, 2)
    first: int  # first sighting


def _moved(quad: np.ndarray, velocity: np.ndarray, frames: int) -> np.ndarray:
    """``quad`` moved on by ``velocity`` (px per frame) for ``frames`` frames (negative: back), and grown by a
    tenth of its size per frame away on each side, since the further from a sighting the less sure where it is."""
    moved = quad + velocity * frames
    centre = moved.mean(0)
    return centre + (moved - centre) * (1 + 0.2 * abs(frames))


class PlateBlurrer:
    """Blurs the plates of one video's frames, in order. ``detector``: a
    :class:`~plateforge.runtime.detector.PlateDetector` (its own threshold is not used: ``options.conf`` is)."""

    def __init__(self, detector, options: BlurOptions = BlurOptions()):
        from plateforge.stream.tracker import PlateTracker, TrackerOptions  # SciPy: the [stream] extra

        self.detector, self.options = detector, options
        self.tracker = PlateTracker(TrackerOptions(high=options.track_from, low=options.conf, max_lost=options.fill))
        self._buffer: deque[BlurredFrame] = deque()
        self._seen: dict[int, _Seen] = {}

    def run(self, frames: Iterable[np.ndarray]) -> Iterator[BlurredFrame]:
        """Each frame of ``frames`` (BGR arrays, in order) with its plates blurred, ``lookahead`` frames late."""
        for index, image in enumerate(frames):
            yield from self.push(index, image)
        yield from self.flush()

    def push(self, index: int, image: np.ndarray) -> list[BlurredFrame]:
        """Add frame ``index``; returns the frames that are now final (oldest first)."""
        o = self.options
        detections = self.detector.detect(image, conf=o.conf)
        current = BlurredFrame(index, image)
        quads = [plate_quad(d, o.grow) for d in detections]
        current.regions += quads
        current.detected = len(quads)
        self._buffer.append(current)
        matched, _ = self.tracker.update(detections, index)
        live = set()
        for track, di in matched:
            live.add(track.id)
            quad = quads[di]
            seen = self._seen.get(track.id)
            if seen is None:  # a new plate: blur it where it stood in the frames before it was found
                self._add_track(quad, np.zeros_like(quad), index, range(index - o.hold, index))
                self._seen[track.id] = _Seen(index, quad, np.zeros_like(quad), first=index)
                continue
            gap = index - seen.frame
            velocity = (quad - seen.quad) / gap
            if 1 < gap <= o.fill + 1:  # unseen in between: interpolate
                for k in range(seen.frame + 1, index):
                    a = (k - seen.frame) / gap
                    self._add(seen.quad * (1 - a) + quad * a, [k])
            if seen.frame == seen.first:  # its speed is known now: where it came from before it was found
                self._add_track(seen.quad, velocity, seen.first, range(seen.first - o.hold, seen.first))
            self._seen[track.id] = _Seen(index, quad, velocity, seen.first)
        for tid, seen in list(self._seen.items()):  # lost for now: hold it where it would be
            if tid in live:
                continue
            ahead = index - seen.frame
            if ahead <= o.hold:
                current.regions.append(_moved(seen.quad, seen.velocity, ahead))
            elif ahead > o.fill + 1:
                del self._seen[tid]
        done = []
        while len(self._buffer) > o.lookahead:
            done.append(self._finish(self._buffer.popleft()))
        return done

    def flush(self) -> list[BlurredFrame]:
        """The frames still held back (end of the video)."""
        done = [self._finish(f) for f in self._buffer]
        self._buffer.clear()
        return done

    def _add_track(self, quad: np.ndarray, velocity: np.ndarray, frame: int, frames: Iterable[int]) -> None:
        """Blur ``quad`` (seen in ``frame``, moving ``velocity`` px per frame) in ``frames`` where it would be."""
        for k in frames:
            self._add(_moved(quad, velocity, k - frame), [k])

    def _add(self, quad: np.ndarray, frames: Iterable[int]) -> None:
        wanted = set(frames)
        for f in self._buffer:
            if f.index in wanted:
                f.regions.append(quad)

    def _finish(self, frame: BlurredFrame) -> BlurredFrame:
        frame.image = blur_quads(frame.image, frame.regions, self.options.cells)
        return frame


def blur_image(image: np.ndarray, detector, options: BlurOptions = BlurOptions()) -> tuple[np.ndarray, list]:
    """One photo (BGR) with its plates blurred (detections at ``options.conf`` and up, no tracking): (the
    blurred copy, the blurred quads ((4, 2) pixels each))."""
    quads = [plate_quad(d, options.grow) for d in detector.detect(image, conf=options.conf)]
    return blur_quads(image, quads, options.cells), quads


@dataclass
class BlurReport:
    """What :func:`blur_video` did: frames written (and the frame count the container's header gives, 0 when it
    gives none: fewer written means the video could not be decoded to its end), frames with a blurred region,
    regions blurred (of which ``detected`` in their own frame, the rest filled in from tracks), seconds and
    frames per second."""

    source: str
    output: str
    frames: int = 0
    frames_in_header: int = 0
    frames_with_plates: int = 0
    regions: int = 0
    detected: int = 0
    seconds: float = 0.0

    def as_dict(self) -> dict:
        fps = self.frames / self.seconds if self.seconds else 0.0
        return {**self.__dict__, "seconds": round(self.seconds, 2), "fps": round(fps, 1)}


def _on_thread(items: Iterator, depth: int = 8) -> Iterator:
    """``items`` produced on a daemon thread, ``depth`` ahead (OpenCV decodes without the GIL, so decoding
    overlaps detection). An exception in the producer is raised here."""
    q: queue.Queue = queue.Queue(maxsize=depth)
    end = object()
    stop = threading.Event()

    def produce():
        try:
            for item in items:
                if stop.is_set():
                    return
                q.put(item)
            q.put(end)
        except BaseException as e:  # handed to the consumer
            q.put(e)

    producer = threading.Thread(target=produce, daemon=True)
    producer.start()
    try:
        while (item := q.get()) is not end:
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        stop.set()
        while producer.is_alive():  # let a blocked producer see the stop, and finish with the source
            with contextlib.suppress(queue.Empty):
                q.get(timeout=0.05)


def _write_all(writer, frames: queue.Queue) -> None:
    while (image := frames.get()) is not None:
        writer.write(image)


def _put(frames: queue.Queue, image, writing: threading.Thread) -> None:
    """Hand ``image`` to the writer thread (None: the end), unless it has stopped."""
    while writing.is_alive():
        try:
            frames.put(image, timeout=0.5)
            return
        except queue.Full:
            continue


def blur_video(
    source: str | Path,
    output: str | Path,
    detector,
    options: BlurOptions = BlurOptions(),
    regions_log=None,
    progress=None,
) -> BlurReport:
    """Write ``output`` (MP4, codec mp4v; sound is not copied) as ``source`` with every plate blurred, at the
    source's frame rate and size. ``regions_log``: a text file to write one JSON line per frame with a blurred
    region, ``{"frame", "t" (seconds), "regions": [[[x, y] x 4], ...]}``; ``progress``: called with (frames
    done, frames in the video or 0). Raises ValueError naming the file when it cannot be read or written."""
    import json

    cap = cv2.VideoCapture(str(source))
    if not cap.isOpened():
        raise ValueError(f"{source}: not a readable video")
    fps = cap.get(cv2.CAP_PROP_FPS) or 25.0
    total = int(cap.get(cv2.CAP_PROP_FRAME_COUNT) or 0)
    ok, first = cap.read()
    if not ok:
        cap.release()
        raise ValueError(f"{source}: no frame could be decoded")
    h, w = first.shape[:2]
    writer = cv2.VideoWriter(str(output), cv2.VideoWriter_fourcc(*"mp4v"), fps, (w, h))
    if not writer.isOpened():
        cap.release()
        raise ValueError(f"{output}: cannot write a video there (MP4, mp4v)")

    def frames():
        frame = first
        while frame is not None:
            yield frame
            ok, frame = cap.read()
            if not ok:
                frame = None

    report = BlurReport(str(source), str(output), frames_in_header=total)
    start = time.perf_counter()
    written: queue.Queue = queue.Queue(maxsize=8)  # encoding on a thread of its own, as decoding (below)
    writing = threading.Thread(target=_write_all, args=(writer, written), daemon=True)
    writing.start()
    decoded = _on_thread(frames())
    try:
        for out in PlateBlurrer(detector, options).run(decoded):
            _put(written, out.image, writing)
            report.frames += 1
            report.regions += len(out.regions)
            report.detected += out.detected
            if out.regions:
                report.frames_with_plates += 1
                if regions_log is not None:
                    rows = [np.round(q, 1).tolist() for q in out.regions]
                    regions_log.write(json.dumps({"frame": out.index, "t": round(out.index / fps, 3), "regions": rows}))
                    regions_log.write("\n")
            if progress is not None:
                progress(report.frames, total)
    finally:
        decoded.close()  # the decoding thread is done with the capture before it is released
        _put(written, None, writing)
        writing.join()
        cap.release()
        writer.release()
    report.seconds = time.perf_counter() - start
    return report
