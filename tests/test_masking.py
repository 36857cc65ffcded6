"""Masks that belong to their module: binding, real training steps, moves, casts, copies, loads."""
import copy
import pickle

import pytest
import torch
import torchvision
from torch import nn

from ltcv_mm.core import (
    Ticket,
    TicketBindingError,
    apply_ticket,
    attach_ticket,
    attached_masks,
    detach_ticket,
    prune,
    select_prunable,
)


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


def pruned_nonzero(model: nn.Module, ticket: Ticket, prefix: str = 'backbone.') -> int:
    """Pruned weights that are not exactly zero, read from the module's current parameters."""
    params = dict(model.named_parameters())
    return sum(int((params[prefix + n].detach()[~m.to(params[prefix + n].device)] != 0).sum())
               for n, m in ticket.masks.items())


def train_steps(model, opt, steps=3, dtype=torch.float32, after_step=None):
    x, y = torch.randn(4, 3, 32, 32, dtype=dtype), torch.tensor([0, 1, 2, 3])
    for _ in range(steps):
        opt.zero_grad()
        nn.functional.cross_entropy(model(x).float(), y).backward()
        opt.step()
        if after_step:
            after_step()


def test_one_mask_binds_to_every_copy(model_and_ticket):
    model, ticket = model_and_ticket
    masks = apply_ticket(ticket, model)
    assert masks.prefixes == ['backbone.', 'encoder_k.module.0.']
    assert len(masks) == 2 * len(ticket.masks)
    assert masks.count_nonzero_pruned(model) == 0
    for prefix in masks.prefixes:
        w = dict(model.named_parameters())[prefix + 'layer2.0.conv1.weight']
        mask = ticket.masks['layer2.0.conv1.weight']
        assert int((w[~mask] != 0).sum()) == 0 and bool((w[mask] != 0).all())
    only = attach_ticket(TwoEncoders(), ticket, prefixes=['backbone.'])
    assert only.prefixes == ['backbone.'] and len(only) == len(ticket.masks)


@pytest.mark.parametrize('make_opt', [
    lambda ps: torch.optim.SGD(ps, lr=0.1, momentum=0.9, weight_decay=5e-4),
    lambda ps: torch.optim.AdamW(ps, lr=1e-2, weight_decay=0.05)], ids=['sgd', 'adamw'])
def test_gradients_are_masked_as_they_land(model_and_ticket, make_opt):
    """No re-masking between steps: masked gradients keep weights and optimizer state at zero."""
    model, ticket = model_and_ticket
    opt = make_opt(model.parameters())
    masks = apply_ticket(ticket, model, opt)
    train_steps(model, opt, after_step=lambda: masks.count_nonzero_pruned(model) == 0 or pytest.fail('moved'))
    for name, p, m in masks.pairs(model):
        assert int((p.grad[m == 0] != 0).sum()) == 0, name
        for buf in opt.state[p].values():
            if isinstance(buf, torch.Tensor) and buf.shape == p.shape:
                assert int((buf[m == 0] != 0).sum()) == 0 and int((buf[m == 1] != 0).sum()) > 0
    w = dict(model.named_parameters())['backbone.layer1.0.conv1.weight']
    assert w.grad.abs().sum() > 0  # kept weights did train


def test_gradient_norm_is_the_sparse_networks(model_and_ticket):
    """Clipping sees the norm torch.nn.utils.prune's masked gradients give, not the dense one."""
    model, ticket = model_and_ticket
    oracle = copy.deepcopy(model)
    attach_ticket(model, ticket, prefixes=['backbone.'])
    x = torch.randn(2, 3, 32, 32)
    model.backbone(x).sum().backward()
    from torch.nn.utils import prune as tprune
    for name, m in ticket.masks.items():
        tprune.custom_from_mask(oracle.backbone.get_submodule(name.rsplit('.', 1)[0]), 'weight', m)
    oracle.backbone(x).sum().backward()
    ours = torch.stack([p.grad.norm() for p in model.backbone.parameters() if p.grad is not None]).norm()
    theirs = torch.stack([p.grad.norm() for p in oracle.backbone.parameters() if p.grad is not None]).norm()
    assert torch.allclose(ours, theirs, rtol=1e-5)


