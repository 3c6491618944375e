"""NumPy box/corner/letterbox operations shared by training and the runtime."""

import cv2
import numpy as np
import pytest

from plateforge.ops.boxes import (
    box_iou,
    cxcywh_to_xyxy,
    letterbox,
    nms,
    order_corners,
    shrink,
    tile_windows,
    xyxy_to_cxcywh,
)
from plateforge.ops.geometry import rectify
from plateforge.synth.scene import plate_quad


def test_box_conversions_roundtrip_and_iou():
    xyxy = np.array([[10, 20, 30, 60], [0, 0, 10, 10]], np.float32)
    assert xyxy_to_cxcywh(xyxy).tolist() == [[20, 40, 20, 40], [5, 5, 10, 10]]
    assert np.allclose(cxcywh_to_xyxy(xyxy_to_cxcywh(xyxy)), xyxy)
    iou = box_iou(
        np.array([[0, 0, 10, 10]]), np.array([[0, 0, 10, 10], [5, 0, 15, 10], [20, 20, 30, 30], [3, 3, 3, 3]])
    )
    assert iou[0].tolist() == pytest.approx([1.0, 1 / 3, 0.0, 0.0])


def test_nms_keeps_best_of_each_cluster():
    boxes = np.array([[0, 0, 10, 10], [1, 1, 11, 11], [50, 50, 60, 60], [0, 0, 10, 9.5]], np.float32)
    scores = np.array([0.8, 0.9, 0.7, 0.6])
    assert nms(boxes, scores, 0.5).tolist() == [1, 2]
    assert nms(boxes, scores, 0.95).tolist() == [1, 0, 2, 3]
    assert nms(boxes, scores, 0.5, max_keep=1).tolist() == [1]
    assert nms(np.zeros((0, 4)), np.zeros(0)).tolist() == []


@pytest.mark.parametrize(("width", "height", "grid"), [(1280, 720, 2), (2560, 1440, 3), (3, 3, 2), (1, 1, 2)])
def test_tile_windows_cover_the_image_with_overlap(width, height, grid):
    tiles = tile_windows(width, height, grid, 0.3)
    assert len(tiles) == grid * grid
    covered = np.zeros((height, width), bool)
    for x1, y1, x2, y2 in tiles:
        assert 0 <= x1 < x2 <= width and 0 <= y1 < y2 <= height
        assert x2 - x1 == min(width, max(1, round(width / grid * 1.3)))  # every tile the same size
        covered[y1:y2, x1:x2] = True
    assert covered.all()
    b, c = tiles[0][2], tiles[1][0]  # right edge of the first tile, left edge of the second
    if width >= 100:  # neighbours overlap by 0.3 of a grid cell at least
        assert b - c >= 0.3 * width / grid - 1
    assert tile_windows(640, 480, 1) == [(0, 0, 640, 480)]
    with pytest.raises(ValueError, match="grid"):
        tile_windows(640, 480, 0)


@pytest.mark.parametrize("roll", [-40, -20, 0, 15, 40])
def test_order_corners_recovers_tl_tr_br_bl(roll):
    quad = plate_quad(120, 30, 200, 150, yaw=25, pitch=-10, roll=roll)  # TL, TR, BR, BL by construction
    shuffled = quad[np.random.default_rng(roll + 50).permutation(4)]
    assert np.allclose(order_corners(shuffled), quad)


def test_letterbox_maps_points_back_exactly():
    img = np.zeros((300, 1000, 3), np.uint8)
    img[100:150, 400:600] = 255
    out, lb = letterbox(img, 320)
    assert out.shape == (320, 320, 3) and lb.scale == pytest.approx(0.32) and lb.pad_y == 112
    ys, xs = np.nonzero(out[..., 0] > 128)
    box = np.array([[xs.min(), ys.min(), xs.max() + 1, ys.max() + 1]], np.float32)
    assert np.allclose(lb.boxes_to_original(box), [[400, 100, 600, 150]], atol=2)
    assert lb.to_original(np.array([[-5, -5]])).tolist() == [[0, 0]]  # clipped to the image
    tall, lb2 = letterbox(np.zeros((640, 100, 3), np.uint8), 224)
    assert tall.shape == (224, 224, 3) and lb2.pad_x == (224 - 35) // 2


@pytest.mark.parametrize("size", [(1280, 720), (1920, 1080), (1279, 719), (4000, 3000)])
def test_shrink_matches_one_step_area_averaging(size):
    """The two-step shrink (integer-factor area, then bilinear) stays close to OpenCV's one-step area resize on
    a fine texture (std 14 grey levels) for even, odd and large frame sizes, at most half as far as bilinear."""
    w, h = size
    rng = np.random.default_rng(0)
    img = cv2.GaussianBlur(rng.integers(0, 256, (h, w, 3), dtype=np.uint8), (0, 0), 1.5)
    tw, th = 384, round(h * 384 / w)
    area = cv2.resize(img, (tw, th), interpolation=cv2.INTER_AREA).astype(np.float32)
    ours = shrink(img, tw, th)
    assert ours.shape == (th, tw, 3)
    bilinear = cv2.resize(img, (tw, th), interpolation=cv2.INTER_LINEAR).astype(np.float32)
    assert np.abs(ours - area).mean() < min(3.0, 0.5 * np.abs(bilinear - area).mean())


@pytest.mark.parametrize("margin", [0.0, 0.1])
def test_rectify_keeps_the_asked_margin_around_the_plate(margin):
    """A white 200 x 50 px plate on black, rectified to 160 x 48 from its exact corners: with ``margin`` m the
    plate fills the crop but for m x its height on every side, so corners that fall inside keep it whole."""
    img = np.zeros((200, 400, 3), np.uint8)
    img[60:110, 100:300] = 255
    corners = np.array([[100, 60], [300, 60], [300, 110], [100, 110]], np.float32)
    crop = rectify(img, corners, 160, 48, margin)
    ys, xs = np.nonzero(crop[..., 0] > 128)
    m_px = margin * 50  # source pixels
    want_x = 160 * m_px / (200 + 2 * m_px)
    want_y = 48 * m_px / (50 + 2 * m_px)
    assert xs.min() == pytest.approx(want_x, abs=1) and 159 - xs.max() == pytest.approx(want_x, abs=1)
    assert ys.min() == pytest.approx(want_y, abs=1) and 47 - ys.max() == pytest.approx(want_y, abs=1)


def test_rectify_takes_a_degenerate_quad():
    """A detector's corners can collapse to a point or a line at low scores: a crop, not a ZeroDivisionError."""
    image = np.full((60, 80, 3), 128, np.uint8)
    for quad in ([[5, 5]] * 4, [[5, 5], [5, 5], [5, 9], [5, 9]]):
        crop = rectify(image, np.array(quad, np.float32), 128, 32, margin=0.075)
        assert crop.shape == (32, 128, 3) and crop.mean() == 128
