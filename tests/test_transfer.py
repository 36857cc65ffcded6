"""The shipped transfer configs train and evaluate with stock models, evaluators and tools.

Each representative runs the shipped config, shrunk for the CPU (narrow
ResNet-50 with the same layer names, 64-pixel images, tiny data written here
in the format the stock reader expects), through a real entry point, and the
ticket's sparsity is counted in the checkpoint it saves.
"""
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from mmengine.config import Config

from demo import digits, formats
from demo.tiny import for_cpu, narrow_model, scale_images, set_num_classes, use_local_data
from ltcv_mm.core import load_ticket, prune, save_ticket, select_prunable

import dataset_files
from helpers import ROOT, assert_ticket_zeros, checkout_env, free_port, last_checkpoint, run_tool

TRANSFER = ROOT / 'configs/transfer'
LEAVES = sorted(p for p in TRANSFER.rglob('*.py') if '_base_' not in p.parts)
DIGITS = tuple(str(d) for d in range(10))
WIDTH = 8


@pytest.fixture(scope='module')
def assets(tmp_path_factory):
    """Digit data in every format, a narrow 'pre-trained' ResNet-50 and a ticket found in it."""
    root = tmp_path_factory.mktemp('transfer')
    glyphs, labels = digits.load_digits()
    rng = np.random.default_rng(0)
    scenes = {s: [digits.make_scene(glyphs, labels, rng) for _ in range(n)] for s, n in (('train', 8), ('val', 4))}
    formats.write_coco(root / 'coco', 'train2017', scenes['train'], DIGITS)
    formats.write_coco(root / 'coco', 'val2017', scenes['val'], DIGITS)
    dataset_files.write_voc_detection(root / 'VOCdevkit', '2007', 'trainval', scenes['train'][:4], DIGITS)
    dataset_files.write_voc_detection(root / 'VOCdevkit', '2012', 'trainval', scenes['train'][4:], DIGITS, start=4)
    dataset_files.write_voc_detection(root / 'VOCdevkit', '2007', 'test', scenes['val'], DIGITS, start=100)
    formats.write_voc_segmentation(root / 'VOCdevkit', scenes)
    for split, idx in (('train', slice(0, 40)), ('t10k', slice(40, 60))):
        formats.write_mnist_idx(root / 'fmnist', split, np.stack([digits.resize(g, 28) for g in glyphs[idx]]),
                                labels[idx])
    from mmdet.models.backbones import ResNet
    torch.manual_seed(0)
    pre = ResNet(depth=50, base_channels=WIDTH, stem_channels=WIDTH)
    torch.save({'state_dict': pre.state_dict()}, root / 'pretrained.pth')
    ticket = save_ticket(prune(select_prunable(dict(pre.named_parameters())), rounds=3), root / 't.safetensors')
    return root, ticket


def tiny_config(leaf: Path, assets, work: Path, data: str, classes=None, iters: int = 2) -> Path:
    """The shipped config, shrunk for the CPU, written as a plain config file a tool can take."""
    root, ticket = assets
    cfg = Config.fromfile(str(leaf))
    if cfg.model.backbone.type == 'ltcv.SparseBackbone':
        cfg.model.backbone.ticket = str(ticket)
    cfg.model.backbone.init_cfg.checkpoint = str(root / 'pretrained.pth')
    narrow_model(cfg.model, width=WIDTH, feat=32)
    scale_images(cfg, 64)
    for_cpu(cfg, batch_size=2)
    cfg.default_hooks.pop('total_batch', None)  # shrunk on purpose: 2 images, not the recipe's total batch
    use_local_data(cfg, str(root / data), classes)
    if classes is not None:
        set_num_classes(cfg.model, len(classes))
    if cfg.train_cfg.get('by_epoch', cfg.train_cfg.get('type') != 'IterBasedTrainLoop'):
        cfg.train_cfg.update(max_epochs=1, val_interval=1)
    else:
        cfg.train_cfg.update(max_iters=iters, val_interval=iters)
        cfg.default_hooks.checkpoint.update(interval=iters)
    cfg.default_hooks.logger.interval = 1
    cfg.env_cfg.dist_cfg = dict(backend='gloo')
    cfg.work_dir = str(work)
    path = work.parent / f'{work.name}_{leaf.name}'
    cfg.dump(str(path))
    return path


