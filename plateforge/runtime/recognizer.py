"""``PlateRecognizer``: rectified plate crops in, :class:`~plateforge.types.PlateRead` out (ONNX Runtime)."""

from __future__ import annotations

import copy
import os
from collections.abc import Mapping, Sequence

import cv2
import numpy as np

from plateforge.ops.slots import decode_ctc, decode_slots, softmax
from plateforge.runtime.foreign import FastPlateOcrConfig
from plateforge.runtime.grey import GREY_FRAME
from plateforge.runtime.images import ImageInput, load_image
from plateforge.runtime.plate_formats import fits_only, format_ok
from plateforge.runtime.session import bundled_model, create_session, read_spec
from plateforge.runtime.spec import ModelSpec
from plateforge.specs import selector_items
from plateforge.types import PlateRead

DEFAULT_RECOGNIZER = "recognizer.onnx"
# region prefix → bundled specialist that re-reads the plates the bundled recognizer places there (recognizer.md)
RU_BR_DE = "recognizer_ru_br_de.onnx"  # one specialist for Russian, Brazilian and German plates
BUNDLED_SPECIALISTS = {
    "us-": "recognizer_us.onnx",
    "in": "recognizer_in.onnx",
    "ru": RU_BR_DE,
    "br": RU_BR_DE,
    "eu-de": RU_BR_DE,
    "uae-": "recognizer_uae.onnx",
    "sa": "recognizer_sa.onnx",  # Saudi plates (session 47)
    "om": "recognizer_om.onnx",  # Omani plates (session 48)
}
# regions whose bundled specialist reads colour crops only (PlateRecognizer colour_only). Session 50: trained on
# colour alone, the UAE and German specialists told the emirate code from the number, and the German seals from
# letters, by their colour, and read 4 % of grey Abu Dhabi crops, 72 % of Sharjah's, 37 % of German ones, where the
# grey network alone reads 90 / 98 / 92 %. The UAE, Russian / Brazilian / German, Indian, Omani and Saudi ones have
# since learnt grey crops too (UAE: 90.7 / 98.3 %, German 96.1 %); the US one reads grey US crops better than the
# grey network as it is (83-90 against 73-85 %). So none is left out; your own colour-trained specialists may be.
BUNDLED_COLOUR_ONLY: tuple[str, ...] = ()
GREY_RECOGNIZER = "recognizer_grey.onnx"  # bundled: the general network trained on grey crops too (monochrome frames)
SMALL_SPECIALIST = "recognizer_small.onnx"  # bundled: distant plates, averaged in where the reader flags a plate small
MIN_SIDE = 4  # px: a crop smaller than this holds no readable character
PLATE_OUTPUT = "plate"  # a recognizer's optional plate check: N x 1 probability that each crop is a plate
ATTENTION_OUTPUT = "attention"  # optional: N x slots x cells, where on the feature grid each slot read its character
# test-time zooms (``tta=True``), fractions of the crop height per side: < 0 adds a border, > 0 trims (see zoom_crop)
TTA_ZOOMS = (0.0, -0.04, -0.08, 0.04)
# region logits this close to the leader's: a region whose patterns fit a read the leader's fail may be taken
REGION_FORMAT_MARGIN = 2.0  # (PlateRecognizer.fit_region_formats)


def _mean_log_probs(logits: np.ndarray, owner: np.ndarray, n: int) -> np.ndarray:
    """Log of the mean softmax probabilities of the rows of ``logits`` (M, ...) that share an ``owner``
    index (M,), for owners 0..n-1 → (n, ...)."""
    p = softmax(logits)
    return np.log(np.stack([p[owner == i].mean(0) for i in range(n)]) + 1e-9)


def _insert_rows(rows: np.ndarray | None, at: np.ndarray, new: np.ndarray, n: int) -> np.ndarray:
    """``n`` rows: ``new`` at the indices ``at``, the rows of ``rows`` (may be None when ``at`` is every
    index) elsewhere, in order."""
    out = np.empty((n, *new.shape[1:]), new.dtype)
    rest = np.setdiff1d(np.arange(n), at)
    out[at] = new
    if len(rest):
        out[rest] = rows
    return out


