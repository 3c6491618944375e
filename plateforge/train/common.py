"""Training plumbing shared by every model: typed YAML configs, run folders, schedules, metrics files, curves,
checkpoints that record where a model came from, and the Lightning trainer set-up."""

from __future__ import annotations

import csv
import dataclasses
import json
import math
import os
import subprocess
import time
from pathlib import Path

import lightning.pytorch as pl
import torch
from lightning.pytorch.callbacks import Callback, EMAWeightAveraging, LearningRateMonitor, ModelCheckpoint
from lightning.pytorch.loggers import TensorBoardLogger


@dataclasses.dataclass
class ExperimentCfg:
    """``name`` of the run; runs go to ``output_dir/<timestamp>_<model>_<name>``; ``seed`` for everything."""

    name: str = "run"
    output_dir: str = "runs"
    seed: int = 0


@dataclasses.dataclass
class TrainingCfg:
    """The loop: epochs, batch, AdamW (lr, weight_decay), cosine schedule after ``warmup_epochs`` of linear
    warm-up, EMA of weights (``ema_decay``; 0 turns it off), gradient clipping by norm, precision ``auto``
    (16-bit mixed on a GPU, 32 on a CPU), and Lightning's accelerator / devices / strategy (``ddp`` to scale out)."""

    epochs: int = 10
    batch_size: int = 128
    lr: float = 2e-3
    weight_decay: float = 0.05
    warmup_epochs: float = 1.0
    ema_decay: float = 0.999
    grad_clip: float = 5.0
    precision: str = "auto"
    accelerator: str = "auto"
    devices: int | str = 1
    strategy: str = "auto"
    num_nodes: int = 1
    num_workers: int = 0
    limit_train_batches: float | int | None = None
    limit_val_batches: float | int | None = None
    log_every_n_steps: int = 20


def git_commit() -> str | None:
    """The current git commit of the working tree (with ``-dirty`` when it has changes), or None."""
    try:
        head = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True, check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain"], capture_output=True, text=True, check=True).stdout
        return head + ("-dirty" if dirty.strip() else "")
    except (OSError, subprocess.CalledProcessError):
        return None


def new_run_dir(exp: ExperimentCfg, model: str) -> Path:
    """``<output_dir>/<YYYYmmdd-HHMMSS>_<model>_<name>`` (created; ``-2``, ``-3`` … appended when a run of the
    same name started in the same second)."""
    base = Path(exp.output_dir) / f"{time.strftime('%Y%m%d-%H%M%S')}_{model}_{exp.name}"
    base.parent.mkdir(parents=True, exist_ok=True)
    for k in range(1, 1000):
        path = base if k == 1 else base.with_name(f"{base.name}-{k}")
        try:
            path.mkdir()
            return path
        except FileExistsError:
            continue
    raise FileExistsError(f"{base}: 999 runs of this name in one second")


def shared_run_dir(exp: ExperimentCfg, model: str) -> Path:
    """A new run folder made by rank 0; the DDP worker processes Lightning launches (they inherit the
    environment) find it in ``PLATEFORGE_RUN_DIR`` instead of making their own."""
    env = os.environ.get("PLATEFORGE_RUN_DIR")
    if env and int(os.environ.get("LOCAL_RANK", "0")) + int(os.environ.get("NODE_RANK", "0")) > 0:
        return Path(env)
    path = new_run_dir(exp, model)
    os.environ["PLATEFORGE_RUN_DIR"] = str(path)
    return path


def cosine_with_warmup(total_steps: int, warmup_steps: int, floor: float = 0.02):
    """LR multiplier: linear 0 → 1 over ``warmup_steps``, then cosine 1 → ``floor`` at ``total_steps``."""

    def factor(step: int) -> float:
        if step < warmup_steps:
            return (step + 1) / max(1, warmup_steps)
        t = min(1.0, (step - warmup_steps) / max(1, total_steps - warmup_steps))
        return floor + (1 - floor) * 0.5 * (1 + math.cos(math.pi * t))

    return factor


