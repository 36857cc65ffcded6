"""The demo's verdict rule on known numbers (the rule the report documents)."""
import math

import pytest

from demo.verdicts import Cell, against_random, matches_dense, se_of_difference, verdict


def test_cell_statistics():
    c = Cell.of([10.0, 11.0, 12.0])
    assert (c.n, c.mean, c.std) == (3, 11.0, 1.0)  # sample standard deviation (n - 1)
    assert c.se == pytest.approx(1 / math.sqrt(3))
    assert Cell.of([4.0]).std == 0.0
    assert se_of_difference(c, Cell.of([5.0, 6.0, 7.0])) == pytest.approx(math.sqrt(2 / 3))
    with pytest.raises(ValueError, match='at least one run'):
        Cell.of([])


def test_verdicts_on_known_numbers():
    dense = Cell.of([10.0, 11.0, 12.0])            # mean 11, se 0.577
    ticket = Cell.of([10.5, 11.0, 11.5])           # mean 11, se 0.289: se of the difference 0.645
    assert matches_dense(ticket, dense)
    # without spread of its own, a ticket matches down to 11 - 2 x 0.577 = 9.845
    assert matches_dense(Cell.of([9.9, 9.9, 9.9]), dense)
    assert not matches_dense(Cell.of([9.8, 9.8, 9.8]), dense)
    assert not matches_dense(Cell.of([10.99] * 3), Cell.of([11.0] * 3))  # no noise at all: exact
    assert verdict(ticket, dense, Cell.of([5.0, 6.0, 7.0])) == 'matches dense, beats random'
    # a difference of 1.2 against 2 x sqrt(0.289² + 0.577²) = 1.29: within noise
    assert against_random(ticket, Cell.of([8.8, 9.8, 10.8])) == 'within noise'
    assert against_random(Cell.of([8.0, 8.0, 8.0]), Cell.of([9.0, 9.0, 9.0])) == 'below random'
    assert verdict(Cell.of([8.0, 8.0, 8.0]), Cell.of([11.0, 11.0, 11.0]), Cell.of([8.0, 8.0, 8.0])) == \
        'below dense, within noise'
