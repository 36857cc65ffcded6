"""KNNValLoop: a self-supervised model validated by k-NN on its backbone's features through the stock
Accuracy evaluator, equal to a brute-force vote; IMPHook records it per round."""
import copy
import json

import numpy as np
import pytest
import torch
from mmengine.config import Config
from mmengine.runner import Runner

import ltcv_mm  # noqa: F401
from demo.formats import write_image_folder
from ltcv_mm.core.imp_record import RunRecord

from helpers import train_ddp
from tiny_runs import tiny_selfsup_cfg


def _knn_cfg(work, data, algorithm='MoCo', k=3, max_epochs=1):
    cfg = tiny_selfsup_cfg(work, data, algorithm, max_epochs=max_epochs)
    plain = [dict(type='LoadImageFromFile'), dict(type='PackInputs')]
    loader = dict(batch_size=5, num_workers=0, collate_fn=dict(type='default_collate'),
                  dataset=dict(type='CustomDataset', data_root=str(data), pipeline=plain),
                  sampler=dict(type='DefaultSampler', shuffle=False))
    cfg.update(val_dataloader=loader, val_evaluator=dict(type='Accuracy', topk=(1,), prefix='knn'),
               val_cfg=dict(type='ltcv.KNNValLoop', bank_dataloader=copy.deepcopy(loader), k=k))
    cfg['train_cfg']['val_interval'] = 1
    return cfg


