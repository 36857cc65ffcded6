"""SyncBNFallbackHook: stock configs that say SyncBN also run on machines without a GPU."""
from __future__ import annotations

from mmengine.hooks import Hook
from mmengine.model import revert_sync_batchnorm
from torch import nn

from ..registry import HOOKS
from .runner_access import unwrap

SYNC_BN_TYPES = ('SyncBatchNorm',)  # torch's and mmcv's SyncBN classes both carry this name


def sync_bn_layers(model: nn.Module) -> list[str]:
    return [name for name, m in model.named_modules() if type(m).__name__ in SYNC_BN_TYPES]


@HOOKS.register_module()
class SyncBNFallbackHook(Hook):
    """Turn SyncBN layers into plain BN when the model runs on the CPU.

    mmseg's stock configs (and some of mmdet's) build their norms as SyncBN,
    whose forward refuses CPU tensors. Adding this hook to ``custom_hooks``
    lets the unchanged stock config train and test on the CPU, in one process
    or several (each process then keeps its own batch statistics, as BN
    does). The layers keep their parameters and buffers (the same tensors),
    so optimizers and checkpoints are unaffected. On GPUs it does nothing.
    It runs first (priority VERY_HIGH), before EMAHook copies the model.
    """

    priority = 'VERY_HIGH'

    def before_run(self, runner) -> None:
        """On a CPU model, swap SyncBatchNorm (CUDA only) for BatchNorm, and log which layers."""
        model = unwrap(runner.model)
        param = next(model.parameters(), None)
        if param is None or param.device.type != 'cpu':
            return
        layers = sync_bn_layers(model)
        if not layers:
            return
        revert_sync_batchnorm(model)  # replaces the children in place; the root is never a norm
        runner.logger.info(f'SyncBNFallbackHook: the model runs on the CPU, where SyncBN cannot; '
                           f'{len(layers)} SyncBN layers now compute plain BN ({layers[0]}, ...)')
