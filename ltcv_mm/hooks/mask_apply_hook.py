"""MaskApplyHook: pruned weights stay exactly zero, in every copy of the backbone."""
from __future__ import annotations

from typing import Sequence

import torch
from mmengine.hooks import Hook

from ..core import (Ticket, TicketMasks, attach_ticket, check_ticket_fits, detach_ticket, load_ticket,
                    pattern_list, ticket_from_bytes, ticket_to_bytes)
from ..registry import HOOKS
from .runner_access import model_copies, optimizers, unwrap

CHECKPOINT_KEY = 'ltcv_ticket'

# Optimizers whose update of a weight is exactly zero when its gradient, its
# value and its state are zero (SGD with momentum / Nesterov / weight decay,
# Adam, AdamW's decoupled decay, RMSprop, Adagrad, LARS). With gradients
# masked at the end of backward, pruned weights then stay exactly zero by
# themselves, and no weight pass is needed. ZeroRedundancyOptimizer is judged
# by the optimizer it shards.
ZERO_PRESERVING = ('SGD', 'Adam', 'AdamW', 'RMSprop', 'Adagrad', 'LARS')


def optimizer_kind(opt: torch.optim.Optimizer) -> str:
    return type(getattr(opt, 'optim', opt)).__name__


@HOOKS.register_module()
class MaskApplyHook(Hook):
    """Keep a ticket's pruned weights at exactly zero during training and evaluation.

    The ticket is attached (``ltcv_mm.core.attach_ticket``) to the model, where
    it binds by canonical name to every copy of the backbone (the online
    backbone, MoCo's momentum encoder ``encoder_k``), and to the averaged
    models of mmengine's EMAHook. The masks are buffers of the model: they
    follow it to any device and dtype. Gradients of pruned weights are zeroed
    at the end of every backward pass, after DDP's averaging and before AMP's
    unscale, gradient clipping and the optimizer step, so momentum and Adam
    moments of pruned weights stay zero and LARS sees the sparse network's
    norms, as with torch.nn.utils.prune. Pruned weights are zeroed when the
    ticket is set, after every load, before validation and test, in every
    saved state dict, and after every step for optimizers not known to keep
    them at zero; the checkpoint also carries the ticket so that ``resume``
    restores it. It runs before EMAHook (priority ABOVE_NORMAL), so averages
    only ever see masked weights.

    Args:
        ticket: a ticket file to fine-tune with; None adopts the ticket of
            the checkpoint loaded (``load_from``), if it has one.
        prefixes: restrict binding to these parameter-name prefixes
            (e.g. ``['backbone.']``); by default every copy binds.
        mask_after_step: also multiply the weights by the masks after every
            step. ``'auto'`` does it unless every optimizer is one of
            ZERO_PRESERVING, whose steps cannot move a pruned weight once its
            gradient is masked (the tests check this after every real step).
        dense: canonical-name patterns of prunable layers that the ticket
            leaves dense on purpose (a ticket made with ``--include``); any
            other prunable layer missing from the ticket is an error.
    """

    priority = 'ABOVE_NORMAL'

    def __init__(self, ticket: str | None = None, prefixes: Sequence[str] | None = None,
                 mask_after_step: bool | str = 'auto', dense: Sequence[str] | None = None) -> None:
        if mask_after_step not in (True, False, 'auto'):
            raise ValueError(f"MaskApplyHook: mask_after_step must be True, False or 'auto', "
                             f"got {mask_after_step!r}")
        self.mask_after_step = mask_after_step
        self.ticket_path = ticket
        self.ticket: Ticket | None = load_ticket(ticket) if ticket else None
        prefixes = pattern_list(prefixes, 'MaskApplyHook prefixes', allow_none=True)
        dense = pattern_list(dense, 'MaskApplyHook dense', allow_none=True)
        self.prefixes = list(prefixes) if prefixes is not None else None
        self.dense = list(dense) if dense is not None else None
        self._attached = False

    # -- the ticket ----------------------------------------------------------
    def set_ticket(self, runner, ticket: Ticket | None) -> None:
        """Adopt ``ticket``, zero its pruned weights and their optimizer state now (IMPHook's new rounds)."""
        self.ticket = ticket
        self._attach(runner)
        self.apply(runner)

    def _attach(self, runner) -> None:
        self._attached = True
        if self.ticket is None:
            for model in model_copies(runner):
                detach_ticket(model)
            return
        what = f'ticket {self.ticket_path}' if self.ticket_path else 'ticket'
        for i, model in enumerate(model_copies(runner)):
            # No weight pass before each forward: masked gradients keep pruned weights at
            # zero under ZERO_PRESERVING optimizers; for others after_train_iter masks.
            attach_ticket(model, self.ticket, self.prefixes, what=what + (' (EMA model)' if i else ''),
                          mask_weights_on_forward=False, dense=self.dense)

    def attached(self, runner) -> list[tuple[object, TicketMasks]]:
        """``(module, masks)`` of every module holding the ticket."""
        if self.ticket is None or not self._attached:
            return []
        return [(m, m.ltcv_masks) for m in model_copies(runner)]

    def apply(self, runner, with_optimizer: bool = True) -> None:
        for model, masks in self.attached(runner):
            masks.apply(model)
            if with_optimizer:
                for opt in optimizers(runner):
                    masks.apply_to_optimizer(model, opt)

    def count_nonzero_pruned(self, runner) -> int:
        return sum(masks.count_nonzero_pruned(model) for model, masks in self.attached(runner))

    # -- hook points ---------------------------------------------------------
    def before_train(self, runner) -> None:
        # Not before_run: Runner.train() loads pre-trained weights after it.
        if self.mask_after_step == 'auto':
            kinds = [optimizer_kind(opt) for opt in optimizers(runner)]
            self.mask_after_step = not kinds or any(k not in ZERO_PRESERVING for k in kinds)
        self.set_ticket(runner, self.ticket)

    def after_train_iter(self, runner, batch_idx, data_batch=None, outputs=None) -> None:
        # Gradients were masked at the end of backward; for other optimizers this
        # guarantees exact zeros whatever their update rule does.
        if self.mask_after_step:
            self.apply(runner, with_optimizer=False)

    def _before_eval(self, runner) -> None:
        if not self._attached:  # a val/test-only run
            self._attach(runner)
        self.apply(runner, with_optimizer=False)

    def before_val_epoch(self, runner) -> None:
        self._before_eval(runner)

    def before_test_epoch(self, runner) -> None:
        self._before_eval(runner)

    def before_save_checkpoint(self, runner, checkpoint: dict) -> None:
        if self.ticket is None:
            checkpoint.pop(CHECKPOINT_KEY, None)
            return
        # The state dicts are already masked: the attached ticket masks every state_dict().
        checkpoint[CHECKPOINT_KEY] = torch.frombuffer(bytearray(ticket_to_bytes(self.ticket)), dtype=torch.uint8)

    def after_load_checkpoint(self, runner, checkpoint: dict) -> None:
        # On resume the checkpoint's ticket is the run's own; with load_from it
        # is adopted unless a ticket was given explicitly.
        if CHECKPOINT_KEY in checkpoint and (runner._resume or self.ticket is None):
            data = checkpoint[CHECKPOINT_KEY].numpy().tobytes()
            self.ticket = ticket_from_bytes(data, path=f'checkpoint entry {CHECKPOINT_KEY!r}')
            # now, before mmengine loads the optimizer state of another model and fails inside it
            check_ticket_fits(unwrap(runner.model), self.ticket, self.prefixes, self.dense,
                              what=f'the ticket of the checkpoint loaded (entry {CHECKPOINT_KEY!r})')
