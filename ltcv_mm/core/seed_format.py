"""Import and export of the masks the paper's seed code keeps.

The seed code prunes with ``torch.nn.utils.prune``, so its files hold float
0/1 masks named ``<param>_mask``: flat dicts of them, whole checkpoints where
each pruned conv has ``weight_orig`` and ``weight_mask``, or such a dict
under a ``mask`` key; DataParallel adds ``module.`` and MoCo
``module.encoder_q.`` in front of the names.
"""
from __future__ import annotations

from typing import Any, Mapping

import torch

from .names import STEM_CONV, infer_arch, split_canonical
from .ticket import Ticket

MASK_SUFFIX = '_mask'


class SeedFormatError(ValueError):
    """A seed-code mask file that cannot be read as a ticket."""


def _find_mask_dict(obj: Any, where: str) -> Mapping[str, torch.Tensor]:
    if not isinstance(obj, Mapping):
        raise SeedFormatError(f'{where}: expected a dict of masks, got {type(obj).__name__}')
    for key in ('mask', 'state_dict', 'model'):
        inner = obj.get(key)
        if isinstance(inner, Mapping) and any(str(k).endswith(MASK_SUFFIX) for k in inner):
            return inner
    if any(str(k).endswith(MASK_SUFFIX) for k in obj):
        return obj
    raise SeedFormatError(f'{where}: no "*.weight_mask" entries found (looked at the top level '
                          f'and under "mask", "state_dict", "model"); first keys: {list(obj)[:5]}')


def ticket_from_seed(obj: Any, where: str = '<object>', **meta: Any) -> Ticket:
    """A Ticket from a loaded seed-code mask file or checkpoint.

    With MoCo checkpoints, the query encoder's masks are used (the seed code
    applies the same mask to the key encoder).
    """
    entries = _find_mask_dict(obj, where)
    by_prefix: dict[str, dict[str, torch.Tensor]] = {}
    for key, value in entries.items():
        if not key.endswith(MASK_SUFFIX) or not isinstance(value, torch.Tensor):
            continue
        split = split_canonical(key[:-len(MASK_SUFFIX)])
        if split is None:
            raise SeedFormatError(f'{where}: mask {key!r} is not a ResNet layer')
        prefix, canon = split
        if value.dim() != 4 or not canon.endswith('.weight'):
            raise SeedFormatError(f'{where}: mask {key!r} of shape {tuple(value.shape)} is not a conv kernel\'s: '
                                  f'a ticket masks conv weights only (no BatchNorm, bias or fc)')
        uniq = torch.unique(value)
        if not bool(((uniq == 0) | (uniq == 1)).all()):
            bad = [float(u) for u in uniq if u not in (0, 1)][:3]
            raise SeedFormatError(f'{where}: mask {key!r} is not binary (holds {bad})')
        by_prefix.setdefault(prefix, {})[canon] = value != 0
    prefixes = sorted(by_prefix, key=lambda p: ('encoder_k' in p, len(p)))
    masks = by_prefix[prefixes[0]]
    _check_resnet(masks, where)
    return Ticket(masks, {'arch': infer_arch({k: tuple(m.shape) for k, m in masks.items()}),
                          'strategy': 'imported', 'imported_from': where, **meta})


def _check_resnet(masks: dict[str, torch.Tensor], where: str) -> None:
    """The masks must be those of a standard ResNet; at full width, with torchvision's conv shapes."""
    shapes = {k: tuple(v.shape) for k, v in masks.items()}
    arch = infer_arch(shapes)
    depth = arch[len('resnet'):].split('-w')[0]
    if not depth.isdigit():
        raise SeedFormatError(f'{where}: its masks do not form a ResNet (read as {arch!r}); a seed mask file '
                              f'holds every conv of a ResNet')
    import torchvision
    with torch.device('meta'):  # the names do not depend on the width; the shapes do
        expected = {k: tuple(v.shape) for k, v in getattr(torchvision.models, f'resnet{depth}')().named_parameters()
                    if v.dim() == 4}
    missing = [k for k in expected if k not in shapes and k != STEM_CONV]  # the seed code may skip the stem
    if missing:
        raise SeedFormatError(f'{where}: {len(missing)} convs of a resnet{depth} have no mask, first {missing[0]!r}; '
                              f'a seed mask file holds every conv of a ResNet (the stem may be left out)')
    if '-w' in arch:  # a narrowed ResNet: no reference shapes to compare with
        return
    for name, shape in shapes.items():
        if expected.get(name) != shape:
            raise SeedFormatError(f'{where}: mask {name!r} has shape {shape}, but a {arch} conv there has '
                                  f'{expected.get(name)}')


def ticket_to_seed(ticket: Ticket, prefix: str = '') -> dict[str, torch.Tensor]:
    """The seed code's flat form: ``{prefix + name + '_mask': float 0/1 tensor}``."""
    return {prefix + name + MASK_SUFFIX: mask.float() for name, mask in ticket.masks.items()}
