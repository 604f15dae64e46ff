"""Raising graphs back to SymPy."""

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


def test_a_wide_sum_raises_into_one_add_quickly(monkeypatch):
    n = 10000  # wide enough: the work is counted, and a quadratic rebuild would count n/2 times more
    symbols = [sp.Symbol(f"s{i}") for i in range(n)]
    # k*s_k as SymPy's evaluation would leave it, without paying for 10,000 evaluations
    terms = [symbols[0]] + [sp.Mul(sp.Integer(i + 1), s, evaluate=False) for i, s in enumerate(symbols) if i]
    e = sp.Add(*terms)
    g = lower([e], sorted(e.free_symbols, key=str))
    # Count, not time, the work: the terms that pass through Add's flattening (which appends a
    # nested Add's terms to ``seq``). One n-ary Add takes each term once; a rebuild term by term
    # would take about n**2 / 2 of them.
    flattened = []
    flatten = sp.Add.flatten.__func__

    def counting_flatten(cls, seq):
        out = flatten(cls, seq)
        flattened.append(len(seq))
        return out

    monkeypatch.setattr(sp.Add, "flatten", classmethod(counting_flatten))
    sp.core.cache.clear_cache()  # (a cached Add would not be flattened again)
    (back,) = to_sympy(g)
    monkeypatch.undo()
    assert back == e
    assert sum(flattened) <= 20 * n


def test_user_functions_raise_by_name():
    f = sp.Function("f")
    g = lower([f(x) + 1], [x], extra_funcs={"f": abs})
    assert to_sympy(g) == [f(x) + 1]
