"""The Ticket: binary masks over a backbone's prunable weights."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping

import torch


@dataclass(eq=False)
class Ticket:
    """Bool masks keyed by canonical parameter name (True = weight kept).

    ``meta`` carries provenance (architecture, source pre-training, round,
    rate, strategy, metric); it is stored in the ticket file but does not take
    part in equality, which compares the masks alone.
    """

    masks: dict[str, torch.Tensor]
    meta: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not self.masks:
            raise ValueError('a ticket needs at least one mask')
        for name, mask in self.masks.items():
            if mask.dtype != torch.bool:
                raise TypeError(f'mask {name!r} has dtype {mask.dtype}; masks are torch.bool')
            if mask.numel() == 0:
                raise ValueError(f'mask {name!r} has shape {tuple(mask.shape)}: it holds no weight to mask')
        self.masks = {k: v.detach().cpu() for k, v in self.masks.items()}

    @classmethod
    def dense(cls, weights: Mapping[str, torch.Tensor], **meta: Any) -> 'Ticket':
        """A ticket that keeps every weight of ``weights`` (round 0 of IMP)."""
        return cls({k: torch.ones(v.shape, dtype=torch.bool) for k, v in weights.items()}, dict(meta))

    # counts -----------------------------------------------------------------
    @property
    def numel(self) -> int:
        return sum(m.numel() for m in self.masks.values())

    @property
    def kept(self) -> int:
        return sum(int(torch.count_nonzero(m)) for m in self.masks.values())

    @property
    def density(self) -> float:
        return self.kept / self.numel

    @property
    def sparsity(self) -> float:
        """Fraction of prunable weights removed."""
        return 1.0 - self.density

    def layer_sparsity(self) -> dict[str, float]:
        return {k: 1.0 - int(torch.count_nonzero(m)) / m.numel() for k, m in self.masks.items()}

    def layer_density(self) -> dict[str, float]:
        return {k: int(torch.count_nonzero(m)) / m.numel() for k, m in self.masks.items()}

    @property
    def empty_layers(self) -> list[str]:
        """Layers with no weight kept: no signal passes through them."""
        return [name for name, mask in self.masks.items() if not bool(mask.any())]

    @property
    def shapes(self) -> dict[str, tuple[int, ...]]:
        return {k: tuple(m.shape) for k, m in self.masks.items()}

    # relations ----------------------------------------------------------------
    def reverse(self) -> 'Ticket':
        """The complementary ticket: keeps exactly the weights this one prunes."""
        return Ticket({k: ~m for k, m in self.masks.items()},
                      {**self.meta, 'strategy': f"reverse({self.meta.get('strategy', 'ticket')})"})

    def _check_same_layout(self, other: 'Ticket') -> None:
        if self.shapes != other.shapes:
            mine, theirs = set(self.shapes), set(other.shapes)
            diff = sorted(mine ^ theirs) or sorted(
                k for k in mine if self.shapes[k] != other.shapes[k])
            raise ValueError(f'tickets cover different layers or shapes, first difference: {diff[0]}')

    def overlap(self, other: 'Ticket') -> float:
        """Intersection over union of the kept weights of two tickets."""
        self._check_same_layout(other)
        inter = sum(int((a & other.masks[k]).sum()) for k, a in self.masks.items())
        union = sum(int((a | other.masks[k]).sum()) for k, a in self.masks.items())
        return inter / union if union else 1.0

    def layer_overlap(self, other: 'Ticket') -> dict[str, float]:
        self._check_same_layout(other)
        out = {}
        for k, a in self.masks.items():
            union = int((a | other.masks[k]).sum())
            out[k] = int((a & other.masks[k]).sum()) / union if union else 1.0
        return out

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Ticket):
            return NotImplemented
        return self.shapes == other.shapes and all(
            torch.equal(m, other.masks[k]) for k, m in self.masks.items())

    def __repr__(self) -> str:
        return (f'Ticket({len(self.masks)} layers, {self.numel:,} weights, '
                f'sparsity {self.sparsity:.4%})')
