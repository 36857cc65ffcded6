"""Early-bird detection (You et al., ICLR 2020) for IMP rounds: has the mask a round would draw stopped changing?

Inside a round, the mask the round's pruning step would draw now is taken
at regular points; the last ``window`` of them are kept, and the round may
end once the distance from the newest to each earlier one is below ``eps``.
You et al. compare channel masks of the whole network; here the masks are
the IMP step's own weight masks, and the distance is the fraction of the
round's candidates (the weights the current ticket still keeps, the only
ones the step chooses among) whose keep / prune decision differs. Weights
pruned in earlier rounds agree in every mask, so counting them would shrink
every distance by the current density and make ``eps`` mean less each round.

The masks are stored bit-packed (one bit per candidate), on the CPU, so a
window of ResNet-50 masks costs about 3 MB each and travels in checkpoints.
"""
from __future__ import annotations

from typing import Any

import torch

from .ticket import Ticket
from .ticket_file import pack_mask

_POPCOUNT = torch.tensor([bin(i).count('1') for i in range(256)], dtype=torch.int64)


def hamming(a: torch.Tensor, b: torch.Tensor) -> int:
    """Number of differing bits between two packed masks of one length."""
    return int(_POPCOUNT[torch.bitwise_xor(a, b).long()].sum())


def candidate_bits(drawn: Ticket, current: Ticket | None) -> tuple[torch.Tensor, int]:
    """``drawn``'s decisions on the weights ``current`` keeps (all of them when None), packed, and their count."""
    names = sorted(drawn.masks)
    if current is None:
        flags = [drawn.masks[n].reshape(-1) for n in names]
    else:
        if set(current.masks) != set(names):
            raise ValueError('early bird: the drawn mask and the current ticket cover different layers')
        flags = [drawn.masks[n][current.masks[n]] for n in names]
    flat = torch.cat(flags)
    return torch.from_numpy(pack_mask(flat)), flat.numel()  # the ticket file's packing


class MaskWindow:
    """The last ``window`` masks of one round and their distances.

    Args:
        window: masks compared (You et al.: 5); the round cannot end before
            this many have been taken.
        eps: the round may end when every distance from the newest mask to
            the ``window - 1`` before it is below this (strictly: 0 never ends).
    """

    def __init__(self, window: int = 5, eps: float = 0.1) -> None:
        if isinstance(window, bool) or not isinstance(window, int) or window < 2:
            raise ValueError(f'early_bird window must be a whole number >= 2, got {window!r}')
        if isinstance(eps, bool) or not isinstance(eps, (int, float)) or not 0.0 <= eps <= 1.0:
            raise ValueError(f'early_bird eps must be a number in [0, 1], got {eps!r}')
        self.window, self.eps = window, float(eps)
        self.masks: list[torch.Tensor] = []
        self.count: int | None = None  # candidates per mask
        self.distances: list[float] = []  # newest against each earlier one, oldest first

    def reset(self) -> None:
        self.masks, self.count, self.distances = [], None, []

    def add(self, drawn: Ticket, current: Ticket | None) -> list[float]:
        """Take the mask ``drawn`` now (under the round's ticket ``current``); returns the distances
        from it to the earlier masks of the window (fewer than ``window - 1`` until it is full)."""
        bits, count = candidate_bits(drawn, current)
        if self.count is not None and count != self.count:
            raise ValueError(f'early bird: {count} candidates now, {self.count} earlier in the round')
        self.count = count
        self.masks = (self.masks + [bits])[-self.window:]
        self.distances = [hamming(bits, old) / max(count, 1) for old in self.masks[:-1]]
        return list(self.distances)

    @property
    def converged(self) -> bool:
        return len(self.masks) == self.window and all(d < self.eps for d in self.distances)

    def state_dict(self) -> dict[str, Any]:
        return {'masks': [m.clone() for m in self.masks], 'count': self.count, 'distances': list(self.distances)}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.masks = [m.cpu() for m in state['masks']][-self.window:]
        self.count = state['count']
        self.distances = list(state['distances'])
