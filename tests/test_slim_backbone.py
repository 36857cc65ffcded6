"""SlimBackbone in mmpretrain, mmdet (with FPN) and mmseg (dilated, with DeepLabV3+'s head): the backbone cut to
a refilled ticket's channels loads tools/ticket.py slim's checkpoint with no missing or unexpected key and
computes what the dense backbone under the ticket computes (SparseBackbone), to 1e-5."""
import pytest
import torch
from mmengine.registry import DefaultScope

import ltcv_mm  # noqa: F401
from ltcv_mm.core import load_ticket, prune, save_ticket, select_prunable
from ltcv_mm.core.channel_refill import refill_channels
from ltcv_mm.core.channel_slim import slim_ticket
from ltcv_mm.registry import MODELS

from helpers import ROOT, run_tool

TOOL = str(ROOT / 'tools/ticket.py')
STAGES = dict(depth=50, stem_channels=8, base_channels=8, out_indices=(0, 1, 2, 3))
BACKBONES = {
    'mmpretrain': dict(type='mmpretrain.ResNet', **STAGES),
    'mmdet': dict(type='mmdet.ResNet', **STAGES, norm_eval=False),
    # as configs/transfer's DeepLabV3+: mmseg's ResNet with the stock R-50-D8 dilations (plain stem)
    'mmseg': dict(type='mmseg.ResNet', **STAGES, dilations=(1, 1, 2, 4), strides=(1, 2, 1, 1),
                  contract_dilation=True),
}
NECKS = {  # what follows the backbone in the stock detector / segmentor
    'mmdet': dict(type='mmdet.FPN', in_channels=[32, 64, 128, 256], out_channels=16, num_outs=5),
    'mmseg': dict(type='mmseg.DepthwiseSeparableASPPHead', in_channels=256, in_index=3, channels=16,
                  dilations=(1, 12, 24, 36), c1_in_channels=32, c1_channels=8, dropout_ratio=0.0,
                  num_classes=3, norm_cfg=dict(type='BN'), align_corners=False),
}


def _build(cfg, scope):
    with DefaultScope.overwrite_default_scope(scope):
        return MODELS.build(cfg)


@pytest.fixture(scope='module', params=sorted(BACKBONES))
def case(request, tmp_path_factory):
    scope, root = request.param, tmp_path_factory.mktemp(request.param)
    torch.manual_seed(0)
    stock = _build(BACKBONES[scope], scope)
    g = torch.Generator().manual_seed(1)
    with torch.no_grad():  # BatchNorm that matters
        for m in stock.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.running_mean.copy_(torch.randn(m.num_features, generator=g) * 0.1)
                m.running_var.copy_(torch.rand(m.num_features, generator=g) + 0.5)
                m.bias.copy_(torch.randn(m.num_features, generator=g) * 0.1)
    dense = root / 'dense.pth'
    torch.save({'state_dict': {'backbone.' + k: v for k, v in stock.state_dict().items()}}, dense)  # a run's
    weights = select_prunable(dict(stock.named_parameters()))
    ticket = save_ticket(refill_channels(prune(weights, rate=0.7), weights), root / 'refilled.safetensors')
    slim = root / 'slim.pth'
    said = run_tool(TOOL, 'slim', str(ticket), '--weights', str(dense), '-o', str(slim)).stdout
    assert "the backbone under 'backbone.'" in said
    return scope, dense, ticket, slim


