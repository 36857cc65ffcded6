"""IMPHook and MaskApplyHook in real mmengine runs on tiny generated data."""
import json
import subprocess
import sys

import pytest
import torch
from mmengine.config import Config
from mmengine.runner import Runner

import ltcv_mm  # noqa: F401
from ltcv_mm.core import TicketBindingError, load_ticket, prune, save_ticket, select_prunable
from ltcv_mm.core.strategies import count_to_prune
from ltcv_mm.hooks import IMPConfigError, MaskApplyHook
from ltcv_mm.hooks.runner_access import find_hook

from helpers import ROOT, checkout_env, train_ddp
from probes import RoundProbe
from tiny_runs import tiny_classifier_cfg, tiny_selfsup_cfg, write_colour_folder


@pytest.fixture(scope='module')
def data(tmp_path_factory):
    return write_colour_folder(tmp_path_factory.mktemp('imgs') / 'data')


def expected_kept(total, rounds, rate=0.2):
    kept = total
    for _ in range(rounds):
        kept -= count_to_prune(rate, kept)
    return kept


def _run(cfg):
    runner = Runner.from_cfg(Config(cfg))
    runner.train()
    return runner


def _prunable_total(runner):
    return sum(w.numel() for w in select_prunable(dict(runner.model.named_parameters())).values())