def allowed_regions(regions: str | Sequence[str], names: Sequence[str], model: str = "the model") -> np.ndarray:
    """Boolean mask over a model's region ``names`` of those ``regions`` selects: a name itself, or a group
    prefix before a ``-`` (``"uae"`` → ``uae-dubai``, ``uae-sharjah``, ...); a comma list or a list of them
    (:func:`~plateforge.specs.selector_items`). Raises ValueError naming an entry
    that selects none, or when the model reads no regions."""
    wanted = selector_items(regions)
    if not names:
        raise ValueError(f"regions {wanted!r} given, but {model} has no region head")
    if not wanted:
        raise ValueError("regions: give at least one region name or prefix (or None for all)")
    mask = np.zeros(len(names), bool)
    for w in wanted:
        hit = np.array([n == w or n.startswith(w + "-") for n in names])
        if not hit.any():
            raise ValueError(f"regions: {w!r} names none of {model}'s regions ({', '.join(names)})")
        mask |= hit
    return mask


def stretch_crop(crop: np.ndarray, width: int, height: int) -> np.ndarray:
    """A BGR uint8 crop resized to ``width`` × ``height`` px (area averaging when it shrinks, bilinear when it
    grows), as a recognizer's input."""
    interp = cv2.INTER_AREA if crop.shape[0] > height else cv2.INTER_LINEAR
    return cv2.resize(crop, (width, height), interpolation=interp)


def zoom_crop(crop: np.ndarray, zoom: float) -> np.ndarray:
    """The crop seen from a little further (``zoom`` < 0: a border of ``-zoom`` × its height on top and bottom
    and half that share of its width on each side, edge pixels repeated) or closer (``zoom`` > 0: that much
    trimmed). 0 returns the crop itself."""
    h, w = crop.shape[:2]
    dy, dx = int(round(abs(zoom) * h)), int(round(abs(zoom) * w / 2))
    if zoom == 0 or (dy == 0 and dx == 0):
        return crop
    if zoom > 0:
        return crop[dy : h - dy or h, dx : w - dx or w]
    return cv2.copyMakeBorder(crop, dy, dy, dx, dx, cv2.BORDER_REPLICATE)


