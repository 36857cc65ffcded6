"""Linear mode connectivity (Frankle et al., ICML 2020): the path between two trained copies of a ticket.

Plain torch: interpolation of two state dicts, BatchNorm statistics
recomputed at a point of the path, and the barrier along it. The copies
start from the same weights under the same ticket and differ only in data
order and augmentation draws; ``tools/instability.py`` trains them with the
stock Runner and evaluates every point with the config's evaluator.
"""
from __future__ import annotations

import math
from typing import Iterable, Mapping, Sequence

import torch
from torch import nn


def interpolate(a: Mapping[str, torch.Tensor], b: Mapping[str, torch.Tensor], alpha: float) -> dict[str, torch.Tensor]:
    """``(1 - alpha) a + alpha b`` for floating tensors (exactly ``a`` at 0 and ``b`` at 1); other
    tensors (``num_batches_tracked``) are taken from ``a``."""
    if set(a) != set(b):
        raise ValueError(f'the two states differ in keys: {sorted(set(a) ^ set(b))[:3]}')
    out = {}
    for k, va in a.items():
        vb = b[k]
        if va.shape != vb.shape:
            raise ValueError(f'{k!r}: shapes {tuple(va.shape)} and {tuple(vb.shape)} differ')
        if not va.is_floating_point():
            out[k] = va.clone()
        elif alpha == 0:
            out[k] = va.clone()
        elif alpha == 1:
            out[k] = vb.clone()
        else:
            out[k] = torch.lerp(va, vb.to(va.dtype), float(alpha))
    return out


@torch.no_grad()
def recompute_batchnorm(model: nn.Module, forward, batches: Iterable) -> int:
    """Reset every BatchNorm's running statistics and set them to the plain average over ``batches``
    (``forward(batch)`` runs the model in training mode); returns the number of BN layers.

    Interpolated weights do not fit either copy's statistics, so every point
    of the path (the ends included) is judged with statistics of its own.
    """
    norms = [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm) and m.track_running_stats]
    momenta = [m.momentum for m in norms]
    for m in norms:
        m.reset_running_stats()
        m.momentum = None  # cumulative moving average: every batch counts the same
    was_training = model.training
    model.train()
    try:
        for batch in batches:
            forward(batch)
    finally:
        for m, momentum in zip(norms, momenta):
            m.momentum = momentum
        model.train(was_training)
    return len(norms)


UNDEFINED = 'undefined: a point of the path is not a number'


def verdict_of(value: float | None, threshold: float) -> str:
    """'stable' below ``threshold``, 'unstable' at or above it, UNDEFINED without a barrier."""
    if value is None:
        return UNDEFINED
    return 'stable' if value < threshold else 'unstable'


def barrier(values: Sequence[float | None], higher_is_better: bool = True) -> float | None:
    """The worst point of the path against the mean of its two ends, in the metric's units (>= 0):
    ``mean(ends) - min(path)`` for a metric where higher is better (Frankle et al.'s error barrier).
    None when a point is NaN, infinite or missing: min and max would skip a NaN and call the path flat."""
    if len(values) < 2:
        raise ValueError('a path needs at least its two ends')
    if any(v is None or not math.isfinite(v) for v in values):
        return None
    ends = (values[0] + values[-1]) / 2
    worst = min(values) if higher_is_better else max(values)
    return max(0.0, (ends - worst) if higher_is_better else (worst - ends))
