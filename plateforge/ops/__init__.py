"""NumPy-only operations shared by training validation and the runtime (one postprocess)."""
