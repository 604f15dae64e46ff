"""Map blocks (sympile._transforms.maps): sums of unary functions of linear forms on the NumPy
backend's scalar path, checked against SymPy at 30 digits and against the array path."""

import mpmath
import numpy as np
import pytest
import sympy as sp

import sympile
from sympile._transforms.fold import fold_constants
from sympile._transforms.maps import map_blocks, min_terms

x, y = sp.symbols("x y")


def _map_sum(rng, n, fn, symbols):
    w, b = rng.uniform(-2, 2, (2, n))
    c = rng.uniform(-2, 2, (n, len(symbols)))
    forms = [sp.Float(b[t]) + sum(sp.Float(c[t, k]) * s for k, s in enumerate(symbols)) for t in range(n)]
    return sp.Add(*[sp.Float(w[t]) * fn(forms[t]) for t in range(n)]), float(np.abs(w).sum())


def _blocks(f) -> list:
    return [n.attr for n in map_blocks(fold_constants(f.graph)).nodes if n.op == "mapsum"]


def _check_values(f, e, symbols, scale, rng, growth=1):
    # SymPy's expression evaluated by mpmath at 30 digits, at the point's exact binary values
    # (evalf(subs=...) would rebuild every function application, at each point)
    reference = sp.lambdify(symbols, e, modules="mpmath")
    for _ in range(20):
        point = [float(v) for v in rng.uniform(-2, 2, len(symbols))]
        got = f(*point)
        assert type(got) is float
        with mpmath.workdps(30):
            want = float(reference(*[mpmath.mpf(p) for p in point]))  # (mpf of a float is exact)
        # the terms may cancel: the error is relative to the sum of their sizes
        bound = 1e-13 * (scale * growth + abs(want))
        assert abs(got - want) <= bound, (got, want)
        assert got == pytest.approx(float(f(*[np.array([p]) for p in point])[0]), rel=1e-13, abs=bound)


@pytest.mark.parametrize("fn", [sp.sin, sp.tanh, sp.exp, sp.atan])
def test_long_sums_of_one_function_of_linear_forms_are_map_blocks(fn):
    rng = np.random.default_rng(0)
    for symbols, extra in (([x], 0), ([x, y], 3 * x - y**2 + 2)):
        e, scale = _map_sum(rng, min_terms(1) + 5, fn, symbols)
        f = sympile.lambdify(symbols, e + extra)
        assert "_ms0(" in f.source
        _check_values(f, e + extra, symbols, scale, rng, 60 if fn is sp.exp else 1)


def test_sums_of_several_functions_are_one_block():
    """A Fourier series (sines and cosines of multiples of x) and a mix of three functions."""
    rng = np.random.default_rng(1)
    n = min_terms(2) // 2 + 2
    a, b = rng.uniform(-1, 1, (2, n))
    fourier = sp.Float(0.5) + sp.Add(
        *[sp.Float(a[k]) * sp.sin((k + 1) * x) + sp.Float(b[k]) * sp.cos((k + 1) * x) for k in range(n)]
    )
    f = sympile.lambdify(x, fourier)
    (block,) = _blocks(f)
    assert [op for op, *_ in block.segments] == ["cos", "sin"] and len(block.weights) == 2 * n
    _check_values(f, fourier, [x], float(np.abs(a).sum() + np.abs(b).sum()), rng)
    m = min_terms(3) // 3 + 1
    mix = sum((_map_sum(rng, m, fn, [x, y])[0] for fn in (sp.sin, sp.tanh, sp.exp)), sp.Integer(0))
    g = sympile.lambdify([x, y], mix)
    (block,) = _blocks(g)
    assert len(block.segments) == 3
    _check_values(g, mix, [x, y], 10.0 * m, rng, 60)


def test_short_or_shared_sums_are_not_map_blocks():
    rng = np.random.default_rng(0)
    short, _ = _map_sum(rng, min_terms(1) - 1, sp.sin, [x])
    # two functions need more terms than one: each costs an array call
    mixed = _map_sum(rng, min_terms(2) // 2, sp.sin, [x])[0] + _map_sum(rng, min_terms(2) // 2 - 1, sp.cos, [x])[0]
    for e in (short, mixed):
        assert "_ms0(" not in sympile.lambdify(x, e).source
    # a function value that is also an output is computed once, in scalar code
    e, _ = _map_sum(rng, min_terms(1) + 5, sp.sin, [x])
    shared = e.args[0].args[1] if e.args[0].args[0].is_Number else e.args[0].args[0]
    f = sympile.lambdify(x, [e, shared])
    (block,) = _blocks(f)
    assert len(block.weights) == min_terms(1) + 4
    got = f(0.7)
    assert got[1] == pytest.approx(float(shared.subs(x, 0.7)), rel=1e-15)
    assert got[0] == pytest.approx(float(e.evalf(30, subs={x: 0.7})), rel=1e-12, abs=1e-12)


def test_a_graph_without_map_blocks_is_returned_as_it_is():
    g = fold_constants(sympile.lambdify(x, sp.sin(x) + sp.cos(2 * x)).graph)
    assert map_blocks(g) is g


def test_map_blocks_overflow_as_the_array_path_does():
    rng = np.random.default_rng(0)
    e = sp.Add(*[sp.Float(v) * sp.exp(sp.Float(u) * x) for u, v in rng.uniform(0.5, 2, (min_terms(1) + 2, 2))])
    f = sympile.lambdify(x, e)
    assert "_ms0(" in f.source
    with np.errstate(over="ignore"):
        assert f(900.0) == np.inf == f(np.array([900.0]))[0]
    assert f(-2000.0) == 0.0 == f(np.array([-2000.0]))[0]
