"""SlimBackbone: any OpenMMLab ResNet backbone, physically narrowed to a refilled ticket's channels."""
from __future__ import annotations

import os
import types

from mmengine.registry import MODELS as MMENGINE_MODELS
from torch import nn

from ..core import attach_ticket, load_ticket
from ..core.channel_slim import narrow_resnet, slim_ticket
from ..registry import MODELS
from .sparse_backbone import _init_then_mask


@MODELS.register_module()
def SlimBackbone(ticket: str, backbone: dict | None = None, wraps: str | None = None, **backbone_args) -> nn.Module:
    """Build a stock ResNet backbone with each block's inner convs and BatchNorms cut to the channels of a
    refilled ticket (``tools/ticket.py refill``, ``IMPHook(refill=True)``).

    Returns the stock backbone itself, every module under its stock name, so
    necks, heads and checkpoint keys stay as without the plugin; only the
    sliced layers are smaller. Its ``init_cfg`` must point at weights cut the
    same way (``tools/ticket.py slim``). The residual outputs keep full width
    and the ticket's own mask, enforced as SparseBackbone enforces a ticket.
    Given as SparseBackbone is: ``backbone=dict(type=..., ...)`` or
    ``wraps='ResNet'`` with the backbone's arguments beside it.
    """
    if (backbone is None) == (wraps is None):
        raise ValueError("SlimBackbone needs exactly one of backbone=dict(type='mmdet.ResNet', ...) or "
                         "wraps='ResNet' with the backbone's arguments beside it; got "
                         + ('both' if backbone is not None else 'neither'))
    if backbone is not None and backbone_args:
        raise ValueError(f'SlimBackbone: unexpected arguments {sorted(backbone_args)} beside backbone=...')
    if not ticket or not isinstance(ticket, (str, os.PathLike)):
        raise ValueError(f'SlimBackbone: ticket must be the path of a refilled ticket file, got {ticket!r}')
    refilled = load_ticket(ticket)
    module = MMENGINE_MODELS.build(dict(backbone) if backbone is not None else dict(backbone_args, type=wraps))
    try:
        narrow_resnet(module, refilled)
    except (ValueError, TypeError) as e:
        raise ValueError(f'SlimBackbone: {ticket}: {e}') from None
    attach_ticket(module, slim_ticket(refilled), prefixes=[''], what=f'ticket {ticket} (slim)')
    module.init_weights = types.MethodType(_init_then_mask, module)
    return module
