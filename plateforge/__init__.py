"""plateforge: automatic licence plate recognition you can train, quantize and deploy yourself.

Public API (the runtime needs numpy, OpenCV and ONNX Runtime only)::

    from plateforge import PlateRecognizer
    read = PlateRecognizer().run("plate_crop.jpg")   # PlateRead(text, confidence, char_confidences, region, ...)
"""

__version__ = "0.1.0"

__all__ = ["PlateRead", "PlateRecognizer", "__version__"]


def __getattr__(name: str):
    # lazy: `import plateforge` stays cheap (the CLI's data tools do not need ONNX Runtime loaded)
    if name == "PlateRecognizer":
        from plateforge.runtime.recognizer import PlateRecognizer

        return PlateRecognizer
    if name == "PlateRead":
        from plateforge.types import PlateRead

        return PlateRead
    raise AttributeError(f"module 'plateforge' has no attribute {name!r}")
