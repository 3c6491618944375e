"""``plateforge train det``: the plate detector's config, Lightning module and training entry point.

Validation decodes with the runtime's own functions (:mod:`plateforge.ops.detect`, letterbox from
:mod:`plateforge.ops.boxes`) and scores in original image pixels with COCO metrics, so the numbers seen in
training are the numbers the exported model gets. Late-stage QAT switches on at the epoch given by
``quantization.qat_fraction`` (starting from the EMA weights).
"""

from __future__ import annotations

import dataclasses
import shutil
import time
from pathlib import Path

import lightning.pytorch as pl
import numpy as np
import torch
from torch.utils.data import DataLoader

from plateforge.eval.det_metrics import ImageResult, detection_report
from plateforge.ops.detect import postprocess
from plateforge.train.common import (
    ExperimentCfg,
    MetricsFiles,
    TaskModule,
    TrainingCfg,
    checkpoint_callbacks,
    find_ema,
    git_commit,
    make_trainer,
    shared_run_dir,
)
from plateforge.train.det_data import (
    DetTrainSet,
    DetValImages,
    DetValSet,
    PhotoSource,
    SceneSource,
    collate_train,
    collate_val,
    worker_init,
)
from plateforge.train.det_loss import DetectionLoss, DetLossCfg
from plateforge.train.onnx_init import start_from
from plateforge.train.qat import is_qat, prepare_qat
from plateforge.train.registry import check_model_name, create_model
from plateforge.typed_config import load_config


@dataclasses.dataclass
class DetDataCfg:
    """Training sources (synthetic ``scenes``, ``more_scenes`` drawn besides them, e.g. a focus on a few
    regions, and real ``photos``), validation sets, the photometric preset for photos, the random scale
    range around the letterbox scale, and ``grey``, the share of training images shown in grey levels."""

    scenes: SceneSource = dataclasses.field(default_factory=SceneSource)
    more_scenes: list[SceneSource] = dataclasses.field(default_factory=list)
    photos: list[PhotoSource] = dataclasses.field(default_factory=list)
    val: list[DetValSet] = dataclasses.field(default_factory=list)
    augment: str = "medium"
    scale_range: list[float] = dataclasses.field(default_factory=lambda: [0.6, 1.5])
    grey: float = 0.0  # share of training images shown in grey levels (monochrome / infrared cameras)

    @property
    def scene_sources(self) -> list[SceneSource]:
        """``scenes`` then every ``more_scenes`` source, in the order the training set draws them."""
        return [self.scenes, *self.more_scenes]


@dataclasses.dataclass
class DetModelCfg:
    """Architecture name (``detnet_n``, ``detnet_s``) and the square letterbox input size in pixels."""

    name: str = "detnet_n"
    input_size: int = 384


@dataclasses.dataclass
class DetEvalCfg:
    """Score threshold for precision / recall / F1 and NMS IoU (both exported as the model's defaults), max
    detections. Plates do not overlap, so duplicates of one plate are merged from IoU 0.3 on: a few pixels
    of shift already drop two boxes of a small plate under IoU 0.5."""

    conf: float = 0.3
    iou: float = 0.3
    max_det: int = 100


@dataclasses.dataclass
class QuantCfg:
    """Late-stage QAT over the final ``qat_fraction`` of epochs (0 or ``qat: false`` turns it off);
    ``symmetric_activations`` for TensorRT (zero point 0), asymmetric uint8 is better on CPUs."""

    qat: bool = True
    qat_fraction: float = 0.3
    symmetric_activations: bool = False


@dataclasses.dataclass
class DetConfig:
    experiment: ExperimentCfg = dataclasses.field(default_factory=ExperimentCfg)
    dataset: DetDataCfg = dataclasses.field(default_factory=DetDataCfg)
    model: DetModelCfg = dataclasses.field(default_factory=DetModelCfg)
    training: TrainingCfg = dataclasses.field(default_factory=TrainingCfg)
    loss: DetLossCfg = dataclasses.field(default_factory=DetLossCfg)
    evaluation: DetEvalCfg = dataclasses.field(default_factory=DetEvalCfg)
    quantization: QuantCfg = dataclasses.field(default_factory=QuantCfg)


def follow_live(_average: torch.Tensor, current: torch.Tensor, _n) -> torch.Tensor:
    """EMA update that copies the live value (used once QAT is on)."""
    return current


