"""Ticket masks that belong to the module they mask.

Attaching a ticket to a module stores each mask as a non-persistent uint8
buffer (``weight_ltcv_mask``) on the submodule that owns the masked
parameter. Buffers move with the module (``.to(device)``, ``.cuda()``,
``.half()`` leaves them uint8), are copied by ``copy.deepcopy`` and never
appear in ``state_dict()``, so checkpoint keys stay the stock ones.

Three hooks go on the module the ticket is attached to (the root), and each
reads the module it is called with, so a copy masks its own weights:

- before every forward: pruned weights are zeroed (optional, see
  ``mask_weights_on_forward``) and every trainable masked parameter carries
  a gradient hook, through which each backward pass ends with its pruned
  gradients zeroed: after DDP's averaging, before the AMP unscale, gradient
  clipping and the optimizer step read them (so momentum and Adam moments
  of pruned weights stay zero and norms are those of the sparse network, as
  with ``torch.nn.utils.prune``);
- ``state_dict()``: pruned entries are saved as zeros (copies, the live
  tensors are not touched);
- ``load_state_dict()``: pruned weights are zeroed after every load.
"""
from __future__ import annotations

import functools
import weakref
from typing import Iterable

import torch
from torch import nn

from .names import backbone_split, mask_key, pattern_list
from .ticket import Ticket
from .ticket_binding import FSDP_ADVICE, TicketBindingError, bind_ticket, check_not_flattened, check_ticket_fits

__all__ = ['TicketBindingError', 'TicketMasks', 'apply_ticket', 'attach_ticket', 'attached_masks',
           'check_not_flattened', 'check_ticket_fits', 'detach_ticket', 'mask_state_dict', 'ticket_holders']

ATTR = 'ltcv_masks'          # the root module's TicketMasks
BUFFER_SUFFIX = '_ltcv_mask'  # weight -> weight_ltcv_mask

# Optimizer state entries that follow a parameter elementwise (SGD momentum,
# Adam/AdamW moments, LARS momentum); zeroing them for pruned weights keeps a
# later step from resurrecting them.
_ELEMENTWISE_STATE = ('momentum_buffer', 'exp_avg', 'exp_avg_sq', 'max_exp_avg_sq')

