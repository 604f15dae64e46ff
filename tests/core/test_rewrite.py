"""The rewrite driver and the signed-sum walk: the one way passes rebuild graphs and read sums."""

import math

import numpy as np
import sympy as sp
from helpers import evaluate_graph

from sympile import lower
from sympile._core.graph import Builder
from sympile._core.rewrite import rewrite
from sympile._core.terms import PRODUCT, SUM, terms

x, y, z = sp.symbols("x y z")


def test_without_a_rule_the_graph_is_rebuilt_as_it_is():
    g = lower([sp.sin(x) * y + sp.exp(x - y), sp.sin(x)], [x, y])
    again = rewrite(g)
    assert again.nodes == g.nodes and again.outputs == g.outputs


def test_a_rule_replaces_nodes_and_the_rest_follow():
    g = lower([sp.sin(x) * y + sp.sin(x) ** 2], [x, y])

    def cos_for_sin(b, i, n, args):
        return b.op("cos", args[0]) if n.op == "sin" else None

    h = rewrite(g, cos_for_sin)
    assert {n.op for n in h.nodes} >= {"cos"} and "sin" not in {n.op for n in h.nodes}
    rng = np.random.default_rng(0)
    for px, py in rng.uniform(-2, 2, (10, 2)):
        want = math.cos(px) * py + math.cos(px) ** 2
        assert evaluate_graph(h, [px, py])[0] == want or abs(evaluate_graph(h, [px, py])[0] - want) < 1e-14


def test_new_nodes_are_hash_consed_and_dead_ones_pruned():
    g = lower([sp.sin(x) + sp.cos(x), sp.sin(y)], [x, y])

    def all_to_exp(b, i, n, args):
        return b.op("exp", args[0]) if n.op in ("sin", "cos") else None

    h = rewrite(g, all_to_exp)
    ops = [n.op for n in h.nodes]
    assert ops.count("exp") == 2  # exp(x) once, exp(y) once
    assert len(h.nodes) == len(set(h.nodes))


def test_rich_values_and_reading_other_nodes_values():
    # values are (node, factor) pairs; the output function makes nodes of them
    b = Builder()
    xs = b.node("input", (), 0)
    g = b.graph([b.add(b.mul(xs, b.const(3)), b.mul(xs, b.const(4)))], inputs=(x,))

    def rule(rb, i, n, args):
        if n.op == "input":
            return (rb.node("input", (), n.attr), 1)
        if n.op == "const":
            return (None, n.attr)
        if n.op == "mul":
            (u, a), (v, c) = args
            return (u if v is None else v, a * c)
        if n.op == "add":
            (u, a), (v, c) = args
            assert u == v
            return (u, a + c)
        raise AssertionError(n.op)

    h = rewrite(g, rule, output=lambda rb, v: rb.mul(v[0], rb.const(v[1])))
    assert [n.op for n in h.nodes].count("mul") == 1
    assert evaluate_graph(h, [1.5]) == [1.5 * 7]


def test_after_orders_the_nodes_a_rule_reads():
    # the rule of node i reads the new value of a node created later in the old order
    b = Builder()
    u = b.node("input", (), 0)
    s = b.op("sin", u)
    c = b.op("cos", u)  # after s in the old graph
    g = b.graph([b.add(s, c)], inputs=(x,))
    seen = []

    def rule(rb, i, n, args):
        if i == s:
            seen.append(rb.value(c))
        return None

    rewrite(g, rule, after=lambda i: [c] if i == s else [])
    assert seen and seen[0] is not None


def test_terms_of_sums_and_products_left_to_right():
    g = lower([x - (y + -z), x * y / z], [x, y, z])
    nodes = g.nodes
    got = [(nodes[i].attr, s) for i, s in terms(nodes, g.outputs[0], SUM)]
    assert sorted(got) == [(0, 1), (1, -1), (2, 1)]
    got = [(nodes[i].attr, s) for i, s in terms(nodes, g.outputs[1], PRODUCT)]
    assert sorted(got) == [(0, 1), (1, 1), (2, -1)]


def test_terms_stop_where_asked_and_go_through_literal_multiples():
    b = Builder()
    a, c = b.node("input", (), 0), b.node("input", (), 1)
    inner = b.add(a, c)
    root = b.sub(b.mul(inner, b.const(3)), inner)
    nodes = b.nodes
    scaled = lambda i: (3, inner) if i == nodes[root].args[0] else None  # noqa: E731
    assert sorted(terms(nodes, root, SUM, into=lambda i: False)) == sorted([(nodes[root].args[0], 1), (inner, -1)])
    assert sorted(terms(nodes, root, SUM, scaled=scaled)) == sorted([(a, 3), (c, 3), (a, -1), (c, -1)])
