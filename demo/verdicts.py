"""Verdicts of the demo's report: is a ticket's metric as good as the dense backbone's, and better
than a random mask's, beyond run-to-run noise?

Each cell holds the same fine-tuning repeated over seeds. Runs with the same
seed share their data order, augmentation draws and head initialisation
(only the backbone differs), so two cells run on the same seeds are compared
seed by seed: with d_i the per-seed differences, the difference is mean(d)
and its standard error ``se = sd(d) / sqrt(n)`` with n - 1 degrees of
freedom. Cells on different seeds fall back to ``se = sqrt(s_A^2 / n_A +
s_B^2 / n_B)`` with Welch's degrees of freedom. The difference's 95 %
interval is mean(d) ± t se, t the 97.5 % quantile of Student's t: with 4
seeds t = 3.18, where the normal 2 would be an 86 % band. Then, for a
ticket T:

- matches dense:  the interval of T - dense reaches 0 or above (within the noise, or better)
- beats random:   the interval of T - random lies above 0
- below random:   the interval of T - random lies below 0
- otherwise against random: within noise.

A single pair of runs, or differences with no spread, have se = 0: the
comparison is then exact.
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


LEVEL = 0.95  # the verdicts' two-sided confidence level


def t_quantile(df: float) -> float:
    """The two-sided ``LEVEL`` quantile of Student's t with ``df`` degrees of freedom (df > 0)."""
    from scipy.stats import t as student_t
    return float(student_t.ppf(0.5 + LEVEL / 2, df))


@dataclass(frozen=True)
class Difference:
    """mean(a) - mean(b) with its standard error, degrees of freedom and per-seed differences (when paired)."""
    mean: float
    se: float
    df: float
    n: int
    per_seed: tuple[float, ...] | None

    @property
    def half_width(self) -> float:
        """Half the 95 % interval; 0 where there is no spread (the comparison is exact)."""
        return 0.0 if self.se == 0 or self.df <= 0 else t_quantile(self.df) * self.se

    @property
    def interval(self) -> tuple[float, float]:
        return self.mean - self.half_width, self.mean + self.half_width

    def __str__(self) -> str:
        lo, hi = self.interval
        seeds = '' if self.per_seed is None else '; per seed ' + ', '.join(f'{d:+.4g}' for d in self.per_seed)
        return f'{self.mean:+.4g} [{lo:+.4g}, {hi:+.4g}] (n = {self.n}{seeds})'


def difference(a: Cell, b: Cell) -> Difference:
    """mean(a) - mean(b): paired by seed when both cells ran the same seeds, else Welch's."""
    if sorted(a.seeds) == sorted(b.seeds):
        other = b.by_seed()
        per_seed = tuple(v - other[s] for s, v in sorted(a.by_seed().items()))
        d = Cell.of(per_seed)
        return Difference(d.mean, d.se, d.n - 1, d.n, per_seed)
    se = math.sqrt(a.se ** 2 + b.se ** 2)
    parts = [c.se ** 4 / (c.n - 1) for c in (a, b) if c.n > 1]
    df = se ** 4 / sum(parts) if se > 0 and parts else 0.0
    return Difference(a.mean - b.mean, se, df, min(a.n, b.n), None)


def matches_dense(ticket: Cell, dense: Cell) -> bool:
    return difference(ticket, dense).interval[1] >= 0


def above(a: Cell, b: Cell) -> bool:
    """mean(a) above mean(b) beyond the noise: the interval of a - b lies above 0."""
    return difference(a, b).interval[0] > 0


def against_random(ticket: Cell, random: Cell) -> str:
    """'beats random', 'below random' or 'within noise'."""
    lo, hi = difference(ticket, random).interval
    if lo > 0:
        return 'beats random'
    if hi < 0:
        return 'below random'
    return 'within noise'


def verdict(ticket: Cell, dense: Cell, random: Cell) -> str:
    """The report's plain verdict of a ticket cell, e.g. 'matches dense, beats random'."""
    return ('matches dense' if matches_dense(ticket, dense) else 'below dense') + ', ' + against_random(ticket, random)
