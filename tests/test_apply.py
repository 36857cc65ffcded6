"""Binding tickets to live models: prefixes, shapes, optimizer state, real training steps."""
import pytest
import torch
import torchvision
from torch import nn

from ltcv_mm.core import BoundTicket, Ticket, TicketBindingError, apply_ticket, prune, select_prunable


class TwoEncoders(nn.Module):
    """The layout of MoCo in mmpretrain: an online backbone and a momentum copy."""

    def __init__(self):
        super().__init__()
        self.backbone = torchvision.models.resnet18(num_classes=4)
        self.encoder_k = nn.ModuleDict({'module': nn.Sequential(torchvision.models.resnet18(num_classes=4))})

    def forward(self, x):
        return self.backbone(x) + self.encoder_k['module'][0](x)


@pytest.fixture
def model_and_ticket():
    torch.manual_seed(0)
    model = TwoEncoders()
    weights = select_prunable(dict(model.named_parameters()), prefix='backbone.')
    return model, prune(weights, rounds=3)


def test_one_mask_binds_to_every_copy(model_and_ticket):
    model, ticket = model_and_ticket
    bound = apply_ticket(ticket, model)
    assert bound.prefixes == ['backbone.', 'encoder_k.module.0.']
    assert len(bound) == 2 * len(ticket.masks)
    assert bound.count_nonzero_pruned() == 0
    for prefix in bound.prefixes:
        w = dict(model.named_parameters())[prefix + 'layer2.0.conv1.weight']
        mask = ticket.masks['layer2.0.conv1.weight']
        assert int((w[~mask] != 0).sum()) == 0 and bool((w[mask] != 0).all())
    only = BoundTicket(ticket, model, prefixes=['backbone.'])
    assert only.prefixes == ['backbone.'] and len(only) == len(ticket.masks)


def _train_steps(model, opt, steps=3, before_step=None, after_step=None):
    x, y = torch.randn(4, 3, 32, 32), torch.tensor([0, 1, 2, 3])
    for _ in range(steps):
        opt.zero_grad()
        nn.functional.cross_entropy(model(x), y).backward()
        if before_step:
            before_step()
        opt.step()
        after_step()


def test_pruned_weights_stay_zero_through_real_sgd_steps(model_and_ticket):
    model, ticket = model_and_ticket
    opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9, weight_decay=5e-4)
    bound = apply_ticket(ticket, model, opt)

    def after_step():
        assert bound.count_nonzero_pruned() > 0  # the optimizer moves them...
        bound.apply()
        bound.apply_to_optimizer(opt)
        assert bound.count_nonzero_pruned() == 0  # ...and one fused multiply puts them back
    _train_steps(model, opt, after_step=after_step)
    for p, m in zip(bound.params, bound.masks):
        buf = opt.state[p]['momentum_buffer']
        assert int((buf[m == 0] != 0).sum()) == 0
    # Kept weights did train.
    w = dict(model.named_parameters())['backbone.layer1.0.conv1.weight']
    assert w.grad is not None and w.grad.abs().sum() > 0


@pytest.mark.parametrize('make_opt', [
    lambda ps: torch.optim.SGD(ps, lr=0.1, momentum=0.9, weight_decay=5e-4),
    lambda ps: torch.optim.AdamW(ps, lr=1e-2, weight_decay=0.05)], ids=['sgd', 'adamw'])
def test_masked_gradients_keep_weights_and_state_zero(model_and_ticket, make_opt):
    """Masking gradients before the step: the optimizer never moves a pruned weight."""
    model, ticket = model_and_ticket
    opt = make_opt(model.parameters())
    bound = apply_ticket(ticket, model, opt)

    def after_step():
        assert bound.count_nonzero_pruned() == 0  # no re-masking needed
    _train_steps(model, opt, before_step=bound.apply_to_grads, after_step=after_step)
    for p, m in zip(bound.params, bound.masks):
        for buf in opt.state[p].values():
            if isinstance(buf, torch.Tensor) and buf.shape == p.shape:
                assert int((buf[m == 0] != 0).sum()) == 0
                assert int((buf[m == 1] != 0).sum()) > 0


def test_adam_moments_are_zeroed(model_and_ticket):
    model, ticket = model_and_ticket
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3)
    model(torch.randn(2, 3, 32, 32)).sum().backward()
    opt.step()
    bound = apply_ticket(ticket, model, opt)
    for p, m in zip(bound.params, bound.masks):
        for key in ('exp_avg', 'exp_avg_sq'):
            assert int((opt.state[p][key][m == 0] != 0).sum()) == 0


def test_state_dict_masking(model_and_ticket):
    model, ticket = model_and_ticket
    bound = BoundTicket(ticket, model)
    sd = {k: v.clone() for k, v in model.state_dict().items()}
    bound.apply_to_state_dict(sd)
    for name, m in zip(bound.names, bound.masks):
        assert int((sd[name][m == 0] != 0).sum()) == 0


def test_wrong_architecture_and_shapes_are_named(model_and_ticket):
    _, ticket18 = model_and_ticket
    r50 = torchvision.models.resnet50()
    with pytest.raises(TicketBindingError, match=r"layer1.0.conv1.weight.*shape.*another architecture \(resnet18\)"):
        apply_ticket(ticket18, r50)
    ticket50 = Ticket.dense(select_prunable(dict(r50.named_parameters())))
    with pytest.raises(TicketBindingError, match='layer'):
        apply_ticket(ticket50, torchvision.models.resnet18())
    stray = Ticket({'layer9.0.conv1.weight': torch.ones(2, 2, 1, 1, dtype=torch.bool)})
    with pytest.raises(TicketBindingError, match='none of its 1 layers'):
        apply_ticket(stray, r50)


def test_masks_are_one_byte_per_weight(model_and_ticket):
    model, ticket = model_and_ticket
    bound = BoundTicket(ticket, model, prefixes=['backbone.'])
    assert all(m.dtype == torch.uint8 for m in bound.masks)
    assert sum(m.numel() * m.element_size() for m in bound.masks) == ticket.numel


def test_deep_stem_backbone_is_refused_with_a_reason():
    from mmseg.models.backbones import ResNetV1c
    ticket = Ticket.dense(select_prunable(dict(torchvision.models.resnet50().named_parameters())))
    with pytest.raises(TicketBindingError, match=r"deep-stem ResNet \('stem.0.weight'\).*deep_stem=False"):
        apply_ticket(ticket, ResNetV1c(depth=50))
