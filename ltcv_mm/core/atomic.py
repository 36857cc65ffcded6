"""Atomic file writes: a temporary file in the same folder, then a rename."""
from __future__ import annotations

import errno
import glob
import io
import os
import tempfile
from pathlib import Path
from typing import Any

import torch

from .safetensors_header import check_readable, why_unreadable


def atomic_write_bytes(path: str | os.PathLike, data: bytes, exclusive: bool = False) -> Path:
    """Write ``data`` to ``path`` so that readers see the old file or the new one, never half.

    ``exclusive``: only create ``path``, never replace it; of concurrent writers exactly one wins and
    the others get FileExistsError (the complete file is hard-linked into place, which fails where the
    name exists, instead of renamed over it).

    A symbolic link is followed (its target is replaced, the link stays).
    Temporary files left by a writer that was killed (``.NAME.PID.*.tmp``,
    of a process that no longer exists) are removed. Failures name ``path``,
    not the temporary file.
    """
    path = Path(path)
    if path.is_symlink():
        if why_unreadable(path) == 'a symbolic link loop':  # realpath would hand back the link itself
            raise OSError(errno.ELOOP, f'cannot write {path}: it is a symbolic link loop')
        path = Path(os.path.realpath(path))
    if path.is_dir():
        raise IsADirectoryError(errno.EISDIR, f'cannot write {path}: it is a folder')
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        _remove_stale_temporaries(path)
        fd, tmp = tempfile.mkstemp(prefix=f'.{_stem(path)}.{os.getpid()}.', suffix='.tmp', dir=path.parent)
    except OSError as e:
        raise _naming(e, path) from None
    try:
        # mkstemp makes the file private (0600); give it the mode a plain open() would
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)
        with os.fdopen(fd, 'wb') as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        if exclusive:
            os.link(tmp, path)
            os.unlink(tmp)
        else:
            os.replace(tmp, path)
    except BaseException as e:
        if os.path.exists(tmp):
            os.unlink(tmp)
        if isinstance(e, OSError):
            raise _naming(e, path) from None
        raise
    return path


def _naming(e: OSError, path: Path) -> OSError:
    """The same error, naming the file being written rather than its temporary."""
    if e.errno is None:
        return type(e)(f'cannot write {path}: {e}')
    return type(e)(e.errno, f'cannot write {path}: {e.strerror}')


def _stem(path: Path) -> str:
    """The part of the file name that its temporaries carry: at most 180 bytes, so that the temporary's
    name (the stem with a dot, the pid and a random tail around it) stays within the 255 bytes a name may
    have wherever the target's own name does."""
    return path.name.encode()[:180].decode(errors='ignore')


def _remove_stale_temporaries(path: Path) -> None:
    stem = _stem(path)
    for tmp in path.parent.glob(f'.{glob.escape(stem)}.*.tmp'):
        pid = tmp.name[len(stem) + 2:].split('.', 1)[0]
        if pid.isdigit() and not _alive(int(pid)):
            tmp.unlink(missing_ok=True)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process
        return True
    return True


def atomic_torch_save(obj: Any, path: str | os.PathLike) -> Path:
    buf = io.BytesIO()
    torch.save(obj, buf)
    return atomic_write_bytes(path, buf.getvalue())


def torch_load_safe(path: str | os.PathLike) -> Any:
    """``torch.load`` with ``weights_only=True``: a checkpoint cannot run code."""
    path = check_readable(path, 'checkpoint')
    try:
        return torch.load(path, map_location='cpu', weights_only=True)
    except Exception as e:
        raise ValueError(f'{path}: cannot be read as a PyTorch checkpoint with weights_only=True '
                         f'({type(e).__name__}: {str(e).splitlines()[0] if str(e) else ""})') from e
