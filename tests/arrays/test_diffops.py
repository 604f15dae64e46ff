"""Differential operators: hand-derived derivatives, finite differences, wrt, aux values, graph size,
symbolic forms, pickling, and the least-squares example."""

import functools
import importlib.util
import multiprocessing
import pathlib
import pickle
import subprocess
import sys
import warnings

import numpy as np
import pytest
import sympy as sp
from helpers import reference, require
from hypothesis import given, settings
from hypothesis import strategies as st

import sympile.numpy as snp
from sympile import (
    ArgumentError,
    DifferentiationError,
    SymbolicArray,
    SympileError,
    grad,
    grad_and_value,
    gradient,
    hessian,
    hessian_vector_product,
    jacobian,
    jacobian_vector_product,
    matrix_hessian_product,
    matrix_tressian_product,
    named_array,
    numpify_func,
    value_and_grad,
    vector_jacobian_product,
)
from sympile._arrays.derive import derive
from sympile._arrays.tracing import trace
from sympile.diffops import symbolic

rng = np.random.default_rng(0)
A = rng.normal(size=(3, 3))
B = rng.normal(size=3)
C = rng.uniform(0.5, 2.0, 3)
M23 = rng.normal(size=(2, 3))
RADIUS, TUBE = 2.0, 0.5
DATA = rng.normal(size=(6, 3))
LABELS = (rng.uniform(size=6) > 0.5).astype(float)


def sigmoid(z):
    return 1 / (1 + np.exp(-z))


class Scalar:
    """A scalar function of x (shape (3,)) with its value, gradient, Hessian and third derivative by hand."""

    def __init__(self, name, f, value, grad, hess, third):
        self.name, self.f, self.value, self.grad, self.hess, self.third = name, f, value, grad, hess, third


def _torus_hess(x):
    rho = np.hypot(x[0], x[1])
    h = np.zeros((3, 3))
    h[0, 0] = 2 * (x[0] ** 2 / rho**2 + (rho - RADIUS) * x[1] ** 2 / rho**3)
    h[1, 1] = 2 * (x[1] ** 2 / rho**2 + (rho - RADIUS) * x[0] ** 2 / rho**3)
    h[0, 1] = h[1, 0] = 2 * x[0] * x[1] * RADIUS / rho**3
    h[2, 2] = 2.0
    return h


def _rosen_grad(x):
    g = np.zeros_like(x)
    g[:-1] += -400 * x[:-1] * (x[1:] - x[:-1] ** 2) - 2 * (1 - x[:-1])
    g[1:] += 200 * (x[1:] - x[:-1] ** 2)
    return g


def _rosen_hess(x):
    h = np.zeros((3, 3))
    for i in range(3):
        h[i, i] = (1200 * x[i] ** 2 - 400 * x[i + 1] + 2 if i < 2 else 0) + (200 if i > 0 else 0)
        if i < 2:
            h[i, i + 1] = h[i + 1, i] = -400 * x[i]
    return h


def _rosen_third(x):
    t = np.zeros((3, 3, 3))
    for i in range(2):
        t[i, i, i] = 2400 * x[i]
        for p in [(i, i, i + 1), (i, i + 1, i), (i + 1, i, i)]:
            t[p] = -400
    return t


def _logistic_third(w):
    s = sigmoid(DATA @ w)
    return -np.einsum("ij,ik,il,i->jkl", DATA, DATA, DATA, s * (1 - s) * (1 - 2 * s))


