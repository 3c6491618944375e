"""The stream pipeline: frames → plate detector → tracker → throttled OCR + text voting → one event per
track (vehicle pass) → outbox → sinks.

Per-track OCR throttling: a plate is read when its track starts, then at most every ``OcrOptions.every``
processed frames, sooner when it has grown ``grow`` times taller than at its best read (an approaching
vehicle gets easier to read), and not at all once ``settle_reads`` reads agree with the vote at
``settle_conf`` or it has been read ``max_reads`` times. The event carries the voted text, first/last seen,
dwell time, direction and the best crop (the rectified plate of the most confident read).
"""

from __future__ import annotations

import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from rapidfuzz.distance import Levenshtein

from plateforge.runtime.grey import frame_colour
from plateforge.runtime.plate_lists import match_lists, plate_key
from plateforge.runtime.vehicles import plates_in_vehicles
from plateforge.runtime.zone import Zone, from_window, which_zone, zones_window
from plateforge.stream.events import PlateEvent, direction, event_id, frame_file, jpeg_b64, utc_iso, write_frame
from plateforge.stream.sources import Frame, FrameSource
from plateforge.stream.tracker import PlateTracker, Track, TrackerOptions
from plateforge.stream.voting import TextVote
from plateforge.types import Detection, PlateResult

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class OcrOptions:
    """``every``: least processed frames between two reads of a track; ``settle_reads`` / ``settle_conf``:
    stop reading a track once that many reads agree with its vote at that voted confidence; ``grow``: read
    sooner when the plate's height reached this multiple of its height at the best read; ``always``: read
    every tracked plate in every frame (no throttling; for comparison)."""

    every: int = 6
    settle_reads: int = 2
    settle_conf: float = 0.8
    grow: float = 1.3
    max_reads: int = 12
    always: bool = False


@dataclass(frozen=True)
class EventOptions:
    """``min_hits``: detections a track needs to become an event (shorter ones are noise); ``crops``: put
    the best rectified crop (base64 JPEG) in the event; ``merge_s``: an ended track waits this long (source
    clock, seconds) for a later track of the same camera whose voted text is within ``merge_edits`` edits
    (:func:`same_plate`: 0/O-style confusions free, edits only between texts of 5 characters or more), and
    the two become one pass (a plate hidden for a moment by another vehicle); 0 emits at once.
    ``max_delay_s``: send a pass's event while its plate is still in view, as soon as its reads settle
    (``OcrOptions.settle_reads`` agree at ``settle_conf``) or this many seconds (source clock) after it was
    first seen, whichever comes first; the rest of the pass then makes no second event. None: send it when
    the pass ends, which for a vehicle waiting at a barrier is only after the barrier opened. ``frames_dir``:
    write there the frame in which each pass's plate was seen largest (the vehicle nearest), the plate's box,
    corners and voted text drawn on it (evidence; the event's ``frame_path``). An event sent while in view
    gets the largest view so far, and its file is written again when the pass ends with a larger one."""

    min_hits: int = 3
    crops: bool = True
    merge_s: float = 1.5
    merge_edits: int = 1
    max_delay_s: float | None = None
    frames_dir: str | None = None


@dataclass
class TrackState:
    """What a camera keeps of one track (and, once merged, of one pass)."""

    vote: TextVote = field(default_factory=TextVote)
    track_id: int = 0
    first_frame: int = 0
    last_frame: int = 0
    hits: int = 0
    first_box: tuple | None = None
    last_box: tuple | None = None
    first_inner: tuple | None = None  # first and last boxes clear of the frame border (direction, motion)
    last_inner: tuple | None = None
    first_t: float = 0.0
    last_t: float = 0.0
    first_wall: float = 0.0
    reads: int = 0
    last_read_step: int = -(10**9)
    best: dict | None = None
    best_crop: np.ndarray | None = None
    view_frame: np.ndarray | None = None  # the frame where the plate was largest (``EventOptions.frames_dir``)
    view_det: Detection | None = None
    view_height: float = 0.0
    written: tuple | None = None  # (path, view height) of the frame file written for its event
    parts: dict = field(default_factory=dict)  # text → {parts: summed confidence} of its reads (UAE code, number)
    zone_hits: dict = field(default_factory=dict)  # named zone → detections in it
    best_height: float = 0.0
    settled: bool = False
    vehicle_votes: dict = field(default_factory=dict)  # label → summed score (vehicle stage)
    vehicle: dict | None = None  # the last vehicle the plate was found in
    sent: bool = False  # its event went out while the plate was in view (``EventOptions.max_delay_s``)


