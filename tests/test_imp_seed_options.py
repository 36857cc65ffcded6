"""IMPHook's options for the seed code's recipes, in real runs: pruning before any training,
optimizer state kept across rounds, partial rewinds, rewinding to round 0's best validation,
and the test metric at each round's best validation."""
import json

import pytest
import torch
import torch.nn.utils.prune as torch_prune
from mmengine.config import Config
from mmengine.runner import Runner
from torch import nn

import ltcv_mm  # noqa: F401
from ltcv_mm.core import load_ticket, select_prunable
from ltcv_mm.hooks import IMPConfigError
from ltcv_mm.hooks.runner_access import find_hook

from probes import RoundProbe, StateProbe
from tiny_runs import tiny_classifier_cfg, write_colour_folder


@pytest.fixture(scope='module')
def data(tmp_path_factory):
    return write_colour_folder(tmp_path_factory.mktemp('imgs') / 'data', per_class=6)


def _run(cfg):
    runner = Runner.from_cfg(Config(cfg))
    runner.train()
    return runner


def _cfg(tmp_path, data, max_epochs, **imp):
    cfg = tiny_classifier_cfg(tmp_path / 'work', data, max_epochs=max_epochs)
    cfg['param_scheduler'] = [dict(type='ConstantLR', factor=1.0, by_epoch=True)]
    cfg['custom_hooks'] = [dict(type='ltcv.IMPHook', **imp), dict(type='RoundProbe'), dict(type='StateProbe')]
    return cfg


def _torch_prune_oracle(state: dict, rate: float) -> dict:
    """torch.nn.utils.prune.global_unstructured (L1) over the prunable convs of ``state``: kept = 1."""
    weights = select_prunable({k: v for k, v in state.items() if k.endswith('.weight')})
    holders = {k: nn.Conv2d(1, 1, 1, bias=False) for k in weights}
    for k, m in holders.items():
        m.weight = nn.Parameter(weights[k].clone())
    torch_prune.global_unstructured([(m, 'weight') for m in holders.values()],
                                    pruning_method=torch_prune.L1Unstructured, amount=rate)
    return {k: m.weight_mask.bool() for k, m in holders.items()}


def _summary(tmp_path):
    return json.loads((tmp_path / 'work/tickets/imp_summary.json').read_text())


def test_prune_first_prunes_the_starting_weights_before_any_training(data, tmp_path):
    runner = _run(_cfg(tmp_path, data, max_epochs=1, rounds=2, prune_first=True))
    start, probe = find_hook(runner, StateProbe), find_hook(runner, RoundProbe)
    assert runner.epoch == 2  # rounds * interval: no dense round
    records = _summary(tmp_path)['records']
    assert [r['round'] for r in records] == [0, 1, 2] and records[0]['sparsity'] == 0.0
    # round 0 judged the starting weights, untrained: its metric is the validation before any step
    assert start.validated[0][0] == 0 and records[0]['metric'] == start.validated[0][1]['accuracy/top1']
    first = load_ticket(tmp_path / 'work/tickets/ticket_round01.safetensors')
    oracle = _torch_prune_oracle({k[len('backbone.'):]: v for k, v in start.before.items()
                                  if k.startswith('backbone.')}, 0.2)
    assert set(first.masks) == set(oracle)
    assert all(torch.equal(first.masks[k], oracle[k]) for k in oracle)
    # the first epoch trains the pruned starting weights
    trained_from = probe.starts[0]['state']
    for k, m in first.masks.items():
        assert torch.equal(trained_from['backbone.' + k], start.before['backbone.' + k] * m)


def test_kept_optimizer_state_survives_the_pruning(data, tmp_path):
    runner = _run(_cfg(tmp_path, data, max_epochs=1, rounds=1, restart_optimizer=False))
    probe = find_hook(runner, RoundProbe)
    assert probe.starts[1]['optimizer_state_size'] > 0  # momentum buffers carried into round 1
    opt = runner.optim_wrapper.optimizer
    params = dict(runner.model.named_parameters())
    ticket = probe.starts[1]['ticket']
    for k, m in ticket.masks.items():
        buf = opt.state[params['backbone.' + k]]['momentum_buffer']
        assert int((buf[~m] != 0).sum()) == 0, k  # the pruned entries were zeroed and stay so
    assert _summary(tmp_path)['restart_optimizer'] is False


def test_rewind_keys_leave_the_head_trained(data, tmp_path):
    runner = _run(_cfg(tmp_path, data, max_epochs=1, rounds=1, rewind_keys=['backbone.*']))
    probe, start = find_hook(runner, RoundProbe), find_hook(runner, StateProbe)
    round1 = probe.starts[1]['state']
    end_of_round0 = start.validated[0][2]  # validated after epoch 1, before the pruning
    assert torch.equal(round1['head.fc.weight'], end_of_round0['head.fc.weight'])
    assert not torch.equal(round1['head.fc.weight'], start.before['head.fc.weight'])
    conv = 'backbone.layer1.0.conv2.weight'
    mask = probe.starts[1]['ticket'].masks['layer1.0.conv2.weight']
    assert torch.equal(round1[conv], start.before[conv] * mask)


