"""plateforge: automatic licence plate recognition you can train, quantize and deploy yourself.

Public API (the runtime needs numpy, OpenCV and ONNX Runtime only)::

    import plateforge
    plates = plateforge.read("car.jpg")              # [PlateResult(box, corners, text, confidence, ...)]
    alpr = plateforge.ALPR(threads=1)                # the reader; detector, corners and recognizer replaceable
    from plateforge import PlateDetector, PlateRecognizer
    plates = PlateDetector().detect("car.jpg")      # [Detection(box, corners, score)], original pixels
    read = PlateRecognizer().run("plate_crop.jpg")   # PlateRead(text, confidence, char_confidences, region, ...)
"""

__version__ = "0.1.0"

__all__ = [
    "ALPR",
    "CornerRegressor",
    "Detection",
    "ImageError",
    "PlateDetector",
    "PlateRead",
    "PlateRecognizer",
    "PlateResult",
    "__version__",
    "read",
]

_LAZY = {
    "ALPR": "plateforge.runtime.alpr",
    "ImageError": "plateforge.runtime.images",
    "PlateResult": "plateforge.types",
    "PlateRecognizer": "plateforge.runtime.recognizer",
    "PlateDetector": "plateforge.runtime.detector",
    "CornerRegressor": "plateforge.runtime.corners",
    "PlateRead": "plateforge.types",
    "Detection": "plateforge.types",
}


_default_reader = None


def read(images):
    """Plates of one image (a path, encoded bytes or a BGR uint8 array) with the bundled models, or of each
    image of a list (a list of lists): ``list[PlateResult]``, boxes xyxy in the image's pixels, corners TL, TR,
    BR, BL. The reader is built on the first call and kept; raises ``ImageError`` naming a bad input."""
    global _default_reader
    if _default_reader is None:
        from plateforge.runtime.alpr import ALPR

        _default_reader = ALPR()
    return _default_reader.read(images)


def __getattr__(name: str):
    # lazy: `import plateforge` stays cheap (the CLI's data tools do not need ONNX Runtime loaded)
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'plateforge' has no attribute {name!r}")
