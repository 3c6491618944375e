"""Export trained checkpoints to self-describing ONNX, and INT8 quantization (needs the ``[train]`` extra)."""