class TicketMasks:
    """A ticket attached to a module (``module.ltcv_masks``); see the module docstring.

    Methods take the module the masks are attached to (or a deep copy of it),
    and act on its current parameters and buffers. Use :func:`attach_ticket`
    to create one.
    """

    def __init__(self, ticket: Ticket, entries: list[tuple[str, str, str]], what: str,
                 mask_weights_on_forward: bool) -> None:
        self.ticket = ticket
        # (submodule path from the root, parameter name in it, full name from the root)
        self.entries = entries
        self.what = what
        self.mask_weights_on_forward = mask_weights_on_forward
        self._cache: tuple[int, list[tuple[nn.Module, str, str, str]]] | None = None
        self._grad_hooked: dict[str, weakref.ref] = {}
        self._grads_pending = False  # a fused gradient mask is queued for the end of this backward

    def __getstate__(self) -> dict:
        # A copy (deepcopy, pickle) resolves its own submodules and hooks its own parameters.
        return {**self.__dict__, '_cache': None, '_grad_hooked': {}, '_grads_pending': False}

    # -- what is masked ------------------------------------------------------
    @property
    def names(self) -> list[str]:
        """Full names (from the root) of the masked parameters."""
        return [full for _, _, full in self.entries]

    @property
    def prefixes(self) -> list[str]:
        """The prefixes of the backbone copies masked (``backbone.``, ``encoder_k.module.0.``)."""
        return sorted({split[0] for full in self.names
                       if (split := backbone_split(full, self.ticket.masks)) is not None})

    def __len__(self) -> int:
        return len(self.entries)

    def _resolve(self, root: nn.Module) -> list[tuple[nn.Module, str, str, str]]:
        if self._cache is None or self._cache[0] != id(root):
            self._cache = (id(root), [(root.get_submodule(path), pname, pname + BUFFER_SUFFIX, full)
                                      for path, pname, full in self.entries])
        return self._cache[1]

    def pairs(self, root: nn.Module) -> list[tuple[str, torch.Tensor, torch.Tensor]]:
        """``(full name, parameter, mask)`` for every masked parameter, as the root holds them now.

        A mask that no longer sits on its parameter's device (a parameter
        replaced by hand) is moved there once.
        """
        out = []
        for mod, pname, bname, full in self._resolve(root):
            param = mod._parameters.get(pname)
            if param is None:
                raise TicketBindingError(f'{self.what}: {full!r} is no longer a parameter of the model; '
                                         f'{FSDP_ADVICE}')
            mask = mod._buffers[bname]
            if mask.device != param.device:
                mask = mod._buffers[bname] = mask.to(param.device)
            out.append((full, param, mask))
        return out

    # -- masking ---------------------------------------------------------------
    @torch.no_grad()
    def apply(self, root: nn.Module) -> None:
        """Zero every pruned weight of ``root``, in place.

        Through ``.data``: masking already-masked weights changes no value, and
        leaving the version counter alone keeps a second forward through the
        same weights (SimCLR's two views) from invalidating the first one's graph.
        """
        for params, masks in _by_device((p.data, m) for _, p, m in self.pairs(root)):
            torch._foreach_mul_(params, masks)

    @torch.no_grad()
    def apply_to_grads(self, root: nn.Module) -> None:
        """Zero the gradients of pruned weights that have one (the gradient hooks do this after backward)."""
        for grads, masks in _by_device((p.grad, m) for _, p, m in self.pairs(root) if p.grad is not None):
            torch._foreach_mul_(grads, masks)

    @torch.no_grad()
    def apply_to_optimizer(self, root: nn.Module, optimizer: torch.optim.Optimizer) -> None:
        """Zero the elementwise optimizer state of pruned weights (momentum, Adam moments)."""
        state = getattr(optimizer, 'optim', optimizer).state  # ZeroRedundancyOptimizer: the local shard
        pairs = []
        for _, p, m in self.pairs(root):
            for key in _ELEMENTWISE_STATE:
                buf = (state.get(p) or {}).get(key)
                if isinstance(buf, torch.Tensor) and buf.shape == p.shape:
                    pairs.append((buf, m))
        for bufs, masks in _by_device(pairs):
            torch._foreach_mul_(bufs, masks)

    def hook_grads(self, root: nn.Module) -> None:
        """Give every trainable masked parameter its gradient hook (once per parameter object)."""
        self._grads_pending = False  # a backward that failed before its end leaves it set
        for mod, pname, bname, full in self._resolve(root):
            param = mod._parameters.get(pname)
            if param is None or not param.requires_grad:
                continue
            ref = self._grad_hooked.get(full)
            if ref is None or ref() is not param:
                hooks = getattr(param, '_post_accumulate_grad_hooks', None) or {}
                if not any(isinstance(h, _GradMask) and h.root is root
                           for h in hooks.values()):  # hooked by an earlier attach to this root
                    param.register_post_accumulate_grad_hook(_GradMask(root))
                self._grad_hooked[full] = weakref.ref(param)

    def count_nonzero_pruned(self, root: nn.Module) -> int:
        """How many pruned weights of ``root`` are not exactly zero (0 when the ticket holds)."""
        return sum(int((p.detach()[m == 0] != 0).sum()) for _, p, m in self.pairs(root))

    def mask_state_dict(self, root: nn.Module, state_dict: dict, prefix: str = '') -> int:
        """Zero pruned entries of a state dict of ``root`` (keys under ``prefix``); returns how many."""
        return mask_state_dict(state_dict, {prefix + full: m for full, _, m in self.pairs(root)})

    def _set_masks(self, root: nn.Module, ticket: Ticket) -> None:
        for mod, pname, bname, full in self._resolve(root):
            # replaced, never written in place: on the CPU the buffer is a view of the ticket's mask
            mod._buffers[bname] = _as_buffer(ticket.masks[mask_key(full, ticket.masks)], mod._parameters[pname])
        self.ticket = ticket


