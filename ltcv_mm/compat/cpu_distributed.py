"""mmengine 0.10.7's DDP on a machine without a GPU (gloo backend), and the end of a gloo run.

mmengine's PyTorch launcher calls ``torch.cuda.set_device(LOCAL_RANK)``
unconditionally, and its Runner wraps the model in DDP with
``device_ids=[LOCAL_RANK]``, which torch refuses for a CPU module. Inside
``cpu_distributed()``, on a machine without CUDA, both are adjusted; with
CUDA, or outside the block, mmengine's functions are its own.
"""
from __future__ import annotations

import contextlib
import functools

import torch


def _cpu_init_dist_pytorch(original):
    @functools.wraps(original)
    def init(backend: str = 'nccl', init_backend: str = 'torch', **kwargs) -> None:
        if backend == 'nccl':
            raise RuntimeError("distributed training without a GPU needs the gloo backend: set "
                               "env_cfg = dict(dist_cfg=dict(backend='gloo'))")
        # The environment variables torchrun sets (RANK, WORLD_SIZE, MASTER_*) are read by torch.
        torch.distributed.init_process_group(backend=backend, **kwargs)
    return init


def _cpu_ddp_init(original):
    @functools.wraps(original)
    def init(self, module, *args, **kwargs) -> None:
        kwargs['device_ids'] = None  # torch's DDP wants none for a CPU module
        original(self, module, *args, **kwargs)
    return init


@contextlib.contextmanager
def cpu_distributed():
    """Runners set up inside this block launch and wrap DDP on the CPU when there is no GPU."""
    import mmengine.dist.utils as dist_utils
    from mmengine.model.wrappers import MMDistributedDataParallel as DDP

    if torch.cuda.is_available() or getattr(dist_utils._init_dist_pytorch, '_ltcv_cpu', False):
        yield
        return
    stock = dist_utils._init_dist_pytorch, DDP.__init__
    dist_utils._init_dist_pytorch = _cpu_init_dist_pytorch(stock[0])
    dist_utils._init_dist_pytorch._ltcv_cpu = True
    DDP.__init__ = _cpu_ddp_init(stock[1])
    try:
        yield
    finally:
        dist_utils._init_dist_pytorch, DDP.__init__ = stock


def leave_gloo_group() -> None:
    """End a finished gloo (CPU) run without torch's teardown at interpreter exit.

    With the gloo backend a rank sometimes aborts in that teardown ("terminate
    called without an active exception", SIGABRT) after training has ended,
    and the launcher then reports the whole run as failed: measured in 4 of
    14 two-process runs of one config, with or without this plugin's hooks.
    Logs are flushed and closed first; NCCL (GPU) runs are left alone.
    """
    import logging
    import os
    import sys

    import torch.distributed as dist
    if not (dist.is_available() and dist.is_initialized() and dist.get_backend() == 'gloo'):
        return
    dist.barrier()  # every rank has finished writing
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)
