"""Graph AD where the fuzzer found it wanting (issue 14, docs/reliability.md items 4, 6 and 7).

- Derivatives of many outputs built in one `Builder` cost what they cost one by one: a sweep walks
  only the cone of the outputs it differentiates (counted in nodes built and partials taken).
- ``x**e`` where it is 0: the exponent's partial ``x**e log x`` is 0, at every order, on every
  backend; elsewhere the power rule is unchanged.
- Rules that cancelled where a function saturates (``1 - tanh**2``, ``expm1 + 1``, sinc's near 0)
  keep their relative accuracy: checked against SymPy at 30 digits (mpmath) at seeded points.
"""

import functools
import random

import numpy as np
import pytest
import sympy as sp
from helpers import reference, require

from sympile import hessian, lambdify, lower
from sympile._core.graph import Builder
from sympile._functions.lambdify import LambdifiedFunction
from sympile._transforms import ad
from sympile._transforms.ad import hessian_graph, hessian_nodes, leaf_nodes, reverse

x, y, z = sp.symbols("x y z")
X = [x, y, z]

# -- derivatives of many outputs in one builder ---------------------------------------------------------

_UNARY = [sp.sin, sp.tanh, sp.atan, sp.exp, lambda u: sp.log(1 + u**2)]
_UNARY.append(lambda u: sp.Piecewise((u**2, u > 0), (u, True)))
_BINARY = [lambda u, v: u + v, lambda u, v: u * v, lambda u, v: u / (1 + v**2), sp.Min]


def _expression(rng: random.Random, depth: int = 4):
    if depth == 0:
        return rng.choice(X)
    if rng.random() < 0.4:
        return rng.choice(_UNARY)(_expression(rng, depth - 1))
    return rng.choice(_BINARY)(_expression(rng, depth - 1), _expression(rng, depth - 1))


def _gradients_and_hessians(graph, outputs) -> tuple[Builder, list[int]]:
    """The fuzzer's graph: each output's gradient and Hessian, in one builder."""
    b = Builder(graph)
    xs = leaf_nodes(b, "input", [0, 1, 2])
    one = b.const(1)
    outs = []
    for o in outputs:
        outs += reverse(b, [o], [one], xs)
        H, _ = hessian_nodes(b, o, xs)
        outs += [h for row in H for h in row]
    return b, outs


def test_derivatives_of_many_outputs_in_one_builder_cost_the_sum_of_single_builds(monkeypatch):
    rng = random.Random(14)
    graph = lower([_expression(rng) for _ in range(6)], X)
    calls = [0]
    partials = ad._Masks.partials

    def counted(self, i):
        calls[0] += 1
        return partials(self, i)

    monkeypatch.setattr(ad._Masks, "partials", counted)
    built_alone, calls_alone, alone = 0, 0, []
    for o in graph.outputs:
        calls[0] = 0
        b, outs = _gradients_and_hessians(graph, [o])
        built_alone += len(b.nodes) - len(graph.nodes)
        calls_alone += calls[0]
        alone.append(b.graph(outs, graph.inputs).pruned())
    calls[0] = 0
    b, outs = _gradients_and_hessians(graph, graph.outputs)
    # Hash-consing may share nodes between the outputs, never add any: each sweep walks the graph
    # of its own outputs, not the derivatives built before it (those grew the builder without bound).
    assert len(b.nodes) - len(graph.nodes) <= built_alone
    assert calls[0] <= calls_alone
    together = b.graph(outs, graph.inputs).pruned()
    points = np.random.default_rng(14).normal(size=(3, 5))
    args = ("list", [("leaf", k) for k in range(3)])

    def run(g):
        return np.array(
            LambdifiedFunction(g, "numpy", {}, args, ("list", [("leaf", k) for k in range(len(g.outputs))]))(*points)
        )

    np.testing.assert_allclose(run(together), np.concatenate([run(g) for g in alone]), rtol=1e-13, atol=1e-13)


# -- x**e where it is 0 ---------------------------------------------------------------------------------


def _derivatives_of(f, n, point, backend="numpy"):
    """The gradient and Hessian of ``f`` (of a vector of ``n``), as NumPy arrays."""
    H, g, _ = hessian(f, n, return_aux=True, backend=backend)(np.array(point, dtype=float))
    return np.asarray(g, dtype=float), np.asarray(H, dtype=float)


_BACKENDS = ["numpy", "c", "torch", "jax"]


@functools.cache
def _exponent_of_a_zero_power():
    """A seeded ``y > 2`` at which every first and second partial of ``x**y`` at ``x = 0`` is 0: the
    limits as ``x -> 0+`` (SymPy)."""
    y0 = sp.Rational(5, 2) + sp.Rational(int(np.random.default_rng(6).integers(64)), 64)
    ref = [sp.limit(sp.diff(x**y, *d).subs(y, y0), x, 0, "+") for d in ([x], [y], [x, x], [x, y], [y, y])]
    assert all(r == 0 for r in ref)
    return y0


