"""Let mmengine 0.10.7's AmpOptimWrapper train on machines without a GPU (bf16 autocast on the CPU).

mmengine's ``autocast`` already runs on the CPU (bfloat16); only
AmpOptimWrapper refuses it, with an assert, and its loss scaler,
``torch.cuda.amp.GradScaler``, disables itself without CUDA. While no
accelerator is available the assert passes and the scaler is
``torch.amp.GradScaler('cpu')``: a real dynamic loss scaler that unscales,
finds inf/NaN gradients and skips those steps. With an accelerator nothing
changes.
"""
from __future__ import annotations

import torch


def allow_cpu_amp() -> None:
    import mmengine.optim.optimizer.amp_optimizer_wrapper as amp

    if getattr(amp, '_ltcv_cpu', False):
        return
    accelerated = (amp.is_cuda_available, amp.is_npu_available, amp.is_mlu_available, amp.is_musa_available)
    stock_scaler = amp.GradScaler

    def grad_scaler(*args, **kwargs):
        if any(f() for f in accelerated):
            return stock_scaler(*args, **kwargs)
        return torch.amp.GradScaler('cpu', *args, **kwargs)

    # Both names are module globals that AmpOptimWrapper.__init__ looks up when it runs;
    # is_cuda_available serves only its assert there.
    amp.GradScaler = grad_scaler
    amp.is_cuda_available = lambda: True
    amp._ltcv_cpu = True
