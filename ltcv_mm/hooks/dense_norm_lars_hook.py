"""DenseNormLARSHook: tell DenseNormLARS the norm of what each pruning took out of a layer."""
from __future__ import annotations

import torch
from mmengine.hooks import Hook

from ..core import ticket_holders
from ..optim.dense_norm_lars import PRUNED_SQ_NORM, DenseNormLARS
from ..registry import HOOKS
from .imp_hook import IMPHook
from .mask_apply_hook import MaskApplyHook
from .runner_access import find_hook, optimizers, unwrap


@HOOKS.register_module()
class DenseNormLARSHook(Hook):
    """Each time the ticket changes, set every masked layer's ``pruned_sq_norm`` in DenseNormLARS: the
    squared norm of its pruned entries at the IMP run's rewind point (the values the authors'
    ``weight_orig`` holds there after their rewind; their weight decay of 1e-6 moves them by a factor
    of about 1 - 1e-10 a step, which is left out). With no rewind point (a fixed ticket), the pruned
    entries of the weights the ticket was applied to are unknown and the hook refuses.

    Runs after IMPHook (priority LOW), at the first iteration of each round and after a resume.
    """

    priority = 'LOW'

    def __init__(self) -> None:
        self._seen = None

    def before_train_iter(self, runner, batch_idx: int, data_batch=None) -> None:
        """Under each new ticket, once: give LARS the pruned entries' squared norm (from the rewind point)."""
        masker = find_hook(runner, MaskApplyHook)
        ticket = None if masker is None else masker.ticket
        if ticket is None or ticket is self._seen:
            return
        self._seen = ticket
        lars = [opt for opt in optimizers(runner) if isinstance(getattr(opt, 'optim', opt), DenseNormLARS)]
        if not lars:
            return
        imp = find_hook(runner, IMPHook)
        snapshot = None if imp is None else imp.rewind.snapshot
        if snapshot is None:
            raise ValueError('DenseNormLARSHook: the trust ratio over dense weights needs the pruned entries\' '
                             'values, which come from an IMPHook rewind point; this run has none')
        model = unwrap(runner.model)
        for holder, masks in ticket_holders(model):  # the model itself: EMA copies have no optimizer
            if holder is not model:
                continue
            for full, param, mask in masks.pairs(model):
                ref = snapshot.get(full)
                if ref is None:
                    raise ValueError(f'DenseNormLARSHook: {full} is pruned but not in the rewind point '
                                     f'(rewind_keys); its pruned entries\' values are unknown')
                value = torch.tensor(float((ref.to(mask.device).float()[mask == 0] ** 2).sum()))
                for opt in lars:
                    getattr(opt, 'optim', opt).state[param][PRUNED_SQ_NORM] = value
