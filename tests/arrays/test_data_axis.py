"""Data stays an array: sums over NumPy data are per-point graphs and ``psum`` nodes.

Each model is checked against the old form (the same trace written out point by point,
`expand_points`, and a trace without the data axis), against closed forms and against
finite differences; graph sizes must not depend on the number of points.
"""

from __future__ import annotations

import numpy as np
import pytest
import sympy as sp

import sympile
import sympile.numpy as snp
from sympile._arrays.derive import derive
from sympile._arrays.numpify import NumpifiedFunction
from sympile._arrays.tracing import trace
from sympile._transforms.points import expand_points, has_data


def logistic(X, y):
    def nll(w):
        z = X @ w
        return snp.sum(snp.log(1 + snp.exp(z)) - y * z)

    return nll


def least_squares(X, y):
    return lambda w: snp.sum((X @ w - y) ** 2)


def mixture(x, k):
    def loglik(a, m, s):
        return snp.sum(snp.log(snp.sum(a * snp.exp(-((x[:, None] - m) ** 2) / (2 * s**2)), axis=1)))

    return loglik


def _data(n, d, seed):
    rng = np.random.default_rng(seed)
    return rng.normal(size=(n, d)), rng.integers(0, 2, n).astype(float), rng


def _old(func, shapes, kind):
    """The old form: traced without the data axis, one scalar node per point."""
    return NumpifiedFunction(derive(trace(func, shapes), kind).main, "numpy")


