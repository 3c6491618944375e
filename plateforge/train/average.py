"""Weight averaging of training checkpoints ("model soup" in torch): the mean of the network weights of
checkpoints of one model, written as a checkpoint that starts a new run (``plateforge train ... --init``) or
exports (``plateforge export``). :mod:`plateforge.export.average` does the same on exported ONNX files; this
one keeps BatchNorm statistics unfolded, so a soup can be fine-tuned further (the slot-attention recognizer
starts from the bundled soup this way). A loop over state dicts: torch's ``swa_utils`` average one run's
weights as it trains, not the checkpoint files of several runs.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import torch

from plateforge.export.onnx_export import load_checkpoint

# run state that does not carry over to the average (optimizer moments, schedules, callback state)
_DROPPED = ("optimizer_states", "lr_schedulers", "callbacks", "loops", "averaging_state", "current_model_state")


def average_checkpoints(paths: Sequence[str | Path], out: str | Path) -> dict:
    """Write to ``out`` the first checkpoint with every float tensor of its ``state_dict`` (the network's
    weights; EMA weights when the run used EMA) replaced by the mean over ``paths``; integer tensors (BatchNorm
    batch counts) are the first's. All must be plateforge checkpoints of one task and model name with the same
    weight names and shapes; ``plateforge.averaged_from`` lists the files. Returns ``{"path", "models",
    "size_mb"}``. Raises FileNotFoundError for a missing file, ValueError naming the file and what differs."""
    if len(paths) < 2:
        raise ValueError(f"averaging needs at least 2 checkpoints, got {len(paths)}")
    ckpts = [load_checkpoint(p) for p in paths]
    first = ckpts[0]

    def kind(ck: dict) -> tuple[str, str]:
        return ck["plateforge"].get("task"), ck["plateforge"].get("config", {}).get("model", {}).get("name")

    ref = first["state_dict"]
    for p, ck in zip(paths[1:], ckpts[1:], strict=True):
        if kind(ck) != kind(first):
            raise ValueError(f"{p}: {kind(ck)} (task, model) differs from {paths[0]}: {kind(first)}")
        state = ck["state_dict"]
        if state.keys() != ref.keys():
            raise ValueError(f"{p}: its weights are named differently from {paths[0]}'s")
        for k, v in state.items():
            if v.shape != ref[k].shape:
                raise ValueError(f"{p}: weight {k} is {list(v.shape)}, not {list(ref[k].shape)}")
    for k, v in ref.items():
        if v.is_floating_point():
            ref[k] = (sum(ck["state_dict"][k].double() for ck in ckpts) / len(ckpts)).to(v.dtype)
    for key in _DROPPED:
        first.pop(key, None)
    first["plateforge"]["averaged_from"] = [str(p) for p in paths]
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    torch.save(first, out)
    return {"path": str(out), "models": len(ckpts), "size_mb": out.stat().st_size / 1e6}
