"""Early-bird IMP rounds: the mask window on known masks, and IMPHook ending rounds early in a real run.

The runs freeze the weights part-way through every round (the learning rate
drops to exactly 0 at a milestone, so SGD's step, momentum and weight decay
all vanish); from then on the mask the pruning step would draw cannot
change, so with ``eps`` just above 0 a round must end exactly when the whole
window has been drawn from frozen weights, and not before.
"""
import json
from pathlib import Path

import pytest
import torch

import ltcv_mm  # noqa: F401
from ltcv_mm.core import Ticket, get_strategy, load_ticket, select_prunable
from ltcv_mm.core.early_bird import MaskWindow, candidate_bits, hamming
from ltcv_mm.core.ticket_file import pack_mask
from ltcv_mm.hooks.imp_hook import IMPConfigError, IMPHook

from helpers import train
from tiny_runs import tiny_classifier_cfg, write_colour_folder

ROUND = 10      # iterations per round
FREEZE = 4      # the learning rate is 0 from this iteration of each round on
EVERY, WINDOW = 1, 3
STOP = FREEZE + (WINDOW - 1) * EVERY   # the first check whose whole window was drawn from frozen weights


# -- the window on known masks -----------------------------------------------------------------------
def test_the_ticket_files_packing_and_hamming_on_known_values():
    flags = torch.tensor([1, 0, 1, 1, 0, 0, 0, 1, 1, 1], dtype=torch.bool)
    assert pack_mask(flags).tolist() == [0b10110001, 0b11000000]
    other = flags.clone()
    other[[0, 9]] = ~other[[0, 9]]
    pack = lambda f: torch.from_numpy(pack_mask(f))  # noqa: E731
    assert hamming(pack(flags), pack(other)) == 2
    assert hamming(pack(flags), pack(flags)) == 0


def test_distances_count_only_the_weights_the_current_ticket_keeps():
    current = Ticket({'a': torch.tensor([True, True, True, True, False, False, False, False])})
    first = Ticket({'a': torch.tensor([True, True, False, False, False, False, False, False])})
    second = Ticket({'a': torch.tensor([True, False, True, False, False, False, False, False])})
    bits, count = candidate_bits(first, current)
    assert count == 4 and bits.tolist() == [0b11000000]
    window = MaskWindow(window=2, eps=0.6)
    assert window.add(first, current) == [] and not window.converged
    assert window.add(second, current) == [0.5]  # two of the four candidates differ (not 2 of 8)
    assert window.converged
    assert not MaskWindow(window=2, eps=0.5).converged


def test_window_keeps_the_last_masks_and_eps_zero_never_converges():
    masks = [Ticket({'a': torch.tensor(m, dtype=torch.bool)}) for m in
             ([1, 1, 0, 0], [1, 0, 1, 0], [0, 1, 1, 0], [0, 1, 1, 0], [0, 1, 1, 0])]
    window, never = MaskWindow(window=3, eps=0.3), MaskWindow(window=3, eps=0.0)
    seen = [window.add(m, None) for m in masks]
    for m in masks:
        never.add(m, None)
    assert seen == [[], [0.5], [0.5, 0.5], [0.5, 0.0], [0.0, 0.0]]
    assert window.converged and not never.converged
    restored = MaskWindow(window=3, eps=0.3)
    restored.load_state_dict(window.state_dict())
    assert restored.add(masks[0], None) == [0.5, 0.5] == window.add(masks[0], None)


@pytest.mark.parametrize('bad, message', [
    (dict(window=5), 'needs an interval'),
    (dict(interval=0), 'interval must be a whole number >= 1'),
    (dict(interval=2, windw=5), "unknown keys ['windw']"),
    (dict(interval=2, window=1), 'window must be a whole number >= 2'),
    (dict(interval=2, eps=1.5), 'eps must be a number in [0, 1]'),
    (dict(interval=2, min_progress=-1), 'min_progress must be a whole number >= 0'),
])
def test_bad_early_bird_options_are_refused_by_name(bad, message):
    with pytest.raises(IMPConfigError, match=message.replace('[', r'\[').replace(']', r'\]')):
        IMPHook(rounds=1, early_bird=bad)


# -- in a real run -------------------------------------------------------------------------------------
@pytest.fixture(scope='module')
def data(tmp_path_factory):
    return write_colour_folder(tmp_path_factory.mktemp('imgs') / 'data', per_class=8)


def _cfg(work: Path, data: Path, eps: float, **early_bird) -> dict:
    cfg = tiny_classifier_cfg(work, data)
    cfg['train_cfg'] = dict(by_epoch=False, max_iters=ROUND, val_interval=ROUND)
    cfg['optim_wrapper'] = dict(optimizer=dict(type='SGD', lr=0.2, momentum=0.9, weight_decay=1e-4),
                                clip_grad=dict(max_norm=5.0))
    cfg['param_scheduler'] = [dict(type='MultiStepLR', by_epoch=False, milestones=[FREEZE], gamma=0.0)]
    cfg['default_hooks'] = dict(checkpoint=dict(type='CheckpointHook', interval=1, by_epoch=False),
                                logger=dict(type='LoggerHook', interval=1))
    hook = dict(type='ltcv.IMPHook', rounds=2, rate=0.3, rewind='pt', rewind_at='round_end',
                early_bird=dict(interval=EVERY, window=WINDOW, eps=eps))
    hook['early_bird'].update(early_bird)
    cfg['custom_hooks'] = [hook]
    return cfg


