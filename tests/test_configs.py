"""Every training config in configs/ loads into its typed config (a renamed or removed field fails here, not
in the next person's training run), and names a registered architecture."""

from pathlib import Path

import pytest

pytest.importorskip("lightning")

from plateforge.train.corners import CornerConfig  # noqa: E402
from plateforge.train.det import DetConfig  # noqa: E402
from plateforge.train.ocr import OcrConfig  # noqa: E402
from plateforge.train.registry import create_model  # noqa: E402
from plateforge.typed_config import load_config  # noqa: E402

CONFIGS = Path(__file__).resolve().parents[1] / "configs"
KINDS = {"ocr": OcrConfig, "det": DetConfig, "corners": CornerConfig}


def _kind(path: Path) -> str:
    """``ocr``, ``det`` or ``corners`` from a config's file name (``ocr_us_freq.yaml``, ``det.yaml``)."""
    return path.name.split("_")[0].split(".")[0]


@pytest.mark.parametrize("path", sorted(p for p in CONFIGS.glob("*.yaml") if _kind(p) in KINDS), ids=lambda p: p.name)
def test_training_configs_load(path):
    kind = _kind(path)
    cfg = load_config(KINDS[kind], path)
    assert cfg.experiment.name and cfg.training.epochs >= 1
    if kind == "ocr":
        m = cfg.model
        create_model(m.name, alphabet=m.alphabet, regions=["x"], height=m.height, width=m.width, slots=m.slots)


@pytest.mark.parametrize("command", ["ocr", "det", "corners"])
def test_an_unknown_model_stops_training_before_any_data_is_made(tmp_path, command):
    """A typo in model.name names the config file and the registered models, before data generation starts."""
    from typer.testing import CliRunner

    from plateforge.cli.app import app

    config = tmp_path / "typo.yaml"
    config.write_text(
        "experiment: {name: typo, output_dir: " + str(tmp_path / "runs") + "}\nmodel: {name: slotnet_xx}\n"
    )
    res = CliRunner().invoke(app, ["train", command, "--config", str(config)])
    assert res.exit_code == 2, res.output
    assert "typo.yaml: model.name 'slotnet_xx' is not a registered model" in res.output and "slotnet_sa" in res.output
    assert not (tmp_path / "runs").exists()
