"""RewindPoint, the plain-torch rewind point of an IMP run."""
import copy

import pytest
import torch
from torch import nn

from ltcv_mm.core.rewind import RewindPoint


def _net():
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4))


def test_capture_and_restore_in_place_with_buffers():
    net = _net()
    point = RewindPoint('rewind_lt', at=2)
    assert not point.due(1) and point.due(2)
    net(torch.randn(2, 3, 8, 8))  # BatchNorm statistics move
    point.capture(net)
    assert not point.due(2)  # captured once
    weight, before = net[0].weight, copy.deepcopy(net.state_dict())
    with torch.no_grad():
        net[0].weight.add_(1.0)
    net(torch.randn(2, 3, 8, 8))
    point.restore(net)
    assert net[0].weight is weight  # in place: optimizers and DDP keep their tensors
    for k, v in before.items():
        assert torch.equal(net.state_dict()[k], v), k


def test_round_end_resolves_to_the_round_length_and_no_later_point_is_allowed():
    point = RewindPoint('pt', at='round_end')
    assert point.resolve(5) == 5 and point.due(5)
    with pytest.raises(ValueError, match=r'rewind point \(rewind_at=7\) is later than the first pruning \(after 5\)'):
        RewindPoint('rewind_lt', at=7).resolve(5)


@pytest.mark.parametrize('mode, at, message', [
    ('pt_trns', 0, "unknown mode 'pt_trns'"),
    ('rewind_lt', 0, "'rewind_lt' needs rewind_at > 0"),
    ('lt', -1, 'rewind_at must be a whole number >= 0, got -1'),
    ('lt', 'end', "rewind_at must be a count, 'round_end' or 'round_best', got 'end'"),
    ('lt', True, 'rewind_at must be a whole number >= 0, got True')])
def test_bad_settings_are_named(mode, at, message):
    with pytest.raises(ValueError, match=message):
        RewindPoint(mode, at)


def test_state_travels_through_a_checkpoint_and_refuses_another_mode():
    net = _net()
    point = RewindPoint('pt', at='round_end')
    point.resolve(3)
    point.capture(net)
    saved = copy.deepcopy(point.state_dict())
    back = RewindPoint('pt', at='round_end')
    back.load_state_dict(saved)
    assert back.at == 3 and back.captured and not back.due(3)
    assert all(torch.equal(back.snapshot[k], v) for k, v in point.snapshot.items())
    with pytest.raises(ValueError, match="the checkpoint rewinds 'pt', this run 'lt'"):
        RewindPoint('lt').load_state_dict(saved)
    with pytest.raises(RuntimeError, match='before the rewind point was captured'):
        RewindPoint('pt').restore(net)


def test_round_best_keeps_the_best_of_round_zero_only():
    net = _net()
    point = RewindPoint('pt', at='round_best')
    assert point.resolve(5) == 5 and not point.due(5)  # offered, never taken by count
    assert point.offer(net, 0.5, round_idx=0)
    best = copy.deepcopy(net.state_dict())
    with torch.no_grad():
        net[0].weight.add_(1.0)
    assert not point.offer(net, 0.5, round_idx=0)  # a tie keeps the first
    assert not point.offer(net, 0.9, round_idx=1)  # later rounds never move the point
    assert not point.offer(net, None, round_idx=0)
    point.restore(net)
    assert all(torch.equal(net.state_dict()[k], v) for k, v in best.items())
    saved = point.state_dict()
    again = RewindPoint('pt', at='round_best')
    again.load_state_dict(saved)
    assert again.best == 0.5 and not again.offer(net, 0.4, round_idx=0) and again.offer(net, 0.6, round_idx=0)


def test_keys_rewind_only_the_matching_state():
    torch.manual_seed(0)
    net = nn.ModuleDict({'backbone': nn.Conv2d(3, 4, 3), 'head': nn.Linear(4, 2)})
    point = RewindPoint('pt', keys=['backbone.*'])
    point.capture(net)
    assert set(point.snapshot) == {'backbone.weight', 'backbone.bias'}
    with torch.no_grad():
        for p in net.parameters():
            p.add_(1.0)
    trained_head = net['head'].weight.clone()
    point.restore(net)
    assert torch.equal(net['backbone'].weight, point.snapshot['backbone.weight'])
    assert torch.equal(net['head'].weight, trained_head)  # the head keeps what it learnt
    with pytest.raises(ValueError, match=r"rewind keys \['neck.\*'\] match none of the model's state keys"):
        RewindPoint('pt', keys=['neck.*']).capture(net)
