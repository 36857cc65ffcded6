"""The ticket file: bit-packed masks in safetensors, validated on load.

Layout: one uint8 tensor per prunable layer (its mask, ``numpy.packbits``
order, zero padding) and one metadata entry ``ltcv_ticket``, a JSON object:
format, version, architecture, provenance, and per layer the shape, kept
count, sparsity and CRC-32 of the packed bytes; beside it ``ltcv_ticket_crc32``,
the CRC-32 of that JSON text, so that no flipped bit changes the provenance
(round, metric, source) unnoticed. A ResNet-50 ticket is about
2.9 MB, 1.0 bit per prunable weight. Safetensors holds no pickle, so loading
a ticket cannot run code.
"""
from __future__ import annotations

import json
import os
import zlib
from pathlib import Path
from typing import Any

import numpy as np
import torch

from .atomic import atomic_write_bytes
from .names import infer_arch
from .safetensors_header import header_length, parse_header, read_safetensors_bytes, safetensors_bytes
from .ticket import Ticket

FORMAT = 'ltcv_mm.ticket'
VERSION = 2           # 2: the metadata carries a CRC-32 of its own (CRC_KEY); version 1 files still load
READABLE = (1, 2)
META_KEY = 'ltcv_ticket'
CRC_KEY = 'ltcv_ticket_crc32'


class TicketFileError(ValueError):
    """A ticket file is unreadable, corrupt or of an unknown format."""


def _package_version() -> str:
    try:
        from importlib.metadata import version
        return version('ltcv_mm')
    except Exception:  # not installed (running from a source tree)
        return 'unknown'


def pack_mask(mask: torch.Tensor) -> np.ndarray:
    return np.packbits(mask.flatten().numpy().astype(np.uint8))


def unpack_mask(packed: np.ndarray, shape: tuple[int, ...]) -> torch.Tensor:
    n = int(np.prod(shape))
    bits = np.unpackbits(packed, count=n)
    return torch.from_numpy(bits.astype(bool)).view(shape)


def ticket_metadata(ticket: Ticket, packed: dict[str, np.ndarray]) -> dict[str, Any]:
    layers = {}
    for name, mask in ticket.masks.items():
        kept = int(mask.sum())
        layers[name] = {'shape': list(mask.shape), 'kept': kept,
                        'sparsity': 1.0 - kept / mask.numel(),
                        'crc32': zlib.crc32(packed[name].tobytes())}
    meta = {k: v for k, v in ticket.meta.items()}
    meta.setdefault('arch', infer_arch(ticket.shapes))
    return {'format': FORMAT, 'version': VERSION, 'ltcv_mm_version': _package_version(),
            'meta': meta, 'numel': ticket.numel, 'kept': ticket.kept,
            'sparsity': ticket.sparsity, 'layers': layers}


def ticket_to_bytes(ticket: Ticket) -> bytes:
    packed = {name: pack_mask(mask) for name, mask in ticket.masks.items()}
    header = ticket_metadata(ticket, packed)
    try:
        meta_json = json.dumps(header, allow_nan=False)
    except (TypeError, ValueError) as e:
        raise TypeError(f'ticket metadata must be plain JSON values: {e}') from None
    return safetensors_bytes({k: torch.from_numpy(v) for k, v in packed.items()},
                             {META_KEY: meta_json, CRC_KEY: str(zlib.crc32(meta_json.encode()))})


def save_ticket(ticket: Ticket, path: str | os.PathLike, overwrite: bool = False) -> Path:
    """Write ``ticket`` atomically. Refuses to replace a different file unless ``overwrite``: the file
    is created exclusively, so of writers racing for one name exactly one wins (a file that already
    holds this very ticket is left as it is)."""
    path = Path(path)
    if overwrite:
        atomic_write_bytes(path, ticket_to_bytes(ticket))
        return path
    try:
        atomic_write_bytes(path, ticket_to_bytes(ticket), exclusive=True)
    except FileExistsError:
        try:
            same = load_ticket(path) == ticket
        except (TicketFileError, OSError):
            same = False
        if not same:
            raise FileExistsError(f'{path} already exists and holds something else than this '
                                  f'ticket; refusing to overwrite it (use --force / overwrite=True)') from None
    return path


