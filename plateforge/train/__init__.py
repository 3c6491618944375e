"""Training (needs the ``[train]`` extra: torch, lightning, ...). Never imported by the runtime."""
