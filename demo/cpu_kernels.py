"""The CPU kernels the demo computes with, pinned so that its numbers agree across x86-64 machines.

PyTorch takes oneDNN's convolutions and MKL's matrix products in the variant made for the CPU it
runs on, and the variants sum in different orders: the same segmentation fine-tuning (seed 1, 90
steps) gave mIoU 78.55 with this machine's AVX-512 kernels, 78.51 with oneDNN held to AVX2 and 78.65
with MKL held to AVX2; a detection run's mAP@50 moved from 0.197 to 0.187 with MKL's. Holding both
libraries to their AVX2 code makes every CPU with AVX2 compute the same sums. ATen's own vector
code, OpenCV's and libjpeg-turbo's did not change a bit of the trained weights when held back
(measured 2026-12-07). Both variables are read once, when torch loads its libraries: ``pin`` must
run before ``import torch``. A value the user set is kept.
"""
from __future__ import annotations

import os
import sys

PINS = {'ONEDNN_MAX_CPU_ISA': 'AVX2', 'MKL_CBWR': 'AVX2'}


def pin() -> dict[str, str]:
    """Set the pins (unless already set) for this process and the worker processes it starts."""
    if 'torch' in sys.modules:
        raise RuntimeError('demo.cpu_kernels.pin() must run before torch is imported: oneDNN and MKL read '
                           f'{", ".join(PINS)} when torch loads them')
    for name, value in PINS.items():
        os.environ.setdefault(name, value)
    return current()


def current() -> dict[str, str]:
    """The pins in effect in this process ('' where unset: the CPU's own kernels)."""
    return {name: os.environ.get(name, '') for name in PINS}
