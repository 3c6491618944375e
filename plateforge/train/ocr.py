"""``plateforge train ocr``: the recognizer's Lightning module, its config and the training entry point."""

from __future__ import annotations

import dataclasses
import json
import re
import shutil
from functools import partial
from pathlib import Path

import lightning.pytorch as pl
import numpy as np
import torch
from torch.nn import functional as F
from torch.utils.data import ConcatDataset, DataLoader

from plateforge.data.plate_crops import PlateCrops, plate_crops
from plateforge.eval.ocr_metrics import ocr_report
from plateforge.ops.slots import IGNORE, decode_ctc, decode_slots
from plateforge.specs import load_specs
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
from plateforge.train.ocr_data import (
    OcrDataset,
    RealSource,
    SynthSource,
    ValSet,
    synth_arrays,
)
from plateforge.train.onnx_init import region_rows, start_from
from plateforge.train.registry import check_model_name, create_model
from plateforge.typed_config import load_config

ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"


@dataclasses.dataclass
class OcrDataCfg:
    synth: SynthSource = dataclasses.field(default_factory=SynthSource)
    real: list[RealSource] = dataclasses.field(default_factory=list)
    val: list[ValSet] = dataclasses.field(default_factory=list)
    real_augment: str = "medium"
    cache_dir: str = "runs/cache"
    grey: float = 0.0  # share of training samples shown in grey levels (monochrome / infrared cameras)


@dataclasses.dataclass
class OcrModelCfg:
    """Architecture name (see ``plateforge.train.registry``), input size, slots, alphabet; ``regions`` None =
    every region in the plate specs."""

    name: str = "slotnet_s"
    height: int = 48
    width: int = 160
    slots: int = 10  # output slots (slot models) or the longest text the data may hold (CTC)
    alphabet: str = ALPHABET  # add "?" for CTC models: masked characters then become a class
    regions: list[str] | None = None


@dataclasses.dataclass
class OcrLossCfg:
    """Cross-entropy per slot with ``label_smoothing``; region head weighted by ``region_weight``."""

    label_smoothing: float = 0.05
    region_weight: float = 0.2


@dataclasses.dataclass
class OcrConfig:
    experiment: ExperimentCfg = dataclasses.field(default_factory=ExperimentCfg)
    dataset: OcrDataCfg = dataclasses.field(default_factory=OcrDataCfg)
    model: OcrModelCfg = dataclasses.field(default_factory=OcrModelCfg)
    training: TrainingCfg = dataclasses.field(default_factory=TrainingCfg)
    loss: OcrLossCfg = dataclasses.field(default_factory=OcrLossCfg)


