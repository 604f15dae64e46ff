"""`hide_floats`: every Float wrapped in UnevaluatedExpr, nothing else changed."""

import pytest
import sympy as sp
from helpers import require
from hypothesis import given, settings
from hypothesis import strategies as st

from sympile import hide_floats, lower

x, y = sp.symbols("x y")

EXAMPLES = [
    2.5 * sp.sin(0.5 * x) + 1,
    sp.Piecewise((x**2.5, x > 1.5), (0.25 * y, True)),
    sp.Max(x, 1.5 * y, 0.5) + sp.Min(x, -2.0),
    sp.exp(-(x**2) / 2.0) * sp.Rational(1, 3) + sp.pi * 1.25,
    sp.Eq(x, 2.0) | (y < 0.5),
    x + y,
]


def _bare_floats(e) -> int:
    """Floats not directly inside an UnevaluatedExpr."""
    count, stack = 0, [(e, None)]
    while stack:
        node, parent = stack.pop()
        if node.is_Float and type(parent) is not sp.UnevaluatedExpr:
            count += 1
        stack.extend((a, node) for a in node.args)
    return count


def _floats(e) -> list:
    return [float(a) for a in sp.preorder_traversal(e) if a.is_Float]


def test_wraps_every_float_and_keeps_the_value():
    for e in EXAMPLES:
        h = hide_floats(e)
        assert _bare_floats(h) == 0
        assert sorted(_floats(h)) == sorted(_floats(e))
        if not isinstance(e, sp.logic.boolalg.Boolean):
            point = {x: 1.7, y: -0.3}
            assert abs(complex(h.doit().subs(point).evalf(30)) - complex(e.subs(point).evalf(30))) < 1e-25


def test_leaves_floatless_parts_alone_and_is_idempotent():
    e = sp.sin(x) * sp.Rational(2, 3) + x**2 + sp.pi
    assert hide_floats(e) is e
    h = hide_floats(EXAMPLES[0])
    assert hide_floats(h) == h


def test_hidden_floats_become_buffers():
    e = EXAMPLES[2] + EXAMPLES[0]
    g = lower([hide_floats(e)], [x, y], floats="params")
    assert g.params == () and sorted(g.buffers) == sorted(_floats(e))


def test_matrix_and_non_expressions():
    m = sp.Matrix([[1.5 * x, 2], [y, 0.5]])
    h = hide_floats(m)
    assert isinstance(h, sp.MatrixBase) and all(_bare_floats(a) == 0 for a in h)
    assert hide_floats(3) == 3


def test_deep_expressions_do_not_recurse():
    e = x
    for k in range(3000):  # (SymPy's own assumptions would recurse through nested functions)
        e = sp.Add(sp.Mul(e, x, evaluate=False), sp.Float(k), evaluate=False)
    h = hide_floats(e)
    assert _bare_floats(h) == 0
    assert lower([h], [x], floats="params").buffers == tuple(float(k) for k in range(3000))


def test_float_order_is_kept():
    e = 0.5 + 2.0 * sp.sin(3.0 * x + 0.25)
    assert lower([hide_floats(e)], [x], floats="params").buffers == tuple(_floats(e))


def test_agrees_with_sympytorch():
    sympytorch = require("sympytorch")
    with pytest.raises(TypeError):  # sympytorch's cannot rebuild a Piecewise; ours can
        sympytorch.hide_floats(EXAMPLES[1])
    for e in (EXAMPLES[0], EXAMPLES[2], sp.exp(-1.5 * x**2) * sp.cos(0.25 * y + 2.0)):
        ours, theirs = hide_floats(e), sympytorch.hide_floats(e)
        assert ours.atoms(sp.UnevaluatedExpr) == theirs.atoms(sp.UnevaluatedExpr)
        point = {x: 0.7, y: 1.3}
        assert abs(complex(ours.doit().subs(point)) - complex(theirs.doit().subs(point))) < 1e-12


def test_exported_from_both_namespaces():
    import sympile.torch

    assert sympile.hide_floats is sympile.torch.hide_floats is hide_floats


leaf = st.sampled_from([x, y, sp.Integer(2), sp.Rational(1, 3)]) | st.floats(-4, 4, allow_nan=False).filter(
    lambda v: v != 0
).map(sp.Float)
exprs = st.recursive(
    leaf,
    lambda inner: st.one_of(
        st.tuples(inner, inner).map(lambda t: t[0] + t[1]),
        st.tuples(inner, inner).map(lambda t: t[0] * t[1]),
        inner.map(sp.sin),
        # exp of a bounded argument: SymPy evaluates exp(exp(exp(4.0))) eagerly, and sin of the
        # result needs pi to millions of digits
        inner.map(lambda t: sp.exp(sp.sin(t))),
        st.tuples(inner, inner).map(lambda t: sp.Max(t[0], t[1])),
    ),
    max_leaves=8,
)


@given(exprs)
@settings(max_examples=60)
def test_random_expressions(e):
    h = hide_floats(e)
    assert _bare_floats(h) == 0
    g = lower([h], [x, y], floats="params")
    assert g.params == ()
    assert sorted(g.buffers) == sorted(_floats(h))
