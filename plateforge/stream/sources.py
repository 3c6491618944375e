"""Frame sources: video files, image folders (as sequences), RTSP/HTTP streams and webcams, read by OpenCV
in a capture thread into a bounded queue.

- Files and folders are read at the pace of processing (nothing is dropped, results do not depend on the
  machine's speed) unless ``realtime`` is set. Live streams (``rtsp://``, ``http(s)://``, ``udp://``,
  ``tcp://``, webcam numbers) never block capture: when the queue is full the *oldest* frame is dropped.
- Sampling: ``every`` keeps every k-th frame (skipped frames are only grabbed, not converted); ``max_fps``
  keeps at most that many frames per second of source time.
- A live stream that drops or fails to open is reopened with exponential backoff (0.5 s doubling to 30 s);
  a file ends at its last frame. An unreadable image in a folder is skipped with a warning.

Frames are BGR uint8. ``Frame.t`` is the source clock in seconds: the position in a file (frame index /
fps) or folder (index / ``folder_fps``), Unix time for live streams.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import cv2
import numpy as np

from plateforge.data.manifest import IMAGE_SUFFIXES

log = logging.getLogger(__name__)

LIVE_PREFIXES = ("rtsp://", "rtsps://", "http://", "https://", "udp://", "tcp://", "rtmp://")
BACKOFF_START_S, BACKOFF_MAX_S = 0.5, 30.0


@dataclass
class Frame:
    """One captured frame: ``camera`` id, ``index`` in the source (0-based, before sampling), ``t`` source
    clock in seconds, ``wall`` Unix time of capture, ``image`` BGR uint8."""

    camera: str
    index: int
    t: float
    wall: float
    image: np.ndarray


@dataclass(frozen=True)
class SourceOptions:
    """``every``: keep every k-th frame; ``max_fps``: cap on kept frames per second of source time;
    ``queue_size``: frames buffered between capture and processing; ``realtime``: drop-oldest for files too;
    ``folder_fps``: clock rate of an image folder; ``loop``: start a file or folder again at its end (a camera
    simulated from a recording, soak tests), the frame index and clock running on; ``start_time``: Unix time
    at which a file or folder's first frame was filmed, so each frame's ``wall`` (and the events'
    ``first_seen_utc``) is the time it shows, not the time it was processed (live sources ignore it)."""

    every: int = 1
    max_fps: float | None = None
    queue_size: int = 8
    realtime: bool = False
    folder_fps: float = 25.0
    loop: bool = False
    start_time: float | None = None


def is_live(uri: str) -> bool:
    return uri.isdigit() or uri.lower().startswith(LIVE_PREFIXES)


class FrameSource:
    """A capture thread over one source. ``start()``, then ``get()`` frames until it returns None with
    ``finished`` set; ``stop()`` ends it. Counters: ``captured``, ``dropped`` (queue full, live only),
    ``reconnects``, ``bad_frames``."""

    def __init__(self, uri: str, camera: str | None = None, options: SourceOptions = SourceOptions()):
        self.uri = str(uri)
        self.name = _redact(self.uri)  # for messages: no password in logs
        self.camera = camera or camera_name(self.uri)
        self.options = options
        self.live = is_live(self.uri)
        self.drop_oldest = self.live or options.realtime
        if not self.live and not Path(self.uri).exists():
            raise FileNotFoundError(f"{self.uri}: no such video file or image folder")
        self.queue: queue.Queue[Frame] = queue.Queue(maxsize=max(1, options.queue_size))
        self.captured = self.dropped = self.reconnects = self.bad_frames = 0
        self.finished = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"capture-{self.camera}", daemon=True)
        self._last_kept_t: float | None = None

    def start(self) -> FrameSource:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)

    def get(self, timeout: float = 0.05) -> Frame | None:
        try:
            return self.queue.get(timeout=timeout)
        except queue.Empty:
            return None

    @property
    def done(self) -> bool:
        """Finished capturing and every frame taken."""
        return self.finished.is_set() and self.queue.empty()

    # -- capture ------------------------------------------------------------------------------------------
    def _keep(self, index: int, t: float) -> bool:
        o = self.options
        if index % max(o.every, 1):
            return False
        if o.max_fps and self._last_kept_t is not None and t - self._last_kept_t < 1.0 / o.max_fps - 1e-6:
            return False
        self._last_kept_t = t
        return True

    def _put(self, frame: Frame) -> None:
        self.captured += 1
        if self.drop_oldest:
            while True:
                try:
                    self.queue.put_nowait(frame)
                    return
                except queue.Full:
                    try:
                        self.queue.get_nowait()
                        self.dropped += 1
                    except queue.Empty:
                        pass
        while not self._stop.is_set():
            try:
                self.queue.put(frame, timeout=0.1)
                return
            except queue.Full:
                continue

    def _run(self) -> None:
        try:
            if Path(self.uri).is_dir():
                self._run_folder()
            else:
                self._run_capture()
        except Exception as e:  # never let a capture thread die silently
            log.error("%s: capture stopped: %s", self.name, e)
        finally:
            self.finished.set()

    def _run_folder(self) -> None:
        files = sorted(p for p in Path(self.uri).iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
        i = 0
        while not self._stop.is_set():
            self._read_files(files, i)
            i += len(files)
            if not self.options.loop or not files:
                return

    def _read_files(self, files: list[Path], start: int) -> None:
        for i, path in enumerate(files, start):
            if self._stop.is_set():
                return
            t = i / self.options.folder_fps
            if not self._keep(i, t):
                continue
            img = cv2.imread(str(path), cv2.IMREAD_COLOR)
            if img is None:
                self.bad_frames += 1
                log.warning("%s: not a readable image, skipped", path)
                continue
            self._put(Frame(self.camera, i, t, self._wall(t), img))

    def _wall(self, t: float) -> float:
        """The Unix time of a frame at source clock ``t``: the recording's time when its start is known."""
        start = self.options.start_time
        return start + t if start is not None and not self.live else time.time()

    def _open(self) -> cv2.VideoCapture | None:
        cap = cv2.VideoCapture(int(self.uri) if self.uri.isdigit() else self.uri)
        if cap.isOpened():
            return cap
        cap.release()
        return None

    def _run_capture(self) -> None:
        backoff = BACKOFF_START_S
        index = 0
        while not self._stop.is_set():
            cap = self._open()
            if cap is None:
                if not self.live:
                    raise ValueError(f"{self.name}: OpenCV cannot open this video")
                log.warning("%s: cannot open, retrying in %.1f s", self.name, backoff)
                self._stop.wait(backoff)
                backoff = min(backoff * 2, BACKOFF_MAX_S)
                self.reconnects += 1
                continue
            fps = cap.get(cv2.CAP_PROP_FPS) or 25.0
            fps = fps if 1.0 <= fps <= 240.0 else 25.0
            while not self._stop.is_set():
                t = time.time() if self.live else index / fps
                if not self._keep(index, t):
                    ok = cap.grab()
                    img = None
                else:
                    ok, img = cap.read()
                if not ok:
                    break
                if img is not None:
                    self._put(Frame(self.camera, index, t, self._wall(t), img))
                index += 1
                backoff = BACKOFF_START_S
            cap.release()
            if not self.live:
                if self.options.loop and index > 0:
                    continue
                return
            log.warning("%s: stream dropped, reconnecting in %.1f s", self.name, backoff)
            self.reconnects += 1
            self._stop.wait(backoff)
            backoff = min(backoff * 2, BACKOFF_MAX_S)


def camera_name(uri: str) -> str:
    """A camera id from a source: ``webcam0``, the host (and port) of a stream URL without its credentials,
    or a file or folder's name."""
    if uri.isdigit():
        return f"webcam{uri}"
    if is_live(uri):
        return urlsplit(uri).netloc.rpartition("@")[2]
    return Path(uri).stem or Path(uri).name


def _redact(uri: str) -> str:
    """``rtsp://user:secret@host/...`` → ``rtsp://user:***@host/...``."""
    u = urlsplit(uri)
    if "@" not in u.netloc:
        return uri
    return urlunsplit(u._replace(netloc=f"{u.username}:***@{u.netloc.rpartition('@')[2]}"))
