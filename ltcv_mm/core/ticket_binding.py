"""Where a ticket's masks go in a module, and whether it fits: every check made before anything is attached.

A ticket binds by canonical name to every copy of the backbone in a model
(``backbone.``, MoCo's ``encoder_k.module.0.``, ...) and, for a whole-model
ticket, by full name to the layers outside it. It fits when every layer
binds with its shape and every prunable layer of each copy it binds to is in
it (or named dense): a ResNet-50 ticket never binds silently to part of a
ResNet-101.
"""
from __future__ import annotations

from typing import Iterable

from torch import nn

from .names import backbone_split, infer_arch, matches_any, pattern_list, select_prunable
from .ticket import Ticket

FSDP_ADVICE = ("FSDP shards parameters (FSDP1 also flattens them), so per-parameter masks cannot follow "
               "them; train tickets with DDP (mmengine's default MMDistributedDataParallel), and shard the "
               "optimizer state with ZeroRedundancyOptimizer if memory is short")


class TicketBindingError(ValueError):
    """A ticket does not fit the model it is applied to."""


def check_not_flattened(module: nn.Module, what: str, recurse: bool = True) -> None:
    """Refuse FSDP-wrapped modules and flattened parameters, with the alternative named."""
    try:
        from torch.distributed.fsdp import FullyShardedDataParallel as FSDP
    except ImportError:  # a torch built without distributed support
        FSDP = ()
    for name, sub in (module.named_modules() if recurse else [('', module)]):
        if isinstance(sub, FSDP) or 'FullyShard' in type(sub).__name__ or type(sub).__name__.startswith('FSDP'):
            raise TicketBindingError(f'{what}: {name or "the model"} is wrapped in FSDP '
                                     f'({type(sub).__name__}); {FSDP_ADVICE}')
    for name, param in (module.named_parameters() if recurse else []):
        if type(param).__name__ in ('FlatParameter', 'DTensor') or '_flat_param' in name:
            raise TicketBindingError(f'{what}: parameter {name!r} is a {type(param).__name__} (FSDP); '
                                     f'{FSDP_ADVICE}')


def check_ticket_fits(module: nn.Module, ticket: Ticket, prefixes: Iterable[str] | None = None,
                      dense: Iterable[str] | None = None, what: str = 'ticket') -> None:
    """Raise TicketBindingError unless ``attach_ticket`` would accept ``ticket`` for ``module``;
    attaches nothing."""
    bind_ticket(module, ticket, pattern_list(prefixes, 'prefixes', allow_none=True), True, what,
          pattern_list(dense, 'dense', allow_none=True))


def bind_ticket(module: nn.Module, ticket: Ticket, prefixes: tuple[str, ...] | None, strict: bool,
          what: str, dense: Iterable[str] | None = None) -> list[tuple[str, str, str]]:
    check_not_flattened(module, what)
    arch = ticket.meta.get('arch') or infer_arch(ticket.shapes)
    bound = {k: 0 for k in ticket.masks}
    entries, backbones = [], set()
    for full, param in module.named_parameters():
        split = backbone_split(full, ticket.masks)
        if split is None:  # outside the backbone: a whole-model ticket keys these by full name
            if full not in ticket.masks:
                continue
            split = ('', full)
        elif prefixes is not None and split[0] not in prefixes:
            continue
        else:
            backbones.add(split[0])
        pre, canon = split
        if canon.startswith('stem.'):  # tickets come from the plain 7x7 stem
            raise TicketBindingError(
                f'{what}: the model has a deep-stem ResNet ({full!r}), but the ticket comes '
                f'from the plain ResNet stem; use a backbone with deep_stem=False (mmseg: '
                f'ResNet, not ResNetV1c)')
        mask = ticket.masks.get(canon)
        if mask is None:
            continue
        if tuple(param.shape) != tuple(mask.shape):
            raise TicketBindingError(
                f'{what}: layer {canon!r} has shape {tuple(mask.shape)} in the ticket but '
                f'{tuple(param.shape)} in the model ({full!r}); the ticket is for another '
                f'architecture ({arch})')
        bound[canon] += 1
        path, _, pname = full.rpartition('.')
        entries.append((path, pname, full))
    if not entries:
        raise TicketBindingError(
            f'{what}: none of its {len(ticket.masks)} layers (e.g. {next(iter(ticket.masks))!r}) '
            f'matches a parameter of the model'
            + (f' under prefixes {list(prefixes)}' if prefixes is not None else ''))
    unbound = [k for k, n in bound.items() if n == 0]
    if unbound and strict:
        raise TicketBindingError(
            f'{what}: {len(unbound)} of its layers match no parameter of the model, first '
            f'{unbound[0]!r}; the ticket is for another architecture ({arch})')
    if strict:
        check_coverage(module, ticket, sorted(backbones), arch, dense, what)
    return entries


def check_coverage(module: nn.Module, ticket: Ticket, prefixes: list[str], arch: str,
                    dense: Iterable[str] | None, what: str) -> None:
    """The other way round: every prunable layer of each bound copy of the backbone is in the ticket.

    A ResNet-50 ticket fits the first blocks of a ResNet-101 shape for shape;
    without this check the deeper model would train with its other layers
    dense, silently. Layers matching a ``dense`` pattern may stay dense. (With
    every layer covered both ways and shapes equal, the architectures are equal.)
    """
    params = dict(module.named_parameters())
    for pre in prefixes:
        layers = select_prunable(params, prefix=pre)
        left = [c for c in layers if c not in ticket.masks and not matches_any(c, tuple(dense or ()))]
        if left:
            model_arch = infer_arch({k: tuple(v.shape) for k, v in layers.items()})
            raise TicketBindingError(
                f'{what}: the ticket is for {arch}, the model is a {model_arch}: {len(left)} of the '
                f'{len(layers)} prunable layers of the model{f" (under {pre!r})" if pre else ""} are not in '
                f'the ticket (first {left[0]!r}) and would train dense. Use a ticket of the same '
                f'architecture, or name the layers to leave dense: dense=[{left[0]!r}, ...] (fnmatch '
                f'patterns)')
