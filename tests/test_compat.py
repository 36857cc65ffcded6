"""Compat fixes: mmcv 2.1 adjust_hue under numpy 2, and collate_fn inherited across packages."""
import cv2
import numpy as np
import pytest

import ltcv_mm  # noqa: F401  (installs the replacement)
from ltcv_mm.compat import mmcv_hue


@pytest.fixture
def img():
    return np.random.default_rng(0).integers(0, 256, (16, 16, 3), dtype=np.uint8)


def _original():
    return mmcv_hue.original_adjust_hue or mmcv_hue.adjust_hue  # mmcv's own (numpy 1: not replaced)


@pytest.mark.parametrize('backend', ['cv2', 'pillow'])
def test_same_as_mmcv_where_mmcv_works(img, backend):
    original = _original()
    for factor in (0.0, 0.05, 0.1, 0.5):
        assert np.array_equal(mmcv_hue.adjust_hue(img, factor, backend), original(img, factor, backend))


def test_negative_shifts_wrap_around_the_hue_circle(img):
    import mmcv
    assert mmcv.adjust_hue is mmcv_hue.adjust_hue
    if int(np.__version__.split('.')[0]) >= 2:
        with pytest.raises(OverflowError):
            _original()(img, -0.1, 'cv2')  # the bug this replaces
    h, s, v = cv2.split(cv2.cvtColor(img, cv2.COLOR_BGR2HSV_FULL))
    shifted = ((h.astype(int) + 256 - 25) % 256).astype(np.uint8)  # int(-0.1 * 255) = -25
    expected = cv2.cvtColor(cv2.merge([shifted, s, v]), cv2.COLOR_HSV2BGR_FULL)
    assert np.array_equal(mmcv.adjust_hue(img, -0.1, backend='cv2'), expected)


def test_collate_fn_inherited_from_mmpretrain_builds(tmp_path):
    """The shipped SimCLR IMP config inherits mmpretrain's collate_fn, which mmengine stamps with _scope_."""
    from mmengine.config import Config
    from mmengine.registry import init_default_scope
    from mmengine.runner import Runner

    from helpers import ROOT
    from demo.tiny_runs import write_colour_folder
    cfg = Config.fromfile(str(ROOT / 'configs/pretrain/imp_simclr_r50_in1k.py'))
    loader = cfg.train_dataloader
    assert loader.collate_fn.get('_scope_') == 'mmpretrain'  # what mmengine does to inherited dicts
    loader.update(batch_size=2, num_workers=0, persistent_workers=False)
    loader.dataset = dict(type='CustomDataset', data_root=str(write_colour_folder(tmp_path)), with_label=False,
                          pipeline=loader.dataset.pipeline)
    init_default_scope('mmpretrain')
    batch = next(iter(Runner.build_dataloader(loader.to_dict())))
    assert len(batch['inputs']) == 2 and batch['inputs'][0].shape[0] == 2  # two views, default_collate'd
