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
    ('lt', 'end', "rewind_at must be a count or 'round_end', got 'end'"),
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
