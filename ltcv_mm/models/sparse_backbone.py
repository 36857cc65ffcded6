"""SparseBackbone: any OpenMMLab ResNet backbone, restricted to a ticket."""
from __future__ import annotations

import os
import types

import torch
from mmengine.registry import MODELS as MMENGINE_MODELS
from torch import nn

from ..core import Ticket, attach_ticket, load_ticket, random_like
from ..registry import MODELS

MODES = ('ticket', 'reverse', 'random')


def ticket_for_mode(ticket: Ticket, mode: str, seed: int = 0) -> Ticket:
    """The mask a mode trains: the ticket, its complement, or random with its per-layer densities."""
    if mode == 'ticket':
        return ticket
    if mode == 'reverse':
        return ticket.reverse()
    if mode == 'random':
        # random_like reads the ticket's shapes only: its masks stand in for the weights
        return random_like(ticket.masks, ticket, 0.0, torch.Generator().manual_seed(seed))
    raise ValueError(f'SparseBackbone: unknown mode {mode!r}; choose one of {MODES}')


def _init_then_mask(module: nn.Module) -> None:
    """``init_weights`` of a SparseBackbone: the stock one (``init_cfg``), then the ticket.

    Bound to the module with ``types.MethodType``, which ``copy.deepcopy``
    rebinds to the copy.
    """
    type(module).init_weights(module)
    module.ltcv_masks.apply(module)


SPARSE_ARGS = ('ticket', 'mode', 'seed', 'wraps', 'backbone', 'dense')


def stock_backbone_cfg(cfg: dict) -> dict:
    """The dense stock backbone config that a SparseBackbone config restricts (either form)."""
    if cfg.get('backbone') is not None:
        return dict(cfg['backbone'])
    return {**{k: v for k, v in cfg.items() if k not in SPARSE_ARGS}, 'type': cfg['wraps']}


@MODELS.register_module()
def SparseBackbone(ticket: str, mode: str = 'ticket', seed: int = 0, backbone: dict | None = None,
                   wraps: str | None = None, dense: list[str] | None = None, **backbone_args) -> nn.Module:
    """Build a stock backbone and restrict it to a ticket for the whole fine-tuning.

    Returns the stock backbone itself, so necks, heads, ``frozen_stages``,
    ``norm_eval`` and checkpoint keys stay exactly as without the plugin. Its
    ``init_weights`` still loads the pre-trained weights through its own
    ``init_cfg``, then the pruned weights are zeroed. Afterwards they stay
    zero in every forward (masked just before it), in their gradients (so
    momentum stays zero), in every saved state dict and after every load,
    on whatever device and in whatever dtype the model is moved to.

    The backbone is given in one of two forms:

    - ``backbone=dict(type='mmdet.ResNet', ...)``: the whole backbone config;
    - ``wraps='ResNet'`` with the backbone's own arguments beside it. A config
      that only changes ``type`` of an inherited stock backbone to
      ``'ltcv.SparseBackbone'`` keeps every stock argument (depth,
      ``frozen_stages``, ``norm_cfg``, ``init_cfg``...) and names the stock
      type in ``wraps``: nothing of the stock config is copied.

    Args:
        ticket: a ticket file (``tools/ticket.py``, IMPHook).
        mode: ``ticket``, ``reverse`` (1 - mask) or ``random`` (random mask
            with the ticket's per-layer densities, seeded by ``seed``).
        dense: canonical-name patterns of prunable layers the ticket leaves
            dense on purpose; any other prunable layer missing from the ticket
            (a ResNet-50 ticket on a ResNet-101) is an error.
    """
    if (backbone is None) == (wraps is None):
        raise ValueError("SparseBackbone needs exactly one of backbone=dict(type='mmdet.ResNet', ...) or "
                         "wraps='ResNet' with the backbone's arguments beside it; got "
                         + ('both' if backbone is not None else 'neither'))
    if backbone is not None and backbone_args:
        raise ValueError(f'SparseBackbone: unexpected arguments {sorted(backbone_args)} beside backbone=...; '
                         'put them inside the backbone dict (or use wraps=)')
    if ticket and not isinstance(ticket, (str, os.PathLike)):
        raise ValueError(f'SparseBackbone: ticket must be the path of a ticket file, got {ticket!r}')
    if not ticket:
        raise ValueError('SparseBackbone: no ticket given; set model.backbone.ticket '
                         '(e.g. --cfg-options model.backbone.ticket=work_dirs/t.safetensors)')
    cfg = dict(backbone) if backbone is not None else dict(backbone_args, type=wraps)
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise ValueError(f'SparseBackbone: seed must be a whole number, got {seed!r}')
    chosen = ticket_for_mode(load_ticket(ticket), mode, seed)
    module = MMENGINE_MODELS.build(cfg)
    # The masks become buffers of the backbone: they follow it when the Runner moves the
    # model to the GPU, casts or copies it (EMA); ``module.ltcv_masks`` holds the ticket.
    attach_ticket(module, chosen, prefixes=[''], what=f'ticket {ticket} ({mode})', dense=dense)
    module.init_weights = types.MethodType(_init_then_mask, module)
    return module
