"""Raising: a `Graph` (plus current parameter values) -> SymPy expressions.

Sums and products are gathered into one n-ary ``Add``/``Mul`` each, so raising a
100,000-term sum builds one ``Add`` instead of 100,000 nested ones.
"""

from __future__ import annotations

from collections.abc import Sequence

import sympy as sp

from .._core.constants import const_to_sympy
from .._core.graph import Graph
from .._core.ops import OPS
from .._core.terms import PRODUCT, SUM, terms

_FAMILY = {"add": "sum", "sub": "sum", "neg": "sum", "mul": "prod", "div": "prod"}


def _unguarded(v):
    """``loggamma(u)`` for the NaN guard lowering puts around it (``lower._lower_loggamma``):
    SymPy's ``loggamma`` is the guarded value, so the round trip gives the user's expression back."""
    if not (isinstance(v, sp.Piecewise) and len(v.args) == 2 and v.args[0].expr is sp.nan):
        return v
    inner, otherwise = v.args[1]
    if otherwise is not sp.true or not isinstance(inner, sp.loggamma):
        return v
    (u,) = inner.args
    guards = (sp.And(u < 0, sp.Ne(u, sp.floor(u))), sp.And(u < 0, sp.Ne(sp.floor(u), u)))
    return inner if v.args[0].cond in guards else v


def to_sympy(graph: Graph, params: Sequence | None = None, buffers: Sequence | None = None) -> list:
    """The graph's outputs as SymPy expressions, with ``params``/``buffers`` as the values.

    Example:
        >>> import sympy as sp
        >>> from sympile._sympy.lower import lower
        >>> x = sp.Symbol("x")
        >>> g = lower([2.5 * sp.sin(x)], [x], floats="params")
        >>> to_sympy(g, params=[3.0])
        [3.0*sin(x)]
    """
    params = graph.params if params is None else params
    buffers = graph.buffers if buffers is None else buffers
    nodes = graph.nodes
    needed = [False] * len(nodes)
    for o in graph.outputs:
        needed[o] = True
    for n in nodes:
        fam = _FAMILY.get(n.op)
        for a in n.args:
            if fam is None or _FAMILY.get(nodes[a].op) != fam:
                needed[a] = True

    values: list = [None] * len(nodes)
    for i, n in enumerate(nodes):
        if not needed[i]:
            continue
        op = n.op
        if op == "input":
            v = graph.inputs[n.attr]
        elif op == "param":
            v = sp.Float(float(params[n.attr]))
        elif op == "buffer":
            v = sp.UnevaluatedExpr(sp.Float(float(buffers[n.attr])))
        elif op == "const":
            v = const_to_sympy(n.attr)
        elif op == "call":
            key = n.attr[0]
            v = (sp.Function(key) if isinstance(key, str) else key)(*(values[a] for a in n.args))
        elif _FAMILY.get(op) == "sum":
            v = sp.Add(*(values[t] if s > 0 else -values[t] for t, s in terms(nodes, i, SUM)))
        elif _FAMILY.get(op) == "prod":
            v = sp.Mul(*(values[t] if s > 0 else sp.Pow(values[t], -1) for t, s in terms(nodes, i, PRODUCT)))
        else:
            v = OPS[op].to_sympy(*(values[a] for a in n.args), attr=n.attr)
            if op == "where":
                v = _unguarded(v)
        values[i] = v
    return [values[o] for o in graph.outputs]