@pytest.mark.parametrize("backend", _BACKENDS)
def test_zero_to_a_positive_power_has_zero_derivatives_on_every_backend(backend):
    if backend in ("torch", "jax"):
        require(backend)
    # The fuzzer's reproducer, 0**f(z) with f > 0: it is 0 near z, so all its derivatives are 0.
    f0 = sp.Pow(0, sp.atan2(2 - sp.erfc(3), sp.atan(sp.tanh(z) * sp.Mod(-3, z**2 + 1)) ** 2 + 1))
    z0 = -2.576404557544887
    value = lambdify([z], f0)
    h = 1e-3
    assert value(z0 - h) == value(z0) == value(z0 + h) == 0  # the finite differences of the value
    y0 = _exponent_of_a_zero_power()
    expr = f0 + x**y
    g, H = _derivatives_of(lambda v: expr.subs({z: v[0], x: v[1], y: v[2]}), 3, [z0, 0.0, float(y0)], backend)
    assert g.tolist() == [0.0] * 3 and H.tolist() == [[0.0] * 3] * 3


@pytest.mark.parametrize("backend", _BACKENDS)
def test_the_power_rule_at_a_zero_base_with_exponent_zero_or_one_is_finite(backend):
    """``x**e`` is 1 along ``e = 0`` and ``x`` along ``e = 1``: d/dx at (0, 0) and d2/dx2 at (0, 1)
    are 0, not ``0 * 0**-1`` = NaN; away from x = 0 the mixed d2/dx de at e = 0 stays 1/x."""
    if backend in ("torch", "jax"):
        require(backend)
    f = lambda v: v[0] ** v[1]  # noqa: E731
    with np.errstate(all="ignore"):
        g, _ = _derivatives_of(f, 2, [0.0, 0.0], backend)
        assert g[0] == 0.0
        _, H = _derivatives_of(f, 2, [0.0, 1.0], backend)
        assert H[0, 0] == 0.0 and H[0, 1] == -np.inf  # d/de of e x**(e-1) is 1 + log 0 there
        x0 = float(np.random.default_rng(12).uniform(0.2, 3.0))
        _, H = _derivatives_of(f, 2, [x0, 0.0], backend)
        assert H[0, 1] == pytest.approx(1 / x0, rel=1e-6 if backend == "jax" else 1e-12)  # JAX: float32


def test_the_power_rule_is_unchanged_where_the_power_is_not_zero():
    rng = np.random.default_rng(66)
    H = hessian_graph(lower([x**y], [x, y]))
    outs = ("list", [("leaf", k) for k in range(4)])
    f = LambdifiedFunction(H, "numpy", {}, ("list", [("leaf", 0), ("leaf", 1)]), outs)
    second = [sp.diff(x**y, a, b) for a in (x, y) for b in (x, y)]
    for point in ([rng.uniform(0.1, 3), rng.uniform(-3, 3)], [complex(-rng.uniform(0.5, 3)), rng.uniform(0.1, 0.9)]):
        got = np.array(f(*point), dtype=complex)
        ref = [reference(d, {x: point[0], y: point[1]}) for d in second]
        np.testing.assert_allclose(got, ref, rtol=1e-12)
    # 0**e for e <= 0 is infinite or 1: d/de is as infinite as the math says, not hidden as 0.
    grad = hessian(lambda v: v[0] ** v[1], 2, return_aux=True)
    with np.errstate(all="ignore"):
        for e in (-rng.uniform(0.1, 2), 0.0):
            _, g, _ = grad(np.array([0.0, e]))
            assert not np.isfinite(g[1])


# -- relative accuracy where a function saturates -----------------------------------------------------------

_rng = np.random.default_rng(7)
#: (function of x, points where its derivative rule used to cancel)
SATURATING = [
    (sp.tanh(x), [s * _rng.uniform(15, 300) for s in (1, -1)]),
    (sp.coth(x), [s * _rng.uniform(15, 300) for s in (1, -1)]),
    (sp.E * sp.coth(sp.cot(sp.sinh(x))), [-0.08864486756522805, -_rng.uniform(0.085, 0.09)]),
    (sp.tanh(x**2) * x, [_rng.uniform(4, 15)]),
    (sp.exp(x) - 1, [-_rng.uniform(20, 600)]),  # lowered to expm1
    (sp.sinc(x), [s * 10.0 ** _rng.uniform(-12, -1) for s in (1, -1)] + [0.0, _rng.uniform(0.45, 0.55)]),
]


@pytest.mark.parametrize("expr, points", SATURATING, ids=[str(e) for e, _ in SATURATING])
def test_derivatives_keep_their_relative_accuracy_where_the_function_saturates(expr, points):
    f = hessian(lambda v: expr.subs(x, v[0]), 1, return_aux=True)
    for p in points:
        H, g, _ = f(np.array([p]))
        for got, order in ((g[0], 1), (H[0, 0], 2)):
            d = sp.diff(expr, x, order)
            ref = reference(d, {x: p}) if p != 0 else complex(sp.limit(d, x, 0))
            assert ref.imag == 0
            assert got == pytest.approx(ref.real, rel=1e-13, abs=1e-300), (p, order)


# -- literal conditions in the masks ----------------------------------------------------------------


