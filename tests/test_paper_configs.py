"""The paper configs (configs/paper/) in real runs: a downstream IMP through tools/train.py on
Fashion-MNIST files written here in the official idx format, and the pre-trained weights each
recipe loads."""
import json

import numpy as np
import pytest
import torch

import ltcv_mm  # noqa: F401
from demo import digits, formats
from ltcv_mm.core import load_ticket

from helpers import ROOT, run_tool


def test_seed_downstream_recipe_runs_with_its_split_and_test_at_best(tmp_path):
    data = tmp_path / 'fashion_mnist'
    glyphs, labels = digits.load_digits()
    for split, idx in (('train', slice(0, 48)), ('t10k', slice(48, 64))):
        formats.write_mnist_idx(data, split, np.stack([digits.resize(g, 28) for g in glyphs[idx]]), labels[idx])
    work = tmp_path / 'work'
    # the seed's recipe, shrunk: 32 train / 16 validation images of the training split (the seed: 55k / 5k),
    # 2 epochs a state, one pruning, a narrow ResNet-50 (same layer names)
    run_tool(str(ROOT / 'tools/train.py'), str(ROOT / 'configs/paper/downstream/imp_r50_fmnist_pt.py'),
             '--work-dir', str(work), '--cfg-options',
             f'train_dataloader.dataset.dataset.data_root={data}', f'val_dataloader.dataset.dataset.data_root={data}',
             f'test_dataloader.dataset.data_root={data}',
             'train_dataloader.dataset.stop=32', 'val_dataloader.dataset.start=32', 'val_dataloader.dataset.stop=48',
             'train_dataloader.batch_size=8', 'val_dataloader.batch_size=16', 'test_dataloader.batch_size=16',
             'train_dataloader.num_workers=0', 'val_dataloader.num_workers=0', 'test_dataloader.num_workers=0',
             'train_dataloader.persistent_workers=False', 'val_dataloader.persistent_workers=False',
             'test_dataloader.persistent_workers=False',
             'model.backbone.base_channels=8', 'model.backbone.stem_channels=8', 'model.head.in_channels=256',
             'train_cfg.max_epochs=2', 'param_scheduler.1.milestones=[1]', 'custom_hooks.0.rounds=1',
             'auto_scale_lr.enable=False', 'default_hooks.total_batch.keep=False')
    summary = json.loads((work / 'tickets/imp_summary.json').read_text())
    assert summary['rewind'] == 'pt' and summary['rewind_at'] == 'round_best'
    records = summary['records']
    assert [r['round'] for r in records] == [0, 1]
    for r in records:  # each state's test accuracy at its best validation epoch (1 or 2 of the state)
        assert r['best']['at'] in ((1, 2) if r['round'] == 0 else (3, 4))
        assert set(r['best']['test']) == {'accuracy/top1'} and 0 <= r['best']['test']['accuracy/top1'] <= 100
    ticket = load_ticket(work / 'tickets/ticket_round01.safetensors')
    assert 'conv1.weight' not in ticket.masks and 'layer1.0.downsample.0.weight' in ticket.masks
    assert ticket.sparsity == pytest.approx(0.2, abs=1e-4)
    csv = (work / 'tickets/imp_summary.csv').read_text().splitlines()
    assert len(csv) == 3 and csv[1].split(',')[csv[0].split(',').index('test_at_best')] != ''


def test_pt_trans_loads_every_pretrained_weight_but_the_stem(tmp_path):
    """The seed's pt_trans drops conv1 and fc: the 3x3 CIFAR stem cannot take the 7x7 one, the rest loads."""
    import torchvision
    from mmengine.config import Config
    from mmengine.registry import DefaultScope
    from mmpretrain.registry import MODELS

    from ltcv_mm.core import to_canonical
    torch.manual_seed(0)
    weights, _ = to_canonical(torchvision.models.resnet50().state_dict())
    torch.save({'state_dict': weights}, tmp_path / 'r50.pth')
    cfg = Config.fromfile(str(ROOT / 'configs/paper/downstream/imp_r50_cifar10_pt_trans.py'))
    pretrained, = [step for step in cfg.model.backbone.init_cfg if step.type == 'Pretrained']
    pretrained.checkpoint = str(tmp_path / 'r50.pth')
    with DefaultScope.overwrite_default_scope('mmpretrain'):
        model = MODELS.build(cfg.model)
    model.init_weights()
    sd = model.backbone.state_dict()
    assert sd['conv1.weight'].shape == (64, 3, 3, 3)
    loaded = [k for k in weights if k != 'conv1.weight']
    assert all(torch.equal(sd[k], weights[k]) for k in loaded)
    # the new stem as the authors initialise it (models/resnet.py:160): Kaiming fan_out, normal
    _assert_kaiming_fan_out(sd['conv1.weight'])


def _assert_kaiming_fan_out(w: torch.Tensor) -> None:
    std = (2 / (w.shape[0] * w.shape[2] * w.shape[3])) ** 0.5
    assert abs(w.std().item() / std - 1) < 0.1, w.std().item()
    assert w.abs().max().item() > 2.5 * std  # normal tails, not nn.Conv2d's bounded uniform