def test_every_task_has_a_config_for_each_pretraining():
    names = {p.stem for p in LEAVES}
    for pt in ('supervised', 'simclr', 'mocov2'):
        for ds in ('cifar10', 'cifar100', 'svhn', 'fmnist', 'visda'):
            assert f'resnet50-{pt}-ticket_{ds}' in names
        for det in ('faster-rcnn_r50-{}-ticket_fpn_1x_coco', 'faster-rcnn_r50-{}-ticket_fpn_1x_voc0712',
                    'retinanet_r50-{}-ticket_fpn_1x_coco', 'mask-rcnn_r50-{}-ticket_fpn_1x_coco',
                    'deeplabv3plus_r50-{}-ticket-d8_4xb4-20k_voc12aug-512x512',
                    'deeplabv3plus_r50-{}-ticket-d8_4xb2-80k_cityscapes-512x1024'):
            assert det.format(pt) in names
    assert len(LEAVES) == 33


@pytest.mark.parametrize('leaf', LEAVES, ids=lambda p: p.stem)
def test_transfer_config_builds_the_stock_model(leaf, assets):
    root, ticket = assets
    cfg = Config.fromfile(str(leaf))
    assert cfg.custom_imports['imports'] == ['ltcv_mm']
    pt = leaf.stem.split('-')[1] if leaf.stem.startswith('resnet50') else leaf.stem.split('r50-')[1].split('-')[0]
    assert cfg.pretrained == f'work_dirs/pretrained/resnet50_{pt}.pth' == cfg.model.backbone.init_cfg.checkpoint
    assert cfg.ticket == cfg.model.backbone.ticket and pt in cfg.ticket
    assert cfg.model.backbone.type == 'ltcv.SparseBackbone'
    cfg.model.backbone.ticket = str(ticket)
    narrow_model(cfg.model, width=WIDTH)
    scope = cfg.default_scope
    from mmengine.registry import MODELS, DefaultScope, init_default_scope
    with DefaultScope.overwrite_default_scope(scope):
        init_default_scope(scope)
        model = MODELS.build(cfg.model)
    stem = model.backbone.conv1.weight
    assert stem.shape[2:] == ((3, 3) if 'ResNet_CIFAR' in cfg.model.backbone.wraps else (7, 7))  # no deep stem
    assert model.backbone.ltcv_masks.ticket == load_ticket(ticket)
    if scope == 'mmdet':
        assert model.backbone.frozen_stages == 1 and model.backbone.norm_eval  # stock settings kept


def _train(script: Path, cfg: Path, work: Path, *extra: str) -> str:
    out = run_tool(str(script), str(cfg), '--work-dir', str(work), *extra)
    return out.stdout + out.stderr


def _own_tools(package: str) -> Path:
    import importlib
    return Path(importlib.import_module(package).__file__).parent / '.mim' / 'tools' / 'train.py'


def test_faster_rcnn_coco_under_mmdets_own_train_script(assets, tmp_path):
    cfg = tiny_config(TRANSFER / 'detection/faster-rcnn_r50-mocov2-ticket_fpn_1x_coco.py', assets,
                      tmp_path / 'w', 'coco', DIGITS)
    log = _train(_own_tools('mmdet'), cfg, tmp_path / 'w')
    assert 'coco/bbox_mAP' in log
    sparsity = assert_ticket_zeros(last_checkpoint(tmp_path / 'w'), assets[1])
    assert sparsity == pytest.approx(1 - 0.8 ** 3, abs=1e-4)