def test_adam_moments_are_zeroed(model_and_ticket):
    model, ticket = model_and_ticket
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3)
    model(torch.randn(2, 3, 32, 32)).sum().backward()
    opt.step()
    masks = apply_ticket(ticket, model, opt)
    for _, p, m in masks.pairs(model):
        for key in ('exp_avg', 'exp_avg_sq'):
            assert int((opt.state[p][key][m == 0] != 0).sum()) == 0


def test_state_dict_has_stock_keys_and_zeros(model_and_ticket):
    model, ticket = model_and_ticket
    keys = set(model.state_dict())
    attach_ticket(model, ticket)
    with torch.no_grad():
        for p in model.parameters():
            p.fill_(1.0)  # written by hand: unmasked until the next forward or load
    sd = model.state_dict()
    assert set(sd) == keys  # masks are non-persistent buffers: no new key, no weight_orig
    for prefix in ('backbone.', 'encoder_k.module.0.'):
        for name, m in ticket.masks.items():
            assert int((sd[prefix + name][~m] != 0).sum()) == 0 and bool((sd[prefix + name][m] == 1).all())
    assert pruned_nonzero(model, ticket) > 0  # saved as zeros, the live weights were not touched
    model.load_state_dict({k: torch.ones_like(v) if v.is_floating_point() else v for k, v in sd.items()})
    assert pruned_nonzero(model, ticket) == 0  # every load is masked


@pytest.mark.parametrize('dtype', [torch.float64, torch.bfloat16])
def test_masks_follow_a_dtype_move(model_and_ticket, dtype):
    model, ticket = model_and_ticket
    masks = attach_ticket(model, ticket)
    model.to(dtype)
    opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9, weight_decay=1e-3)
    train_steps(model, opt, dtype=dtype)
    for name, p, m in masks.pairs(model):
        assert p.dtype == dtype and m.dtype == torch.uint8
        assert int((p[m == 0] != 0).sum()) == 0 and int((p.grad[m == 0] != 0).sum()) == 0, name
        assert int((opt.state[p]['momentum_buffer'][m == 0] != 0).sum()) == 0
    sd = model.state_dict()
    model.load_state_dict({k: torch.ones_like(v) if v.is_floating_point() else v for k, v in sd.items()})
    assert pruned_nonzero(model, ticket) == 0 and pruned_nonzero(model, ticket, 'encoder_k.module.0.') == 0


def test_masks_follow_a_device_move(model_and_ticket):
    """After ``.to('meta')`` (a stand-in for ``.cuda()``) the masks sit with the parameters they act on."""
    model, ticket = model_and_ticket
    masks = attach_ticket(model, ticket)
    old = {n: p for n, p in model.named_parameters()}
    model.to('meta')
    for name, p, m in masks.pairs(model):
        assert p.device.type == 'meta' and m.device.type == 'meta'
        assert p is dict(model.named_parameters())[name]
    assert any(p is not old[n] for n, p in model.named_parameters())  # the move made new parameters
    opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    x = torch.empty(2, 3, 32, 32, device='meta')
    model(x).sum().backward()  # masks, gradient hooks: all on meta, no device mismatch
    opt.step()
    masks.apply_to_optimizer(model, opt)
    assert all(t.device.type == 'meta' for t in model.state_dict().values())
    model.load_state_dict(model.state_dict())


def test_a_deep_copy_masks_its_own_weights(model_and_ticket):
    model, ticket = model_and_ticket
    attach_ticket(model, ticket)
    twin = copy.deepcopy(model)
    assert attached_masks(twin) is not attached_masks(model)
    for target, other in ((twin, model), (model, twin)):  # the copy first, then the original
        with torch.no_grad():
            for m in (target, other):
                for p in m.parameters():
                    p.fill_(1.0)
        target(torch.randn(2, 3, 32, 32))  # its forward masks its own weights...
        assert pruned_nonzero(target, ticket) == 0
        assert pruned_nonzero(other, ticket) > 0  # ...and leaves the other one alone
    # gradients of the copy are masked by the copy's hooks; the original gets none
    twin.zero_grad()
    model.zero_grad(set_to_none=True)
    twin(torch.randn(2, 3, 32, 32)).sum().backward()
    for name, p, m in attached_masks(twin).pairs(twin):
        assert p.grad is not None and int((p.grad[m == 0] != 0).sum()) == 0, name
    assert all(p.grad is None for p in model.parameters())


