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
    from tiny_runs import write_colour_folder
    cfg = Config.fromfile(str(ROOT / 'configs/pretrain/imp_simclr_r50_in1k.py'))
    loader = cfg.train_dataloader
    assert loader.collate_fn.get('_scope_') == 'mmpretrain'  # what mmengine does to inherited dicts
    loader.update(batch_size=2, num_workers=0, persistent_workers=False)
    loader.dataset = dict(type='CustomDataset', data_root=str(write_colour_folder(tmp_path)), with_label=False,
                          pipeline=loader.dataset.pipeline)
    init_default_scope('mmpretrain')
    batch = next(iter(Runner.build_dataloader(loader.to_dict())))
    assert len(batch['inputs']) == 2 and batch['inputs'][0].shape[0] == 2  # two views, default_collate'd


STOCK_OBJECTS = '''
import mmengine.dist.utils as dist_utils
import mmengine.optim.optimizer.amp_optimizer_wrapper as amp
from mmengine.model.wrappers import MMDistributedDataParallel as DDP
from mmengine.runner import Runner
def objects():
    return [amp.GradScaler, amp.is_cuda_available, amp.AmpOptimWrapper.__init__, dist_utils._init_dist_pytorch,
            dist_utils.init_dist, DDP.__init__]
before = objects()
import ltcv_mm
assert objects() == before, [a for a, b in zip(objects(), before) if a is not b]
'''


def test_importing_ltcv_mm_leaves_mmengines_amp_and_distributed_functions_stock():
    import subprocess
    import sys

    from helpers import ROOT, checkout_env
    proc = subprocess.run([sys.executable, '-c', STOCK_OBJECTS], cwd=ROOT, env=checkout_env(),
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr


def test_cpu_runs_adapts_only_the_run_that_asks_and_restores_the_stock_objects():
    import mmengine.dist.utils as dist_utils
    import mmengine.optim.optimizer.amp_optimizer_wrapper as amp
    import torch
    from mmengine.model.wrappers import MMDistributedDataParallel as DDP

    from ltcv_mm.compat.cpu_amp import accelerated
    from ltcv_mm.compat.cpu_runs import cpu_runs

    def objects():
        return [amp.GradScaler, amp.is_cuda_available, dist_utils._init_dist_pytorch, DDP.__init__]
    stock = objects()
    with cpu_runs({'optim_wrapper': dict(type='OptimWrapper')}, 'none'):
        assert objects() == stock  # asks for neither
    with cpu_runs({'optim_wrapper': dict(type='AmpOptimWrapper')}, 'pytorch'):
        inside = objects()
        if not accelerated():  # this machine: AMP and DDP on the CPU
            assert amp.is_cuda_available() and isinstance(amp.GradScaler(), torch.amp.GradScaler)
            assert inside[2] is not stock[2] and inside[3] is not stock[3]
        if torch.cuda.is_available():
            assert inside == stock
    assert objects() == stock