def test_retinanet_and_mask_rcnn_coco(assets, tmp_path):
    for leaf, metrics in (('retinanet_r50-simclr-ticket_fpn_1x_coco', ('coco/bbox_mAP',)),
                          ('mask-rcnn_r50-supervised-ticket_fpn_1x_coco', ('coco/bbox_mAP', 'coco/segm_mAP'))):
        work = tmp_path / leaf
        cfg = tiny_config(TRANSFER / f'detection/{leaf}.py', assets, work, 'coco', DIGITS)
        Config.fromfile(str(cfg))  # dumped config is loadable as is
        log = _train(ROOT / 'tools/train.py', cfg, work,
                     '--cfg-options', 'model.test_cfg.score_thr=0.0' if 'retina' in leaf
                     else 'model.test_cfg.rcnn.score_thr=0.0')
        for m in metrics:
            assert m in log, (leaf, log[-2000:])
        assert_ticket_zeros(last_checkpoint(work), assets[1])


def test_deeplabv3plus_voc_under_mmsegs_own_train_script(assets, tmp_path):
    cfg = tiny_config(TRANSFER / 'segmentation/deeplabv3plus_r50-simclr-ticket-d8_4xb4-20k_voc12aug-512x512.py',
                      assets, tmp_path / 'w', 'VOCdevkit/VOC2012')
    log = _train(_own_tools('mmseg'), cfg, tmp_path / 'w')
    assert 'SyncBNFallbackHook' in log and 'mIoU' in log
    assert_ticket_zeros(last_checkpoint(tmp_path / 'w'), assets[1])


@pytest.mark.parametrize('task', ['detection', 'segmentation'])
def test_instability_tool_on_a_detector_and_a_segmentor(assets, tmp_path, task):
    """Two copies with the same seed: one model at every alpha (barrier 0), the stock metric along the
    path (mAP, mIoU), the ticket held at every point."""
    import json
    if task == 'detection':
        cfg = tiny_config(TRANSFER / 'detection/faster-rcnn_r50-supervised-ticket_fpn_1x_coco.py', assets,
                          tmp_path / 'w', 'coco', DIGITS)
        loaded = Config.fromfile(str(cfg))
        loaded.model.test_cfg.rcnn.score_thr = 0.0  # a detector trained for two steps scores low
        loaded.dump(str(cfg))
        metric = 'coco/bbox_mAP_50'
    else:
        cfg = tiny_config(TRANSFER / 'segmentation/deeplabv3plus_r50-simclr-ticket-d8_4xb4-20k_voc12aug-512x512.py',
                          assets, tmp_path / 'w', 'VOCdevkit/VOC2012')
        metric = 'mIoU'
    out = tmp_path / 'path.json'
    run_tool(str(ROOT / 'tools/instability.py'), str(cfg), '--seeds', '0', '0', '--alphas', '3', '--bn-batches',
             '2', '--metric', metric, '--work-dir', str(tmp_path / 'inst'), '--out', str(out))
    record = json.loads(out.read_text())
    values = [p['metric'] for p in record['path']]
    assert record['metric'] == metric and len(values) == 3 and len(set(values)) == 1 and values[0] > 0
    assert record['barrier'] == 0.0 and record['verdict'] == 'stable'
    assert all(p['pruned_nonzero'] == 0 for p in record['path'])


def test_fashion_mnist_classifier_and_test_tool(assets, tmp_path):
    cfg = tiny_config(TRANSFER / 'classification/resnet50-supervised-ticket_fmnist.py', assets,
                      tmp_path / 'w', 'fmnist')
    log = _train(ROOT / 'tools/train.py', cfg, tmp_path / 'w')
    assert 'accuracy/top1' in log
    assert_ticket_zeros(last_checkpoint(tmp_path / 'w'), assets[1])
    out = run_tool(str(ROOT / 'tools/test.py'), str(cfg), str(tmp_path / 'w/epoch_1.pth'),
                   '--work-dir', str(tmp_path / 'w'), '--cfg-options', 'log_level=INFO')
    assert 'accuracy/top1' in out.stdout + out.stderr