class _GradMask:
    """Post-accumulate-grad hook of every masked parameter of one root.

    The first to fire in a backward pass arranges one fused multiply of all
    pruned gradients for the end of that pass: after every gradient has
    landed and after DDP has averaged them, before AMP's unscale and inf
    check, gradient clipping and the optimizer step read them. (Masking
    after DDP's average is exact: every rank holds the same masks, and
    averaging commutes with them.) One fused multiply at the end costs less
    than one multiply per gradient inside backward (measured: 3.5 against
    4.9 ms per ResNet-50 step on 2 CPU cores).
    """

    def __init__(self, root: nn.Module) -> None:
        self.root = root

    @torch.compiler.disable  # runs eagerly under torch.compile
    def __call__(self, param: torch.Tensor) -> None:
        masks = self.root.__dict__.get(ATTR)
        if masks is None or masks._grads_pending:  # detached, or already arranged in this pass
            return
        masks._grads_pending = True
        _ENGINE.queue_callback(functools.partial(_mask_grads_at_end, self.root, 1))


_ENGINE = torch.autograd.Variable._execution_engine


def _mask_grads_at_end(root: nn.Module, requeue: int) -> None:
    # Callbacks queued while the pass ran (DDP's finalize, which writes the averaged
    # gradients) come after ours; queued once more, ours runs after them.
    if requeue:
        _ENGINE.queue_callback(functools.partial(_mask_grads_at_end, root, requeue - 1))
        return
    masks = root.__dict__.get(ATTR)
    if masks is not None:
        masks._grads_pending = False
        masks.apply_to_grads(root)


def _as_buffer(mask: torch.Tensor, param: torch.Tensor) -> torch.Tensor:
    # bool and uint8 share a byte layout: a view, no copy on the CPU
    return mask.view(torch.uint8).to(param.device)


def _by_device(pairs: Iterable[tuple[torch.Tensor, torch.Tensor]]) -> list[tuple[list, list]]:
    groups: dict[torch.device, tuple[list, list]] = {}
    for t, m in pairs:
        ts, ms = groups.setdefault(t.device, ([], []))
        ts.append(t)
        ms.append(m)
    return list(groups.values())


@torch.no_grad()
def mask_state_dict(state_dict: dict, masks: dict[str, torch.Tensor]) -> int:
    """Replace ``state_dict[key]`` by ``state_dict[key] * masks[key]`` where both exist and shapes fit.

    Out of place: a live model's state dict holds views of its parameters,
    which stay untouched. Returns the number of entries masked.
    """
    count = 0
    for key, mask in masks.items():
        t = state_dict.get(key)
        if isinstance(t, torch.Tensor) and t.shape == mask.shape:
            state_dict[key] = t * mask.to(t.device)
            count += 1
    return count


# -- the root's hooks: plain functions of the module they are called with ----
@torch.compiler.disable  # in-place work on .data and hook registration: eager, a graph break for dynamo
def _before_forward(module: nn.Module, args) -> None:
    masks: TicketMasks = module.__dict__[ATTR]
    if masks.mask_weights_on_forward:
        masks.apply(module)
    if torch.is_grad_enabled():
        masks.hook_grads(module)


def _mask_saved(module: nn.Module, state_dict: dict, prefix: str, local_metadata) -> None:
    module.__dict__[ATTR].mask_state_dict(module, state_dict, prefix)


def _after_load(module: nn.Module, incompatible_keys) -> None:
    module.__dict__[ATTR].apply(module)


_ROOT_HOOKS = (_before_forward, _mask_saved, _after_load)


