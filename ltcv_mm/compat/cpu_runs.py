"""The one place a Runner is adapted to a machine without a GPU, and only for the run that needs it.

``cpu_runs(cfg, launcher)`` wraps building and running a Runner (tools/train.py,
tools/test.py): CPU AMP (``cpu_amp``) when the config asks for an AMP optim
wrapper, CPU DDP (``cpu_distributed``) when a launcher starts processes. On
a machine with an accelerator, or for a run that asks for neither, it changes
nothing; importing ltcv_mm never does.
"""
from __future__ import annotations

import contextlib

from .cpu_amp import cpu_amp
from .cpu_distributed import cpu_distributed


def asks_for_amp(cfg) -> bool:
    """Whether the config's optim wrapper (or one of an OptimWrapperDict's) is an AmpOptimWrapper."""
    from mmengine.optim import AmpOptimWrapper
    from mmengine.registry import OPTIM_WRAPPERS
    wrapper = cfg.get('optim_wrapper') if hasattr(cfg, 'get') else None
    if not isinstance(wrapper, dict):
        return False
    candidates = [wrapper] + [v for v in wrapper.values() if isinstance(v, dict)]
    for c in candidates:
        kind = c.get('type')
        cls = OPTIM_WRAPPERS.get(kind) if isinstance(kind, str) else kind
        if isinstance(cls, type) and issubclass(cls, AmpOptimWrapper):
            return True
    return False


@contextlib.contextmanager
def cpu_runs(cfg, launcher: str = 'none'):
    """Build and run the Runner of ``cfg`` inside this block."""
    with contextlib.ExitStack() as stack:
        if asks_for_amp(cfg):
            stack.enter_context(cpu_amp())
        if launcher not in (None, 'none'):
            stack.enter_context(cpu_distributed())
        yield
