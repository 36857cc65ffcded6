"""ltcv.BoxSafeCrop, ltcv.BoxSafeTranslate and ltcv.LetterBox: the authors' detection augmentation
(Detection/utils/data_augment.py), against their steps restated here with OpenCV, draws fixed."""
import cv2
import numpy as np
import pytest
import torch
from mmdet.structures.bbox import HorizontalBoxes

from ltcv_mm.datasets import BoxSafeCrop, BoxSafeTranslate, LetterBox

BOXES = np.array([[40., 30., 90., 100.], [120., 60., 150., 90.]])


def _results(seed: int = 0) -> dict:
    img = np.random.default_rng(seed).integers(0, 256, (160, 200, 3), dtype=np.uint8)
    return dict(img=img, img_shape=img.shape[:2], gt_bboxes=HorizontalBoxes(torch.tensor(BOXES, dtype=torch.float32)))


def _fixed(monkeypatch, *uniform: float) -> None:
    draws = list(uniform)
    monkeypatch.setattr(np.random, 'rand', lambda: 0.0)  # below any prob: the step happens
    monkeypatch.setattr(np.random, 'uniform', lambda lo, hi: draws.pop(0))


def test_crop_cuts_left_and_top_within_the_margin_as_the_authors(monkeypatch):
    _fixed(monkeypatch, 25.0, 7.5)
    r = BoxSafeCrop(prob=1.0)(_results())
    # their crop: xmin = max(0, int(40 - 25)) = 15, ymin = int(30 - 7.5) = 22; right and bottom never cut
    assert np.array_equal(r['img'], _results()['img'][22:, 15:])
    assert np.allclose(r['gt_bboxes'].numpy(), BOXES - [15, 22, 15, 22])
    assert r['img_shape'] == (138, 185)


def test_translate_moves_image_and_boxes_as_their_warp_affine(monkeypatch):
    _fixed(monkeypatch, -12.25, 33.6)
    before = _results()
    r = BoxSafeTranslate(prob=1.0)(_results())
    want = cv2.warpAffine(before['img'], np.array([[1, 0, -12.25], [0, 1, 33.6]]), (200, 160))
    assert np.abs(r['img'].astype(int) - want.astype(int)).max() <= 1  # one rounding, in float here
    assert np.allclose(r['gt_bboxes'].numpy(), BOXES + [-12.25, 33.6, -12.25, 33.6])


def test_translate_and_crop_keep_every_box_inside():
    np.random.seed(0)
    for _ in range(50):
        r = BoxSafeTranslate(prob=1.0)(BoxSafeCrop(prob=1.0)(_results()))
        b, (h, w) = r['gt_bboxes'].numpy(), r['img'].shape[:2]
        assert (b[:, :2] >= -1).all() and (b[:, 2] <= w + 1).all() and (b[:, 3] <= h + 1).all()


def test_letterbox_resizes_and_centres_on_grey_as_the_authors():
    before = _results()
    r = LetterBox(size=416)(_results())
    ratio = min(416 / 200, 416 / 160)
    rw, rh = int(ratio * 200), int(ratio * 160)
    dw, dh = int((416 - rw) / 2), int((416 - rh) / 2)
    want = np.full((416, 416, 3), 128, np.uint8)
    want[dh:dh + rh, dw:dw + rw] = cv2.resize(before['img'], (rw, rh))
    assert np.array_equal(r['img'], want) and r['img_shape'] == (416, 416)
    assert np.allclose(r['gt_bboxes'].numpy(), BOXES * ratio + [dw, dh, dw, dh], atol=1e-4)


def test_prob_zero_leaves_the_image_and_bad_options_are_refused():
    before = _results()
    r = BoxSafeTranslate(prob=0.0)(BoxSafeCrop(prob=0.0)(_results()))
    assert np.array_equal(r['img'], before['img']) and np.allclose(r['gt_bboxes'].numpy(), BOXES)
    with pytest.raises(ValueError, match=r'BoxSafeCrop: prob must be in \[0, 1\]'):
        BoxSafeCrop(prob=2)
    with pytest.raises(ValueError, match='LetterBox: size must be a positive int'):
        LetterBox(size=0)
