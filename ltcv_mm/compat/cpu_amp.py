"""mmengine 0.10.7's AmpOptimWrapper on a machine without an accelerator (bf16 autocast on the CPU).

mmengine's ``autocast`` already runs on the CPU (bfloat16); only
AmpOptimWrapper refuses it, with an assert, and its loss scaler,
``torch.cuda.amp.GradScaler``, disables itself without CUDA. Inside
``cpu_amp()``, on a machine without an accelerator, the assert passes and
the scaler is ``torch.amp.GradScaler('cpu')``: a real dynamic loss scaler
that unscales, finds inf/NaN gradients and skips those steps. With an
accelerator, or outside the block, mmengine's objects are its own.
"""
from __future__ import annotations

import contextlib

import torch


def accelerated(amp=None) -> bool:
    """Whether mmengine sees an accelerator AmpOptimWrapper can use."""
    if amp is None:
        import mmengine.optim.optimizer.amp_optimizer_wrapper as amp
    return any(f() for f in (amp.is_cuda_available, amp.is_npu_available, amp.is_mlu_available,
                             amp.is_musa_available))


@contextlib.contextmanager
def cpu_amp():
    """AmpOptimWrappers built inside this block train on the CPU when there is no accelerator."""
    import mmengine.optim.optimizer.amp_optimizer_wrapper as amp
    if accelerated(amp) or getattr(amp, '_ltcv_cpu', False):  # stock, or an enclosing block did it
        yield
        return
    stock = amp.GradScaler, amp.is_cuda_available
    # Both names are module globals that AmpOptimWrapper.__init__ looks up when it runs;
    # is_cuda_available serves only its assert there.
    amp.GradScaler = lambda *args, **kwargs: torch.amp.GradScaler('cpu', *args, **kwargs)
    amp.is_cuda_available = lambda: True
    amp._ltcv_cpu = True
    try:
        yield
    finally:
        amp.GradScaler, amp.is_cuda_available = stock
        del amp._ltcv_cpu