SCALARS = [
    Scalar(
        "quadratic",
        lambda x: 0.5 * x @ A @ x + B @ x,
        lambda x: 0.5 * x @ A @ x + B @ x,
        lambda x: 0.5 * (A + A.T) @ x + B,
        lambda x: 0.5 * (A + A.T),
        lambda x: np.zeros((3, 3, 3)),
    ),
    Scalar(
        "cubic",
        lambda x: snp.sum(C * x**3),
        lambda x: np.sum(C * x**3),
        lambda x: 3 * C * x**2,
        lambda x: np.diag(6 * C * x),
        lambda x: np.einsum("i,ij,ik->ijk", 6 * C, np.eye(3), np.eye(3)),
    ),
    Scalar(
        "quartic",
        lambda x: (x @ x) ** 2,
        lambda x: (x @ x) ** 2,
        lambda x: 4 * (x @ x) * x,
        lambda x: 4 * (x @ x) * np.eye(3) + 8 * np.outer(x, x),
        lambda x: (
            8
            * (
                np.einsum("jk,l->jkl", np.eye(3), x)
                + np.einsum("kl,j->jkl", np.eye(3), x)
                + np.einsum("jl,k->jkl", np.eye(3), x)
            )
        ),
    ),
    Scalar(
        "torus",
        lambda x: (snp.sqrt(x[0] ** 2 + x[1] ** 2) - RADIUS) ** 2 + x[2] ** 2 - TUBE**2,
        lambda x: (np.hypot(x[0], x[1]) - RADIUS) ** 2 + x[2] ** 2 - TUBE**2,
        lambda x: np.array(
            [
                2 * (np.hypot(x[0], x[1]) - RADIUS) * x[0] / np.hypot(x[0], x[1]),
                2 * (np.hypot(x[0], x[1]) - RADIUS) * x[1] / np.hypot(x[0], x[1]),
                2 * x[2],
            ]
        ),
        _torus_hess,
        None,  # by finite differences of the Hessian
    ),
    Scalar(
        "rosenbrock",
        lambda x: snp.sum(100 * (x[1:] - x[:-1] ** 2) ** 2 + (1 - x[:-1]) ** 2),
        lambda x: np.sum(100 * (x[1:] - x[:-1] ** 2) ** 2 + (1 - x[:-1]) ** 2),
        _rosen_grad,
        _rosen_hess,
        _rosen_third,
    ),
    Scalar(
        "logistic",
        lambda w: snp.sum(LABELS * (DATA @ w) - snp.log1p(snp.exp(DATA @ w))) - 0.5 * (w @ w),
        lambda w: np.sum(LABELS * (DATA @ w) - np.log1p(np.exp(DATA @ w))) - 0.5 * (w @ w),
        lambda w: DATA.T @ (LABELS - sigmoid(DATA @ w)) - w,
        lambda w: -(DATA.T * (sigmoid(DATA @ w) * (1 - sigmoid(DATA @ w)))) @ DATA - np.eye(3),
        _logistic_third,
    ),
]


class Vector:
    """A function R^3 -> R^2 with its value, Jacobian and second derivative (shape (2, 3, 3)) by hand."""

    def __init__(self, name, f, value, jac, second):
        self.name, self.f, self.value, self.jac, self.second = name, f, value, jac, second


def _torus_pair_second(x):
    prod = np.array([[0, x[2], x[1]], [x[2], 0, x[0]], [x[1], x[0], 0]])
    return np.stack([_torus_hess(x), prod])


VECTORS = [
    Vector("linear map", lambda x: M23 @ x, lambda x: M23 @ x, lambda x: M23, lambda x: np.zeros((2, 3, 3))),
    Vector(
        "torus constraint",
        lambda x: snp.array([SCALARS[3].f(x), x[0] * x[1] * x[2]]),
        lambda x: np.array([SCALARS[3].value(x), x[0] * x[1] * x[2]]),
        lambda x: np.stack([SCALARS[3].grad(x), np.array([x[1] * x[2], x[0] * x[2], x[0] * x[1]])]),
        _torus_pair_second,
    ),
]


def fd(fn, x, h=1e-6):
    """Central finite differences: d fn / d x, shape ``fn(x).shape + x.shape``."""
    x = np.asarray(x, dtype=float)
    f0 = np.asarray(fn(x))
    out = np.empty(f0.shape + x.shape)
    for idx in np.ndindex(*x.shape):
        e = np.zeros_like(x)
        e[idx] = h
        out[(...,) + idx] = (np.asarray(fn(x + e)) - np.asarray(fn(x - e))) / (2 * h)
    return out


def close(got, want, rtol=1e-9, atol=1e-9):
    np.testing.assert_allclose(np.asarray(got, dtype=float), np.asarray(want, dtype=float), rtol=rtol, atol=atol)


def fd_close(got, want):
    close(got, want, rtol=1e-5, atol=1e-5 * max(1.0, float(np.max(np.abs(want)))))


