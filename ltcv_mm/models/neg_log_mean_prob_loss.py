"""NegLogMeanProbLoss: the SimCLR loss as the authors' code computes it."""
from __future__ import annotations

import math

import torch
from torch import nn

from ..registry import MODELS


@MODELS.register_module()
class NegLogMeanProbLoss(nn.Module):
    """``-log(mean_i p_i)``, p_i the softmax probability of sample i's target class.

    The authors' SimCLR (SimCLR/utils.py:79-80, ``nt_xent``) takes the log of the batch mean of each
    view's positive-pair probability; mmpretrain's ``ContrastiveHead`` with ``CrossEntropyLoss`` takes
    the mean of ``-log p_i``. The first is never larger (Jensen) and weights each view's gradient by
    ``p_i / sum_j p_j``, so views whose positive already stands out count more; cross-entropy weights
    all alike. Use it as ``ContrastiveHead(loss=dict(type='ltcv.NegLogMeanProbLoss'))``: the head
    passes logits with the positive in column 0 and target 0.
    """

    def __init__(self, loss_weight: float = 1.0) -> None:
        super().__init__()
        self.loss_weight = loss_weight

    def forward(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        # log p_i in float32 (AMP hands half logits), then log(mean p) = logsumexp(log p) - log n
        log_p = logits.float().log_softmax(dim=1).gather(1, target.long()[:, None]).squeeze(1)
        return -(torch.logsumexp(log_p, dim=0) - math.log(log_p.numel())) * self.loss_weight
