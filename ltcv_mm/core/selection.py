"""Exact-k selection: remove the k kept entries with the smallest scores, across many layers.

The engine behind every pruning strategy; it knows scores and masks, not
what the scores mean (magnitudes, random draws).

Tie rule: among entries whose scores equal the cut exactly, the first ones in
(layer, flat index) order go first.
"""
from __future__ import annotations

import math
from typing import Mapping, Protocol

import torch

_SAMPLE = 1 << 16


class Scores(Protocol):
    """Non-negative pruning scores of each layer: all of them, or at flat indices."""

    def masked(self, name: str, mask: torch.Tensor) -> torch.Tensor:
        """A new tensor of the layer's scores, 0 where ``mask`` is False."""

    def at(self, name: str, flat_idx: torch.Tensor) -> torch.Tensor:
        """The scores at flat indices."""


def prune_smallest(masks: Mapping[str, torch.Tensor], scores: Scores, k: int,
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
    lo, hi = bracket(masks, scores, k, kept)
    if lo <= 0:  # too few weights to sample: select among all kept scores
        return select_all(masks, scores, k)
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
        return select_all(masks, scores, k)
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


def select_all(masks: Mapping[str, torch.Tensor], scores: Scores, k: int) -> dict[str, torch.Tensor]:
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


def bracket(masks: Mapping[str, torch.Tensor], scores: Scores, k: int, kept: int) -> tuple[float, float]:
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
