"""Cross-dataset tickets (Mehta 2019): SmallNORB from its official file format, an IMP run's rewind
point exported as weights, and a ticket with those weights trained on SmallNORB by the paper config."""
import numpy as np
import pytest
import torch
from mmengine.config import Config
from mmengine.runner import Runner

import ltcv_mm  # noqa: F401
from ltcv_mm.core import load_ticket
from ltcv_mm.datasets import SmallNORB
from ltcv_mm.datasets.smallnorb import read_norb_matrix

import dataset_files
from helpers import ROOT, assert_ticket_zeros, last_checkpoint, run_tool
from tiny_runs import tiny_classifier_cfg, write_colour_folder


def _norb(root, n_train=30, n_test=10, size=96):
    rng = np.random.default_rng(0)
    out = {}
    for split, n in (('training', n_train), ('testing', n_test)):
        labels = rng.integers(0, 5, n)
        images = rng.integers(0, 60, (n, 2, size, size), dtype=np.uint8)
        for i, c in enumerate(labels):  # a bright band per class, wider in the right camera
            images[i, 0, 10 * c:10 * c + 8] = 250
            images[i, 1, 10 * c:10 * c + 12] = 250
        dataset_files.write_smallnorb(root, split, images, labels)
        out[split] = images, labels
    return out


def test_smallnorb_reads_the_official_format(tmp_path):
    written = _norb(tmp_path)
    train = SmallNORB(str(tmp_path), split='train')
    images, labels = written['training']
    assert len(train) == 30 and train.metainfo['classes'][0] == 'animal'
    item = train.get_data_info(3)
    assert np.array_equal(item['img'], images[3, 0]) and item['gt_label'] == labels[3]
    right = SmallNORB(str(tmp_path), split='test', camera=1)
    assert np.array_equal(right.get_data_info(0)['img'], written['testing'][0][0, 1])
    cat = read_norb_matrix(str(tmp_path / 'smallnorb-5x46789x9x18x6x2x96x96-training-cat.mat'))
    assert cat.dtype == np.int32 and cat.shape == (30,)


def test_smallnorb_errors_name_the_file(tmp_path):
    with pytest.raises(FileNotFoundError, match='training-dat.mat not found'):
        SmallNORB(str(tmp_path), split='train')
    _norb(tmp_path)
    bad = tmp_path / 'smallnorb-5x46789x9x18x6x2x96x96-training-dat.mat'
    bad.write_bytes(b'\x00' * 64)
    with pytest.raises(ValueError, match=r'training-dat.mat: not a NORB matrix file \(magic 0x0'):
        SmallNORB(str(tmp_path), split='train')
    with pytest.raises(ValueError, match="split must be one of"):
        SmallNORB(str(tmp_path), split='val')


def test_cifar_ticket_with_its_rewind_weights_trains_on_smallnorb(tmp_path):
    # the source: an IMP run (3-channel images, rewind_lt after 1 epoch), whose checkpoint holds the rewind point
    data = write_colour_folder(tmp_path / 'src', per_class=4)
    cfg = tiny_classifier_cfg(tmp_path / 'src_work', data, max_epochs=2)
    cfg['param_scheduler'] = [dict(type='ConstantLR', factor=1.0, by_epoch=True)]
    cfg['custom_hooks'] = [dict(type='ltcv.IMPHook', rounds=1, rewind='rewind_lt', rewind_at=1)]
    runner = Runner.from_cfg(Config(cfg))
    runner.train()
    ckpt = tmp_path / 'src_work/epoch_4.pth'
    ticket = tmp_path / 'src_work/tickets/ticket_round01.safetensors'
    run_tool(str(ROOT / 'tools/ticket.py'), 'rewind-weights', str(ckpt), '-o', str(tmp_path / 'rewind.pth'))
    snapshot = torch.load(ckpt, weights_only=False)['ltcv_imp']['rewind']['snapshot']
    weights = torch.load(tmp_path / 'rewind.pth', weights_only=True)['state_dict']
    assert set(weights) == {k[len('backbone.'):] for k in snapshot if k.startswith('backbone.')}
    assert torch.equal(weights['layer2.0.conv2.weight'], snapshot['backbone.layer2.0.conv2.weight'])
    # the target: SmallNORB through the paper config and tools/train.py, the ticket on those weights
    _norb(tmp_path / 'norb', n_train=24, n_test=8)
    work = tmp_path / 'dst_work'
    run_tool(str(ROOT / 'tools/train.py'), str(ROOT / 'configs/paper/transfer/resnet50-cifar10-ticket_smallnorb.py'),
             '--work-dir', str(work), '--cfg-options',
             f'model.backbone.ticket={ticket}', f'model.backbone.init_cfg.checkpoint={tmp_path / "rewind.pth"}',
             f'train_dataloader.dataset.dataset.data_root={tmp_path / "norb"}',
             f'val_dataloader.dataset.dataset.data_root={tmp_path / "norb"}',
             f'test_dataloader.dataset.data_root={tmp_path / "norb"}',
             'train_dataloader.dataset.stop=16', 'val_dataloader.dataset.start=16', 'val_dataloader.dataset.stop=24',
             'train_dataloader.batch_size=8', 'val_dataloader.batch_size=8', 'test_dataloader.batch_size=8',
             'train_dataloader.num_workers=0', 'val_dataloader.num_workers=0', 'test_dataloader.num_workers=0',
             'train_dataloader.persistent_workers=False', 'val_dataloader.persistent_workers=False',
             'test_dataloader.persistent_workers=False', 'model.backbone.base_channels=8',
             'model.backbone.stem_channels=8', 'model.head.in_channels=256', 'train_cfg.max_epochs=1',
             'auto_scale_lr.enable=False', 'default_hooks.total_batch.keep=False')
    assert_ticket_zeros(last_checkpoint(work), ticket)
    assert list(work.glob('best_accuracy_top1_epoch_1.pth'))
    assert load_ticket(ticket).sparsity == pytest.approx(0.2, abs=1e-3)
