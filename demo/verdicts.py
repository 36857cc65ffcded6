"""Verdicts of the demo's report: is a ticket's metric as good as the dense backbone's, and better
than a random mask's, beyond run-to-run noise?

Each cell holds the same fine-tuning repeated over seeds. For two cells A
and B with n_A, n_B runs, means m_A, m_B and sample standard deviations
s_A, s_B, the standard error of the difference of the means is
``se = sqrt(s_A^2 / n_A + s_B^2 / n_B)``. Then, for a ticket T:

- matches dense:  m_T >= m_dense - 2 se(T, dense)   (within the noise, or better)
- beats random:   m_T - m_random > 2 se(T, random)
- below random:   m_random - m_T > 2 se(T, random)
- otherwise against random: within noise.

Twice the standard error is roughly a 95 % band for normal noise; with 3
seeds it is a coarse screen, not a significance test, and the report says so.
A cell with a single run has no spread (s = 0): the comparison is then exact.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Sequence


@dataclass(frozen=True)
class Cell:
    """The metric of one set-up over its seeds."""
    values: tuple[float, ...]

    @classmethod
    def of(cls, values: Sequence[float]) -> 'Cell':
        if not values:
            raise ValueError('a cell needs at least one run')
        return cls(tuple(float(v) for v in values))

    @property
    def n(self) -> int:
        return len(self.values)

    @property
    def mean(self) -> float:
        return sum(self.values) / self.n

    @property
    def std(self) -> float:
        """Sample standard deviation (n - 1); 0 for a single run."""
        if self.n < 2:
            return 0.0
        m = self.mean
        return math.sqrt(sum((v - m) ** 2 for v in self.values) / (self.n - 1))

    @property
    def se(self) -> float:
        return self.std / math.sqrt(self.n)

    def __str__(self) -> str:
        return f'{self.mean:.4g} ± {self.std:.2g}'


def se_of_difference(a: Cell, b: Cell) -> float:
    return math.sqrt(a.se ** 2 + b.se ** 2)


def matches_dense(ticket: Cell, dense: Cell) -> bool:
    return ticket.mean >= dense.mean - 2 * se_of_difference(ticket, dense)


def against_random(ticket: Cell, random: Cell) -> str:
    """'beats random', 'below random' or 'within noise'."""
    margin = 2 * se_of_difference(ticket, random)
    diff = ticket.mean - random.mean
    if diff > margin:
        return 'beats random'
    if -diff > margin:
        return 'below random'
    return 'within noise'


def verdict(ticket: Cell, dense: Cell, random: Cell) -> str:
    """The report's plain verdict of a ticket cell, e.g. 'matches dense, beats random'."""
    return ('matches dense' if matches_dense(ticket, dense) else 'below dense') + ', ' + against_random(ticket, random)