@functools.cache
def op(name, case, return_aux=False, wrt=0):
    fn = {c.name: c.f for c in SCALARS + VECTORS}[case]
    return globals()[name](fn, 3, wrt=wrt, return_aux=return_aux)


x3 = st.lists(st.floats(-1.5, 1.5), min_size=3, max_size=3).map(np.array).filter(lambda x: np.hypot(x[0], x[1]) > 0.3)
vectors3 = st.lists(st.floats(-2, 2), min_size=3, max_size=3).map(np.array)
matrices33 = st.lists(st.floats(-2, 2), min_size=9, max_size=9).map(lambda v: np.reshape(v, (3, 3)))


def third(case, x):
    return case.third(x) if case.third is not None else fd(case.hess, x)


def test_the_hand_derivatives_agree_with_finite_differences():
    """The references themselves: each hand derivative is the finite difference of the one below."""
    x = np.array([0.7, -0.4, 1.1])
    for c in SCALARS:
        fd_close(c.grad(x), fd(c.value, x))
        fd_close(c.hess(x), fd(c.grad, x))
        fd_close(third(c, x), fd(c.hess, x))
    for v in VECTORS:
        fd_close(v.jac(x), fd(v.value, x))
        fd_close(v.second(x), fd(v.jac, x))


@pytest.mark.parametrize("case", SCALARS, ids=[c.name for c in SCALARS])
@settings(max_examples=8, deadline=None)
@given(x=x3, v=vectors3, m=matrices33)
def test_scalar_operators(case, x, v, m):
    value, g, h, t = case.value(x), case.grad(x), case.hess(x), third(case, x)
    # hand-derived references
    close(grad(case.f, 3)(x), g)
    close(gradient(case.f, 3)(x), g)
    close(hessian(case.f, 3)(x), h)
    close(op("hessian_vector_product", case.name)(x)(v), h @ v)
    close(op("matrix_tressian_product", case.name)(x)(m), np.einsum("jk,jkl->l", m, t), rtol=1e-8, atol=1e-8)
    close(op("jacobian", case.name)(x), g)  # a scalar function's Jacobian is its gradient
    close(op("jacobian_vector_product", case.name)(x)(v), g @ v)
    close(op("vector_jacobian_product", case.name)(x)(2.5), 2.5 * g)
    close(op("matrix_hessian_product", case.name)(x)(v), h @ v)
    # with return_aux: the lower derivatives and the value, value last
    gg, val = op("grad", case.name, True)(x)
    close(gg, g), close(val, value)
    hh, gg, val = op("hessian", case.name, True)(x)
    close(hh, h), close(gg, g), close(val, value)
    fn, gg, val = op("hessian_vector_product", case.name, True)(x)
    close(fn(v), h @ v), close(gg, g), close(val, value)
    fn, hh, gg, val = op("matrix_tressian_product", case.name, True)(x)
    close(fn(m), np.einsum("jk,jkl->l", m, t), rtol=1e-8, atol=1e-8), close(hh, h), close(gg, g), close(val, value)
    fn, val = op("jacobian_vector_product", case.name, True)(x)
    close(fn(v), g @ v), close(val, value)
    fn, val = op("vector_jacobian_product", case.name, True)(x)
    close(fn(1.0), g), close(val, value)


@pytest.mark.parametrize("case", SCALARS, ids=[c.name for c in SCALARS])
@settings(max_examples=4, deadline=None)
@given(x=x3, m=matrices33)
def test_scalar_operators_against_finite_differences(case, x, m):
    value = numpify_func(case.f, 3)
    fd_close(op("grad", case.name)(x), fd(value, x))
    fd_close(op("hessian", case.name)(x), fd(op("grad", case.name), x))
    mtp = op("matrix_tressian_product", case.name)(x)(m)
    fd_close(mtp, fd(lambda y: np.sum(m * op("hessian", case.name)(y)), x))