@pytest.mark.parametrize("kind", ["grad", "hessian"])
def test_logistic_matches_closed_form_and_old_form(kind):
    X, y, rng = _data(60, 5, 1)
    w = rng.normal(size=5) * 0.3
    op = getattr(sympile, kind)(logistic(X, y), (5,))
    assert has_data(op.graph)
    p = 1 / (1 + np.exp(-(X @ w)))
    want = X.T @ (p - y) if kind == "grad" else X.T @ (X * (p * (1 - p))[:, None])
    np.testing.assert_allclose(op(w), want, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(op(w), _old(logistic(X, y), [(5,)], kind)(w), rtol=1e-12, atol=1e-12)


def test_graph_size_does_not_grow_with_points():
    sizes = {}
    for n in (50, 500):
        X, y, _ = _data(n, 6, 2)
        sizes[n] = [len(op(logistic(X, y), (6,)).graph) for op in (sympile.numpify_func, sympile.grad, sympile.hessian)]
        sizes[n].append(len(sympile.hessian(least_squares(X, y), (6,)).graph))
        sizes[n].append(len(sympile.hessian(mixture(X[:, 0], 3), (3,), (3,), (3,), wrt=(0, 1, 2)).graph))
    assert sizes[50] == sizes[500]


def test_old_form_grows_and_expansion_agrees():
    X, y, rng = _data(30, 3, 3)
    f = sympile.hessian(logistic(X, y), (3,))
    expanded = expand_points(f.graph)
    assert not has_data(expanded) and len(expanded) > 10 * len(f.graph)
    w = rng.normal(size=3)
    g = NumpifiedFunction(f._traced._replace(graph=expanded), "numpy")
    np.testing.assert_allclose(f(w), g(w), rtol=1e-12)


def test_least_squares_hessian_is_constant_and_gradient_is_right():
    X, y, rng = _data(40, 4, 4)
    w = rng.normal(size=4)
    H = sympile.hessian(least_squares(X, y), (4,))
    np.testing.assert_allclose(H(w), 2 * X.T @ X, rtol=1e-12)
    g = sympile.grad(least_squares(X, y), (4,))
    np.testing.assert_allclose(g(w), 2 * X.T @ (X @ w - y), rtol=1e-12)


def _finite_difference_grad(f, x, h=1e-6):
    out = np.empty_like(x)
    for k in range(x.size):
        e = np.zeros_like(x)
        e[k] = h
        out[k] = (f(x + e) - f(x - e)) / (2 * h)
    return out


def test_mixture_gradient_and_hessian_by_finite_differences():
    x = np.random.default_rng(5).normal(size=100)
    k = 2
    model = mixture(x, k)
    a, m, s = np.array([0.4, 0.6]), np.array([-0.5, 0.7]), np.array([0.8, 1.3])
    flat = np.concatenate([a, m, s])

    def value(v):
        a, m, s = v[:k], v[k : 2 * k], v[2 * k :]
        return np.sum(np.log(sum(a[j] * np.exp(-((x - m[j]) ** 2) / (2 * s[j] ** 2)) for j in range(k))))

    g = sympile.grad(model, (k,), (k,), (k,), wrt=(0, 1, 2))
    np.testing.assert_allclose(np.concatenate(g(a, m, s)), _finite_difference_grad(value, flat), rtol=1e-6, atol=1e-6)
    H = sympile.hessian(model, (k,), (k,), (k,), wrt=(0, 1, 2))
    blocks = H(a, m, s)
    full = np.block([[np.asarray(b) for b in row] for row in blocks])
    gflat = lambda v: np.concatenate(g(v[:k], v[k : 2 * k], v[2 * k :]))  # noqa: E731
    np.testing.assert_allclose(full, _finite_difference_grad_matrix(gflat, flat), rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(full, full.T, rtol=0, atol=0)


def _finite_difference_grad_matrix(g, x, h=1e-6):
    cols = []
    for k in range(x.size):
        e = np.zeros_like(x)
        e[k] = h
        cols.append((g(x + e) - g(x - e)) / (2 * h))
    return np.stack(cols, axis=1)


def test_other_backends_get_the_expanded_form():
    X, y, rng = _data(20, 3, 6)
    w = rng.normal(size=3)
    want = sympile.grad(logistic(X, y), (3,))(w)
    pytest.importorskip("jax")
    got = sympile.grad(logistic(X, y), (3,), backend="jax")(w)
    np.testing.assert_allclose(np.asarray(got, dtype=float), want, rtol=1e-5)  # JAX computes in float32 by default


@pytest.mark.parametrize(
    "model",
    [
        lambda X, y: lambda w: snp.sum((X @ w - y) ** 2) / len(y),
        lambda X, y: lambda w: snp.mean(snp.tanh(X @ w) * y),
        lambda X, y: lambda w: (X @ w - y) @ (X @ w - y),
        lambda X, y: lambda w: snp.sum(X.T @ (X @ w) * w),
        lambda X, y: lambda w: snp.sum(snp.where(X @ w > 0, X @ w, 0.1 * (X @ w)) ** 2),
        lambda X, y: lambda w: snp.sum(snp.exp(-((X - w) ** 2)), axis=0) @ w,
    ],
)
def test_models_match_the_old_form(model):
    X, y, rng = _data(25, 3, 7)
    w = rng.normal(size=3)
    f = model(X, y)
    for kind in ("grad", "hessian"):
        new = getattr(sympile, kind)(f, (3,))
        np.testing.assert_allclose(new(w), _old(f, [(3,)], kind)(w), rtol=1e-11, atol=1e-11)


def test_outputs_that_keep_the_data_axis_are_written_out():
    X, y, rng = _data(12, 2, 8)
    w = rng.normal(size=2)
    residuals = sympile.numpify_func(lambda w: X @ w - y, (2,))
    np.testing.assert_allclose(residuals(w), X @ w - y, rtol=1e-13)
    J = sympile.jacobian(lambda w: snp.exp(X @ w), (2,))
    np.testing.assert_allclose(J(w), np.exp(X @ w)[:, None] * X, rtol=1e-13)


def test_data_axis_only_while_compiling():
    X = np.arange(20.0).reshape(10, 2)
    w = sympile.named_array("w", 2)
    z = X @ w
    assert type(z) is sympile.SymbolicArray and z.shape == (10,)
    from sympile.diffops.symbolic import grad

    g = grad(lambda w: snp.sum((X @ w) ** 2))(w)
    assert isinstance(g[0], sp.Expr) and not g[0].has(sp.Function)


def test_lambdified_functions_are_refused_with_a_remedy():
    x = sp.Symbol("x")
    f = sympile.lambdify([x], sp.sin(x))
    with pytest.raises(sympile.TracingError, match="lambdify") as e:
        sympile.jacobian(f, 1)
    assert isinstance(e.value, TypeError)


@pytest.mark.parametrize(
    "func",
    [
        lambda x: np.exp(np.asarray(x.tolist(), dtype=object)).sum(),
        lambda x: np.linalg.solve(np.eye(2), x).sum(),
    ],
)
def test_plain_numpy_on_symbols_is_refused_with_a_remedy(func):
    with pytest.raises(sympile.TracingError, match="sympile.numpy"):
        sympile.grad(func, 2)