def test_the_slim_backbone_loads_its_checkpoint_and_computes_the_masked_dense_backbone(case):
    scope, dense_path, ticket, slim_path = case
    init = dict(type='Pretrained', checkpoint=str(dense_path), prefix='backbone.')
    dense = _build(dict(type='ltcv.SparseBackbone', ticket=str(ticket), backbone={**BACKBONES[scope],
                                                                                   'init_cfg': init}), scope)
    dense.init_weights()
    slim = _build(dict(type='ltcv.SlimBackbone', ticket=str(ticket), backbone=BACKBONES[scope]), scope)
    saved = torch.load(slim_path, weights_only=True)['state_dict']
    small = slim_ticket(load_ticket(ticket))
    for name, mask in small.masks.items():  # the checkpoint itself holds zeros where the ticket prunes
        assert not bool(saved[name][~mask].any()), name
    missing, unexpected = slim.load_state_dict(saved, strict=True)
    assert not missing and not unexpected
    assert slim.ltcv_masks.ticket == small  # enforced while fine-tuning, as SparseBackbone's ticket
    assert sum(p.numel() for p in slim.parameters()) < sum(p.numel() for p in dense.parameters())
    dense.eval()
    slim.eval()
    x = torch.randn(2, 3, 64, 64, generator=torch.Generator().manual_seed(2))
    with torch.no_grad():
        a, b = dense(x), slim(x)
        for u, v in zip(a, b):
            assert u.shape == v.shape and torch.allclose(u, v, atol=1e-5, rtol=1e-5)
        if scope in NECKS:  # the stock neck / head on top sees the same features
            torch.manual_seed(3)
            after = _build(NECKS[scope], scope).eval()
            if scope == 'mmseg':
                u, v = after(list(a)), after(list(b))
            else:
                u, v = torch.cat([t.flatten() for t in after(a)]), torch.cat([t.flatten() for t in after(b)])
            assert torch.allclose(u, v, atol=1e-5, rtol=1e-5)


def test_a_checkpoint_cut_for_another_ticket_does_not_load(case, tmp_path):
    scope, dense_path, ticket, slim_path = case
    state = torch.load(dense_path, weights_only=True)['state_dict']
    weights = {k: state['backbone.' + k] for k in load_ticket(ticket).masks}
    other = save_ticket(refill_channels(prune(weights, rate=0.4), weights), tmp_path / 'other.safetensors')
    slim = _build(dict(type='ltcv.SlimBackbone', ticket=str(other), backbone=BACKBONES[scope]), scope)
    with pytest.raises(RuntimeError, match='size mismatch'):
        slim.load_state_dict(torch.load(slim_path, weights_only=True)['state_dict'], strict=True)
    with pytest.raises(ValueError, match='not refilled into channels'):
        unstructured = save_ticket(prune(weights, rate=0.4), tmp_path / 'u.safetensors')
        _build(dict(type='ltcv.SlimBackbone', ticket=str(unstructured), backbone=BACKBONES[scope]), scope)


def test_a_copy_moved_to_another_dtype_and_device_keeps_its_residual_masks(case):
    """The residual outputs' masks follow a deep copy into float64 (and to 'meta', a stand-in for a GPU):
    after a real SGD step with momentum and weight decay the copy's pruned weights are still exactly zero."""
    import copy
    scope, _, ticket, slim_path = case
    slim = _build(dict(type='ltcv.SlimBackbone', ticket=str(ticket), backbone=BACKBONES[scope]), scope)
    slim.load_state_dict(torch.load(slim_path, weights_only=True)['state_dict'], strict=True)
    twin = copy.deepcopy(slim).to(torch.float64)
    twin.train()  # (mmdet's ResNet.train returns nothing)
    pairs = list(twin.ltcv_masks.pairs(twin))
    assert pairs and all(p.dtype == torch.float64 and m.device == p.device for _, p, m in pairs)
    opt = torch.optim.SGD(twin.parameters(), lr=0.5, momentum=0.9, weight_decay=0.1)
    for _ in range(2):
        out = twin(torch.randn(2, 3, 32, 32, dtype=torch.float64, generator=torch.Generator().manual_seed(4)))
        sum(o.square().mean() for o in out).backward()
        opt.step()
        opt.zero_grad()
    assert twin.ltcv_masks.count_nonzero_pruned(twin) == 0
    params = dict(twin.named_parameters())
    for name, mask in slim_ticket(load_ticket(ticket)).masks.items():  # the ticket's own zeros, not the copy's
        assert not bool(params[name].detach()[~mask].any()), name
    assert slim.ltcv_masks.count_nonzero_pruned(slim) == 0 and next(slim.parameters()).dtype == torch.float32
    twin.to('meta')
    assert all(p.device.type == 'meta' and m.device.type == 'meta' for _, p, m in twin.ltcv_masks.pairs(twin))
