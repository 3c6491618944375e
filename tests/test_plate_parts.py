"""Plate parts: a UAE plate's code and number told apart, from the region's formats and, where both splits
are valid, from where the recognizer read each character."""

from __future__ import annotations

import numpy as np
import onnx
import pytest

from plateforge.runtime.plate_parts import plate_parts, valid_cuts
from plateforge.runtime.recognizer import ATTENTION_OUTPUT, PlateRecognizer
from plateforge.runtime.session import bundled_model


def attention_at(columns: list[float], rows: list[float] | None = None, grid=(3, 20)) -> np.ndarray:
    """A slots × cells attention that puts slot k on cell (rows[k], columns[k]) (row 1 by default)."""
    att = np.zeros((10, grid[0] * grid[1]), np.float32)
    for k, x in enumerate(columns):
        att[k, int(round((rows or [1] * len(columns))[k])) * grid[1] + int(round(x))] = 1.0
    return att


def test_the_formats_settle_most_splits_and_other_regions_have_none():
    assert valid_cuts("1637820", "uae-abudhabi") == [2]  # '1' + 6 digits is too long a number
    assert plate_parts("1637820", "uae-abudhabi") == ("16", "37820")
    assert plate_parts("AA1234", "uae-dubai") == ("AA", "1234") and plate_parts("A1234", "uae-dubai") == ("A", "1234")
    assert plate_parts("312", "uae-sharjah") == ("3", "12")
    assert plate_parts("KD932HV", "eu-fr") == () and plate_parts("1234", None) == ()
    assert plate_parts("0999", "uae-abudhabi") == ()  # no valid split: no parts rather than a guess
    assert valid_cuts("11234", "uae-abudhabi") == [1, 2]  # code 1 + 1234, or code 11 + 234
    assert plate_parts("11234", "uae-abudhabi") == ()  # ambiguous, and nothing says which


def test_saudi_plates_split_into_their_number_and_letter_blocks():
    from plateforge.specs import arabic_text

    assert plate_parts("1234ABJ", "sa") == ("1234", "ABJ") and plate_parts("7X", "sa") == ("7", "X")
    assert plate_parts("0012DKV", "sa") == ("0012", "DKV")
    assert plate_parts("ABJ1234", "sa") == () and plate_parts("12345ABJ", "sa") == ()  # not a Saudi text
    number, letters = plate_parts("0512HRV", "sa")
    assert arabic_text(number) == "٠٥١٢" and arabic_text(letters) == "ه ر ى"


def test_omani_plates_split_into_their_number_and_letter_blocks():
    assert plate_parts("12345AB", "om") == ("12345", "AB") and plate_parts("7M", "om") == ("7", "M")
    assert plate_parts("123456AB", "om") == () and plate_parts("AB123", "om") == ()  # not an Omani text


def test_number_and_letter_blocks_come_from_the_region_specs():
    """The blocks' lengths are the spec's (number choices, letter choices, literals such as Oman's ``TT`` too);
    regions printing anything else have none."""
    from plateforge.runtime.plate_parts import _number_letters

    assert _number_letters("sa").pattern == "([0-9]{1,4})([A-Z]{1,3})"
    assert _number_letters("om").pattern == "([0-9]{1,5})([A-Z]{1,2})"
    assert all(_number_letters(r) is None for r in ("uae-dubai", "uae-sharjah", "bh", "qa", "eu-de", "us-ca"))


def test_the_attention_tells_an_ambiguous_code_from_its_number():
    # one line: code in the red box at the left, the number after a gap
    one_code = attention_at([2, 9, 11, 13, 15])
    two_code = attention_at([2, 3.5, 11, 13, 15])
    assert plate_parts("11234", "uae-abudhabi", one_code, (3, 20)) == ("1", "1234")
    assert plate_parts("11234", "uae-abudhabi", two_code, (3, 20)) == ("11", "234")
    # two lines: the code on top, the number below, closer across than the gap down
    stacked = attention_at([4, 6, 5, 7, 9], rows=[0, 0, 2, 2, 2])
    assert plate_parts("11234", "uae-abudhabi", stacked, (3, 20)) == ("11", "234")
    assert plate_parts("11234", "uae-abudhabi", one_code, (4, 20)) == ()  # a grid that does not fit: no guess


def test_the_bundled_recognizer_says_where_it_read_each_character():
    rec = PlateRecognizer(specialists=None, small_specialist=None)
    assert rec.attention_grid == (3, 20)
    crops = [np.full((48, 160, 3), 200, np.uint8)] * 3
    chars, regions, plate, att = rec.first_look(crops, attention=True)
    assert att.shape == (3, 10, 60) and np.allclose(att.sum(-1), 1, atol=1e-3)
    assert [o.name for o in onnx.load(str(bundled_model("recognizer.onnx"))).graph.output] == [
        "chars",
        "regions",
        "plate",
        ATTENTION_OUTPUT,
    ]
    assert len(rec.first_look(crops)) == 3  # without attention=True, as before


def test_adding_the_attention_output_leaves_the_other_outputs_alone(tmp_path):
    from plateforge.export.attention import add_attention_output, strip_attention

    model = strip_attention(onnx.load(str(bundled_model("recognizer.onnx"))))
    onnx.save(model, str(tmp_path / "plain.onnx"))
    assert PlateRecognizer(tmp_path / "plain.onnx", specialists=None, small_specialist=None).attention_grid is None
    out = add_attention_output(tmp_path / "plain.onnx", tmp_path / "with.onnx")  # checks outputs bit for bit
    assert PlateRecognizer(out, specialists=None, small_specialist=None).attention_grid == (3, 20)
    with pytest.raises(ValueError, match="no cross-attention"):
        add_attention_output(bundled_model("corners.onnx"), tmp_path / "x.onnx")


def test_the_reader_splits_abu_dhabi_plates_as_printed():
    """Synthetic Abu Dhabi scenes; the truth is each plate's printed rows (the renderer is watched)."""
    import plateforge.synth.scene as scene_mod
    from plateforge.eval.read_eval import scenes_with_texts
    from plateforge.runtime.alpr import ALPR

    printed, render = {}, scene_mod.render_plate

    def watch(*a, **k):
        p = render(*a, **k)
        printed[p.text] = tuple(p.printed.split("|"))
        return p

    scene_mod.render_plate = watch
    try:
        scenes = list(scenes_with_texts(4, seed=1, regions="uae-abudhabi", plate_height=(40, 90)))
    finally:
        scene_mod.render_plate = render
    alpr = ALPR(threads=1)
    ambiguous = 0
    for img, labels, _ in scenes:
        plates = {p.text: p for p in alpr.read(img)}
        for lab in labels:
            p = plates[lab.text]  # these large plates are all read right
            assert p.parts == printed[lab.text] and p.to_dict()["parts"] == list(printed[lab.text])
            ambiguous += len(valid_cuts(p.text, p.region)) > 1
    assert ambiguous >= 4  # codes 1 and 12, 13, 18: decided by the attention
