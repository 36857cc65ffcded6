"""RewindHook: the weights IMP rewinds to after each pruning."""
from __future__ import annotations

import torch
from mmengine.hooks import Hook

from ..registry import HOOKS
from .runner_access import by_epoch, unwrap

CHECKPOINT_KEY = 'ltcv_rewind'

# The paper's rewind types, recorded with the tickets. 'pt' and 'pt_trans'
# rewind to the pre-trained weights the run starts from (pt_trans: the
# downstream head as initialised; the seed code's downstream 'pt' rewinds to
# the end of the dense round 0 instead: rewind_at = the round length), 'lt' to
# the random initialisation, 'rewind_lt' to the weights after `rewind_at`
# epochs/iterations of the random start.
MODES = ('pt', 'pt_trans', 'lt', 'rewind_lt')
ROUND_END = -1  # rewind_at='round_end', until IMPHook knows the round length


@HOOKS.register_module()
class RewindHook(Hook):
    """Capture the rewind point and restore it on request.

    The rewind point is the whole model's state (parameters and buffers, so
    also BatchNorm statistics and MoCo's momentum encoder and queue), kept on
    the CPU and saved with every checkpoint so that ``resume`` restores it.

    Args:
        mode: one of ``pt``, ``pt_trans``, ``lt``, ``rewind_lt``.
        rewind_at: epochs (epoch-based loops) or iterations (iteration-based)
            of training before the capture: 0 (the start) or up to the first
            pruning; ``'round_end'``: the end of round 0 (IMPHook resolves it
            to its interval). ``rewind_lt`` needs it > 0.
    """

    priority = 'ABOVE_NORMAL'

    def __init__(self, mode: str = 'pt', rewind_at: int | str = 0) -> None:
        if mode not in MODES:
            raise ValueError(f'RewindHook: unknown mode {mode!r}; choose one of {MODES}')
        if rewind_at == 'round_end':
            rewind_at = ROUND_END
        elif isinstance(rewind_at, str):
            raise ValueError(f"RewindHook: rewind_at must be a count or 'round_end', got {rewind_at!r}")
        if mode == 'rewind_lt' and rewind_at == 0:
            raise ValueError("RewindHook: mode 'rewind_lt' needs rewind_at > 0 (epochs or iterations)")
        if rewind_at < 0 and rewind_at != ROUND_END:
            raise ValueError(f'RewindHook: rewind_at must be >= 0, got {rewind_at}')
        self.mode = mode
        self.rewind_at = int(rewind_at)
        self.snapshot: dict[str, torch.Tensor] | None = None

    @property
    def captured(self) -> bool:
        return self.snapshot is not None

    def capture(self, runner) -> None:
        state = unwrap(runner.model).state_dict()
        self.snapshot = {k: v.detach().to('cpu', copy=True) for k, v in state.items()}

    @torch.no_grad()
    def rewind(self, runner) -> None:
        """Copy the rewind point into the live model, in place (DDP and optimizers keep their tensors)."""
        if self.snapshot is None:
            raise RuntimeError('RewindHook: asked to rewind before the rewind point was captured')
        model = unwrap(runner.model)
        missing, unexpected = model.load_state_dict(self.snapshot, strict=False)
        if missing or unexpected:
            raise RuntimeError(f'RewindHook: rewind point does not fit the model '
                               f'(missing {missing[:3]}, unexpected {unexpected[:3]})')

    def before_train(self, runner) -> None:
        if self.rewind_at == 0 and self.snapshot is None:
            self.capture(runner)

    def after_train_iter(self, runner, batch_idx, data_batch=None, outputs=None) -> None:
        if self.snapshot is None and not by_epoch(runner) and runner.iter + 1 == self.rewind_at:
            self.capture(runner)

    def after_train_epoch(self, runner) -> None:
        if self.snapshot is None and by_epoch(runner) and runner.epoch + 1 == self.rewind_at:
            self.capture(runner)

    def before_save_checkpoint(self, runner, checkpoint: dict) -> None:
        if self.snapshot is not None:
            checkpoint[CHECKPOINT_KEY] = {'mode': self.mode, 'rewind_at': self.rewind_at,
                                          'state_dict': self.snapshot}

    def after_load_checkpoint(self, runner, checkpoint: dict) -> None:
        saved = checkpoint.get(CHECKPOINT_KEY)
        if runner._resume and saved is not None:
            self.snapshot = {k: v.cpu() for k, v in saved['state_dict'].items()}
