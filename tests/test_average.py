"""Weight averaging of exported models (plateforge average)."""

import numpy as np
import onnx
import pytest
from onnx import numpy_helper

from plateforge.export.average import average_models
from plateforge.export.spec_io import read_spec_from_file
from plateforge.runtime.recognizer import PlateRecognizer
from plateforge.runtime.session import MODEL_DIR

REC = MODEL_DIR / "recognizer.onnx"


def _weights(path):
    return {i.name: numpy_helper.to_array(i) for i in onnx.load(str(path)).graph.initializer}


def test_average_is_the_mean_of_float_weights_and_keeps_the_spec(tmp_path):
    tripled = onnx.load(str(REC))
    for init in tripled.graph.initializer:
        w = numpy_helper.to_array(init)
        if w.dtype.kind == "f":
            init.CopyFrom(numpy_helper.from_array((w * 3).astype(w.dtype), init.name))
    onnx.save(tripled, str(tmp_path / "tripled.onnx"))
    out = tmp_path / "mean.onnx"
    report = average_models([REC, tmp_path / "tripled.onnx"], out)
    assert report["models"] == 2
    want, got = _weights(REC), _weights(out)
    floats = [k for k, v in want.items() if v.dtype.kind == "f"]
    head = {k for k in want if k.startswith("plate_head.")}
    assert len(floats) > 20 and head and set(got) == set(want) - head  # the mean has no plate check
    for k, v in got.items():
        np.testing.assert_allclose(v, 2 * want[k] if k in floats else want[k], rtol=1e-6, atol=1e-7)
    spec = read_spec_from_file(out)
    assert spec.architecture == read_spec_from_file(REC).architecture
    assert spec.extra["averaged_from"] == ["recognizer.onnx", "tripled.onnx"]


def test_average_matches_weights_by_where_the_graph_uses_them_not_by_name(tmp_path):
    """A checkpoint trained with QAT exports its float network with conv and BN fused, and the exporter names
    the weights ``onnx::Conv_549`` where the float export said ``s8.0.conv.weight``: same graph, other names."""
    other = onnx.load(str(REC))
    inits = list(other.graph.initializer)
    rename = {init.name: f"onnx::W_{i}" for i, init in enumerate(reversed(inits))}
    for init in inits:
        w = numpy_helper.to_array(init)
        init.CopyFrom(numpy_helper.from_array((w * 3).astype(w.dtype) if w.dtype.kind == "f" else w, rename[init.name]))
    for node in other.graph.node:
        node.input[:] = [rename.get(name, name) for name in node.input]
    onnx.save(other, str(tmp_path / "renamed.onnx"))
    out = tmp_path / "mean.onnx"
    average_models([REC, tmp_path / "renamed.onnx"], out)
    want, got = _weights(REC), _weights(out)
    for k, v in got.items():
        np.testing.assert_allclose(v, 2 * want[k] if v.dtype.kind == "f" else want[k], rtol=1e-6, atol=1e-7)


def test_average_of_a_model_with_itself_reads_the_same(tmp_path):
    out = tmp_path / "same.onnx"
    average_models([REC, REC], out)
    crops = np.random.default_rng(0).integers(0, 256, (3, 48, 160, 3), dtype=np.uint8)
    a = PlateRecognizer(REC, threads=1).run(list(crops))
    b = PlateRecognizer(out, threads=1).run(list(crops))
    assert [r.text for r in a] == [r.text for r in b]
    np.testing.assert_allclose([r.confidence for r in a], [r.confidence for r in b], atol=1e-6)


@pytest.mark.parametrize(
    ("other", "message"),
    [("detector.onnx", "differs from"), ("detector_int8.onnx", "INT8")],
)
def test_average_refuses_models_that_do_not_match(tmp_path, other, message):
    first = "detector.onnx" if other == "detector_int8.onnx" else "recognizer.onnx"
    with pytest.raises(ValueError, match=message):
        average_models([MODEL_DIR / first, MODEL_DIR / other], tmp_path / "x.onnx")
    with pytest.raises(ValueError, match="at least 2"):
        average_models([REC], tmp_path / "x.onnx")


def test_cli_average_writes_the_mean_and_names_a_bad_input(tmp_path):
    from typer.testing import CliRunner

    from plateforge.cli.app import app

    out = tmp_path / "mean.onnx"
    ok = CliRunner().invoke(app, ["average", str(REC), str(REC), "--out", str(out)])
    assert ok.exit_code == 0, ok.output
    assert "mean of 2 models" in ok.output and out.exists()
    bad = CliRunner().invoke(app, ["average", str(REC), str(MODEL_DIR / "detector.onnx"), "--out", str(out)])
    assert bad.exit_code == 2
    assert "detector.onnx" in bad.output and "differs" in bad.output


def test_average_of_recognizers_with_other_regions_matches_region_rows_by_name(tmp_path):
    """A fine-tune that added a country (its region head one row longer, rows in another order) averaged with
    the file it started from: each shared region's row is the mean of both, the new region's row its own."""
    import dataclasses

    from plateforge.export.spec_io import set_spec, spec_of

    base = onnx.load(str(REC))
    regions = list(spec_of(base, REC).regions)
    grown = onnx.load(str(REC))
    order = [*reversed(regions), "xx"]
    for init in grown.graph.initializer:
        w = numpy_helper.to_array(init)
        if init.name.startswith("region_head."):
            rows = w[[regions.index(r) for r in order[:-1]]] * 3
            w = np.concatenate([rows, np.full((1, *w.shape[1:]), 0.25, w.dtype)]).astype(w.dtype)
        elif w.dtype.kind == "f":
            w = (w * 3).astype(w.dtype)
        init.CopyFrom(numpy_helper.from_array(w, init.name))
    set_spec(grown, dataclasses.replace(spec_of(grown, REC), regions=tuple(order)))
    onnx.save(grown, str(tmp_path / "grown.onnx"))
    average_models([tmp_path / "grown.onnx", REC], tmp_path / "mean.onnx")
    want, got = _weights(REC), _weights(tmp_path / "mean.onnx")
    assert read_spec_from_file(tmp_path / "mean.onnx").regions == tuple(order)
    for name in ("region_head.weight", "region_head.bias"):
        np.testing.assert_allclose(got[name][:-1], 2 * want[name][[regions.index(r) for r in order[:-1]]], rtol=1e-6)
        np.testing.assert_allclose(got[name][-1], 0.25)
    np.testing.assert_allclose(got["decoder.queries"], 2 * want["decoder.queries"], rtol=1e-6)
