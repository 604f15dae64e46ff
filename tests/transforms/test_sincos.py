"""Shared sine-cosine pairs (sympile._transforms.sincos): ``sin(u)`` and ``cos(u)`` read from one
``sincos(u)`` node only where both occur; the JAX backend computes the pair with one call, and
its values, JAX gradients and sympile's own derivative graphs match SymPy."""

import numpy as np
import pytest
import sympy as sp
from helpers import require

from sympile import lambdify, lower
from sympile._transforms.ad import grad_graph
from sympile._transforms.sincos import share_sincos

x, y, z = sp.symbols("x y z")


def _ops(graph, op):
    return [n for n in graph.pruned().nodes if n.op == op]


def test_a_pair_of_one_argument_reads_one_sincos():
    g = lower([sp.sin(x + y) * sp.exp(sp.cos(x + y)) + sp.sin(z) + sp.cos(2 * z + 1)], [x, y, z])
    shared = share_sincos(g)
    (pair,) = _ops(shared, "sincos")
    assert shared.nodes[pair.args[0]].op == "add"  # x + y
    picks = _ops(shared, "pick")
    assert sorted(p.attr for p in picks) == [0, 1]
    assert len({p.args for p in picks}) == 1  # both read the one pair
    assert len(_ops(shared, "sin")) == 1 and len(_ops(shared, "cos")) == 1  # sin(z), cos(2z + 1) alone


def test_a_graph_without_pairs_is_returned_as_it_is():
    g = lower([sp.sin(x) + sp.cos(y), sp.tan(x)], [x, y])
    assert share_sincos(g) is g


def test_jax_values_and_gradients_through_shared_pairs():
    jax = require("jax")
    jnp = jax.numpy
    from sympile._backends.jax_trig import MIN_ELEMENTS

    # pairs of the same argument at several depths, and a lone sine
    exprs = [sp.sin(x * y) * sp.cos(x * y) + sp.cos(x) ** 2 - sp.sin(x) * y, sp.sin(y) + sp.cos(sp.sin(x) * sp.cos(x))]
    f = lambdify([x, y], exprs, backend="jax")
    assert f.source.count("_sincos(") == 2  # of x and of x*y; cos(sin(x)cos(x)) and sin(y) alone
    rng = np.random.default_rng(23)
    with jax.enable_x64(True):
        for n in (5, MIN_ELEMENTS):  # jnp's pair and the vectorised one
            a, b = rng.uniform(-4, 4, (2, n))
            got = [np.asarray(v) for v in f(jnp.asarray(a), jnp.asarray(b))]
            for e, v in zip(exprs, got):
                want = sp.lambdify([x, y], e, "numpy")(a, b)
                np.testing.assert_allclose(v, want, rtol=1e-13, atol=1e-14)
        pt = [float(v) for v in rng.uniform(-2, 2, 2)]
        grads = jax.grad(lambda u, v: f(u, v)[0], argnums=(0, 1))(*[jnp.float64(v) for v in pt])
    for s, g in zip((x, y), grads):
        want = float(sp.diff(exprs[0], s).evalf(30, subs={x: pt[0], y: pt[1]}))
        assert float(g) == pytest.approx(want, rel=1e-12, abs=1e-14)


def test_derivative_graphs_on_jax_share_their_pairs():
    """sympile's own gradient of ``sin(x) e**y`` needs ``sin(x)`` and ``cos(x)``: one pair; that of
    ``cos(xy)`` needs ``sin(xy)`` alone."""
    require("jax")
    expr = sp.sin(x) * sp.exp(y) + sp.cos(x * y)
    shared = share_sincos(grad_graph(lower([expr], [x, y]), [0, 1]))
    (pair,) = _ops(shared, "sincos")
    assert shared.nodes[pair.args[0]].op == "input" and shared.nodes[pair.args[0]].attr == 0  # x
    assert len(_ops(shared, "sin")) == 1 and not _ops(shared, "cos")
    rng = np.random.default_rng(29)
    f = lambdify([x, y], [sp.diff(expr, x), sp.diff(expr, y)], backend="jax")
    for _ in range(5):
        pt = [float(v) for v in rng.uniform(-3, 3, 2)]
        import jax

        with jax.enable_x64(True):
            got = f(*pt)
        for d, v in zip((sp.diff(expr, x), sp.diff(expr, y)), got):
            assert float(v) == pytest.approx(float(d.evalf(30, subs={x: pt[0], y: pt[1]})), rel=1e-13, abs=1e-14)
