"""The benchmark scripts run against today's API. They live outside the package, so nothing else notices when
a function they call changes (``read_vs_rapidocr`` crashed for a session after ``scenes_with_texts`` began
returning the characters an occluder hides). Each runs here on a tiny input; rapidocr, an optional package,
is replaced by a stub that reads nothing, so its code path runs too. Speed is not checked (benchmarks/ is
where it is measured)."""

import json
import runpy
import sys
import types
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[1] / "benchmarks"


@pytest.fixture
def no_rapidocr_reads(monkeypatch):
    """A stand-in for ``rapidocr_onnxruntime.RapidOCR`` that finds no text anywhere."""
    module = types.ModuleType("rapidocr_onnxruntime")

    class RapidOCR:
        def __init__(self, **_options):
            pass

        def __call__(self, _image, **_options):
            return None, 0.0

    module.RapidOCR = RapidOCR
    monkeypatch.setitem(sys.modules, "rapidocr_onnxruntime", module)


def run_script(monkeypatch, script: str, *args: str) -> None:
    monkeypatch.setattr(sys, "argv", [script, *args])
    runpy.run_path(str(BENCH / script), run_name="__main__")


def test_read_vs_rapidocr_counts_plates_on_the_same_scenes(monkeypatch, tmp_path, no_rapidocr_reads):
    run_script(monkeypatch, "read_vs_rapidocr.py", "--scenes", "3", "--json", str(tmp_path / "r.json"))
    rep = json.loads((tmp_path / "r.json").read_text())
    assert rep["scenes"] == 3 and rep["plates"] >= 3
    assert rep["rapidocr_exact"] == 0.0 and 0.0 < rep["plateforge_exact"] <= 1.0
    assert rep["speed_ratio"] > 0


def test_recognizer_bench_reads_a_manifest_bare_and_with_zooms(monkeypatch, tmp_path, capsys, no_rapidocr_reads):
    from plateforge.synth.generate import SynthJob, run_job

    run_job(SynthJob("crops", tmp_path / "crops", 12, 5, "ch", "light"), 1, False)
    run_script(monkeypatch, "recognizer_bench.py", "--data", str(tmp_path / "crops" / "manifest.jsonl"))
    out = capsys.readouterr().out
    assert "12 crops" in out
    table = [line for line in out.splitlines() if line.startswith(("plateforge", "rapid"))]
    rows = {line[:26].strip(): line[26:].split() for line in table}
    assert set(rows) == {"plateforge FP32", "plateforge FP32 + zooms", "rapidocr PP-OCRv4 rec"}
    assert float(rows["plateforge FP32 + zooms"][0].rstrip("%")) >= 75.0  # Swiss crops, light augmentation
    assert rows["rapidocr PP-OCRv4 rec"][0] == "0.00%"


def test_corner_compare_and_detector_bench_run(monkeypatch, tmp_path, capsys):
    from plateforge.runtime.session import bundled_model

    run_script(monkeypatch, "corner_compare.py", "--scenes", "2", "--json", str(tmp_path / "c.json"))
    rep = json.loads((tmp_path / "c.json").read_text())
    assert rep["plates_scored"] >= 2 and rep["regressor_mae_crop"] < rep["detector_head_mae_crop"]
    run_script(monkeypatch, "detector_bench.py", str(bundled_model("detector.onnx")), "--runs", "3")
    assert "detector.onnx" in capsys.readouterr().out


def test_server_bench_reads_through_http(monkeypatch, tmp_path):
    pytest.importorskip("fastapi", reason="the server extra is not installed")
    args = ["--runs", "2", "--photos", "2", "--clients", "2", "--json", str(tmp_path / "s.json")]
    run_script(monkeypatch, "server_bench.py", *args)
    rep = json.loads((tmp_path / "s.json").read_text())
    assert rep["failed_requests"] == 0 and rep["plates_read_first_photo"] and rep["requests_per_s"] > 0


def test_zone_read_compares_the_window_with_the_whole_photo(monkeypatch, tmp_path):
    pytest.importorskip("albumentations")
    from plateforge.synth.video import VideoOptions, make_video

    make_video(
        tmp_path / "v", VideoOptions(width=640, height=360, passes=2, seed=5, plate_height=(30, 40)), overwrite=True
    )
    out = tmp_path / "z.json"
    run_script(
        monkeypatch,
        "zone_read.py",
        "--video",
        str(tmp_path / "v"),
        "--zone",
        "0,0 1,0 1,1 0,1",
        "--every",
        "10",
        "--json",
        str(out),
    )
    r = json.loads(out.read_text())
    assert (
        r["plates"] > 0 and r["with_zone"]["found"] == r["whole_photo"]["found"]
    )  # a whole-frame zone is the whole photo


def test_survey_limits_tables_passes_by_height_frames_and_crops_by_contrast(monkeypatch, tmp_path):
    pytest.importorskip("albumentations")
    out = tmp_path / "s.json"
    args = ["--videos", str(tmp_path / "v"), "--seeds", "7", "--passes", "2", "--every", "1,4", "--crops", "3"]
    run_script(monkeypatch, "survey_limits.py", *args, "--blur-crops", "2", "--threads", "1", "--json", str(out))
    r = json.loads(out.read_text())
    assert r["passes"] == 2 and sum(row["n"] for row in r["by_height_px"]) == 2
    assert sum(row["n"] for row in r["by_contrast"]) == 3 * 3 * 8  # 3 crops, 3 ways, 8 contrasts
    assert sum(row["n"] for row in r["by_blur_plate_heights (across)"]) == 2 * 6