def _summary(work: Path) -> dict:
    return json.loads((work / 'tickets/imp_summary.json').read_text())


@pytest.fixture(scope='module')
def early_run(data, tmp_path_factory):
    work = tmp_path_factory.mktemp('early') / 'work'
    runner = train(_cfg(work, data, eps=1e-9))
    return work, runner


def test_rounds_end_when_the_window_is_drawn_from_frozen_weights(early_run):
    work, runner = early_run
    records = _summary(work)['records']
    assert [r['early_bird']['length'] for r in records] == [STOP, STOP, ROUND]
    assert [r['early_bird']['ended_early'] for r in records] == [True, True, False]
    assert [r['early_bird']['iteration'] for r in records] == [STOP, 2 * STOP, 2 * STOP + ROUND]
    assert runner.iter == 2 * STOP + ROUND  # the run shortened by what the two rounds did not train
    for r in records[:2]:
        checks = r['early_bird']['checks']
        assert [c['at'] for c in checks] == list(range(1, STOP + 1))
        # before the freeze the masks moved: the window did not end the round by chance
        assert all(max(c['distances']) > 0 for c in checks[1:FREEZE])
        assert checks[-1]['distances'] == [0.0] * (WINDOW - 1)
    assert records[2]['early_bird']['checks'] == []  # the final ticket trains in full
    csv = (work / 'tickets/imp_summary.csv').read_text().splitlines()
    header = csv[0].split(',')
    assert [row.split(',')[header.index('ended_early')] for row in csv[1:]] == ['True', 'True', 'False']
    validated = [r['metrics'] for r in records]  # each round validated where it ended
    assert all('accuracy/top1' in m for m in validated)


def test_the_early_ticket_is_the_strategys_mask_of_the_weights_where_the_round_ended(early_run):
    work, _ = early_run
    step, current = get_strategy('global_magnitude'), None
    for k, at in ((1, STOP), (2, 2 * STOP)):
        state = torch.load(work / f'iter_{at}.pth', weights_only=False)['state_dict']
        weights = select_prunable(state)
        current = current or Ticket.dense(weights)
        expected = step(weights, current, 0.3, torch.Generator().manual_seed(k - 1))
        ticket = load_ticket(work / f'tickets/ticket_round{k:02d}.safetensors')
        assert ticket == expected, k
        current = ticket


def test_round_end_rewind_point_is_taken_where_round_0_ended_early(early_run):
    work, _ = early_run
    saved = torch.load(work / f'iter_{STOP + 1}.pth', weights_only=False)
    snapshot = saved['ltcv_imp']['rewind']['snapshot']
    at_stop = torch.load(work / f'iter_{STOP}.pth', weights_only=False)['state_dict']
    assert snapshot and all(torch.equal(v, at_stop[k]) for k, v in snapshot.items())


def test_eps_zero_never_ends_a_round_early(data, tmp_path):
    runner = train(_cfg(tmp_path / 'work', data, eps=0.0))
    records = _summary(tmp_path / 'work')['records']
    assert [r['early_bird']['length'] for r in records] == [ROUND] * 3
    assert not any(r['early_bird']['ended_early'] for r in records)
    assert runner.iter == 3 * ROUND
    assert records[0]['early_bird']['checks'][-1]['distances'] == [0.0] * (WINDOW - 1)  # converged, yet 0 < 0 fails


def test_min_progress_holds_the_round_until_then(data, tmp_path):
    cfg = _cfg(tmp_path / 'work', data, eps=1e-9, min_progress=STOP + 2)
    cfg['custom_hooks'][0].update(rounds=1)
    train(cfg)
    record = _summary(tmp_path / 'work')['records'][0]['early_bird']
    assert record['length'] == STOP + 2 and record['checks'][STOP - 1]['distances'] == [0.0] * (WINDOW - 1)


@pytest.mark.parametrize('at', [FREEZE + 1, STOP, STOP + 3], ids=['window-filling', 'at-the-stop', 'next-round'])
def test_resume_after_a_kill_keeps_the_window(early_run, data, tmp_path, at):
    straight, _ = early_run
    ckpt = straight / f'iter_{at}.pth'
    if at == FREEZE + 1:  # one frozen mask in the window so far: the checkpoint carries the window
        saved = torch.load(ckpt, weights_only=False)['ltcv_imp']['early_bird']
        assert len(saved['window']['masks']) == WINDOW and len(saved['checks']) == FREEZE
    cfg = _cfg(tmp_path / 'work', data, eps=1e-9)
    cfg.update(load_from=str(ckpt), resume=True)
    runner = train(cfg)
    assert runner.iter == 2 * STOP + ROUND
    resumed, full = _summary(tmp_path / 'work')['records'], _summary(straight)['records']
    assert [r['early_bird'] for r in resumed] == [r['early_bird'] for r in full]
    assert [r['metrics'] for r in resumed] == [r['metrics'] for r in full]
    for k in (1, 2):
        name = f'tickets/ticket_round{k:02d}.safetensors'
        if (tmp_path / 'work' / name).exists():
            assert load_ticket(tmp_path / 'work' / name) == load_ticket(straight / name)


def test_an_early_bird_interval_as_long_as_the_round_is_refused(data, tmp_path):
    cfg = _cfg(tmp_path / 'work', data, eps=0.1)
    cfg['custom_hooks'][0]['early_bird']['interval'] = ROUND
    with pytest.raises(IMPConfigError, match='early_bird interval .10 iterations. must be shorter than the round'):
        train(cfg)
