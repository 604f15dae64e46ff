"""Constant folding."""

import math

import numpy as np
import pytest
import sympy as sp

from sympile import lambdify, lower
from sympile._transforms.fold import fold_constants, share_negations

x = sp.Symbol("x")


def test_input_free_subgraphs_become_correctly_rounded_literals():
    e = x * sp.log(3) + sp.sqrt(2) * sp.exp(sp.pi) + sp.gamma(sp.Rational(1, 3))
    g = fold_constants(lower([e], [x]))
    consts = [n.attr for n in g.nodes if n.op == "const"]
    assert float(sp.log(3).evalf(40)) in consts
    assert float((sp.sqrt(2) * sp.exp(sp.pi) + sp.gamma(sp.Rational(1, 3))).evalf(40)) in consts
    assert {n.op for n in g.nodes} == {"input", "const", "mul", "add"}


def test_folded_constants_keep_float32():
    f = lambdify(x, x * sp.log(3) + sp.atan(2))
    assert f(np.ones(3, np.float32)).dtype == np.float32


def test_folding_keeps_exact_values():
    g = fold_constants(lower([x * sp.factorial(5) + sp.Rational(1, 3) ** 2], [x]))
    consts = [n.attr for n in g.nodes if n.op == "const"]
    assert 120 in consts


def _built(nodes_spec):
    """A graph from ``(op, args, attr)`` triples (the last node is the output, beside an input)."""
    from sympile._core.graph import Graph, Node

    nodes = [Node("input", (), 0), *[Node(op, args, attr) for op, args, attr in nodes_spec]]
    out = len(nodes)
    nodes.append(Node("mul", (0, out - 1)))
    return Graph(nodes, [out], (x,))


def test_arithmetic_on_floats_folds_exactly_and_rounds_once():
    """``+ - * /`` over Python numbers fold without SymPy: exactly, rounded once at the end."""
    from fractions import Fraction

    rng = np.random.default_rng()
    for _ in range(50):
        a, b, c = (float(v) for v in rng.normal(size=3) * 10.0 ** rng.integers(-5, 5, 3))
        # node 1: a, 2: b, 3: c, 4: a*b, 5: 4 - c, 6: 5 / b, 7: -6
        spec = [("const", (), a), ("const", (), b), ("const", (), c), ("mul", (1, 2), None)]
        spec += [("sub", (4, 3), None), ("div", (5, 2), None), ("neg", (6,), None)]
        g = fold_constants(_built(spec))
        (value,) = [n.attr for n in g.nodes if n.op == "const"]
        exact = -(
            (sp.Rational(Fraction(a)) * sp.Rational(Fraction(b)) - sp.Rational(Fraction(c))) / sp.Rational(Fraction(b))
        )
        assert type(value) is float and value == float(exact.evalf(60))
    # exact numbers stay exact; a division by zero or a named constant goes through SymPy
    g = fold_constants(_built([("const", (), 6), ("const", (), Fraction(1, 3)), ("mul", (1, 2), None)]))
    assert [(n.attr, type(n.attr)) for n in g.nodes if n.op == "const"] == [(2, int)]
    g = fold_constants(_built([("const", (), 2), ("const", (), Fraction(1, 3)), ("add", (1, 2), None)]))
    assert [n.attr for n in g.nodes if n.op == "const"] == [Fraction(7, 3)]
    g = fold_constants(_built([("const", (), 2.5), ("const", (), "pi"), ("mul", (1, 2), None)]))
    assert [n.attr for n in g.nodes if n.op == "const"] == [float(sp.N(sp.pi * 2.5, 40))]


# -- a value and its negation ------------------------------------------------------------

y = sp.Symbol("y")
_PY_OPS = {
    "add": lambda a, b: a + b,
    "sub": lambda a, b: a - b,
    "mul": lambda a, b: a * b,
    "div": lambda a, b: a / b,
    "neg": lambda a: -a,
    "exp": math.exp,
    "sin": math.sin,
    "cos": math.cos,
}


def _run(graph, point):
    """The graph's outputs at ``point``, node by node in Python floats (no sympile backend)."""
    values = []
    for n in graph.nodes:
        if n.op == "input":
            values.append(point[n.attr])
        elif n.op == "const":
            values.append(float(n.attr))
        else:
            values.append(_PY_OPS[n.op](*(values[a] for a in n.args)))
    return [values[o] for o in graph.outputs]


def _ops(graph):
    return sum(1 for n in graph.pruned().nodes if n.args)


def test_a_value_and_its_negation_are_computed_once():
    # SymPy writes -(x - c) as c - x, and -(k*u) as (-k)*u: both members of each pair occur
    c, k = 1.0 + np.random.default_rng().uniform(), 0.5 + np.random.default_rng().uniform()
    exprs = [
        sp.exp(x) * (x - c) + sp.sin(y) * (c - x) + sp.cos(x) * (x + c) - sp.exp(y) * (-x - c),
        sp.exp(-k * y - x) + sp.sin(k * y + x),
    ]
    lowered = lower(exprs, [x, y])
    shared = fold_constants(lowered)
    assert _ops(shared) < _ops(lowered)
    # one node holds x - c, one x + c, one k*y (with either orientation or sign)
    for v in (c, k):
        holders = [n for n in shared.nodes if n.args and any(shared.nodes[a].attr in (v, -v) for a in n.args)]
        assert len(holders) == 2 if v == c else len(holders) == 1, holders
    rng = np.random.default_rng()
    for _ in range(50):
        point = [float(v) for v in rng.uniform(-3, 3, 2)]
        assert _run(shared, point) == _run(lowered, point)  # negation is exact: the same numbers
        got = lambdify([x, y], exprs)(*point)
        for e, v in zip(exprs, got):
            ref = float(e.evalf(30, subs={x: point[0], y: point[1]}))
            assert v == pytest.approx(ref, rel=1e-13, abs=1e-300)


def test_sharing_that_would_not_save_an_operation_is_not_done():
    # exp(c - x) needs its negation written out: as many operations either way
    g = lower([sp.exp(2.5 - x) + sp.sin(x - 2.5)], [x])
    assert share_negations(g) is g


def test_a_common_power_of_two_factor_is_applied_once():
    e = -x * (x - 1) / 2 - y * (y + 3) / 2 + x * y / 2
    g = fold_constants(lower([e], [x, y]))
    halves = [n for n in g.nodes if n.op == "mul" and any(g.nodes[a].attr in (0.5, -0.5) for a in n.args)]
    assert len(halves) == 1
    # a factor that is not a power of two is not factored: x*(1/3) + y*(1/3) rounds differently
    g3 = fold_constants(lower([x * (x - 1) / 3 + y * (y + 3) / 3], [x, y]))
    assert sum(1 for n in g3.nodes if n.op == "div") == 2
    f = lambdify([x, y], e)
    rng = np.random.default_rng()
    for px, py in rng.uniform(-5, 5, (50, 2)):
        ref = float(e.evalf(30, subs={x: float(px), y: float(py)}))
        assert f(float(px), float(py)) == pytest.approx(ref, rel=1e-12, abs=1e-12)