@pytest.mark.parametrize("case", VECTORS, ids=[c.name for c in VECTORS])
@settings(max_examples=8, deadline=None)
@given(x=x3, v=vectors3, m=st.lists(st.floats(-2, 2), min_size=6, max_size=6).map(lambda a: np.reshape(a, (2, 3))))
def test_vector_operators(case, x, v, m):
    value, jac, second = case.value(x), case.jac(x), case.second(x)
    close(op("jacobian", case.name)(x), jac)
    close(op("jacobian_vector_product", case.name)(x)(v), jac @ v)
    close(op("vector_jacobian_product", case.name)(x)(v[:2]), v[:2] @ jac)
    close(op("matrix_hessian_product", case.name)(x)(m), np.einsum("ij,ijl->l", m, second))
    jj, val = op("jacobian", case.name, True)(x)
    close(jj, jac), close(val, value)
    fn, jj, val = op("matrix_hessian_product", case.name, True)(x)
    close(fn(m), np.einsum("ij,ijl->l", m, second)), close(jj, jac), close(val, value)
    fn, val = op("jacobian_vector_product", case.name, True)(x)
    close(fn(v), jac @ v), close(val, value)
    fn, val = op("vector_jacobian_product", case.name, True)(x)
    close(fn(v[:2]), v[:2] @ jac), close(val, value)
    # finite differences of the function itself
    fd_close(op("jacobian", case.name)(x), fd(numpify_func(case.f, 3), x))
    fd_close(op("matrix_hessian_product", case.name)(x)(m), fd(lambda y: np.sum(m * op("jacobian", case.name)(y)), x))
    with pytest.raises(DifferentiationError, match="scalar"):
        grad(case.f, 3)


# -- wrt: other arguments and tuples --------------------------------------------------------------


def scaled(x, s):
    """s * quadratic(x): by hand, d/ds = quadratic(x), d/dx = s * grad, d2/dx ds = grad."""
    return s * SCALARS[0].f(x)


def coupled(x, y):
    return snp.sum(snp.sin(x[:2] * y) * snp.exp(x[2])) + (y @ y) * x[0]


def coupled_numpy(x, y):
    return np.sum(np.sin(x[:2] * y) * np.exp(x[2])) + (y @ y) * x[0]


@settings(max_examples=10, deadline=None)
@given(x=x3, s=st.floats(-2, 2))
def test_wrt_second_argument_and_tuples_by_hand(x, s):
    q, g, h = SCALARS[0].value(x), SCALARS[0].grad(x), SCALARS[0].hess(x)
    close(grad(scaled, 3, None, wrt=1)(x, s), q)
    gx, gs = grad(scaled, 3, None, wrt=(0, 1))(x, s)
    close(gx, s * g), close(gs, q)
    (hxx, hxs), (hsx, hss) = hessian(scaled, 3, None, wrt=(0, 1))(x, s)
    close(hxx, s * h), close(hxs, g), close(hsx, g), close(hss, 0)
    assert np.shape(hxs) == (3,) and np.shape(hss) == ()
    (gx, gs), val = grad(scaled, 3, None, wrt=(0, 1), return_aux=True)(x, s)
    close(val, s * q)
    hvp = hessian_vector_product(scaled, 3, None, wrt=(0, 1))(x, s)
    vx, vs = np.array([1.0, -1.0, 0.5]), 2.0
    rx, rs = hvp((vx, vs))
    close(rx, s * h @ vx + g * vs), close(rs, g @ vx)
    rx2, rs2 = hvp(vx, vs)  # the tuple may also come as separate arguments
    close(rx2, rx), close(rs2, rs)
    gx, gs = value_and_grad(scaled, 3, None, wrt=(0, 1))(x, s)[1]
    close(gs, q)