def attach_ticket(module: nn.Module, ticket: Ticket, prefixes: Iterable[str] | None = None,
                  strict: bool = True, what: str = 'ticket', mask_weights_on_forward: bool = True,
                  dense: Iterable[str] | None = None) -> TicketMasks:
    """Attach ``ticket`` to ``module`` and zero its pruned weights now.

    Each mask binds to every parameter whose canonical name it carries,
    under any prefix (``backbone.``, ``encoder_k.module.0.``, ...), or only
    under ``prefixes`` when given. With ``strict``, every layer of the ticket
    must bind, and every prunable layer of each copy it binds to must be in
    the ticket (same architecture), except layers matching a ``dense``
    pattern. A module that already holds a ticket gets the new masks in
    place (the layers bound must be the same).

    Args:
        mask_weights_on_forward: zero pruned weights before every forward.
            Needed unless every weight update keeps them at zero by itself
            (the zero-preserving optimizers of MaskApplyHook with masked
            gradients); loads are always masked.
    """
    entries = bind_ticket(module, ticket, pattern_list(prefixes, 'prefixes', allow_none=True), strict, what,
                    pattern_list(dense, 'dense', allow_none=True))
    current: TicketMasks | None = module.__dict__.get(ATTR)
    if current is not None and [e[2] for e in entries] == current.names:
        current._set_masks(module, ticket)
        current.what, current.mask_weights_on_forward = what, mask_weights_on_forward
        current.apply(module)
        return current
    if current is not None:
        detach_ticket(module)
    for path, pname, full in entries:
        owner = module.get_submodule(path)
        bname = pname + BUFFER_SUFFIX
        if bname in owner._buffers:
            raise TicketBindingError(f'{what}: {full!r} already carries a ticket attached to another module '
                                     f'(e.g. SparseBackbone inside a model that MaskApplyHook also masks); '
                                     f'use one of the two')
        mask = ticket.masks[mask_key(full, ticket.masks)]
        owner.register_buffer(bname, _as_buffer(mask, owner._parameters[pname]), persistent=False)
    masks = TicketMasks(ticket, entries, what, mask_weights_on_forward)
    module.__dict__[ATTR] = masks
    module.register_forward_pre_hook(_before_forward)
    module.register_state_dict_post_hook(_mask_saved)
    module.register_load_state_dict_post_hook(_after_load)
    masks.apply(module)
    masks.hook_grads(module)  # now too, for submodules called on their own
    return masks


def detach_ticket(module: nn.Module) -> None:
    """Remove a ticket attached to ``module``: its buffers and hooks (weights keep their values)."""
    masks: TicketMasks | None = module.__dict__.pop(ATTR, None)
    if masks is None:
        return
    for path, pname, _ in masks.entries:
        module.get_submodule(path)._buffers.pop(pname + BUFFER_SUFFIX, None)  # gradient hooks go idle
    # The root's hooks are this module's own functions; remove them by identity, since a
    # deep copy holds no handles.
    for hooks in (module._forward_pre_hooks, module._state_dict_hooks, module._load_state_dict_post_hooks):
        for key in [k for k, fn in hooks.items() if fn in _ROOT_HOOKS]:
            del hooks[key]


def attached_masks(module: nn.Module) -> TicketMasks | None:
    """The TicketMasks attached to ``module`` itself, if any."""
    return module.__dict__.get(ATTR)


def ticket_holders(root: nn.Module) -> list[tuple[nn.Module, TicketMasks]]:
    """Every module under ``root`` (itself included) that holds a ticket, with its masks."""
    return [(m, masks) for m in root.modules() if (masks := attached_masks(m)) is not None]


def apply_ticket(ticket: Ticket, model: nn.Module, optimizer: torch.optim.Optimizer | None = None,
                 prefixes: Iterable[str] | None = None, strict: bool = True) -> TicketMasks:
    """Attach ``ticket`` to ``model`` (pruned weights zeroed now) and zero their optimizer state."""
    if optimizer is not None and not isinstance(getattr(optimizer, 'optim', optimizer), torch.optim.Optimizer):
        raise TypeError(f'apply_ticket: optimizer must be a torch.optim.Optimizer (or None), got {optimizer!r}')
    masks = attach_ticket(model, ticket, prefixes=prefixes, strict=strict)
    if optimizer is not None:
        masks.apply_to_optimizer(model, optimizer)
    return masks
