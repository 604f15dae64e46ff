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


def _guarded_loggamma(nodes, n) -> int | None:
    """For the NaN guard lowering puts around ``loggamma(u)`` (``lower._lower_loggamma``:
    ``where(u < 0 & floor(u) != u, nan, loggamma(u))``), the ``loggamma`` node; else None. SymPy's
    ``loggamma`` is the guarded value, so the round trip gives the user's expression back; matched
    on the graph, as SymPy's Piecewise would rewrite the condition (``x**2 < -1`` for
    ``x**2 + 1 < 0``), and building it can raise (a NaN compared where guards nest)."""
    cond, nan, value = n.args
    if nodes[nan].op != "const" or nodes[nan].attr != "nan" or nodes[value].op != "loggamma":
        return None
    (u,) = nodes[value].args
    c = nodes[cond]
    if c.op != "and" or len(c.args) != 2:
        return None
    tests = sorted((nodes[a].op, a) for a in c.args)
    if [op for op, _ in tests] != ["lt", "ne"]:
        return None
    lt, ne = nodes[tests[0][1]], nodes[tests[1][1]]
    zero = nodes[lt.args[1]]
    if lt.args[0] != u or zero.op != "const" or zero.attr != 0:
        return None
    floors = [a for a in ne.args if a != u]
    if sorted(ne.args) != sorted((u, *floors)) or len(floors) != 1:
        return None
    f = nodes[floors[0]]
    return value if f.op == "floor" and f.args == (u,) else None


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
        elif op == "where" and (lg := _guarded_loggamma(nodes, n)) is not None and not values[lg].is_number:
            v = values[lg]  # a number's guard is decided below instead: NaN where SymPy's is complex
        else:
            v = OPS[op].to_sympy(*(values[a] for a in n.args), attr=n.attr)
        values[i] = v
    return [values[o] for o in graph.outputs]
