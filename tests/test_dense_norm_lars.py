"""ltcv.DenseNormLARS: mmpretrain's LARS, with the authors' trust ratio over a pruned layer's dense weight
(their torch.nn.utils.prune weight_orig), fed by ltcv.DenseNormLARSHook from the IMP rewind point."""
import pytest
import torch
from mmengine.config import Config
from mmengine.runner import Runner
from mmpretrain.engine.optimizers import LARS

import ltcv_mm  # noqa: F401
from ltcv_mm.hooks.runner_access import find_hook, unwrap
from ltcv_mm.optim import DenseNormLARS
from ltcv_mm.optim.dense_norm_lars import PRUNED_SQ_NORM

from tiny_runs import tiny_selfsup_cfg, write_colour_folder

SETTINGS = dict(lr=0.1, momentum=0.9, weight_decay=1e-6, eta=1e-3)


def test_without_pruned_norms_it_is_mmpretrains_lars():
    torch.manual_seed(0)
    ours = [torch.nn.Parameter(torch.randn(8, 4, 3, 3)), torch.nn.Parameter(torch.randn(8))]
    stock = [torch.nn.Parameter(p.detach().clone()) for p in ours]
    opt_ours, opt_stock = DenseNormLARS(ours, **SETTINGS), LARS(stock, **SETTINGS)
    for _ in range(3):
        grads = [torch.randn_like(p) for p in ours]
        for p, q, g in zip(ours, stock, grads):
            p.grad, q.grad = g.clone(), g.clone()
        opt_ours.step(), opt_stock.step()
    assert all(torch.equal(p, q) for p, q in zip(ours, stock))


def _authors_step(w_orig, buf, grad, lr, momentum, weight_decay, eta):
    """One LARS step on weight_orig (dense: pruned entries keep their values), as optimizer/lars.py."""
    w_norm, g_norm = w_orig.norm(), grad.norm()
    trust = eta * w_norm / (g_norm + weight_decay * w_norm)
    d = (grad + weight_decay * w_orig) * trust * lr
    buf = d.clone() if buf is None else buf * momentum + d
    return w_orig - buf, buf


def test_with_the_pruned_norm_the_kept_weights_move_as_the_authors():
    torch.manual_seed(0)
    dense = torch.randn(16, 8, 3, 3, dtype=torch.float64)
    kept = dense.abs() > dense.abs().flatten().kthvalue(int(0.8 * dense.numel())).values  # 80 % pruned
    p = torch.nn.Parameter(dense * kept)
    opt = DenseNormLARS([p], **SETTINGS)
    opt.state[p][PRUNED_SQ_NORM] = torch.tensor(float((dense[~kept] ** 2).sum()))
    plain = torch.nn.Parameter(dense * kept)
    opt_plain = LARS([plain], **SETTINGS)
    w_orig, buf = dense.clone(), None
    for _ in range(3):
        grad = torch.randn_like(dense) * kept  # the gradient of a masked weight: zero where pruned
        p.grad, plain.grad = grad.clone(), grad.clone()
        opt.step(), opt_plain.step()
        w_orig, buf = _authors_step(w_orig, buf, grad, **SETTINGS)
    p, plain = p.detach(), plain.detach()
    assert torch.allclose(p[kept], w_orig[kept], rtol=1e-7, atol=0)
    moved_ours, moved_plain = (p - dense)[kept].norm(), (plain - dense)[kept].norm()
    # the kept weights are the largest: at 80 % sparsity they hold most of the norm, but not all
    ratio = (dense * kept).norm() / dense.norm()
    assert (moved_plain / moved_ours).item() == pytest.approx(ratio.item(), rel=1e-3)


def test_hook_gives_each_pruned_layer_the_norm_of_its_rewound_pruned_entries(tmp_path):
    data = write_colour_folder(tmp_path / 'data', per_class=4)
    cfg = tiny_selfsup_cfg(tmp_path / 'work', data, 'SimCLR', max_epochs=1)
    cfg['optim_wrapper'] = dict(optimizer=dict(type='ltcv.DenseNormLARS', lr=0.1, momentum=0.9,
                                               weight_decay=1e-6, eta=1e-3))
    cfg['custom_hooks'] = [dict(type='ltcv.IMPHook', rate=0.5, rounds=2, prune_first=True, rewind='pt',
                                rewind_keys=['backbone.*'], restart_optimizer=False),
                           dict(type='ltcv.DenseNormLARSHook')]
    runner = Runner.from_cfg(Config(cfg))
    runner.train()
    from ltcv_mm.hooks import IMPHook
    imp = find_hook(runner, IMPHook)
    snapshot, ticket = imp.rewind.snapshot, imp.ticket
    assert ticket.sparsity == pytest.approx(0.75, abs=1e-3)  # the second pruning (round 2's ticket)
    params = dict(unwrap(runner.model).named_parameters())
    state = runner.optim_wrapper.optimizer.state
    checked = 0
    for name, mask in ticket.masks.items():
        key = 'backbone.' + name
        want = float((snapshot[key][~mask] ** 2).sum())
        assert state[params[key]][PRUNED_SQ_NORM].item() == pytest.approx(want, rel=1e-6), key
        assert torch.count_nonzero(params[key][~mask]) == 0
        checked += 1
    assert checked == len(ticket.masks) > 40
