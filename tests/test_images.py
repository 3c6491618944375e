"""Image loading: the fast JPEG path agrees with OpenCV, EXIF photos keep their orientation, odd JPEGs fall
back to OpenCV, and a header promising too many pixels is refused before decoding."""

import io

import cv2
import numpy as np
import pytest

from plateforge.runtime import images
from plateforge.runtime.images import ImageError, load_image


def _photo(h: int = 120, w: int = 200) -> np.ndarray:
    rng = np.random.default_rng(0)
    img = cv2.resize(rng.integers(0, 255, (h // 8, w // 8, 3), dtype=np.uint8), (w, h))
    cv2.putText(img, "AB 123", (10, h // 2), cv2.FONT_HERSHEY_SIMPLEX, 1.2, (255, 255, 255), 3)
    return img


def _jpeg(img: np.ndarray) -> bytes:
    return cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_QUALITY, 92])[1].tobytes()


def test_jpeg_without_exif_decodes_like_opencv():
    data = _jpeg(_photo())
    ref = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    img = load_image(data)
    assert img.shape == ref.shape and img.dtype == np.uint8
    assert np.abs(img.astype(int) - ref).mean() < 2.0  # the fast DCT rounds a little differently (1.1 here)


def test_fast_path_is_used_when_simplejpeg_is_there(monkeypatch):
    if images.simplejpeg is None:
        pytest.skip("simplejpeg not installed: OpenCV decodes every JPEG")
    calls = []
    monkeypatch.setattr(images, "_decode_jpeg_fast", lambda data: calls.append(len(data)))  # returns None
    img = load_image(_jpeg(_photo()))  # None from the fast path: OpenCV takes over
    assert calls and img.shape == (120, 200, 3)


def test_exif_orientation_and_grayscale_and_cmyk_jpegs():
    from PIL import Image

    photo = _photo()
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90° clockwise to display
    buf = io.BytesIO()
    Image.fromarray(photo[..., ::-1]).save(buf, "JPEG", exif=exif.tobytes())
    assert load_image(buf.getvalue()).shape == (200, 120, 3)  # turned upright

    gray = load_image(cv2.imencode(".jpg", photo[..., 1])[1].tobytes())
    assert gray.shape == (120, 200, 3) and (gray[..., 0] == gray[..., 2]).all()

    buf = io.BytesIO()
    Image.fromarray(photo[..., ::-1]).convert("CMYK").save(buf, "JPEG")
    cmyk = load_image(buf.getvalue())  # libjpeg-turbo's fast path cannot give BGR from CMYK: OpenCV does
    assert cmyk.shape == (120, 200, 3)


def test_jpeg_header_promising_too_many_pixels_is_refused():
    data = bytearray(_jpeg(_photo()))
    sof = data.index(b"\xff\xc0")  # baseline frame header: length (2), precision (1), height (2), width (2)
    data[sof + 5 : sof + 9] = (60000).to_bytes(2, "big") + (60000).to_bytes(2, "big")
    with pytest.raises(ImageError, match="60000x60000 pixels is larger"):
        load_image(bytes(data))


def test_arrays_of_every_supported_kind_become_bgr_uint8_and_others_are_named():
    grey = np.full((8, 12), 200, np.uint8)
    for arr in (
        grey,
        grey[..., None],
        np.dstack([grey] * 3),
        np.dstack([grey] * 4),
        grey.astype(np.uint16) << 8,
        grey.astype(np.float32) / 255.0,
    ):
        out = load_image(arr)
        assert out.shape == (8, 12, 3) and out.dtype == np.uint8 and abs(int(out[0, 0, 0]) - 200) <= 1
    for arr, msg in [
        (np.zeros((8, 12, 3), bool), "unsupported pixel type bool"),
        (np.zeros((8, 12, 2), np.uint8), "expected 1, 3 or 4 channels"),
        (np.zeros((1, 8, 12, 3), np.uint8), "malformed image array"),
        (np.full((8, 12, 3), np.nan, np.float32), "NaN or infinite"),
        (np.full((8, 12), np.inf), "NaN or infinite"),
    ]:
        with pytest.raises(ImageError, match=msg) as err:
            load_image(arr)
        assert str(err.value).startswith("<array ")  # the message names the input


def test_a_video_or_a_folder_given_as_an_image_says_what_to_do(tmp_path):
    (tmp_path / "gate.MP4").write_bytes(b"\x00\x00\x00\x18ftypmp42")
    with pytest.raises(ImageError, match=r"gate.MP4: a video, not an image: `plateforge stream .*gate.MP4`"):
        load_image(tmp_path / "gate.MP4")
    with pytest.raises(ImageError, match="is a folder, not an image"):
        load_image(tmp_path)