def adamw_cosine(module: torch.nn.Module, t: TrainingCfg, steps_per_epoch: int) -> dict:
    """Lightning optimizer config: AdamW (weight decay on weights only, not on biases / norms) stepped with
    :func:`cosine_with_warmup` every step."""
    decay = [p for p in module.parameters() if p.ndim > 1]
    no_decay = [p for p in module.parameters() if p.ndim <= 1]
    opt = torch.optim.AdamW(
        [{"params": decay, "weight_decay": t.weight_decay}, {"params": no_decay, "weight_decay": 0.0}], lr=t.lr
    )
    total = t.epochs * steps_per_epoch
    sched = torch.optim.lr_scheduler.LambdaLR(opt, cosine_with_warmup(total, int(t.warmup_epochs * steps_per_epoch)))
    return {"optimizer": opt, "lr_scheduler": {"scheduler": sched, "interval": "step"}}


class TaskModule(pl.LightningModule):
    """What every plateforge Lightning module shares: ``self.model`` is the network, ``self.cfg.training`` the
    loop settings and ``self.steps_per_epoch`` the schedule length. It logs the gradient norm every 50 steps,
    tells a dataset with ``set_epoch`` which epoch starts (fresh synthetic samples), and sets up AdamW with the
    cosine schedule."""

    model: torch.nn.Module
    steps_per_epoch: int

    def forward(self, images: torch.Tensor):
        return self.model(images)

    def on_before_optimizer_step(self, optimizer) -> None:
        if self.global_step % 50 == 0:
            self.log("train/grad_norm", grad_norm(self), on_step=False, on_epoch=True)

    def on_train_epoch_start(self) -> None:
        loader = self.trainer.train_dataloader
        if loader is not None and hasattr(loader.dataset, "set_epoch"):
            loader.dataset.set_epoch(self.current_epoch)

    def configure_optimizers(self):
        return adamw_cosine(self, self.cfg.training, self.steps_per_epoch)


class MetricsFiles(Callback):
    """After each epoch (its validation included): one row to ``metrics.csv`` and ``metrics.jsonl``, and
    ``curves.png`` redrawn."""

    def __init__(self, run_dir: Path):
        self.run_dir = Path(run_dir)
        self.rows: list[dict] = []
        jsonl = self.run_dir / "metrics.jsonl"
        if jsonl.is_file():  # resumed run: keep the history
            self.rows = [json.loads(line) for line in jsonl.read_text().splitlines() if line.strip()]

    def on_train_epoch_end(self, trainer: pl.Trainer, module: pl.LightningModule) -> None:
        if trainer.global_rank != 0:
            return
        row = {"epoch": trainer.current_epoch, "step": trainer.global_step, "time": round(time.time(), 1)}
        for k, v in trainer.callback_metrics.items():
            row[k] = round(float(v), 6) if isinstance(v, torch.Tensor) and v.numel() == 1 else v
        row.update(getattr(module, "extra_epoch_metrics", {}))
        self.rows = [r for r in self.rows if r["epoch"] != row["epoch"]] + [row]
        keys = sorted({k for r in self.rows for k in r}, key=lambda k: (k not in ("epoch", "step", "time"), k))
        with (self.run_dir / "metrics.csv").open("w", newline="") as f:
            w = csv.DictWriter(f, keys)
            w.writeheader()
            w.writerows(self.rows)
        with (self.run_dir / "metrics.jsonl").open("w") as f:
            f.writelines(json.dumps(r) + "\n" for r in self.rows)
        plot_curves(self.rows, self.run_dir / "curves.png")