@settings(max_examples=6, deadline=None)
@given(x=x3, y=st.lists(st.floats(-1, 1), min_size=2, max_size=2).map(np.array))
def test_wrt_tuples_against_finite_differences(x, y):
    joint = lambda z: coupled_numpy(z[:3], z[3:])
    z = np.concatenate([x, y])
    g_ref = fd(joint, z)
    gx, gy = grad(coupled, 3, 2, wrt=(0, 1))(x, y)
    fd_close(np.concatenate([gx, gy]), g_ref)
    fd_close(grad(coupled, 3, 2, wrt=1)(x, y), g_ref[3:])
    blocks = hessian(coupled, 3, 2, wrt=(1, 0))(x, y)
    g_joint = lambda z: np.concatenate(grad(coupled, 3, 2, wrt=(0, 1))(z[:3], z[3:]))
    h_ref = fd(g_joint, z)
    order = [slice(3, 5), slice(0, 3)]
    for i in range(2):
        for j in range(2):
            fd_close(blocks[i][j], h_ref[order[i], order[j]])
    m = ((np.eye(2), np.ones((2, 3))), (np.ones((3, 2)), np.eye(3)))
    mtp = matrix_tressian_product(coupled, 3, 2, wrt=(1, 0))(x, y)(m)
    hm = lambda z: sum(
        np.sum(m[i][j] * hessian(coupled, 3, 2, wrt=(1, 0))(z[:3], z[3:])[i][j]) for i in range(2) for j in range(2)
    )
    t_ref = fd(hm, z)
    fd_close(mtp[0], t_ref[3:]), fd_close(mtp[1], t_ref[:3])
    jv = jacobian_vector_product(coupled, 3, 2, wrt=(0, 1))(x, y)((np.ones(3), np.ones(2)))
    fd_close(jv, g_ref @ np.ones(5))
    vj = vector_jacobian_product(coupled, 3, 2, wrt=1)(x, y)(3.0)
    fd_close(vj, 3.0 * g_ref[3:])


def pair(x, y):
    return snp.array([coupled(x, y), snp.sum(x[:2] * y**2)])


def pair_numpy(x, y):
    return np.array([coupled_numpy(x, y), np.sum(x[:2] * y**2)])


@settings(max_examples=5, deadline=None)
@given(x=x3, y=st.lists(st.floats(-1, 1), min_size=2, max_size=2).map(np.array))
def test_vector_operators_wrt_tuples_against_finite_differences(x, y):
    z = np.concatenate([x, y])
    joint = lambda z: pair_numpy(z[:3], z[3:])
    j_ref = fd(joint, z)
    (jy, jx), value = jacobian(pair, 3, 2, wrt=(1, 0), return_aux=True)(x, y)
    fd_close(jy, j_ref[:, 3:]), fd_close(jx, j_ref[:, :3]), close(value, joint(z))
    fd_close(jacobian(pair, 3, 2, wrt=1)(x, y), j_ref[:, 3:])
    m = (np.ones((2, 3)), np.array([[1.0, -1.0], [0.5, 2.0]]))
    fn, (jx, jy), value = matrix_hessian_product(pair, 3, 2, wrt=(0, 1), return_aux=True)(x, y)
    fd_close(jx, j_ref[:, :3]), fd_close(jy, j_ref[:, 3:]), close(value, joint(z))

    def contracted(z):
        return sum(np.sum(mk * jk) for mk, jk in zip(m, jacobian(pair, 3, 2, wrt=(0, 1))(z[:3], z[3:])))

    t_ref = fd(contracted, z)
    rx, ry = fn(m)
    fd_close(rx, t_ref[:3]), fd_close(ry, t_ref[3:])
    fn, value = vector_jacobian_product(pair, 3, 2, wrt=(0, 1), return_aux=True)(x, y)
    rx, ry = fn(np.array([1.0, 2.0]))
    fd_close(np.concatenate([rx, ry]), np.array([1.0, 2.0]) @ j_ref)
    fn, value = jacobian_vector_product(pair, 3, 2, wrt=1, return_aux=True)(x, y)
    fd_close(fn(np.array([0.5, -1.0])), j_ref[:, 3:] @ np.array([0.5, -1.0])), close(value, joint(z))


def test_wrt_errors():
    with pytest.raises(DifferentiationError, match="out of range"):
        grad(scaled, 3, None, wrt=2)
    with pytest.raises(DifferentiationError, match="at most once"):
        grad(scaled, 3, None, wrt=(0, 0))
    with pytest.raises(ArgumentError, match="wrt"):
        grad(scaled, 3, None, wrt="x")
    with pytest.raises(DifferentiationError, match="one array"):
        jacobian(lambda x: (x, x), 2)
    hvp = hessian_vector_product(scaled, 3, None, wrt=(0, 1))(np.ones(3), 1.0)
    with pytest.raises(ArgumentError, match="tuple of 2"):
        hvp(np.ones(3))


