"""``lambdify(..., backend="jax")``: every op against SymPy and the NumPy backend, in float32
and with ``jax_enable_x64``; ``jax.jit``, ``jax.grad`` and ``jax.vmap``; exact constants; masked
branches; clear errors for what JAX lacks."""

import functools
import pickle

import numpy as np
import pytest
import sympy as sp
from helpers import assert_close_to_reference, reference, require, rounding_bound
from hypothesis import given, settings
from hypothesis import strategies as st
from op_cases import CASES

from sympile import UnsupportedFunctionError, lambdify, lower
from sympile._transforms.ad import grad_graph

jax = require("jax")
jnp = jax.numpy

x, y = sp.symbols("x y")
IDS = [c[0] for c in CASES]
point = st.tuples(st.floats(0, 1), st.floats(0, 1))
#: The ops JAX has no implementation of: these must raise UnsupportedFunctionError.
UNSUPPORTED = {"besselj", "bessely", "lambertw", "lambertw_branch"}
SUPPORTED = [c for c in CASES if c[0] not in UNSUPPORTED]
EPS32_OVER_EPS64 = float(np.finfo(np.float32).eps / np.finfo(np.float64).eps)


def _at(case, u, v):
    _, _, (lx, hx), (ly, hy) = case
    return lx + u * (hx - lx), ly + v * (hy - ly)


def _symbols(expr):
    return [x, y, *sorted(expr.free_symbols - {x, y}, key=str)]


def _point(case, uv, dtype=float):
    expr = case[1]
    syms = _symbols(expr)
    pt = [*_at(case, *uv), *[1.7] * (len(syms) - 2)]
    return expr, syms, [float(dtype(v)) for v in pt]


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_every_op_is_supported_or_says_so(case):
    expr = case[1]
    if case[0] in UNSUPPORTED:
        with pytest.raises(UnsupportedFunctionError, match="extra_funcs"):
            lambdify(_symbols(expr), expr, backend="jax")
    else:
        assert callable(lambdify(_symbols(expr), expr, backend="jax"))


@pytest.mark.parametrize("case", SUPPORTED, ids=[c[0] for c in SUPPORTED])
@settings(max_examples=12)
@given(uv=point)
def test_x64_value_matches_sympy(case, uv):
    expr, syms, pt = _point(case, uv)
    with jax.enable_x64(True):
        f = lambdify(syms, expr, backend="jax")
        value = f(*[jnp.float64(v) for v in pt])
        assert value.dtype in (jnp.float64, jnp.complex128, jnp.bool_)
        assert_close_to_reference(expr, syms, pt, complex(value), rel=1e-13, graph=f.graph)


@pytest.mark.parametrize("case", SUPPORTED, ids=[c[0] for c in SUPPORTED])
@settings(max_examples=12)
@given(uv=point)
def test_float32_value_matches_sympy(case, uv):
    """float32 in, float32 out, within what float32 can deliver at that point."""
    expr, syms, pt = _point(case, uv, np.float32)  # float32 inputs: SymPy sees their exact values
    f = lambdify(syms, expr, backend="jax")
    value = f(*[jnp.float32(v) for v in pt])
    assert value.dtype in (jnp.float32, jnp.complex64, jnp.bool_), value.dtype
    ref = reference(expr, dict(zip(syms, pt)))
    bound = rounding_bound(f.graph, pt)
    if ref is None or bound is None or abs(ref.imag) > 1e-25 * max(1.0, abs(ref.real)):
        return
    # XLA's float32 sin, exp, division... on GPUs are fast approximations, not within 1 ulp
    slack = 1 if jax.default_backend() == "cpu" else 8
    tol = slack * (1e-6 * abs(ref) + 16 * bound * EPS32_OVER_EPS64) + 1e-30
    err = abs(complex(value) - ref)
    assert err <= tol, f"{expr} at {pt}: got {value}, SymPy says {ref}; error {err:.3g} > {tol:.3g}"


