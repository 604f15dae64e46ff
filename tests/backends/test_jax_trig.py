"""The JAX backend's own sine and cosine on CPU (`sympile._backends.jax_trig`): within an ulp of
mpmath on fresh random points in float32 and float64, next to multiples of pi/2 too; the C
library's values past the range and for other dtypes; IEEE edge cases; exact derivatives at
every order under jit, grad, vmap and jvp; the constants' exactness conditions checked."""

from fractions import Fraction

import mpmath
import numpy as np
import pytest
import sympy as sp
from helpers import require
from hypothesis import given, settings
from hypothesis import strategies as st
from random_expressions import SYMBOLS, expressions

jax = require("jax")
jnp = jax.numpy
jax_trig = pytest.importorskip("sympile._backends.jax_trig")

KINDS = [(np.float32, jax_trig._FLOAT32), (np.float64, jax_trig._FLOAT64)]
BIG = jax_trig.MIN_ELEMENTS


def _sin(x):
    """The vectorised sine at any size (`sin` itself keeps jnp's below `MIN_ELEMENTS`)."""
    return jax.jit(jax_trig._sincos)(jnp.asarray(x))[0]


def _cos(x):
    return jax.jit(jax_trig._sincos)(jnp.asarray(x))[1]


KIND_IDS = ["float32", "float64"]


def _points(dtype, kind, rng, n):
    """Uniform over the whole range, uniform near 0, and next to multiples of pi/2 (where the
    reduction cancels), in ``dtype``."""
    k = rng.integers(-int(kind.limit / 1.6), int(kind.limit / 1.6), n)
    near = (k * (np.pi / 2)).astype(dtype)
    near = near + rng.integers(-3, 4, n) * np.spacing(np.abs(near))
    return np.concatenate(
        [rng.uniform(-kind.limit, kind.limit, n), rng.uniform(-4, 4, n), near, [0.5, -1.25, kind.limit]]
    ).astype(dtype)


def _worst_ulps(fn, mp_fn, xs, dtype) -> float:
    """The largest |fn(x) - mp_fn(x)| over ``xs``, in units of the last place of the exact value
    rounded to ``dtype`` (mpmath at 200 bits)."""
    with jax.enable_x64(True):
        got = np.asarray(fn(xs))
    assert got.dtype == dtype
    worst = mpmath.mpf(0)
    with mpmath.workprec(200):
        for g, v in zip(got, xs):
            exact = mp_fn(mpmath.mpf(float(v)))
            spacing = mpmath.mpf(float(np.spacing(dtype(abs(float(exact))))))
            worst = max(worst, abs(mpmath.mpf(float(g)) - exact) / spacing)
    return float(worst)


def _nearest_to_multiples_of_half_pi(dtype, ks):
    """For each k, the ``dtype`` number nearest to k*pi/2: where the reduction cancels most."""
    out = []
    with mpmath.workprec(200):
        for k in ks:
            exact = int(k) * mpmath.pi / 2
            guess = dtype(float(exact))
            candidates = (guess, np.nextafter(guess, dtype(np.inf)), np.nextafter(guess, dtype(-np.inf)))
            out.append(min(candidates, key=lambda c: abs(mpmath.mpf(float(c)) - exact)))
    return np.array(out, dtype)


@pytest.mark.parametrize(("dtype", "kind"), KINDS, ids=KIND_IDS)
def test_within_an_ulp_of_mpmath(dtype, kind):
    rng = np.random.default_rng(20261203)
    xs = _points(dtype, kind, rng, 300)
    assert _worst_ulps(_sin, mpmath.sin, xs, dtype) <= 1
    assert _worst_ulps(_cos, mpmath.cos, xs, dtype) <= 1


@pytest.mark.parametrize(("dtype", "kind"), KINDS, ids=KIND_IDS)
def test_within_an_ulp_next_to_multiples_of_half_pi(dtype, kind):
    """Every multiple of pi/2 in float32's range (a sample in float64's): the nearest number,
    where sin or cos is smallest and the reduction's error largest relative to it."""
    k_max = round(kind.limit * 2 / np.pi)
    ks = np.arange(1, k_max + 1) if dtype is np.float32 else np.random.default_rng(19).integers(1, k_max, 400)
    xs = _nearest_to_multiples_of_half_pi(dtype, ks)
    xs = np.concatenate([xs, -xs])
    assert _worst_ulps(_sin, mpmath.sin, xs, dtype) <= 1
    assert _worst_ulps(_cos, mpmath.cos, xs, dtype) <= 1