def test_value_and_grad_orders():
    x = np.array([0.5, -1.0, 2.0])
    f = SCALARS[1]
    value, g = value_and_grad(f.f, 3)(x)
    close(value, f.value(x)), close(g, f.grad(x))
    g, value = grad_and_value(f.f, 3)(x)
    close(value, f.value(x)), close(g, f.grad(x))


def test_compiled_graphs_hold_only_what_is_asked_for():
    f = SCALARS[2].f
    assert len(grad(f, 3).graph.outputs) == 3
    assert len(grad(f, 3, return_aux=True).graph.outputs) == 4
    assert len(hessian(f, 3).graph.outputs) == 9
    assert len(hessian(f, 3, return_aux=True).graph.outputs) == 13
    assert len(jacobian(VECTORS[1].f, 3).graph.outputs) == 6
    assert matrix_tressian_product(f, 3).aux is None


def test_operators_take_a_numpified_function_without_shapes():
    f = numpify_func(SCALARS[4].f, 3)
    x = np.array([0.3, 0.2, -0.5])
    close(hessian(f)(x), SCALARS[4].hess(x))
    close(jacobian(grad(f))(x), SCALARS[4].hess(x))  # derivatives of derivatives
    assert hessian(f).backend == "numpy"


# -- the cheap-gradient principle and SymNum's failure cases -----------------------------------------


def chain(n):
    def f(x):
        return snp.sum(snp.sin(x[:-1]) * x[1:] + snp.exp(-(x[:-1] ** 2)))

    return trace(f, [n])


def test_derivative_graphs_grow_linearly():
    sizes = {}
    for n in (250, 1000, 2000):
        traced = chain(n)
        g = derive(traced, "grad").main.graph
        hv = derive(traced, "hvp").main.graph
        sizes[n] = (len(traced.graph), len(g), len(hv))
        assert len(g) <= 4 * len(traced.graph), sizes[n]
        assert len(hv) <= 10 * len(traced.graph), sizes[n]
    for k in (1, 2):
        assert sizes[2000][k] / sizes[1000][k] < 2.2 and sizes[1000][k] / sizes[250][k] < 4.4


def test_logistic_regression_hessian_of_symnums_size():
    """SymNum 0.2.1 raises RecursionError here (10 dimensions, 20 data points)."""
    data = np.random.default_rng(7).normal(size=(20, 10))
    labels = (np.random.default_rng(8).uniform(size=20) > 0.5).astype(float)

    def log_density(w):
        z = data @ w
        return snp.sum(labels * z - snp.log1p(snp.exp(z))) - 0.5 * (w @ w)

    w = np.random.default_rng(9).normal(size=10) * 0.3
    s = sigmoid(data @ w)
    close(hessian(log_density, 10)(w), -(data.T * (s * (1 - s))) @ data - np.eye(10))
    close(grad(log_density, 10)(w), data.T @ (labels - s) - w)


def test_matches_symnum_where_symnum_works():
    symnum = require("symnum")
    import symnum.numpy as snn

    def readme_symnum(x):
        return snn.array([[1.0, -0.5], [-2.0, 3.0]]) @ snn.array([snn.cos(-(x[1] ** 2) + 3 * x[0]), snn.sin(x[0] - 1)])

    def readme(x):
        return snp.array([[1.0, -0.5], [-2.0, 3.0]]) @ snp.array([snp.cos(-(x[1] ** 2) + 3 * x[0]), snp.sin(x[0] - 1)])

    x, m = np.array([0.2, 1.1]), np.array([[1.0, 2.0], [-0.5, 0.25]])
    close(jacobian(readme, 2)(x), symnum.jacobian(readme_symnum, 2)(x), rtol=1e-13)
    close(matrix_hessian_product(readme, 2)(x)(m), symnum.matrix_hessian_product(readme_symnum, 2)(x)(m), rtol=1e-12)


# -- symbolic forms -----------------------------------------------------------------------------------------


