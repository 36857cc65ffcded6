"""Verdicts of the demo's report: is a ticket's metric as good as the dense backbone's, and better
than a random mask's, beyond run-to-run noise?

Each cell holds the same fine-tuning repeated over seeds. Runs with the same
seed share their data order, augmentation draws and head initialisation
(only the backbone differs), so two cells run on the same seeds are compared
seed by seed: with d_i the per-seed differences, the difference is mean(d)
and its standard error ``se = sd(d) / sqrt(n)``. Cells on different seeds
fall back to ``se = sqrt(s_A^2 / n_A + s_B^2 / n_B)``. Then, for a ticket T:

- matches dense:  mean(T) - mean(dense) >= -2 se   (within the noise, or better)
- beats random:   mean(T) - mean(random) > 2 se
- below random:   mean(T) - mean(random) < -2 se
- otherwise against random: within noise.

Twice the standard error is roughly a 95 % band for normal noise; with 3
seeds it is a coarse screen, not a significance test, and the report says so.
A single pair of runs has no spread (se = 0): the comparison is then exact.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Sequence


@dataclass(frozen=True)
class Cell:
    """The metric of one set-up over its seeds (``seeds[i]`` made ``values[i]``)."""
    values: tuple[float, ...]
    seeds: tuple[int, ...]

    @classmethod
    def of(cls, values: Sequence[float], seeds: Sequence[int] | None = None) -> 'Cell':
        if not values:
            raise ValueError('a cell needs at least one run')
        seeds = tuple(range(len(values))) if seeds is None else tuple(int(s) for s in seeds)
        if len(seeds) != len(values) or len(set(seeds)) != len(seeds):
            raise ValueError(f'a cell needs one distinct seed per value, got seeds {seeds} for {len(values)} values')
        return cls(tuple(float(v) for v in values), seeds)

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

    def by_seed(self) -> dict[int, float]:
        return dict(zip(self.seeds, self.values))

    def __str__(self) -> str:
        return f'{self.mean:.4g} ± {self.std:.2g}'


def se_of_difference(a: Cell, b: Cell) -> float:
    """Standard error of mean(a) - mean(b): paired by seed when both cells ran the same seeds."""
    if sorted(a.seeds) == sorted(b.seeds):
        other = b.by_seed()
        return Cell.of([v - other[s] for s, v in a.by_seed().items()]).se
    return math.sqrt(a.se ** 2 + b.se ** 2)


def matches_dense(ticket: Cell, dense: Cell) -> bool:
    return ticket.mean - dense.mean >= -2 * se_of_difference(ticket, dense)


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
