"""MaskApplyHook: pruned weights stay exactly zero, in every copy of the backbone."""
from __future__ import annotations

from abc import ABCMeta
from typing import Sequence

from mmengine.hooks import Hook

from ..registry import HOOKS
from .ticket_enforcement import HoldsTicket, TicketEnforcement


@HOOKS.register_module()
class MaskApplyHook(HoldsTicket, Hook, metaclass=ABCMeta):
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

    IMPHook holds the same TicketEnforcement and is registered as a
    MaskApplyHook, so code that looks up the hook enforcing a run's ticket
    (``isinstance(hook, MaskApplyHook)``) finds either.
    """

    priority = 'ABOVE_NORMAL'

    def __init__(self, ticket: str | None = None, prefixes: Sequence[str] | None = None,
                 mask_after_step: bool | str = 'auto', dense: Sequence[str] | None = None) -> None:
        self.masking = TicketEnforcement(ticket, prefixes, dense, mask_after_step)

    def set_ticket(self, runner, ticket) -> None:
        """Adopt ``ticket``, zero its pruned weights and their optimizer state now."""
        self.masking.set(runner, ticket)

    def before_train(self, runner) -> None:
        """Enforce the ticket once the weights are loaded (Runner.train() loads them after before_run)."""
        if self.masking.ticket is None:
            runner.logger.warning('MaskApplyHook: no ticket (none given, none in the checkpoint loaded): '
                                  'the model trains dense')
        self.masking.start_training(runner)

    def after_train_iter(self, runner, batch_idx, data_batch=None, outputs=None) -> None:
        """Re-mask the weights after the step, for optimizers that could move a pruned weight."""
        self.masking.after_step(runner)

    def before_val_epoch(self, runner) -> None:
        """Pruned weights are zero in what is validated (also in a validation-only run)."""
        self.masking.before_eval(runner)

    def before_test_epoch(self, runner) -> None:
        """Pruned weights are zero in what is tested (also in a test-only run)."""
        self.masking.before_eval(runner)

    def before_save_checkpoint(self, runner, checkpoint: dict) -> None:
        """The checkpoint carries the ticket (entry ``ltcv_ticket``) for resume and load_from."""
        self.masking.save(checkpoint)

    def after_load_checkpoint(self, runner, checkpoint: dict) -> None:
        """Adopt the checkpoint's ticket on resume, or with load_from when none was given."""
        self.masking.load(runner, checkpoint)
