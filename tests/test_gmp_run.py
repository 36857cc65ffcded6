"""Gradual magnitude pruning in core: the cubic schedule's exact counts, no revived weight, tickets on the way,
resume."""
import pytest
import torch
from torch.nn.utils import prune as torch_prune

from ltcv_mm.core import load_ticket
from ltcv_mm.core.gmp_run import CubicSchedule, GMPRun, pruned_count
from ltcv_mm.core.imp_record import RunRecord

SHAPES = {'layer1.0.conv1.weight': (8, 4, 1, 1), 'layer1.0.conv2.weight': (8, 8, 3, 3),
          'layer1.0.conv3.weight': (16, 8, 1, 1), 'layer2.0.conv1.weight': (16, 16, 1, 1)}


def _weights(seed=0):
    g = torch.Generator().manual_seed(seed)
    return {k: torch.randn(s, generator=g) for k, s in SHAPES.items()}


def _train(weights, ticket, step):
    """A stand-in for training between pruning steps: every weight moves, the pruned ones stay zero."""
    g = torch.Generator().manual_seed(100 + step)
    for k, w in weights.items():
        w.add_(0.3 * torch.randn(w.shape, generator=g))
        if ticket is not None:
            w.mul_(ticket.masks[k])


def _drive(run, weights, ticket=None, until=None, upto=None):
    """Progress 0, 1, ... as a trainer reports it: prune when due, then train a step."""
    history = []
    for done in range(upto or run.schedule.end + 2):
        if until is not None and done == until:
            break
        if run.due(done):
            before = ticket
            ticket = run.prune(weights, ticket, done)
            history.append((done, before, ticket))
        _train(weights, ticket, done)
    return ticket, history


def test_the_cubic_schedule_goes_from_initial_to_final_faster_at_first():
    s = CubicSchedule(final=0.9, start=2, interval=3, steps=4, initial=0.1)
    points = s.points()
    assert [t for t, _ in points] == [2, 5, 8, 11, 14] and s.end == 14
    assert points[0][1] == pytest.approx(0.1) and points[-1][1] == pytest.approx(0.9)
    assert points[2][1] == pytest.approx(0.9 - 0.8 * 0.5 ** 3)
    steps = [b - a for (_, a), (_, b) in zip(points, points[1:])]
    assert all(x > y > 0 for x, y in zip(steps, steps[1:]))  # the cubic prunes most early
    assert s.sparsity_at(1) == 0.0 and s.sparsity_at(2) == pytest.approx(0.1)
    assert s.sparsity_at(7) == pytest.approx(points[1][1]) and s.sparsity_at(100) == pytest.approx(0.9)


@pytest.mark.parametrize('kwargs, message', [
    (dict(final=0.9, start=0, interval=1, steps=2, initial=0.9), 'initial < final'),
    (dict(final=1.0, start=0, interval=1, steps=2), 'final < 1'),
    (dict(final=0.5, start=0, interval=0, steps=2), 'interval >= 1'),
    (dict(final=0.5, start=0, interval=1, steps=1.5), 'whole number'),
])
def test_a_schedule_that_cannot_run_is_refused(kwargs, message):
    with pytest.raises((ValueError, TypeError), match=message):
        CubicSchedule(**kwargs)


@pytest.mark.parametrize('strategy', ['global_magnitude', 'random_global'])
def test_every_step_prunes_to_exactly_its_sparsity_and_never_revives_a_weight(strategy):
    run = GMPRun(CubicSchedule(final=0.95, start=1, interval=2, steps=5), strategy=strategy)
    weights = _weights()
    ticket, history = _drive(run, weights)
    assert [done for done, _, _ in history] == [t for t, _ in run.schedule.points()]
    numel = sum(w.numel() for w in weights.values())
    for j, (_, before, after) in enumerate(history):
        assert after.kept == numel - round(run.schedule.target(j) * numel)  # Python's round, as IMP counts
        if before is not None:
            assert all(bool((after.masks[k] & ~before.masks[k]).sum() == 0) for k in SHAPES)
    assert ticket.sparsity == pytest.approx(0.95, abs=1 / numel)
    for k, w in weights.items():  # the trainer's enforcement kept the pruned weights at zero
        assert bool((w[~ticket.masks[k]] == 0).all())


