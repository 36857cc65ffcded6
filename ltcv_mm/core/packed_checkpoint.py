"""Packed checkpoints: a state dict whose pruned layers keep only their kept values and a bit-packed mask.

A fine-tuned ticket is saved by the runners as a dense state dict with zeros
where the ticket prunes; at 90 % sparsity nine tenths of its backbone bytes
are zeros. Packing stores, for every tensor the ticket masks, the kept
values in their own dtype and the mask at one bit per weight; every other
tensor is stored unchanged. Masking multiplies by zero, so about half of a
fine-tuned ticket's pruned weights are ``-0.0``: a layer that has any stores
instead one of three states per weight (kept, ``+0.0``, ``-0.0``), five to a
byte (3^5 = 243), 1.6 bits a weight, so that unpacking is bit-identical.
The file is safetensors (no pickle) with one JSON metadata entry: format,
version, the SHA-256 of the ticket's masks, the source's key order, the
packed layers' shapes and dtypes, a SHA-256 of every stored tensor (its dtype,
shape and bytes), and the source checkpoint's ``meta`` when it has one; a
second entry holds the SHA-256 of that JSON text, so that every byte which
decides what is loaded is checked (version 2; version 1 files, whose digests
cover the bytes only, still load).
"""
from __future__ import annotations

import hashlib
import json
from typing import Any, Mapping

import numpy as np
import torch

from .names import mask_key
from .safetensors_header import read_safetensors_bytes, safetensors_bytes
from .ticket import Ticket
from .ticket_file import pack_mask, unpack_mask

FORMAT = 'ltcv_mm.packed_checkpoint'
VERSION = 2
META_KEY = 'ltcv_packed'
HEADER_SHA_KEY = 'ltcv_packed_sha256'  # the SHA-256 of META_KEY's JSON text (version 2)
VALUES, MASK, TRITS = '::values', '::mask', '::trits'
_TRIT_WEIGHTS = np.array([81, 27, 9, 3, 1], dtype=np.uint8)


class PackedCheckpointError(ValueError):
    """A packed checkpoint is corrupt, of another format, or does not fit its ticket."""


def ticket_digest(ticket: Ticket) -> str:
    """SHA-256 of a ticket's masks (layer names, shapes and bits), independent of its metadata."""
    h = hashlib.sha256()
    for name in sorted(ticket.masks):
        mask = ticket.masks[name]
        h.update(f'{name}:{tuple(mask.shape)}:'.encode())
        h.update(pack_mask(mask).tobytes())
    return h.hexdigest()


def _digest(t: torch.Tensor, version: int = VERSION) -> str:
    """SHA-256 of a stored tensor: from version 2 its dtype and shape too (the same bytes read as
    another dtype or shape must not pass)."""
    h = hashlib.sha256()
    if version >= 2:
        h.update(f'{t.dtype}:{tuple(t.shape)}:'.encode())
    if t.numel():
        h.update(t.contiguous().view(-1).view(torch.uint8).numpy().tobytes())
    return h.hexdigest()


def pack_trits(states: np.ndarray) -> np.ndarray:
    """Values 0, 1, 2, five to a byte (base 3, most significant first, zero padding)."""
    flat = np.concatenate([states.reshape(-1).astype(np.uint8), np.zeros(-states.size % 5, np.uint8)])
    return (flat.reshape(-1, 5) * _TRIT_WEIGHTS).sum(axis=1, dtype=np.uint16).astype(np.uint8)