def _clear_of_border(box, shape, margin: float = 4.0) -> bool:
    """Whether an xyxy box lies ``margin`` px inside an image of ``shape`` (a plate cut by the frame edge has
    a clipped box, which would fake a size change)."""
    h, w = shape[:2]
    return box[0] > margin and box[1] > margin and box[2] < w - margin and box[3] < h - margin


BORDER_HITS = 4  # a plate touching the frame's edge is read only once its track is older: it is cut, and misread
ReadHook = Callable[[str, int, int, PlateResult], None]


class CameraProcessor:
    """Tracking, throttled OCR and events for one camera. ``alpr``: an :class:`~plateforge.runtime.alpr.ALPR`
    (its detector, corners and recognizer are used). ``on_read(camera, track_id, frame_index, read)`` sees
    every OCR read (for measurements). ``vehicles``: an optional
    :class:`~plateforge.runtime.vehicles.VehicleDetector`; plates are then searched inside vehicle boxes only
    and each event names its vehicle. ``lists``: :class:`~plateforge.runtime.plate_lists.PlateList` s each
    event is matched against (its voted text, then its other whole-text candidates). ``zones``:
    :class:`~plateforge.runtime.zone.Zone` s; plates whose box centre lies outside all of them are dropped
    before tracking, and each event names the (named) zone most of its detections were in; with
    ``crop_to_zones``, the detector looks only at the window around the zones (their plates larger at its
    input). ``snapshot``: write the first frame here as ``<camera>_first_frame.jpg``, the zones drawn on it."""

    def __init__(
        self,
        camera: str,
        alpr,
        tracker: TrackerOptions | None = None,
        ocr: OcrOptions = OcrOptions(),
        events: EventOptions = EventOptions(),
        metrics=None,
        on_read: ReadHook | None = None,
        vehicles=None,
        lists: list | None = None,
        zones: list[Zone] | None = None,
        snapshot: str | Path | None = None,
        crop_to_zones: bool = True,
    ):
        self.camera, self.alpr, self.ocr, self.event_options = camera, alpr, ocr, events
        self.crop_to_zones = crop_to_zones
        self.lists, self.zones = list(lists or []), list(zones or [])
        self.snapshot = Path(snapshot) if snapshot is not None else None
        self.tracker = PlateTracker(tracker or TrackerOptions())
        self.metrics, self.on_read, self.vehicles = metrics, on_read, vehicles
        self.states: dict[int, TrackState] = {}
        self.held: list[TrackState] = []  # ended tracks waiting ``merge_s`` for a continuation
        self.step = 0
        self.frames = self.detections = self.ocr_calls = self.tracked = self.events = self.outside = 0
        self._ids: OrderedDict[str, None] = OrderedDict()  # the latest event ids given out (see _event_id)

    def _write_snapshot(self, img: np.ndarray) -> None:
        """The camera's first frame, with its zones drawn, to check them against the view."""
        import cv2

        self.snapshot.mkdir(parents=True, exist_ok=True)
        path = self.snapshot / f"{self.camera}_first_frame.jpg"
        for zone in self.zones:
            img = zone.draw(img)
        if not cv2.imwrite(str(path), img):
            log.warning("%s: cannot write the snapshot %s", self.camera, path)

    def _needs_read(self, track: Track, st: TrackState, clear: bool) -> bool:
        """Whether to read the track's plate in this frame; ``clear``: its box is clear of the frame's edge."""
        o = self.ocr
        if o.always:
            return True
        if track.hits <= BORDER_HITS and not clear:
            return False  # cut by the frame's edge (entering): a part of the plate reads as another plate
        if st.settled or st.reads >= o.max_reads:
            return False
        if st.reads == 0 or self.step - st.last_read_step >= o.every:
            return True
        height = track.box[3] - track.box[1]
        return st.best_height > 0 and height >= o.grow * st.best_height

    def _detect(self, img: np.ndarray) -> list[Detection]:
        """The frame's plates; with zones, the detector looks only at the window around them
        (:func:`~plateforge.runtime.zone.zones_window`), so their plates are larger at its input, and plates the
        window cuts are left out (a part of a plate is read as another plate)."""
        window = zones_window(self.zones, img.shape) if self.zones and self.crop_to_zones else None
        if window is None:
            return self.alpr.detector.detect(img)
        x1, y1, x2, y2 = window
        found = from_window(self.alpr.detector.detect(img[y1:y2, x1:x2]), window, img.shape)
        return [d for d in found if d is not None]

    def process(self, frame: Frame) -> list[PlateEvent]:
        """Process one frame of this camera; returns the events of tracks that ended."""
        with frame_colour(frame.image):  # decided once per frame: detector, vehicle crops and reads follow it
            return self._process(frame)

    def _process(self, frame: Frame) -> list[PlateEvent]:
        t0 = time.perf_counter()
        img = frame.image
        owners = None
        if self.vehicles is not None:
            found = self.vehicles.detect(img)
            pairs = plates_in_vehicles(self.alpr.detector, img, found)
            dets, owners = [d for d, _ in pairs], [found[i] for _, i in pairs]
        else:
            dets = self._detect(img)
        if self.frames == 0 and self.snapshot is not None:
            self._write_snapshot(img)
        in_zone = None
        if self.zones:
            found = [which_zone(self.zones, d.box, img.shape) for d in dets]
            keep = [i for i, z in enumerate(found) if z is not None]
            self.outside += len(dets) - len(keep)
            dets, in_zone = [dets[i] for i in keep], [found[i].name for i in keep]
            owners = [owners[i] for i in keep] if owners is not None else None
        t1 = time.perf_counter()
        matched, ended = self.tracker.update(dets, frame.index)
        t2 = time.perf_counter()
        self.frames += 1
        self.detections += len(dets)
        self.tracked += len(matched)
        to_read = []
        for track, di in matched:
            st = self.states.setdefault(track.id, TrackState())
            box = dets[di].box
            if st.first_box is None:
                st.first_box, st.first_t, st.first_wall = box, frame.t, frame.wall
            st.last_box, st.last_t = box, frame.t
            if owners is not None:
                v = owners[di]
                st.vehicle_votes[v.label] = st.vehicle_votes.get(v.label, 0.0) + v.score
                st.vehicle = v.to_dict()
            clear = _clear_of_border(box, img.shape)
            if clear:
                st.first_inner = st.first_inner or box
                st.last_inner = box
            if in_zone is not None and in_zone[di] is not None:
                st.zone_hits[in_zone[di]] = st.zone_hits.get(in_zone[di], 0) + 1
            if self.event_options.frames_dir is not None and box[3] - box[1] > st.view_height:
                st.view_frame, st.view_det, st.view_height = img, dets[di], box[3] - box[1]
            if self._needs_read(track, st, clear):
                to_read.append((track, di, st))
        if to_read:
            reads, crops = self.alpr.read_detections(img, [dets[di] for _, di, _ in to_read])
            self.ocr_calls += len(reads)
            for (track, _, st), read, crop in zip(to_read, reads, crops, strict=True):
                self._add_read(track, st, read, crop, frame)
        t3 = time.perf_counter()
        events = self._send_early(matched, frame) if self.event_options.max_delay_s is not None else []
        for t in ended:
            self._end(t)
        events += self._release(frame.t)
        self.step += 1
        if self.metrics is not None:
            m = self.metrics
            m.processed(self.camera)
            m.stage.labels("detect").observe(t1 - t0)
            m.stage.labels("track").observe(t2 - t1)
            if to_read:
                m.stage.labels("ocr").observe(t3 - t2)
                m.ocr_calls.labels(self.camera).inc(len(to_read))
            m.stage.labels("frame").observe(time.perf_counter() - t0)
        return events

    def _add_read(self, track: Track, st: TrackState, read: PlateResult, crop: np.ndarray, frame: Frame) -> None:
        st.reads += 1
        st.last_read_step = self.step
        if self.on_read is not None:
            self.on_read(self.camera, track.id, frame.index, read)
        is_plate = getattr(self.alpr, "is_plate", None)
        if is_plate is not None and not is_plate(read):
            return  # the crop does not look like a plate (a sign, a badge): no vote, no best crop
        st.vote.add(read)
        if read.parts:
            seen = st.parts.setdefault(read.text, {})
            seen[read.parts] = seen.get(read.parts, 0.0) + read.confidence
        if read.text and (st.best is None or read.confidence > st.best["confidence"]):
            st.best = {
                "frame": frame.index,
                "t": frame.t,
                "box": [round(v, 1) for v in read.box],
                "corners": [[round(x, 1), round(y, 1)] for x, y in read.corners],
                "detection_score": round(read.detection_score, 4),
                "confidence": round(read.confidence, 4),
                "text": read.text,
            }
            st.best_crop = crop
            st.best_height = read.box[3] - read.box[1]
        voted = st.vote.result()
        o = self.ocr
        if voted is not None and voted.agree >= o.settle_reads and voted.confidence >= o.settle_conf:
            st.settled = True

    def _send_early(self, matched: list, frame: Frame) -> list[PlateEvent]:
        """Events of live tracks that settled or were first seen ``max_delay_s`` ago (see
        :class:`EventOptions`). A track that continues a held pass (within the merge window and edits) sends
        that pass with it, or nothing when the pass was sent already."""
        o = self.event_options
        out = []
        for track, _ in matched:
            st = self.states.get(track.id)
            if st is None or st.sent or track.hits < o.min_hits:
                continue
            if not (st.settled or frame.t - st.first_t >= o.max_delay_s):
                continue
            voted = st.vote.result()
            if voted is None:
                continue
            st.sent = True
            prior = next((h for h in self.held if self._continues(h, st, voted)), None)
            if prior is not None and prior.sent:
                continue
            st.track_id, st.first_frame, st.last_frame, st.hits = track.id, track.first_frame, frame.index, track.hits
            if prior is not None:
                self.held.remove(prior)
            sent = _merge(prior, st) if prior is not None else st
            e = self._event(sent, in_view=True)
            st.written = sent.written  # the live track rewrites that file if it is later seen larger
            if e is not None:
                out.append(e)
        return out

    def _continues(self, held: TrackState, st: TrackState, voted) -> bool:
        """Whether ``st`` (its vote ``voted``) started within ``held``'s merge window and reads as its plate."""
        o = self.event_options
        hv = held.vote.result()
        if hv is None:
            return False
        return st.first_t - held.last_t <= o.merge_s and one_plate(hv, voted, o.merge_edits)

    def _end(self, track: Track) -> None:
        """A track ended: merge it with a held pass of similar text, then hold it for ``merge_s``."""
        st = self.states.pop(track.id, None)
        if st is None:
            return
        st.track_id, st.first_frame, st.last_frame, st.hits = track.id, track.first_frame, track.last_frame, track.hits
        voted = st.vote.result()
        if voted is not None:
            for h in self.held:  # a held track without votes (a sign the plate check rejected) continues nothing
                if self._continues(h, st, voted):
                    self.held.remove(h)
                    st = _merge(h, st)
                    break
        self.held.append(st)

    def _release(self, now: float | None) -> list[PlateEvent]:
        """Events of held passes whose merge window closed before ``now`` (None: all of them)."""
        out, keep = [], []
        for h in self.held:
            if now is None or (now - h.last_t > self.event_options.merge_s and not self._may_continue(h)):
                e = self._event(h)
                if e is not None:
                    out.append(e)
            else:
                keep.append(h)
        self.held = keep
        return out

    def _may_continue(self, h: TrackState) -> bool:
        """Whether a live track started within ``h``'s merge window and may still read as the same plate."""
        o = self.event_options
        hv = h.vote.result()
        for st in self.states.values():
            if st.first_box is None or not 0 <= st.first_t - h.last_t <= o.merge_s:
                continue
            v = st.vote.result()
            if v is None or hv is None or one_plate(hv, v, o.merge_edits):
                return True
        return False

    def _write_view(self, st: TrackState, path: Path, voted) -> bool:
        """Write ``st``'s largest view to ``path`` with its voted text; remember it for a later rewrite."""
        d = st.view_det
        shown = PlateResult(d.box, d.corners, voted.text, voted.confidence, (), voted.region, 0.0, d.score)
        ok = write_frame(path, st.view_frame, shown)
        st.written = (path, st.view_height) if ok else st.written
        return ok

    def _event(self, st: TrackState, in_view: bool = False) -> PlateEvent | None:
        """The event of pass ``st``; None when it is too short, has no vote, or was sent while in view (its
        frame file is then written again when the plate was seen larger since)."""
        if st.sent and not in_view:
            voted = st.vote.result()
            if st.written is not None and st.view_height > st.written[1] and voted is not None:
                self._write_view(st, st.written[0], voted)
            return None
        if st.hits < self.event_options.min_hits:
            return None
        voted = st.vote.result()
        if voted is None:
            return None
        screen, motion = direction(st.first_inner or st.first_box, st.last_inner or st.last_box)
        self.events += 1
        seen = st.parts.get(voted.text)
        parts = max(seen, key=seen.get) if seen else ()
        matches = self._list_matches(voted, parts, st.first_wall)
        eid = self._event_id(st)
        frame_path = None
        if self.event_options.frames_dir is not None and st.view_frame is not None:
            path = frame_file(self.event_options.frames_dir, self.camera, st.first_wall, eid)
            frame_path = str(path) if self._write_view(st, path, voted) else None
        if self.metrics is not None:
            self.metrics.events.labels(self.camera).inc()
            for m in matches:
                self.metrics.list_matches.labels(self.camera, m["list"]).inc()
        return PlateEvent(
            event_id=eid,
            camera=self.camera,
            track_id=st.track_id,
            text=voted.text,
            confidence=voted.confidence,
            char_confidences=voted.char_confidences,
            region=voted.region,
            region_confidence=voted.region_confidence,
            format_ok=voted.format_ok,
            candidates=voted.candidates,
            first_seen=round(st.first_t, 3),
            last_seen=round(st.last_t, 3),
            dwell_s=round(st.last_t - st.first_t, 3),
            first_frame=st.first_frame,
            last_frame=st.last_frame,
            first_seen_utc=utc_iso(st.first_wall),
            direction=screen,
            motion=motion,
            frames=st.hits,
            ocr_reads=st.reads,
            best=st.best or {},
            best_crop_jpeg=jpeg_b64(st.best_crop) if self.event_options.crops else None,
            vehicle=_vehicle(st),
            in_view=in_view,
            lists=matches,
            frame_path=frame_path,
            parts=parts,
            zone=max(st.zone_hits, key=st.zone_hits.get) if st.zone_hits else None,
        )

    def _event_id(self, st: TrackState) -> str:
        """The pass's idempotent id (:func:`event_id`). Two plates first seen in the same frame would share it
        (and the outbox would keep only one), so a pass whose id was given out already gets one that also
        names its track (the earliest track of a merged pass; the same again when the file is read again)."""
        eid = event_id(self.camera, st.first_frame, st.first_t)
        if eid in self._ids:
            eid = event_id(self.camera, st.first_frame, st.first_t, st.track_id)
        self._ids[eid] = None
        if len(self._ids) > 10_000:  # passes first seen in one frame end within seconds of each other
            self._ids.popitem(last=False)
        return eid

    def _list_matches(self, voted, parts: tuple[str, ...], at: float) -> tuple[dict, ...]:
        """The list entries the pass matched, valid at ``at`` (its first sighting, Unix seconds)."""
        if not self.lists:
            return ()
        texts = [voted.text] + [t for t, _ in voted.candidates if t != voted.text]
        return tuple(m.to_dict() for m in match_lists(self.lists, texts, voted.region, parts, at))

    def finish(self) -> list[PlateEvent]:
        """End of stream: every live and held track becomes an event (when long enough)."""
        for t in self.tracker.flush():
            self._end(t)
        return self._release(None)