@pytest.mark.parametrize(("dtype", "kind"), KINDS, ids=KIND_IDS)
def test_many_points_within_an_ulp_of_float64_reference(dtype, kind):
    """200,000 points a dtype against NumPy in float64 (and, for float64, against the C library,
    itself within half an ulp here: the bound is the sum)."""
    rng = np.random.default_rng(3)
    with jax.enable_x64(True):
        xs = _points(dtype, kind, rng, 70_000)
        s, c = np.asarray(_sin(xs)), np.asarray(_cos(xs))
    bound = 1.0 if dtype is np.float32 else 1.5
    for got, ref in ((s, np.sin(xs.astype(np.float64))), (c, np.cos(xs.astype(np.float64)))):
        ulps = np.abs(got.astype(np.float64) - ref) / np.spacing(np.abs(ref).astype(dtype)).astype(np.float64)
        assert ulps.max() <= bound, (ulps.max(), xs[ulps.argmax()])


@pytest.mark.parametrize(("dtype", "kind"), KINDS, ids=KIND_IDS)
def test_edge_cases_match_the_c_library(dtype, kind):
    values = [0.0, -0.0, 1e-30, -3e-39, 5e-324, 1e-45, np.inf, -np.inf, np.nan, kind.tiny, np.pi]
    with jax.enable_x64(True):
        xs = np.array(values, dtype=dtype)
        s, c = np.asarray(_sin(xs)), np.asarray(_cos(xs))
    with np.errstate(invalid="ignore"):
        rs, rc = np.sin(xs), np.cos(xs)
    for got, ref in ((s, rs), (c, rc)):
        both_nan = np.isnan(got) & np.isnan(ref)
        close = np.abs(got - ref) <= np.spacing(np.abs(ref).astype(dtype))
        assert np.all(both_nan | close), (xs, got, ref)
        assert np.all(np.signbit(got[~both_nan]) == np.signbit(ref[~both_nan]))
    assert np.array_equal(s[:6], xs[:6])  # sin x is x, subnormals and the sign of zero kept


@pytest.mark.parametrize(("dtype", "kind"), KINDS, ids=KIND_IDS)
def test_an_array_past_the_range_is_the_c_librarys(dtype, kind):
    rng = np.random.default_rng(5)
    with jax.enable_x64(True):
        xs = rng.uniform(-3, 3, BIG).astype(dtype)
        xs[7] = dtype(kind.limit * 10)
        for ours, theirs in ((jax_trig.sin, jnp.sin), (jax_trig.cos, jnp.cos)):
            np.testing.assert_array_equal(np.asarray(ours(xs)), np.asarray(jax.jit(theirs)(xs)))


def _uses_ours(fn, *args) -> bool:
    return "custom_jvp_call" in str(jax.make_jaxpr(fn)(*args))