def test_logic_with_a_literal_operand_folds_in_the_builder():
    b = Builder()
    c = b.op("gt", b.node("input", (), 0), b.const(0))
    t, f = b.const(True), b.const(False)
    assert b.op("and", c, t) == b.op("and", t, c) == b.op("or", c, f) == b.op("and", c, c) == c
    assert b.op("and", c, f) == f and b.op("or", t, c) == t
    assert b.op("not", t) == f and b.op("not", f) == t


def test_masked_derivatives_over_a_literal_condition_compile_on_torch():
    # The fuzzer's reproducer: the guard of loggamma's mask (of a constant) met the branch's
    # condition as `logical_and(c, True)`, which PyTorch refused (it wants tensors).
    require("torch")
    c = sp.Rational(1, 3) - sp.atan(2 / (1 + sp.exp(2)))
    inner = sp.erfinv(sp.tanh(sp.Piecewise((sp.sqrt(x), x > 0), (-1.0, True))) / 2)
    expr = inner / (1 + sp.exp(6) * sp.gamma(sp.Rational(1, 2) - sp.loggamma(sp.tanh(c) ** 2 + 1)) ** 2)
    point = [float(np.random.default_rng(3).uniform(0.2, 1.5)), 0.5, 0.5]
    g, H = _derivatives_of(lambda v: expr.subs(x, v[0]), 3, point, "torch")
    want = [reference(sp.diff(expr, x), {x: point[0]}).real, reference(sp.diff(expr, x, 2), {x: point[0]}).real]
    np.testing.assert_allclose([g[0], H[0, 0]], want, rtol=1e-10)
    g, H = _derivatives_of(lambda v: expr.subs(x, v[0]), 3, [-1.0, 0.5, 0.5], "torch")  # the untaken branch
    assert g.tolist() == [0.0] * 3 and H.tolist() == [[0.0] * 3] * 3


def test_a_constant_in_a_branch_is_not_recomputed_in_real_arithmetic_by_second_derivatives():
    """Graph AD masks the arguments of nodes in a branch; a node made only of constants needs no
    mask, and masked it was computed at run time (LambertW(-3.5): NaN in real arithmetic) where its
    folded value is SymPy's complex one (the fuzzer's d2/dz2 NaN)."""
    c = sp.Rational(100, 81) * sp.exp(2)
    u = sp.loggamma(1 + c * sp.atan(2 / sp.Max(sp.Float(1e-8), z)) ** -6)
    k = -sp.Float(1.5625e16) * sp.log(2) + sp.acos(sp.tanh(sp.LambertW(sp.Rational(-7, 2))) / 2)
    f = sp.atan2(k, u)
    z0 = float(np.random.default_rng(21).uniform(0.5, 2.0))
    H = hessian_graph(lower([f], [z]))  # the derivative alone: atan2 of the complex constant is refused
    got = LambdifiedFunction(H, "numpy", {}, ("list", [("leaf", 0)]), ("leaf", 0))(z0)
    ref = complex(sp.diff(f, z, 2).subs(z, sp.Float(z0, 40)).evalf(30))
    assert np.isfinite(got) and abs(got - ref) <= 1e-9 * abs(ref)


@pytest.mark.parametrize("backend", _BACKENDS)
def test_an_untaken_branch_shared_by_two_conditions_with_a_common_part_stays_masked(backend):
    """``sqrt(x)`` under ``(x > 0) & (a y > 0)`` and under ``(x > 0) & (b y > 0)`` (``a`` and ``b``
    equal constants written two ways, so two condition nodes until folding): its guard is the
    conjunct both share, ``x > 0``, not the empty intersection of the two conditions; at x < 0 its
    derivatives are 0, not NaN (the fuzzer's seed 1)."""
    if backend in ("torch", "jax"):
        require(backend)
    a, b = (1 + sp.exp(2)) ** -3 + 1, 1 / (1 + 3 * sp.exp(2) + 3 * sp.exp(4) + sp.exp(6)) + 1
    p = sp.Piecewise((sp.sqrt(x), (x > 0) & (a * y > 0)), (-a * y, True))
    q = sp.Piecewise((sp.sqrt(x), (x > 0) & (b * y > 0)), (-b * y, True))
    f = sp.exp(-sp.im(p)) * sp.cos(sp.re(q)) * sp.re(p)
    rng = np.random.default_rng(31)
    x0, y0 = -rng.uniform(0.5, 3), rng.uniform(0.5, 3)
    # the graph as lowered, before folding makes the two conditions one (the fuzzer's graphs)
    H = hessian_graph(lower([f], [x, y]))
    outs = ("list", [("leaf", k) for k in range(4)])
    got = LambdifiedFunction(H, backend, {}, ("list", [("leaf", 0), ("leaf", 1)]), outs)(x0, y0)
    got = np.array([float(v) for v in got])
    # at x0 < 0 both branches are -c y (c = a = b): f = -c y cos(c y), x-free
    h = sp.diff(-a * y * sp.cos(a * y), y, 2).subs(y, y0)
    np.testing.assert_allclose(
        got, [0.0, 0.0, 0.0, float(h)], rtol=1e-5 if backend in ("jax", "torch") else 1e-9, atol=0
    )
