"""A refilled ticket's ResNet sliced to its channels: stock names, no missing or unexpected key, the masked
dense model's outputs to float rounding, fewer weights."""
import copy

import pytest
import torch
from mmpretrain.models import ResNet

from ltcv_mm.core import prune, select_prunable
from ltcv_mm.core.channel_refill import refill_channels
from ltcv_mm.core.channel_slim import narrow_resnet, slim_state_dict, slim_ticket, widths
from ltcv_mm.core.masking import apply_ticket

from tiny_runs import NARROW_R50


def _resnet():
    torch.manual_seed(0)
    net = ResNet(**{**NARROW_R50, 'out_indices': (0, 1, 2, 3)})
    net.init_weights()
    g = torch.Generator().manual_seed(1)
    with torch.no_grad():  # BatchNorm that matters: statistics and affine terms away from 0 / 1
        for m in net.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.running_mean.copy_(torch.randn(m.num_features, generator=g) * 0.1)
                m.running_var.copy_(torch.rand(m.num_features, generator=g) + 0.5)
                m.weight.copy_(torch.rand(m.num_features, generator=g) + 0.5)
                m.bias.copy_(torch.randn(m.num_features, generator=g) * 0.1)
    net.eval()
    return net


@pytest.mark.parametrize('rate', [0.5, 0.8])
def test_the_slim_resnet_computes_what_the_dense_one_under_the_refilled_ticket_computes(rate):
    dense = _resnet()
    weights = {k: v.detach().clone() for k, v in select_prunable(dict(dense.named_parameters())).items()}
    ticket = refill_channels(prune(weights, rate=rate), weights)
    apply_ticket(ticket, dense)
    x = torch.randn(2, 3, 32, 32, generator=torch.Generator().manual_seed(2))
    with torch.no_grad():
        expected = dense(x)
    state = {k: v.detach().clone() for k, v in dense.state_dict().items()}
    slim = narrow_resnet(copy.deepcopy(_resnet()), ticket)
    missing, unexpected = slim.load_state_dict(slim_state_dict(state, ticket), strict=True)
    assert not missing and not unexpected
    slim.eval()
    with torch.no_grad():
        got = slim(x)
    for a, b in zip(got, expected):
        assert a.shape == b.shape and torch.allclose(a, b, atol=1e-5, rtol=1e-5)
    assert sum(p.numel() for p in slim.parameters()) < sum(p.numel() for p in dense.parameters())
    for name, width in widths(ticket).items():  # the stock module, only narrower
        assert slim.get_submodule(name).out_channels == width
        assert slim.get_submodule(name.replace('conv', 'bn')).num_features == width
    # the residual outputs' own masks, in the slim shapes: the slim weights already obey them
    small = slim_ticket(ticket)
    params = dict(slim.named_parameters())
    for name, mask in small.masks.items():
        assert mask.shape == params[name].shape and not bool(params[name][~mask].any()), name
    assert small.kept == ticket.kept


def test_an_unstructured_ticket_has_no_channels_to_slice():
    dense = _resnet()
    weights = select_prunable(dict(dense.named_parameters()))
    with pytest.raises(ValueError, match='not refilled into channels'):
        narrow_resnet(dense, prune(weights, rate=0.5))


def test_a_prefixed_state_dict_is_sliced_under_its_prefix_and_the_rest_kept():
    """A detector's state dict: the backbone's entries under 'backbone.' sliced as the canonical ones are, the
    neck's and heads' entries untouched."""
    net = _resnet()
    weights = {k: v.detach().clone() for k, v in select_prunable(dict(net.named_parameters())).items()}
    ticket = refill_channels(prune(weights, rate=0.8), weights)
    state = net.state_dict()
    head = torch.randn(3, 4)
    prefixed = {**{'backbone.' + k: v for k, v in state.items()}, 'neck.conv.weight': head}
    got = slim_state_dict(prefixed, ticket, prefix='backbone.')
    expected = slim_state_dict(state, ticket)
    assert set(got) == {'backbone.' + k for k in expected} | {'neck.conv.weight'}
    assert all(torch.equal(got['backbone.' + k], v) for k, v in expected.items())
    assert got['neck.conv.weight'] is head
    assert any(got['backbone.' + k].shape != state[k].shape for k in state)  # something was sliced
    with pytest.raises(KeyError, match='backbone.layer1.0.conv1.weight'):
        slim_state_dict(state, ticket, prefix='backbone.')
