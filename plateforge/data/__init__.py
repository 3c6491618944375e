"""Datasets: JSONL manifest, VOC/COCO/YOLO/crops-CSV import and export, merge, splits, hashes, calibration."""

from plateforge.data.errors import BadItems, DataError
from plateforge.data.manifest import ImageRecord, PlateLabel, read_manifest, write_manifest
from plateforge.data.sources import FORMATS, detect_format, load_dataset

__all__ = [
    "FORMATS",
    "BadItems",
    "DataError",
    "ImageRecord",
    "PlateLabel",
    "detect_format",
    "load_dataset",
    "read_manifest",
    "write_manifest",
]