def qat_start_epoch(cfg: DetConfig) -> int | None:
    """First epoch trained with fake-quant, or None when QAT is off."""
    q = cfg.quantization
    if not q.qat or q.qat_fraction <= 0:
        return None
    return max(0, int(round(cfg.training.epochs * (1 - q.qat_fraction))))


class DetectorModule(TaskModule):
    """Detector + loss; validation with the runtime's decoding and COCO metrics."""

    def __init__(self, cfg: DetConfig, val_names: list[str], steps_per_epoch: int, dataset_hash: str = ""):
        super().__init__()
        self.cfg, self.val_names = cfg, val_names
        self.steps_per_epoch, self.dataset_hash = steps_per_epoch, dataset_hash
        self.model = create_model(cfg.model.name)
        self.criterion = DetectionLoss(cfg.loss)
        self._val: dict[int, list[ImageResult]] = {}
        self._val_time = [0.0, 0]
        self.extra_epoch_metrics: dict = {}

    def training_step(self, batch, batch_idx):
        images, boxes, corners, valid, has, ignore, ignore_valid = batch
        raw = self.model.raw(images)
        points, strides = self.model.anchors(images.shape[1], images.shape[2], images.device)
        terms = self.criterion(raw, points, strides, boxes, corners, valid, has, ignore, ignore_valid)
        self.log_dict(
            {f"train/{k}_loss" if k != "loss" and k != "positives" else f"train/{k}": v for k, v in terms.items()},
            on_step=False,
            on_epoch=True,
            batch_size=len(images),
        )
        return terms["loss"]

    def on_train_epoch_start(self):
        super().on_train_epoch_start()
        start = qat_start_epoch(self.cfg)
        if start is not None and self.current_epoch >= start and not is_qat(self.model):
            self.enable_qat()

    def enable_qat(self) -> None:
        """Fold BN and insert fake-quant, starting from the EMA weights when EMA is on. From here on the EMA
        copy just follows the live model: fake-quant ranges are moving averages of their own, and averaging
        them again (from their initial ±inf) would break them."""
        sym = self.cfg.quantization.symmetric_activations
        ema = find_ema(self.trainer) if self._trainer is not None else None
        if ema is not None and ema._average_model is not None:
            ema._copy_average_to_current(self)
            prepare_qat(ema._average_model.module.model, sym)
            ema._average_model.avg_fn = follow_live
        prepare_qat(self.model, sym)

    def validation_step(self, batch, batch_idx, dataloader_idx=0):
        images, meta = batch
        targets, lbs = meta.targets, meta.letterboxes
        t0 = time.perf_counter()
        out = self.model(images)
        if out.is_cuda:
            torch.cuda.synchronize()
        self._val_time[0] += time.perf_counter() - t0
        self._val_time[1] += len(images)
        out = out.float().cpu().numpy()
        e = self.cfg.evaluation
        rows = self._val.setdefault(dataloader_idx, [])
        for raw, t, lb in zip(out, targets, lbs, strict=True):
            boxes, scores, corners = postprocess(raw, lb, conf=0.001, iou=e.iou, max_det=e.max_det)
            rows.append(
                ImageResult(t.boxes, t.corners, t.has_corners, boxes, scores, corners, lb.width, lb.height, t.ignore)
            )

    def _gather(self) -> None:
        """Under DDP each rank validated a share of the images: merge them so every rank scores them all."""
        if self.trainer.world_size <= 1:
            return
        import torch.distributed as dist

        parts: list = [None] * self.trainer.world_size
        dist.all_gather_object(parts, self._val)
        merged: dict[int, list[ImageResult]] = {}
        for part in parts:
            for idx, rows in part.items():
                merged.setdefault(idx, []).extend(rows)
        self._val = merged

    def on_validation_epoch_end(self):
        self._gather()
        scores = []
        for idx, rows in sorted(self._val.items()):
            name = self.val_names[idx]
            rep = detection_report(rows, conf=self.cfg.evaluation.conf)
            for key in ("map50", "map5095", "ap_small", "ar_small", "precision", "recall", "f1", "corner_mae"):
                value = getattr(rep, key)
                if not np.isnan(value):
                    self.log(f"val/{name}/{key}", float(value), add_dataloader_idx=False)
            scores.append(rep.map5095)
        if scores:
            self.log("val/map5095", float(np.mean(scores)))
        if self._val_time[1]:
            self.log("val/fps", self._val_time[1] / max(self._val_time[0], 1e-9))
        self.log("flags/qat", float(is_qat(self.model)))
        self.log("flags/ema", float(self.cfg.training.ema_decay > 0))
        self.log("flags/amp", float(self.trainer.precision in ("16-mixed", "bf16-mixed")))
        if torch.cuda.is_available():
            self.log("gpu_mem_gb", torch.cuda.max_memory_allocated() / 2**30)
        self._val, self._val_time = {}, [0.0, 0]

    def on_save_checkpoint(self, checkpoint: dict) -> None:
        checkpoint["plateforge"] = {
            "task": "detector",
            "config": dataclasses.asdict(self.cfg),
            "qat": is_qat(self.model),
            "world_size": self.trainer.world_size,
            "dataset_hash": self.dataset_hash,
            "git_commit": git_commit(),
        }