def _vehicle(st: TrackState) -> dict | None:
    """The pass's vehicle: the label with the most score over its frames, and the last box seen."""
    if not st.vehicle_votes or st.vehicle is None:
        return None
    return {**st.vehicle, "label": max(st.vehicle_votes, key=st.vehicle_votes.get)}


def same_plate(a: str, b: str, max_edits: int, fuzzy_from: int = 5) -> bool:
    """Whether two tracks' voted texts may be one plate, as plate lists decide (:mod:`plateforge.runtime.
    plate_lists`): the characters a reader confuses are free, and ``max_edits`` edits are allowed only when the
    longer text has ``fuzzy_from`` characters or more. Short plates (UAE ``31`` and ``A1``) must agree in full:
    one edit is half of them, and two vehicles' plates that close are common where plates are that short."""
    ka, kb = plate_key(a), plate_key(b)
    allowed = max_edits if max(len(ka), len(kb)) >= fuzzy_from else 0
    return Levenshtein.distance(ka, kb, score_cutoff=allowed) <= allowed


def one_plate(a, b, max_edits: int) -> bool:
    """Whether two tracks' votes (:class:`~plateforge.stream.voting.VotedText`) read one plate: their voted
    texts are :func:`same_plate`, or one's voted text is among the texts the other's vote weighed (a plate
    leaving the view read in part, ``42`` voted over ``1642``, continues the ``1642`` pass)."""
    if same_plate(a.text, b.text, max_edits):
        return True
    key_a, key_b = plate_key(a.text), plate_key(b.text)
    return key_a in {plate_key(t) for t, _ in b.candidates} or key_b in {plate_key(t) for t, _ in a.candidates}