@pytest.mark.parametrize("case", SUPPORTED, ids=[c[0] for c in SUPPORTED])
def test_arrays_jit_and_vmap_match_numpy_backend(case):
    expr = case[1]
    syms = _symbols(expr)
    rng = np.random.default_rng(0)
    cols = [np.array([_at(case, *rng.uniform(0, 1, 2))[0] for _ in range(9)])]
    cols.append(np.array([_at(case, *rng.uniform(0, 1, 2))[1] for _ in range(9)]))
    cols += [np.full(9, 1.7)] * (len(syms) - 2)
    with np.errstate(all="ignore"):
        want = lambdify(syms, expr)(*cols)
    with jax.enable_x64(True):
        f = lambdify(syms, expr, backend="jax")
        args = [jnp.asarray(c) for c in cols]
        rtol = 1e-12
        np.testing.assert_allclose(f(*args), want, rtol=rtol, atol=1e-12)
        np.testing.assert_allclose(jax.jit(f)(*args), want, rtol=rtol, atol=1e-12)
        np.testing.assert_allclose(jax.vmap(f)(*args), want, rtol=rtol, atol=1e-12)


DIFFERENTIABLE = [c for c in SUPPORTED if c[0] not in ("logic", "ite", "compare", "arg", "complex")]


@pytest.mark.parametrize("case", DIFFERENTIABLE, ids=[c[0] for c in DIFFERENTIABLE])
@settings(max_examples=6)
@given(uv=point)
def test_jax_grad_matches_sympy_diff(case, uv):
    """jax.grad through the generated code (masked branches included) against sympy.diff."""
    expr, syms, pt = _point(case, uv)
    with jax.enable_x64(True):
        f = lambdify(syms, expr, backend="jax")
        grads = jax.grad(lambda *a: jnp.real(f(*a)), argnums=(0, 1))(*[jnp.float64(v) for v in pt])
    check_gradient(expr, syms, pt, grads)


def check_gradient(expr, syms, pt, grads):
    """Each partial against sympy.diff at 30 digits, within the float64 rounding bound of the
    chain rule (sympile's own gradient graph: the computation JAX's reverse mode performs)."""
    grad = grad_graph(lower([expr], syms), list(range(len(grads))))
    for k, (s, g) in enumerate(zip(syms, grads)):
        d = sp.diff(expr, s).replace(sp.DiracDelta, lambda *a: sp.S.Zero)  # tests keep off the jumps
        if d.has(sp.Derivative, sp.Subs):
            continue
        one = grad.with_outputs([grad.outputs[k]]).pruned()
        assert_close_to_reference(d, syms, pt, complex(g), rel=1e-11, graph=one)


CONSTANTS = [sp.pi, sp.E, sp.EulerGamma, sp.GoldenRatio, sp.Catalan, sp.TribonacciConstant]


def _float32_of(value) -> np.float32:
    """The float32 nearest to a SymPy number (rounded once, from 40 digits)."""
    import mpmath

    with mpmath.workprec(24):
        return np.float32(float(mpmath.mpf(str(sp.N(value, 40)))))


@pytest.mark.parametrize("c", CONSTANTS, ids=str)
def test_named_constants_are_exact_in_the_input_dtype(c):
    f = lambdify(x, c + 0 * x, backend="jax")
    out32 = f(jnp.zeros(2, jnp.float32))
    assert out32.dtype == jnp.float32 and np.all(np.asarray(out32) == _float32_of(c))
    with jax.enable_x64(True):
        out64 = f(jnp.zeros(2, jnp.float64))
        assert out64.dtype == jnp.float64 and np.all(np.asarray(out64) == float(sp.N(c, 40)))


finite32 = st.floats(-1e6, 1e6, width=32).filter(lambda v: v == 0 or abs(v) > 1e-30)  # XLA flushes subnormals


