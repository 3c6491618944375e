"""``ALPR``: whole images in, plates out — detector → corners → perspective rectification → recognizer →
format check. ONNX Runtime only (no torch); every component can be replaced by the caller's own."""

from __future__ import annotations

import os
import time
from collections.abc import Sequence
from dataclasses import dataclass, field, replace

import numpy as np

from plateforge.ops.boxes import box_iou
from plateforge.ops.geometry import quad_boxes, rectify
from plateforge.ops.slots import char_alternatives, text_confidences
from plateforge.runtime.corners import CornerRegressor
from plateforge.runtime.defaults import (
    FIT_FORMATS,
    LOW_SCORE_FIRST_LOOK,
    LOW_SCORE_FROM,
    LOW_SCORE_MAX,
    LOW_SCORE_READ,
    PLATE_CHECK,
    PLATE_CHECK_GREY,
    PLATE_CHECK_SURE,
    RECHECK_BELOW,
    RECTIFY_MARGIN,
    SECOND_VIEW_BELOW,
    SMALL_BELOW,
)
from plateforge.runtime.detector import PlateDetector
from plateforge.runtime.grey import frame_colour, known_frame
from plateforge.runtime.images import ImageInput, load_image
from plateforge.runtime.plate_formats import fit_format, format_ok, top_texts, valid_anywhere
from plateforge.runtime.plate_parts import plate_parts
from plateforge.runtime.recognizer import PlateRecognizer
from plateforge.runtime.zone import Zone, from_window, which_zone, zones_window
from plateforge.types import Detection, PlateRead, PlateResult


@dataclass
class ImageRead:
    """What :meth:`ALPR.read_timed` returns for one image: plates, milliseconds per stage, and the decoded
    BGR image (for drawing without decoding it again)."""

    plates: list[PlateResult]
    timing_ms: dict[str, float] = field(default_factory=dict)
    image: np.ndarray | None = None


