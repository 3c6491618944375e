"""Inference on ONNX Runtime. Needs numpy, OpenCV and onnxruntime only: never imports torch."""
