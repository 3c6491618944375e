"""``plateforge train corners``: the crop-level corner regressor (config, data, Lightning module, entry point).

Samples imitate what the pipeline hands the regressor: a plate's box from a synthetic scene, disturbed as a
detector's box would be (each side moved by ``jitter`` × the box size, normal), grown by ``margin`` on every
side and cut out with :func:`plateforge.ops.geometry.crop_around_box` (the runtime's own crop). Targets are
the plate's corners TL, TR, BR, BL as fractions of the crop; the metric is their mean absolute error (MAE).
A share of the training crops (``dataset.detector_boxes``) is cut around the box a detector finds for the
plate instead: its errors are not random (next to an occluder it stops at the occluder), and the regressor
has to find the plate's whole outline from them, as it must at run time. ``dataset.grey`` shows a share of the
training scenes in grey levels (a monochrome or infrared camera; the bundled detector then finds its boxes with
its grey copy, as the reader does), and ``dataset.val_grey`` the validation scenes, to train and validate a
grey copy of the regressor.
"""

from __future__ import annotations

import dataclasses
import shutil
from pathlib import Path

import lightning.pytorch as pl
import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset

from plateforge.ops.geometry import make_corner_sample
from plateforge.runtime.grey import grey_copy
from plateforge.train.common import (
    ExperimentCfg,
    MetricsFiles,
    TaskModule,
    TrainingCfg,
    checkpoint_callbacks,
    git_commit,
    make_trainer,
    new_run_dir,
)
from plateforge.train.det_data import SceneMaker, SceneSource, worker_init
from plateforge.train.onnx_init import start_from
from plateforge.train.registry import check_model_name, create_model
from plateforge.typed_config import load_config


@dataclasses.dataclass
class CornerDataCfg:
    """Training and validation scenes (one plate crop per scene), box ``jitter`` (σ, fraction of the box) and
    crop ``margin`` (fraction of the box added on each side); ``detector_boxes``: share of training crops cut
    around the box ``detector`` (an ONNX path, None = the bundled detector) finds for the plate (best IoU ≥
    0.3; the jittered true box when it finds none); ``grey``: share of training scenes shown in grey levels (luma
    in all three channels), ``val_grey``: every validation scene so."""

    train: SceneSource = dataclasses.field(default_factory=lambda: SceneSource(n=40000, plates=(1, 2)))
    val: SceneSource = dataclasses.field(default_factory=lambda: SceneSource(n=2000, seed=555, augment="light"))
    jitter: float = 0.04
    margin: float = 0.15
    detector_boxes: float = 0.0
    detector: str | None = None
    grey: float = 0.0
    val_grey: bool = False


@dataclasses.dataclass
class CornerModelCfg:
    """Architecture name and crop input size in pixels."""

    name: str = "cornernet_r18_s"
    height: int = 96
    width: int = 192


@dataclasses.dataclass
class CornerConfig:
    experiment: ExperimentCfg = dataclasses.field(default_factory=ExperimentCfg)
    dataset: CornerDataCfg = dataclasses.field(default_factory=CornerDataCfg)
    model: CornerModelCfg = dataclasses.field(default_factory=CornerModelCfg)
    training: TrainingCfg = dataclasses.field(default_factory=TrainingCfg)


class CornerCrops(Dataset):
    """Plate crops around disturbed boxes with their corners (8 fractions of the crop); ``set_epoch`` renews
    the training scenes; ``grey``: share of scenes shown in grey levels (1: all, 0: none; either draws no
    random number, so a colour set's crops stay as they were)."""

    def __init__(
        self,
        scenes: SceneSource,
        jitter: float,
        margin: float,
        height: int,
        width: int,
        train: bool,
        detector_boxes: float = 0.0,
        detector: str | None = None,
        grey: float = 0.0,
    ):
        if not 0 <= grey <= 1:
            raise ValueError(f"dataset.grey: expected a share of scenes from 0 to 1, got {grey}")
        self.grey = grey
        self.scenes, self.src = SceneMaker(scenes), scenes
        self.jitter, self.margin, self.size = jitter, margin, (height, width)
        self.train, self.epoch = train, 0
        self.detector_boxes, self.detector_path, self._detector = detector_boxes, detector, None

    def detected_box(self, image: np.ndarray, box: np.ndarray) -> np.ndarray | None:
        """The detector's box (xyxy pixels) that overlaps ``box`` most, IoU ≥ 0.3, or None."""
        from plateforge.ops.boxes import box_iou
        from plateforge.runtime.detector import PlateDetector

        if self._detector is None:  # one ONNX Runtime session per worker process, one thread
            self._detector = PlateDetector(self.detector_path, threads=1)
        found = np.array([d.box for d in self._detector.detect(image)], np.float32).reshape(-1, 4)
        if not len(found):
            return None
        iou = box_iou(np.asarray(box, np.float32)[None], found)[0]
        return found[int(iou.argmax())] if iou.max() >= 0.3 else None

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        return self.src.n

    def __getitem__(self, i: int):
        from plateforge.synth.augment import augment, scene_pipeline

        rng = np.random.default_rng([self.src.seed, self.epoch if self.train else 0, i])
        img, t = self.scenes.make(rng)
        if self.grey >= 1 or (self.grey > 0 and rng.random() < self.grey):  # a monochrome or infrared camera
            img = grey_copy(img)
        k = int(rng.integers(0, len(t.boxes))) if len(t.boxes) else None
        if k is None:  # no plate fitted in the scene: try the next item
            return self[(i + 1) % len(self)]
        box, jitter = t.boxes[k], self.jitter
        if self.train and self.detector_boxes > 0 and rng.random() < self.detector_boxes:
            found = self.detected_box(img, box)
            if found is not None:
                box, jitter = found, 0.0
        crop, target = make_corner_sample(img, box, t.corners[k], rng, jitter, self.margin, *self.size)
        crop = augment(crop, scene_pipeline(self.src.augment), int(rng.integers(0, 2**31)))
        return torch.from_numpy(np.ascontiguousarray(crop)), torch.from_numpy(target)