class ALPR:
    """The plate reader.

    ``detector``, ``recognizer``: component objects or ONNX paths (default: the bundled models);
    ``corners``: a :class:`CornerRegressor`, a path, ``"auto"`` (the bundled regressor, which measures better
    than the detector head's corners; each result's box is then the bounding box of the refined corners) or
    None (use the head's corners and the detector's box); ``conf``: detection threshold;
    ``top_n``: alternative texts per plate (1 = none); ``threads``: ONNX Runtime threads per model;
    ``recognizer_config``: the YAML of a fast-plate-ocr recognizer given as ``recognizer``; ``rectify_margin``:
    border kept around each plate in its rectified crop, as a fraction of the plate height (the recognizer's
    training crops have 0 to 0.15, so a plate whose corners land a little inside it stays whole); ``tta``: the
    recognizer also reads each plate zoomed out and in and averages the probabilities (see
    :class:`PlateRecognizer`; on by default: 1.5-2 points more exact reads on synthetic scenes for ~1.5 ms per
    plate on one thread; False for the fastest reads); ``fit_formats``: a read that fails its region's plate
    patterns is replaced by the most likely valid text among its per-character alternatives whose probability
    is at least this share of the most likely text's (None: reads are kept as read; see
    :func:`~plateforge.runtime.plate_formats.fit_format`); ``tiles``: the detector also looks at N × N
    overlapping tiles for plates too small at the whole image's scale (see :class:`PlateDetector`; N² more
    detector runs; ignored when ``detector`` is an object); ``second_view_below``: a plate whose box is less
    than this many pixels tall is also read from a second crop, cut by corners the corner model refines
    again from a crop around its first corners, and the recognizer averages its probabilities over both
    crops (small plates are where one corner estimate is least sure; reported corners stay the first
    ones; None or 0: one crop per plate; needs a corner model); ``recheck_below``: each plate is first read
    once, from its crop as cut; only plates read less confidently than this, or whose read fails its
    region's patterns, get the test-time zooms and the second crop (their reads are the same as with every
    plate rechecked; None or ≥ 1: every plate is); ``specialists``: the bundled recognizer's region
    specialists re-read the rechecked plates of their regions, and its small-plate specialist joins in on
    rechecked plates less than ``small_below`` px tall (their first corners' outline; see
    :class:`PlateRecognizer`; both ignored when ``recognizer`` is an object or a path of your own, unless
    that object has specialists of its own; None or 0: no plate is read as small); ``regions``: the regions
    the site's plates come from, names or group prefixes (``["uae"]``, ``["us", "eu-de"]``): plates are
    placed, routed to specialists and format-checked among those alone (see :class:`PlateRecognizer`; None:
    every region the recognizer knows); ``low_score_from``: detections a plateforge detector scores
    from this up to its threshold, and that overlap no plate above it, are read too (the best
    ``LOW_SCORE_MAX`` per image), and kept only when their read is at least ``low_score_read`` sure and
    fits its region's patterns: plates the detector is unsure of but the recognizer reads clearly (None, 0
    or ≥ the threshold: off; only with a :class:`PlateDetector`); ``plate_check``: a plate is reported only
    when the recognizer's plate head (output ``plate``, the bundled recognizer has one) gives its crop at least
    this probability of being a plate at all, which drops signs and plate-like text the detector finds (None
    or 0: off; each result's ``plate_score`` shows the probability either way; ignored for a recognizer
    without the head); ``plate_check_sure``: a plate scored from ``plate_check`` up to this is reported only
    when its read fits its region's patterns (None or 0: no such condition); ``plate_check_grey``: the
    ``plate_check`` threshold in monochrome frames, whose crops the recognizer's grey network scores with its
    own plate head (None: ``plate_check`` there too; with ``plate_check`` off, off too); ``zones``: the parts of the
    photo where plates count, for a fixed camera (:class:`~plateforge.runtime.zone.Zone` s or point lists, in
    pixels or fractions): only plates whose box centre lies in one are reported, and the detector looks only at
    the window around them, so their plates are larger at its input; ``grey``: a monochrome image (infrared
    and grey cameras) is read by the bundled detector's, corner model's and recognizer's grey-trained copies (see
    :mod:`plateforge.runtime.grey`; colour images are read as without them; ignored for detectors and
    recognizers given as objects or paths of your own). Detectors exported
    by Ultralytics (raw, pose, end-to-end) or open-image-models load as they are.
    """

    def __init__(
        self,
        detector: PlateDetector | str | os.PathLike | None = None,
        recognizer: PlateRecognizer | str | os.PathLike | None = None,
        corners: CornerRegressor | str | os.PathLike | None = "auto",
        conf: float | None = None,
        top_n: int = 1,
        threads: int | None = None,
        fast_resize: bool = False,
        recognizer_config: str | os.PathLike | None = None,
        rectify_margin: float = RECTIFY_MARGIN,
        tta: bool | Sequence[float] = True,
        fit_formats: float | None = FIT_FORMATS,
        tiles: int = 1,
        second_view_below: float | None = SECOND_VIEW_BELOW,
        recheck_below: float | None = RECHECK_BELOW,
        specialists: bool = True,
        small_below: float | None = SMALL_BELOW,
        regions: Sequence[str] | None = None,
        low_score_from: float | None = LOW_SCORE_FROM,
        low_score_read: float = LOW_SCORE_READ,
        plate_check: float | None = PLATE_CHECK,
        plate_check_sure: float | None = PLATE_CHECK_SURE,
        plate_check_grey: float | None = PLATE_CHECK_GREY,
        zones: Sequence | None = None,
        grey: bool = True,
    ):
        if regions is not None and hasattr(recognizer, "read_crops"):
            raise ValueError("regions: give them to your PlateRecognizer(regions=...), not to ALPR")
        if low_score_from is not None and not 0 <= low_score_from < 1:
            raise ValueError(f"low_score_from: expected a detection score from 0 up to 1, got {low_score_from}")
        if not 0 <= low_score_read <= 1:
            raise ValueError(f"low_score_read: expected a read confidence from 0 to 1, got {low_score_read}")
        if plate_check is not None and not 0 <= plate_check <= 1:
            raise ValueError(f"plate_check: expected a plate probability from 0 to 1, got {plate_check}")
        if plate_check_grey is not None and not 0 <= plate_check_grey <= 1:
            raise ValueError(f"plate_check_grey: expected a plate probability from 0 to 1, got {plate_check_grey}")
        if plate_check_sure is not None and not 0 <= plate_check_sure <= 1:
            raise ValueError(f"plate_check_sure: expected a plate probability from 0 to 1, got {plate_check_sure}")
        self.detector = (
            detector
            if hasattr(detector, "detect")
            else PlateDetector(
                detector,
                conf=conf,
                threads=threads,
                fast_resize=fast_resize,
                tiles=tiles,
                grey="auto" if grey else None,
            )
        )
        self.recognizer = (
            recognizer
            if hasattr(recognizer, "read_crops")
            else PlateRecognizer(
                recognizer,
                threads=threads,
                config=recognizer_config,
                tta=tta,
                specialists="auto" if specialists else None,
                small_specialist="auto" if specialists else None,
                regions=regions,
                grey="auto" if grey else None,
            )
        )
        if corners == "auto":
            corners = CornerRegressor(threads=threads, grey="auto" if grey else None)
        elif corners is not None and not hasattr(corners, "refine"):
            corners = CornerRegressor(corners, threads=threads, grey="auto" if grey else None)
        self.corners = corners
        self.top_n = top_n
        self.rectify_margin = rectify_margin
        self.fit_formats = fit_formats
        self.second_view_below = second_view_below
        self.recheck_below = recheck_below
        self.small_below = small_below
        self.low_score_from = low_score_from
        self.low_score_read = low_score_read
        self.plate_check = plate_check or None
        self.plate_check_sure = plate_check_sure or None
        self.plate_check_grey = plate_check_grey
        self.zones = [z if isinstance(z, Zone) else Zone(z, "zones") for z in zones or []]

    def warm_up(self) -> None:
        """Run every model once on blank input and load the plate formats. ONNX Runtime's first run of a session
        is slow (the bundled recognizer's ~90 ms against ~2 ms after), and the formats load on first use (~11 ms),
        so a server or a stream calls this before its first image."""
        valid_anywhere("")  # loads the regions' plate formats
        blank = np.full((720, 1280, 3), 114, np.uint8)
        crops = [np.full((48, 160, 3), 200, np.uint8)] * 3
        rec = self.recognizer
        for grey in (False, True):  # the colour networks and the grey-trained ones (monochrome frames)
            with known_frame(grey):
                self.detector.detect(blank)
                for r in [rec, *getattr(rec, "specialists", {}).values(), getattr(rec, "small_specialist", None)]:
                    if r is not None:
                        r.read_crops(crops)
                if self.corners is not None:
                    self.corners.refine(blank, np.array([[600, 340, 700, 380]], np.float32))

    def plate_cut(self) -> float | None:
        """The plate check's threshold in the frame being read: ``plate_check_grey`` where the recognizer's grey
        network reads it (its own plate head scores the crops), else ``plate_check``; None: no check. Outside a
        frame being read (:func:`~plateforge.runtime.grey.frame_colour`), the colour one."""
        if self.plate_check is None:
            return None
        reads_grey = getattr(self.recognizer, "reads_grey", None)
        if self.plate_check_grey is not None and reads_grey is not None and reads_grey():
            return self.plate_check_grey
        return self.plate_check

    def is_plate(self, plate: PlateResult) -> bool:
        """Whether the plate check lets ``plate`` be reported: its ``plate_score`` is at least :meth:`plate_cut`
        (``plate_check``, in grey frames ``plate_check_grey``), and, under ``plate_check_sure``, its read fits
        its region's patterns where it has any (True without a check or a score)."""
        score, cut = plate.plate_score, self.plate_cut()
        if cut is None or score is None:
            return True
        if score < cut:
            return False
        return plate.format_ok is not False or self.plate_check_sure is None or score >= self.plate_check_sure

    def read_timed(self, image: ImageInput) -> ImageRead:
        """Read one image (path, bytes or array); raises ImageError for an unusable input."""
        t0 = time.perf_counter()
        img = load_image(image)
        t1 = time.perf_counter()
        with frame_colour(img):  # a monochrome frame is read by the grey-trained networks
            detections, sure = self._detect_in_zones(img) if self.zones else self._detect(img)
            t2 = time.perf_counter()
            plates, _, rectify_s, recognize_s = self._read_detections(img, detections, sure=sure)
            plates = plates[:sure] + [p for p in plates[sure:] if p.confidence >= self.low_score_read and p.format_ok]
            plates = [p for p in plates if self.is_plate(p)]  # in the frame: grey frames have their own cut
        timing = {"decode": t1 - t0, "detect": t2 - t1, "rectify": rectify_s, "recognize": recognize_s}
        timing["total"] = time.perf_counter() - t0
        return ImageRead(plates, {k: round(v * 1000, 2) for k, v in timing.items()}, img)

    def _detect_in_zones(self, img: np.ndarray) -> tuple[list[Detection], int]:
        """:meth:`_detect` in the window around the zones (their plates larger at the detector's input), keeping
        the plates whose box centre lies in a zone, in the image's pixels."""
        window = zones_window(self.zones, img.shape)
        if window is None:
            found, sure = self._detect(img)
        else:
            x1, y1, x2, y2 = window
            found, sure = self._detect(img[y1:y2, x1:x2])
            found = from_window(found, window, img.shape)  # None: a plate the window cuts
        keep = [i for i, d in enumerate(found) if d is not None and which_zone(self.zones, d.box, img.shape)]
        return [found[i] for i in keep], sum(i < sure for i in keep)

    def _detect(self, img: np.ndarray) -> tuple[list[Detection], int]:
        """The detector's plates, then (``low_score_from``) up to ``LOW_SCORE_MAX`` detections scored from
        ``low_score_from`` up to its threshold that overlap none of them (IoU > 0.1), best first; also how many
        are sure (the first ones)."""
        det = self.detector
        low = self.low_score_from
        if not low or not isinstance(det, PlateDetector) or det.foreign is not None or low >= det.conf:
            found = det.detect(img)
            return found, len(found)
        boxes, scores, corners = det.candidates(img, low)  # best first: the sure ones lead
        sure = int((scores >= det.conf).sum())
        unsure = np.arange(sure, len(scores))
        if sure and len(unsure):
            unsure = unsure[box_iou(boxes[unsure], boxes[:sure]).max(1) <= 0.1]
        keep = np.concatenate([np.arange(sure), unsure[:LOW_SCORE_MAX]]).astype(int)
        return det.as_detections(img, boxes[keep], scores[keep], corners[keep]), sure

    def read_detections(
        self, image: np.ndarray, detections: Sequence[Detection]
    ) -> tuple[list[PlateResult], list[np.ndarray]]:
        """Rectify and read the given detections of a decoded BGR image: one result and one rectified BGR crop
        (the recognizer's input size) per detection, same order. Video uses it to read only the plates whose
        track still needs a read."""
        with frame_colour(image):
            plates, crops, _, _ = self._read_detections(image, detections)
        return plates, crops

    def read_corners(self, image: ImageInput, corners: Sequence | np.ndarray) -> list[PlateResult]:
        """Read plates whose corners are already known, skipping the detector and the corner model's first
        estimate: ``corners`` K × 4 × 2 image pixels, TL, TR, BR, BL per plate (a fixed camera's plate zone,
        the corners of your own localiser, or labelled corners when telling localisation errors from reading
        errors). The same rectification, zooms, specialists and format fitting as :meth:`read`; a result's box
        is its corners' bounding box and its ``detection_score`` 1. Raises ValueError for corners of another
        shape."""
        quads = np.asarray(corners, np.float32)
        if quads.size == 0:
            return []
        if quads.ndim not in (2, 3) or quads.shape[-2:] != (4, 2):
            raise ValueError(f"corners: expected K x 4 x 2 pixels (TL, TR, BR, BL per plate), got shape {quads.shape}")
        quads = quads.reshape(-1, 4, 2)
        img = load_image(image)
        detections = [
            Detection(tuple(float(v) for v in b), tuple((float(x), float(y)) for x, y in q), 1.0)
            for b, q in zip(quad_boxes(quads, img.shape[1], img.shape[0]), quads, strict=True)
        ]
        with frame_colour(img):
            return self._read_detections(img, detections, quads)[0]

    def plate_corners(self, image: np.ndarray, detections: Sequence[Detection]) -> np.ndarray:
        """The corners the reader rectifies each detection by (K, 4, 2; TL, TR, BR, BL image pixels): the corner
        model's from the detection's box, or the detector's own when the reader has no corner model."""
        boxes = np.array([d.box for d in detections], np.float32).reshape(-1, 4)
        if self.corners is not None and len(boxes):
            return self.corners.refine(image, boxes)
        return np.array([d.corners for d in detections], np.float32).reshape(-1, 4, 2)

    def _read_detections(
        self, img, detections, quads: np.ndarray | None = None, sure: int | None = None
    ) -> tuple[list[PlateResult], list[np.ndarray], float, float]:
        """Plates, their crops, and the seconds spent rectifying (corners included) and recognizing; ``quads``:
        the corners to cut the plates at (default: :meth:`plate_corners`); ``sure``: detections from this index
        on are unsure ones (:meth:`_detect`), read again only when their first look is promising."""
        t0 = time.perf_counter()
        if quads is None:
            quads = self.plate_corners(img, detections)
        spec = self.recognizer.spec
        crops = [rectify(img, q, spec.width, spec.height, self.rectify_margin) for q in quads]
        rectify_s = time.perf_counter() - t0
        if self.corners is not None:  # the refined corners box the plate more tightly than the detector
            boxes = [tuple(float(v) for v in b) for b in quad_boxes(quads, img.shape[1], img.shape[0])]
        else:
            boxes = [d.box for d in detections]
        if not crops:
            return [], crops, rectify_s, 0.0
        t1 = time.perf_counter()
        plate = attention = None
        if hasattr(self.recognizer, "view_logits"):
            reads, logits, plate, corner_s, attention = self._read_plates(img, quads, crops, sure)
        else:  # a recognizer of the caller's own that reads one crop per plate
            (reads, logits), corner_s = self.recognizer.read_crops_with_logits(crops), 0.0
        plates = self._results(reads, logits, detections, quads, boxes, plate, attention)
        return plates, crops, rectify_s + corner_s, time.perf_counter() - t1 - corner_s

    def _read_plates(
        self, img, quads, crops, sure: int | None = None
    ) -> tuple[list[PlateRead], np.ndarray, np.ndarray | None, float, np.ndarray | None]:
        """Reads and character logits of the plates cut at ``quads`` (``crops``: their rectified crops), with
        the first look, zooms and second crops of ``recheck_below`` / ``second_view_below``; the plate check's
        probabilities (None without a plate head); the seconds spent on second corner estimates and crops; the
        first look's slot attention (N, K, cells), None without one.
        Plates from index ``sure`` on (unsure detections) are read again only when their first look is at
        least ``LOW_SCORE_FIRST_LOOK`` sure; plates that fail ``plate_check`` are not read again."""
        rec = self.recognizer
        views = [[c] for c in crops]
        outline = quad_boxes(quads)  # xyxy of each plate's first corners, not clipped
        tall = outline[:, 3] - outline[:, 1]
        small = np.zeros(len(crops), bool)
        if self.corners is not None and self.second_view_below:
            small = tall < self.second_view_below
        again, known, plate = np.arange(len(crops)), None, None
        recheck = self.recheck_below is not None and self.recheck_below < 1 and (len(rec.zooms) > 1 or small.any())
        attention = None
        if recheck or getattr(rec, "has_plate_head", False):
            # each crop as cut, by the general network alone; its raw outputs are the known ones of the views
            # read below (fitting the region logits to the plate patterns twice would swap them back and forth)
            if getattr(rec, "attention_grid", None) is not None:  # where each character sits (plate parts)
                chars, regions, plate, attention = rec.first_look(crops, attention=True, fit_regions=False)
            else:
                chars, regions, plate = rec.first_look(crops, fit_regions=False)
            known, logits = (chars, regions), chars
            reads = rec.decode(chars, rec.fit_region_formats(chars, regions))
            if recheck:
                again = np.flatnonzero(
                    [r.confidence < self.recheck_below or format_ok(r.text, r.region) is False for r in reads]
                )
            if sure is not None:  # an unsure detection whose first look is poor is left at that look (dropped)
                promising = np.array([r.confidence >= LOW_SCORE_FIRST_LOOK for r in reads])
                again = again[(again < sure) | promising[again]]
            cut = self.plate_cut()
            if plate is not None and cut is not None:  # not a plate: dropped, so not read again
                again = again[plate[again] >= cut]
            known = (known[0][again], None if known[1] is None else known[1][again])
        t0 = time.perf_counter()
        second = again[small[again]]
        if len(second):
            spec = rec.spec
            for i, q in zip(second, self.corners.refine(img, quad_boxes(quads[second])), strict=True):
                views[i].append(rectify(img, q, spec.width, spec.height, self.rectify_margin))
        corner_s = time.perf_counter() - t0
        if len(again) == 0:
            return reads, logits, plate, corner_s, attention
        low = None
        if self.small_below and getattr(rec, "small_specialist", None) is not None:
            low = (tall < self.small_below)[again]
        chars, regions = rec.view_logits([views[i] for i in again], known=known, small=low)
        if len(again) == len(crops):
            return rec.decode(chars, regions), chars, plate, corner_s, attention
        reads, logits = list(reads), np.array(logits)
        for k, (i, r) in enumerate(zip(again, rec.decode(chars, regions), strict=True)):
            reads[i], logits[i] = r, chars[k]
        return reads, logits, plate, corner_s, attention

    def _results(self, reads, logits, detections, quads, boxes, plate=None, attention=None) -> list[PlateResult]:
        """PlateResults from the recognizer's reads and the character logits (N, K, A + 1) they came from:
        format check, format fitting, alternatives and plate parts; ``plate``: the plate check's probabilities
        (N,) or None; ``attention``: the first look's slot attention (N, K, cells) or None."""
        rec = self.recognizer
        alternatives = [()] * len(reads)
        slots = rec.spec.decoder == "slots"
        if self.fit_formats is not None and slots:
            reads = [self._fit(r, lg) for r, lg in zip(reads, logits, strict=True)]
        if self.top_n > 1 and slots:
            per_slot = char_alternatives(logits, rec.spec.alphabet, k=3)
            alternatives = [tuple(top_texts(a, r.region, self.top_n)) for a, r in zip(per_slot, reads, strict=True)]
        out = []
        scores = [None] * len(reads) if plate is None else [round(float(v), 4) for v in plate]
        grid = getattr(rec, "attention_grid", None)
        parts = [
            plate_parts(r.text, r.region, None if attention is None else attention[i], grid)
            for i, r in enumerate(reads)
        ]
        for d, q, box, r, alts, score, split in zip(
            detections, quads, boxes, reads, alternatives, scores, parts, strict=True
        ):
            out.append(
                PlateResult(
                    box=box,
                    corners=tuple((float(x), float(y)) for x, y in q),
                    text=r.text,
                    confidence=r.confidence,
                    char_confidences=r.char_confidences,
                    region=r.region,
                    region_confidence=r.region_confidence,
                    detection_score=d.score,
                    format_ok=format_ok(r.text, r.region),
                    alternatives=alts,
                    plate_score=score,
                    parts=split,
                )
            )
        return out

    def _fit(self, read: PlateRead, logits: np.ndarray) -> PlateRead:
        """The read, or the valid text that replaces it when it fails its region's patterns (``fit_formats``);
        ``logits`` (K, A + 1) are the read's own. Alternatives are worked out for failing reads only."""
        if format_ok(read.text, read.region) is not False:
            return read
        alphabet = self.recognizer.spec.alphabet
        (slot_alternatives,) = char_alternatives(logits[None], alphabet, k=3)
        text = fit_format(slot_alternatives, read.text, read.region, self.fit_formats)
        if text is None:
            return read
        confidence, chars = text_confidences(logits, text, alphabet)
        return replace(read, text=text, confidence=confidence, char_confidences=chars)

    def read(self, images: ImageInput | Sequence[ImageInput]) -> list[PlateResult] | list[list[PlateResult]]:
        """Plates of one image, or of each image of a list (a list of lists). Raises ImageError naming a bad
        input; use :meth:`read_timed` per image to keep going past bad ones."""
        if isinstance(images, list | tuple):
            return [self.read_timed(x).plates for x in images]
        return self.read_timed(images).plates