def test_faster_rcnn_voc_with_dist_train_on_two_processes(assets, tmp_path):
    cfg = tiny_config(TRANSFER / 'detection/faster-rcnn_r50-supervised-ticket_fpn_1x_voc0712.py', assets,
                      tmp_path / 'w', 'VOCdevkit', DIGITS)
    env = checkout_env(PORT=str(free_port()), OMP_NUM_THREADS='1',
                       PATH=os.path.dirname(sys.executable) + os.pathsep + os.environ['PATH'])
    proc = subprocess.run(['bash', str(ROOT / 'tools/dist_train.sh'), str(cfg), '2', '--work-dir', str(tmp_path / 'w'),
                           '--cfg-options', 'train_dataloader.dataset.times=1', 'model.test_cfg.rcnn.score_thr=0.0'],
                          capture_output=True, text=True, env=env, timeout=600)
    log = proc.stdout + proc.stderr
    assert proc.returncode == 0, log[-3000:]
    assert 'pascal_voc/mAP' in log
    assert_ticket_zeros(last_checkpoint(tmp_path / 'w'), assets[1])


PAPER = ROOT / 'configs/paper/transfer'


@pytest.mark.parametrize('leaf, data, classes, metric', [
    ('deeplabv3plus_r50-ticket-os16_1xb4-30k_voc12-513x513.py', 'VOCdevkit/VOC2012', None, 'mIoU'),
    ('faster-rcnn_r50-ticket_fpn_1xb8-120e_voc0712-416.py', 'VOCdevkit', DIGITS, 'pascal_voc/mAP')])
def test_paper_transfer_configs_train_and_evaluate(leaf, data, classes, metric, assets, tmp_path):
    """The seed's schedules (configs/paper/transfer) in the stock runners, shrunk for the CPU."""
    cfg = tiny_config(PAPER / leaf, assets, tmp_path / 'w', data, classes)
    log = _train(ROOT / 'tools/train.py', cfg, tmp_path / 'w', '--cfg-options', 'log_level=INFO')
    assert metric in log
    # 1 process x batch 2 against the seed's total batch: auto_scale_lr scales the lr
    base = 4 if 'deeplab' in leaf else 8
    assert f'LR is set based on batch size of {base} and the current batch size is 2' in log
    assert_ticket_zeros(last_checkpoint(tmp_path / 'w'), assets[1])


@pytest.mark.parametrize('leaf, data, classes, metric, options', [
    ('paper/task/imp_deeplabv3plus_r50-os16_1xb4-30k_voc12-513x513.py', 'VOCdevkit/VOC2012', None, 'mIoU', []),
    ('paper/task/imp_faster-rcnn_r50_fpn_1xb8-120e_voc0712-416.py', 'VOCdevkit', DIGITS, 'pascal_voc/mAP', []),
    # the stock-recipe family, late resetting after 2 iterations of the first epoch (2 images a batch)
    ('pretrain/task/imp_faster-rcnn_r50_fpn_1x_coco_late-reset.py', 'coco', DIGITS, 'coco/bbox_mAP',
     ['custom_hooks.0.rewind_at=2', 'model.test_cfg.rcnn.score_thr=0.0'])])
def test_task_specific_imp_in_the_stock_detector_and_segmentor(leaf, data, classes, metric, options, assets,
                                                               tmp_path):
    """Tickets found on the downstream task itself (configs/*/task), one pruning, shrunk for the CPU."""
    import json
    cfg = tiny_config(ROOT / 'configs' / leaf, assets, tmp_path / 'w', data, classes)
    hooks = Config.fromfile(str(cfg)).custom_hooks
    index = [h['type'] for h in hooks].index('ltcv.IMPHook')
    _train(ROOT / 'tools/train.py', cfg, tmp_path / 'w', '--cfg-options', f'custom_hooks.{index}.rounds=1',
           *[o.replace('custom_hooks.0', f'custom_hooks.{index}') for o in options])
    summary = json.loads((tmp_path / 'w/tickets/imp_summary.json').read_text())
    assert [r['round'] for r in summary['records']] == [0, 1]
    assert all(r['metric_name'] == metric and r['metric'] is not None for r in summary['records'])
    ticket = load_ticket(tmp_path / 'w/tickets/ticket_round01.safetensors')
    pre = torch.load(assets[0] / 'pretrained.pth', weights_only=True)['state_dict']
    assert set(ticket.masks) == set(select_prunable(pre))  # the backbone's convs but the stem
    assert ticket.sparsity == pytest.approx(0.2, abs=1e-4)
    assert_ticket_zeros(last_checkpoint(tmp_path / 'w'), tmp_path / 'w/tickets/ticket_round01.safetensors')


