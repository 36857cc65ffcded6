"""SparseBackbone: a stock backbone restricted to a ticket, inside real models and runs."""
import pytest
import torch
import torchvision
from mmengine.config import Config
from mmengine.registry import DefaultScope
from mmengine.runner import Runner

import ltcv_mm  # noqa: F401
from ltcv_mm.core import Ticket, TicketBindingError, load_ticket, prune, save_ticket, select_prunable
from ltcv_mm.registry import MODELS

from tiny_runs import NARROW_R50, tiny_classifier_cfg, write_colour_folder

NARROW = dict(type='mmpretrain.ResNet', **NARROW_R50)


@pytest.fixture(scope='module')
def narrow_ticket(tmp_path_factory):
    from mmpretrain.models.backbones import ResNet
    torch.manual_seed(0)
    stock = ResNet(**NARROW_R50)
    root = tmp_path_factory.mktemp('sb')
    torch.save({'state_dict': stock.state_dict()}, root / 'pretrained.pth')
    path = save_ticket(prune(select_prunable(dict(stock.named_parameters())), rounds=4), root / 't.safetensors')
    return path, root / 'pretrained.pth', stock.state_dict()


def _build(ticket, mode='ticket', **backbone):
    with DefaultScope.overwrite_default_scope('mmpretrain'):
        return MODELS.build(dict(type='ltcv.SparseBackbone', backbone={**NARROW, **backbone},
                                 ticket=str(ticket), mode=mode))


def _pruned_nonzero(module, ticket: Ticket) -> int:
    params = dict(module.named_parameters())
    return sum(int((params[n][~m] != 0).sum()) for n, m in ticket.masks.items())


def test_loads_pretrained_through_init_cfg_then_masks(narrow_ticket):
    path, pretrained, state = narrow_ticket
    backbone = _build(path, init_cfg=dict(type='Pretrained', checkpoint=str(pretrained)))
    from mmpretrain.models.backbones import ResNet
    assert type(backbone) is ResNet  # the stock backbone itself
    backbone.init_weights()
    ticket = load_ticket(path)
    assert _pruned_nonzero(backbone, ticket) == 0
    w = backbone.layer3[1].conv2.weight
    m = ticket.masks['layer3.1.conv2.weight']
    assert torch.equal(w[m], state['layer3.1.conv2.weight'][m])
    # loading unmasked weights later (resume, load_from) is masked right away
    backbone.load_state_dict(state)
    assert _pruned_nonzero(backbone, ticket) == 0
    assert set(backbone.state_dict()) == set(state)  # stock keys, nothing added


def test_reverse_and_random_modes(narrow_ticket):
    path, _, _ = narrow_ticket
    ticket = load_ticket(path)
    rev = _build(path, mode='reverse').ltcv_masks.ticket
    assert rev.overlap(ticket) == 0.0 and rev.kept == ticket.numel - ticket.kept
    rnd = _build(path, mode='random').ltcv_masks.ticket
    assert rnd.layer_density() == ticket.layer_density() and rnd != ticket
    assert _build(path, mode='random').ltcv_masks.ticket == rnd  # seeded
    with pytest.raises(ValueError, match="unknown mode 'half'"):
        _build(path, mode='half')


def test_fine_tuning_in_a_stock_classifier_keeps_the_ticket(narrow_ticket, tmp_path):
    path, pretrained, _ = narrow_ticket
    write_colour_folder(tmp_path / 'data')
    cfg = tiny_classifier_cfg(tmp_path / 'work', tmp_path / 'data', max_epochs=2)
    cfg['custom_imports'] = dict(imports=['ltcv_mm'])
    cfg['model']['backbone'] = dict(type='ltcv.SparseBackbone', ticket=str(path), backbone=dict(
        NARROW, init_cfg=dict(type='Pretrained', checkpoint=str(pretrained))))
    runner = Runner.from_cfg(Config(cfg))
    runner.train()
    ticket = load_ticket(path)
    ckpt = torch.load(tmp_path / 'work/epoch_2.pth', weights_only=True)
    for name, m in ticket.masks.items():
        saved = ckpt['state_dict']['backbone.' + name]
        assert int((saved[~m] != 0).sum()) == 0, name
    # the kept weights did fine-tune, and the keys are those of the stock classifier
    assert not torch.equal(ckpt['state_dict']['backbone.layer1.0.conv1.weight'],
                           torch.load(pretrained, weights_only=True)['state_dict']['layer1.0.conv1.weight'])
    stock = Runner.from_cfg(Config(tiny_classifier_cfg(tmp_path / 'stock', tmp_path / 'data')))
    assert set(ckpt['state_dict']) == set(stock.model.state_dict())
    momentum = runner.optim_wrapper.optimizer.state
    layer = runner.model.backbone.layer2[0].conv2.weight
    assert int((momentum[layer]['momentum_buffer'][~ticket.masks['layer2.0.conv2.weight']] != 0).sum()) == 0


