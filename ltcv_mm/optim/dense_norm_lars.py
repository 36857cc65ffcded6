"""DenseNormLARS: LARS whose trust ratio sees a pruned layer's dense weight, as the authors' LARS does."""
from __future__ import annotations

import torch
from mmpretrain.engine.optimizers import LARS

from ..registry import OPTIMIZERS

PRUNED_SQ_NORM = 'pruned_sq_norm'  # optimizer state: the squared norm of a layer's pruned entries


@OPTIMIZERS.register_module()
class DenseNormLARS(LARS):
    """mmpretrain's LARS, with each layer's weight norm taken over its dense weight, pruned entries included.

    The authors prune SimCLR through ``torch.nn.utils.prune``: the parameter LARS updates is
    ``weight_orig``, whose pruned entries keep the values of the last rewind (the pre-trained ones),
    and the trust ratio ``eta ||w|| / (||g|| + wd ||w||)`` takes ``||w||`` over all of it
    (SimCLR/pruning.py:18-27, optimizer/lars.py:78-86). Here pruned weights are exact zeros, so plain
    LARS takes the norm of the kept weights only: a smaller trust ratio as sparsity grows. This one
    adds ``state[p]['pruned_sq_norm']`` to ``||p||^2`` for the ratio; ``ltcv.DenseNormLARSHook`` sets it
    from the rewind point each time the ticket changes. Without it, it is mmpretrain's LARS exactly.
    The update itself is the same: the pruned entries' own (weight-decay) updates are hidden by the
    mask in the authors' code and zeroed here.
    """

    @torch.no_grad()
    def step(self, closure=None) -> torch.Tensor | None:
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for group in self.param_groups:
            wd, momentum, dampening = group['weight_decay'], group['momentum'], group['dampening']
            for p in group['params']:
                if p.grad is None:
                    continue
                d_p = p.grad
                if group.get('lars_exclude', False):
                    local_lr = 1.
                else:
                    extra = self.state[p].get(PRUNED_SQ_NORM) if p in self.state else None
                    weight_norm = torch.norm(p).item() if extra is None else \
                        (torch.norm(p).item() ** 2 + float(extra)) ** 0.5
                    grad_norm = torch.norm(d_p).item()
                    local_lr = group['eta'] * weight_norm / (grad_norm + wd * weight_norm + self.eps) \
                        if weight_norm != 0 and grad_norm != 0 else 1.
                d_p = d_p.add(p, alpha=wd).mul(local_lr * group['lr'])
                if momentum != 0:
                    state = self.state[p]
                    if 'momentum_buffer' not in state:
                        buf = state['momentum_buffer'] = torch.clone(d_p).detach()
                    else:
                        buf = state['momentum_buffer']
                        buf.mul_(momentum).add_(d_p, alpha=1 - dampening)
                    d_p = d_p.add(buf, alpha=momentum) if group['nesterov'] else buf
                p.add_(-d_p)
        return loss