def _merge(a: TrackState, b: TrackState) -> TrackState:
    """One pass from an earlier (``a``) and a later (``b``) track of the same plate."""
    m = TrackState(track_id=a.track_id, first_frame=a.first_frame, last_frame=b.last_frame, hits=a.hits + b.hits)
    m.vote.reads = a.vote.reads + b.vote.reads
    m.first_box, m.first_t, m.first_wall = a.first_box, a.first_t, a.first_wall
    m.last_box, m.last_t = b.last_box, b.last_t
    m.first_inner = a.first_inner or b.first_inner
    m.last_inner = b.last_inner or a.last_inner
    m.reads = a.reads + b.reads
    better = b if (b.best or {}).get("confidence", -1) > (a.best or {}).get("confidence", -1) else a
    m.best, m.best_crop, m.best_height = better.best, better.best_crop, better.best_height
    larger = b if b.view_height > a.view_height else a
    m.view_frame, m.view_det, m.view_height = larger.view_frame, larger.view_det, larger.view_height
    m.written = a.written or b.written
    m.zone_hits = {k: a.zone_hits.get(k, 0) + b.zone_hits.get(k, 0) for k in {*a.zone_hits, *b.zone_hits}}
    m.parts = {}
    for seen in (a.parts, b.parts):
        for text, splits in seen.items():
            mine = m.parts.setdefault(text, {})
            for split, conf in splits.items():
                mine[split] = mine.get(split, 0.0) + conf
    m.vehicle_votes = {
        k: a.vehicle_votes.get(k, 0.0) + b.vehicle_votes.get(k, 0.0) for k in {*a.vehicle_votes, *b.vehicle_votes}
    }
    m.vehicle = b.vehicle or a.vehicle
    m.sent = a.sent or b.sent
    return m


