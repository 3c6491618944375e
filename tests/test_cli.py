"""The ``plateforge data`` commands end to end: outputs, exit codes, messages."""

import json
import subprocess
import sys

from typer.testing import CliRunner

from plateforge.cli.app import app
from plateforge.data import read_manifest
from tests.conftest import make_image

runner = CliRunner()


def run(*args):
    return runner.invoke(app, [str(a) for a in args])


def test_import_stats_split_hash_export(voc_dir, tmp_path):
    m = tmp_path / "m.jsonl"
    r = run("data", "import", voc_dir, "--out", m)
    assert r.exit_code == 0, r.output
    assert "3 images, 3 plates" in r.output
    r = run("data", "stats", m, "--json")
    assert r.exit_code == 0
    stats = json.loads(r.stdout)
    assert stats["images"] == 3 and stats["plates"] == 3 and stats["plates_per_image"] == {"0": 1, "1": 1, "2": 1}
    r = run("data", "split", m, "--out", tmp_path / "split", "--val", "0.34")
    assert r.exit_code == 0, r.output
    n = len(read_manifest(tmp_path / "split" / "train.jsonl")) + len(read_manifest(tmp_path / "split" / "val.jsonl"))
    assert n == 3
    h1 = run("data", "hash", m).stdout.strip()
    assert len(h1) == 64 and run("data", "hash", voc_dir).stdout.strip() == h1
    assert run("data", "export", m, "--format", "coco", "--out", tmp_path / "coco").exit_code == 0
    assert run("data", "export", m, "--format", "yolo", "--out", tmp_path / "yolo").exit_code == 0
    assert (tmp_path / "yolo" / "data.yaml").is_file()
    r = run("data", "export", m, "--format", "coco", "--out", tmp_path / "coco")
    assert r.exit_code == 2 and "--overwrite" in r.output


def test_import_bad_input_exit_codes(voc_dir, tmp_path):
    (voc_dir / "annotations" / "broken.xml").write_text("<annotation>")
    r = run("data", "import", voc_dir, "--out", tmp_path / "m.jsonl")
    assert r.exit_code == 2
    assert "broken.xml: malformed XML" in r.output
    assert not (tmp_path / "m.jsonl").exists()
    r = run("data", "import", voc_dir, "--out", tmp_path / "m.jsonl", "--skip-bad")
    assert r.exit_code == 0
    assert "skipped 1 bad item(s)" in r.output and "broken.xml" in r.output
    assert len(read_manifest(tmp_path / "m.jsonl")) == 3
    r = run("data", "import", tmp_path / "missing", "--out", tmp_path / "x.jsonl")
    assert r.exit_code == 2 and "dataset source not found" in r.output


def test_merge_coco_and_yolo_into_one_tree(voc_dir, tmp_path):
    m = tmp_path / "m.jsonl"
    run("data", "import", voc_dir, "--out", m)
    run("data", "export", m, "--format", "coco", "--out", tmp_path / "coco")
    yolo = tmp_path / "yolo_src"
    make_image(yolo / "images" / "a.jpg", 100, 50, seed=9)  # same name as a VOC image: must not clash
    (yolo / "labels").mkdir()
    (yolo / "labels" / "a.txt").write_text("0 0.5 0.5 0.2 0.2\n")
    out = tmp_path / "merged"
    r = run("data", "merge", f"coco:{tmp_path / 'coco' / 'annotations.json'}", yolo, "--out", out)
    assert r.exit_code == 0, r.output
    merged = read_manifest(out / "all.jsonl")
    assert len(merged) == 4 and sum(len(x.plates) for x in merged) == 4
    assert len({x.image for x in merged}) == 4
    assert len(list((out / "labels").glob("*.txt"))) == 4
    r = run("data", "merge", yolo, "--out", out)
    assert r.exit_code == 2 and "--overwrite" in r.output
    assert run("data", "merge", yolo, "--out", out, "--overwrite").exit_code == 0
    assert len(read_manifest(out / "all.jsonl")) == 1


def test_calib_command(tmp_path):
    for i in range(5):
        make_image(tmp_path / "imgs" / f"{i}.png", seed=i)
    r = run("data", "calib", tmp_path / "imgs", "--out", tmp_path / "calib", "--n", "3")
    assert r.exit_code == 0, r.output
    assert len(read_manifest(tmp_path / "calib" / "calib.jsonl")) == 3


def test_python_dash_m_runs():
    r = subprocess.run([sys.executable, "-m", "plateforge", "version"], capture_output=True, text=True, check=True)
    assert r.stdout.strip() == "0.1.0"


def test_a_missing_file_is_named_not_reported_as_an_os_error(tmp_path):
    """Commands that open a path straight away (here `quantize`) say which input is missing, not the OS's
    `[Errno 2] ...` wording."""
    r = run("quantize", tmp_path / "nope.onnx", "--out", tmp_path / "q.onnx", "--calib", tmp_path)
    assert r.exit_code == 2
    assert "nope.onnx: no such file or folder" in r.output and "Errno" not in r.output


def test_a_bar_over_a_loop_that_prints_leaves_stdout_to_the_loop(monkeypatch, capsys):
    """`plateforge read folder/ > out.jsonl` on a terminal: the bar goes to stderr, every row to the file."""
    import io

    from plateforge import progress as progress_module

    monkeypatch.delenv("PLATEFORGE_QUIET", raising=False)
    err = io.StringIO()
    err.isatty = lambda: True
    monkeypatch.setattr(sys, "stderr", err)
    monkeypatch.setattr(progress_module, "_console", progress_module.Console(file=err, force_terminal=True))
    for k in progress_module.progress(range(3), "reading", total=3, prints=True):
        print(f"row {k}")
    assert capsys.readouterr().out.splitlines() == ["row 0", "row 1", "row 2"]
    assert "reading" in err.getvalue()