def plot_curves(rows: list[dict], path: Path) -> None:
    """One panel per metric family (losses, accuracies, learning rate...), x = epoch."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    keys = [k for k in rows[-1] if k not in ("epoch", "step", "time") and isinstance(rows[-1][k], int | float)]
    groups: dict[str, list[str]] = {}
    for k in keys:
        family = "loss" if "loss" in k else "lr" if k.startswith("lr") else k.split("/")[-1]
        groups.setdefault(family, []).append(k)
    n = len(groups)
    cols = min(3, n)
    fig, axes = plt.subplots(
        (n + cols - 1) // cols, cols, figsize=(5 * cols, 3.2 * ((n + cols - 1) // cols)), squeeze=False
    )
    epochs = [r["epoch"] for r in rows]
    for ax, (family, members) in zip(axes.flat, groups.items(), strict=False):
        for k in members:
            ax.plot(epochs, [r.get(k, float("nan")) for r in rows], marker="o", ms=3, label=k)
        ax.set_title(family)
        ax.set_xlabel("epoch")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    for ax in list(axes.flat)[n:]:
        ax.axis("off")
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


class NamedCheckpoint(ModelCheckpoint):
    """A ModelCheckpoint whose saved state is keyed by its folder and file name too, so several can watch the
    same metric (``best`` and ``topk``) and each restores its own state on resume."""

    @property
    def state_key(self) -> str:
        return f"{super().state_key}[{self.dirpath}/{self.filename}]"


def checkpoint_callbacks(run_dir: Path, monitor: str, mode: str, metric_tag: str) -> list[NamedCheckpoint]:
    """``checkpoints/last.ckpt`` (rewritten after every epoch, so ``--resume`` after a kill loses at most the
    epoch under way), ``checkpoints/best_<tag>.ckpt`` and the top 3 in ``checkpoints/topk/``."""
    ckpt = run_dir / "checkpoints"
    # not save_last=True with save_top_k=0: since Lightning 2.5 that writes last.ckpt only when the same
    # callback saved another checkpoint at that step, that is only when training ends
    last = NamedCheckpoint(dirpath=ckpt, filename="last", save_top_k=1, enable_version_counter=False)
    best = NamedCheckpoint(
        dirpath=ckpt,
        filename=f"best_{metric_tag}",
        monitor=monitor,
        mode=mode,
        save_top_k=1,
        auto_insert_metric_name=False,
        enable_version_counter=False,
    )
    topk = NamedCheckpoint(
        dirpath=ckpt / "topk",
        monitor=monitor,
        mode=mode,
        save_top_k=3,
        filename=f"ckpt_epoch{{epoch:03d}}_{metric_tag}{{{monitor}:.3f}}",
        auto_insert_metric_name=False,
    )
    return [last, best, topk]


def _ema_fn(decay: float):
    def average(avg: torch.Tensor, current: torch.Tensor, n) -> torch.Tensor:
        if not avg.is_floating_point():  # BN counters, fake-quant zero points / flags follow the live model
            return current
        n = torch.as_tensor(n, dtype=avg.dtype, device=avg.device)
        d = torch.clamp((1 + n) / (10 + n), max=decay)  # ramp up: early updates must not dominate short runs
        return avg + (1 - d) * (current - avg)

    return average


class EMA(EMAWeightAveraging):
    """Lightning's EMA of weights and float buffers, with the decay ramped up over the first updates
    (min(decay, (1 + n) / (10 + n)), as timm and YOLOv5 do: a fixed 0.999 over a run of ~1,000 steps averages
    in the untrained start); integer buffers are copied from the live model (the stock average would truncate
    them, e.g. a fake-quant zero point of 128 to 127)."""

    def __init__(self, decay: float, **kwargs):
        super().__init__(decay=decay, **kwargs)
        self._kwargs["avg_fn"] = _ema_fn(decay)


def find_ema(trainer: pl.Trainer) -> EMA | None:
    """The trainer's EMA callback, if any."""
    return next((c for c in trainer.callbacks if isinstance(c, EMA)), None)


def make_trainer(cfg: TrainingCfg, run_dir: Path, callbacks: list[Callback], steps_per_epoch: int) -> pl.Trainer:
    """A Lightning Trainer with AMP on GPUs, EMA, LR logging, TensorBoard, gradient clipping and progress bar."""
    gpu = torch.cuda.is_available() and cfg.accelerator in ("auto", "gpu", "cuda")
    precision = cfg.precision if cfg.precision != "auto" else ("16-mixed" if gpu else "32-true")
    cbs = list(callbacks) + [LearningRateMonitor(logging_interval="epoch")]
    if cfg.ema_decay > 0:
        cbs.append(EMA(cfg.ema_decay, update_starting_at_step=max(1, steps_per_epoch // 4)))
    return pl.Trainer(
        default_root_dir=run_dir,
        max_epochs=cfg.epochs,
        accelerator=cfg.accelerator,
        devices=cfg.devices,
        strategy=cfg.strategy,
        num_nodes=cfg.num_nodes,
        precision=precision,
        gradient_clip_val=cfg.grad_clip or None,
        gradient_clip_algorithm="norm",
        callbacks=cbs,
        logger=TensorBoardLogger(run_dir, name="tensorboard", version=""),
        log_every_n_steps=cfg.log_every_n_steps,
        limit_train_batches=cfg.limit_train_batches,
        limit_val_batches=cfg.limit_val_batches,
        enable_model_summary=False,
    )


def grad_norm(module: torch.nn.Module) -> float:
    """L2 norm of all gradients (before clipping)."""
    norms = [p.grad.detach().norm() for p in module.parameters() if p.grad is not None]
    return float(torch.linalg.vector_norm(torch.stack(norms))) if norms else 0.0
