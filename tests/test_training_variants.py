"""Pruned weights stay exactly zero in the ways users train: AMP with a loss scaler that skips steps,
gradient accumulation, clipping, EMA, MoCo's key encoder, ZeroRedundancyOptimizer under DDP,
and mmengine's ``compile=True``; real Runners on tiny generated data."""
import json

import pytest
import torch
from mmengine.config import Config
from mmengine.runner import Runner

import ltcv_mm  # noqa: F401
from ltcv_mm.core import load_ticket, prune, save_ticket, select_prunable
from ltcv_mm.hooks.runner_access import find_hook

from helpers import assert_ticket_zeros, last_checkpoint, train, train_ddp
from probes import ZeroProbe
from tiny_runs import NARROW_R50 as NARROW
from tiny_runs import tiny_classifier_cfg, tiny_selfsup_cfg, write_colour_folder


@pytest.fixture(scope='module')
def data(tmp_path_factory):
    return write_colour_folder(tmp_path_factory.mktemp('imgs') / 'data', per_class=8)


@pytest.fixture(scope='module')
def ticket(tmp_path_factory):
    from mmpretrain.models.backbones import ResNet
    torch.manual_seed(0)
    weights = select_prunable(dict(ResNet(**NARROW).named_parameters()))
    return save_ticket(prune(weights, rounds=4), tmp_path_factory.mktemp('t') / 't.safetensors')


def amp(**extra) -> dict:
    """bf16 autocast with a dynamic loss scaler that starts at the top of float32's range: a scaled loss
    over about 2 overflows, and that step is skipped; the scale halves until steps are taken, and then
    tries to grow at every step, so skipped and taken steps alternate."""
    return {**dict(type='AmpOptimWrapper', dtype='bfloat16', accumulative_counts=2, clip_grad=dict(max_norm=1.0),
                   loss_scale=dict(init_scale=2.0 ** 127, growth_interval=1),
                   optimizer=dict(type='SGD', lr=0.05, momentum=0.9, weight_decay=1e-3)), **extra}


def assert_skipped_and_taken_steps(scales):
    changes = [b / a for a, b in zip(scales, scales[1:]) if b != a]
    assert 0.5 in changes and 2.0 in changes, scales  # the scaler backed off (skipped) and grew (stepped)


def _train(cfg):
    runner = train(cfg)  # AMP on the CPU, as tools/train.py builds it on a machine without a GPU
    return runner, find_hook(runner, ZeroProbe)


def overflowing(cfg: dict) -> dict:
    cfg['model']['head']['loss']['loss_weight'] = 4.0  # a loss of about 2.8: the first scaled ones overflow
    return cfg


def test_mask_apply_hook_with_amp_accumulation_clipping_and_ema(data, ticket, tmp_path):
    cfg = overflowing(tiny_classifier_cfg(tmp_path / 'work', data, max_epochs=3))
    cfg['optim_wrapper'] = amp()
    cfg['custom_hooks'] = [dict(type='ltcv.MaskApplyHook', ticket=str(ticket)), dict(type='EMAHook', momentum=0.5),
                           dict(type='ZeroProbe')]
    runner, probe = _train(cfg)
    assert len(probe.nonzero) == 12 and set(probe.nonzero) == {0} and set(probe.copies) == {2}
    assert_skipped_and_taken_steps(probe.scales)
    assert_ticket_zeros(last_checkpoint(tmp_path / 'work'), ticket)
    start = Runner.from_cfg(Config(tiny_classifier_cfg(tmp_path / 'w0', data))).model.state_dict()
    end = runner.model.state_dict()
    kept = load_ticket(ticket).masks['layer2.0.conv2.weight']
    w = 'backbone.layer2.0.conv2.weight'
    assert not torch.equal(end[w][kept], start[w][kept])  # the taken steps did train the kept weights


