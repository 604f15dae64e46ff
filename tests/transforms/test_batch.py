"""`batch_siblings`: isomorphic sibling terms become one vector op, and the function is the same.

Batched graphs are evaluated over NumPy with the array-generic spellings (`BATCH_FORMS`) and
compared with the unbatched graph, on random families of isomorphic terms.
"""

import numpy as np
import pytest
import sympy as sp
from hypothesis import given, settings
from hypothesis import strategies as st

from sympile import lower
from sympile._backends.numpy import NUMPY, _namespace
from sympile._core.graph import Builder, Graph
from sympile._emit.emit import Spelling, compile_source, emit
from sympile._transforms.batch import batch_siblings, structure_keys

x, y = sp.symbols("x y")


def _index(attr):
    return "[" + ", ".join(str(a) for a in attr) + "]"


def evaluate(graph: Graph, *inputs):
    """The graph's outputs over NumPy, parameters and buffers from the graph's own values."""
    table = {
        **NUMPY,
        "param": "p[{a}]",
        "buffer": "b[{a}]",
        "vparam": lambda args, attr: f"p[{_index(attr)}]",
        "vbuffer": lambda args, attr: f"b[{_index(attr)}]",
    }
    names = [f"a{k}" for k in range(len(graph.inputs))]
    emitted = emit(graph, Spelling("numpy", "np", table, _namespace()), signature=["p", "b", *names])
    fn = compile_source(emitted, "test")
    with np.errstate(all="ignore"):
        out = fn(np.array(graph.params, dtype=float), np.array(graph.buffers, dtype=float), *inputs)
    return out if isinstance(out, tuple) else (out,)


def ops(graph: Graph) -> int:
    return sum(1 for n in graph.nodes if n.args)


def assert_same_function(graph, batched, *inputs):
    for a, b in zip(evaluate(graph, *inputs), evaluate(batched, *inputs)):
        a, b = np.broadcast_arrays(a, b)
        np.testing.assert_allclose(b, a, rtol=1e-12, atol=1e-12, equal_nan=True)


def sine_sum(n, seed=0):
    a, b, c = np.random.default_rng(seed).uniform(0.5, 2, (3, n))
    return sp.Add(*[sp.Float(a[i]) * sp.sin(sp.Float(b[i]) * x + sp.Float(c[i])) for i in range(n)])


def test_sine_sum_is_five_ops():
    g = lower([sine_sum(50)], [x], floats="params")
    bg = batch_siblings(g)
    assert ops(g) == 249 and ops(bg) == 5  # lift, mul, add, sin, and one @
    assert [n.op for n in bg.nodes if n.args] == ["lift", "mul", "add", "sin", "vdot"]
    vectors = sorted(n.attr for n in bg.nodes if n.op == "vparam")
    assert vectors == [tuple(range(k, 150, 3)) for k in range(3)]
    assert_same_function(g, bg, np.linspace(-3, 3, 41))


def test_nothing_to_batch_is_the_same_graph():
    g = lower([sp.sin(x) + 2.5 * sp.cos(y) + x * y], [x, y], floats="params")
    assert batch_siblings(g) is g
    identical = lower([sp.sin(x) + sp.sin(x) + sp.sin(x)], [x])  # one node, three times: 3*sin(x)
    assert batch_siblings(identical) is identical


def test_leftover_terms_signs_and_constants():
    expr = sum((k + 2) * sp.sin((k + 3) * x + k + 1) for k in range(6)) - sum(
        (k + 2) * sp.cos((k + 2) * y) for k in range(5)
    )
    expr += sp.exp(x) + 2.5 * sp.tanh(y)
    g = lower([expr], [x, y])
    bg = batch_siblings(g)
    assert sum(n.op == "vconst" for n in bg.nodes) >= 3
    assert ops(bg) < ops(g) / 3
    assert_same_function(g, bg, np.linspace(-2, 2, 9)[:, None], np.linspace(-1, 1, 5))


def test_products_minima_and_maxima():
    exprs = [
        sp.Mul(*[1 + sp.Float(0.1 * k) * sp.sin(x + k) for k in range(1, 7)]),
        sp.Min(*[sp.Float(k) * x + sp.Float(k * k) for k in range(1, 6)], evaluate=False),
        sp.Max(*[sp.exp(sp.Float(0.3 * k) * y) - k for k in range(1, 6)], evaluate=False),
    ]
    g = lower(exprs, [x, y], floats="params")
    bg = batch_siblings(g)
    assert {"vprod", "vmin", "vmax"} <= {n.op for n in bg.nodes}
    assert_same_function(g, bg, np.linspace(-3, 3, 13), np.linspace(-1, 2, 13))


def test_shared_subexpressions_stay_unbatched():
    """A position where every term has the same node is computed once and lifted."""
    u = sp.exp(-(x**2))
    expr = sum(sp.Float(k + 0.5) * u * sp.sin(sp.Float(k) * y) for k in range(1, 8))
    g = lower([expr], [x, y], floats="params")
    bg = batch_siblings(g)
    assert sum(n.op == "exp" for n in bg.nodes) == 1
    assert sum(n.op == "lift" for n in bg.nodes) == 2  # exp(-x**2) and y
    assert_same_function(g, bg, np.linspace(-1, 1, 7), np.linspace(0, 3, 7))


