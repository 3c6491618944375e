"""Prometheus metrics for a stream process (prometheus-client), served on ``/metrics`` when a port is given.

Names: ``plateforge_frames_total{camera,state}`` (state = captured, processed, dropped),
``plateforge_fps{camera}`` (processed frames per second over the last 5 s),
``plateforge_last_frame_timestamp_seconds{camera}`` (Unix time of the last processed frame: alert when a
camera goes quiet), ``plateforge_stage_seconds
{stage}`` (histogram: detect, track, ocr, frame), ``plateforge_ocr_calls_total{camera}``,
``plateforge_events_total{camera}``, ``plateforge_list_matches_total{camera,list}`` (events that matched a
plate list), ``plateforge_sink_backlog{sink}``, ``plateforge_sink_errors_total{sink}``,
``plateforge_reconnects_total{camera}``.
"""

from __future__ import annotations

import time
from collections import deque


class StreamMetrics:
    """Metrics in their own registry (several processors in one test process do not collide)."""

    def __init__(self, port: int | None = None, addr: str = "0.0.0.0"):
        try:
            from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, start_http_server
        except ImportError as e:
            raise ImportError("metrics need prometheus-client: pip install 'plateforge[stream]'") from e
        r = self.registry = CollectorRegistry()
        self.frames = Counter("plateforge_frames", "Frames by state", ["camera", "state"], registry=r)
        self.fps = Gauge("plateforge_fps", "Processed frames per second (last 5 s)", ["camera"], registry=r)
        self.stage = Histogram(
            "plateforge_stage_seconds",
            "Per-stage latency",
            ["stage"],
            registry=r,
            buckets=(0.001, 0.002, 0.005, 0.01, 0.02, 0.04, 0.08, 0.16, 0.32, 1.0),
        )
        self.ocr_calls = Counter("plateforge_ocr_calls", "Plates sent to the recognizer", ["camera"], registry=r)
        self.events = Counter("plateforge_events", "Plate events emitted", ["camera"], registry=r)
        self.list_matches = Counter(
            "plateforge_list_matches", "Events that matched a plate list", ["camera", "list"], registry=r
        )
        self.backlog = Gauge("plateforge_sink_backlog", "Events not yet delivered", ["sink"], registry=r)
        self.sink_errors = Counter("plateforge_sink_errors", "Failed delivery attempts", ["sink"], registry=r)
        self.reconnects = Counter("plateforge_reconnects", "Stream reconnects", ["camera"], registry=r)
        self.last_frame = Gauge(
            "plateforge_last_frame_timestamp_seconds", "Unix time of the last processed frame", ["camera"], registry=r
        )
        self._times: dict[str, deque] = {}
        self._synced: dict[tuple[str, str], int] = {}  # (camera, counter) → the source's count already added
        self.server = None
        if port is not None:
            self.server, _ = start_http_server(port, addr=addr, registry=r)

    def processed(self, camera: str) -> None:
        self.frames.labels(camera, "processed").inc()
        self.last_frame.labels(camera).set_to_current_time()
        times = self._times.setdefault(camera, deque())
        now = time.monotonic()
        times.append(now)
        while times and now - times[0] > 5.0:
            times.popleft()
        if len(times) > 1:
            self.fps.labels(camera).set((len(times) - 1) / max(times[-1] - times[0], 1e-6))

    def sync_sources(self, sources) -> None:
        """Add what each frame source (``camera``, ``captured``, ``dropped``, ``reconnects``) counted since the
        last call: the capture threads count, the processing loop calls this about once a second."""
        for src in sources:
            for name, value in (("captured", src.captured), ("dropped", src.dropped), ("reconnects", src.reconnects)):
                key = (src.camera, name)
                delta = value - self._synced.get(key, 0)
                if delta > 0:
                    if name == "reconnects":
                        self.reconnects.labels(src.camera).inc(delta)
                    else:
                        self.frames.labels(src.camera, name).inc(delta)
                    self._synced[key] = value

    def sink_result(self, sink: str, delivered: int, error: str | None, backlog: int) -> None:
        self.backlog.labels(sink).set(backlog)
        if error:
            self.sink_errors.labels(sink).inc()

    def close(self) -> None:
        if self.server is not None:
            self.server.shutdown()
            self.server = None