@functools.cache
def _exact_constants():
    """The function under test and its jit, built once: every example reuses their compiled kernels."""
    f = lambdify(x, [sp.Rational(1, 3) * x, x / 7 + sp.Rational(2, 7), 3 * x, x + sp.Rational(5, 4)], backend="jax")
    return f, jax.jit(f)


@settings(max_examples=100)
@given(vs=st.lists(finite32, min_size=1, max_size=37))
def test_rationals_and_integers_are_exact_in_the_input_dtype(vs):
    """On arrays too, where XLA would divide by multiplying with a rounded reciprocal."""
    f, jitted = _exact_constants()
    # One length (whole SIMD vectors and a remainder), the drawn values repeated to fill it, so
    # that one compiled kernel serves every example.
    a = np.resize(np.asarray(vs, np.float32), 37)
    for fn in (f, jitted):
        got = [np.asarray(o) for o in fn(jnp.asarray(a))]
        want = [
            a / np.float32(3),
            a / np.float32(7) + _float32_of(sp.Rational(2, 7)),
            np.float32(3) * a,
            a + np.float32(1.25),
        ]
        assert all(g.dtype == np.float32 for g in got)
        for g, w in zip(got, want):
            if jax.default_backend() == "cpu":
                np.testing.assert_array_equal(g, w)
            else:  # XLA's float32 division on GPUs is itself within 2 ulp, not correctly rounded
                tol = 2 * np.spacing(np.abs(a)) + 2 * np.spacing(np.abs(w))
                assert np.all(np.abs(g - w) <= tol), (g, w)
    with jax.enable_x64(True):
        b = np.resize(np.asarray(vs, np.float64), 37)
        got = [np.asarray(o) for o in jitted(jnp.asarray(b))]
        for g, w in zip(got, [b / 3, b / 7 + 2 / 7, 3 * b, b + 1.25]):
            assert g.dtype == np.float64
            np.testing.assert_array_equal(g, w)


def test_imaginary_unit_keeps_the_input_precision():
    f = lambdify(x, sp.exp(sp.I * x) + sp.I, backend="jax")
    values = np.linspace(-3, 3, 7)
    out = f(jnp.asarray(values, jnp.float32))
    assert out.dtype == jnp.complex64
    np.testing.assert_allclose(out, np.exp(1j * values) + 1j, rtol=1e-6)
    with jax.enable_x64(True):
        out = f(jnp.asarray(values))
        assert out.dtype == jnp.complex128
        np.testing.assert_allclose(out, np.exp(1j * values) + 1j, rtol=1e-15)


BRANCHES = [
    sp.Piecewise((sp.sqrt(x), x > 0), (0, True)),
    sp.Piecewise((sp.log(x), x > 0), (x, True)),
    sp.Piecewise((1 / x, sp.Ne(x, 0)), (1, True)),
    sp.Piecewise((x ** sp.Rational(3, 2), x > 0), (-x, True)),
    sp.Piecewise((sp.acos(x), (x > -1) & (x < 1)), (0, True)),
]


@pytest.mark.parametrize("expr", BRANCHES, ids=str)
@settings(max_examples=40)
@given(v=st.floats(-5, 5))
def test_gradient_is_never_nan_from_an_untaken_branch(expr, v):
    f = lambdify(x, expr, backend="jax")
    d = sp.diff(expr, x)
    g = float(jax.grad(f)(jnp.float32(v)))
    want = reference(d, {x: float(np.float32(v))})
    assert not np.isnan(g)
    if want is not None and abs(float(np.float32(v))) > 1e-3:  # (the taken branch may overflow nearer 0)
        assert g == pytest.approx(want.real, rel=1e-4, abs=1e-5)


def test_branches_are_masked_in_the_source():
    f = lambdify(x, sp.Piecewise((sp.sqrt(x), x > 0), (0, True)), backend="jax")
    assert "jnp.sqrt((jnp.where(" in f.source