class RecognizerModule(TaskModule):
    """Slot recognizer + loss + validation metrics (decoded with the runtime's own ``decode_slots``)."""

    def __init__(
        self, cfg: OcrConfig, regions: list[str], val_names: list[str], steps_per_epoch: int, dataset_hash: str = ""
    ):
        super().__init__()
        self.cfg, self.regions, self.val_names = cfg, regions, val_names
        self.steps_per_epoch = steps_per_epoch
        self.dataset_hash = dataset_hash
        m = cfg.model
        self.model = create_model(
            m.name, alphabet=m.alphabet, regions=regions, height=m.height, width=m.width, slots=m.slots
        )
        self.ctc = getattr(self.model, "output_format", "slots") == "ctc"
        self._val: dict[int, list] = {}
        self.extra_epoch_metrics: dict = {}

    def _char_loss(self, chars, targets):
        pad = len(self.cfg.model.alphabet)
        if not self.ctc:
            loss = F.cross_entropy(
                chars.flatten(0, 1),
                targets.flatten(),
                ignore_index=IGNORE,
                label_smoothing=self.cfg.loss.label_smoothing,
            )
            masked = targets == IGNORE
            if masked.any():  # a masked character is unknown but there: its slot must not say "end of text"
                p_end = chars[masked].float().softmax(-1)[:, pad].clamp(max=1 - 1e-6)
                loss = loss - torch.log1p(-p_end).sum() / (~masked).sum().clamp(min=1)
            return loss
        keep = (targets != pad) & (targets != IGNORE)
        lengths = keep.sum(1)
        flat = targets[keep] + 1  # class 0 is the CTC blank
        log_probs = F.log_softmax(chars.float(), -1).transpose(0, 1)  # (T, B, C)
        steps = torch.full((chars.shape[0],), chars.shape[1], dtype=torch.long, device=chars.device)
        return F.ctc_loss(log_probs, flat, steps, lengths, blank=0, zero_infinity=True)

    def _loss(self, chars, region_logits, targets, regions):
        char_loss = self._char_loss(chars, targets)
        known = regions != IGNORE
        region_loss = F.cross_entropy(region_logits[known], regions[known]) if known.any() else chars.sum() * 0
        return char_loss, region_loss

    def training_step(self, batch, batch_idx):
        images, targets, regions = batch
        chars, region_logits = self(images)
        char_loss, region_loss = self._loss(chars, region_logits, targets, regions)
        loss = char_loss + self.cfg.loss.region_weight * region_loss
        self.log_dict(
            {"train/loss": loss, "train/char_loss": char_loss, "train/region_loss": region_loss},
            on_step=False,
            on_epoch=True,
            batch_size=len(images),
        )
        return loss

    def validation_step(self, batch, batch_idx, dataloader_idx=0):
        images, targets, regions = batch
        chars, region_logits = self(images)
        char_loss, _ = self._loss(chars, region_logits, targets, regions)
        self.log(
            f"val/{self.val_names[dataloader_idx]}/loss", char_loss, add_dataloader_idx=False, batch_size=len(images)
        )
        decode = decode_ctc if self.ctc else decode_slots
        reads = decode(chars.float().cpu().numpy(), self.cfg.model.alphabet)
        truths = []
        for t in targets.cpu().numpy():
            truths.append(
                "".join(
                    "?" if k == IGNORE else self.cfg.model.alphabet[k] for k in t if k != len(self.cfg.model.alphabet)
                )
            )
        pred_regions = region_logits.argmax(-1).cpu().numpy()
        self._val.setdefault(dataloader_idx, []).extend(
            (r[0], t, r[1], int(pr), int(gr))
            for r, t, pr, gr in zip(reads, truths, pred_regions, regions.cpu().numpy(), strict=True)
        )

    def on_validation_epoch_end(self):
        scores = []
        for idx, rows in sorted(self._val.items()):
            name = self.val_names[idx]
            preds, truths, confs, pr, gr = zip(*rows, strict=True)
            rep = ocr_report(list(preds), list(truths), list(confs))
            self.log(f"val/{name}/exact", rep["exact"], add_dataloader_idx=False)
            self.log(f"val/{name}/cer", rep["cer"], add_dataloader_idx=False)
            known = [(a, b) for a, b in zip(pr, gr, strict=True) if b != IGNORE]
            if known:
                self.log(f"val/{name}/region_acc", float(np.mean([a == b for a, b in known])), add_dataloader_idx=False)
            scores.append(rep["exact"])
        if scores:
            self.log("val/exact_mean", float(np.mean(scores)))
        self._val = {}

    def on_save_checkpoint(self, checkpoint: dict) -> None:
        checkpoint["plateforge"] = {
            "task": "recognizer",
            "config": dataclasses.asdict(self.cfg),
            "regions": self.regions,
            "dataset_hash": self.dataset_hash,
            "git_commit": git_commit(),
        }


def _arrays_hash(parts: list[PlateCrops]) -> str:
    import hashlib

    h = hashlib.sha256()
    for a in parts:
        h.update(a.images.tobytes())
        h.update(json.dumps([a.texts, a.regions, a.layouts]).encode())
    return h.hexdigest()


def build_data(cfg: OcrConfig, regions: list[str]):
    """Training dataset, validation datasets and names, and the content hash of everything trained on."""
    from plateforge.synth.augment import crop_pipeline

    m, d = cfg.model, cfg.dataset
    synth = synth_arrays(d.synth, m.height, m.width, d.cache_dir)
    real, by_preset = [], {}
    for r in d.real:
        crops = plate_crops(r.manifest, m.width, m.height, r.subset, r.margin)
        real.append((crops, r.repeat))
        by_preset.setdefault((r.augment or d.real_augment, r.lowres), []).append((crops, r.repeat))
    seed = cfg.experiment.seed
    train = [OcrDataset([(synth, 1)], m.alphabet, m.slots, regions, seed=seed, lowres=d.synth.lowres, grey=d.grey)]
    for (preset, lowres), parts in by_preset.items():
        aug = crop_pipeline(preset) if preset != "none" else None
        train.append(
            OcrDataset(parts, m.alphabet, m.slots, regions, augment=aug, seed=seed, lowres=lowres, grey=d.grey)
        )
    vals, names = [], []
    for v in d.val:
        arrays = (
            synth_arrays(v.synth, m.height, m.width, d.cache_dir)
            if v.synth is not None
            else plate_crops(v.manifest, m.width, m.height, v.subset, v.margin)
        )
        vals.append(OcrDataset([(arrays, 1)], m.alphabet, m.slots, regions))
        names.append(v.name)
    return ConcatDataset(train), vals, names, _arrays_hash([synth] + [a for a, _ in real])


