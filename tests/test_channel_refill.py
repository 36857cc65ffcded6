"""Channel refill: whole channels at the ticket's per-layer kept count, dead inputs dropped, residual widths
kept, nothing revived across IMP rounds, and no pruned channel read by anyone (a narrower block computes the
same)."""
import pytest
import torch
from mmpretrain.models import ResNet

from ltcv_mm.core import prune, select_prunable
from ltcv_mm.core.channel_refill import block_convs, refill_channels
from ltcv_mm.core.masking import apply_ticket

from tiny_runs import NARROW_R50


@pytest.fixture(scope='module')
def model():
    torch.manual_seed(0)
    net = ResNet(**NARROW_R50)
    net.init_weights()
    net.eval()  # (mmpretrain's ResNet.train returns None)
    return net


def _weights(model):
    return {k: v.detach().clone() for k, v in select_prunable(dict(model.named_parameters())).items()}


@pytest.mark.parametrize('strategy', ['global_magnitude', 'layerwise_magnitude'])
def test_inner_convs_keep_whole_channels_at_the_tickets_kept_count(model, strategy):
    weights = _weights(model)
    ticket = prune(weights, rate=0.6, strategy=strategy)
    refilled = refill_channels(ticket, weights)
    assert refilled.meta['refill'] == 'channels'
    for block, convs in block_convs(ticket.masks).items():
        live = torch.ones(ticket.masks[convs[0]].shape[1], dtype=torch.bool)
        for name in convs[:-1]:
            m, t = refilled.masks[name], ticket.masks[name]
            rows = m.flatten(1).any(1)
            # every kept channel is whole over the live inputs; nothing on a dead input
            assert bool(m[rows][:, live].all()) and not bool(m[:, ~live].any()), name
            per_channel = int(live.sum()) * t[0, 0].numel()
            alive = int((t & live.view(1, -1, 1, 1)).flatten(1).any(1).sum())
            k = int(rows.sum())
            assert k == refilled.meta['kept_channels'][name] == min(round(int(t.sum()) / per_channel), alive), name
            if k < alive:  # not capped by the channels the ticket leaves alive: within one channel's rounding
                assert abs(int(m.sum()) - int(t.sum())) <= per_channel / 2, name
            # the channels with the most kept magnitude
            score = (weights[name].abs() * (t & live.view(1, -1, 1, 1))).flatten(1).sum(1)
            if bool(rows.any()) and not bool(rows.all()):
                assert float(score[rows].min()) >= float(score[~rows].max()), name
            live = rows
        last = convs[-1]  # residual output: the ticket's own mask, less the dead inputs
        assert torch.equal(refilled.masks[last], ticket.masks[last] & live.view(1, -1, 1, 1)), last
    for name in ticket.masks:  # downsample convs and layers outside blocks are untouched
        if not any(name in convs for convs in block_convs(ticket.masks).values()):
            assert torch.equal(refilled.masks[name], ticket.masks[name]), name
    assert refilled.sparsity > 0.3


def test_imp_with_refill_never_revives_a_weight_of_the_previous_round(model):
    weights = _weights(model)
    ticket = None
    for r in range(3):
        new = refill_channels(prune(weights, ticket, rate=0.45), weights)
        if ticket is not None:
            for k, m in new.masks.items():
                assert not bool((m & ~ticket.masks[k]).any()), (r, k)
        ticket = new
        g = torch.Generator().manual_seed(r)  # a round of "training" under the ticket
        weights = {k: (w + 0.5 * w.std() * torch.randn(w.shape, generator=g)) * ticket.masks[k]
                   for k, w in weights.items()}
    assert ticket.sparsity > 0.7


def test_no_pruned_channel_is_read_so_its_batchnorm_does_not_matter():
    """A pruned channel still leaves its BatchNorm's bias (a constant) behind; a refilled ticket drops every
    input that reads it, which is what lets an export slice the channel away."""
    torch.manual_seed(3)
    model = ResNet(**NARROW_R50)  # its own: the ticket and the BatchNorm changes stay here
    model.eval()
    weights = _weights(model)
    refilled = refill_channels(prune(weights, rate=0.7), weights)
    x = torch.randn(2, 3, 32, 32, generator=torch.Generator().manual_seed(1))
    apply_ticket(refilled, model)
    with torch.no_grad():
        before = model(x)[-1].clone()
        g = torch.Generator().manual_seed(2)
        for block, convs in block_convs(refilled.masks).items():
            for name in convs[:-1]:
                gone = ~refilled.masks[name].flatten(1).any(1)
                bn = model.get_submodule(name.replace('.weight', '').replace('conv', 'bn'))
                for t in (bn.weight, bn.bias, bn.running_mean):
                    t[gone] = torch.randn(int(gone.sum()), generator=g) * 10
        after = model(x)[-1]
    assert torch.equal(before, after)


def test_a_channel_the_ticket_pruned_whole_is_never_refilled(model):
    """conv2 keeps two whole channels over every input, conv1 half its channels: the kept count would fill
    four channels over the live inputs, but only two are alive; the other two are not revived."""
    weights = _weights(model)
    ticket = prune(weights, rate=0.3)
    masks = dict(ticket.masks)
    c1, c2 = masks['layer1.0.conv1.weight'].clone(), torch.zeros_like(masks['layer1.0.conv2.weight'])
    c1[c1.shape[0] // 2:] = False
    c1[:c1.shape[0] // 2] = True
    c2[:2] = True
    masks.update({'layer1.0.conv1.weight': c1, 'layer1.0.conv2.weight': c2})
    refilled = refill_channels(type(ticket)(masks, ticket.meta), weights)
    rows = refilled.masks['layer1.0.conv2.weight'].flatten(1).any(1)
    assert rows.tolist() == [True, True] + [False] * (rows.numel() - 2)
    assert refilled.meta['kept_channels']['layer1.0.conv2.weight'] == 2