def test_extra_funcs_supply_what_jax_lacks():
    w = sp.Symbol("w")
    f = lambdify(w, sp.LambertW(w) + 1, backend="jax", extra_funcs={sp.LambertW: lambda v: jnp.log1p(v)})
    np.testing.assert_allclose(f(jnp.asarray([0.5, 1.0])), np.log1p([0.5, 1.0]) + 1, rtol=1e-6)


def test_structures_and_broadcasting_match_numpy_backend():
    expr = [sp.Matrix([[x, 1], [y * x, sp.pi]]), (x + y, 2)]
    xs, ys = np.linspace(0, 1, 4), np.linspace(1, 2, 4)
    want = lambdify([x, y], expr)(xs, ys)
    got = lambdify([x, y], expr, backend="jax")(jnp.asarray(xs, jnp.float32), jnp.asarray(ys, jnp.float32))
    assert got[0].shape == want[0].shape == (2, 2, 4)
    assert type(got[1]) is tuple and got[1][1].shape == (4,) and got[1][1].dtype == jnp.float32
    np.testing.assert_allclose(got[0], want[0], rtol=1e-6)
    np.testing.assert_allclose(got[1], want[1], rtol=1e-6)


def test_pickles_by_value():
    f = lambdify([x, y], sp.sin(x) * y, backend="jax")
    g = pickle.loads(pickle.dumps(f))
    assert g.backend == "jax"
    np.testing.assert_allclose(g(jnp.float32(0.5), 2.0), f(jnp.float32(0.5), 2.0))


# -- random expressions (tests/test_differential.py's generator) ------------------------------

from random_expressions import SYMBOLS, expressions, points  # noqa: E402


def _jax_function(expr):
    try:
        return lambdify(SYMBOLS, expr, backend="jax")
    except UnsupportedFunctionError:
        return None


@settings(max_examples=25)
@given(expr=expressions(), point=points)
def test_random_expressions_x64_match_sympy_and_numpy(expr, point):
    f = _jax_function(expr)
    if f is None:
        return
    numpy_graph = lambdify(SYMBOLS, expr).graph
    rng = np.random.default_rng(len(str(expr)))
    batch = [rng.uniform(-3, 3, 64) for _ in SYMBOLS]
    with jax.enable_x64(True):
        try:
            value = complex(f(*[jnp.float64(v) for v in point]))
        except UnsupportedFunctionError:  # a special function of a complex intermediate
            return
        got = np.broadcast_to(np.asarray(jax.jit(f)(*[jnp.asarray(b) for b in batch])), (64,))
    with np.errstate(all="ignore"):
        want = np.broadcast_to(lambdify(SYMBOLS, expr)(*batch), (64,))
    with np.errstate(all="ignore"):
        numpy_value = complex(lambdify(SYMBOLS, expr)(*point))
    # The NumPy backend is the reference (tests/test_differential.py holds it to SymPy); where the
    # two differ, SymPy at 30 digits decides, within what float64 can deliver at that point.
    if not np.isclose(value, numpy_value, rtol=1e-12, atol=1e-300, equal_nan=True):
        assert_close_to_reference(expr, SYMBOLS, point, value, graph=numpy_graph)
    close = np.isclose(got, want, rtol=1e-9, atol=1e-12, equal_nan=True)
    for k in np.flatnonzero(~close)[:3]:  # where they differ, the value must be ill-conditioned
        pt = [float(b[k]) for b in batch]
        assert_close_to_reference(expr, SYMBOLS, pt, got[k], graph=numpy_graph)


@settings(max_examples=25)
@given(expr=expressions(), point=points)
def test_random_expressions_jax_grad_matches_sympy_diff(expr, point):
    """jax.grad through the masked code against sympy.diff, where the derivative is finite."""
    f = _jax_function(expr)
    if f is None:
        return
    with jax.enable_x64(True):
        try:
            grads = jax.grad(lambda *a: jnp.real(f(*a)), argnums=(0, 1, 2))(*[jnp.float64(v) for v in point])
        except UnsupportedFunctionError:  # a special function of a complex intermediate
            return
    check_gradient(expr, SYMBOLS, point, grads)


