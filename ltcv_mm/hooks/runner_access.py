"""Small accessors into mmengine's Runner that the hooks share."""
from __future__ import annotations

from typing import TypeVar

import torch
from mmengine.model import is_model_wrapper
from torch import nn

from ..core import TicketMasks, check_not_flattened, ticket_holders

H = TypeVar('H')


def unwrap(model: nn.Module) -> nn.Module:
    """The model inside a DDP wrapper: parameters are masked there, in place.

    FSDP is refused with the alternative named: it flattens the parameters
    that the masks follow.
    """
    check_not_flattened(model, 'ltcv_mm', recurse=False)
    return model.module if is_model_wrapper(model) else model


def find_hook(runner, cls: type[H]) -> H | None:
    for hook in runner.hooks:
        if isinstance(hook, cls):
            return hook
    return None


def optimizers(runner) -> list[torch.optim.Optimizer]:
    """Every optimizer of the runner (one, or several in an OptimWrapperDict)."""
    wrapper = getattr(runner, 'optim_wrapper', None)
    if wrapper is None or isinstance(wrapper, dict):  # not built: test-only runs
        return []
    if hasattr(wrapper, 'optim_wrappers'):
        return [w.optimizer for w in wrapper.optim_wrappers.values()]
    return [wrapper.optimizer]


def ema_models(runner) -> list[nn.Module]:
    """Averaged copies of the model kept by mmengine's EMAHook (and subclasses)."""
    from mmengine.hooks import EMAHook
    return [h.ema_model for h in runner.hooks if isinstance(h, EMAHook) and hasattr(h, 'ema_model')]


def by_epoch(runner) -> bool:
    from mmengine.runner import IterBasedTrainLoop
    return not isinstance(runner.train_loop, IterBasedTrainLoop)


def progress(runner, epochs: bool) -> int:
    """Completed epochs or iterations, as the loops count them between steps."""
    return runner.epoch if epochs else runner.iter


def schedulers(runner) -> list:
    """Every built parameter scheduler of the runner (a list, or lists per optimizer)."""
    scheds = runner.param_schedulers or []
    if isinstance(scheds, dict):
        return [s for group in scheds.values() for s in group]
    return list(scheds)


def set_run_length(runner, length: int) -> None:
    """Make the train loop run ``length`` epochs (epoch-based) or iterations (iteration-based) in all.

    mmengine's loops take their length only in their constructor; IMPHook
    learns the length after they are built (it depends on the model's
    prunable weights), so it is set here, on the loops' own attributes.
    """
    loop = runner.train_loop
    if by_epoch(runner):
        loop._max_epochs = length
        loop._max_iters = length * len(loop.dataloader)
    else:
        loop._max_iters = length


def model_copies(runner) -> list[nn.Module]:
    """The model (unwrapped) and the model inside each of mmengine's EMA averages."""
    return [unwrap(runner.model)] + [ema.module for ema in ema_models(runner)]


def masked_modules(runner) -> list[tuple[nn.Module, TicketMasks]]:
    """Every module holding a ticket, with its masks: in the model and in each EMA average."""
    return [held for root in model_copies(runner) for held in ticket_holders(root)]


def from_rank0(make):
    """``make()`` evaluated on rank 0 and handed to every rank (IMP's draws: every rank prunes alike)."""
    from mmengine.dist import broadcast_object_list, get_rank
    payload = [make() if get_rank() == 0 else None]
    broadcast_object_list(payload, src=0)
    return payload[0]

