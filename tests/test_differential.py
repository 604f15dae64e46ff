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
from hypothesis import strategies as st

from sympile import lambdify, lower, to_sympy
from sympile._ad import grad_graph
from sympile._lambdify import LambdifiedFunction

x, y, z = sp.symbols("x y z")
SYMBOLS = [x, y, z]

# Functions applied to any real argument (the domain-restricted ones are fed a safe argument).
UNARY = [
    sp.sin,
    sp.cos,
    sp.atan,
    sp.sinh,
    sp.tanh,
    sp.asinh,
    sp.exp,
    sp.erf,
    sp.erfc,
    sp.Abs,
    sp.sign,
    sp.floor,
    sp.ceiling,
    sp.frac,
    sp.sech,
    sp.sinc,
    lambda u: sp.cos(u) ** 2,
    lambda u: sp.log(u**2 + 1),
    lambda u: sp.sqrt(u**2 + sp.Rational(1, 4)),
    lambda u: sp.asin(sp.tanh(u)),
    lambda u: sp.acos(sp.tanh(u) / 2),
    lambda u: sp.atanh(sp.tanh(u) * sp.Rational(9, 10)),
    lambda u: sp.acosh(u**2 + 1),
    lambda u: sp.gamma(sp.Abs(u) + sp.Rational(1, 2)),
    lambda u: sp.loggamma(u**2 + 1),
    lambda u: sp.cbrt(u**2 + 1),
    lambda u: sp.exp(u) - 1,
    lambda u: sp.log(1 + u**2),
    lambda u: sp.re(sp.exp(sp.I * u) * (u + 2 * sp.I)),
    lambda u: sp.Abs(u + sp.I),
    lambda u: sp.besselj(1, u),
    lambda u: sp.LambertW(u**2),
    lambda u: sp.erfinv(sp.tanh(u) / 2),
    lambda u: sp.coth(u**2 + 1),
    lambda u: sp.acot(u),
    lambda u: (u**2 + 1) ** sp.Rational(-3, 2),
]
BINARY = [
    lambda u, v: u + v,
    lambda u, v: u - v,
    lambda u, v: u * v,
    lambda u, v: u / (v**2 + 1),
    lambda u, v: (u**2 + 1) ** (sp.tanh(v)),
    lambda u, v: u**3 * v,
    lambda u, v: sp.atan2(u, v**2 + 1),
    lambda u, v: sp.Min(u, v),
    lambda u, v: sp.Max(u, v, 0),
    lambda u, v: sp.Mod(u, v**2 + 1),
    lambda u, v: sp.Piecewise((u, u > v), (v**2, u < -1), (u * v, True)),
    lambda u, v: sp.Piecewise((sp.sqrt(u), (u > 0) & (v > 0)), (-v, True)),
    lambda u, v: sp.Heaviside(u - v) * u,
    lambda u, v: sp.atan(u * v),
]
LEAVES = st.sampled_from(
    [*SYMBOLS, sp.Integer(2), sp.Integer(-3), sp.Rational(1, 3), sp.Float(0.75), sp.pi, sp.E, sp.GoldenRatio]
)


def expressions():
    def extend(children):
        return st.one_of(
            st.tuples(st.sampled_from(UNARY), children).map(lambda t: t[0](t[1])),
            st.tuples(st.sampled_from(BINARY), children, children).map(lambda t: t[0](t[1], t[2])),
        )

    return st.recursive(LEAVES, extend, max_leaves=8)


points = st.lists(st.floats(-3, 3, allow_nan=False, allow_subnormal=False), min_size=3, max_size=3)


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
        rng = np.random.default_rng()
        pts = rng.uniform(-2, 2, (3, 3))
        with np.errstate(all="ignore"):
            a = lambdify(SYMBOLS, back)(*pts)
            b = lambdify(SYMBOLS, expr)(*pts)
        # numerically, at random points: sympy.simplify on random Piecewise nests can run for
        # minutes (distributing Or over And)
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-12, equal_nan=True)