def test_python_numbers_behave_as_jax_scalars():
    """1/0 is inf and an overflow inf, as for arrays, where Python's arithmetic would raise."""
    f = lambdify(x, [1 / x, x**1000, sp.acot(x)], backend="jax")
    inv, big, acot = f(0.0)
    assert float(inv) == np.inf and float(acot) == pytest.approx(np.pi / 2)
    assert float(f(2.0)[1]) == np.inf
    assert float(f(3)[0]) == pytest.approx(1 / 3)


def test_acot_has_its_derivative_at_zero():
    f = lambdify(x, sp.acot(x), backend="jax")
    for v in (0.0, -2.0, 0.5):
        assert float(jax.grad(f)(v)) == pytest.approx(-1 / (1 + v * v))
        assert float(jax.jacfwd(f)(v)) == pytest.approx(-1 / (1 + v * v))


def test_special_functions_of_complex_arguments_say_so():
    z = sp.Symbol("z")
    f = lambdify(z, sp.erf(z) + 1, backend="jax")
    with pytest.raises(UnsupportedFunctionError, match=r"real arguments only.*extra_funcs=\{sympy.erf"):
        f(jnp.asarray([0.5 + 0.1j]))
    g = lambdify(z, sp.erf(z) + 1, backend="jax", extra_funcs={sp.erf: lambda v: v})  # the way out
    assert complex(g(jnp.asarray(0.5 + 0.1j))) == pytest.approx(1.5 + 0.1j)


@pytest.mark.parametrize("x64", [False, True])
def test_integer_literals_past_int32_compute_without_x64(x64):
    """JAX makes a Python int an int32 without x64: a literal such as 93,405,312,000 (here in the
    divisor a masked branch guards) is written as a float, never an OverflowError."""
    x = sp.Symbol("x")
    expr = sp.Piecewise((x / 93405312000, x < 1), (x + 2**40, True))
    points = np.random.default_rng(5).uniform(-3, 3, 16)
    with jax.enable_x64(x64):
        f = lambdify([x], expr, backend="jax")
        got = np.asarray(f(jnp.asarray(points)))
    want = np.where(points < 1, points / 93405312000, points + 2.0**40)
    np.testing.assert_allclose(got, want, rtol=1e-15 if x64 else 1e-6)


def test_cosh_and_sinh_are_accurate_to_a_few_ulps_across_float64s_range():
    """XLA's cosh and sinh are 8 ulps off from |x| ~ 1 and 250 ulps near 700 (exp(|x| - log 2) with a
    rounded argument); sympile's are within 4 (the fuzzer's sech(700)), and their jax.grad stays
    finite and right where the branches switch."""
    import mpmath

    t = sp.Symbol("t")
    rng = np.random.default_rng(17)
    pts = np.concatenate([rng.uniform(-30, 30, 60), rng.uniform(-709, 709, 60), [-20.0, 20.0, 1.0, -1.0]])
    with jax.enable_x64(True), mpmath.workdps(40):
        f = lambdify([t], [sp.cosh(t), sp.sinh(t), sp.sech(t)], backend="jax")
        got = np.array([[float(v) for v in f(jnp.float64(p))] for p in pts])
        ref = np.array([[float(mpmath.cosh(p)), float(mpmath.sinh(p)), float(mpmath.sech(p))] for p in pts])
        np.testing.assert_allclose(got, ref, rtol=4 * np.finfo(np.float64).eps, atol=0)
        d = jax.grad(lambda s: f(s)[0])
        for p in (-20.0, -1.0, 0.5, 1.0, 20.0, 25.0):
            assert float(d(jnp.float64(p))) == pytest.approx(float(mpmath.sinh(p)), rel=1e-14)
