"""One image's result as the JSON row that ``plateforge read`` prints and ``plateforge serve`` returns.

A row is ``{"image": NAME, "plates": [PlateResult.to_dict(), ...], "timing_ms": {"decode", "detect", "rectify",
"recognize", "total"}}``, or ``{"image": NAME, "error": "<what is wrong>"}`` for an input that could not be read.
"""

from __future__ import annotations

from plateforge.runtime.alpr import ALPR, ImageRead
from plateforge.runtime.images import ImageError, ImageInput, describe
from plateforge.runtime.plate_lists import PlateList, match_lists


def image_row(
    alpr: ALPR, image: ImageInput, name: str, lists: list[PlateList] | None = None
) -> tuple[dict, ImageRead | None]:
    """Read ``image`` (path, encoded bytes or array) and return its row, named ``name``, with the
    :class:`ImageRead` (None on an error). Never raises for a bad image: the error goes into the row, with
    ``name`` in place of the library's own name for bytes and arrays. With ``lists``, each plate gets
    ``"lists"``: the entries it matched (its text, then its alternatives), as :class:`ListMatch` dicts."""
    try:
        res = alpr.read_timed(image)
    except ImageError as e:
        return {"image": name, "error": str(e).replace(describe(image), name, 1)}, None
    except Exception as e:  # noqa: BLE001 — one bad image must never stop a batch or a server
        return {"image": name, "error": f"{type(e).__name__}: {e}"}, None
    plates = [p.to_dict() for p in res.plates]
    if lists:
        for d, p in zip(plates, res.plates, strict=True):
            texts = [p.text] + [t for t, _ in p.alternatives or () if t != p.text]
            d["lists"] = [m.to_dict() for m in match_lists(lists, texts, p.region, p.parts)]
    return {"image": name, "plates": plates, "timing_ms": res.timing_ms}, res