def test_symbolic_forms_return_symbolic_arrays_that_agree_with_the_numbers():
    x = named_array("x", 3)
    point = np.array([0.4, -0.3, 0.8])
    subs = dict(zip(x.flat, point))
    f = SCALARS[5].f
    g = symbolic.grad(f)(x)
    h, g2, v = symbolic.hessian(f, return_aux=True)(x)
    assert isinstance(g, SymbolicArray) and g.shape == (3,) and h.shape == (3, 3)
    assert isinstance(v, sp.Expr)
    close([float(e.evalf(subs=subs)) for e in g.flat], SCALARS[5].grad(point), rtol=1e-12)
    close(np.reshape([float(e.evalf(subs=subs)) for e in h.flat], (3, 3)), SCALARS[5].hess(point), rtol=1e-12)
    t = named_array("t", 3)
    jvp = symbolic.jacobian_vector_product(f)(x)(t)
    assert jvp.free_symbols <= set(x.flat) | set(t.flat)
    m = named_array("m", (3, 3))
    mtp = symbolic.matrix_tressian_product(f)(x)(m)
    assert mtp.shape == (3,) and set(m.flat) & set().union(*(e.free_symbols for e in mtp.flat))
    mtp_at = [float(e.evalf(subs={**subs, **dict(zip(m.flat, np.eye(3).flat))})) for e in mtp.flat]
    close(mtp_at, np.einsum("jk,jkl->l", np.eye(3), SCALARS[5].third(point)), rtol=1e-10)


def test_symbolic_forms_at_expressions_and_of_numpified_functions():
    x = named_array("x", 3)
    g = symbolic.grad(SCALARS[1].f)(2 * x)  # at 2x: C * 3 * (2x)**2
    assert [sp.expand(e) for e in g.flat] == [sp.expand(3 * float(c) * 4 * xi**2) for c, xi in zip(C, x.flat)]
    f = numpify_func(SCALARS[1].f, 3)
    assert [sp.expand(e) for e in symbolic.grad(f)(2 * x).flat] == [sp.expand(e) for e in g.flat]
    vjp, value = symbolic.vector_jacobian_product(VECTORS[0].f, return_aux=True)(x)
    assert [complex(e) for e in vjp([1, 0]).flat] == pytest.approx(list(M23[0]))
    assert value.shape == (2,)


def dag_size(expr) -> int:
    """Distinct subexpressions of a SymPy expression (its size as the DAG it is in memory)."""
    seen, stack = set(), [expr]
    while stack:
        e = stack.pop()
        if e not in seen:
            seen.add(e)
            stack.extend(e.args)
    return len(seen)


def test_symbolic_derivatives_stay_linear_in_size():
    """A deep composition: the raised gradient shares its subexpressions as the function does."""
    x = named_array("x", 2)

    def f(x):
        y = x[0]
        for _ in range(12):
            y = snp.sin(y * x[1] + y)
        return y

    g = symbolic.grad(f)(x)
    assert max(dag_size(e) for e in g.flat) <= 4 * dag_size(f(x))


# -- pickling ---------------------------------------------------------------------------------------------------


def test_operators_and_product_functions_pickle_into_spawn_workers():
    case = SCALARS[4]
    x, m = np.array([0.3, -0.2, 0.9]), np.arange(9.0).reshape(3, 3)
    h = op("hessian", case.name)
    mtp = op("matrix_tressian_product", case.name)
    product = mtp(x)
    with multiprocessing.get_context("spawn").Pool(1) as pool:
        got_h = pool.apply(h, (x,))
        got_p = pool.apply(product, (m,))
        got_op = pool.apply(mtp, (x,))
    close(got_h, h(x), rtol=0, atol=0)
    close(got_p, product(m), rtol=0, atol=0)
    close(got_op(m), product(m), rtol=0, atol=0)


def test_product_functions_pickle_into_a_fresh_interpreter():
    jvp = jacobian_vector_product(VECTORS[1].f, 3, return_aux=True)
    x, v = np.array([0.3, -0.2, 0.9]), np.array([1.0, 2.0, 3.0])
    fn, value = jvp(x)
    code = (
        "import pickle, sys, numpy as np\n"
        "op, fn = pickle.loads(sys.stdin.buffer.read())\n"
        "v = np.array([1.0, 2.0, 3.0])\n"
        "f2, value = op(np.array([0.3, -0.2, 0.9]))\n"
        "print(repr(fn(v).tolist()), repr(f2(v).tolist()), repr(value.tolist()))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], input=pickle.dumps((jvp, fn)), capture_output=True, check=True
    ).stdout.decode()
    assert out.strip() == f"{fn(v).tolist()!r} {fn(v).tolist()!r} {value.tolist()!r}"