def test_supervised_epoch_based_imp(data, tmp_path):
    # The configured run (2 epochs, LR step after 1) is one round; IMP repeats it.
    cfg = tiny_classifier_cfg(tmp_path / 'work', data, max_epochs=2)
    cfg['param_scheduler'] = [dict(type='MultiStepLR', by_epoch=True, milestones=[1], gamma=0.1)]
    cfg['optim_wrapper'] = dict(optimizer=dict(type='SGD', lr=0.01, momentum=0.9, weight_decay=1e-3))
    cfg['custom_hooks'] = [dict(type='ltcv.IMPHook', rounds=2, source='supervised'),
                                       dict(type='RoundProbe')]
    runner = _run(cfg)
    probe = find_hook(runner, RoundProbe)
    total = _prunable_total(runner)
    assert runner.epoch == 6  # the hook owns the run length: (rounds + 1) * interval

    # Tickets: exact densities, written per round, metric filled in.
    summary = json.loads((tmp_path / 'work/tickets/imp_summary.json').read_text())
    assert [r['round'] for r in summary['records']] == [0, 1, 2]
    for k in (1, 2):
        ticket = load_ticket(tmp_path / f'work/tickets/ticket_round{k:02d}.safetensors')
        assert ticket.kept == expected_kept(total, k)
        assert abs(ticket.density - 0.8 ** k) < 1e-4
        assert ticket.meta['round'] == k and ticket.meta['source'] == 'supervised'
        assert ticket.meta['metric'] == summary['records'][k]['metric']
        assert 0.0 <= summary['records'][k]['metric'] <= 100.0
    for record in summary['records'][1:]:  # each record's sparsity is its own round's ticket's
        assert record['sparsity'] == load_ticket(record['ticket']).sparsity
    csv_rows = (tmp_path / 'work/tickets/imp_summary.csv').read_text().splitlines()
    assert csv_rows[0].startswith('round,sparsity') and len(csv_rows) == 4

    # Pruned weights stayed exactly zero after every real SGD step (momentum + weight decay),
    # and so did their momentum: their gradients are masked before each step.
    assert len(probe.nonzero_pruned_after_step) == 12 and set(probe.nonzero_pruned_after_step) == {0}
    model, masks = find_hook(runner, MaskApplyHook).attached(runner)[0]
    opt = runner.optim_wrapper.optimizer
    for _, p, m in masks.pairs(model):
        buf = opt.state[p]['momentum_buffer']
        assert int((buf[m == 0] != 0).sum()) == 0 and int((buf[m == 1] != 0).sum()) > 0

    # Each round starts from the rewind point, bit for bit, with a fresh optimizer and schedule.
    starts = {s['progress']: s for s in probe.starts}
    assert [starts[e]['lr'] for e in range(6)] == pytest.approx([0.01, 0.001] * 3)
    for epoch in (2, 4):
        start = starts[epoch]
        assert start['optimizer_state_size'] == 0
        ticket = start['ticket']
        assert ticket.kept == expected_kept(total, epoch // 2)
        for name, value in probe.initial.items():
            canon = name[len('backbone.'):] if name.startswith('backbone.') else None
            if canon in ticket.masks:
                m = ticket.masks[canon]
                assert torch.equal(start['state'][name][m], value[m]), name
                assert int((start['state'][name][~m] != 0).sum()) == 0, name
            else:
                assert torch.equal(start['state'][name], value), name  # BN statistics, head, ...
    assert starts[1]['optimizer_state_size'] > 0  # momentum did build up inside a round

    # The saved checkpoint holds the final ticket, and its pruned weights are zero.
    ckpt = torch.load(tmp_path / 'work/epoch_6.pth', weights_only=True)
    final = load_ticket(tmp_path / 'work/tickets/ticket_round02.safetensors')
    for canon, m in final.masks.items():
        assert int((ckpt['state_dict']['backbone.' + canon][~m] != 0).sum()) == 0
    assert ckpt['ltcv_imp']['round'] == 2


def test_iteration_based_imp_validates_at_round_ends(data, tmp_path):
    cfg = tiny_classifier_cfg(tmp_path / 'work', data)
    cfg['train_cfg'] = dict(by_epoch=False, max_iters=3, val_interval=5)
    cfg['param_scheduler'] = [dict(type='MultiStepLR', by_epoch=False, milestones=[2], gamma=0.1)]
    cfg['default_hooks'] = dict(checkpoint=dict(type='CheckpointHook', interval=3, by_epoch=False),
                                logger=dict(type='LoggerHook', interval=1))
    # target_sparsity 0.3 needs two rounds of 20 % (0.20, then 0.36)
    cfg['custom_hooks'] = [dict(type='ltcv.IMPHook', target_sparsity=0.3),
                                       dict(type='RoundProbe', by_epoch=False)]
    runner = _run(cfg)
    probe = find_hook(runner, RoundProbe)
    assert runner.iter == 9
    records = json.loads((tmp_path / 'work/tickets/imp_summary.json').read_text())['records']
    assert [r['metric_name'] for r in records] == ['accuracy/top1'] * 3  # validated by the hook itself
    total = _prunable_total(runner)
    assert load_ticket(tmp_path / 'work/tickets/ticket_round02.safetensors').kept == expected_kept(total, 2)
    starts = {s['progress']: s for s in probe.starts}
    assert [starts[i]['lr'] for i in range(9)] == pytest.approx([0.01, 0.01, 0.001] * 3)
    assert starts[3]['optimizer_state_size'] == 0 and starts[6]['optimizer_state_size'] == 0
    assert set(probe.nonzero_pruned_after_step) == {0}


@pytest.mark.parametrize('algorithm', ['SimCLR', 'MoCo'])
def test_self_supervised_imp(data, tmp_path, algorithm):
    cfg = tiny_selfsup_cfg(tmp_path / 'work', data, algorithm)
    cfg['custom_hooks'] = [dict(type='ltcv.IMPHook', interval=1, rounds=2, source=algorithm.lower()),
                                       dict(type='RoundProbe')]
    runner = _run(cfg)
    probe = find_hook(runner, RoundProbe)
    masker = find_hook(runner, MaskApplyHook)
    total = _prunable_total(runner)
    assert masker.ticket.kept == expected_kept(total, 2)
    expected_prefixes = ['backbone.', 'encoder_k.module.0.'] if algorithm == 'MoCo' else ['backbone.']
    assert masker.attached(runner)[0][1].prefixes == expected_prefixes
    assert set(probe.nonzero_pruned_after_step) == {0}
    ckpt = torch.load(tmp_path / 'work/epoch_3.pth', weights_only=True)
    for prefix in expected_prefixes:
        for canon, m in masker.ticket.masks.items():
            w = ckpt['state_dict'][prefix + canon]
            assert int((w[~m] != 0).sum()) == 0, prefix + canon
            assert int((w[m] != 0).sum()) > 0.9 * int(m.sum())  # the kept ones did train
    records = json.loads((tmp_path / 'work/tickets/imp_summary.json').read_text())['records']
    assert len(records) == 3 and all(r['train_loss'] > 0 for r in records)


def _bad(cfg_update, hooks, data, tmp_path):
    cfg = tiny_classifier_cfg(tmp_path / 'work', data, max_epochs=4)
    cfg.update(cfg_update)
    cfg['custom_hooks'] = hooks
    return Runner.from_cfg(Config(cfg))


@pytest.mark.parametrize('hooks, message', [
    ([dict(type='ltcv.IMPHook', interval=1, include=['layer9.*'])], 'no prunable parameter matched'),
    ([dict(type='ltcv.IMPHook', interval=5)], r'interval \(5 epochs\) is longer than the run \(4 epochs\)'),
    ([dict(type='ltcv.IMPHook', interval=2, rewind='rewind_lt', rewind_at=3)],
     r'rewind point \(rewind_at=3\) is later than the first pruning \(after 2\)'),
    ([dict(type='ltcv.MaskApplyHook'), dict(type='ltcv.IMPHook', interval=2)],
     r"IMPHook enforces the ticket of its run itself: remove MaskApplyHook from custom_hooks"),
])
def test_bad_configuration_fails_before_training(data, tmp_path, hooks, message):
    runner = _bad({}, hooks, data, tmp_path)
    with pytest.raises(IMPConfigError, match=message):
        runner.train()
    assert runner.iter == 0 and not list((tmp_path / 'work').glob('*.pth'))


def test_old_three_hook_form_names_the_line_to_write(data, tmp_path):
    """The three hooks of earlier versions: the config fails to build and the message is the fix."""
    hooks = [dict(type='ltcv.MaskApplyHook'), dict(type='ltcv.RewindHook', mode='rewind_lt', rewind_at=3),
             dict(type='ltcv.IMPHook', interval=4)]
    with pytest.raises(IMPConfigError) as err:
        _bad({}, hooks, data, tmp_path)
    assert ("by the one hook dict(type='ltcv.IMPHook', ..., rewind='rewind_lt', rewind_at=3)"
            in str(err.value))


def test_ticket_that_does_not_fit_fails_before_training(data, tmp_path):
    import torchvision
    r18 = select_prunable(dict(torchvision.models.resnet18().named_parameters()))
    path = save_ticket(prune(r18), tmp_path / 'r18.safetensors')
    runner = _bad({}, [dict(type='ltcv.MaskApplyHook', ticket=str(path))], data, tmp_path)
    with pytest.raises(TicketBindingError, match=r'r18.safetensors.*another architecture \(resnet18\)'):
        runner.train()
    assert runner.iter == 0


def test_fixed_ticket_fine_tuning_with_ema(data, tmp_path):
    """MaskApplyHook alone: fine-tune a fixed ticket, also inside mmengine's EMA model."""
    runner0 = Runner.from_cfg(Config(tiny_classifier_cfg(tmp_path / 'w0', data)))
    weights = select_prunable(dict(runner0.model.named_parameters()))
    path = save_ticket(prune(weights, rounds=3), tmp_path / 't.safetensors')
    cfg = tiny_classifier_cfg(tmp_path / 'work', data, max_epochs=2)
    cfg['custom_hooks'] = [dict(type='ltcv.MaskApplyHook', ticket=str(path)),
                           dict(type='EMAHook', momentum=0.5), dict(type='RoundProbe')]
    runner = _run(cfg)
    masker = find_hook(runner, MaskApplyHook)
    assert len(masker.attached(runner)) == 2  # the model and the EMA copy
    assert set(find_hook(runner, RoundProbe).nonzero_pruned_after_step) == {0}
    ticket = load_ticket(path)
    ckpt = torch.load(tmp_path / 'work/epoch_2.pth', weights_only=True)
    for key, prefix in (('state_dict', 'backbone.'), ('ema_state_dict', 'module.backbone.')):
        for canon, m in ticket.masks.items():
            assert int((ckpt[key][prefix + canon][~m] != 0).sum()) == 0, key + canon


def _write_cfg(cfg, path):
    Config(cfg).dump(str(path))
    return path


def _train_in_subprocess(cfg_path, *extra, check=True):
    env = checkout_env()
    proc = subprocess.run([sys.executable, str(ROOT / 'tests/run_config.py'), str(cfg_path), *extra],
                          capture_output=True, text=True, env=env, timeout=600)
    if check and proc.returncode:
        raise AssertionError(proc.stderr[-4000:])
    return proc


def test_killed_run_resumes_to_the_same_tickets(data, tmp_path):
    def cfg_for(work, kill_at=None):
        cfg = tiny_classifier_cfg(work, data, max_epochs=2)
        cfg['param_scheduler'] = [dict(type='MultiStepLR', by_epoch=True, milestones=[1], gamma=0.1)]
        cfg['custom_hooks'] = [dict(type='ltcv.IMPHook', rounds=2)]
        if kill_at:
            cfg['custom_hooks'].append(dict(type='KillAtIterHook', at_iter=kill_at))
        return cfg

    _train_in_subprocess(_write_cfg(cfg_for(tmp_path / 'straight'), tmp_path / 'straight.py'))
    # 2 iterations per epoch: iteration 7 is mid-epoch 4, in the middle of round 1.
    proc = _train_in_subprocess(_write_cfg(cfg_for(tmp_path / 'killed', kill_at=7), tmp_path / 'killed.py'),
                                check=False)
    assert proc.returncode == -9  # SIGKILL
    assert not (tmp_path / 'killed/tickets/ticket_round02.safetensors').exists()
    _train_in_subprocess(_write_cfg(cfg_for(tmp_path / 'killed'), tmp_path / 'resumed.py'), '--resume')
    for k in (1, 2):
        a = load_ticket(tmp_path / f'straight/tickets/ticket_round{k:02d}.safetensors')
        b = load_ticket(tmp_path / f'killed/tickets/ticket_round{k:02d}.safetensors')
        assert a == b and a.meta['metric'] == b.meta['metric']
    sa = json.loads((tmp_path / 'straight/tickets/imp_summary.json').read_text())['records']
    sb = json.loads((tmp_path / 'killed/tickets/imp_summary.json').read_text())['records']
    assert [r['metric'] for r in sa] == [r['metric'] for r in sb]
    assert [r['sparsity'] for r in sa] == [r['sparsity'] for r in sb]


def test_ddp_ranks_hold_identical_masks(data, tmp_path):
    cfg = tiny_classifier_cfg(tmp_path / 'work', data, max_epochs=1)
    cfg['custom_hooks'] = [dict(type='ltcv.IMPHook', interval=1, rounds=2),
                                       dict(type='MaskDigestHook'), dict(type='RankNoiseHook')]
    train_ddp(cfg, tmp_path / 'ddp.py')
    d0 = json.loads((tmp_path / 'work/mask_digests_rank0.json').read_text())
    d1 = json.loads((tmp_path / 'work/mask_digests_rank1.json').read_text())
    assert d0 == d1
    digests = [d for _, d in d0]
    assert digests[0] is None and len(set(digests[1:])) == 2  # dense, then two distinct tickets
    assert (tmp_path / 'work/tickets/imp_summary.json').exists()


def test_ddp_ranks_end_early_bird_rounds_together_on_rank_0s_judgement(data, tmp_path):
    # epoch-based, one iteration per epoch and rank; the weights freeze from epoch 3 of each round, but
    # rank 1's are perturbed before every check: judged on its own, rank 1 would never end a round
    cfg = tiny_classifier_cfg(tmp_path / 'work', data, max_epochs=8)
    cfg['param_scheduler'] = [dict(type='MultiStepLR', by_epoch=True, milestones=[3], gamma=0.0)]
    cfg['custom_hooks'] = [dict(type='ltcv.IMPHook', rounds=2, early_bird=dict(interval=1, window=3, eps=1e-9)),
                           dict(type='MaskDigestHook'), dict(type='RankNoiseHook', remask=True)]
    train_ddp(cfg, tmp_path / 'ddp.py')
    d0 = json.loads((tmp_path / 'work/mask_digests_rank0.json').read_text())
    assert d0 == json.loads((tmp_path / 'work/mask_digests_rank1.json').read_text())
    records = json.loads((tmp_path / 'work/tickets/imp_summary.json').read_text())['records']
    assert [r['early_bird']['length'] for r in records] == [5, 5, 8]  # freeze at 3, window of 3
    assert d0[-1][0] == 18 and len({d for _, d in d0}) == 3  # dense, then two tickets


def test_unknown_optimizer_gets_weights_masked_after_each_step(data, tmp_path):
    """ASGD is not known to keep zero weights at zero: the hook masks after every step too."""
    runner0 = Runner.from_cfg(Config(tiny_classifier_cfg(tmp_path / 'w0', data)))
    path = save_ticket(prune(select_prunable(dict(runner0.model.named_parameters())), rounds=2),
                       tmp_path / 't.safetensors')
    cfg = tiny_classifier_cfg(tmp_path / 'work', data, max_epochs=1)
    cfg['optim_wrapper'] = dict(optimizer=dict(type='ASGD', lr=0.01, weight_decay=1e-3))
    cfg['custom_hooks'] = [dict(type='ltcv.MaskApplyHook', ticket=str(path)), dict(type='RoundProbe')]
    runner = _run(cfg)
    assert find_hook(runner, MaskApplyHook).mask_after_step is True
    assert set(find_hook(runner, RoundProbe).nonzero_pruned_after_step) == {0}
