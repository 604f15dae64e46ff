"""SymPy's ``loggamma`` lowered with its real domain (`sympile._sympy.lower._lower_loggamma`).

SymPy's ``loggamma(x)`` is complex for x < 0 not an integer; in sympile's real semantics that is
NaN, on every backend and in the constant folder alike; log|Γ| (the ``loggamma`` op) elsewhere.
"""

from __future__ import annotations

import warnings

import mpmath
import numpy as np
import pytest
import sympy as sp

from sympile import lambdify, lower
from sympile._functions.lambdify import LambdifiedFunction
from sympile._transforms.ad import jacobian_graph

pytestmark = pytest.mark.usefixtures("kernel_cache")

BACKENDS = ["numpy", "torch", "jax", "pytensor", "c"]
x = sp.Symbol("x")
POINTS = [-7.25, -2.5, -1 / 7, -1e-3, 1e-3, 0.5, 1.0, 2.0, 3.5, 10.0, 171.5, 1e5]
POLES = [0.0, -1.0, -2.0, -30.0]


def _reference(v: float) -> float:
    """SymPy's real value at ``v`` (mpmath at 50 digits), or NaN where SymPy's is complex."""
    with mpmath.workdps(50):
        if v <= 0 and v == int(v):
            return np.inf
        value = mpmath.loggamma(v)
        return float(value.real) if mpmath.im(value) == 0 else np.nan


def _values(out) -> np.ndarray:
    if hasattr(out, "detach"):
        out = out.detach().numpy()
    return np.asarray(out, dtype=np.float64)


def _run(f, points):
    try:
        import jax
    except ImportError:
        return f(points)
    with jax.enable_x64(True):
        return f(points)


@pytest.mark.parametrize("backend", BACKENDS)
def test_loggamma_is_nan_where_sympy_is_complex_and_log_abs_gamma_elsewhere(backend):
    f = lambdify([x], sp.loggamma(x), backend=backend)
    got = _values(_run(f, np.array(POINTS + POLES)))
    want = np.array([_reference(v) for v in POINTS + POLES])
    assert np.array_equal(np.isnan(got), np.isnan(want)), got
    np.testing.assert_allclose(got, want, rtol=1e-13)


def test_loggamma_at_one_point_takes_the_same_semantics():
    f = lambdify([x], sp.loggamma(x))
    assert np.isnan(f(-0.5)) and np.isnan(f(-1 / 7))
    assert f(-2.0) == np.inf and f(0.0) == np.inf
    assert f(0.5) == pytest.approx(float(mpmath.loggamma(0.5)), rel=1e-15)


@pytest.mark.parametrize("backend", BACKENDS)
def test_folded_loggamma_constant_agrees_with_the_backends(backend):
    # loggamma(-1/7) is folded from SymPy's value: complex there, so NaN, as every backend computes it
    f = lambdify([x], [sp.loggamma(sp.Rational(-1, 7)) + x, sp.loggamma(sp.Rational(7, 2)) + x], backend=backend)
    nan, real = (_values(v) for v in _run(f, np.array([1.0])))
    assert np.isnan(nan).all()
    np.testing.assert_allclose(real, float(mpmath.loggamma(3.5)) + 1, rtol=1e-15)
    g = lambdify([x], sp.loggamma(x), backend=backend)
    assert np.isnan(_values(_run(g, np.array([-1 / 7])))).all()


def test_lowered_graph_keeps_the_log_abs_gamma_op_behind_a_guard():
    g = lower([sp.loggamma(x)], [x])
    ops = [n.op for n in g.nodes]
    assert "loggamma" in ops and "where" in ops
    # gamma's decomposition still computes log|Γ| (for the magnitude) where x < 0
    f = lambdify([x], sp.gamma(x), backend="torch")
    np.testing.assert_allclose(
        _values(f(np.array([-2.5, -0.5]))), [float(mpmath.gamma(-2.5)), float(mpmath.gamma(-0.5))]
    )


@pytest.mark.parametrize("backend", [b for b in BACKENDS if b != "c"])  # C has no digamma (polygamma)
def test_graph_derivative_of_loggamma_is_digamma_and_masked_where_nan(backend):
    jac = jacobian_graph(lower([sp.loggamma(x)], [x]))
    f = LambdifiedFunction(jac, backend, {}, ("list", [("leaf", 0)]), ("leaf", 0))
    inside = np.array([0.25, 1.0, 2.5, 7.0, 40.0])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # PyTensor runs polygamma in Numba's object mode
        got = _values(_run(f, np.concatenate([inside, [-0.5, -2.5]])))
    np.testing.assert_allclose(got[:5], [float(mpmath.digamma(v)) for v in inside], rtol=1e-12)
    # where the value is NaN the derivative is the constant branch's: 0, no NaN leaks from digamma's side
    np.testing.assert_array_equal(got[5:], [0.0, 0.0])


def test_torch_and_jax_gradients_of_loggamma_are_digamma_inside_the_domain():
    torch = pytest.importorskip("torch")
    jax = pytest.importorskip("jax")
    points = np.array([0.25, 2.5, 7.0])
    want = [float(mpmath.digamma(v)) for v in points]
    t = torch.tensor(points, requires_grad=True)
    lambdify([x], sp.loggamma(x), backend="torch")(t).sum().backward()
    np.testing.assert_allclose(t.grad.numpy(), want, rtol=1e-12)
    fj = lambdify([x], sp.loggamma(x), backend="jax")
    with jax.enable_x64(True):
        np.testing.assert_allclose(np.asarray(jax.vmap(jax.grad(fj))(points)), want, rtol=1e-12)
        assert float(jax.grad(fj)(-0.5)) == 0.0


def test_the_guard_round_trips_back_to_loggamma_nested_and_beside_a_user_piecewise():
    """Raising gives SymPy's ``loggamma(u)`` back for the guarded form, matched on the graph:
    nested (the guard of the outer one reads the inner one; building its Piecewise made SymPy
    compare a NaN and raise), under SymPy's rewriting of the condition (``x**2 < -1``), and not
    for a Piecewise the user wrote with a NaN branch."""
    from sympile._sympy.raising import to_sympy

    x, y = sp.symbols("x y")
    exprs = [
        sp.loggamma(sp.loggamma(x**2 + 1) ** 2 + 1),
        sp.loggamma(x**2 + 1) * sp.loggamma(y),
        sp.Piecewise((sp.nan, x < 0), (sp.loggamma(x), True)),
        sp.Piecewise((sp.nan, (x < 0) & sp.Ne(x, sp.floor(x))), (sp.loggamma(x) + 1, True)),
    ]
    assert to_sympy(lower(exprs, [x, y])) == exprs
