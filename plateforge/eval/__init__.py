"""Metrics shared by training validation and the ``plateforge eval`` commands (no torch)."""
