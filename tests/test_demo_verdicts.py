"""The demo's verdict rule on known numbers (the rule the report documents)."""
import math

import pytest

from demo.verdicts import Cell, against_random, matches_dense, se_of_difference, verdict


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
    assert se_of_difference(ticket, random) == pytest.approx(diffs.se)
    assert against_random(ticket, random) == 'beats random'
    # the same values on other seeds: unpaired, the spread of the hard seed swamps the difference
    unpaired = Cell.of([3.0, 8.2, 8.4], [3, 4, 5])
    assert se_of_difference(ticket, unpaired) == pytest.approx(math.sqrt(ticket.se ** 2 + unpaired.se ** 2))
    assert against_random(ticket, unpaired) == 'within noise'
    # seed order does not matter, seeds do
    assert se_of_difference(ticket, Cell.of([8.4, 3.0, 8.2], [2, 0, 1])) == pytest.approx(diffs.se)


def test_verdicts_on_known_numbers():
    dense = Cell.of([10.0, 11.0, 12.0], [0, 1, 2])
    # per-seed differences 0.5, 0, -0.5: mean 0, se 0.289
    ticket = Cell.of([10.5, 11.0, 11.5], [0, 1, 2])
    assert matches_dense(ticket, dense)
    # differences -1.2, -1.0, -0.8: mean -1.0, se 0.115: below dense by more than 2 se
    assert not matches_dense(Cell.of([8.8, 10.0, 11.2], [0, 1, 2]), dense)
    # differences -0.2, -0.3, -0.1: mean -0.2, se 0.058, 2 se 0.115: just below dense
    assert not matches_dense(Cell.of([9.8, 10.7, 11.9], [0, 1, 2]), dense)
    # differences 0, -0.4, 0.1: mean -0.1, se 0.153: within noise
    assert matches_dense(Cell.of([10.0, 10.6, 12.1], [0, 1, 2]), dense)
    assert not matches_dense(Cell.of([10.99] * 3), Cell.of([11.0] * 3))  # no noise at all: exact
    assert verdict(ticket, dense, Cell.of([5.0, 6.0, 7.0], [0, 1, 2])) == 'matches dense, beats random'
    assert against_random(Cell.of([8.0, 8.0, 8.0]), Cell.of([9.0, 9.0, 9.0])) == 'below random'
    # differences 1.7, 1.2, 0.7: mean 1.2 against 2 se = 2 x 0.289: beats; differences 3, 0, 0.6: within noise
    assert against_random(ticket, Cell.of([8.8, 9.8, 10.8], [0, 1, 2])) == 'beats random'
    assert against_random(ticket, Cell.of([7.5, 11.0, 10.9], [0, 1, 2])) == 'within noise'
    assert verdict(Cell.of([8.0, 8.0, 8.0]), Cell.of([11.0, 11.0, 11.0]), Cell.of([8.0, 8.0, 8.0])) == \
        'below dense, within noise'