def test_pickled_model_keeps_its_ticket(model_and_ticket):
    model, ticket = model_and_ticket
    attach_ticket(model, ticket)
    back = pickle.loads(pickle.dumps(model))
    with torch.no_grad():
        for p in back.parameters():
            p.fill_(1.0)
    back(torch.randn(2, 3, 32, 32))
    assert pruned_nonzero(back, ticket) == 0 and attached_masks(back).ticket == ticket


def test_forward_masking_can_be_off(model_and_ticket):
    model, ticket = model_and_ticket
    masks = attach_ticket(model, ticket, mask_weights_on_forward=False)
    with torch.no_grad():
        model.backbone.layer1[0].conv1.weight.fill_(1.0)
    model(torch.randn(2, 3, 32, 32))
    assert masks.count_nonzero_pruned(model) > 0
    masks.apply(model)
    assert masks.count_nonzero_pruned(model) == 0


def test_a_new_ticket_replaces_the_masks_in_place(model_and_ticket):
    model, ticket = model_and_ticket
    first = attach_ticket(model, ticket)
    weights = select_prunable(dict(model.named_parameters()), prefix='backbone.')
    sparser = prune(weights, ticket, rounds=2)
    assert attach_ticket(model, sparser) is first and first.ticket is sparser
    assert pruned_nonzero(model, sparser) == 0
    model(torch.randn(2, 3, 32, 32)).sum().backward()
    for name, p, m in first.pairs(model):
        assert int((p.grad[m == 0] != 0).sum()) == 0, name
        assert len(p._post_accumulate_grad_hooks) == 1  # one gradient hook per parameter, not one per attach


def test_detach_removes_buffers_and_hooks(model_and_ticket):
    model, ticket = model_and_ticket
    keys = {n for n, _ in model.named_buffers()}
    attach_ticket(model, ticket)
    model(torch.randn(2, 3, 32, 32)).sum().backward()
    detach_ticket(model)
    assert {n for n, _ in model.named_buffers()} == keys and attached_masks(model) is None
    with torch.no_grad():
        for p in model.parameters():
            p.fill_(1.0)
    model.zero_grad()
    model(torch.randn(2, 3, 32, 32)).sum().backward()
    assert pruned_nonzero(model, ticket) > 0
    assert all(bool((p.grad != 0).any()) for p in model.backbone.layer1.parameters())
    assert int((model.state_dict()['backbone.layer1.0.conv1.weight'] == 0).sum()) == 0


def test_a_model_masked_inside_cannot_take_a_second_ticket(model_and_ticket):
    model, ticket = model_and_ticket
    attach_ticket(model.backbone, ticket, prefixes=[''])
    with pytest.raises(TicketBindingError, match='already carries a ticket attached to another module'):
        attach_ticket(model, ticket)


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
    masks = attach_ticket(model, ticket, prefixes=['backbone.'])
    assert all(m.dtype == torch.uint8 for _, _, m in masks.pairs(model))
    assert sum(m.numel() * m.element_size() for _, _, m in masks.pairs(model)) == ticket.numel


def test_deep_stem_backbone_is_refused_with_a_reason():
    from mmseg.models.backbones import ResNetV1c
    ticket = Ticket.dense(select_prunable(dict(torchvision.models.resnet50().named_parameters())))
    with pytest.raises(TicketBindingError, match=r"deep-stem ResNet \('stem.0.weight'\).*deep_stem=False"):
        apply_ticket(ticket, ResNetV1c(depth=50))


def test_fsdp_is_refused_with_the_alternative_named(model_and_ticket, tmp_path):
    """FSDP2 (``fully_shard``) turns parameters into sharded DTensors; FSDP1 needs an accelerator to build."""
    import torch.distributed as dist
    from torch.distributed.device_mesh import init_device_mesh
    from torch.distributed.fsdp import fully_shard

    from ltcv_mm.hooks.runner_access import unwrap
    model, ticket = model_and_ticket
    dist.init_process_group('gloo', store=dist.FileStore(str(tmp_path / 'store'), 1), rank=0, world_size=1)
    try:
        sharded = fully_shard(model.backbone, mesh=init_device_mesh('cpu', (1,)))
        for call in (lambda: attach_ticket(sharded, ticket, prefixes=['']), lambda: unwrap(sharded)):
            with pytest.raises(TicketBindingError, match=r'FSDP.*train tickets with DDP.*ZeroRedundancyOptimizer'):
                call()
        with pytest.raises(TicketBindingError, match=r'backbone is wrapped in FSDP \(FSDPResNet\)'):
            attach_ticket(model, ticket)
    finally:
        dist.destroy_process_group()


