"""ltcv.NegLogMeanProbLoss in mmpretrain's SimCLR equals the authors' SimCLR loss (SimCLR/utils.py:79-80),
computed here independently from the projected features."""
import pytest
import torch

import ltcv_mm  # noqa: F401

from tiny_runs import NARROW_R50


def _authors_loss(z: torch.Tensor, t: float) -> torch.Tensor:
    """Views 2k and 2k+1 are one image's; p_j = exp(s(j, partner) / t) / sum_{k != j} exp(s(j, k) / t) over
    cosine similarities; the loss is -log of the mean of p_j."""
    z = z.double()
    z = z / z.norm(dim=1, keepdim=True)
    e = torch.exp(z @ z.t() / t)
    partner = torch.arange(len(z)) ^ 1
    p = e[torch.arange(len(z)), partner] / (e.sum(1) - e.diagonal())
    return -torch.log(p.mean()), -torch.log(p).mean()


def _simclr(loss: dict):
    from mmengine.registry import DefaultScope
    from mmpretrain.registry import MODELS
    with DefaultScope.overwrite_default_scope('mmpretrain'):
        return MODELS.build(dict(
            type='SimCLR', backbone=dict(type='ResNet', **NARROW_R50),
            neck=dict(type='MoCoV2Neck', in_channels=256, hid_channels=32, out_channels=16, with_avg_pool=True),
            head=dict(type='ContrastiveHead', loss=loss, temperature=0.5)))


def test_simclr_with_the_authors_loss_computes_their_value():
    torch.manual_seed(0)
    model = _simclr(dict(type='ltcv.NegLogMeanProbLoss'))
    stock = _simclr(dict(type='CrossEntropyLoss'))
    stock.load_state_dict(model.state_dict())
    views = [torch.randn(6, 3, 32, 32), torch.randn(6, 3, 32, 32)]
    loss = model.loss(views, [])['loss']
    stock_loss = stock.loss(views, [])['loss']
    with torch.no_grad():  # the same forward, features taken before the loss (BatchNorm in train mode both times)
        z = model.neck(model.backbone(torch.stack(views, 1).reshape(12, 3, 32, 32)))[0]
    authors, mean_nll = _authors_loss(z, 0.5)
    assert loss.item() == pytest.approx(authors.item(), rel=1e-5)
    assert stock_loss.item() == pytest.approx(mean_nll.item(), rel=1e-5)  # mmpretrain's: the mean of -log p
    assert loss.item() < stock_loss.item()  # Jensen: never larger, here strictly
    loss.backward()
    assert model.backbone.layer1[0].conv1.weight.grad.abs().sum() > 0


def test_half_logits_give_a_float_loss_and_the_weight_scales():
    from ltcv_mm.models import NegLogMeanProbLoss
    logits = torch.randn(8, 5)
    target = torch.zeros(8, dtype=torch.long)
    full = NegLogMeanProbLoss()(logits, target)
    half = NegLogMeanProbLoss()(logits.half(), target)
    assert half.dtype == torch.float32 and half.item() == pytest.approx(full.item(), abs=2e-3)
    assert NegLogMeanProbLoss(loss_weight=2.0)(logits, target).item() == pytest.approx(2 * full.item())
    p = logits.softmax(1)[:, 0]
    assert full.item() == pytest.approx(-torch.log(p.mean()).item(), rel=1e-6)
