"""Reading a safetensors file (a ticket, a packed checkpoint) with its header checked before its tensors, and
writing one that is the same bytes in every process.

The header says how many bytes the tensors take; a file whose size disagrees
(truncated, padded, or no safetensors file at all: a 20 GB checkpoint given
by mistake) is refused after reading at most its header, never read whole.
"""
from __future__ import annotations

import errno
import json
import os
import stat
import struct
from pathlib import Path
from typing import Any, Mapping

# safetensors itself refuses headers over 100 MB
MAX_HEADER_BYTES = 100_000_000


def why_unreadable(path: str | os.PathLike) -> str | None:
    """Why ``path`` cannot be read as a file, in words (None when it can)."""
    try:
        mode = os.stat(path).st_mode
    except OSError as e:
        if e.errno == errno.ELOOP:
            return 'a symbolic link loop'
        if e.errno == errno.ENOENT and os.path.islink(path):
            return f'a broken symbolic link (to {os.readlink(path)})'
        return 'not found' if e.errno == errno.ENOENT else e.strerror
    if stat.S_ISDIR(mode):
        return 'a folder'
    if not stat.S_ISREG(mode):
        return 'not a regular file (a device, pipe or socket)'
    return None


def check_readable(path: str | os.PathLike, what: str) -> Path:
    """``path``, or FileNotFoundError / IsADirectoryError / OSError saying what it is instead of a file."""
    problem = why_unreadable(path)
    if problem is None:
        return Path(path)
    kind = {'not found': FileNotFoundError, 'a folder': IsADirectoryError}.get(problem, OSError)
    raise kind(f'{what} {path}: {problem}')


def parse_header(n: int, raw: bytes, size: int, where: str, error: type[Exception]) -> dict[str, Any]:
    """The JSON header of a safetensors file of ``size`` bytes whose header is ``raw`` (``n`` bytes),
    every entry checked, and the tensors' extent checked against the size."""
    try:
        header = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise error(f'{where}: corrupt safetensors header ({e})') from None
    if not isinstance(header, dict):
        raise error(f'{where}: corrupt safetensors header')
    for key, entry in header.items():
        if key == '__metadata__':
            if not isinstance(entry, dict) or not all(isinstance(v, str) for v in entry.values()):
                raise error(f'{where}: corrupt safetensors header (metadata is not a table of strings)')
            continue
        offsets = entry.get('data_offsets') if isinstance(entry, dict) else None
        if (not isinstance(entry, dict) or not isinstance(entry.get('dtype'), str)
                or not _ints(entry.get('shape')) or not _ints(offsets) or len(offsets) != 2
                or not 0 <= offsets[0] <= offsets[1]):
            raise error(f'{where}: corrupt safetensors header entry {key!r}: {entry!r}')
    end = max((v['data_offsets'][1] for k, v in header.items() if k != '__metadata__'), default=0)
    if 8 + n + end != size:
        raise error(f'{where}: truncated or padded: tensors need {8 + n + end} bytes, file has {size}')
    return header


def header_length(first: bytes, size: int, where: str, error: type[Exception]) -> int:
    """The header length the first 8 bytes give, refused when the file cannot hold it."""
    if len(first) < 8:
        raise error(f'{where}: not a safetensors file (only {size} bytes)')
    (n,) = struct.unpack('<Q', first[:8])
    if n > size - 8 or n > MAX_HEADER_BYTES:
        raise error(f'{where}: truncated or not a safetensors file '
                    f'(header says {n} bytes, file has {size - 8} after it)')
    return n


def read_safetensors_bytes(path: str | os.PathLike, what: str, error: type[Exception]) -> bytes:
    """The bytes of the safetensors file ``path``, read whole only once its header fits its size."""
    check_readable(path, what)
    with open(path, 'rb') as f:
        size = os.fstat(f.fileno()).st_size
        first = f.read(8)
        n = header_length(first, size, str(path), error)
        raw = f.read(n)
        parse_header(n, raw, size, str(path), error)
        return first + raw + f.read()


def _ints(value) -> bool:
    return isinstance(value, list) and all(isinstance(v, int) and not isinstance(v, bool) for v in value)


def safetensors_bytes(tensors: Mapping[str, Any], metadata: Mapping[str, str]) -> bytes:
    """``safetensors.torch.save`` of ``tensors`` and ``metadata``, the same bytes in every process
    (``_sorted_metadata``): every file the plugin writes in this format goes through here."""
    from safetensors.torch import save
    return _sorted_metadata(save(dict(tensors), metadata=dict(metadata)))


def _sorted_metadata(data: bytes) -> bytes:
    """``data`` (a safetensors file) with its ``__metadata__`` entries in sorted order, the tensors untouched.

    safetensors writes the metadata from a hash map whose order changes from
    process to process, so one ticket written twice gave two files that differ
    in their bytes (and their hashes); in sorted order they are the same. The
    header is written compact and padded with spaces to 8 bytes, as
    safetensors writes it; tensor offsets count from the header's end.
    """
    n = struct.unpack('<Q', data[:8])[0]
    header = json.loads(data[8:8 + n])
    if isinstance(header.get('__metadata__'), dict):
        header = {'__metadata__': dict(sorted(header['__metadata__'].items())),
                  **{k: v for k, v in header.items() if k != '__metadata__'}}
    text = json.dumps(header, separators=(',', ':'), ensure_ascii=False).encode()
    text += b' ' * (-len(text) % 8)
    return struct.pack('<Q', len(text)) + text + data[8 + n:]

