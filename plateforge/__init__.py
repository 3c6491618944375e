"""plateforge: automatic licence plate recognition you can train, quantize and deploy yourself.

Public API (the runtime needs numpy, OpenCV and ONNX Runtime only)::

    from plateforge import PlateDetector, PlateRecognizer
    plates = PlateDetector().detect("car.jpg")      # [Detection(box, corners, score)], original pixels
    read = PlateRecognizer().run("plate_crop.jpg")   # PlateRead(text, confidence, char_confidences, region, ...)
"""

__version__ = "0.1.0"

__all__ = ["CornerRegressor", "Detection", "PlateDetector", "PlateRead", "PlateRecognizer", "__version__"]

_LAZY = {
    "PlateRecognizer": "plateforge.runtime.recognizer",
    "PlateDetector": "plateforge.runtime.detector",
    "CornerRegressor": "plateforge.runtime.corners",
    "PlateRead": "plateforge.types",
    "Detection": "plateforge.types",
}


def __getattr__(name: str):
    # lazy: `import plateforge` stays cheap (the CLI's data tools do not need ONNX Runtime loaded)
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'plateforge' has no attribute {name!r}")