@pytest.fixture(scope='module')
def data(tmp_path_factory):
    """Noise images of three brightnesses, labelled regardless of it: a vote that depends on k and on
    every neighbour (a colour-coded set gives 100 % whatever the vote)."""
    rng = np.random.default_rng(0)
    images = [(rng.integers(0, 256, (32, 32, 3)) * (1 + i % 3) / 3).astype(np.uint8) for i in range(24)]
    labels = [(i // 3) % 3 for i in range(24)]
    return write_image_folder(tmp_path_factory.mktemp('knn') / 'data', images, labels, ('a', 'b', 'c'))


def test_the_vote_on_known_vectors():
    """Four bank points on the unit circle; the query nearest a lone label-1 point among label-0 ones."""
    from ltcv_mm.analysis.knn import knn_accuracy, knn_scores
    angle = torch.tensor([0.0, 0.3, 0.5, 0.7])
    bank = torch.stack([angle.cos(), angle.sin()], dim=1)
    labels = torch.tensor([1, 0, 0, 0])
    query = torch.tensor([[1.0, 0.0]])
    assert knn_scores(query, bank, labels, 2, k=1).argmax() == 1  # its nearest
    assert knn_scores(query, bank, labels, 2, k=3).argmax() == 0  # outvoted two to one
    tie = knn_scores(query, bank, labels, 2, k=2)
    assert tie.argmax() == 1 and tie[0, 0] == pytest.approx(0.5, abs=1e-3)  # one each: the nearer label wins
    assert knn_accuracy(bank, labels, query, torch.tensor([0]), k=3) == 100.0


def _embedded(model, root):
    from mmengine.dataset import default_collate
    from mmpretrain.datasets import CustomDataset
    ds = CustomDataset(data_root=str(root), pipeline=[dict(type='LoadImageFromFile'), dict(type='PackInputs')])
    batch = default_collate([ds[i] for i in range(len(ds))])
    model.eval()
    with torch.no_grad():
        f = model.backbone(model.data_preprocessor(batch, False)['inputs'])[-1].mean(dim=(2, 3))
    return f / f.norm(dim=1, keepdim=True), [int(s.gt_label) for s in batch['data_samples']]


def _brute_force(model, data, k, bank_root=None) -> float:
    """Every image of ``data`` against every bank image (``data`` itself by default, each image then
    among its own neighbours), the k most similar voting."""
    f, labels = _embedded(model, data)
    bank, bank_labels = _embedded(model, bank_root or data)
    right = 0
    for i in range(len(f)):
        order = sorted(range(len(bank)), key=lambda j: -float(f[i] @ bank[j]))[:k]
        counts = {}
        for rank, j in enumerate(order):
            counts.setdefault(bank_labels[j], [0, rank])[0] += 1
        best = max(counts.items(), key=lambda kv: (kv[1][0], -kv[1][1]))[0]  # ties: the nearest label
        right += best == labels[i]
    return 100.0 * right / len(f)


@pytest.mark.parametrize('algorithm', ['MoCo', 'SimCLR'])
def test_the_metric_is_the_brute_force_knn_vote_through_the_stock_evaluator(data, tmp_path, algorithm):
    runner = Runner.from_cfg(Config(_knn_cfg(tmp_path / 'w', data, algorithm)))
    runner.train()
    assert runner.model.training  # validation leaves the model as it found it
    metrics = runner.val()
    assert runner.model.training and set(metrics) == {'knn/top1'}
    assert metrics['knn/top1'] == pytest.approx(_brute_force(runner.model, data, 3), abs=1e-4)
    assert 0 < metrics['knn/top1'] < 100  # a vote that the neighbours decide


def test_imp_on_a_self_supervised_task_records_each_rounds_knn(data, tmp_path):
    cfg = _knn_cfg(tmp_path / 'imp', data, max_epochs=1)
    cfg['custom_hooks'] = [dict(type='ltcv.IMPHook', rounds=2, rate=0.5, metric='knn/top1')]
    Runner.from_cfg(Config(cfg)).train()
    summary = json.loads(RunRecord.of_work_dir(tmp_path / 'imp').summary_path.read_text())
    records = summary['records']
    assert [r['round'] for r in records] == [0, 1, 2]
    assert all(r['metric_name'] == 'knn/top1' and 0 <= r['metric'] <= 100 for r in records)


def test_a_bad_k_and_an_unlabelled_bank_are_refused(data, tmp_path):
    with pytest.raises(ValueError, match='KNNValLoop: k must be a whole number >= 1, got 0'):
        Runner.from_cfg(Config(_knn_cfg(tmp_path / 'k', data, k=0))).val()
    cfg = _knn_cfg(tmp_path / 'u', data)
    cfg['val_cfg']['bank_dataloader'] = dict(cfg['val_dataloader'], dataset=dict(
        cfg['val_dataloader']['dataset'], with_label=False))
    with pytest.raises(ValueError, match='a bank image has no gt_label'):
        Runner.from_cfg(Config(cfg)).val()


def test_under_ddp_the_metric_is_the_single_process_vote_over_the_whole_bank(data, tmp_path):
    """Two gloo ranks, each embedding half of the bank (25 images: the sampler repeats the first to even
    the shares; the bank must keep it once) and of the 24 validation images: the same k-NN accuracy as
    one process computes from the saved weights. BatchNorm keeps its initial running statistics
    (momentum 0), so the ranks' eval-mode features are the same function of the same weights."""

    bank = tmp_path / 'bank'
    for cls in ('a', 'b', 'c'):
        (bank / cls).mkdir(parents=True)
        for png in sorted((data / cls).glob('*.png')):
            (bank / cls / png.name).write_bytes(png.read_bytes())
    # the 25th image, a 'b': 'a' 9, 'b' 10, 'c' 6, so with every bank image voting 'b' wins every vote, unless
    # the bank holds the repeated first image (an 'a') twice, which ties 'a' with it
    (bank / 'b' / 'extra.png').write_bytes(sorted((data / 'a').glob('*.png'))[1].read_bytes())
    cfg = _knn_cfg(tmp_path / 'work', data, k=26)  # MoCo: its neck has no SyncBN, which gloo lacks
    cfg['val_cfg']['bank_dataloader']['dataset']['data_root'] = str(bank)
    cfg['model']['backbone']['norm_cfg'] = dict(type='BN', momentum=0.0)
    train_ddp(cfg, tmp_path / 'ddp.py')
    logged = [json.loads(line) for p in (tmp_path / 'work').glob('*/vis_data/scalars.json')
              for line in p.read_text().splitlines()]
    value = [r['knn/top1'] for r in logged if 'knn/top1' in r]
    assert len(value) == 1
    single = Runner.from_cfg(Config(_knn_cfg(tmp_path / 'single', data, k=26)))
    single.model.load_state_dict(torch.load(tmp_path / 'work/epoch_1.pth', weights_only=False)['state_dict'])
    assert value[0] == pytest.approx(_brute_force(single.model, data, 26, bank_root=bank), abs=1e-3)
    assert value[0] == pytest.approx(100 * 9 / 24)  # every vote 'b'; 9 of the 24 are