def _load_init_state(module, init, model_name: str, ckpt: dict) -> None:
    """Load the network weights of checkpoint ``init`` (loaded: ``ckpt``) into ``module``; blocks a larger model
    adds as the identity (deeper backbone stages, slot self-attention) keep their initial weights, and the
    region head follows the config's regions (shared ones keep their rows, new ones start fresh)."""
    state = ckpt["state_dict"]
    for legacy in ("model.mean", "model.std"):  # checkpoints from before the Normalize module
        state.pop(legacy, None)
    own = module.state_dict()
    have = list(ckpt.get("plateforge", {}).get("regions") or [])
    if have and have != list(module.regions):
        for key in ("model.region_head.weight", "model.region_head.bias"):
            if key in state and key in own and state[key].shape[0] == len(have):
                state[key] = region_rows(state[key], own[key], have, list(module.regions))
    state.pop("model.decoder.pos", None)  # a fixed position code: the model's own fits its grid
    added = [
        k
        for k in own
        if k not in state and re.search(r"\.backbone\.\d+x\d+\.|\.decoder\.slot_attn\.|\.decoder\.pos$", k)
    ]
    wrong = [k for k in own if k not in added and (k not in state or state[k].shape != own[k].shape)]
    if wrong or set(state) - set(own):
        raise ValueError(
            f"{init}: does not fit model {model_name!r}: missing or of another shape {wrong[:4]}, "
            f"unexpected {sorted(set(state) - set(own))[:4]}"
        )
    module.load_state_dict(state, strict=False)


def train_ocr(
    config: str | Path, resume: str | Path | None = None, overrides: dict | None = None, init: str | Path | None = None
) -> Path:
    """Train a recognizer from a YAML config; ``resume`` is a run folder (continues from its ``last.ckpt``);
    ``init`` a checkpoint whose (EMA) weights start a new run (fine-tuning: fresh optimizer and schedule).
    Returns the run folder (checkpoints, metrics.csv/jsonl, curves.png, TensorBoard logs, config.yaml)."""
    cfg = load_config(OcrConfig, config)
    check_model_name(cfg.model.name, config)
    for key, value in (overrides or {}).items():  # e.g. {"training.epochs": 1} for smoke runs
        section, name = key.split(".")
        setattr(getattr(cfg, section), name, value)
    pl.seed_everything(cfg.experiment.seed, workers=True)
    regions = cfg.model.regions or sorted(load_specs())
    train_set, val_sets, val_names, data_hash = build_data(cfg, regions)
    t = cfg.training
    loader = DataLoader(
        train_set,
        batch_size=t.batch_size,
        shuffle=True,
        num_workers=t.num_workers,
        drop_last=True,
        persistent_workers=t.num_workers > 0,
    )
    vloaders = [DataLoader(v, batch_size=256, num_workers=0) for v in val_sets]
    steps = len(loader) if t.limit_train_batches is None else min(len(loader), int(t.limit_train_batches))
    if resume:
        run_dir = Path(resume)
        ckpt = run_dir / "checkpoints" / "last.ckpt"
        if not ckpt.is_file():
            raise FileNotFoundError(f"{ckpt}: nothing to resume from")
    else:
        run_dir, ckpt = new_run_dir(cfg.experiment, cfg.model.name), None
        shutil.copy(config, run_dir / "config.yaml")
    module = RecognizerModule(cfg, regions, val_names, steps, data_hash)
    if init and not resume:
        start_from(init, module.model, loader, run_dir, partial(_load_init_state, module, init, cfg.model.name))
    callbacks = [MetricsFiles(run_dir), *checkpoint_callbacks(run_dir, "val/exact_mean", "max", "exact")]
    trainer = make_trainer(t, run_dir, callbacks, steps)
    trainer.fit(module, loader, vloaders, ckpt_path=ckpt)
    return run_dir