def test_round_best_rewinds_to_the_best_validated_weights_and_tests_there(data, tmp_path):
    cfg = _cfg(tmp_path, data, max_epochs=4, rounds=1, rewind_at='round_best', test_at_best=True)
    cfg['optim_wrapper'] = dict(optimizer=dict(type='SGD', lr=0.05, momentum=0.9))
    # the test set is the validation set here, so the test metric at the best point must equal it
    cfg.update(test_dataloader=cfg['val_dataloader'], test_evaluator=cfg['val_evaluator'], test_cfg=dict())
    runner = _run(cfg)
    probe, seen = find_hook(runner, RoundProbe), find_hook(runner, StateProbe)
    round0 = [v for v in seen.validated if v[0] <= 4]
    values = [m['accuracy/top1'] for _, m, _ in round0]
    best = values.index(max(values))  # the first of equal maxima
    assert best < len(values) - 1  # the best is not the round's end, which the test must tell apart
    record = _summary(tmp_path)['records'][0]
    assert record['best']['at'] == round0[best][0] and record['best']['metric'] == values[best]
    assert record['best']['test'] == {'accuracy/top1': values[best]}
    mask = probe.starts[4]['ticket'].masks
    for k, v in round0[best][2].items():
        canon = k[len('backbone.'):]
        expect = v * mask[canon] if canon in mask else v
        assert torch.equal(probe.starts[4]['state'][k], expect), k
    csv = (tmp_path / 'work/tickets/imp_summary.csv').read_text().splitlines()
    assert csv[0].split(',')[6:9] == ['best_metric', 'best_at', 'test_at_best']


def test_late_resetting_counts_iterations_inside_an_epoch_based_run(data, tmp_path):
    # 12 images at batch 4: 3 iterations an epoch; the rewind point is after iteration 2 of epoch 1
    cfg = _cfg(tmp_path, data, max_epochs=1, rounds=1, rewind='rewind_lt', rewind_at=2, rewind_unit='iters')
    cfg['custom_hooks'][2] = dict(type='StateProbe', every_iter=True)
    runner = _run(cfg)
    probe, seen = find_hook(runner, RoundProbe), find_hook(runner, StateProbe)
    mask = probe.starts[1]['ticket'].masks
    for k, v in seen.iters[2].items():
        canon = k[len('backbone.'):]
        expect = v * mask[canon] if canon in mask else v
        assert torch.equal(probe.starts[1]['state'][k], expect), k
    assert not torch.equal(seen.iters[2]['head.fc.weight'], seen.iters[3]['head.fc.weight'])  # iteration 3 moved on
    assert _summary(tmp_path)['rewind_unit'] == 'iters'


@pytest.mark.parametrize('imp, update, message', [
    (dict(rounds=1, prune_first=True, rewind_at='round_best'), {},
     "prune_first prunes before any training, so the rewind point can only be the start"),
    (dict(rounds=1, rewind_at='round_best'), dict(val_dataloader=None, val_evaluator=None, val_cfg=None),
     "rewind_at='round_best' needs a validation loop"),
    (dict(rounds=1, test_at_best=True), {}, 'test_at_best needs a test loop'),
    (dict(rounds=1, rewind='rewind_lt', rewind_at=4, rewind_unit='iters'), {},
     r'rewind point \(rewind_at=4\) is later than the first pruning \(after 3\); .* \(iterations\)'),
])
def test_seed_options_that_cannot_work_fail_before_training(data, tmp_path, imp, update, message):
    cfg = _cfg(tmp_path, data, max_epochs=1, **imp)
    cfg.update(update)
    if update:
        cfg['train_cfg'] = dict(by_epoch=True, max_epochs=1)
    with pytest.raises(IMPConfigError, match=message):
        _run(cfg)


def test_round_end_rewind_point_is_taken_once_where_round_0_ended(data, tmp_path):
    """rewind_at='round_end': every later round restarts from round 0's end (under its own mask), not
    from the end of the round before it. Round 2's start is round 1's start under round 2's mask."""
    runner = _run(_cfg(tmp_path, data, max_epochs=1, rounds=2, rewind='pt', rewind_at='round_end'))
    probe = find_hook(runner, RoundProbe)
    first, second = probe.starts[1]['state'], probe.starts[2]['state']  # rounds 1 and 2, rewound
    mask = probe.starts[2]['ticket'].masks
    start = probe.starts[0]['state']
    assert any(not torch.equal(first[k], start[k]) for k in first)  # round 0 trained: its end is not the start
    for key, value in first.items():
        name = key[len('backbone.'):]
        want = value * mask[name] if key.startswith('backbone.') and name in mask else value
        assert torch.equal(second[key], want), key


def test_an_ema_copy_restarts_from_the_rewound_weights_at_every_round(data, tmp_path):
    """IMP with mmengine's EMAHook: at each round's start the averaged copy equals the rewound, masked
    model (an average carried over would blend the previous round's weights into the next round)."""
    from mmengine.hooks import EMAHook, Hook
    from mmengine.registry import HOOKS

    @HOOKS.register_module(force=True)
    class EMAStartProbe(Hook):
        priority = 'LOWEST'

        def __init__(self):
            self.starts = []

        def before_train_epoch(self, runner):
            ema = find_hook(runner, EMAHook).ema_model.module
            self.starts.append(({k: v.detach().clone() for k, v in ema.named_parameters()},
                                {k: v.detach().clone() for k, v in runner.model.named_parameters()}))

    cfg = _cfg(tmp_path, data, max_epochs=1, rounds=2, rewind='pt')
    cfg['custom_hooks'] += [dict(type='EMAHook', momentum=0.5), dict(type='EMAStartProbe')]
    runner = _run(cfg)
    starts = find_hook(runner, EMAStartProbe).starts
    assert len(starts) == 3
    for ema, model in starts[1:]:  # rounds 1 and 2, after their rewinds
        assert all(torch.equal(ema[k], model[k]) for k in model)
    ema_end = dict(find_hook(runner, EMAHook).ema_model.module.named_parameters())
    assert any(not torch.equal(ema_end[k], starts[2][1][k]) for k in ema_end)  # it did average within rounds
