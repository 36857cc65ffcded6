"""Every shipped config loads through its stock OpenMMLab bases and builds its model and hooks."""
from pathlib import Path

import pytest
from mmengine.config import Config
from mmengine.registry import DefaultScope, init_default_scope

import ltcv_mm  # noqa: F401
from ltcv_mm.hooks import IMPHook, MaskApplyHook

from helpers import ROOT

PRETRAIN = sorted(p for p in (ROOT / 'configs/pretrain').rglob('*.py') if '_base_' not in p.parts)


def test_every_dataset_and_rewind_type_has_a_downstream_config():
    names = {p.stem for p in PRETRAIN}
    for ds in ('cifar10', 'cifar100', 'svhn', 'fmnist', 'visda'):
        for rewind in ('lt', 'pt', 'rewind_lt', 'pt_trans', 'random'):
            assert f'imp_r50_{ds}_{rewind}' in names
    assert {'imp_supervised_r50_in1k', 'imp_simclr_r50_in1k', 'imp_mocov2_r50_in1k'} <= names


@pytest.mark.parametrize('path', PRETRAIN, ids=lambda p: p.stem)
def test_pretrain_config_builds(path: Path):
    from mmengine.registry import HOOKS, MODELS
    cfg = Config.fromfile(str(path))
    assert cfg.custom_imports['imports'] == ['ltcv_mm']
    hooks = [HOOKS.build(h) for h in cfg.custom_hooks]
    imp = [h for h in hooks if isinstance(h, IMPHook)]
    assert len(imp) == 1 and [h for h in hooks if isinstance(h, MaskApplyHook)] == imp  # one owner
    imp = imp[0]
    stem = path.stem
    if stem.endswith('_random'):
        assert imp.strategy == 'random_global'
    else:
        assert imp.strategy == 'global_magnitude'
    for mode in ('rewind_lt', 'pt_trans', 'lt', 'pt'):
        if stem.endswith('_' + mode):
            assert imp.rewind.mode == mode
            break
    init = cfg.model.backbone.get('init_cfg')
    uses_pretrained = isinstance(init, dict) and init.get('type') == 'Pretrained'
    if 'mocov2' in stem:  # both encoders from one whole-model file (a backbone init_cfg misses the key encoder)
        assert not uses_pretrained and cfg.load_from.endswith('mocov2_r50_model.pth')
    else:
        assert uses_pretrained == (not stem.endswith(('_lt', '_rewind_lt')) or stem.endswith('in1k'))
    scope = cfg.default_scope  # mmpretrain; mmdet and mmseg for the task-specific IMP configs in task/
    assert scope == ('mmpretrain' if 'task' not in path.parts else 'mmseg' if 'deeplab' in stem else 'mmdet')
    with DefaultScope.overwrite_default_scope(scope):
        init_default_scope(scope)
        model = MODELS.build(cfg.model)
    names = [n for n, _ in model.named_parameters()]
    assert 'backbone.layer4.2.conv3.weight' in names
    if 'mocov2' in stem:
        assert 'encoder_k.module.0.layer4.2.conv3.weight' in names
