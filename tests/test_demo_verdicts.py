"""The demo's verdict rule on known numbers (the rule the report documents)."""
import math

import pytest

from demo.verdicts import Cell, above, against_random, difference, matches_dense, t_quantile, verdict


def test_cell_statistics():
    c = Cell.of([10.0, 11.0, 12.0])
    assert (c.n, c.mean, c.std, c.seeds) == (3, 11.0, 1.0, (0, 1, 2))  # sample standard deviation (n - 1)
    assert c.se == pytest.approx(1 / math.sqrt(3))
    assert Cell.of([4.0]).std == 0.0
    with pytest.raises(ValueError, match='at least one run'):
        Cell.of([])
    with pytest.raises(ValueError, match='one distinct seed per value'):
        Cell.of([1.0, 2.0], [0, 0])


def test_cells_on_the_same_seeds_are_compared_seed_by_seed():
    # a seed that is hard for every backbone moves both cells alike: the paired difference sees through it
    ticket, random = Cell.of([4.0, 9.0, 9.5], [0, 1, 2]), Cell.of([3.0, 8.2, 8.4], [0, 1, 2])
    diffs = Cell.of([1.0, 0.8, 1.1])
    assert difference(ticket, random).se == pytest.approx(diffs.se)
    assert against_random(ticket, random) == 'beats random'
    # the same values on other seeds: unpaired, the spread of the hard seed swamps the difference
    unpaired = Cell.of([3.0, 8.2, 8.4], [3, 4, 5])
    assert difference(ticket, unpaired).se == pytest.approx(math.sqrt(ticket.se ** 2 + unpaired.se ** 2))
    assert against_random(ticket, unpaired) == 'within noise'
    # seed order does not matter, seeds do
    assert difference(ticket, Cell.of([8.4, 3.0, 8.2], [2, 0, 1])).se == pytest.approx(diffs.se)


def test_verdicts_on_known_numbers():
    dense = Cell.of([10.0, 11.0, 12.0], [0, 1, 2])
    # per-seed differences 0.5, 0, -0.5: mean 0, se 0.289
    ticket = Cell.of([10.5, 11.0, 11.5], [0, 1, 2])
    assert matches_dense(ticket, dense)
    # differences -1.2, -1.0, -0.8: mean -1.0, se 0.115, t(2) se 0.497: below dense
    assert not matches_dense(Cell.of([8.8, 10.0, 11.2], [0, 1, 2]), dense)
    # differences -0.2, -0.3, -0.1: mean -0.2, se 0.058: 2 se (0.115) would call it below dense, but with
    # 2 degrees of freedom the 95 % half-width is 4.30 se = 0.248: within the noise
    assert matches_dense(Cell.of([9.8, 10.7, 11.9], [0, 1, 2]), dense)
    # differences -0.3, -0.35, -0.25: mean -0.3, se 0.029, half-width 0.124: below dense
    assert not matches_dense(Cell.of([9.7, 10.65, 11.75], [0, 1, 2]), dense)
    # differences 0, -0.4, 0.1: mean -0.1, se 0.153: within noise
    assert matches_dense(Cell.of([10.0, 10.6, 12.1], [0, 1, 2]), dense)
    assert not matches_dense(Cell.of([10.99] * 3), Cell.of([11.0] * 3))  # no noise at all: exact
    assert verdict(ticket, dense, Cell.of([5.0, 6.0, 7.0], [0, 1, 2])) == 'matches dense, beats random'
    assert against_random(Cell.of([8.0, 8.0, 8.0]), Cell.of([9.0, 9.0, 9.0])) == 'below random'
    # differences 1.7, 1.2, 0.7: mean 1.2 against 4.30 x 0.289 = 1.24: within noise
    assert against_random(ticket, Cell.of([8.8, 9.8, 10.8], [0, 1, 2])) == 'within noise'
    # differences 1.6, 1.2, 0.8: mean 1.2 against 4.30 x 0.231 = 0.99: beats; differences 3, 0, 0.6: within noise
    assert against_random(ticket, Cell.of([8.9, 9.8, 10.7], [0, 1, 2])) == 'beats random'
    assert against_random(ticket, Cell.of([7.5, 11.0, 10.9], [0, 1, 2])) == 'within noise'
    assert verdict(Cell.of([8.0, 8.0, 8.0]), Cell.of([11.0, 11.0, 11.0]), Cell.of([8.0, 8.0, 8.0])) == \
        'below dense, within noise'


def test_intervals_come_from_student_t_with_n_minus_1_degrees_of_freedom():
    assert t_quantile(3) == pytest.approx(3.182, abs=1e-3)   # 4 seeds: 3.18 se, not 2 se, is the 95 % band
    assert t_quantile(5) == pytest.approx(2.571, abs=1e-3)
    assert t_quantile(1e6) == pytest.approx(1.960, abs=1e-3)
    # 4 seeds, per-seed differences 0.5, 1.0, 1.5, 0.6: mean 0.9, se 0.227: 2 se would say 'above' with 0.45
    # to spare, the t interval [0.18, 1.62] says so too; 0.1, 1.0, 1.5, 0.6 (se 0.30) only under 2 se
    base = Cell.of([10.0, 10.0, 10.0, 10.0])
    d = difference(Cell.of([10.5, 11.0, 11.5, 10.6]), base)
    assert (d.n, d.df, d.per_seed) == (4, 3, pytest.approx((0.5, 1.0, 1.5, 0.6)))
    assert d.interval == pytest.approx((0.9 - 3.182 * d.se, 0.9 + 3.182 * d.se), abs=1e-3)
    assert above(Cell.of([10.5, 11.0, 11.5, 10.6]), base)
    loose = Cell.of([10.1, 11.0, 11.5, 10.6])
    diff = difference(loose, base)
    assert diff.mean > 2 * diff.se and not above(loose, base)
    assert against_random(loose, base) == 'within noise'
    assert str(d) == '+0.9 [+0.1766, +1.623] (n = 4; per seed +0.5, +1, +1.5, +0.6)'


def test_unpaired_cells_use_welch_degrees_of_freedom():
    a, b = Cell.of([1.0, 2.0, 3.0], [0, 1, 2]), Cell.of([5.0, 5.5, 6.0, 6.5], [3, 4, 5, 6])
    d = difference(a, b)
    va, vb = a.se ** 2, b.se ** 2
    assert d.df == pytest.approx((va + vb) ** 2 / (va ** 2 / 2 + vb ** 2 / 3))
    assert d.per_seed is None and d.n == 3
    # a single run per cell: no spread, an exact comparison
    assert difference(Cell.of([2.0], [0]), Cell.of([1.0], [1])).interval == (1.0, 1.0)
