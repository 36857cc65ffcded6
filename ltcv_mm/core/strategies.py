"""Pruning strategies, registered by name.

A strategy takes the current weights and ticket and returns the next masks
as a Ticket without metadata (whoever runs the strategy describes the
result), removing ``round(rate * remaining)`` of the weights still kept
(globally, or per layer for the layer-wise strategies), exactly as
``torch.nn.utils.prune`` counts them. The exact-k selection is
``selection.prune_smallest``; its tie rule (the first of equal scores go
first) differs from ``torch.nn.utils.prune``'s ``topk`` order only on exact
ties, where the kept multiset of magnitudes is still identical.
"""
from __future__ import annotations

import warnings
from typing import Any, Mapping, Protocol

import torch

from .names import infer_arch
from .selection import prune_smallest
from .ticket import Ticket


class Strategy(Protocol):
    def __call__(self, weights: Mapping[str, torch.Tensor], ticket: Ticket, rate: float,
                 generator: torch.Generator | None = None) -> Ticket: ...


STRATEGIES: dict[str, Strategy] = {}


def register_strategy(name: str, redraws: bool = False):
    """Register a strategy under ``name``. ``redraws``: its step draws new positions even at rate 0
    (a random ticket like another one), so rate 0 is a meaningful step for it."""
    def deco(fn: Strategy) -> Strategy:
        fn.redraws = redraws
        STRATEGIES[name] = fn
        return fn
    return deco


def get_strategy(name: str) -> Strategy:
    try:
        return STRATEGIES[name]
    except KeyError:
        raise KeyError(f'unknown pruning strategy {name!r}; known: {sorted(STRATEGIES)}') from None


def check_rate(rate: float, allow_zero: bool = False) -> float:
    """``rate`` as a float in (0, 1), or [0, 1) with ``allow_zero`` (a step that removes nothing)."""
    rate = float(rate)
    if not (0.0 <= rate if allow_zero else 0.0 < rate) or not rate < 1.0:
        raise ValueError(f'pruning rate must be in {"[0, 1)" if allow_zero else "(0, 1)"}, got {rate}')
    return rate


def count_to_prune(rate: float, remaining: int) -> int:
    # Python's round() (half to even), as torch.nn.utils.prune computes it.
    return round(rate * remaining)


def _check_finite(weights: Mapping[str, torch.Tensor], ticket: Ticket) -> None:
    """Magnitudes rank only finite weights: an infinite one would be kept as 'most important'."""
    for name in ticket.masks:
        w = weights[name].detach()
        if not bool(torch.isfinite(w).all()):
            kind = 'NaN' if bool(torch.isnan(w).any()) else 'infinite values'
            raise ValueError(f'layer {name!r}: weights contain {kind}, cannot rank them for pruning')


def _check_cover(weights: Mapping[str, torch.Tensor], ticket: Ticket) -> None:
    for name, mask in ticket.masks.items():
        if name not in weights:
            raise KeyError(f'ticket layer {name!r} has no weight to prune')
        if tuple(weights[name].shape) != tuple(mask.shape):
            raise ValueError(f'layer {name!r}: weight shape {tuple(weights[name].shape)} '
                             f'does not fit mask shape {tuple(mask.shape)}')


class _Magnitude:
    def __init__(self, weights: Mapping[str, torch.Tensor]):
        self.weights = weights

    def masked(self, name, mask):
        return self.weights[name].detach().abs().mul_(mask)

    def at(self, name, flat_idx):
        return self.weights[name].detach().reshape(-1)[flat_idx].abs()


class _Random:
    def __init__(self, ticket: Ticket, generator: torch.Generator | None):
        self.scores = {n: torch.rand(m.shape, generator=generator) for n, m in ticket.masks.items()}

    def masked(self, name, mask):
        return self.scores[name] * mask

    def at(self, name, flat_idx):
        return self.scores[name].reshape(-1)[flat_idx]


@register_strategy('global_magnitude')
def global_magnitude(weights, ticket, rate, generator=None):
    """The IMP step of the paper: smallest magnitudes across all layers."""
    rate = check_rate(rate)
    _check_cover(weights, ticket)
    _check_finite(weights, ticket)
    kept = ticket.kept
    return Ticket(prune_smallest(ticket.masks, _Magnitude(weights), count_to_prune(rate, kept), kept))


@register_strategy('layerwise_magnitude')
def layerwise_magnitude(weights, ticket, rate, generator=None):
    """Smallest magnitudes, the same fraction from each layer."""
    rate = check_rate(rate)
    _check_cover(weights, ticket)
    _check_finite(weights, ticket)
    return Ticket(_per_layer(ticket, _Magnitude(weights), rate))


@register_strategy('random_global')
def random_global(weights, ticket, rate, generator=None):
    """Random pruning across all layers (the authors' random baselines: iterated downstream, one step in
    detection)."""
    rate = check_rate(rate)
    _check_cover(weights, ticket)
    kept = ticket.kept
    return Ticket(prune_smallest(ticket.masks, _Random(ticket, generator), count_to_prune(rate, kept), kept))


@register_strategy('random_layerwise')
def random_layerwise(weights, ticket, rate, generator=None):
    """Random pruning, the same fraction from each layer, among the weights the ticket keeps."""
    rate = check_rate(rate)
    _check_cover(weights, ticket)
    return Ticket(_per_layer(ticket, _Random(ticket, generator), rate))


