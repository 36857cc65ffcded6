"""The rewind point of an IMP run: which weights every pruned round restarts from, and when they are taken."""
from __future__ import annotations

from typing import Any, Sequence

import torch
from torch import nn

from .names import matches_any, pattern_list

# The paper's rewind types, recorded with the tickets. 'pt' and 'pt_trans'
# rewind to the pre-trained weights the run starts from (pt_trans: the
# downstream head as initialised); the seed code's downstream 'pt' instead
# trains round 0 from a random initialisation and rewinds to that round's
# best-validated weights (at='round_best'); at='round_end' takes the end of
# round 0. 'lt' rewinds to the random initialisation, 'rewind_lt' to the
# weights after `at` epochs/iterations of the random start.
MODES = ('pt', 'pt_trans', 'lt', 'rewind_lt')
ROUND_END = 'round_end'
ROUND_BEST = 'round_best'  # the best-validated weights of round 0 (the seed code's downstream 'pt')


class RewindPoint:
    """A module's state (parameters and buffers: BatchNorm statistics, MoCo's momentum encoder),
    captured once after ``at`` epochs or iterations, or at round 0's best validation, and restored in place.

    Kept on the CPU; ``state_dict`` / ``load_state_dict`` carry it through checkpoints.

    Args:
        mode: one of MODES (what the weights are; recorded with the tickets).
        at: epochs or iterations of training before the capture: 0 (the
            start), a count up to the first pruning, ``'round_end'`` (the end
            of round 0, fixed by ``resolve``) or ``'round_best'`` (the weights
            of round 0's best validation, offered by the caller with ``offer``).
            ``rewind_lt`` needs it > 0.
        keys: fnmatch patterns of the state keys that are rewound (default
            all); the others keep their trained values across prunings (the
            seed code's SimCLR rewinds only the backbone, its MoCo keeps the
            queue).
    """

    def __init__(self, mode: str = 'pt', at: int | str = 0, keys: Sequence[str] = ('*',)) -> None:
        if mode not in MODES:
            raise ValueError(f'rewind: unknown mode {mode!r}; choose one of {MODES}')
        if isinstance(at, str) and at not in (ROUND_END, ROUND_BEST):
            raise ValueError(f"rewind_at must be a count, {ROUND_END!r} or {ROUND_BEST!r}, got {at!r}")
        if not isinstance(at, str) and (isinstance(at, bool) or not isinstance(at, int) or at < 0):
            raise ValueError(f'rewind_at must be a whole number >= 0, got {at!r}')
        if mode == 'rewind_lt' and at == 0:
            raise ValueError("rewind mode 'rewind_lt' needs rewind_at > 0 (epochs or iterations)")
        keys = pattern_list(keys, 'rewind_keys')
        if not keys:
            raise ValueError('rewind_keys: expected at least one pattern, got []')
        self.mode = mode
        self.at: int | str = at
        self.keys = tuple(keys)
        self.snapshot: dict[str, torch.Tensor] | None = None
        self.best: float | None = None  # the validation value of a 'round_best' snapshot

    def resolve(self, round_length: int) -> int:
        """Fix ``'round_end'`` to the round length; the point must come no later than the first pruning."""
        if self.at == ROUND_END:
            self.at = round_length
        if self.at == ROUND_BEST:
            return round_length
        if self.at > round_length:
            raise ValueError(f'the rewind point (rewind_at={self.at}) is later than the first pruning '
                             f'(after {round_length}); rewind_at must be <= the round length')
        return self.at

    def due(self, done: int) -> bool:
        """Whether the state after ``done`` epochs / iterations is the one to capture now."""
        return self.snapshot is None and done == self.at

    def offer(self, module: nn.Module, value: float | None, round_idx: int) -> bool:
        """For ``'round_best'``: capture ``module`` when ``value`` (a validation metric, higher is
        better) of round 0 beats every earlier one; the first strictly better value wins ties."""
        if self.at != ROUND_BEST or round_idx != 0 or value is None:
            return False
        if self.best is not None and value <= self.best:
            return False
        self.capture(module)
        self.best = float(value)
        return True

    @property
    def captured(self) -> bool:
        return self.snapshot is not None

    def capture(self, module: nn.Module) -> None:
        state = {k: v for k, v in module.state_dict().items() if matches_any(k, self.keys)}
        if not state:
            raise ValueError(f'rewind keys {list(self.keys)} match none of the model\'s state keys '
                             f'(first: {list(module.state_dict())[:3]})')
        self.snapshot = {k: v.detach().to('cpu', copy=True) for k, v in state.items()}

    @torch.no_grad()
    def restore(self, module: nn.Module) -> None:
        """Copy the captured state into ``module`` in place (DDP and optimizers keep their tensors)."""
        if self.snapshot is None:
            raise RuntimeError('asked to rewind before the rewind point was captured')
        _, unexpected = module.load_state_dict(self.snapshot, strict=False)
        missing = [k for k in module.state_dict() if matches_any(k, self.keys) and k not in self.snapshot]
        if missing or unexpected:
            raise RuntimeError(f'the rewind point does not fit the model '
                               f'(missing {missing[:3]}, unexpected {unexpected[:3]})')

    def state_dict(self) -> dict[str, Any]:
        return {'mode': self.mode, 'at': self.at, 'keys': list(self.keys), 'best': self.best,
                'snapshot': self.snapshot}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        if state['mode'] != self.mode:
            raise ValueError(f'the checkpoint rewinds {state["mode"]!r}, this run {self.mode!r}: '
                             f'resume with the configuration that made it')
        self.at = state['at']
        self.best = state.get('best')
        snapshot = state['snapshot']
        self.snapshot = None if snapshot is None else {k: v.cpu() for k, v in snapshot.items()}

    def __repr__(self) -> str:
        return f'RewindPoint({self.mode!r}, at={self.at!r}, keys={list(self.keys)}, captured={self.captured})'