def test_other_backends_differentiate_too():
    torch = require("torch")
    case = SCALARS[5]
    x = np.array([0.3, -0.2, 0.9])
    h = hessian(case.f, 3, backend="torch")
    close(h(torch.tensor(x)).numpy(), case.hess(x), rtol=1e-10)
    assert hessian(numpify_func(case.f, 3, backend="torch")).backend == "torch"


# -- the example -----------------------------------------------------------------------------------------------


def test_least_squares_example_reaches_the_closed_form_solution():
    require("scipy")
    path = pathlib.Path(__file__).parent.parent.parent / "examples" / "least_squares.py"
    spec = importlib.util.spec_from_file_location("least_squares_example", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    result, closed_form = module.main(seed=3)
    assert result.success
    np.testing.assert_allclose(result.x, closed_form, rtol=1e-8, atol=1e-10)


# -- complex derivatives of real functions ---------------------------------------------------------------


@pytest.mark.parametrize("base", [sp.Rational(-7, 3), sp.Float(-2.5), -sp.sqrt(2)])  # the last: a subgraph
@pytest.mark.parametrize("backend", ["numpy", "torch", "jax"])
def test_negative_base_powers_have_complex_derivatives_never_truncated(base, backend):
    """``c**x`` with ``c < 0`` is real at integer ``x``, but its derivative ``log(c) * c**x`` is
    complex: it comes out complex (SymPy's value), for real and complex inputs alike, and is never
    cast to float (no ComplexWarning)."""
    if backend != "numpy":
        require(backend)
    t = sp.Symbol("t")
    f = base**t
    g = grad(lambda v: base ** v[0], 1, return_aux=True, backend=backend)
    h = hessian(lambda v: base ** v[0], 1, backend=backend)
    tol = 1e-5 if backend == "jax" else 1e-12  # JAX computes in single precision unless x64 is on
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # NaN at a real non-integer power
        warnings.simplefilter("error", np.exceptions.ComplexWarning)
        for at in (2.0, 2.0 + 0j, 1.5 + 0.5j, -3.0):
            d, value = (np.asarray(r) for r in g(np.array([at])))
            hess = np.asarray(h(np.array([at])))
            point = {t: at}
            assert complex(value) == pytest.approx(reference(f, point), rel=tol)
            assert d.dtype.kind == "c" and hess.dtype.kind == "c"
            assert complex(d[0]) == pytest.approx(reference(sp.diff(f, t), point), rel=tol)
            assert complex(hess[0, 0]) == pytest.approx(reference(sp.diff(f, t, 2), point), rel=tol)
        # a real non-integer power of a negative number is NaN for a real input (NumPy's real
        # semantics), and so is its derivative: never a truncated real number
        d, value = (np.asarray(r) for r in g(np.array([2.5])))
        assert np.isnan(value) and not np.isfinite(d).any()


def test_complex_derivatives_refused_where_the_backend_is_real():
    """The C backend computes in real arithmetic: a complex derivative is refused, with the reason."""
    with pytest.raises(SympileError) as info:
        grad(lambda v: sp.Rational(-7, 3) ** v[0], 1, backend="c")
    assert "complex" in str(info.value)


def test_product_operators_of_a_function_whose_argument_is_named_v():
    """The product's vector argument (``v``) is renamed where the user's function already has an
    argument of that name (the operator failed to build)."""
    rng = np.random.default_rng(11)
    point, direction = rng.normal(size=3), rng.normal(size=3)
    jvp = jacobian_vector_product(lambda v: snp.array([snp.sin(v[0]) * v[1], v[2] ** 2 + v[0]]), 3)
    J = np.array([[np.cos(point[0]) * point[1], np.sin(point[0]), 0], [1, 0, 2 * point[2]]])
    np.testing.assert_allclose(jvp(point)(direction), J @ direction, rtol=1e-14)
