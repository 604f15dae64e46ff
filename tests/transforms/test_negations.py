"""Shared negations (sympile._transforms.negations): a value and its negation computed once,
bit-identical to the graph as lowered, checked by an independent evaluator and against SymPy."""

import numpy as np
import pytest
import sympy as sp
from helpers import evaluate_graph

from sympile import lambdify, lower
from sympile._transforms.fold import fold_constants
from sympile._transforms.negations import share_negations

x = sp.Symbol("x")
y = sp.Symbol("y")


def _ops(graph):
    return sum(1 for n in graph.pruned().nodes if n.args)


def test_a_value_and_its_negation_are_computed_once():
    # SymPy writes -(x - c) as c - x, and -(k*u) as (-k)*u: both members of each pair occur
    rng = np.random.default_rng(0)
    c, k = 1.0 + rng.uniform(), 0.5 + rng.uniform()
    exprs = [
        sp.exp(x) * (x - c) + sp.sin(y) * (c - x) + sp.cos(x) * (x + c) - sp.exp(y) * (-x - c),
        sp.exp(-k * y - x) + sp.sin(k * y + x),
    ]
    lowered = lower(exprs, [x, y])
    shared = share_negations(fold_constants(lowered))
    assert _ops(shared) < _ops(lowered)
    # one node holds x - c, one x + c, one k*y (with either orientation or sign)
    for v in (c, k):
        holders = [n for n in shared.nodes if n.args and any(shared.nodes[a].attr in (v, -v) for a in n.args)]
        assert len(holders) == 2 if v == c else len(holders) == 1, holders
    for _ in range(50):
        point = [float(v) for v in rng.uniform(-3, 3, 2)]
        assert evaluate_graph(shared, point) == evaluate_graph(lowered, point)  # negation is exact: the same numbers
        got = lambdify([x, y], exprs)(*point)
        for e, v in zip(exprs, got):
            ref = float(e.evalf(30, subs={x: point[0], y: point[1]}))
            assert v == pytest.approx(ref, rel=1e-13, abs=1e-300)


def test_sharing_that_would_not_save_an_operation_is_not_done():
    # exp(c - x) needs its negation written out: as many operations either way
    g = lower([sp.exp(2.5 - x) + sp.sin(x - 2.5)], [x])
    assert share_negations(g) is g
