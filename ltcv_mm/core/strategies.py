"""Pruning strategies, registered by name.

An IMP step takes the current ticket and the current weights and returns the
next ticket, removing ``round(rate * remaining)`` of the weights still kept
(globally, or per layer for the layer-wise strategies), exactly as
``torch.nn.utils.prune`` counts them.

Tie rule: among weights whose scores equal the cut exactly, the first ones in
(layer, flat index) order go first. ``torch.nn.utils.prune`` breaks such ties
by ``topk``'s internal order, so masks agree with it bit for bit except on
tied weights, where the kept multiset of magnitudes is still identical.
"""
from __future__ import annotations

import math
from typing import Mapping, Protocol

import torch

from .ticket import Ticket

class Strategy(Protocol):
    def __call__(self, weights: Mapping[str, torch.Tensor], ticket: Ticket, rate: float,
                 generator: torch.Generator | None = None) -> Ticket: ...


STRATEGIES: dict[str, Strategy] = {}


def register_strategy(name: str):
    def deco(fn: Strategy) -> Strategy:
        STRATEGIES[name] = fn
        return fn
    return deco


def get_strategy(name: str) -> Strategy:
    try:
        return STRATEGIES[name]
    except KeyError:
        raise KeyError(f'unknown pruning strategy {name!r}; known: {sorted(STRATEGIES)}') from None


def check_rate(rate: float) -> float:
    rate = float(rate)
    if not 0.0 < rate < 1.0:
        raise ValueError(f'pruning rate must be in (0, 1), got {rate}')
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


_SAMPLE = 1 << 16


class Scores(Protocol):
    """Non-negative pruning scores of each layer: all of them, or at flat indices."""

    def masked(self, name: str, mask: torch.Tensor) -> torch.Tensor:
        """A new tensor of the layer's scores, 0 where ``mask`` is False."""

    def at(self, name: str, flat_idx: torch.Tensor) -> torch.Tensor:
        """The scores at flat indices."""


def _prune_smallest(masks: Mapping[str, torch.Tensor], scores: Scores, k: int,
                    kept: int | None = None) -> dict[str, torch.Tensor]:
    """Remove the k kept entries with the smallest scores across all ``masks``.

    Exact selection guided by a sample: the quantiles of a fixed-seed sample of
    the kept scores bracket the cut, one pass per layer counts the kept scores
    below the bracket and collects the few inside it, and ``kthvalue`` on those
    gives the cut. A bracket that misses (a freak sample) widens to everything:
    the result never depends on the sample, only the speed does. Work goes
    layer by layer, with no buffer of all scores: a freshly mapped buffer of
    ~100 MB costs more in page faults than the arithmetic on it.
    ``kept`` is the number of True entries in ``masks`` when the caller knows it.
    """
    if k <= 0:
        return {n: m.clone() for n, m in masks.items()}
    if kept is None:
        kept = sum(int(torch.count_nonzero(m)) for m in masks.values())
    lo, hi = _bracket(masks, scores, k, kept)
    if lo <= 0:  # too few weights to sample: select among all kept scores
        return _select_all(masks, scores, k)
    # One pass per layer over the scores (pruned entries read 0, below lo > 0):
    # what lies above hi is kept for sure, what lies inside [lo, hi] is
    # collected with its positions, and everything else is pruned.
    below, result, inside_idx, band, maxima = 0, {}, {}, [], []
    for name, m in masks.items():
        s = scores.masked(name, m).view(-1)
        maxima.append(s.max())  # NaN propagates through max: one cheap check below
        inside = s >= lo
        below += int(torch.count_nonzero(m)) - int(torch.count_nonzero(inside))
        above = s > hi
        inside ^= above  # above is a subset of inside
        idx = inside.nonzero().flatten()
        result[name], inside_idx[name] = above, idx
        band.append(s[idx])
    if bool(torch.stack(maxima).isnan().any()):
        bad = next(n for n, m in masks.items() if torch.isnan(scores.masked(n, m)).any())
        raise ValueError(f'layer {bad!r}: weights contain NaN, cannot rank them for pruning')
    sizes = [b.numel() for b in band]
    band = torch.cat(band)
    if not below < k <= below + band.numel():  # a freak sample: the bracket missed
        return _select_all(masks, scores, k)
    cut = band.float().kthvalue(k - below).values
    ties_to_drop = k - below - int(torch.count_nonzero(band < cut))
    # Entries equal to the cut: the first ones (in layer, flat index order) go.
    stays = band > cut
    if ties_to_drop:
        tie_pos = (band == cut).nonzero().flatten()
        stays[tie_pos[ties_to_drop:]] = True
    for (name, m), part in zip(masks.items(), stays.split(sizes)):
        keep = result[name]
        keep[inside_idx[name][part]] = True
        result[name] = keep.view(m.shape)
    return result


def _select_all(masks: Mapping[str, torch.Tensor], scores: Scores, k: int) -> dict[str, torch.Tensor]:
    """The same selection, plainly: over every kept score at once (small models, fallback)."""
    flat = torch.cat([scores.masked(n, m).view(-1)[m.view(-1)] for n, m in masks.items()]).float()
    if bool(flat.isnan().any()):
        bad = next(n for n, m in masks.items() if torch.isnan(scores.masked(n, m)).any())
        raise ValueError(f'layer {bad!r}: weights contain NaN, cannot rank them for pruning')
    order = torch.argsort(flat, stable=True)  # stable: among equal scores, the first go first
    stays = torch.ones_like(flat, dtype=torch.bool)
    stays[order[:k]] = False
    result, off = {}, 0
    for name, m in masks.items():
        keep = torch.zeros(m.numel(), dtype=torch.bool)
        idx = m.view(-1).nonzero().flatten()
        keep[idx] = stays[off:off + idx.numel()]
        off += idx.numel()
        result[name] = keep.view(m.shape)
    return result


