"""Derivatives of every order never go through an untaken branch: graph AD takes the partials of a
node in a branch at masked inputs (`sympile._transforms.ad._Masks`), so a branch that is NaN or
infinite where it is not taken (``sqrt`` or ``log`` of a negative number, ``1/0``) leaves the
gradient, the Hessian and the third derivative exactly those of the taken branch, on every backend.

References: SymPy's derivatives of the taken branch, evaluated at 30 digits."""

import numpy as np
import pytest
import sympy as sp
from helpers import reference, require

from sympile import grad, hessian, jacobian, lower
from sympile._core.graph import Graph
from sympile._functions.lambdify import LambdifiedFunction
from sympile._transforms.ad import grad_graph, hessian_graph, jacobian_graph

x = sp.Symbol("x")
R = sp.Rational

#: (function of x, point where the first piece is not taken, the piece that is taken there)
BRANCHES = [
    (sp.Piecewise((-sp.sqrt(x), x > 0), (x, True)), -1.0, x),
    (sp.Piecewise((1 - sp.sqrt(x), x > 0), (0, True)), -1.0, sp.Integer(0)),
    (sp.Piecewise((x * sp.log(x), x > 0), (x**3, True)), -2.0, x**3),
    (sp.Piecewise((sp.sqrt(1 - sp.Abs(x)), sp.Abs(x) < 1), (x**2 * sp.sin(x), True)), 2.5, x**2 * sp.sin(x)),
    (sp.Piecewise((sp.log(sp.Min(x, 3)) ** 2, x > 0), (sp.exp(x / 2), True)), -1.5, sp.exp(x / 2)),
    (sp.Piecewise((sp.acos(x) ** 2, x < 1), (x * sp.cos(x), True)), 3.0, x * sp.cos(x)),
    (sp.Piecewise((sp.sqrt(sp.sqrt(x) + sp.log(x)), x > 1), (sp.cos(x), True)), -1.0, sp.cos(x)),
    (sp.Piecewise((sp.sqrt(x) + x * sp.sqrt(x), x > 0), (sp.Max(x, -3) ** 2, True)), -2.0, x**2),
    (sp.Piecewise((1 / x**2, x > 0), (x**4 / 4, True)), 0.0, x**4 / 4),
    (sp.Piecewise((sp.sqrt(x - 1), x > 1), (sp.sqrt(-x - 1), x < -1), (x**3 / 3, True)), 0.5, x**3 / 3),
    (sp.Piecewise((sp.sqrt(x - 1), x > 1), (sp.sqrt(-x - 1), x < -1), (x**3 / 3, True)), -5.0, sp.sqrt(-x - 1)),
    (sp.Piecewise((x**2, x < 0), (sp.log(x - 2) * x, x > 2), (sp.Abs(x - 1), True)), -3.0, x**2),
    (sp.Piecewise((sp.acosh(x) * x, x >= 1), (sp.exp(-x) * x, True)), 0.25, sp.exp(-x) * x),
    (sp.Piecewise((R(-7, 3) * sp.sqrt(x) ** 3, x > 0), (x, True)), -4.0, x),
]


def _derivatives(taken, at: float) -> list[float]:
    """The first three derivatives of ``taken`` at ``at``, from SymPy at 30 digits."""
    out = []
    for k in (1, 2, 3):
        v = reference(sp.diff(taken, x, k), {x: at})
        assert v is not None and v.imag == 0
        out.append(v.real)
    return out


BACKENDS = ["numpy", "torch", "jax", "c"]
_MODULES = {"torch": "torch", "jax": "jax"}


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("expr, at, taken", BRANCHES)
def test_derivatives_of_every_order_follow_the_taken_branch(backend, expr, at, taken):
    if backend in _MODULES:
        require(_MODULES[backend])

    def f(v):
        return expr.subs(x, v[0])

    d1, d2, d3 = _derivatives(taken, at)
    point = np.array([at])
    g = grad(f, 1, backend=backend)
    h = hessian(f, 1, backend=backend)
    t = jacobian(h, backend=backend)  # the third derivative: the Jacobian of the Hessian
    with np.errstate(all="ignore"):  # the untaken branch's forward value is NaN, and not selected
        got = [np.asarray(g(point)), np.asarray(h(point)), np.asarray(t(point))]
    assert got[0].shape == (1,) and got[1].shape == (1, 1) and got[2].shape == (1, 1, 1)
    tol = 1e4 * float(np.finfo(got[0].dtype).eps)  # JAX computes in float32 unless x64 is enabled
    for value, ref in zip(got, (d1, d2, d3)):
        assert np.isfinite(value).all(), (value, ref)
        assert float(value.ravel()[0]) == pytest.approx(ref, rel=tol, abs=tol)


def test_grad_of_grad_follows_the_taken_branch():
    """The third derivative again, as the Jacobian of the gradient's Jacobian."""
    expr, at, taken = BRANCHES[3]
    d1, d2, d3 = _derivatives(taken, at)
    g = grad(lambda v: expr.subs(x, v[0]), 1)
    gg = jacobian(g)
    ggg = jacobian(gg)
    with np.errstate(all="ignore"):
        assert gg(np.array([at]))[0, 0] == pytest.approx(d2, rel=1e-12)
        assert ggg(np.array([at]))[0, 0, 0] == pytest.approx(d3, rel=1e-12)


