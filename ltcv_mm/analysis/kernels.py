"""Kernel-wise structure of tickets (the paper's Figure 7): which k x k kernels a ticket prunes whole.

A conv weight of shape (out, in, k, k) holds out x in kernels; a kernel is
*fully pruned* when all its k*k weights are pruned. Unstructured IMP that
prunes whole kernels more often than chance has found structure; chance
is a mask with the layer's density drawn uniformly, which prunes a kernel
whole with probability ``sparsity ** (k * k)``. 1x1 convs are left out by
default: there a kernel is one weight and the measure is the plain sparsity.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch

from ..core import Ticket


def pruned_kernels(mask: torch.Tensor) -> torch.Tensor:
    """(out, in) bool: True where the kernel's weights are all pruned."""
    if mask.dim() != 4:
        raise ValueError(f'a conv mask is 4-D (out, in, k, k), got shape {tuple(mask.shape)}')
    return ~mask.flatten(2).any(dim=2)


@dataclass(frozen=True)
class KernelStats:
    layer: str
    kernels: int            # out x in
    kernel_size: int        # k * k
    sparsity: float         # of the layer's weights
    pruned_kernels: float   # fraction of kernels pruned whole
    random_expected: float  # the same fraction for a random mask of the layer's density

    @property
    def excess(self) -> float:
        """How many times more whole kernels are pruned than chance (inf when chance is 0)."""
        if self.random_expected == 0:
            return float('inf') if self.pruned_kernels else 1.0
        return self.pruned_kernels / self.random_expected


def kernel_stats(ticket: Ticket, min_kernel_size: int = 2) -> list[KernelStats]:
    """Per layer (network order), the fraction of kernels pruned whole against chance.

    Layers whose kernels have fewer than ``min_kernel_size`` weights (1x1
    convs, by default) are left out.
    """
    out = []
    for name, mask in ticket.masks.items():
        if mask.dim() != 4:  # linear layers of a whole-model ticket have no kernels
            continue
        size = mask.shape[2] * mask.shape[3]
        if size < min_kernel_size:
            continue
        whole = pruned_kernels(mask)
        sparsity = 1.0 - float(mask.float().mean())
        out.append(KernelStats(name, whole.numel(), size, sparsity, float(whole.float().mean()),
                               sparsity ** size))
    return out


def kernel_overlap(a: Ticket, b: Ticket, min_kernel_size: int = 2) -> float:
    """Intersection over union of the kernels two tickets prune whole (1.0 when neither prunes any).

    The paper's "< 6.55 % overlap after five rounds" does not say which
    measure it uses; this one and ``Ticket.overlap`` (IoU of the kept
    weights) are the two readings, reported side by side by
    ``tools/ticket.py overlap --kernels``.
    """
    if a.shapes != b.shapes:
        raise ValueError('the tickets cover different layers or shapes')
    inter = union = 0
    for name, m in a.masks.items():
        if m.dim() != 4 or m.shape[2] * m.shape[3] < min_kernel_size:
            continue
        ka, kb = pruned_kernels(m), pruned_kernels(b.masks[name])
        inter += int((ka & kb).sum())
        union += int((ka | kb).sum())
    return inter / union if union else 1.0
