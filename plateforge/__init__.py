"""plateforge: automatic licence plate recognition you can train, quantize and deploy yourself."""

__version__ = "0.1.0"

__all__ = ["__version__"]
