"""A refilled ticket's ResNet made physically narrower: each block's inner convs and BatchNorms sliced to the
kept channels, every module and state key keeping its stock name (only shapes change).

``slim_state_dict`` slices weights (canonical names), ``narrow_resnet`` the
modules of a built ResNet in place. The slim model computes what the dense
model under the refilled ticket computes: a refilled ticket reads no pruned
channel (``channel_refill``), so dropping those channels changes nothing.
The residual outputs (each block's last conv, ``downsample``) keep full width
and the ticket's own mask, which ``slim_ticket`` returns in the slim shapes.
"""
from __future__ import annotations

from typing import Mapping

import torch
from torch import nn

from .channel_refill import block_convs
from .ticket import Ticket

BN_ENTRIES = ('weight', 'bias', 'running_mean', 'running_var')


def kept_indices(ticket: Ticket) -> dict[str, torch.Tensor]:
    """Per inner conv of each block (``layer1.0.conv1``), the output channels a refilled ticket keeps."""
    if ticket.meta.get('refill') != 'channels':
        raise ValueError('slim: the ticket is not refilled into channels (tools/ticket.py refill, or IMPHook '
                         'refill=True); an unstructured ticket has no channels to drop')
    out = {}
    for convs in block_convs(ticket.masks).values():
        for name in convs[:-1]:
            kept = torch.nonzero(ticket.masks[name].flatten(1).any(1)).flatten()
            # a layer pruned whole keeps one channel of zeros (its mask keeps nothing there): a conv needs a
            # channel, and nothing reads this one
            out[name[:-len('.weight')]] = kept if kept.numel() else torch.zeros(1, dtype=torch.long)
    return out


def _slices(ticket: Ticket) -> dict[str, tuple[torch.Tensor | None, torch.Tensor | None]]:
    """Per conv module: (kept output channels or None, kept input channels or None)."""
    keep = kept_indices(ticket)
    out = {}
    for convs in block_convs(ticket.masks).values():
        previous = None
        for name in convs:
            module = name[:-len('.weight')]
            out[module] = (keep.get(module), previous)
            previous = keep.get(module)
    return out


def _slice(t: torch.Tensor, rows: torch.Tensor | None, cols: torch.Tensor | None) -> torch.Tensor:
    if rows is not None:
        t = t.index_select(0, rows)
    if cols is not None and t.dim() > 1:
        t = t.index_select(1, cols)
    return t.contiguous()


def _bn_of(conv: str) -> str:
    head, _, last = conv.rpartition('.')
    return f'{head}.{last.replace("conv", "bn")}'


def slim_state_dict(state: Mapping[str, torch.Tensor], ticket: Ticket, prefix: str = '') -> dict[str, torch.Tensor]:
    """``state`` with each block's inner convs and their BatchNorms sliced to the refilled ticket's channels;
    the ResNet's entries carry the canonical names under ``prefix`` (``layer1.0.conv1.weight``, or
    ``backbone.layer1.0.conv1.weight`` in a detector's state dict), every other entry is kept as it is."""
    out = dict(state)
    for conv, (rows, cols) in _slices(ticket).items():
        key = prefix + conv + '.weight'
        if key not in state:
            raise KeyError(f'slim: no weight {key!r} in the state dict')
        out[key] = _slice(state[key], rows, cols)
        if rows is not None:
            for entry in BN_ENTRIES:
                bn_key = f'{prefix}{_bn_of(conv)}.{entry}'
                if bn_key not in state:
                    raise KeyError(f'slim: no {bn_key!r} in the state dict (a BatchNorm after {conv})')
                out[bn_key] = _slice(state[bn_key], rows, None)
    return out


def slim_ticket(ticket: Ticket) -> Ticket:
    """The ticket's masks in the slim shapes (all-kept in the sliced inner convs; the residual outputs' own)."""
    slices = _slices(ticket)
    masks = {}
    for name, mask in ticket.masks.items():
        rows, cols = slices.get(name[:-len('.weight')], (None, None))
        masks[name] = _slice(mask, rows, cols)
    return Ticket(masks, {**ticket.meta, 'slim': True})


def widths(ticket: Ticket) -> dict[str, int]:
    """The slim channel count of every inner conv (``layer1.0.conv1``: 5; 1 where it is pruned whole)."""
    return {k: int(v.numel()) for k, v in kept_indices(ticket).items()}


def narrow_resnet(model: nn.Module, ticket: Ticket, prefix: str = '') -> nn.Module:
    """Replace, in place, the inner convs of each block of ``model`` (a ResNet whose modules carry the
    canonical names under ``prefix``) and their BatchNorms by ones of the refilled ticket's widths, with new
    (uninitialised) parameters: load slim weights after (``slim_state_dict``). Returns ``model``."""
    for conv, (rows, cols) in _slices(ticket).items():
        old = model.get_submodule(prefix + conv)
        if type(old) is not nn.Conv2d:
            raise TypeError(f'slim: {prefix + conv} is a {type(old).__name__}; only plain nn.Conv2d can be '
                            f'sliced (no DCN or plugins in the sliced convs)')
        out_ch = old.out_channels if rows is None else int(rows.numel())
        in_ch = old.in_channels if cols is None else int(cols.numel())
        if old.groups != 1:
            raise TypeError(f'slim: {prefix + conv} is a grouped conv (groups={old.groups}); not sliced')
        new = nn.Conv2d(in_ch, out_ch, old.kernel_size, old.stride, old.padding, old.dilation,
                        bias=old.bias is not None, padding_mode=old.padding_mode)
        _replace(model, prefix + conv, new)
        if rows is not None:
            bn = model.get_submodule(prefix + _bn_of(conv))
            if not isinstance(bn, nn.modules.batchnorm._BatchNorm):
                raise TypeError(f'slim: {prefix + _bn_of(conv)} is a {type(bn).__name__}, not a BatchNorm')
            _replace(model, prefix + _bn_of(conv), type(bn)(out_ch, bn.eps, bn.momentum, bn.affine,
                                                            bn.track_running_stats))
    return model


def _replace(model: nn.Module, name: str, module: nn.Module) -> None:
    parent, _, child = name.rpartition('.')
    setattr(model.get_submodule(parent) if parent else model, child, module)
