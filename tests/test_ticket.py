import pytest
import torch

from ltcv_mm.core import Ticket


def _t(*masks):
    return Ticket({f'layer1.{i}.conv1.weight': torch.tensor(m, dtype=torch.bool).view(1, -1, 1, 1)
                   for i, m in enumerate(masks)})


def test_sparsity_global_and_per_layer():
    t = _t([1, 0, 0, 0], [1, 1, 0, 1])
    assert t.numel == 8 and t.kept == 4
    assert t.sparsity == 0.5 and t.density == 0.5
    assert t.layer_sparsity() == {'layer1.0.conv1.weight': 0.75, 'layer1.1.conv1.weight': 0.25}


def test_reverse_is_disjoint_complement():
    t = _t([1, 0, 0, 0], [1, 1, 0, 1])
    r = t.reverse()
    assert r.kept == t.numel - t.kept
    assert t.overlap(r) == 0.0
    assert r.reverse() == t


def test_overlap_is_iou_of_kept_weights():
    a = _t([1, 1, 0, 0], [1, 0, 0, 0])
    b = _t([1, 0, 1, 0], [1, 0, 0, 0])
    # kept: a = {0,1,4}, b = {0,2,4}; intersection 2, union 4
    assert a.overlap(b) == 0.5
    assert a.overlap(a) == 1.0
    assert a.layer_overlap(b) == {'layer1.0.conv1.weight': 1 / 3, 'layer1.1.conv1.weight': 1.0}


def test_equality_compares_masks_not_meta():
    a = _t([1, 0])
    b = _t([1, 0])
    b.meta['round'] = 3
    assert a == b
    assert a != _t([0, 1])
    with pytest.raises(ValueError, match='different layers'):
        a.overlap(_t([1, 0], [1, 1]))


def test_masks_must_be_bool():
    with pytest.raises(TypeError, match='torch.bool'):
        Ticket({'layer1.0.conv1.weight': torch.ones(2, 2, 1, 1)})


def test_empty_layers_are_those_with_no_weight_kept():
    t = Ticket({'a': torch.tensor([True, False]), 'b': torch.zeros(3, dtype=torch.bool)})
    assert t.empty_layers == ['b']
    with pytest.raises(ValueError, match=r"mask 'c' has shape \(0, 3\): it holds no weight to mask"):
        Ticket({'a': torch.tensor([True]), 'c': torch.zeros(0, 3, dtype=torch.bool)})
