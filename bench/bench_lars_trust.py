#!/usr/bin/env python
"""How far the authors' LARS trust ratio (over a pruned layer's dense weight_orig) is from plain LARS's
(over the kept weights) at 20 %, 59 % and 90 % sparsity, on a real SimCLR gradient.

A ResNet-50 (torchvision's initialisation: no pre-trained file is reachable here) in mmpretrain's SimCLR
with the paper config's head (2048-2048-128) and loss (ltcv.NegLogMeanProbLoss, temperature 0.5), one
batch of 16 digit images (scikit-learn's, 64 px) in two views (random crops and flips). The backbone is
pruned by global magnitude, 20 % a round as IMP does, for 1, 4 and 10 rounds (20.0 %, 59.0 %, 89.3 %);
one gradient of the pruned network; for every pruned layer, the trust ratio eta ||w|| / (||g|| + wd ||w||)
with ||w|| over the dense weight (the authors') and over the kept weights (plain LARS), the same
gradient in both. Prints, per sparsity, the ratio plain / authors' over the layers (median, range) and
the share of layers below 0.9. Both LARS give a layer the same update direction; the ratio is the
factor by which plain LARS shrinks the step.
"""
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import ltcv_mm  # noqa: E402,F401
from demo import digits  # noqa: E402
from ltcv_mm.core import attach_ticket, prune, select_prunable  # noqa: E402

ETA, WD = 1e-3, 1e-6


def _views(n: int, size: int, rng: np.random.Generator) -> list[torch.Tensor]:
    glyphs, _ = digits.load_digits()
    images = np.stack([digits.resize(glyphs[i], size + 16) for i in rng.choice(len(glyphs), n, replace=False)])
    images = torch.from_numpy(images).float()[:, None].repeat(1, 3, 1, 1) / 255
    out = []
    for _ in range(2):
        y, x = rng.integers(0, 17, 2)
        view = images[:, :, y:y + size, x:x + size]
        out.append(view.flip(3) if rng.random() < 0.5 else view)
    return [(v - 0.5) / 0.25 for v in out]


def main():
    from mmengine.registry import DefaultScope
    from mmpretrain.registry import MODELS
    torch.manual_seed(0)
    rng = np.random.default_rng(0)
    t0 = time.time()
    with DefaultScope.overwrite_default_scope('mmpretrain'):
        model = MODELS.build(dict(
            type='SimCLR', backbone=dict(type='ResNet', depth=50, zero_init_residual=False),
            neck=dict(type='MoCoV2Neck', in_channels=2048, hid_channels=2048, out_channels=128, with_avg_pool=True),
            head=dict(type='ContrastiveHead', loss=dict(type='ltcv.NegLogMeanProbLoss'), temperature=0.5)))
    model.init_weights()
    dense = {k: v.detach().clone() for k, v in model.backbone.named_parameters()}
    views = _views(16, 64, rng)
    print('sparsity  layers  plain / authors trust ratio: median  min     max     layers below 0.9')
    for rounds in (1, 4, 10):
        model.backbone.load_state_dict({**model.backbone.state_dict(), **dense})
        ticket = prune(select_prunable(dense), rounds=rounds)
        attach_ticket(model.backbone, ticket)
        model.zero_grad()
        model.loss(views, [])['loss'].backward()
        ratios = []
        for name, mask in ticket.masks.items():
            w = dict(model.backbone.named_parameters())[name]
            g_norm, kept, full = w.grad.norm().item(), w.detach().norm().item(), dense[name].norm().item()
            plain = ETA * kept / (g_norm + WD * kept)
            authors = ETA * full / (g_norm + WD * full)
            ratios.append(plain / authors)
        r = np.array(ratios)
        print(f'{ticket.sparsity:8.1%}  {len(r):6d}  {"":29}{np.median(r):.3f}   {r.min():.3f}   {r.max():.3f}   '
              f'{(r < 0.9).sum()} of {len(r)}')
    print(f'({time.time() - t0:.1f} s)')


if __name__ == '__main__':
    main()