def test_bad_tickets_are_named(narrow_ticket, tmp_path):
    path, _, _ = narrow_ticket
    with pytest.raises(FileNotFoundError, match='missing.safetensors'):
        _build(tmp_path / 'missing.safetensors')
    r18 = save_ticket(prune(select_prunable(dict(torchvision.models.resnet18().named_parameters()))),
                      tmp_path / 'r18.safetensors')
    with pytest.raises(TicketBindingError,
                       match=r"r18.safetensors.*layer1.0.conv1.weight.*another architecture \(resnet18\)"):
        _build(r18)
    stray = save_ticket(Ticket({'layer9.0.conv1.weight': torch.ones(8, 8, 1, 1, dtype=torch.bool)}),
                        tmp_path / 'stray.safetensors')
    with pytest.raises(TicketBindingError, match='none of its 1 layers'):
        _build(stray)
    with DefaultScope.overwrite_default_scope('mmseg'):
        with pytest.raises(TicketBindingError, match='deep-stem'):
            MODELS.build(dict(type='ltcv.SparseBackbone', ticket=str(path),
                              backbone=dict(type='mmseg.ResNetV1c', depth=50, stem_channels=8, base_channels=8)))


def test_flat_form_keeps_every_inherited_stock_argument(narrow_ticket):
    """type='ltcv.SparseBackbone' over an inherited stock backbone dict: the stock arguments stay."""
    path, _, _ = narrow_ticket
    args = NARROW_R50
    with DefaultScope.overwrite_default_scope('mmpretrain'):
        flat = MODELS.build(dict(type='ltcv.SparseBackbone', wraps='ResNet', ticket=str(path),
                                 frozen_stages=2, **args))
        with pytest.raises(ValueError, match='exactly one of'):
            MODELS.build(dict(type='ltcv.SparseBackbone', ticket=str(path), **args))
        with pytest.raises(ValueError, match='got both'):
            MODELS.build(dict(type='ltcv.SparseBackbone', ticket=str(path), wraps='ResNet', backbone=NARROW))
        with pytest.raises(ValueError, match=r"unexpected arguments \['depth'\]"):
            MODELS.build(dict(type='ltcv.SparseBackbone', ticket=str(path), backbone=NARROW, depth=50))
        with pytest.raises(ValueError, match='no ticket given; set model.backbone.ticket'):
            MODELS.build(dict(type='ltcv.SparseBackbone', ticket=None, wraps='ResNet', **args))
        with pytest.raises(ValueError, match='ticket must be the path of a ticket file, got 5'):
            MODELS.build(dict(type='ltcv.SparseBackbone', ticket=5, wraps='ResNet', **args))
    assert flat.frozen_stages == 2 and not flat.layer2[0].conv1.weight.requires_grad
    assert _pruned_nonzero(flat, load_ticket(path)) == 0


def test_stock_backbone_cfg_of_either_form():
    from ltcv_mm.models import stock_backbone_cfg
    flat = dict(type='ltcv.SparseBackbone', wraps='mmdet.ResNet', ticket='t', mode='random', seed=3, depth=50,
                frozen_stages=1)
    assert stock_backbone_cfg(flat) == dict(type='mmdet.ResNet', depth=50, frozen_stages=1)
    nested = dict(type='ltcv.SparseBackbone', ticket='t', backbone=dict(type='mmdet.ResNet', depth=50))
    assert stock_backbone_cfg(nested) == dict(type='mmdet.ResNet', depth=50)


def test_ema_hook_averages_only_the_ticket(narrow_ticket, tmp_path):
    """mmengine's EMAHook copies the model; the averaged backbone keeps the pruned weights at zero."""
    path, pretrained, _ = narrow_ticket
    write_colour_folder(tmp_path / 'data')
    cfg = tiny_classifier_cfg(tmp_path / 'work', tmp_path / 'data', max_epochs=2)
    cfg['custom_imports'] = dict(imports=['ltcv_mm'])
    cfg['custom_hooks'] = [dict(type='EMAHook', momentum=0.5)]
    cfg['model']['backbone'] = dict(type='ltcv.SparseBackbone', ticket=str(path), wraps='ResNet',
                                    **NARROW_R50,
                                    init_cfg=dict(type='Pretrained', checkpoint=str(pretrained)))
    Runner.from_cfg(Config(cfg)).train()
    ckpt = torch.load(tmp_path / 'work/epoch_2.pth', weights_only=True)
    ticket = load_ticket(path)
    ema = {k.replace('module.', '', 1): v for k, v in ckpt['ema_state_dict'].items()}
    moved = 0
    for name, m in ticket.masks.items():
        for sd in (ckpt['state_dict'], ema):
            assert int((sd['backbone.' + name][~m] != 0).sum()) == 0, name
        moved += int((ema['backbone.' + name] != ckpt['state_dict']['backbone.' + name]).sum())
    assert moved > 0  # the average is a real, different copy
