"""Differential testing: random expressions over the op table, sympile against SymPy at 30 digits.

Values must agree to a relative 1e-12 wherever SymPy's value is finite and real; the tolerance
widens only by the float64 rounding bound of the computation itself (see helpers.py), so an
ill-conditioned example is judged by what float64 can deliver. Derivative rules are checked the
same way against `sympy.diff`.
"""

import numpy as np
import sympy as sp
from helpers import assert_close_to_reference
from hypothesis import given, settings
from random_expressions import SYMBOLS, expressions, points

from sympile import lambdify, lower, to_sympy
from sympile._functions.lambdify import LambdifiedFunction
from sympile._transforms.ad import grad_graph


@settings(max_examples=200)
@given(expr=expressions(), point=points)
def test_random_expressions_match_sympy(expr, point):
    f = lambdify(SYMBOLS, expr)
    with np.errstate(all="ignore"):
        value = f(*point)
        batch = f(*(np.array([p, p]) for p in point))
    assert_close_to_reference(expr, SYMBOLS, point, value, graph=f.graph)
    np.testing.assert_allclose(np.broadcast_to(batch, (2,)), value, rtol=1e-12, atol=1e-14, equal_nan=True)


@settings(max_examples=150)
@given(expr=expressions(), point=points)
def test_random_derivatives_match_sympy_diff(expr, point):
    g = lower([expr], SYMBOLS)
    grad = grad_graph(g)
    for k, s in enumerate(SYMBOLS):
        one = grad.with_outputs([grad.outputs[k]]).pruned()
        f = LambdifiedFunction(one, "numpy", {}, ("list", [("leaf", i) for i in range(3)]), ("leaf", 0))
        with np.errstate(all="ignore"):
            value = f(*point)
        assert_close_to_reference(sp.diff(expr, s), SYMBOLS, point, value, rel=1e-11, graph=one)


@settings(max_examples=100)
@given(expr=expressions())
def test_random_round_trips(expr):
    (back,) = to_sympy(lower([expr], SYMBOLS))
    if back != expr:
        rng = np.random.default_rng(0)
        pts = rng.uniform(-2, 2, (3, 3))
        with np.errstate(all="ignore"):
            a = lambdify(SYMBOLS, back)(*pts)
            b = lambdify(SYMBOLS, expr)(*pts)
        # numerically, at random points: sympy.simplify on random Piecewise nests can run for
        # minutes (distributing Or over And)
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-12, equal_nan=True)
