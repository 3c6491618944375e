"""The reader's options as a site config's ``reader`` section names them (``plateforge stream`` and
``plateforge serve`` read photos the same way from the same YAML), and the reader they describe."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import yaml

from plateforge.runtime.defaults import (
    PLATE_CHECK,
    PLATE_CHECK_GREY,
    PLATE_CHECK_SURE,
    RECHECK_BELOW,
    SECOND_VIEW_BELOW,
    SMALL_BELOW,
)
from plateforge.typed_config import from_dict


@dataclass(frozen=True)
class ReaderOptions:
    """Models (None: bundled; ``int8`` picks the bundled QAT INT8 detector), detection threshold, ONNX Runtime
    threads per model, bilinear letterbox, the corner model (``auto``, a path, or ``head`` for the
    detector's own corners), ``tta`` (the recognizer's test-time zooms, see ``ALPR``), ``fit_formats`` (replace a
    read that fails its region's patterns by a likely valid alternative, see ``ALPR``), ``tiles`` (N > 1: also
    detect in N × N tiles, for plates too small in a wide high-resolution view, see ``PlateDetector``),
    ``second_view_below`` (px; plates less tall are also read from a second crop, see ``ALPR``; 0 or null: off),
    ``recheck_below`` (only plates first read less confidently get the zooms and the second crop, see
    ``ALPR``; 1 or null: every plate), ``small_below`` (px; rechecked plates less tall are also read by the
    small-plate specialist, see ``ALPR``; 0 or null: off), ``specialists`` (the bundled recognizer's region
    specialists and its small-plate specialist, see ``ALPR``), ``regions`` (the regions the site's plates come
    from, names or prefixes such as ``[uae]``: plates are placed, routed and format-checked among them, see
    ``ALPR``; null: every region), ``plate_check`` (plates whose crop the recognizer's plate check scores less
    plate-like than this are dropped, and in a stream do not vote, so a sign the detector tracks makes no
    event, see ``ALPR``; 0 or null: off), ``plate_check_sure`` (plates scored from ``plate_check`` up to this
    are kept, and vote, only when they fit their region's patterns, see ``ALPR``; 0 or null: no such
    condition), ``plate_check_grey`` (``plate_check`` in monochrome frames, scored by the grey network's own
    check; null: ``plate_check``); ``vehicle_model`` (streams only): an Ultralytics YOLO ONNX to search plates
    inside vehicles only, with ``vehicle_classes`` (default COCO car, motorcycle, bus, truck) above
    ``vehicle_conf``."""

    detector: str | None = None
    recognizer: str | None = None
    corners: str = "auto"
    int8: bool = True
    conf: float | None = None
    threads: int | None = 2
    fast_resize: bool = True
    tta: bool = True
    fit_formats: bool = True
    tiles: int = 1
    second_view_below: float | None = SECOND_VIEW_BELOW
    recheck_below: float | None = RECHECK_BELOW
    small_below: float | None = SMALL_BELOW
    specialists: bool = True
    regions: list[str] | None = None
    plate_check: float | None = PLATE_CHECK
    plate_check_sure: float | None = PLATE_CHECK_SURE
    plate_check_grey: float | None = PLATE_CHECK_GREY
    vehicle_model: str | None = None
    vehicle_classes: list[int] | None = None
    vehicle_conf: float = 0.3


def make_alpr(r: ReaderOptions):
    """The reader a site config asks for."""
    from plateforge.runtime.alpr import ALPR, FIT_FORMATS
    from plateforge.runtime.detector import INT8_DETECTOR
    from plateforge.runtime.session import bundled_model

    detector = r.detector or (str(bundled_model(INT8_DETECTOR)) if r.int8 else None)
    corners = None if r.corners == "head" else r.corners
    return ALPR(
        detector=detector,
        recognizer=r.recognizer,
        corners=corners,
        conf=r.conf,
        threads=r.threads,
        fast_resize=r.fast_resize,
        tta=r.tta,
        fit_formats=FIT_FORMATS if r.fit_formats else None,
        tiles=r.tiles,
        second_view_below=r.second_view_below,
        recheck_below=r.recheck_below,
        small_below=r.small_below,
        specialists=r.specialists,
        regions=r.regions,
        plate_check=r.plate_check,
        plate_check_sure=r.plate_check_sure,
        plate_check_grey=r.plate_check_grey,
    )


def make_vehicles(r: ReaderOptions):
    """The vehicle detector a site config asks for, or None."""
    if r.vehicle_model is None:
        return None
    from plateforge.runtime.vehicles import VehicleDetector

    return VehicleDetector(r.vehicle_model, r.vehicle_classes, r.vehicle_conf, threads=r.threads)


def read_site_yaml(path: str | Path) -> dict:
    """A site YAML's top-level mapping (an empty file: {}); errors name the file."""
    path = Path(path)
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError) as e:
        raise ValueError(f"{path}: cannot read the site config: {e}") from e
    if not isinstance(raw, dict):
        raise ValueError(f"{path}: expected a mapping at the top level")
    return raw


def load_reader_options(path: str | Path | None) -> ReaderOptions:
    """The ``reader`` section of a site YAML (None, or a file without the section: the defaults); other
    sections are left to ``plateforge stream``. Errors name the file and the key."""
    if path is None:
        return ReaderOptions()
    return from_dict(ReaderOptions, read_site_yaml(path).get("reader"), f"{path}: reader")