def _bracket(masks: Mapping[str, torch.Tensor], scores: Scores, k: int, kept: int) -> tuple[float, float]:
    """Scores ``lo <= hi`` between which the k-th smallest kept score lies, with high probability."""
    if kept <= _SAMPLE * 16:
        return -math.inf, math.inf
    gen = torch.Generator().manual_seed(0)
    sizes = [m.numel() for m in masks.values()]
    total = sum(sizes)
    # Oversample so that about _SAMPLE kept entries remain once pruned ones are dropped.
    draw = min(total, int(_SAMPLE * total / kept) + 1)
    flat_idx = torch.randint(0, total, (draw,), generator=gen).sort().values
    ends = torch.tensor(sizes).cumsum(0)
    cuts = torch.searchsorted(flat_idx, ends).tolist()
    parts, start, first = [], 0, 0
    for (name, m), end, last in zip(masks.items(), ends.tolist(), cuts):
        idx = flat_idx[first:last] - start
        if idx.numel():
            parts.append(scores.at(name, idx)[m.reshape(-1)[idx]])
        start, first = end, last
    sample = torch.cat(parts).float().sort().values
    n = sample.numel()
    if n < 1024:
        return -math.inf, math.inf
    q = k / kept
    margin = 6.0 * math.sqrt(q * (1.0 - q) / n) + 2.0 / n
    lo = float(sample[max(0, math.floor((q - margin) * n) - 1)]) if q - margin > 0 else -math.inf
    hi = float(sample[min(n - 1, math.ceil((q + margin) * n))]) if q + margin < 1 else math.inf
    return lo, hi


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


def _next(ticket: Ticket, masks: dict[str, torch.Tensor], strategy: str, rate: float) -> Ticket:
    meta = dict(ticket.meta)
    meta.update(strategy=strategy, rate=rate, round=int(meta.get('round', 0)) + 1)
    return Ticket(masks, meta)


@register_strategy('global_magnitude')
def global_magnitude(weights, ticket, rate, generator=None):
    """The IMP step of the paper: smallest magnitudes across all layers."""
    rate = check_rate(rate)
    _check_cover(weights, ticket)
    _check_finite(weights, ticket)
    kept = ticket.kept
    masks = _prune_smallest(ticket.masks, _Magnitude(weights), count_to_prune(rate, kept), kept)
    return _next(ticket, masks, 'global_magnitude', rate)


@register_strategy('layerwise_magnitude')
def layerwise_magnitude(weights, ticket, rate, generator=None):
    """Smallest magnitudes, the same fraction from each layer."""
    rate = check_rate(rate)
    _check_cover(weights, ticket)
    _check_finite(weights, ticket)
    score = _Magnitude(weights)
    masks = {}
    for name, mask in ticket.masks.items():
        k = count_to_prune(rate, int(mask.sum()))
        masks.update(_prune_smallest({name: mask}, score, k))
    return _next(ticket, masks, 'layerwise_magnitude', rate)


@register_strategy('random_global')
def random_global(weights, ticket, rate, generator=None):
    """Random pruning across all layers (the paper's random baseline)."""
    rate = check_rate(rate)
    _check_cover(weights, ticket)
    kept = ticket.kept
    masks = _prune_smallest(ticket.masks, _Random(ticket, generator), count_to_prune(rate, kept), kept)
    return _next(ticket, masks, 'random_global', rate)


@register_strategy('random_layerwise')
def random_layerwise(weights, ticket, rate, generator=None):
    """Random pruning, the same fraction from each layer."""
    rate = check_rate(rate)
    _check_cover(weights, ticket)
    score = _Random(ticket, generator)
    masks = {}
    for name, mask in ticket.masks.items():
        masks.update(_prune_smallest({name: mask}, score, count_to_prune(rate, int(mask.sum()))))
    return _next(ticket, masks, 'random_layerwise', rate)


def random_like(reference: Ticket, generator: torch.Generator | None = None) -> Ticket:
    """A random ticket with exactly the reference ticket's kept count per layer."""
    masks = {}
    for name, ref in reference.masks.items():
        kept = int(ref.sum())
        flat = torch.zeros(ref.numel(), dtype=torch.bool)
        flat[torch.randperm(ref.numel(), generator=generator)[:kept]] = True
        masks[name] = flat.view(ref.shape)
    meta = {**reference.meta, 'strategy': 'random_like', 'metric': None}
    return Ticket(masks, meta)


def prune(weights: Mapping[str, torch.Tensor], ticket: Ticket | None = None, *, rate: float = 0.2,
          rounds: int = 1, strategy: str = 'global_magnitude',
          generator: torch.Generator | None = None) -> Ticket:
    """``rounds`` successive pruning steps on fixed ``weights`` (one-shot for rounds=1).

    ``weights`` maps canonical names to the tensors to prune; with no
    ``ticket`` every one of them starts dense.
    """
    if rounds < 1:
        raise ValueError(f'rounds must be >= 1, got {rounds}')
    step = get_strategy(strategy)
    ticket = ticket if ticket is not None else Ticket.dense(weights)
    for _ in range(rounds):
        ticket = step(weights, ticket, rate, generator)
    return ticket