def _read_header(data: bytes, path: str) -> dict[str, Any]:
    n = header_length(data[:8], len(data), path, TicketFileError)
    return parse_header(n, data[8:8 + n], len(data), path, TicketFileError)


def _check_layer(name: str, info: dict, packed: torch.Tensor, path: str) -> torch.Tensor:
    shape = tuple(int(s) for s in info['shape'])
    numel = int(np.prod(shape))
    if packed.dtype != torch.uint8 or packed.dim() != 1 or packed.numel() != (numel + 7) // 8:
        raise TicketFileError(f'{path}: layer {name!r}: packed mask of {packed.numel()} '
                              f'{packed.dtype} does not fit shape {shape}')
    arr = packed.numpy()
    if zlib.crc32(arr.tobytes()) != info['crc32']:
        raise TicketFileError(f'{path}: layer {name!r}: checksum mismatch (the file is corrupt)')
    if numel % 8 and int(arr[-1]) & ((1 << (8 - numel % 8)) - 1):
        raise TicketFileError(f'{path}: layer {name!r}: padding bits set (the file is corrupt)')
    mask = unpack_mask(arr, shape)
    kept = int(mask.sum())
    if kept != info['kept'] or abs(1.0 - kept / numel - info['sparsity']) > 1e-9:
        raise TicketFileError(f'{path}: layer {name!r}: stored sparsity {info["sparsity"]:.6f} '
                              f'does not match the bits ({1 - kept / numel:.6f}): corrupt file')
    return mask


def ticket_from_bytes(data: bytes, path: str = '<bytes>') -> Ticket:
    header = _read_header(data, path)
    extra = header.get('__metadata__')
    raw = extra.get(META_KEY) if isinstance(extra, dict) else None
    if raw is None:
        raise TicketFileError(f'{path}: a safetensors file but not a ticket (no {META_KEY!r} metadata)')
    crc = extra.get(CRC_KEY)
    if crc is not None and crc != str(zlib.crc32(raw.encode())):
        raise TicketFileError(f'{path}: ticket metadata checksum mismatch (the file is corrupt)')
    try:
        meta = json.loads(raw)
    except json.JSONDecodeError as e:
        raise TicketFileError(f'{path}: corrupt ticket metadata ({e})') from None
    if not isinstance(meta, dict):
        raise TicketFileError(f'{path}: corrupt ticket metadata (not a JSON object)')
    if meta.get('format') != FORMAT:
        raise TicketFileError(f'{path}: unknown format {meta.get("format")!r} (expected {FORMAT!r})')
    if meta.get('version') not in READABLE:
        raise TicketFileError(f'{path}: ticket format version {meta.get("version")!r} is not '
                              f'supported (this ltcv_mm reads versions {READABLE})')
    if meta['version'] >= 2 and crc is None:
        raise TicketFileError(f'{path}: ticket metadata checksum {CRC_KEY!r} missing (the file is corrupt)')
    from safetensors.torch import load
    try:
        tensors = load(data)
    except Exception as e:  # safetensors raises its own error types
        raise TicketFileError(f'{path}: unreadable tensors ({e})') from None
    layers = meta.get('layers')
    if not isinstance(layers, dict) or not layers:
        raise TicketFileError(f'{path}: corrupt ticket metadata (no layer table)')
    if set(layers) != set(tensors):
        missing = sorted(set(layers) ^ set(tensors))
        raise TicketFileError(f'{path}: metadata and tensors disagree on layer {missing[0]!r}')
    masks = {}
    for name, info in layers.items():
        try:
            masks[name] = _check_layer(name, info, tensors[name], path)
        except (KeyError, TypeError, ValueError) as e:
            if isinstance(e, TicketFileError):
                raise
            raise TicketFileError(f'{path}: layer {name!r}: corrupt metadata ({type(e).__name__}: {e})') from None
    ticket = Ticket(masks, dict(meta.get('meta') or {}))
    if ticket.kept != meta.get('kept') or ticket.numel != meta.get('numel'):
        raise TicketFileError(f'{path}: global counts do not match the layers (corrupt file)')
    return ticket


def load_ticket(path: str | os.PathLike) -> Ticket:
    """Read and fully validate a ticket file."""
    return ticket_from_bytes(read_safetensors_bytes(path, 'ticket file', TicketFileError), str(path))
