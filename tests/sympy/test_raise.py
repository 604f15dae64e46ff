"""Raising graphs back to SymPy."""

import time

import sympy as sp

from sympile import lower, to_sympy

x, y = sp.symbols("x y")


def test_named_constants_and_rationals_come_back_exact():
    e = sp.pi * x + sp.Rational(2, 7) * y + sp.GoldenRatio + sp.I * sp.Catalan + sp.EulerGamma * sp.TribonacciConstant
    assert to_sympy(lower([e], [x, y])) == [e]


def test_params_and_buffers_take_the_given_values():
    e = 1.5 * sp.exp(-0.5 * x) + sp.UnevaluatedExpr(sp.Float(0.25)) * y
    g = lower([e], [x, y], floats="params")
    (back,) = to_sympy(g, params=[2.0, -1.0], buffers=[4.0])
    assert back.subs({x: 0.0, y: 1.0}).doit() == sp.Float(6.0)
    assert sp.Float(2.0) in back.atoms(sp.Float)


def test_a_wide_sum_raises_into_one_add_quickly():
    terms = [sp.Symbol(f"s{i}") * (i + 1) for i in range(20000)]
    e = sp.Add(*terms)
    g = lower([e], sorted(e.free_symbols, key=str))
    t = time.perf_counter()
    (back,) = to_sympy(g)
    assert back == e
    assert time.perf_counter() - t < 30  # generous: a quadratic rebuild would take minutes


def test_user_functions_raise_by_name():
    f = sp.Function("f")
    g = lower([f(x) + 1], [x], extra_funcs={"f": abs})
    assert to_sympy(g) == [f(x) + 1]