def test_whole_model_ticket_binds_layers_outside_the_backbone_by_full_name():
    torch.manual_seed(0)
    model = nn.ModuleDict({'backbone': torchvision.models.resnet18(), 'neck': nn.Sequential(nn.Linear(512, 8))})
    from ltcv_mm.core import prune, select_model_prunable, select_prunable
    params = dict(model.named_parameters())
    weights = {**select_prunable(params), **select_model_prunable(params)}
    assert 'neck.0.weight' in weights and 'backbone.fc.weight' not in weights  # torchvision's fc: a ResNet's own
    ticket = prune(weights, rounds=3)
    masks = attach_ticket(model, ticket)
    assert masks.prefixes == ['backbone.']  # the neck is bound by full name, under no backbone prefix
    assert 'neck.0.weight' in masks.names
    m = ticket.masks['neck.0.weight']
    assert int(torch.count_nonzero(model['neck'][0].weight[~m])) == 0
    with torch.no_grad():
        model['neck'][0].weight.add_(1.0)
    model['neck'](torch.randn(2, 512))  # a submodule called on its own keeps its own weights
    masks.apply(model)
    assert int(torch.count_nonzero(model['neck'][0].weight[~m])) == 0
    with pytest.raises(TicketBindingError, match="match no parameter of the model, first 'neck.0.weight'"):
        attach_ticket(nn.ModuleDict({'backbone': torchvision.models.resnet18()}), ticket)


def test_a_mask_object_acts_on_the_module_it_is_given_a_deep_copy_included():
    """TicketMasks resolves its layers in the root passed to it: used on a deep copy of its module, it
    masks the copy, not the module whose layers it looked up first."""
    from ltcv_mm.core import prune, select_prunable
    torch.manual_seed(0)
    model = torchvision.models.resnet18()
    ticket = prune(select_prunable(dict(model.named_parameters())), rounds=1, rate=0.5)
    attach_ticket(model, ticket)
    masks = attached_masks(model)
    twin = copy.deepcopy(model)
    masks.apply(model)  # looks the layers up in the original first
    with torch.no_grad():
        for p in model.parameters():
            p.fill_(2.0)
        for p in twin.parameters():
            p.fill_(1.0)
    masks.apply(twin)
    for name, mask in ticket.masks.items():
        assert torch.equal(twin.get_parameter(name), mask.float()), name  # pruned 0, kept 1
        assert bool((model.get_parameter(name) == 2.0).all()), name  # the original untouched


def test_gradients_stay_masked_after_a_move_that_makes_new_parameters(model_and_ticket):
    """A move may give the module new Parameter objects (torch's overwrite_module_params_on_conversion,
    as some device moves do): the new ones get their gradient hooks, and a real backward leaves every
    pruned gradient exactly zero (the meta-device move test cannot look at gradient values)."""
    model, ticket = model_and_ticket
    masks = attach_ticket(model, ticket)
    old = dict(model.named_parameters())
    before = torch.__future__.get_overwrite_module_params_on_conversion()
    torch.__future__.set_overwrite_module_params_on_conversion(True)
    try:
        model.to(torch.float64)
    finally:
        torch.__future__.set_overwrite_module_params_on_conversion(before)
    assert all(p is not old[n] for n, p in model.named_parameters())
    model(torch.randn(2, 3, 32, 32, dtype=torch.float64)).sum().backward()
    for name, p, m in masks.pairs(model):
        assert p.grad is not None and int((p.grad[m == 0] != 0).sum()) == 0, name
        assert int((p.grad[m == 1] != 0).sum()) > 0, name  # a real gradient


def test_apply_ticket_refuses_what_is_no_optimizer(model_and_ticket):
    model, ticket = model_and_ticket
    with pytest.raises(TypeError, match=r"apply_ticket: optimizer must be a torch.optim.Optimizer \(or None\), "
                                        r"got 'adam'"):
        apply_ticket(ticket, model, 'adam')
