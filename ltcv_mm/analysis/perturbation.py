"""Perturbations of a ticket for sensitivity curves: Gaussian noise on the kept weights, random mask flips.

Plain torch; ``tools/perturb.py`` evaluates a model under each with its
config's stock evaluator.
"""
from __future__ import annotations

from typing import Iterable

import torch

from ..core import Ticket


@torch.no_grad()
def add_relative_noise(pairs: Iterable[tuple[str, torch.Tensor, torch.Tensor]], scale: float,
                       generator: torch.Generator) -> None:
    """Add N(0, (scale * sd)^2) to every kept weight, in place; sd is the standard deviation of the
    layer's kept weights, so ``scale`` is the noise relative to each layer's own spread.

    ``pairs`` are ``(name, weight, mask)`` (``TicketMasks.pairs``); pruned weights are left as they are.
    """
    if scale < 0:
        raise ValueError(f'noise scale must be >= 0, got {scale}')
    for _, weight, mask in pairs:
        kept = weight[mask]
        if scale == 0 or kept.numel() < 2:
            continue
        noise = torch.randn(weight.shape, generator=generator, dtype=torch.float32).to(weight.device, weight.dtype)
        weight.add_(noise * (scale * kept.float().std()).to(weight.dtype) * mask)


def flip_masks(ticket: Ticket, fraction: float, generator: torch.Generator) -> Ticket:
    """The ticket with, in every layer, ``round(fraction * kept)`` kept weights pruned and as many
    pruned weights revived, all drawn at random: each layer's density is unchanged.

    A layer with fewer pruned than flipped entries revives all it has and
    prunes as many.
    """
    if not 0.0 <= fraction <= 1.0:
        raise ValueError(f'flip fraction must be in [0, 1], got {fraction}')
    out = {}
    for name, mask in ticket.masks.items():
        flat = mask.reshape(-1).clone()
        kept, pruned = flat.nonzero().squeeze(1), (~flat).nonzero().squeeze(1)
        n = min(round(fraction * kept.numel()), pruned.numel())
        if n:
            flat[kept[torch.randperm(kept.numel(), generator=generator)[:n]]] = False
            flat[pruned[torch.randperm(pruned.numel(), generator=generator)[:n]]] = True
        out[name] = flat.view_as(mask)
    return Ticket(out, {**ticket.meta, 'flipped': float(fraction)})