class PlateRecognizer:
    """Reads rectified plate crops. ``model``: a plateforge recognizer ONNX (default: the bundled one);
    ``threads``: ONNX Runtime intra-op threads; ``batch_size``: crops per inference call; ``tta``: also read
    each crop zoomed out and in (True: :data:`TTA_ZOOMS`, or your own zooms, see :func:`zoom_crop`) and
    average the character and region probabilities: more accurate, one inference per zoom.

    ``specialists``: region prefix → recognizer (path or :class:`PlateRecognizer`) that reads the plates this
    one places in a region with that prefix, instead of this one (the same views and zooms; the region stays
    this recognizer's). ``"auto"``: the bundled specialists (:data:`BUNDLED_SPECIALISTS`: US, Indian,
    Russian / Brazilian / German plates, which the shared network reads least well, UAE, Saudi and Omani plates) when
    ``model`` is None, none otherwise; None or {}: none. One file may serve several prefixes (it loads
    once); the longest matching prefix routes. ``small_specialist``: a recognizer (path or object) trained on
    distant plates, whose character probabilities are averaged into those of the plates :meth:`view_logits` is
    told are small (the reader flags them by their height in the image); ``"auto"``: the bundled one
    (:data:`SMALL_SPECIALIST`) when ``model`` is None. Specialists must share this recognizer's alphabet,
    slots and decoder.

    ``regions``: the regions a site's plates come from (names or group prefixes: ``["uae"]`` for the seven
    emirates, ``["us", "eu-de"]``); the region head then chooses among those alone, so each plate's region,
    its specialist and the format patterns its read is checked against are among them (a gate in Dubai,
    a car park in Zürich). Raises ValueError for an entry that names none of the model's regions, or for a
    model without a region head.

    ``grey``: a recognizer of the same spec that reads instead of this one's own network while
    :data:`~plateforge.runtime.grey.GREY_FRAME` says the frame is monochrome (infrared and grey cameras; the
    reader sets it per image); ``"auto"``: the bundled grey-trained network (:data:`GREY_RECOGNIZER`) when
    ``model`` is None; None: none. Specialists keep their own networks."""

    def __init__(
        self,
        model: str | os.PathLike | None = None,
        threads: int | None = None,
        batch_size: int = 32,
        providers: list[str] | None = None,
        config: str | os.PathLike | None = None,
        tta: bool | Sequence[float] = False,
        specialists: Mapping[str, str | os.PathLike | PlateRecognizer] | str | None = "auto",
        small_specialist: str | os.PathLike | PlateRecognizer | None = "auto",
        regions: Sequence[str] | None = None,
        grey: str | os.PathLike | None = "auto",
        colour_only: Sequence[str] | str | None = "auto",
    ):
        self.zooms = tuple(TTA_ZOOMS if tta is True else (tta or (0.0,)))
        self.path = str(model or bundled_model(DEFAULT_RECOGNIZER))
        self.session = create_session(self.path, threads, providers)
        spec = read_spec(self.session)
        self.fpo = None
        if spec is None and config is not None:  # a fast-plate-ocr model with its YAML config
            self.fpo = FastPlateOcrConfig.load(config)
            alphabet = self.fpo.alphabet.replace(self.fpo.pad_char, "")
            spec = ModelSpec(
                "recognizer",
                "fast-plate-ocr",
                self.fpo.img_height,
                self.fpo.img_width,
                alphabet=alphabet,
                slots=self.fpo.max_plate_slots,
                color="RGB" if self.fpo.image_color_mode == "rgb" else "GRAY",
            )
        if spec is None or spec.task != "recognizer":
            raise ValueError(
                f"{self.path}: not a plateforge recognizer (no recognizer spec in its metadata; "
                "a fast-plate-ocr model needs its YAML config)"
            )
        self.spec = spec
        self.input_name = self.session.get_inputs()[0].name
        outputs = [o.name for o in self.session.get_outputs()]  # a plate check: plateforge/train/plate_head.py
        self._output_names = outputs
        if grey == "auto":
            grey = bundled_model(GREY_RECOGNIZER) if model is None else None
        self.grey_session = None if grey is None else self._grey_session(grey, threads, providers)
        self._plate_index = outputs.index(PLATE_OUTPUT) if self.fpo is None and PLATE_OUTPUT in outputs else None
        self._attention_index = (
            outputs.index(ATTENTION_OUTPUT) if self.fpo is None and ATTENTION_OUTPUT in outputs else None
        )
        fixed = self.session.get_inputs()[0].shape[0]
        self.fixed_batch = fixed if isinstance(fixed, int) and fixed > 0 else None  # a model exported for batch N
        self.batch_size = self.fixed_batch or batch_size
        if colour_only == "auto":
            colour_only = BUNDLED_COLOUR_ONLY if specialists == "auto" and model is None else ()
        elif isinstance(colour_only, str):
            raise ValueError(f"colour_only: 'auto', None or a list of regions, got {colour_only!r}")
        self.colour_only = tuple(colour_only or ())
        for prefix in self.colour_only:  # a misspelt region would silently keep its specialist
            if not any(r.startswith(prefix) for r in self.spec.regions or ()):
                raise ValueError(f"colour_only: {prefix!r} names none of {self.path}'s regions")
        if specialists == "auto":
            specialists = {p: bundled_model(f) for p, f in BUNDLED_SPECIALISTS.items()} if model is None else None
        elif isinstance(specialists, str):
            raise ValueError(f"specialists: 'auto', None or a mapping of region prefix to model, got {specialists!r}")
        self.specialists: dict[str, PlateRecognizer] = {}
        loaded: dict[str, PlateRecognizer] = {}  # one session per file, however many prefixes share it

        def load(sp, what: str) -> PlateRecognizer:
            if not isinstance(sp, PlateRecognizer):
                key = os.fspath(sp)
                if key not in loaded:
                    loaded[key] = PlateRecognizer(
                        sp, threads, batch_size, providers, specialists=None, small_specialist=None
                    )
                sp = loaded[key]
            mine, theirs = self.spec, sp.spec
            if (theirs.alphabet, theirs.slots, theirs.decoder) != (mine.alphabet, mine.slots, mine.decoder):
                raise ValueError(
                    f"specialist {sp.path} for {what}: alphabet, slots or decoder differ from {self.path}'s"
                )
            return sp

        for prefix, sp in (specialists or {}).items():
            self.specialists[prefix] = load(sp, repr(prefix))
        if small_specialist == "auto":
            small_specialist = bundled_model(SMALL_SPECIALIST) if model is None else None
        self.small_specialist = None if small_specialist is None else load(small_specialist, "small plates")
        self.region_mask = self._region_mask(regions)

    def _grey_session(self, path, threads, providers):
        """The session of the grey network ``path``, checked to share this one's spec and outputs."""
        session = create_session(str(path), threads, providers)
        theirs, mine = read_spec(session), self.spec
        same = theirs is not None and (theirs.alphabet, theirs.slots, theirs.height, theirs.width, theirs.regions) == (
            mine.alphabet, mine.slots, mine.height, mine.width, mine.regions,
        )  # fmt: skip
        if not same or not set(self._output_names) <= {o.name for o in session.get_outputs()}:
            raise ValueError(f"grey recognizer {path}: its spec or outputs differ from {self.path}'s")
        return session

    def reads_grey(self) -> bool:
        """Whether the grey network reads now: this recognizer has one and the frame being read is monochrome
        (:data:`~plateforge.runtime.grey.GREY_FRAME`); the reader uses it to pick the grey network's plate-check cut."""
        return self.grey_session is not None and bool(GREY_FRAME.get())

    def _region_mask(self, regions: str | Sequence[str] | None) -> np.ndarray | None:
        return None if regions is None else allowed_regions(regions, self.spec.regions, self.path)

    def with_regions(self, regions: str | Sequence[str] | None) -> PlateRecognizer:
        """A copy that places plates among ``regions`` only (as ``regions=`` at construction; None: every
        region), sharing this recognizer's sessions and specialists: cheap enough for one request."""
        other = copy.copy(self)
        other.region_mask = self._region_mask(regions)
        return other

    def preprocess(self, crop: np.ndarray) -> np.ndarray:
        """BGR uint8 crop → model input (H × W × 3 uint8, stretched to the model's size)."""
        if min(crop.shape[:2]) < MIN_SIDE:
            raise ValueError(f"crop of {crop.shape[1]}x{crop.shape[0]} px is too small to read (min {MIN_SIDE} px)")
        if self.fpo is not None:
            return self.fpo.preprocess(crop)
        return stretch_crop(crop, self.spec.width, self.spec.height)

    @property
    def has_plate_head(self) -> bool:
        """Whether the model scores how plate-like each crop is (output ``plate``; :meth:`first_look`)."""
        return self._plate_index is not None

    @property
    def attention_grid(self) -> tuple[int, int] | None:
        """(rows, columns) of the feature grid the output ``attention`` spreads over, or None without it (the
        ``slotnet_sa`` backbone reduces height 16× and width 8×)."""
        if self._attention_index is None:
            return None
        return self.spec.height // 16, self.spec.width // 8

    def infer(self, batch: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Raw outputs for a preprocessed (B, H, W, 3) uint8 batch: char logits (B, K, A + 1), region logits."""
        chars, regions, _, _ = self._run(batch)
        return chars, regions

    def _run(self, batch: np.ndarray) -> tuple:
        """:meth:`infer`, the plate check's probabilities (B,) and the slot attention (B, K, cells) (each None
        for a model without it)."""
        n = len(batch)
        if self.fixed_batch and n < self.fixed_batch:  # fill a fixed-size batch with copies, keep the first n
            batch = np.concatenate([batch, np.repeat(batch[-1:], self.fixed_batch - n, axis=0)])
        session = self.grey_session if self.reads_grey() else self.session
        outputs = [o[:n] for o in session.run(self._output_names, {self.input_name: batch})]
        if self.fpo is not None:
            return self.fpo.to_slot_logits(outputs[0])[0], None, None, None
        plate = None if self._plate_index is None else outputs[self._plate_index].reshape(n)
        att = None if self._attention_index is None else outputs[self._attention_index]
        return outputs[0], outputs[1], plate, att

    def first_look(self, crops: Sequence[np.ndarray], attention: bool = False, fit_regions: bool = True) -> tuple:
        """This model's own outputs for each BGR uint8 crop as cut (zoom 0, no specialists): character logits
        (N, K, A + 1) and region logits (N, R) or None, and the plate check's probability that each crop is a
        plate at all (N,), None for a model without one. With ``attention``, a fourth item: the slot
        attention (N, K, cells), None for a model without it. The region logits are fitted to the plate
        patterns (:meth:`fit_region_formats`) unless ``fit_regions`` is False: the raw outputs are the
        ``known`` of :meth:`view_logits`, which fits the average itself."""
        if not len(crops):
            return (np.zeros((0, 0, 0), np.float32), None, None) + ((None,) if attention else ())
        chars, regions, plate, att = self._infer_all(np.stack([self.preprocess(c) for c in crops]))
        if fit_regions:
            regions = self.fit_region_formats(chars, regions)
        return (chars, regions, plate, att) if attention else (chars, regions, plate)

    def fit_region_formats(self, chars: np.ndarray, regions: np.ndarray | None) -> np.ndarray | None:
        """Region logits (N, R) where, for each plate whose read (the likeliest text of ``chars``) fails the
        likeliest region's plate patterns, that region's logit is swapped with the logit of the likeliest
        region within :data:`REGION_FORMAT_MARGIN` of it whose patterns the read fits: the runner-up, or a
        region further down whose patterns are the only ones the read fits (none such: unchanged). Measured
        with the Saudi-aware general network: on the 3,000 crops of the v6 holdout the runner-up alone
        (session 47) moved 24 plates to their true region and 1 off it, on 1,000 Saudi crops 18 and 0. Looking
        further down (session 48) finds Indian plates placed in Saudi Arabia first and Russia or the UK second;
        it asks for the only fit since US patterns take almost any text (a UK plate of cc0 read ``M666Y08``
        went to New York and was misread there). A copy; ``regions`` itself is left as it is."""
        if regions is None or regions.ndim != 2 or regions.shape[1] < 2 or self.spec.decoder != "slots":
            return regions
        order = np.argsort(-regions, axis=1)
        out = regions.copy()
        for i, (text, _, _) in enumerate(decode_slots(chars, self.spec.alphabet)):
            lead = order[i, 0]
            if format_ok(text, self.spec.regions[lead]) is not False:
                continue
            for rank, k in enumerate(order[i, 1:], 1):
                if regions[i, lead] - regions[i, k] >= REGION_FORMAT_MARGIN:
                    break
                region = self.spec.regions[k]
                if format_ok(text, region) if rank == 1 else fits_only(text, region):
                    out[i, lead], out[i, k] = regions[i, k], regions[i, lead]
                    break
        return out

    def read_crops(self, crops: Sequence[np.ndarray]) -> list[PlateRead]:
        """Read BGR uint8 crops (already loaded), batched."""
        return self.read_crops_with_logits(crops)[0]

    def read_crops_with_logits(self, crops: Sequence[np.ndarray]) -> tuple[list[PlateRead], np.ndarray]:
        """Like :meth:`read_crops`, also returning the character logits (N, K, A + 1) the reads came from
        (for alternatives), so nothing runs twice."""
        return self.read_views([[c] for c in crops])

    def read_views(
        self, views: Sequence[Sequence[np.ndarray]], zooms: Sequence[float] | None = None
    ) -> tuple[list[PlateRead], np.ndarray]:
        """Read plates seen in one or more BGR uint8 crops each (``views[i]``: the crops of plate i, such as
        the crops of two corner estimates): every crop is read at every zoom (``zooms``, default the
        recognizer's own) and the character and region probabilities of all of them are averaged. Returns one
        read per plate and the character logits (N, K, A + 1) it was decoded from (log-probabilities when a
        plate had more than one image)."""
        chars, regions = self.view_logits(views, zooms)
        return self.decode(chars, regions), chars

    def view_logits(
        self,
        views: Sequence[Sequence[np.ndarray]],
        zooms: Sequence[float] | None = None,
        known: tuple[np.ndarray, np.ndarray | None] | None = None,
        specialists: bool = True,
        small: Sequence[bool] | np.ndarray | None = None,
    ) -> tuple[np.ndarray, np.ndarray | None]:
        """Character logits (N, K, A + 1) and region logits (N, R) (None for a model without regions) of
        plates seen in one or more crops each, as :meth:`read_views` averages them; plates placed in a
        specialist's region get that specialist's character logits, and the plates flagged in ``small`` (N
        booleans) that are placed in a region the small-plate specialist knows the mean of those probabilities
        and the small-plate specialist's, as log-probabilities
        (``specialists=False``: this model's own logits). ``known``: this model's own raw outputs of each
        plate's first crop at zoom 0 (``first_look(crops, fit_regions=False)[:2]``: not yet fitted to the plate
        patterns, as the average is fitted here), used in its place in the average instead of reading that
        image again (same result, one image less)."""
        zooms = self.zooms if zooms is None else tuple(zooms)  # the specialists read at this model's zooms
        chars, regions = self._own_logits(views, zooms, known)
        regions = self.fit_region_formats(chars, regions)
        if not (specialists and len(chars)):
            return chars, regions
        placed = [self.spec.regions[k] for k in regions.argmax(1)] if regions is not None and self.spec.regions else []
        if self.specialists and placed:
            plates: dict[PlateRecognizer, list[int]] = {}  # specialist -> the plates it reads, in one call
            colour_only = self.colour_only if self.reads_grey() else ()
            for i, region in enumerate(placed):
                sp = None if region.startswith(colour_only) else self.specialist_for(region)
                if sp is not None:
                    plates.setdefault(sp, []).append(i)
            for sp, mine in plates.items():
                chars[mine] = sp.view_logits([views[i] for i in mine], zooms, specialists=False)[0]
        mine = np.flatnonzero(small) if small is not None and self.small_specialist is not None else []
        if len(mine) and placed and self.small_specialist.spec.regions:
            # only plates placed in a region the small-plate network learnt (it never saw Saudi or Omani plates: its
            # read of their Arabic row would pull the mean away)
            learnt = set(self.small_specialist.spec.regions)
            mine = [i for i in mine if placed[i] in learnt]
        if len(mine):  # measured: the mean reads more plates, synthetic and real, than either alone
            theirs = self.small_specialist.view_logits([views[i] for i in mine], zooms, specialists=False)[0]
            chars[mine] = np.log((softmax(theirs) + softmax(chars[mine])) / 2 + 1e-9)
        return chars, regions

    def specialist_for(self, region: str) -> PlateRecognizer | None:
        """The specialist that reads plates of ``region`` (the longest matching prefix), or None."""
        prefixes = [p for p in self.specialists if region.startswith(p)]
        return self.specialists[max(prefixes, key=len)] if prefixes else None

    def _own_logits(self, views, zooms, known) -> tuple[np.ndarray, np.ndarray | None]:
        """:meth:`view_logits` of this model alone (``zooms`` resolved by it)."""
        for i, v in enumerate(views):
            if len(v) == 0:
                raise ValueError(f"plate {i} has no crop to read")
        if known is not None and len(known[0]) != len(views):
            raise ValueError(f"known outputs for {len(known[0])} plates, but {len(views)} plates to read")
        all_chars, all_regions = [], []
        for start in range(0, len(views), self.batch_size):
            part = views[start : start + self.batch_size]
            images = [(i, j, c, z) for i, v in enumerate(part) for j, c in enumerate(v) for z in zooms]
            reuse = [known is not None and j == 0 and z == 0.0 for _, j, _, z in images]
            batch = [self.preprocess(zoom_crop(c, z)) for (_, _, c, z), r in zip(images, reuse, strict=True) if not r]
            chars, regions, _, _ = self._infer_all(np.stack(batch)) if batch else (None, None, None, None)
            if any(reuse):  # put the known rows where their images sit, so the average is the same
                rows = np.flatnonzero(reuse)
                plates = start + np.array([images[k][0] for k in rows])
                chars = _insert_rows(chars, rows, known[0][plates], len(images))
                if known[1] is not None:
                    regions = _insert_rows(regions, rows, known[1][plates], len(images))
            if len(images) > len(part):  # mean probabilities per plate, as log-probabilities (decoding takes logits)
                owner = np.array([im[0] for im in images])
                chars = _mean_log_probs(chars, owner, len(part))
                if regions is not None:
                    regions = _mean_log_probs(regions, owner, len(part))
            all_chars.append(chars)
            all_regions.append(regions)
        if not all_chars:
            return np.zeros((0, 0, 0), np.float32), None
        regions = None if all_regions[0] is None else np.concatenate(all_regions)
        return np.concatenate(all_chars), regions

    def _infer_all(self, batch: np.ndarray) -> tuple:
        """:meth:`_run` over a batch of any size, ``batch_size`` images per call."""
        outs = [self._run(batch[i : i + self.batch_size]) for i in range(0, len(batch), self.batch_size)]
        regions = None if outs[0][1] is None else np.concatenate([o[1] for o in outs])
        if regions is not None and self.region_mask is not None:  # the site's regions only
            regions = np.where(self.region_mask, regions, np.float32(-1e4))
        plate = None if outs[0][2] is None else np.concatenate([o[2] for o in outs])
        att = None if outs[0][3] is None else np.concatenate([o[3] for o in outs])
        return np.concatenate([o[0] for o in outs]), regions, plate, att

    def decode(self, chars: np.ndarray, regions: np.ndarray | None) -> list[PlateRead]:
        """Reads from character logits (N, K, A + 1) and region logits (N, R) or None."""
        region_p = softmax(regions) if regions is not None else np.zeros((len(chars), 0), np.float32)
        decode = decode_ctc if self.spec.decoder == "ctc" else decode_slots
        reads = []
        for (text, conf, char_conf), rp in zip(decode(chars, self.spec.alphabet), region_p, strict=True):
            k = int(rp.argmax()) if rp.size else 0
            region = self.spec.regions[k] if self.spec.regions else None
            reads.append(PlateRead(text, conf, char_conf, region, float(rp[k]) if rp.size else 0.0))
        return reads

    def run(self, images: ImageInput | Sequence[ImageInput]) -> PlateRead | list[PlateRead]:
        """Read one crop (path, bytes or array) → PlateRead, or a list of them → list of PlateRead.

        Raises :class:`~plateforge.runtime.images.ImageError` / ValueError naming a bad input.
        """
        single = not isinstance(images, list | tuple)
        items = [images] if single else list(images)
        crops = [load_image(x) for x in items]
        reads = self.read_crops(crops)
        return reads[0] if single else reads