def test_whole_detector_imp_prunes_neck_and_heads_but_the_final_layers(assets, tmp_path):
    """IMPHook(scope='model'): backbone, FPN and heads under one ranking; classifier and box layers dense."""
    cfg = tiny_config(ROOT / 'configs/paper/task/imp_faster-rcnn_r50_fpn_1xb8-120e_voc0712-416.py', assets,
                      tmp_path / 'w', 'VOCdevkit', DIGITS)
    _train(ROOT / 'tools/train.py', cfg, tmp_path / 'w', '--cfg-options', 'custom_hooks.0.rounds=1',
           'custom_hooks.0.scope=model')
    ticket = load_ticket(tmp_path / 'w/tickets/ticket_round01.safetensors')
    extra = [k for k in ticket.masks if not k.startswith(('layer', 'conv1'))]
    assert any(k.startswith('neck.') for k in extra) and any(k.startswith('rpn_head.') for k in extra)
    assert 'roi_head.bbox_head.shared_fcs.0.weight' in extra  # linear layers too
    assert not [k for k in extra if k.split('.')[-2] in ('fc_cls', 'fc_reg', 'rpn_cls', 'rpn_reg')]
    assert ticket.meta['scope'] == 'model' and ticket.sparsity == pytest.approx(0.2, abs=1e-4)
    state = torch.load(last_checkpoint(tmp_path / 'w'), weights_only=False)['state_dict']
    for k, m in ticket.masks.items():
        w = state[k if k in extra else 'backbone.' + k]
        assert int(torch.count_nonzero(w[~m])) == 0, k  # pruned: zero after training


def test_detection_task_imp_rewinds_only_the_pruned_kernels(assets, tmp_path):
    """Detection/train_imp.py:161-181: between states the pruned conv kernels go back to the pre-trained
    weights (masked), while BatchNorm, the stem, the neck and the heads carry on where the state ended."""
    from mmengine.runner import Runner

    from ltcv_mm.hooks.runner_access import find_hook

    from probes import RoundProbe  # noqa: F401 (registers it)
    cfg = Config.fromfile(str(tiny_config(ROOT / 'configs/paper/task/imp_faster-rcnn_r50_fpn_1xb8-120e_voc0712-416.py',
                                          assets, tmp_path / 'w', 'VOCdevkit', DIGITS)))
    cfg.custom_hooks[0].rounds = 1
    cfg.custom_hooks.append(dict(type='RoundProbe'))
    runner = Runner.from_cfg(cfg)
    runner.train()
    probe = find_hook(runner, RoundProbe)
    initial, start = probe.initial, probe.starts[1]['state']  # before training; round 1 after its rewind
    mask = probe.starts[1]['ticket'].masks
    for name, m in mask.items():
        assert torch.equal(start['backbone.' + name], initial['backbone.' + name] * m), name
    carried = ['backbone.conv1.weight', 'backbone.bn1.weight', 'backbone.layer1.0.bn1.running_mean',
               'neck.lateral_convs.0.conv.weight', 'rpn_head.rpn_conv.weight', 'roi_head.bbox_head.fc_cls.weight']
    for key in carried:  # trained in state 0 and not rewound
        assert not torch.equal(start[key], initial[key]), key
