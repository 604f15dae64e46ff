"""`sympile.quantise`: edge cases."""

import pytest
import sympy as sp

from sympile import SympileError, quantise, quantize

x, y = sp.symbols("x y")


def test_rounds_to_the_grid():
    assert quantise(1.234 * x + 0.0049 * y, 0.01) == sp.Float("1.23") * x
    assert quantise(12345.6 * x, 100) == 12300 * x


def test_terms_that_round_to_zero_disappear():
    assert quantise(0.004 * x + y, 0.01) == y
    assert quantise(0.004 * x, 0.01) == 0
    assert quantise(sp.sin(0.001 * x) + 1.0, 0.01) == 1  # sin(0) = 0


def test_near_integers_become_integers():
    e = quantise(0.99997 * y / (1.00002 + 0.0041 * x + y) + x**2.0003, 0.01)
    assert e == y / (y + 1) + x**2
    assert all(isinstance(a, sp.Integer) for a in quantise(2.0001 * x**3.0 - 1.9999, 0.01).atoms(sp.Number))


def test_ties_go_away_from_zero_symmetrically():
    assert quantise(0.5 * x, 1) == x
    assert quantise(-0.5 * x, 1) == -x
    assert quantise(-1.25 * x, 0.5) == -1.5 * x


def test_values_print_without_binary_noise():
    e = quantise(0.35000001 * x, 0.01)
    assert str(e) == "0.35*x"


def test_exact_numbers_and_non_finite_floats_are_left_alone():
    e = sp.Rational(1, 3) * x + sp.pi + sp.Float("inf") * y
    assert quantise(e, 0.1) == e


def test_unevaluated_floats_stay_wrapped():
    e = quantise(sp.UnevaluatedExpr(sp.Float(0.333)) * x, 0.1)
    assert e.atoms(sp.UnevaluatedExpr) == {sp.UnevaluatedExpr(sp.Float(0.3, 15))}


def test_lists_and_alias():
    assert quantize([1.01 * x, 2.02 * y], 0.1) == [x, 2 * y]


@pytest.mark.parametrize("step", [0, -0.1, float("nan"), float("inf"), "a"])
def test_bad_steps(step):
    with pytest.raises(SympileError, match="positive number"):
        quantise(x, step)


def test_not_an_expression():
    with pytest.raises(SympileError, match="SymPy expression"):
        quantise("x + 1", 0.1)