def unpack_trits(packed: np.ndarray, count: int) -> np.ndarray:
    if packed.size and int(packed.max()) > 242:
        raise ValueError(f'a byte of {int(packed.max())} holds no five base-3 digits')
    digits = (packed[:, None].astype(np.uint16) // _TRIT_WEIGHTS.astype(np.uint16)) % 3
    return digits.reshape(-1)[:count].astype(np.uint8)


def _negative_zero(t: torch.Tensor) -> torch.Tensor:
    return (t == 0) & torch.signbit(t) if t.is_floating_point() else torch.zeros_like(t, dtype=torch.bool)


def pack_state_dict(state: Mapping[str, torch.Tensor], ticket: Ticket,
                    meta: Any = None) -> tuple[dict[str, torch.Tensor], dict[str, str]]:
    """The tensors and the safetensors metadata of ``state`` packed under ``ticket``.

    Every tensor whose mask key (its canonical name in a ResNet, or its full
    name for a whole-model ticket) is in the ticket is packed, under every
    prefix (a MoCo checkpoint's two encoders). Refuses a state whose pruned
    entries are not zero: it was not trained under this ticket.
    """
    tensors: dict[str, torch.Tensor] = {}
    packed: dict[str, dict[str, Any]] = {}
    for key, t in state.items():
        if not isinstance(t, torch.Tensor):
            raise PackedCheckpointError(f'{key!r} is not a tensor ({type(t).__name__}); only state dicts pack')
        mask = ticket.masks.get(mask_key(key, ticket.masks))
        t = t.detach().cpu()
        if mask is None:
            tensors[key] = t.contiguous().clone()
            continue
        if tuple(t.shape) != tuple(mask.shape):
            raise PackedCheckpointError(f'{key!r} has shape {tuple(t.shape)}, the ticket\'s mask '
                                        f'{tuple(mask.shape)}: the checkpoint is of another architecture')
        nonzero = int(torch.count_nonzero(t[~mask]))
        if nonzero:
            raise PackedCheckpointError(f'{key!r}: {nonzero} weights the ticket prunes are not zero; the '
                                        f'checkpoint was not trained under this ticket')
        tensors[key + VALUES] = t[mask].contiguous().clone()
        negzero = _negative_zero(t) & ~mask
        if bool(negzero.any()):  # 0 pruned +0.0, 1 kept, 2 pruned -0.0
            states = mask.to(torch.uint8) + 2 * negzero.to(torch.uint8)
            tensors[key + TRITS] = torch.from_numpy(pack_trits(states.numpy()))
        else:
            tensors[key + MASK] = torch.from_numpy(pack_mask(mask))
        packed[key] = {'shape': list(t.shape), 'dtype': str(t.dtype).removeprefix('torch.')}
    if not packed:
        raise PackedCheckpointError(f'the ticket matches none of the {len(state)} tensors (first '
                                    f'{next(iter(state), None)!r}; the ticket\'s first layer '
                                    f'{next(iter(ticket.masks), None)!r}): it is the ticket of another model')
    info = {'format': FORMAT, 'version': VERSION, 'ticket_sha256': ticket_digest(ticket), 'keys': list(state),
            'packed': packed, 'sha256': {name: _digest(t) for name, t in tensors.items()},
            'meta': meta}
    text = json.dumps(info, default=str)
    return tensors, {META_KEY: text, HEADER_SHA_KEY: hashlib.sha256(text.encode()).hexdigest()}


def unpack_state_dict(tensors: Mapping[str, torch.Tensor], metadata: Mapping[str, str] | None,
                      where: str = '<packed>') -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """The state dict a packed checkpoint was made from, bit for bit, and its metadata; every stored
    tensor is checked against its SHA-256 first."""
    metadata = metadata or {}
    try:
        text = metadata[META_KEY]
        info = json.loads(text)
    except (KeyError, ValueError, TypeError) as e:
        raise PackedCheckpointError(f'{where}: not a packed checkpoint (no readable {META_KEY!r} metadata: '
                                    f'{e})') from None
    if not isinstance(info, dict) or info.get('format') != FORMAT:
        raise PackedCheckpointError(f'{where}: not a packed checkpoint (format '
                                    f'{info.get("format") if isinstance(info, dict) else None!r})')
    version = info.get('version')
    if version not in (1, VERSION):
        raise PackedCheckpointError(f'{where}: packed checkpoint version {version!r}, this ltcv_mm reads '
                                    f'versions 1 and {VERSION}')
    if (version >= 2 or HEADER_SHA_KEY in metadata) and \
            metadata.get(HEADER_SHA_KEY) != hashlib.sha256(text.encode()).hexdigest():
        raise PackedCheckpointError(f'{where}: the metadata does not match its SHA-256 ({HEADER_SHA_KEY}): the '
                                    f'file is corrupt or was altered')
    digests = info.get('sha256') or {}
    if set(digests) != set(tensors):
        extra, missing = sorted(set(tensors) - set(digests)), sorted(set(digests) - set(tensors))
        raise PackedCheckpointError(f'{where}: tensors do not match the metadata (unexpected {extra[:3]}, '
                                    f'missing {missing[:3]})')
    for name, t in tensors.items():
        if _digest(t, version) != digests[name]:
            raise PackedCheckpointError(f'{where}: tensor {name!r} does not match its SHA-256: the file is '
                                        f'corrupt or was altered')
    state = {}
    for key in info['keys']:
        spec = info['packed'].get(key)
        if spec is None:
            state[key] = tensors[key]
            continue
        shape = tuple(spec['shape'])
        negzero = None
        try:
            if key + TRITS in tensors:
                states = torch.from_numpy(unpack_trits(tensors[key + TRITS].numpy(), int(np.prod(shape))))
                mask, negzero = (states == 1).view(shape), (states == 2).view(shape)
            else:
                mask = unpack_mask(tensors[key + MASK].numpy(), shape)
            values = tensors[key + VALUES]
        except (KeyError, ValueError) as e:
            raise PackedCheckpointError(f'{where}: {key!r}: its mask or values are unreadable ({e})') from None
        if int(mask.sum()) != values.numel() or str(values.dtype).removeprefix('torch.') != spec['dtype']:
            raise PackedCheckpointError(f'{where}: {key!r}: {values.numel()} {values.dtype} values for '
                                        f'{int(mask.sum())} kept {spec["dtype"]} weights')
        out = torch.zeros(shape, dtype=values.dtype)
        out[mask] = values
        if negzero is not None:
            out[negzero] = -0.0
        state[key] = out
    return state, info


def to_bytes(tensors: Mapping[str, torch.Tensor], metadata: Mapping[str, str]) -> bytes:
    return safetensors_bytes(tensors, metadata)


def from_bytes(data: bytes, where: str = '<packed>') -> tuple[dict[str, torch.Tensor], dict[str, str] | None]:
    """Tensors and metadata of a safetensors file, any parse failure named as a PackedCheckpointError."""
    from safetensors.torch import load
    try:
        tensors = load(data)
        (n,) = np.frombuffer(data[:8], dtype='<u8')
        header = json.loads(data[8:8 + int(n)])
    except Exception as e:  # safetensors raises its own error types, json a ValueError
        raise PackedCheckpointError(f'{where}: not a readable safetensors file ({type(e).__name__}: {e})') from None
    return tensors, header.get('__metadata__')


def read_packed(path) -> tuple[dict[str, torch.Tensor], dict[str, str] | None]:
    """``from_bytes`` of the file ``path``, its header checked against its size before the rest is read."""
    return from_bytes(read_safetensors_bytes(path, 'packed checkpoint', PackedCheckpointError), where=str(path))
