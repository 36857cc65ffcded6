"""Binding a ticket to a model's parameters and keeping pruned weights at zero."""
from __future__ import annotations

from typing import Iterable

import torch
from torch import nn

from .names import infer_arch, split_canonical
from .ticket import Ticket

# Optimizer state entries that follow a parameter elementwise (SGD momentum,
# Adam/AdamW moments, LARS momentum); zeroing them for pruned weights keeps a
# later un-masked step from resurrecting them.
_ELEMENTWISE_STATE = ('momentum_buffer', 'exp_avg', 'exp_avg_sq', 'max_exp_avg_sq')


class TicketBindingError(ValueError):
    """A ticket does not fit the model it is applied to."""


class BoundTicket:
    """A ticket's masks bound to live parameters, applied in place.

    Each mask is bound to every parameter whose canonical name it carries,
    under any prefix (``backbone.``, ``encoder_k.module.0.``, ...), or only
    under ``prefixes`` when given. Masks live on the parameter's device as
    uint8 0/1 (1 byte per weight; multiplying floats by uint8 is about twice
    as fast as by bool, which torch converts first); ``apply()`` is one fused
    ``torch._foreach_mul_`` per device and dtype, with no ``weight_orig`` copy
    and no forward hook.
    """

    def __init__(self, ticket: Ticket, model: nn.Module, prefixes: Iterable[str] | None = None,
                 strict: bool = True, what: str = 'ticket') -> None:
        self.ticket = ticket
        self.names: list[str] = []
        self.params: list[nn.Parameter] = []
        self.masks: list[torch.Tensor] = []
        prefixes = None if prefixes is None else tuple(prefixes)
        arch = ticket.meta.get('arch') or infer_arch(ticket.shapes)
        bound: dict[str, int] = {k: 0 for k in ticket.masks}
        seen_prefixes: set[str] = set()
        on_device: dict[tuple[str, torch.device], torch.Tensor] = {}  # one copy per device
        for full, param in model.named_parameters():
            split = split_canonical(full)
            if split is None:
                continue
            pre, canon = split
            if prefixes is not None and pre not in prefixes:
                continue
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
            seen_prefixes.add(pre)
            bound[canon] += 1
            self.names.append(full)
            self.params.append(param)
            key = (canon, param.device)
            if key not in on_device:
                # bool and uint8 share a byte layout: a view, no copy on the CPU
                on_device[key] = mask.to(param.device).view(torch.uint8)
            self.masks.append(on_device[key])
        unbound = [k for k, n in bound.items() if n == 0]
        if not self.params:
            raise TicketBindingError(
                f'{what}: none of its {len(ticket.masks)} layers (e.g. {next(iter(ticket.masks))!r}) '
                f'matches a parameter of the model'
                + (f' under prefixes {list(prefixes)}' if prefixes is not None else ''))
        if unbound and strict:
            raise TicketBindingError(
                f'{what}: {len(unbound)} of its layers match no parameter of the model, first '
                f'{unbound[0]!r}; the ticket is for another architecture '
                f'({arch})')
        self.prefixes = sorted(seen_prefixes)
        self._groups = self._group()

    def _group(self) -> list[tuple[list[torch.Tensor], list[torch.Tensor]]]:
        groups: dict[tuple, tuple[list, list]] = {}
        for p, m in zip(self.params, self.masks):
            ps, ms = groups.setdefault((p.device, p.dtype), ([], []))
            ps.append(p)
            ms.append(m)
        return list(groups.values())

    @torch.no_grad()
    def apply(self) -> None:
        """Zero every pruned weight, in place."""
        for params, masks in self._groups:
            torch._foreach_mul_([p.data for p in params], masks)

    @torch.no_grad()
    def apply_to_grads(self) -> None:
        """Zero the gradients of pruned weights (before an optimizer step).

        With pruned gradients and weights at zero, momentum and Adam moments of
        pruned weights stay zero, and layer-wise optimizers such as LARS see
        the sparse network's gradient norms, as with torch.nn.utils.prune.
        """
        groups: dict[tuple, tuple[list, list]] = {}
        for p, m in zip(self.params, self.masks):
            if p.grad is not None:
                grads, masks = groups.setdefault((p.grad.device, p.grad.dtype), ([], []))
                grads.append(p.grad)
                masks.append(m)
        for grads, masks in groups.values():
            torch._foreach_mul_(grads, masks)

    @torch.no_grad()
    def apply_to_optimizer(self, optimizer: torch.optim.Optimizer) -> None:
        """Zero the elementwise optimizer state of pruned weights (one fused multiply per kind)."""
        groups: dict[tuple, tuple[list, list]] = {}
        for p, m in zip(self.params, self.masks):
            state = optimizer.state.get(p)
            if not state:
                continue
            for key in _ELEMENTWISE_STATE:
                buf = state.get(key)
                if isinstance(buf, torch.Tensor) and buf.shape == p.shape:
                    bufs, masks = groups.setdefault((buf.device, buf.dtype), ([], []))
                    bufs.append(buf)
                    masks.append(m)
        for bufs, masks in groups.values():
            torch._foreach_mul_(bufs, masks)

    @torch.no_grad()
    def apply_to_state_dict(self, state_dict: dict, prefix: str = '') -> None:
        """Zero pruned weights in a state dict holding the bound parameters' names."""
        for name, m in zip(self.names, self.masks):
            t = state_dict.get(prefix + name)
            if isinstance(t, torch.Tensor):
                t.mul_(m.to(t.device))

    def count_nonzero_pruned(self) -> int:
        """How many pruned weights are not exactly zero (0 when the ticket holds)."""
        return sum(int((p.detach()[m == 0] != 0).sum()) for p, m in zip(self.params, self.masks))

    def __len__(self) -> int:
        return len(self.params)


def apply_ticket(ticket: Ticket, model: nn.Module, optimizer: torch.optim.Optimizer | None = None,
                 prefixes: Iterable[str] | None = None, strict: bool = True) -> BoundTicket:
    """Bind ``ticket`` to ``model``, zero pruned weights (and their optimizer state)."""
    bound = BoundTicket(ticket, model, prefixes=prefixes, strict=strict)
    bound.apply()
    if optimizer is not None:
        bound.apply_to_optimizer(optimizer)
    return bound


@torch.no_grad()
def mask_state_dict(ticket: Ticket, state_dict: dict) -> int:
    """Zero pruned weights in a state dict, under any prefix. Returns the tensors masked.

    Binds by name like :class:`BoundTicket`, so it also masks a checkpoint's
    copies of the backbone (an EMA's ``module.`` names, a momentum encoder).
    Entries whose shape does not fit are left alone.
    """
    count = 0
    for name, tensor in state_dict.items():
        split = split_canonical(name)
        if split is None or not isinstance(tensor, torch.Tensor):
            continue
        mask = ticket.masks.get(split[1])
        if mask is not None and tuple(tensor.shape) == tuple(mask.shape):
            tensor.mul_(mask.to(tensor.device))
            count += 1
    return count