def _data_hash(cfg: DetConfig) -> str:
    """Content hash of the real photos and the synthetic settings trained on."""
    import hashlib
    import json

    from plateforge.data.hashing import dataset_hash
    from plateforge.data.manifest import read_manifest

    h = hashlib.sha256()
    for src in cfg.dataset.scene_sources:
        h.update(json.dumps(dataclasses.asdict(src), sort_keys=True).encode())
    for src in cfg.dataset.photos:
        recs = [r for r in read_manifest(src.manifest) if src.subset is None or r.meta.get("subset") == src.subset]
        h.update(dataset_hash(recs).encode())
    return h.hexdigest()


def train_det(
    config: str | Path, resume: str | Path | None = None, overrides: dict | None = None, init: str | Path | None = None
) -> Path:
    """Train a detector from a YAML config; ``resume`` is a run folder (continues from its ``last.ckpt``,
    QAT state included); ``init`` a float checkpoint whose (EMA) weights start a new run with a fresh optimizer
    and schedule. Returns the run folder."""
    cfg = load_config(DetConfig, config)
    check_model_name(cfg.model.name, config)
    for key, value in (overrides or {}).items():  # e.g. {"training.epochs": 1} for smoke runs
        section, name = key.split(".")
        setattr(getattr(cfg, section), name, value)
    pl.seed_everything(cfg.experiment.seed, workers=True)
    d, t, size = cfg.dataset, cfg.training, cfg.model.input_size
    train_set = DetTrainSet(
        d.scene_sources, d.photos, size, d.augment, tuple(d.scale_range), cfg.experiment.seed, grey=d.grey
    )
    loader = DataLoader(
        train_set,
        batch_size=t.batch_size,
        shuffle=True,
        num_workers=t.num_workers,
        drop_last=True,
        collate_fn=collate_train,
        worker_init_fn=worker_init,
        persistent_workers=False,  # workers are re-forked each epoch and see the new epoch's seed
    )
    vloaders = [
        DataLoader(
            DetValImages(v, size),
            batch_size=32,
            num_workers=min(t.num_workers, 8),
            collate_fn=collate_val,
            worker_init_fn=worker_init,
        )
        for v in d.val
    ]
    steps = len(loader) if t.limit_train_batches is None else min(len(loader), int(t.limit_train_batches))
    module = DetectorModule(cfg, [v.name for v in d.val], steps, _data_hash(cfg))
    if resume:
        run_dir = Path(resume)
        ckpt = run_dir / "checkpoints" / "last.ckpt"
        if not ckpt.is_file():
            raise FileNotFoundError(f"{ckpt}: nothing to resume from")
        info = torch.load(ckpt, map_location="cpu", weights_only=False).get("plateforge", {})
        if info.get("qat"):  # the saved network already has fake-quant: rebuild that structure first
            prepare_qat(module.model, cfg.quantization.symmetric_activations)
    else:
        run_dir, ckpt = shared_run_dir(cfg.experiment, cfg.model.name), None
        if not (run_dir / "config.yaml").exists():
            shutil.copy(config, run_dir / "config.yaml")
        if init:
            start_from(init, module.model, loader, run_dir, lambda ckpt: module.load_state_dict(ckpt["state_dict"]))
    callbacks = [MetricsFiles(run_dir), *checkpoint_callbacks(run_dir, "val/map5095", "max", "map5095")]
    trainer = make_trainer(t, run_dir, callbacks, steps)
    trainer.fit(module, loader, vloaders, ckpt_path=ckpt)
    return run_dir