@register_strategy('random_like', redraws=True)
def random_like(weights, ticket, rate=0.0, generator=None):
    """A random mask with the ticket's per-layer kept count (less ``rate`` of it), anywhere in each layer.

    With rate 0 it is a random baseline for a ticket: the same layer-wise
    sparsity, fresh positions (not confined to the kept weights, unlike
    random_layerwise); SparseBackbone's mode='random' and the demo use it. The
    authors' own random baselines are global: random_global, iterated
    (downstream --random_prune) or in one step to 1 - 0.8^k (detection).
    """
    rate = check_rate(rate, allow_zero=True)
    _check_cover(weights, ticket)
    masks = {}
    for name, ref in ticket.masks.items():
        kept = int(ref.sum())
        kept -= count_to_prune(rate, kept)
        flat = torch.zeros(ref.numel(), dtype=torch.bool)
        flat[torch.randperm(ref.numel(), generator=generator)[:kept]] = True
        masks[name] = flat.view(ref.shape)
    return Ticket(masks)


def not_groupable_by_4(shapes: Mapping[str, tuple[int, ...]]) -> list[str]:
    """Layers whose input channels 2:4 sparsity cannot split into groups of 4."""
    return [name for name, shape in shapes.items() if len(shape) < 2 or shape[1] % 4]


@register_strategy('semi_structured_2_4', redraws=True)
def semi_structured_2_4(weights, ticket, rate=0.0, generator=None):
    """2:4 semi-structured sparsity: in every group of 4 consecutive input channels (at each output
    channel and kernel position) the 2 largest magnitudes among the weights the ticket keeps stay.

    The layout that sparse tensor cores run at twice the dense rate (NVIDIA
    Ampere and later, ``torch.sparse.to_sparse_semi_structured``); ``rate``
    is not used (the structure fixes 50 %, more where the ticket already
    pruned a group below 2), so one step is the whole pruning.
    """
    check_rate(rate, allow_zero=True)
    _check_cover(weights, ticket)
    _check_finite(weights, ticket)
    bad = not_groupable_by_4(ticket.shapes)
    if bad:
        shape = ticket.shapes[bad[0]]
        raise ValueError(f'layer {bad[0]!r}: 2:4 sparsity groups input channels by 4, but it has '
                         f'{shape[1] if len(shape) > 1 else "no"} input channels')
    masks = {}
    for name, mask in ticket.masks.items():
        order = [0] + list(range(2, mask.dim())) + [1]  # input channels innermost, as the GEMM's K
        scores = (weights[name].detach().abs() * mask).permute(*order).reshape(-1, 4)
        keep = torch.zeros_like(scores, dtype=torch.bool).scatter_(1, scores.topk(2, dim=1).indices, True)
        keep = keep.reshape([mask.shape[i] for i in order]).permute(*_inverse(order)) & mask
        masks[name] = keep.contiguous()
    return Ticket(masks)


def _inverse(order: list[int]) -> list[int]:
    inv = [0] * len(order)
    for i, o in enumerate(order):
        inv[o] = i
    return inv


def _per_layer(ticket: Ticket, scores, rate: float) -> dict[str, torch.Tensor]:
    masks = {}
    for name, mask in ticket.masks.items():
        masks.update(prune_smallest({name: mask}, scores, count_to_prune(rate, int(mask.sum()))))
    return masks


def prune(weights: Mapping[str, torch.Tensor], ticket: Ticket | None = None, *, rate: float = 0.2,
          rounds: int = 1, strategy: str = 'global_magnitude', generator: torch.Generator | None = None,
          meta: Mapping[str, Any] | None = None) -> Ticket:
    """``rounds`` successive pruning steps on fixed ``weights`` (one-shot for rounds=1).

    ``weights`` maps canonical names to the tensors to prune; with no
    ``ticket`` every one of them starts dense. The result is described here,
    once: architecture, strategy, rate, rounds (counted on from the starting
    ticket's round), plus ``meta``.
    """
    if isinstance(rounds, bool) or not isinstance(rounds, int) or rounds < 1:
        raise ValueError(f'rounds must be a whole number >= 1, got {rounds!r}')
    step = get_strategy(strategy)
    check_rate(rate, allow_zero=step.redraws)
    start = ticket if ticket is not None else Ticket.dense(weights)
    if not step.redraws:  # a step removes round(rate * kept): once that is 0, every later round is a no-op
        kept, useful = start.kept, 0
        while useful < rounds and count_to_prune(rate, kept) > 0:
            kept, useful = kept - count_to_prune(rate, kept), useful + 1
        if useful < rounds:
            warnings.warn(f'prune: rounds={rounds}, but after {useful} rounds at rate {rate} {kept} weights are '
                          f'kept and a round removes round({rate} * {kept}) = 0; stopped after {useful} rounds',
                          stacklevel=2)
            rounds = useful
    ticket = start
    for _ in range(rounds):
        ticket = step(weights, ticket, rate, generator)
    described = {'arch': infer_arch(ticket.shapes), 'strategy': strategy, 'rate': float(rate),
                 'round': int(start.meta.get('round') or 0) + rounds, **(meta or {})}
    return Ticket(ticket.masks, described)
