"""Channel refill (Structure-LTH, Chen et al., ICML 2022): a ResNet ticket turned into whole channels.

In each residual block, every conv whose output feeds only the next conv of
the block (``conv1``, and ``conv2`` of a Bottleneck) keeps whole output
channels: as many as the ticket's kept count in that layer fills (to one
channel's rounding), the channels with the most kept magnitude, each whole
over the input channels still alive. The next conv then drops the input
channels that are gone, so nothing reads a pruned channel and the block can
be sliced to a narrower one with the same outputs. The block's last conv and
its ``downsample`` add into the residual stream, whose width stays full:
they keep the ticket's own mask (less the dead inputs). Other layers (the
stem, layers outside blocks) keep theirs.

Refilling never revives a weight the ticket's previous refill pruned: a
channel is only chosen among those with a kept weight on a live input. The
result is an ordinary ticket (``meta['refill'] = 'channels'``, the kept
channels per layer in ``meta['kept_channels']``).
"""
from __future__ import annotations

import re
from typing import Mapping

import torch

from .ticket import Ticket

_BLOCK_CONV = re.compile(r'^(?P<block>.*layer\d+\.\d+)\.conv(?P<i>\d+)\.weight$')


def block_convs(names) -> dict[str, list[str]]:
    """The ticket layers of each residual block, in order: ``{'layer1.0': ['layer1.0.conv1.weight', ...]}``."""
    blocks: dict[str, list[tuple[int, str]]] = {}
    for name in names:
        m = _BLOCK_CONV.match(name)
        if m:
            blocks.setdefault(m['block'], []).append((int(m['i']), name))
    return {b: [n for _, n in sorted(convs)] for b, convs in blocks.items()}


def _whole_channels(weight: torch.Tensor, mask: torch.Tensor, live_in: torch.Tensor) -> tuple[torch.Tensor, int]:
    """The refilled mask of one channel-pruned conv and its channel count."""
    out_ch = mask.shape[0]
    per_channel = int(live_in.sum()) * mask[0, 0].numel()
    kept_live = mask & live_in.view(1, -1, 1, 1)
    score = (weight.detach().abs().float() * kept_live).flatten(1).sum(1)
    alive = kept_live.flatten(1).any(1)
    k = min(round(int(mask.sum()) / per_channel), int(alive.sum())) if per_channel else 0
    # the most kept magnitude first; equal scores by channel index (a stable order on every machine)
    order = sorted(range(out_ch), key=lambda c: (not bool(alive[c]), -float(score[c]), c))
    chosen = torch.zeros(out_ch, dtype=torch.bool)
    chosen[order[:k]] = True
    refilled = chosen.view(-1, 1, 1, 1) & live_in.view(1, -1, 1, 1)
    return refilled.expand_as(mask).clone(), k


def refill_channels(ticket: Ticket, weights: Mapping[str, torch.Tensor]) -> Ticket:
    """``ticket`` refilled into whole channels of each block's inner convs, ranked by ``weights`` (canonical
    names, the weights the ticket was drawn from)."""
    masks = dict(ticket.masks)
    kept_channels = {}
    for block, convs in block_convs(ticket.masks).items():
        live = torch.ones(ticket.masks[convs[0]].shape[1], dtype=torch.bool)  # the residual stream: full
        for name in convs[:-1]:
            if name not in weights:
                raise KeyError(f'refill: no weight for ticket layer {name!r}')
            if masks[name].shape[1] != live.numel():
                raise ValueError(f'refill: {name!r} takes {masks[name].shape[1]} channels, the conv before it in '
                                 f'{block} gives {live.numel()}')
            masks[name], kept_channels[name] = _whole_channels(weights[name], masks[name], live)
            live = masks[name].flatten(1).any(1)
        last = convs[-1]
        if masks[last].shape[1] != live.numel():
            raise ValueError(f'refill: {last!r} takes {masks[last].shape[1]} channels, the conv before it in '
                             f'{block} gives {live.numel()}')
        masks[last] = masks[last] & live.view(1, -1, 1, 1)  # residual output: full width, dead inputs dropped
    return Ticket(masks, {**ticket.meta, 'refill': 'channels', 'kept_channels': kept_channels})
