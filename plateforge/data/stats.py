"""Dataset statistics: counts, image and plate sizes, regions, layouts, label completeness."""

from __future__ import annotations

from collections import Counter

import numpy as np

from plateforge.data.manifest import ImageRecord

SMALL_PLATE_PX = 20  # plates under this height (pixels) are "small": the hard case for detectors


def _quantiles(values: list[float]) -> dict[str, float] | None:
    if not values:
        return None
    q = np.percentile(values, [0, 50, 100])
    return {"min": float(q[0]), "median": float(q[1]), "max": float(q[2])}


def dataset_stats(records: list[ImageRecord]) -> dict:
    """Summary of a dataset as a JSON-ready dict (sizes in pixels)."""
    per_image = [[p for p in r.plates or () if not p.ignore] for r in records]  # ignore regions counted apart
    plates = [p for kept in per_image for p in kept]
    heights = [p.box[3] - p.box[1] for p in plates]
    return {
        "images": len(records),
        "unlabelled_images": sum(r.plates is None for r in records),
        "images_without_plates": sum(r.plates is not None and not r.plates for r in records),
        "plates": len(plates),
        "ignore_regions": sum(len(r.plates or ()) for r in records) - len(plates),
        "plates_per_image": dict(sorted(Counter(len(kept) for kept in per_image).items())),
        "image_width": _quantiles([r.width for r in records]),
        "image_height": _quantiles([r.height for r in records]),
        "plate_width": _quantiles([p.box[2] - p.box[0] for p in plates]),
        "plate_height": _quantiles(heights),
        f"plates_under_{SMALL_PLATE_PX}px_high": sum(h < SMALL_PLATE_PX for h in heights),
        "with_text": sum(p.text is not None for p in plates),
        "with_corners": sum(p.corners is not None for p in plates),
        "regions": dict(Counter(p.region or "unknown" for p in plates).most_common()),
        "layouts": dict(Counter(p.layout or "unknown" for p in plates).most_common()),
        "subsets": dict(Counter(r.meta.get("subset", "-") for r in records).most_common()),
        "groups": len({r.group for r in records if r.group is not None}),
    }
