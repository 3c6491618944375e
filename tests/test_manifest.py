import json

import pytest

from plateforge.data import BadItems, DataError, ImageRecord, PlateLabel, read_manifest, write_manifest
from plateforge.data.manifest import probe_image
from tests.conftest import make_image


def test_manifest_roundtrip_keeps_every_field_and_writes_relative_paths(tmp_path):
    img = make_image(tmp_path / "images" / "x.jpg")
    plate = PlateLabel((1.5, 2, 30, 20), ((1.5, 2), (30, 2), (30, 20), (1.5, 20)), "AB123", "uae-dubai", "two_line")
    recs = [ImageRecord(str(img), 64, 48, (plate,), group="g1"), ImageRecord(str(img), 64, 48, None)]
    path = tmp_path / "m.jsonl"
    assert write_manifest(recs, path) == 2
    first = json.loads(path.read_text().splitlines()[0])
    assert first["image"] == "images/x.jpg"
    assert first["plates"][0]["corners"][1] == [30, 2]
    back = read_manifest(path)
    img = str(img.resolve())
    assert back == [ImageRecord(img, 64, 48, (plate,), "g1"), ImageRecord(img, 64, 48, None)]


def test_write_manifest_refuses_to_overwrite(tmp_path):
    path = tmp_path / "m.jsonl"
    write_manifest([], path)
    with pytest.raises(FileExistsError, match="--overwrite"):
        write_manifest([], path)
    write_manifest([], path, overwrite=True)


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("{not json", "not valid JSON"),
        ('{"image": "x.jpg", "width": 64}', "missing key 'height'"),
        ('{"image": "x.jpg", "width": 64, "height": 48, "plates": [{"box": [10, 10, 5, 20]}]}', "empty box"),
        ('{"image": "x.jpg", "width": 64, "height": 48, "plates": [{"box": [10, 10, 80, 20]}]}', "outside the 64x48"),
        ('{"image": "x.jpg", "width": 64, "height": 48, "plates": [{"box": [1, 1, 5, 5], "layout": "3"}]}', "layout"),
        ('{"image": "x.jpg", "width": 64, "height": 48, "plates": [{"box": [1, 1, 5, 5], "region": "CH"}]}', "lower"),
    ],
)
def test_bad_manifest_lines_name_file_and_line(tmp_path, line, message):
    path = tmp_path / "m.jsonl"
    path.write_text('{"image": "x.jpg", "width": 64, "height": 48, "plates": []}\n' + line + "\n")
    with pytest.raises(DataError, match=message) as err:
        read_manifest(path)
    assert err.value.where.startswith(f"{path}:2")
    bad = BadItems(skip_bad=True)
    assert len(read_manifest(path, bad)) == 1
    assert len(bad) == 1


def test_box_slightly_outside_is_clipped_not_rejected(tmp_path):
    path = tmp_path / "m.jsonl"
    path.write_text('{"image": "x.jpg", "width": 64, "height": 48, "plates": [{"box": [-0.5, 0, 64.6, 48]}]}\n')
    assert read_manifest(path)[0].plates[0].box == (0.0, 0.0, 64.0, 48.0)


def test_probe_image_names_the_problem(tmp_path):
    good = make_image(tmp_path / "ok.jpg", 40, 30)
    assert probe_image(good) == (40, 30)
    (tmp_path / "empty.jpg").write_bytes(b"")
    (tmp_path / "text.jpg").write_text("hello")
    (tmp_path / "cut.jpg").write_bytes(good.read_bytes()[:-200])
    for name, msg in [
        ("missing.jpg", "not found"),
        ("empty.jpg", "empty"),
        ("text.jpg", "not a readable"),
        ("cut.jpg", "truncated|not a readable"),
    ]:
        with pytest.raises(DataError, match=msg):
            probe_image(tmp_path / name)