class CornerModule(TaskModule):
    """Regressor + L1 loss; validation MAE in crop fractions (the keypoint seed's metric)."""

    def __init__(self, cfg: CornerConfig, steps_per_epoch: int):
        super().__init__()
        self.cfg, self.steps_per_epoch = cfg, steps_per_epoch
        m = cfg.model
        self.model = create_model(m.name, height=m.height, width=m.width)
        self._err: list[torch.Tensor] = []

    def training_step(self, batch, batch_idx):
        images, targets = batch
        loss = torch.nn.functional.l1_loss(self(images).float(), targets)
        self.log("train/loss", loss, on_step=False, on_epoch=True, batch_size=len(images))
        return loss

    def validation_step(self, batch, batch_idx):
        images, targets = batch
        self._err.append((self(images).float() - targets).abs().detach().cpu())

    def on_validation_epoch_end(self):
        if self._err:
            err = torch.cat(self._err)
            self.log("val/mae", float(err.mean()))
            self.log("val/mae_p95", float(err.mean(1).quantile(0.95)))
        self._err = []

    def on_save_checkpoint(self, checkpoint: dict) -> None:
        checkpoint["plateforge"] = {
            "task": "corners",
            "config": dataclasses.asdict(self.cfg),
            "dataset_hash": "synthetic:" + str(dataclasses.asdict(self.cfg.dataset)),
            "git_commit": git_commit(),
        }


def train_corners(
    config: str | Path, resume: str | Path | None = None, overrides: dict | None = None, init: str | Path | None = None
) -> Path:
    """Train a corner regressor from a YAML config; ``resume`` is a run folder, ``init`` a checkpoint whose (EMA)
    weights start a new run (fine-tuning: fresh optimizer and schedule). Returns the run folder."""
    cfg = load_config(CornerConfig, config)
    check_model_name(cfg.model.name, config)
    for key, value in (overrides or {}).items():
        section, name = key.split(".")
        setattr(getattr(cfg, section), name, value)
    pl.seed_everything(cfg.experiment.seed, workers=True)
    d, m, t = cfg.dataset, cfg.model, cfg.training
    train_set = CornerCrops(
        d.train,
        d.jitter,
        d.margin,
        m.height,
        m.width,
        train=True,
        detector_boxes=d.detector_boxes,
        detector=d.detector,
        grey=d.grey,
    )
    val_set = CornerCrops(d.val, d.jitter, d.margin, m.height, m.width, train=False, grey=float(d.val_grey))
    loader = DataLoader(
        train_set, t.batch_size, shuffle=True, num_workers=t.num_workers, drop_last=True, worker_init_fn=worker_init
    )
    vloader = DataLoader(val_set, 128, num_workers=min(t.num_workers, 4), worker_init_fn=worker_init)
    steps = len(loader) if t.limit_train_batches is None else min(len(loader), int(t.limit_train_batches))
    if resume:
        run_dir, ckpt = Path(resume), Path(resume) / "checkpoints" / "last.ckpt"
        if not ckpt.is_file():
            raise FileNotFoundError(f"{ckpt}: nothing to resume from")
    else:
        run_dir, ckpt = new_run_dir(cfg.experiment, m.name), None
        shutil.copy(config, run_dir / "config.yaml")
    module = CornerModule(cfg, steps)
    if init and not resume:
        start_from(init, module.model, loader, run_dir, lambda ckpt: module.load_state_dict(ckpt["state_dict"]))
    callbacks = [MetricsFiles(run_dir), *checkpoint_callbacks(run_dir, "val/mae", "min", "mae")]
    trainer = make_trainer(t, run_dir, callbacks, steps)
    trainer.fit(module, loader, vloader, ckpt_path=ckpt)
    return run_dir
