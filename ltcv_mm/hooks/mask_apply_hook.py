"""MaskApplyHook: pruned weights stay exactly zero, in every copy of the backbone."""
from __future__ import annotations

from typing import Sequence

import torch
from mmengine.hooks import Hook

from ..core import BoundTicket, Ticket, load_ticket, mask_state_dict, ticket_from_bytes, ticket_to_bytes
from ..registry import HOOKS
from .runner_access import ema_models, optimizers, unwrap

CHECKPOINT_KEY = 'ltcv_ticket'

# Optimizers whose update of a weight is exactly zero when its gradient, its
# value and its state are zero (SGD with momentum / Nesterov / weight decay,
# Adam, AdamW's decoupled decay, RMSprop, Adagrad, LARS). With gradients
# masked before each step, pruned weights then stay exactly zero by
# themselves, and the weight pass after the step can be skipped.
ZERO_PRESERVING = ('SGD', 'Adam', 'AdamW', 'RMSprop', 'Adagrad', 'LARS')


@HOOKS.register_module()
class MaskApplyHook(Hook):
    """Keep a ticket's pruned weights at exactly zero during training and evaluation.

    The ticket binds by canonical name to every copy of the backbone in the
    model (the online backbone, MoCo's momentum encoder ``encoder_k``) and in
    the averaged models of mmengine's EMAHook. Gradients of pruned weights are
    zeroed before every optimizer step (a step pre-hook on each optimizer), so
    momentum and Adam moments of pruned weights stay zero and LARS sees the
    sparse network's norms, as with torch.nn.utils.prune. Pruned weights are
    zeroed before the first forward, after every optimizer step, before
    validation and test, and in every saved checkpoint, which also carries the
    ticket so that ``resume`` restores it. It runs before EMAHook (priority
    ABOVE_NORMAL), so averages only ever see masked weights.

    Args:
        ticket: a ticket file to fine-tune with; None keeps the model dense
            until IMPHook hands over a ticket.
        prefixes: restrict binding to these parameter-name prefixes
            (e.g. ``['backbone.']``); by default every copy binds.
        mask_after_step: also multiply the weights by the masks after every
            step. ``'auto'`` does it unless every optimizer is one of
            ZERO_PRESERVING, whose steps cannot move a pruned weight once its
            gradient is masked (the tests check this after every real step).
    """

    priority = 'ABOVE_NORMAL'

    def __init__(self, ticket: str | None = None, prefixes: Sequence[str] | None = None,
                 mask_after_step: bool | str = 'auto') -> None:
        if mask_after_step not in (True, False, 'auto'):
            raise ValueError(f"MaskApplyHook: mask_after_step must be True, False or 'auto', "
                             f"got {mask_after_step!r}")
        self.mask_after_step = mask_after_step
        self.ticket_path = ticket
        self.ticket: Ticket | None = load_ticket(ticket) if ticket else None
        self.prefixes = list(prefixes) if prefixes is not None else None
        self._bound: list[BoundTicket] = []
        self._step_hooks: list = []

    # -- the ticket ----------------------------------------------------------
    def set_ticket(self, runner, ticket: Ticket | None) -> None:
        """Adopt ``ticket`` and zero its pruned weights now (IMPHook calls this each round)."""
        self.ticket = ticket
        self._bind(runner)
        self.apply(runner)

    def _bind(self, runner) -> None:
        for handle in self._step_hooks:
            handle.remove()
        self._bound, self._step_hooks = [], []
        if self.ticket is None:
            return
        what = f'ticket {self.ticket_path}' if self.ticket_path else 'ticket'
        self._bound.append(BoundTicket(self.ticket, unwrap(runner.model), self.prefixes, what=what))
        for ema in ema_models(runner):
            self._bound.append(BoundTicket(self.ticket, ema, None, what=what + ' (EMA model)'))
        online = self._bound[0]
        # Before the step, after DDP's all-reduce: one fused multiply over all gradients.
        for opt in optimizers(runner):
            self._step_hooks.append(opt.register_step_pre_hook(lambda *_: online.apply_to_grads()))

    def apply(self, runner, with_optimizer: bool = True) -> None:
        for bound in self._bound:
            bound.apply()
            if with_optimizer:
                for opt in optimizers(runner):
                    bound.apply_to_optimizer(opt)

    def count_nonzero_pruned(self) -> int:
        return sum(b.count_nonzero_pruned() for b in self._bound)

    # -- hook points ---------------------------------------------------------
    def before_train(self, runner) -> None:
        # Not before_run: Runner.train() loads pre-trained weights after it.
        if self.mask_after_step == 'auto':
            kinds = [type(opt).__name__ for opt in optimizers(runner)]
            self.mask_after_step = not kinds or any(k not in ZERO_PRESERVING for k in kinds)
        self.set_ticket(runner, self.ticket)

    def after_train_iter(self, runner, batch_idx, data_batch=None, outputs=None) -> None:
        # Gradients were masked before the step; for other optimizers this
        # guarantees exact zeros whatever their update rule does.
        if self.mask_after_step:
            self.apply(runner, with_optimizer=False)

    def after_train(self, runner) -> None:
        for handle in self._step_hooks:
            handle.remove()
        self._step_hooks = []

    def _before_eval(self, runner) -> None:
        if self.ticket is not None and not self._bound:  # a val/test-only run
            self._bind(runner)
        self.apply(runner, with_optimizer=False)

    def before_val_epoch(self, runner) -> None:
        self._before_eval(runner)

    def before_test_epoch(self, runner) -> None:
        self._before_eval(runner)

    def before_save_checkpoint(self, runner, checkpoint: dict) -> None:
        if self.ticket is None:
            checkpoint.pop(CHECKPOINT_KEY, None)
            return
        for key in ('state_dict', 'ema_state_dict'):
            if isinstance(checkpoint.get(key), dict):
                mask_state_dict(self.ticket, checkpoint[key])
        checkpoint[CHECKPOINT_KEY] = torch.frombuffer(bytearray(ticket_to_bytes(self.ticket)), dtype=torch.uint8)

    def after_load_checkpoint(self, runner, checkpoint: dict) -> None:
        # On resume the checkpoint's ticket is the run's own; with load_from it
        # is adopted unless a ticket was given explicitly.
        if CHECKPOINT_KEY in checkpoint and (runner._resume or self.ticket is None):
            data = checkpoint[CHECKPOINT_KEY].numpy().tobytes()
            self.ticket = ticket_from_bytes(data, path=f'checkpoint entry {CHECKPOINT_KEY!r}')
