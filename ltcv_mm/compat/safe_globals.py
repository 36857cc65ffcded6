"""Let mmengine resume under torch's ``weights_only=True`` default.

mmengine 0.10.7 resumes with a plain ``torch.load``, which since torch 2.6
refuses every class it does not know. An mmengine checkpoint holds exactly
these besides tensors and plain containers (listed by
``torch.serialization.get_unsafe_globals_in_checkpoint`` on a real Runner's
checkpoint): ``HistoryBuffer``, numpy arrays, dtypes and scalars, and
``builtins.getattr``, which protocol-2 pickles use to name the statistics
methods a ``HistoryBuffer`` carries (``getattr(HistoryBuffer, 'mean')``).

Allow-listing a bare ``getattr`` would let a file reach any attribute of any
allowed object, so the name ``builtins.getattr`` is bound to a getattr that
only returns public methods defined on ``HistoryBuffer`` itself. Anything
else in a file is still refused, unlike ``TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD=1``.
"""
from __future__ import annotations

import inspect
import pickle

import numpy as np
import torch


def history_buffer_method(obj, name: str):
    """``getattr`` restricted to the statistics methods of mmengine's HistoryBuffer."""
    from mmengine.logging import HistoryBuffer
    attr = HistoryBuffer.__dict__.get(name) if obj is HistoryBuffer else None
    if attr is None or name.startswith('_') or not inspect.isfunction(attr):
        raise pickle.UnpicklingError(
            f'weights_only load: getattr({getattr(obj, "__name__", type(obj).__name__)}, {name!r}) '
            f'is not allowed (only HistoryBuffer statistics methods are)')
    return attr


def mmengine_checkpoint_globals() -> list:
    from mmengine.logging import HistoryBuffer
    try:
        from numpy._core.multiarray import _reconstruct, scalar
    except ImportError:  # numpy < 2
        from numpy.core.multiarray import _reconstruct, scalar
    # Unpickling a dtype builds an instance of its per-type class (Float64DType
    # for the logged values, Int64DType for their counts); these classes never
    # appear as globals in the file, so the scan above does not list them.
    dtype_classes = [type(np.dtype(t)) for t in (
        np.float64, np.float32, np.float16, np.int64, np.int32, np.int16, np.int8,
        np.uint64, np.uint32, np.uint16, np.uint8, np.bool_)]
    return [HistoryBuffer, np.ndarray, np.dtype, _reconstruct, scalar, *dtype_classes,
            (history_buffer_method, 'builtins.getattr')]


def allow_mmengine_checkpoints() -> None:
    torch.serialization.add_safe_globals(mmengine_checkpoint_globals())
