"""GMPHook in a stock mmpretrain Runner: the schedule's exact sparsity at every step, pruned weights at zero
through real training, tickets as IMP writes them, resume from any checkpoint, identical masks under DDP."""
import json
from pathlib import Path

import pytest
import torch

import ltcv_mm  # noqa: F401
from ltcv_mm.core import load_ticket
from ltcv_mm.core.imp_record import RunRecord
from ltcv_mm.hooks import IMPConfigError, MaskApplyHook
from ltcv_mm.hooks.runner_access import find_hook

from helpers import train, train_ddp
from probes import RoundProbe
from tiny_runs import tiny_classifier_cfg, write_colour_folder

GMP = dict(type='ltcv.GMPHook', final_sparsity=0.9, start=1, interval=1, steps=3, save_at=(0.5, 0.9))


@pytest.fixture(scope='module')
def data(tmp_path_factory):
    return write_colour_folder(tmp_path_factory.mktemp('imgs') / 'data')


def _cfg(work: Path, data: Path, **gmp) -> dict:
    cfg = tiny_classifier_cfg(work, data, max_epochs=5)  # 2 iterations an epoch; pruning before epochs 1-4
    cfg['custom_hooks'] = [{**GMP, **gmp}, dict(type='RoundProbe')]
    return cfg


def _expected_kept(numel: int, j: int, steps: int = 3, final: float = 0.9) -> int:
    return numel - round((final - final * (1 - j / steps) ** 3) * numel)  # the cubic, Python's round


def test_every_epoch_trains_at_the_schedules_exact_sparsity_and_pruned_weights_stay_zero(data, tmp_path):
    runner = train(_cfg(tmp_path / 'work', data))
    probe = find_hook(runner, RoundProbe)
    tickets = [s['ticket'] for s in probe.starts]
    assert tickets[0] is None  # dense before the schedule's start
    numel = tickets[1].numel
    assert [t.kept for t in tickets[1:]] == [_expected_kept(numel, j) for j in range(4)]
    for before, after in zip(tickets[1:], tickets[2:]):  # nothing revived
        assert all(not bool((after.masks[k] & ~before.masks[k]).any()) for k in after.masks)
    assert set(probe.nonzero_pruned_after_step) == {0}  # after every real SGD step
    final = find_hook(runner, MaskApplyHook).ticket
    ckpt = torch.load(tmp_path / 'work/epoch_5.pth', weights_only=True)
    for canon, m in final.masks.items():
        w = ckpt['state_dict']['backbone.' + canon]
        assert bool((w[~m] == 0).all()) and bool((w[m] != 0).any())


def test_tickets_at_the_requested_sparsities_as_imp_writes_them(data, tmp_path):
    train(_cfg(tmp_path / 'work', data, source='supervised'))
    read = RunRecord.of_work_dir(tmp_path / 'work').read()
    assert read.rounds == [1, 2] and read.settings['method'] == 'gmp'
    half, final = load_ticket(read.ticket(1)), load_ticket(read.ticket(2))
    assert half.kept == half.numel - round(0.5 * half.numel)
    assert final.kept == _expected_kept(final.numel, 3)
    assert all(not bool((final.masks[k] & ~half.masks[k]).any()) for k in final.masks)
    assert half.meta['method'] == 'gmp' and half.meta['source'] == 'supervised' and half.meta['at'] == 2
    assert half.meta['schedule'] == {'final': 0.9, 'start': 1, 'interval': 1, 'steps': 3, 'initial': 0.0,
                                     'unit': 'epochs'}
    last = read.records[-1]  # the final ticket trained at 90 % to the end: the run's last validation
    assert last['metric_name'] == 'accuracy/top1' and last['metric'] is not None
    assert read.records[0]['metric'] is None


def test_layers_kept_out_by_exclude_stay_dense_and_train(data, tmp_path):
    """``exclude`` leaves layer4 out of every ticket: it is neither pruned nor refused as a layer the ticket
    misses, and it trains."""
    runner = train(_cfg(tmp_path / 'work', data, exclude=['conv1.weight', 'layer4.*']))
    final = find_hook(runner, MaskApplyHook).ticket
    assert final.masks and not any(k.startswith('layer4.') for k in final.masks)
    assert final.kept == _expected_kept(final.numel, 3)
    start = torch.load(tmp_path / 'work/epoch_1.pth', weights_only=True)['state_dict']
    end = torch.load(tmp_path / 'work/epoch_5.pth', weights_only=True)['state_dict']
    layer4 = [k for k in end if k.startswith('backbone.layer4.') and k.endswith('.weight') and end[k].dim() == 4]
    assert layer4 and all(bool((end[k] != 0).all()) and not torch.equal(end[k], start[k]) for k in layer4)


def test_resume_from_every_checkpoint_ends_with_the_same_tickets(data, tmp_path):
    straight = tmp_path / 'straight'
    train(_cfg(straight, data))
    expected = {p.name: load_ticket(p) for p in (straight / 'tickets').glob('*.safetensors')}
    for k in range(1, 5):
        work = tmp_path / f'from_epoch_{k}'
        cfg = _cfg(work, data)
        cfg.update(load_from=str(straight / f'epoch_{k}.pth'), resume=True)
        runner = train(cfg)
        assert runner.epoch == 5
        assert find_hook(runner, MaskApplyHook).ticket == expected['ticket_round02.safetensors'], k
        resumed = {p.name: load_ticket(p) for p in (work / 'tickets').glob('*.safetensors')}
        for name, ticket in resumed.items():  # the tickets written after the resume point
            assert ticket == expected[name] and ticket.meta == expected[name].meta, (k, name)


def test_a_schedule_that_does_not_fit_the_run_is_refused_before_training(data, tmp_path):
    with pytest.raises(IMPConfigError, match=r'last pruning step is at 5 epochs .* trains 5 epochs'):
        train(_cfg(tmp_path / 'w', data, steps=4))
    with pytest.raises(IMPConfigError, match=r'GMPHook: GMP schedule: need 0 <= initial < final < 1'):
        train(_cfg(tmp_path / 'w2', data, final_sparsity=1.0))


def test_ddp_ranks_prune_alike_on_rank_0s_draw(data, tmp_path):
    cfg = _cfg(tmp_path / 'work', data)
    # rank 1's weights are perturbed before every epoch, before GMPHook prunes: only rank 0's masks,
    # broadcast, make the ranks agree
    cfg['custom_hooks'] = [GMP, dict(type='MaskDigestHook'), dict(type='RankNoiseHook', remask=True)]
    train_ddp(cfg, tmp_path / 'ddp.py')
    d0 = json.loads((tmp_path / 'work/mask_digests_rank0.json').read_text())
    assert d0 == json.loads((tmp_path / 'work/mask_digests_rank1.json').read_text())
    assert [e for e, _ in d0] == [0, 1, 2, 3, 4, 5] and d0[0][1] is None and len({d for _, d in d0[1:]}) == 4