def test_the_first_step_keeps_what_torch_global_pruning_keeps():
    run = GMPRun(CubicSchedule(final=0.8, start=0, interval=1, steps=3, initial=0.3))
    weights = _weights(1)
    ticket = run.prune(weights, None, 0)
    modules = {k: torch.nn.Conv2d(s[1], s[0], s[2:], bias=False) for k, s in SHAPES.items()}
    for k, m in modules.items():
        m.weight.data.copy_(weights[k])
    numel = sum(w.numel() for w in weights.values())
    torch_prune.global_unstructured([(m, 'weight') for m in modules.values()],
                                    pruning_method=torch_prune.L1Unstructured, amount=round(0.3 * numel))
    for k, m in modules.items():
        assert torch.equal(ticket.masks[k], m.weight_mask.bool()), k


def test_tickets_are_written_at_each_requested_sparsity_with_their_provenance(tmp_path):
    schedule = CubicSchedule(final=0.9, start=0, interval=2, steps=3)  # steps at 0, 0.6333, 0.8667, 0.9
    record = RunRecord(tmp_path / 'tickets')
    run = GMPRun(schedule, save_at=(0.5, 0.9), record=record, source='supervised')
    weights = _weights(2)
    final, history = _drive(run, weights)
    numel = sum(w.numel() for w in weights.values())
    read = record.read()
    assert read.rounds == [1, 2] and read.settings['method'] == 'gmp'
    first, last = load_ticket(read.ticket(1)), load_ticket(read.ticket(2))
    assert first.kept == numel - pruned_count(0.5, numel) and last == final
    # 0.5 lies between the first two steps: drawn at the step that reached it, from the same mask and weights,
    # so it holds that step's (sparser) mask
    _, _, step1 = history[1]
    assert all(bool((step1.masks[k] & ~first.masks[k]).sum() == 0) for k in SHAPES)
    assert first.meta['method'] == 'gmp' and first.meta['step'] == 1 and first.meta['at'] == 2
    assert first.meta['schedule'] == {'final': 0.9, 'start': 0, 'interval': 2, 'steps': 3, 'initial': 0.0,
                                      'unit': 'iterations'}
    assert first.meta['source'] == 'supervised' and last.meta['sparsity_target'] == 0.9
    run.finished({'accuracy/top1': 71.5, 'accuracy/top5': 90.0})
    assert record.read().records[-1]['metric'] == 71.5 and record.read().records[0]['metric'] is None


def test_a_resumed_run_ends_with_the_masks_and_records_of_the_uninterrupted_one(tmp_path):
    schedule = CubicSchedule(final=0.9, start=1, interval=2, steps=4)
    whole = GMPRun(schedule, save_at=(0.6, 0.9), record=RunRecord(tmp_path / 'a'))
    expected, _ = _drive(whole, _weights(3))

    first = GMPRun(schedule, save_at=(0.6, 0.9), record=RunRecord(tmp_path / 'b'))
    weights = _weights(3)
    ticket, _ = _drive(first, weights, until=6)
    state = first.state_dict()
    resumed = GMPRun(schedule, save_at=(0.6, 0.9), record=RunRecord(tmp_path / 'b'))
    resumed.load_state_dict(state)
    for done in range(6, schedule.end + 2):  # the trainer continues with its checkpointed weights and mask
        if resumed.due(done):
            ticket = resumed.prune(weights, ticket, done)
        _train(weights, ticket, done)
    assert ticket == expected
    strip = [{k: v for k, v in r.items() if k != 'ticket'} for r in whole.records]
    assert [{k: v for k, v in r.items() if k != 'ticket'} for r in resumed.records] == strip
    other = GMPRun(CubicSchedule(final=0.8, start=1, interval=2, steps=4), save_at=(0.6, 0.8))
    with pytest.raises(ValueError, match='other settings.*schedule'):
        other.load_state_dict(state)


def test_save_at_outside_the_schedule_is_refused():
    with pytest.raises(ValueError, match=r'save_at must be distinct sparsities in \(0, final=0.8\]'):
        GMPRun(CubicSchedule(final=0.8, start=0, interval=1, steps=2), save_at=(0.5, 0.9))