def test_fashion_mnist_stem_keeps_the_default_conv_init_of_the_authors():
    """utils.py:48 replaces conv1 after the model's init: nn.Conv2d's own kaiming_uniform_(a=sqrt(5)),
    bounded by 1/sqrt(fan_in), while every other conv is Kaiming fan_out."""
    from mmengine.config import Config
    from mmengine.registry import DefaultScope
    from mmpretrain.registry import MODELS
    torch.manual_seed(0)
    cfg = Config.fromfile(str(ROOT / 'configs/paper/downstream/imp_r50_fmnist_lt.py'))
    with DefaultScope.overwrite_default_scope('mmpretrain'):
        model = MODELS.build(cfg.model)
    model.init_weights()
    stem = model.backbone.conv1.weight.detach()
    bound = 1 / 9 ** 0.5  # one input channel, 3x3
    assert stem.shape == (64, 1, 3, 3) and stem.abs().max().item() <= bound
    assert abs(stem.std().item() / (bound / 3 ** 0.5) - 1) < 0.1
    _assert_kaiming_fan_out(model.backbone.layer1[0].conv2.weight.detach())


def test_seed_moco_states_keep_the_queue_and_the_optimizer_and_rewind_both_encoders(tmp_path):
    """The paper MoCo config's IMP settings in a real MoCo run (narrow, tiny data)."""
    from mmengine.config import Config
    from mmengine.runner import Runner

    from ltcv_mm.hooks.runner_access import find_hook

    from probes import RoundProbe, StateProbe  # noqa: F401 (registers them)
    from tiny_runs import tiny_selfsup_cfg, write_colour_folder
    paper = Config.fromfile(str(ROOT / 'configs/paper/imp_mocov2_r50_8xb32_in1k.py'))
    data = write_colour_folder(tmp_path / 'data', per_class=4)
    cfg = tiny_selfsup_cfg(tmp_path / 'work', data, 'MoCo', max_epochs=1)
    imp = dict(paper.custom_hooks[0], rounds=2)
    cfg['custom_hooks'] = [imp, dict(type='RoundProbe'), dict(type='StateProbe')]
    runner = Runner.from_cfg(Config(cfg))
    runner.train()
    probe, start = find_hook(runner, RoundProbe), find_hook(runner, StateProbe)
    assert runner.epoch == 2  # pruned before any training: 2 states of 1 epoch
    initial, state1, state2 = start.before, probe.starts[0]['state'], probe.starts[1]['state']
    mask = probe.starts[1]['ticket'].masks
    for enc in ('backbone.', 'encoder_k.module.0.'):  # both encoders rewound, under the query encoder's mask
        for k, m in mask.items():
            assert torch.equal(state2[enc + k], initial[enc + k] * m), enc + k
    assert torch.equal(state2['neck.mlp.0.weight'], initial['neck.mlp.0.weight'])
    # the queue is not rewound: state 2 starts with the keys state 1 enqueued
    assert not torch.equal(state2['queue'], initial['queue'])
    assert torch.equal(state1['queue'], initial['queue'])
    assert probe.starts[1]['optimizer_state_size'] > 0  # SGD momentum carried across the pruning


def test_seed_simclr_loss_and_lars_run_in_a_real_simclr(tmp_path):
    """The paper SimCLR config's loss, optimizer and hooks in a real SimCLR run (narrow, tiny data)."""
    from mmengine.config import Config
    from mmengine.runner import Runner

    from ltcv_mm.optim import DenseNormLARS
    from ltcv_mm.optim.dense_norm_lars import PRUNED_SQ_NORM

    from tiny_runs import tiny_selfsup_cfg, write_colour_folder
    paper = Config.fromfile(str(ROOT / 'configs/paper/imp_simclr_r50_8xb32_in1k.py'))
    data = write_colour_folder(tmp_path / 'data', per_class=4)
    cfg = tiny_selfsup_cfg(tmp_path / 'work', data, 'SimCLR', max_epochs=1)
    cfg['model']['head'] = dict(cfg['model']['head'], loss=paper.model.head.loss.to_dict(),
                                temperature=paper.model.head.temperature)
    cfg['optim_wrapper'] = dict(optimizer=dict(paper.optim_wrapper.optimizer.to_dict(), lr=0.1))
    cfg['custom_hooks'] = [dict(paper.custom_hooks[0].to_dict(), rounds=1), paper.custom_hooks[1].to_dict()]
    runner = Runner.from_cfg(Config(cfg))
    runner.train()
    opt = runner.optim_wrapper.optimizer
    assert isinstance(opt, DenseNormLARS) and type(runner.model.head.loss_module).__name__ == 'NegLogMeanProbLoss'
    norms = [s[PRUNED_SQ_NORM].item() for s in opt.state.values() if PRUNED_SQ_NORM in s]
    assert len(norms) > 40 and all(n > 0 for n in norms)  # every pruned layer, from the first pruning on


def test_resnet152_downstream_config_builds_the_authors_network():
    """main_imp_downstream.py --arch resnet152: [3, 8, 36, 3] bottlenecks, a 3x3 stem, 100 classes."""
    from mmengine.config import Config
    from mmengine.registry import DefaultScope
    from mmpretrain.registry import MODELS
    cfg = Config.fromfile(str(ROOT / 'configs/paper/downstream/imp_r152_cifar100_pt_trans.py'))
    cfg.model.backbone.init_cfg = None
    with DefaultScope.overwrite_default_scope('mmpretrain'):
        model = MODELS.build(cfg.model)
    blocks = [len(getattr(model.backbone, f'layer{i}')) for i in range(1, 5)]
    assert blocks == [3, 8, 36, 3] and model.backbone.conv1.weight.shape == (64, 3, 3, 3)
    assert model.head.fc.out_features == 100
