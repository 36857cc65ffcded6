"""What an IMP run asks of a Runner between rounds: its training state to restart from, the restart
itself, a validation inside training, the recent training loss."""
from __future__ import annotations

import copy

from .runner_access import ema_models, schedulers, unwrap


def training_state(runner) -> dict:
    """The optimizer's and every scheduler's state now (copies): what a restart goes back to."""
    return {'optim': copy.deepcopy(runner.optim_wrapper.state_dict()),
            'schedulers': [copy.deepcopy(s.state_dict()) for s in schedulers(runner)]}


def restart_training(runner, state: dict, optimizer: bool = True) -> None:
    """Restart the EMA averages from the model's weights now, the schedulers (and the optimizer) from ``state``."""
    model = unwrap(runner.model)
    for ema in ema_models(runner):
        ema.module.load_state_dict(model.state_dict())
        if hasattr(ema, 'steps'):
            ema.steps.zero_()
    if optimizer:
        runner.optim_wrapper.load_state_dict(copy.deepcopy(state['optim']))
    for sched, saved in zip(schedulers(runner), state['schedulers']):
        sched.load_state_dict(copy.deepcopy(saved))


def validate_now(runner) -> dict:
    """Run the validation loop inside training and hand the model back in train mode."""
    metrics = dict(runner.val_loop.run() or {})
    # ValLoop leaves the model in eval mode; an iteration-based loop set train mode before
    # the hooks, so without this the next iteration would train with frozen BatchNorm.
    runner.model.train()
    return metrics


def recent_train_loss(runner) -> float | None:
    """The mean training loss of the last 10 logged iterations, if any was logged."""
    hub = runner.message_hub
    return hub.get_scalar('train/loss').mean(10) if 'train/loss' in hub.log_scalars else None