@dataclass
class StreamSummary:
    """Counts of one run; ``seconds`` wall time; ``fps`` processed frames per second over all cameras."""

    frames: int = 0
    captured: int = 0
    dropped: int = 0
    bad_frames: int = 0
    errors: int = 0
    detections: int = 0
    outside: int = 0
    tracked: int = 0
    ocr_calls: int = 0
    events: int = 0
    new_events: int = 0
    seconds: float = 0.0
    fps: float = 0.0
    backlog: dict = field(default_factory=dict)


def _store(outbox, event: dict, tries: int = 5) -> bool:
    """Put ``event`` in the outbox, retrying a busy or briefly failing database; raises after ``tries``
    (the event exists nowhere else, so failing loudly beats dropping it)."""
    for attempt in range(tries):
        try:
            return outbox.put(event)
        except Exception as e:
            if attempt == tries - 1:
                raise RuntimeError(f"{outbox.path}: cannot store event {event.get('event_id')}: {e}") from e
            log.warning("%s: storing an event failed (%s); retrying", outbox.path, e)
            time.sleep(0.2 * 2**attempt)
    return False


def _tick(on_tick: Callable[[], None]) -> None:
    try:
        on_tick()
    except Exception as e:  # metrics must never stop a stream
        log.warning("stream tick failed: %s: %s", type(e).__name__, e)


