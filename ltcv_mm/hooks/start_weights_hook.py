"""StartWeightsHook: saves the weights a run starts training from (after its ticket is applied)."""
from __future__ import annotations

from mmengine.dist import is_main_process
from mmengine.hooks import Hook

from ..core import atomic_torch_save
from ..registry import HOOKS
from .runner_access import unwrap


@HOOKS.register_module()
class StartWeightsHook(Hook):
    """Write the model's state dict to ``path`` just before the first training step, after every
    other hook's ``before_train`` (MaskApplyHook's ticket, ``load_from``): the starting point that a
    second copy loads to differ only in data order (``tools/instability.py``)."""

    priority = 'LOWEST'

    def __init__(self, path: str) -> None:
        self.path = path

    def before_train(self, runner) -> None:
        """Save the weights training starts from (rank 0), after every other hook set them up."""
        if is_main_process():
            atomic_torch_save({'state_dict': unwrap(runner.model).state_dict()}, self.path)
