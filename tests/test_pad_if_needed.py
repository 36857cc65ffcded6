"""ltcv.PadIfNeeded: the authors' segmentation padding (ExtRandomCrop(pad_if_needed=True)), against
torchvision's own pad on the same arrays."""
import numpy as np
import pytest
import torch
from torchvision.transforms import functional as F

from ltcv_mm.datasets import PadIfNeeded


def _authors(img: np.ndarray, seg: np.ndarray, size: int) -> tuple[np.ndarray, np.ndarray]:
    """Segmentation/utils/ext_transforms.py:383-390, on tensors: pad all sides by int((1 + size - w) / 2)
    where the width is short, then by int((1 + size - h) / 2) where the height still is; fill 0."""
    t, lbl = torch.from_numpy(img).permute(2, 0, 1), torch.from_numpy(seg)[None]
    if t.shape[2] < size:
        p = int((1 + size - t.shape[2]) / 2)
        t, lbl = F.pad(t, p), F.pad(lbl, p)
    if t.shape[1] < size:
        p = int((1 + size - t.shape[1]) / 2)
        t, lbl = F.pad(t, p), F.pad(lbl, p)
    return t.permute(1, 2, 0).numpy(), lbl[0].numpy()


@pytest.mark.parametrize('shape', [(300, 200), (500, 600), (513, 100), (600, 700), (1, 1)])
def test_pads_as_the_authors_crop_does(shape):
    rng = np.random.default_rng(0)
    img = rng.integers(1, 256, (*shape, 3), dtype=np.uint8)
    seg = rng.integers(1, 21, shape, dtype=np.uint8)
    out = PadIfNeeded(size=513)(dict(img=img, gt_seg_map=seg, seg_fields=['gt_seg_map'], img_shape=shape))
    want_img, want_seg = _authors(img, seg, 513)
    assert np.array_equal(out['img'], want_img) and np.array_equal(out['gt_seg_map'], want_seg)
    assert out['img_shape'] == want_img.shape[:2] and min(out['img_shape']) >= 513
    if shape[0] < 513 or shape[1] < 513:  # padding is black and background (trained), never 255 (ignored)
        assert out['img'][0, 0].tolist() == [0, 0, 0] and out['gt_seg_map'][0, 0] == 0
    else:
        assert out['img'] is img


def test_bad_size_is_refused_by_name():
    with pytest.raises(ValueError, match='PadIfNeeded: size must be a positive int'):
        PadIfNeeded(size=0)