def run_stream(
    sources: list[FrameSource],
    processors: dict[str, CameraProcessor],
    outbox=None,
    dispatchers: list | None = None,
    on_event: Callable[[PlateEvent], None] | None = None,
    stop: threading.Event | None = None,
    drain_s: float = 10.0,
    on_tick: Callable[[], None] | None = None,
) -> StreamSummary:
    """Run until every source has ended (files, folders) or ``stop`` is set (live streams). Each event is
    stored in ``outbox`` (when given) before ``on_event`` and the dispatchers see it. A frame that fails
    is logged and counted, never fatal. At the end, waits up to ``drain_s`` for the sinks to catch up.
    ``on_tick`` is called about once a second and at the end (metrics of the capture threads)."""
    stop = stop or threading.Event()
    dispatchers = dispatchers or []
    summary = StreamSummary()
    t0 = time.perf_counter()

    def emit(events: list[PlateEvent]) -> None:
        for e in events:
            summary.events += 1
            if outbox is not None and _store(outbox, e.to_dict()):
                summary.new_events += 1
            for d in dispatchers:
                d.notify()
            if on_event is not None:
                on_event(e)

    for s in sources:
        s.start()
    ticked = time.monotonic()
    try:
        while not stop.is_set() and not all(s.done for s in sources):
            if on_tick is not None and time.monotonic() - ticked >= 1.0:
                ticked = time.monotonic()
                _tick(on_tick)
            got = False
            for s in sources:
                frame = s.get(timeout=0)
                if frame is None:
                    continue
                got = True
                try:
                    events = processors[s.camera].process(frame)
                except Exception as e:  # a bad frame is counted and skipped
                    summary.errors += 1
                    log.error("%s frame %d: %s: %s", s.camera, frame.index, type(e).__name__, e)
                    continue
                emit(events)  # outside the guard: an event that cannot be stored stops the run, loudly
            if not got:
                time.sleep(0.002)
    finally:
        for s in sources:
            s.stop()
        for proc in processors.values():
            emit(proc.finish())
        if on_tick is not None:
            _tick(on_tick)
    summary.seconds = time.perf_counter() - t0
    for s in sources:
        summary.captured += s.captured
        summary.dropped += s.dropped
        summary.bad_frames += s.bad_frames
    for p in processors.values():
        summary.frames += p.frames
        summary.detections += p.detections
        summary.outside += p.outside
        summary.tracked += p.tracked
        summary.ocr_calls += p.ocr_calls
    summary.fps = summary.frames / max(summary.seconds, 1e-9)
    for d in dispatchers:
        d.drain(drain_s)
        summary.backlog[d.sink.name] = outbox.backlog(d.sink.name) if outbox is not None else 0
    return summary
