"""Gradient accumulation that sums the accumulated gradients, as a plain loop of backward passes does."""
from __future__ import annotations

import torch
from mmengine.optim import AmpOptimWrapper, OptimWrapper

from ..registry import OPTIM_WRAPPERS


class _Summed:
    """mmengine divides each loss by ``accumulative_counts`` (the step takes the mean gradient of the
    accumulated batches); the authors' detection loop calls ``backward`` on every batch and steps every
    ``--accumulate`` batches (Detection/train_transfer.py:236-242), so its step takes their sum: twice
    the update for 2, with SGD's weight decay unchanged. Here the loss is not divided."""

    def scale_loss(self, loss: torch.Tensor) -> torch.Tensor:
        return loss


@OPTIM_WRAPPERS.register_module()
class SummedAccumulationOptimWrapper(_Summed, OptimWrapper):
    """``OptimWrapper`` whose ``accumulative_counts`` batches add up their gradients."""


@OPTIM_WRAPPERS.register_module()
class SummedAccumulationAmpOptimWrapper(_Summed, AmpOptimWrapper):
    """``AmpOptimWrapper`` whose ``accumulative_counts`` batches add up their gradients (tools/train.py
    --amp picks it for a config that sums)."""


AMP_OF = {'ltcv.SummedAccumulationOptimWrapper': 'ltcv.SummedAccumulationAmpOptimWrapper'}