def test_sparse_backbone_with_amp_accumulation_clipping_and_ema(data, ticket, tmp_path):
    cfg = overflowing(tiny_classifier_cfg(tmp_path / 'work', data, max_epochs=3))
    cfg['custom_imports'] = dict(imports=['ltcv_mm'])
    cfg['model']['backbone'] = dict(type='ltcv.SparseBackbone', ticket=str(ticket), wraps='ResNet', **NARROW)
    cfg['optim_wrapper'] = amp()
    cfg['custom_hooks'] = [dict(type='EMAHook', momentum=0.5), dict(type='ZeroProbe')]
    runner, probe = _train(cfg)
    assert set(probe.nonzero) == {0} and set(probe.copies) == {2}  # the backbone and its EMA copy
    assert_skipped_and_taken_steps(probe.scales)
    ckpt = torch.load(last_checkpoint(tmp_path / 'work'), weights_only=True)
    masks = load_ticket(ticket).masks
    for name, m in masks.items():
        for key, prefix in (('state_dict', 'backbone.'), ('ema_state_dict', 'module.backbone.')):
            assert int((ckpt[key][prefix + name][~m] != 0).sum()) == 0, key + name
    opt = runner.optim_wrapper.optimizer
    w = runner.model.backbone.layer3[0].conv2.weight
    assert int((opt.state[w]['momentum_buffer'][~masks['layer3.0.conv2.weight']] != 0).sum()) == 0


def test_moco_key_encoder_with_amp(data, ticket, tmp_path):
    cfg = tiny_selfsup_cfg(tmp_path / 'work', data, 'MoCo', max_epochs=2)
    cfg['optim_wrapper'] = amp(accumulative_counts=1)
    cfg['custom_hooks'] = [dict(type='ltcv.MaskApplyHook', ticket=str(ticket)), dict(type='ZeroProbe')]
    runner, probe = _train(cfg)
    assert set(probe.nonzero) == {0}
    assert_skipped_and_taken_steps(probe.scales)
    assert runner.model.ltcv_masks.prefixes == ['backbone.', 'encoder_k.module.0.']


def _torchrun(cfg, tmp_path):
    train_ddp(cfg, tmp_path / 'cfg.py')
    return [json.loads((tmp_path / f'work/zero_probe_rank{r}.json').read_text()) for r in (0, 1)]


def test_zero_redundancy_optimizer_under_ddp(data, ticket, tmp_path):
    """Each rank steps its shard of the optimizer and broadcasts; no weight pass after the step."""
    cfg = tiny_classifier_cfg(tmp_path / 'work', data, max_epochs=2)
    cfg['optim_wrapper'] = dict(optimizer=dict(type='ZeroRedundancyOptimizer', optimizer_type='SGD', lr=0.05,
                                               momentum=0.9, weight_decay=1e-3), clip_grad=dict(max_norm=1.0))
    cfg['custom_hooks'] = [dict(type='ltcv.MaskApplyHook', ticket=str(ticket), mask_after_step=False),
                           dict(type='ZeroProbe', record=True)]
    # mmengine 0.10.7 saves checkpoints on rank 0 alone, but consolidating a ZeRO optimizer's state is a
    # collective of all ranks: saving it hangs, with or without this plugin.
    cfg['default_hooks']['checkpoint']['save_optimizer'] = False
    ranks = _torchrun(cfg, tmp_path)
    for seen in ranks:
        assert len(seen['nonzero']) == 4 and set(seen['nonzero']) == {0}
    assert_ticket_zeros(last_checkpoint(tmp_path / 'work'), ticket)


def test_compiled_train_step(data, ticket, tmp_path):
    """mmengine's ``compile=True`` compiles ``train_step``; the mask hooks run eagerly inside it."""
    cfg = tiny_classifier_cfg(tmp_path / 'work', data, max_epochs=1)
    cfg['model']['backbone'] = dict(type='ltcv.SparseBackbone', ticket=str(ticket), wraps='ResNet', **NARROW)
    cfg['custom_hooks'] = [dict(type='ZeroProbe')]
    cfg['compile'] = True
    runner, probe = _train(cfg)
    assert len(probe.nonzero) == 4 and set(probe.nonzero) == {0}
    assert_ticket_zeros(last_checkpoint(tmp_path / 'work'), ticket)
