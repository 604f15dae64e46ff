"""Masking untaken branches (the double-where pattern)."""

import numpy as np
import sympy as sp
from hypothesis import given, settings
from hypothesis import strategies as st

from sympile import lower
from sympile._functions.lambdify import LambdifiedFunction
from sympile._transforms.mask import guards, mask_branches

x, y = sp.symbols("x y")
E = sp.Piecewise((sp.sqrt(x) + sp.log(x - 1), x > 1), (sp.acos(y) * x, y < 1), (sp.gamma(y), True))


def compile_graph(g):
    return LambdifiedFunction(g, "numpy", {}, ("list", [("leaf", 0), ("leaf", 1)]), ("leaf", 0))


@settings(max_examples=60)
@given(st.floats(-3, 3), st.floats(-3, 3))
def test_masking_keeps_values(a, b):
    g = lower([E], [x, y])
    with np.errstate(all="ignore"):
        np.testing.assert_array_equal(
            compile_graph(g)(np.array([a]), np.array([b])),
            compile_graph(mask_branches(g))(np.array([a]), np.array([b])),
        )


def test_unsafe_ops_in_branches_get_safe_inputs():
    g = mask_branches(lower([E], [x, y]))
    for n in g.nodes:
        if n.op in ("sqrt", "log", "acos", "gamma"):
            assert g.nodes[n.args[0]].op == "where", n.op
    with np.errstate(all="raise"):  # no invalid operation is ever evaluated
        compile_graph(g)(np.array([-2.0, 3.0, 0.5]), np.array([5.0, 0.0, 0.5]))


def test_guards_are_the_conditions_on_every_path():
    g = lower([sp.Piecewise((sp.sin(x), x > 0), (sp.cos(x), True)) + sp.sin(x)], [x])
    gs = guards(g)
    sin = next(i for i, n in enumerate(g.nodes) if n.op == "sin")
    cos = next(i for i, n in enumerate(g.nodes) if n.op == "cos")
    assert gs[sin] == frozenset()  # also used outside the branch
    assert len(gs[cos]) == 1 and next(iter(gs[cos]))[1] is False
