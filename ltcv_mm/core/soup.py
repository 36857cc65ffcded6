"""Sparse model soups (Zimmer, Spiegel & Pokutta, ICLR 2024): the average of copies trained under one mask.

Copies that share a ticket have zeros at the same places, so their average
keeps the ticket's sparsity; IMP with soups then prunes the soup instead of
one copy. The average is taken in float64 and cast back; every copy of the
backbone in the state dicts (``backbone.``, MoCo's ``encoder_k``) is held
to the ticket, binding by canonical name as a ticket binds to a model.
"""
from __future__ import annotations

from typing import Mapping, Sequence

import torch

from .names import canonical_name, select_prunable
from .strategies import prune
from .ticket import Ticket


class SoupError(ValueError):
    """Copies that cannot be averaged: other keys, shapes or dtypes, or not under the soup's ticket."""


def _check_same_layout(states: Sequence[Mapping[str, torch.Tensor]], names: Sequence[str]) -> None:
    first = states[0]
    for state, name in zip(states[1:], names[1:]):
        if set(state) != set(first):
            diff = sorted(set(state) ^ set(first))
            raise SoupError(f'{name}: other keys than {names[0]} (first difference: {diff[0]!r}); a soup averages '
                            f'copies of one model')
        for key, t in state.items():
            if not isinstance(t, torch.Tensor):
                continue
            if t.shape != first[key].shape or t.dtype != first[key].dtype:
                raise SoupError(f'{name}: {key!r} is {tuple(t.shape)} {t.dtype}, {names[0]} has '
                                f'{tuple(first[key].shape)} {first[key].dtype}')


def ticket_entries(state: Mapping[str, torch.Tensor], ticket: Ticket) -> dict[str, torch.Tensor]:
    """The state dict's keys that hold a ticket layer (in every copy of the backbone) and their masks."""
    out = {}
    for key, t in state.items():
        canon = canonical_name(key) if isinstance(t, torch.Tensor) else None
        if canon in ticket.masks and tuple(t.shape) == tuple(ticket.masks[canon].shape):
            out[key] = ticket.masks[canon]
    return out


def average_state_dicts(states: Sequence[Mapping[str, torch.Tensor]], ticket: Ticket | None = None,
                        names: Sequence[str] | None = None) -> dict[str, torch.Tensor]:
    """The soup of ``states``: the arithmetic mean of every floating-point entry; integer entries (BatchNorm's
    step counts) must agree or take the largest. With ``ticket``, every copy must hold exact zeros where it
    prunes (else it was not trained under it), and so does the soup."""
    if len(states) < 2:
        raise SoupError(f'a soup needs at least 2 copies, got {len(states)}')
    names = list(names or [f'copy {i}' for i in range(len(states))])
    _check_same_layout(states, names)
    masked = ticket_entries(states[0], ticket) if ticket is not None else {}
    if ticket is not None and not masked:
        raise SoupError(f'no entry of {names[0]} holds a layer of the ticket (its layers: '
                        f'{sorted(ticket.masks)[:3]}...)')
    for state, name in zip(states, names):
        for key, mask in masked.items():
            nonzero = int(torch.count_nonzero(state[key][~mask]))
            if nonzero:
                raise SoupError(f'{name}: {key!r} has {nonzero} non-zero weights where the ticket prunes: it was '
                                f'not trained under this ticket')
    soup = {}
    for key, first in states[0].items():
        if not isinstance(first, torch.Tensor):
            soup[key] = first
        elif first.is_floating_point():
            total = sum(s[key].double() for s in states)
            soup[key] = (total / len(states)).to(first.dtype)
            if key in masked:  # zero already; exact, whatever the rounding of the cast
                soup[key] = soup[key] * masked[key]
        else:
            soup[key] = torch.stack([s[key] for s in states]).max(0).values
    return soup


def prune_soup(soup: Mapping[str, torch.Tensor], ticket: Ticket, rate: float, strategy: str = 'global_magnitude',
               copies: int | None = None, where: str = 'the soup') -> Ticket:
    """The next IMP round's ticket: ``soup``'s backbone weights (the first copy found) pruned from ``ticket``
    by ``rate`` of its kept weights, with ``method: soup`` (and ``copies``) in its provenance."""
    weights = {k: w for k, w in select_prunable(soup, exclude=()).items() if k in ticket.masks}
    missing = sorted(set(ticket.masks) - set(weights))
    if missing:
        raise SoupError(f'{where}: no backbone weight for the ticket layer {missing[0]!r}')
    meta = {'method': 'soup', 'source': ticket.meta.get('source'), **({'copies': copies} if copies else {})}
    return prune(weights, ticket, rate=rate, strategy=strategy, meta=meta)