def test_mixed_partials_through_an_untaken_branch():
    y = sp.Symbol("y")
    expr = sp.Piecewise((sp.sqrt(x) * sp.log(y), x > 0), (x * y**2, True))
    taken = x * y**2
    p = {x: -1.5, y: 0.5}  # log(y) is finite, sqrt(x) is not
    f = lambda v: expr.subs({x: v[0], y: v[1]})  # noqa: E731
    H = hessian(f, 2)(np.array([p[x], p[y]]))
    ref = np.array([[reference(sp.diff(taken, a, b), p).real for b in (x, y)] for a in (x, y)])
    np.testing.assert_allclose(H, ref, rtol=1e-12, atol=1e-12)


def test_the_masks_are_only_in_the_derivative_graph():
    """The forward value is computed as written (no masks) and the branch-free graphs are unchanged."""
    expr = sp.Piecewise((-sp.sqrt(x), x > 0), (x, True))
    g = lower([expr], [x])
    gg = grad_graph(g)
    value_nodes = {n for n in gg.nodes if n.op == "sqrt" and gg.nodes[n.args[0]].op == "input"}
    assert not value_nodes  # only the masked sqrt is left in the gradient
    plain = lower([sp.sin(x) * sp.sqrt(x) + sp.log(x)], [x])
    assert not any(n.op == "where" for n in hessian_graph(plain).nodes)


def test_masked_derivative_graphs_stay_small():
    """A mask costs a select per masked argument, and masks on masks collapse (third order)."""
    expr = sp.Piecewise((sp.sqrt(x) + sp.log(x) * x, x > 0), (x**2, True))
    g = lower([expr], [x])
    h = hessian_graph(g)
    t = jacobian_graph(h)
    wheres = [n for n in t.nodes if n.op == "where"]
    assert not any(t.nodes[n.args[1]].op == "where" and t.nodes[n.args[1]].args[0] == n.args[0] for n in wheres)
    assert len(t) < 6 * len(g)


# -- random Piecewise expressions -----------------------------------------------------------------------

#: Pieces that are NaN or infinite somewhere on the real line, and finite pieces to combine them with.
_RESTRICTED = [
    sp.sqrt,
    sp.log,
    lambda u: 1 / u,
    lambda u: sp.acos(u / 2),
    lambda u: sp.asin(u / 3),
    sp.acosh,
    lambda u: u ** R(3, 2),
    lambda u: sp.atanh(u / 2),
]
_SMOOTH = [
    sp.sin,
    sp.exp,
    sp.atan,
    lambda u: u**2,
    lambda u: u**3 / 6,
    lambda u: sp.Abs(u - R(1, 7)),
    lambda u: sp.Max(u, R(-9, 2)),
    lambda u: sp.Min(u, 5),
]


def _random_piece(rng, restricted: bool):
    """A random composition of two or three pieces; with ``restricted``, at least one of them is
    domain-restricted."""
    u = x + int(rng.integers(-2, 3))
    k = int(rng.integers(2, 4))
    hit = int(rng.integers(k)) if restricted else -1
    for j in range(k):
        if j == hit:
            u = _RESTRICTED[int(rng.integers(len(_RESTRICTED)))](u)
        else:
            u = _SMOOTH[int(rng.integers(len(_SMOOTH)))](u)
        if rng.random() < 0.4:
            u = u * (x + R(int(rng.integers(1, 5)), 3))
    return u


#: Terms NaN for a negative argument: the untaken piece gets one, at a point where it is NaN.
_EDGE = [sp.sqrt, sp.log, lambda s: s ** R(3, 2), lambda s: sp.acosh(1 + s), lambda s: sp.sqrt(s) * sp.log(s)]


def _random_piecewise(rng):
    """``Piecewise((A, x > a), (B, True))`` at a point below ``a`` (or the mirror image, ``x < a``
    at a point above), where ``A`` is NaN, and the piece ``B`` taken there."""
    a = int(rng.integers(-1, 2))
    other = _random_piece(rng, bool(rng.random() < 0.3))
    gap = float(rng.uniform(0.25, 3.0))
    edge = _EDGE[int(rng.integers(len(_EDGE)))]
    if rng.random() < 0.5:
        first = _random_piece(rng, True) * edge(x - a)
        return sp.Piecewise((first, x > a), (other, True)), a - gap, other
    first = _random_piece(rng, True) + edge(a - x)
    return sp.Piecewise((first, x < a), (other, True)), a + gap, other


@pytest.mark.parametrize("seed", range(6))
def test_random_piecewise_derivatives_follow_the_taken_branch(seed):
    rng = np.random.default_rng(seed)
    checked = 0
    for _ in range(10):
        expr, at, taken = _random_piecewise(rng)
        refs = [reference(sp.diff(taken, x, k), {x: at}) for k in (0, 1, 2)]
        if any(r is None or r.imag != 0 or not np.isfinite(r.real) for r in refs):
            continue  # the taken piece is outside its own domain there
        g = lower([expr], [x])
        with np.errstate(all="ignore"):
            got = [_run(g, at), _run(grad_graph(g), at), _run(hessian_graph(g), at)]
        for value, ref in zip(got, refs):
            assert value == pytest.approx(ref.real, rel=1e-9, abs=1e-9), (expr, at)
        checked += 1
    assert checked >= 5


def _run(graph: Graph, at: float) -> float:
    """The graph's single output at ``x = at``, by the NumPy backend."""
    f = LambdifiedFunction(graph, "numpy", {}, ("list", [("leaf", 0)]), ("list", [("leaf", 0)]))
    return float(f(at)[0])
