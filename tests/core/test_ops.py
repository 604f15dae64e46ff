"""Every op of the table: values against SymPy at 30 digits, derivative rules against
`sympy.diff`, the round trip lower -> raise, and dtypes."""

import numpy as np
import pytest
import sympy as sp
from helpers import assert_close_to_reference, reference, rounding_bound
from hypothesis import given, settings
from op_cases import CASES, IDS, at, point, symbols_of, x, y

from sympile import lambdify, lower, to_sympy
from sympile._core.ops import OPS
from sympile._functions.lambdify import LambdifiedFunction
from sympile._transforms.ad import grad_graph


# Example counts are per op case (74 of them): each example costs a 30-digit SymPy evaluation.
@pytest.mark.parametrize("case", CASES, ids=IDS)
@settings(max_examples=30)
@given(uv=point)
def test_value_matches_sympy(case, uv):
    expr = case[1]
    syms = symbols_of(expr)
    pt = [*at(case, *uv), *[1.7] * (len(syms) - 2)]
    f = lambdify(syms, expr)
    checked = assert_close_to_reference(expr, syms, pt, f(*pt), graph=f.graph)
    assert checked or rounding_bound(f.graph, pt) is None or reference(expr, dict(zip(syms, pt))) is None


@pytest.mark.parametrize("case", CASES, ids=IDS)
@settings(max_examples=20)
@given(uv=point)
def test_arrays_match_scalars(case, uv):
    """The NumPy path on arrays agrees with the scalar fast path, point by point."""
    expr = case[1]
    syms = symbols_of(expr)
    f = lambdify(syms, expr)
    pts = [at(case, *uv), at(case, uv[1], uv[0]), at(case, 0.5, 0.25)]
    xs = np.array([p[0] for p in pts])
    ys = np.array([p[1] for p in pts])
    extra = [np.full(3, 1.7)] * (len(syms) - 2)
    with np.errstate(all="ignore"):
        batch = f(xs, ys, *extra)
        for k, p in enumerate(pts):
            np.testing.assert_allclose(batch[k], f(*p, *[1.7] * (len(syms) - 2)), rtol=1e-12, atol=1e-15)


DIFFERENTIABLE = [c for c in CASES if c[0] not in ("logic", "ite", "compare")]


@pytest.mark.parametrize("case", DIFFERENTIABLE, ids=[c[0] for c in DIFFERENTIABLE])
@settings(max_examples=15)
@given(uv=point)
def test_derivative_rule_matches_sympy_diff(case, uv):
    expr = case[1]
    syms = symbols_of(expr)
    pt = [*at(case, *uv), *[1.7] * (len(syms) - 2)]
    g = lower([expr], syms)
    grad = grad_graph(g, [0, 1])
    for k, s in enumerate((x, y)):
        one = grad.with_outputs([grad.outputs[k]]).pruned()
        f = LambdifiedFunction(one, "numpy", {}, ("list", [("leaf", i) for i in range(len(syms))]), ("leaf", 0))
        with np.errstate(all="ignore"):
            value = f(*pt)
        assert_close_to_reference(sp.diff(expr, s), syms, pt, value, rel=1e-11, graph=one)


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_round_trip_is_identity(case):
    expr = case[1]
    (back,) = to_sympy(lower([expr], symbols_of(expr)))
    assert back == expr or sp.simplify(back - expr) == 0


def test_every_op_has_a_case_or_is_structural():
    covered = set()
    for _, expr, *_ in CASES:
        covered |= {n.op for n in lower([expr], symbols_of(expr)).nodes}
    emission = {name for name, spec in OPS.items() if spec.emission}  # tested with their passes
    emission |= {name for name, spec in OPS.items() if spec.made_by_ad}  # tests/transforms/test_ad_complex.py
    # data leaves and sums over points are tested with data sums (tests/arrays/test_data_axis.py)
    missing = set(OPS) - covered - emission - {"param", "buffer", "call", "data", "psum"}
    assert not missing, f"ops without a test case: {sorted(missing)}"