def test_small_arrays_and_other_dtypes_are_jaxs():
    """Below `MIN_ELEMENTS` (per batch member under vmap), and for complex, integer and half
    precision arguments, ``jnp.sin``/``jnp.cos`` themselves."""
    big = jnp.linspace(-3.0, 3.0, BIG)
    assert _uses_ours(jax_trig.sin, big) and _uses_ours(jax_trig.cos, big)
    assert not _uses_ours(jax_trig.sin, big[:-1])
    assert not _uses_ours(jax.vmap(jax_trig.sin), big.reshape(BIG // 16, 16))
    for v in (
        jnp.asarray([0.5, 2.0], jnp.float32),
        jnp.full(BIG, 1.0 + 2.0j, jnp.complex64),
        jnp.arange(BIG),
        jnp.full(BIG, 0.5, jnp.float16),
    ):
        assert not _uses_ours(jax_trig.sin, v)
        np.testing.assert_array_equal(np.asarray(jax_trig.sin(v)), np.asarray(jnp.sin(v)))
        np.testing.assert_array_equal(np.asarray(jax_trig.cos(v)), np.asarray(jnp.cos(v)))
        assert jax_trig.sin(v).dtype == jnp.sin(v).dtype
    with jax.enable_x64(True):
        wide = jnp.linspace(-3.0, 3.0, BIG, dtype=jnp.float64)
    assert jax_trig.sin(wide).dtype == jnp.sin(wide).dtype == jnp.float64  # made with x64, used without


def test_weak_types_and_dtypes_are_kept():
    assert jax_trig.sin(jnp.ones(BIG, jnp.float32)).dtype == jnp.float32
    assert _sin(jnp.float32(2.0)).dtype == jnp.float32
    with jax.enable_x64(True):
        weak = _sin(2.0)
        assert weak.dtype == jnp.float64 and weak.weak_type
        assert (weak + jnp.float32(1)).dtype == jnp.float32


@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=KIND_IDS)
def test_derivatives_are_exact_at_every_order(dtype):
    rng = np.random.default_rng(11)
    with jax.enable_x64(True):
        xs = jnp.asarray(rng.uniform(-50, 50, BIG), dtype)
        s, c = jax_trig.sin(xs), jax_trig.cos(xs)
        d_sin = jax.jit(jax.grad(lambda v: jax_trig.sin(v).sum()))(xs)
        d_cos = jax.grad(lambda v: jax_trig.cos(v).sum())(xs)
        d2_sin = jax.grad(lambda v: jax.grad(lambda w: jax_trig.sin(w).sum())(v).sum())(xs)
        d3_cos = jax.grad(lambda v: jax.grad(lambda w: jax.grad(lambda u: jax_trig.cos(u).sum())(w).sum())(v).sum())(xs)
        _, tangent = jax.jvp(jax_trig.sin, (xs,), (jnp.full_like(xs, 2),))
        small = xs[:8]
        hessian = jax.hessian(lambda v: _sin(v).sum())(small)
        per_member = jax.vmap(jax.grad(lambda v: _cos(v)))(small)
        sin_small = np.asarray(_sin(small))
    np.testing.assert_array_equal(np.asarray(d_sin), np.asarray(c))
    np.testing.assert_array_equal(np.asarray(d_cos), -np.asarray(s))
    np.testing.assert_array_equal(np.asarray(d2_sin), -np.asarray(s))
    np.testing.assert_array_equal(np.asarray(d3_cos), np.asarray(s))
    np.testing.assert_array_equal(np.asarray(tangent), 2 * np.asarray(c))
    np.testing.assert_array_equal(np.diag(np.asarray(hessian)), -sin_small)
    np.testing.assert_array_equal(np.asarray(per_member), -sin_small)


def test_vmap_keeps_the_range_test_whole():
    """Batched, the range test still covers the whole array (our batching rule): rows in range
    are ours, and an array with one element past it is the C library's in every row."""
    rng = np.random.default_rng(13)
    xs = rng.uniform(-3, 3, (4, BIG)).astype(np.float32)
    assert _uses_ours(jax.vmap(jax_trig.sin), xs)
    np.testing.assert_array_equal(np.asarray(jax.vmap(jax_trig.sin)(xs)), np.asarray(_sin(xs)))
    xs[2, 3] = 1e7
    np.testing.assert_array_equal(np.asarray(jax.vmap(jax_trig.sin)(xs)), np.asarray(jnp.sin(xs)))


def test_lambdified_jax_functions_use_them():
    """``lambdify(..., backend="jax")`` spells sin, cos and the pair with them, in float32 within an
    ulp."""
    from sympile import lambdify

    x = sp.Symbol("x")
    f = lambdify([x], [sp.sin(x), sp.cos(x)], backend="jax")
    assert "_sincos(" in f.source  # one call for the pair (`share_sincos`)
    assert "_sin(" in lambdify([x], sp.sin(x), backend="jax").source
    assert "_cos(" in lambdify([x], sp.cos(x), backend="jax").source
    xs = np.random.default_rng(17).uniform(-100, 100, BIG).astype(np.float32)
    s, c = (np.asarray(v) for v in f(xs))
    for got, ref in ((s, np.sin(xs.astype(np.float64))), (c, np.cos(xs.astype(np.float64)))):
        assert (np.abs(got - ref) / np.spacing(np.abs(ref).astype(np.float32))).max() <= 1


@pytest.mark.parametrize(("dtype", "kind"), KINDS, ids=KIND_IDS)
def test_the_constants_meet_their_conditions(dtype, kind):
    """Every ``k * part`` but the last is exact for ``|k| < k_limit``; the parts sum to pi/2
    within the dtype's epsilon squared (`test_within_an_ulp_next_to_multiples_of_half_pi` checks
    that this is enough where it matters); the range stays within ``k_limit``; the polynomials are
    the dtype's own numbers."""
    info = np.finfo(dtype)
    for part in kind.parts:
        assert float(dtype(part)) == part
    for part in kind.parts[:3]:
        product = Fraction(part) * (kind.k_limit - 1)
        assert Fraction(float(dtype(float(product)))) == product
    with mpmath.workprec(300):
        error = abs(sum(mpmath.mpf(p) for p in kind.parts) - mpmath.pi / 2)
        assert error < mpmath.mpf(float(info.eps)) ** 2
    assert round(kind.limit * 2 / np.pi) < kind.k_limit - 1
    assert all(float(dtype(c)) == c for c in (*kind.sin, *kind.cos))


def test_a_module_over_many_points_uses_them_with_exact_gradients():
    """A `SymbolicModule`'s batched sine over 20 terms x 4,000 points (80,000 elements) goes
    through them; its value and its gradient with respect to the 60 floats match NumPy in float64."""
    require("equinox")
    from sympile.jax import SymbolicModule

    rng = np.random.default_rng(31)
    x = sp.Symbol("x")
    a, b, c = rng.uniform(0.5, 2, (3, 20))
    expr = sp.Add(*[sp.Float(a[i]) * sp.sin(sp.Float(b[i]) * x + sp.Float(c[i])) for i in range(20)])
    X = rng.uniform(-3, 3, 4000)
    with jax.enable_x64(True):
        params, fn = SymbolicModule(expr).functional()
        assert _uses_ours(lambda p: fn(p, x=jnp.asarray(X)), params)
        loss = jax.jit(jax.value_and_grad(lambda p: fn(p, x=jnp.asarray(X)).sum()))
        value, grad = loss(params)
    theta = b[:, None] * X + c[:, None]
    assert float(value) == pytest.approx(np.sum(a[:, None] * np.sin(theta)), rel=1e-12)
    want = np.concatenate(
        [np.sin(theta).sum(1), (a[:, None] * np.cos(theta) * X).sum(1), (a[:, None] * np.cos(theta)).sum(1)]
    )
    np.testing.assert_allclose(np.sort(np.asarray(grad)), np.sort(want), rtol=1e-11, atol=1e-9)


def _trigonometric():
    """Random expressions with sines and cosines of random expressions of the inputs, alone and as
    pairs of one argument (``sincos``)."""
    varying = expressions().filter(lambda e: bool(e.free_symbols))
    return st.tuples(varying, expressions(), st.sampled_from([0, 1, 2])).map(
        lambda t: (sp.sin(t[0]) + t[1] * sp.cos(t[0]), sp.sin(t[0]) * t[1], sp.cos(t[0] + t[1]) ** 2)[t[2]]
    )


@settings(max_examples=10, deadline=None)
@given(expr=_trigonometric())
def test_random_expressions_on_large_arrays_match_numpy(expr):
    """Random expressions (tests/random_expressions.py) with sines and cosines, over 2**16 points,
    where sin and cos are sympile's, jitted in float64, against the NumPy backend; where the two
    differ, SymPy at 30 digits decides, within what float64 can deliver at that point."""
    from helpers import assert_close_to_reference

    from sympile import UnsupportedFunctionError, lambdify

    try:
        f = lambdify(SYMBOLS, expr, backend="jax")
    except UnsupportedFunctionError:
        return
    rng = np.random.default_rng(len(str(expr)))
    batch = [rng.uniform(-3, 3, BIG) for _ in SYMBOLS]
    with jax.enable_x64(True):
        try:
            got = np.broadcast_to(np.asarray(jax.jit(f)(*[jnp.asarray(b) for b in batch])), (BIG,))
        except UnsupportedFunctionError:  # a special function of a complex intermediate
            return
    reference = lambdify(SYMBOLS, expr)
    with np.errstate(all="ignore"):
        want = np.broadcast_to(reference(*batch), (BIG,))
    close = np.isclose(got, want, rtol=1e-9, atol=1e-12, equal_nan=True)
    for k in np.flatnonzero(~close)[:3]:
        point = [float(b[k]) for b in batch]
        assert_close_to_reference(expr, SYMBOLS, point, got[k], graph=reference.graph)


def test_other_platforms_lower_to_jaxs_own():
    """Lowered for a GPU (`jax.export`, no GPU needed), the program is XLA's sine and cosine with no
    trace of the vectorised kernel; for CPU it has both (the kernel, and the C library's for arrays
    past the range); exported for both, it runs here as the CPU program."""
    from jax import export

    xs = jnp.linspace(-3.0, 3.0, BIG)
    loss = jax.jit(jax.grad(lambda v: (jax_trig.sin(v) * jax_trig.cos(v)).sum()))
    gpu = export.export(loss, platforms=("cuda",))(xs).mlir_module()
    assert "stablehlo.sine" in gpu and "stablehlo.cosine" in gpu and "round_nearest_even" not in gpu
    cpu = export.export(loss, platforms=("cpu",))(xs).mlir_module()
    assert "round_nearest_even" in cpu and "stablehlo.sine" in cpu
    both = export.export(loss, platforms=("cpu", "cuda"))(xs)
    np.testing.assert_array_equal(np.asarray(both.call(xs)), np.asarray(loss(xs)))
