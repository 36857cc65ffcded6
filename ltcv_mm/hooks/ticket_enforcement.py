"""A ticket enforced in a Runner's model, its EMA copies and its optimizers: the masking both
MaskApplyHook and IMPHook hold (neither inherits it from the other)."""
from __future__ import annotations

from typing import Sequence

import torch

from ..core import (
    Ticket,
    TicketMasks,
    attach_ticket,
    check_ticket_fits,
    detach_ticket,
    load_ticket,
    pattern_list,
    ticket_from_bytes,
    ticket_to_bytes,
)
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


class TicketEnforcement:
    """One ticket (or none) held in every copy of a Runner's model; see MaskApplyHook for the guarantees.

    Args:
        ticket_path: the ticket file to start with (None: dense, or the ticket
            a loaded checkpoint brings); read once the options are checked.
        prefixes, dense, mask_after_step: as MaskApplyHook.
        who: the hook's name, for messages.
    """

    def __init__(self, ticket_path: str | None = None, prefixes: Sequence[str] | None = None,
                 dense: Sequence[str] | None = None, mask_after_step: bool | str = 'auto',
                 who: str = 'MaskApplyHook') -> None:
        if mask_after_step not in (True, False, 'auto'):
            raise ValueError(f"{who}: mask_after_step must be True, False or 'auto', got {mask_after_step!r}")
        self.ticket_path, self.mask_after_step = ticket_path, mask_after_step
        prefixes = pattern_list(prefixes, f'{who} prefixes', allow_none=True)
        dense = pattern_list(dense, f'{who} dense', allow_none=True)
        self.prefixes = list(prefixes) if prefixes is not None else None
        self.dense = list(dense) if dense is not None else None
        self.attached_once = False
        self.ticket: Ticket | None = load_ticket(ticket_path) if ticket_path else None

    def set(self, runner, ticket: Ticket | None) -> None:
        """Adopt ``ticket``, zero its pruned weights and their optimizer state now."""
        self.ticket = ticket
        self.attach(runner)
        self.apply(runner)

    def attach(self, runner) -> None:
        self.attached_once = True
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
        if self.ticket is None or not self.attached_once:
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

    # -- the moments a Runner gives ---------------------------------------------
    def start_training(self, runner) -> None:
        """Resolve ``mask_after_step='auto'`` from the built optimizers and enforce the ticket."""
        if self.mask_after_step == 'auto':
            kinds = [optimizer_kind(opt) for opt in optimizers(runner)]
            self.mask_after_step = not kinds or any(k not in ZERO_PRESERVING for k in kinds)
        self.set(runner, self.ticket)

    def after_step(self, runner) -> None:
        # Gradients were masked at the end of backward; for other optimizers this
        # guarantees exact zeros whatever their update rule does.
        if self.mask_after_step:
            self.apply(runner, with_optimizer=False)

    def before_eval(self, runner) -> None:
        if not self.attached_once:  # a val/test-only run
            self.attach(runner)
        self.apply(runner, with_optimizer=False)

    def save(self, checkpoint: dict) -> None:
        if self.ticket is None:
            checkpoint.pop(CHECKPOINT_KEY, None)
            return
        # The state dicts are already masked: the attached ticket masks every state_dict().
        checkpoint[CHECKPOINT_KEY] = torch.frombuffer(bytearray(ticket_to_bytes(self.ticket)), dtype=torch.uint8)

    def load(self, runner, checkpoint: dict) -> None:
        # On resume the checkpoint's ticket is the run's own; with load_from it
        # is adopted unless a ticket was given explicitly.
        if CHECKPOINT_KEY in checkpoint and (runner._resume or self.ticket is None):
            data = checkpoint[CHECKPOINT_KEY].numpy().tobytes()
            self.ticket = ticket_from_bytes(data, path=f'checkpoint entry {CHECKPOINT_KEY!r}')
            # now, before mmengine loads the optimizer state of another model and fails inside it
            check_ticket_fits(unwrap(runner.model), self.ticket, self.prefixes, self.dense,
                              what=f'the ticket of the checkpoint loaded (entry {CHECKPOINT_KEY!r})')


class HoldsTicket:
    """What code outside looks up on a hook that enforces a ticket (``self.masking``)."""

    masking: TicketEnforcement

    @property
    def ticket(self) -> Ticket | None:
        return self.masking.ticket

    @property
    def mask_after_step(self) -> bool | str:
        return self.masking.mask_after_step

    @property
    def prefixes(self) -> list[str] | None:
        return self.masking.prefixes

    @property
    def dense(self) -> list[str] | None:
        return self.masking.dense

    def attached(self, runner) -> list[tuple[object, TicketMasks]]:
        return self.masking.attached(runner)

    def apply(self, runner, with_optimizer: bool = True) -> None:
        self.masking.apply(runner, with_optimizer)

    def count_nonzero_pruned(self, runner) -> int:
        return self.masking.count_nonzero_pruned(runner)
