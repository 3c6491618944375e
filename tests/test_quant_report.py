"""plateforge quant-report: every bundled model in FP32 / INT8 dynamic / INT8 static (+ QAT detector)."""

from __future__ import annotations

import json

import cv2
import numpy as np
import pytest
from typer.testing import CliRunner

from plateforge.cli.app import app

pytest.importorskip("albumentations")


def test_quant_report_writes_tables_for_every_model(tmp_path):
    calib = tmp_path / "calib"
    calib.mkdir()
    rng = np.random.default_rng(0)
    for i in range(4):
        cv2.imwrite(str(calib / f"{i}.jpg"), rng.integers(0, 255, (240, 320, 3), dtype=np.uint8))
    out = tmp_path / "report"
    res = CliRunner().invoke(
        app, ["quant-report", "--calib", str(calib), "--out", str(out), "--scenes", "3", "--crops", "12"]
    )
    assert res.exit_code == 0, res.output
    rep = json.loads((out / "report.json").read_text())
    assert set(rep["detector"]) == {"fp32", "int8 dynamic", "int8 static", "qat"}
    assert set(rep["corners"]) == set(rep["recognizer"]) == {"fp32", "int8 dynamic", "int8 static"}
    for model, metric in (("detector", "map50"), ("corners", "mae_crop"), ("recognizer", "exact")):
        for row in rep[model].values():
            assert row["latency_ms"] > 0 and row["size_mb"] > 0 and 0 <= row[metric] <= 1
    assert rep["recognizer"]["int8 static"]["size_mb"] < rep["recognizer"]["fp32"]["size_mb"] / 2
    md = (out / "report.md").read_text()
    assert "### detector" in md and "| qat |" in md