def test_commutative_operands_in_either_order_are_one_family():
    """Hash-consing orders commutative args by node index; the structure key does not."""
    b = Builder()
    xi = b.node("input", (), 0)
    terms = []
    for k in range(5):
        p = b.node("param", (), k)
        terms.append(b.op("sin", b.node("mul", (p, xi) if k % 2 else (xi, p))))
    g = b.graph([b.sum(terms)], inputs=(x,), params=[0.5 * k for k in range(5)])
    keys = structure_keys(g)
    assert len({keys[t] for t in terms}) == 1
    bg = batch_siblings(g)
    assert ops(bg) == 4
    assert_same_function(g, bg, np.linspace(-1, 1, 5))


def test_calls_are_never_batched():
    f = sp.Function("f")
    expr = sum(sp.Float(k) * f(sp.Float(k + 1) * x) for k in range(1, 6)) + sum(sp.Float(k) * f(x) for k in range(1, 6))
    g = lower([expr], [x], floats="params", extra_funcs={f: np.tanh})
    bg = batch_siblings(g)
    calls = [n for n in bg.nodes if n.op == "call"]
    assert len(calls) == 6  # five of f(b_k*x), and f(x) once: its five multiples are batched
    assert_same_function(g, bg, np.linspace(-1, 1, 5))


def test_deep_terms_do_not_recurse():
    b = Builder()
    xi = b.node("input", (), 0)
    terms = []
    for k in range(4):
        v = b.mul(b.node("param", (), k), xi)
        for _ in range(3000):
            v = b.op("sin", v)
        terms.append(v)
    g = b.graph([b.sum(terms)], inputs=(x,), params=[0.1, 0.2, 0.3, 0.4])
    bg = batch_siblings(g)
    assert ops(bg) == 3003
    assert_same_function(g, bg, np.linspace(-1, 1, 3))


def test_vector_literals_with_non_finite_values():
    b = Builder()
    xi = b.node("input", (), 0)
    values = [1.5, float("inf"), -float("inf"), 2.0]
    terms = [b.op("exp", b.op("min", xi, b.const(v))) for v in values]
    g = b.graph([b.sum(terms)], inputs=(x,))
    bg = batch_siblings(g)
    assert any(n.op == "vconst" for n in bg.nodes)
    assert_same_function(g, bg, np.linspace(-1, 3, 5))


def test_batched_ops_are_emission_only_ops_of_the_table():
    from sympile._core.ops import OPS

    made = {"vparam", "vbuffer", "vconst", "lift", "vsum", "vprod", "vmin", "vmax", "vdot"}
    assert all(OPS[op].emission and OPS[op].deriv is None and OPS[op].to_sympy is None for op in made)


# -- random families of isomorphic terms --------------------------------------------------------

C = sp.Symbol("C")  # where a coefficient goes in a template

templates = st.recursive(
    st.sampled_from([x, y, C, C * x]),
    lambda inner: st.one_of(
        st.tuples(inner, inner).map(lambda t: t[0] + t[1]),
        st.tuples(inner, inner).map(lambda t: t[0] * t[1]),
        st.tuples(inner, inner).map(lambda t: t[0] - t[1]),
        inner.map(sp.sin),
        inner.map(lambda e: sp.exp(-(e**2))),
        inner.map(lambda e: sp.sqrt(e**2 + C)),
        st.tuples(inner, inner).map(lambda t: sp.Piecewise((t[0], x > C), (t[1], True))),
        st.tuples(inner, inner).map(lambda t: sp.Max(t[0], t[1])),
    ),
    max_leaves=6,
)


def instantiate(template, values):
    """The template with its k-th occurrence of C replaced by values[k] (in preorder)."""
    it = iter(values)

    def walk(e):  # recursion is fine on these small templates
        if e == C:
            return next(it)
        return e.func(*[walk(a) for a in e.args]) if e.args else e

    return walk(template)


@given(
    template=templates,
    k=st.integers(3, 9),
    kind=st.sampled_from(["float", "int", "rational"]),
    op=st.sampled_from(["sum", "product", "max"]),
    seed=st.integers(0, 2**16),
)
@settings(max_examples=60)
def test_random_families_keep_their_value(template, k, kind, op, seed):
    rng = np.random.default_rng(seed)
    n = sum(1 for e in sp.preorder_traversal(template) if e == C)
    make = {
        "float": lambda: sp.Float(round(float(rng.uniform(0.5, 2)), 3)),
        "int": lambda: sp.Integer(int(rng.integers(2, 9))),
        "rational": lambda: sp.Rational(int(rng.integers(1, 9)), int(rng.integers(2, 9))),
    }[kind]
    terms = [
        sp.Float(round(float(rng.uniform(0.5, 2)), 3)) * instantiate(template, [make() for _ in range(n)])
        for _ in range(k)
    ]
    expr = {"sum": sp.Add, "product": sp.Mul, "max": sp.Max}[op](*terms)
    for floats in ("params", "literal"):
        g = lower([expr, sp.sin(x)], [x, y], floats=floats)
        bg = batch_siblings(g)
        assert bg is g or ops(bg) <= ops(g) + 2 * k
        xs, ys = np.linspace(-1.5, 1.5, 7)[:, None], np.linspace(-1, 1, 3)
        assert_same_function(g, bg, xs, ys)


@pytest.mark.parametrize("min_size", [2, 3, 5])
def test_min_size(min_size):
    expr = sum(sp.Float(k) * sp.sin(sp.Float(k + 1) * x) for k in range(1, 5))
    g = lower([expr], [x], floats="params")
    bg = batch_siblings(g, min_size=min_size)
    assert (bg is g) == (min_size > 4)