#: Special functions that SciPy computes in float64 whatever the input's precision.
FLOAT64_ONLY = {"polygamma"}


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_float32_in_float32_out(case):
    expr = case[1]
    syms = symbols_of(expr)
    f = lambdify(syms, expr)
    args = [np.asarray([at(case, 0.3, 0.6)[0]] * 2, np.float32), np.asarray([at(case, 0.3, 0.6)[1]] * 2, np.float32)]
    args += [np.full(2, 1.7, np.float32)] * (len(syms) - 2)
    with np.errstate(all="ignore"):
        out = f(*args)
    if case[0] in FLOAT64_ONLY:
        assert out.dtype in (np.float64, np.complex128), out.dtype
    else:
        assert out.dtype in (np.float32, np.complex64), out.dtype


def test_complex_inputs_give_complex_outputs():
    z = sp.Symbol("z")
    expr = sp.sqrt(z) + sp.log(z) * sp.exp(sp.I * z) + sp.asin(z) + z**2.5
    f = lambdify(z, expr)
    for value in (-2.0 + 0.5j, 0.3 - 1.2j, -4 + 0j):
        out = f(np.array([value]))
        assert out.dtype == np.complex128
        ref = reference(expr, {z: value})
        assert abs(out[0] - ref) <= 1e-13 * abs(ref)


def test_constants_are_correctly_rounded():
    f = lambdify([], [sp.pi, sp.E, sp.EulerGamma, sp.GoldenRatio, sp.Catalan, sp.TribonacciConstant])
    for got, c in zip(f(), [sp.pi, sp.E, sp.EulerGamma, sp.GoldenRatio, sp.Catalan, sp.TribonacciConstant]):
        assert got == float(c.evalf(40))


def test_infinities_and_nan():
    f = lambdify(x, [x + sp.oo, x - sp.oo, x * sp.nan, sp.Piecewise((1, x > 5))])
    a, b, c, d = f(np.array([1.0, 2.0]))
    assert np.all(a == np.inf) and np.all(b == -np.inf) and np.all(np.isnan(c)) and np.all(np.isnan(d))


def test_booleans():
    f = lambdify(x, [sp.true, sp.And(x > 0, sp.false), x > 1])
    t, fa, gt = f(np.array([0.5, 2.0]))
    assert t.tolist() == [True, True] and fa.tolist() == [False, False] and gt.tolist() == [False, True]


def test_rational_is_divided_in_the_runtime_dtype():
    f = lambdify(x, sp.Rational(1, 3) * x)
    values = np.random.default_rng(0).uniform(-10, 10, 1000).astype(np.float32)
    assert np.array_equal(f(values), values / np.float32(3))


@pytest.mark.parametrize("name", ["erf", "gamma", "besselj", "lambertw", "erfinv", "polygamma", "binomial"])
def test_special_functions_without_scipy(monkeypatch, name):
    """Without SciPy, every special function still works (through mpmath)."""
    import sympile._backends.numpy as nb
    from sympile._backends.special_functions import mpmath_special

    case = next(c for c in CASES if c[0] == name)
    expr = case[1]
    f_scipy = lambdify([x, y], expr)
    monkeypatch.setattr(nb, "_SPECIAL_FUNCTIONS", mpmath_special())
    from sympile._functions import lambdify as _lambdify

    monkeypatch.setattr(_lambdify, "_CACHE", type(_lambdify._CACHE)())
    f_mp = lambdify([x, y], expr)
    pts = [at(case, 0.3, 0.7), at(case, 0.8, 0.1)]
    xs, ys = np.array([p[0] for p in pts]), np.array([p[1] for p in pts])
    np.testing.assert_allclose(f_mp(xs, ys), f_scipy(xs, ys), rtol=1e-10)
    np.testing.assert_allclose(f_mp(*pts[0]), f_scipy(*pts[0]), rtol=1e-10)
