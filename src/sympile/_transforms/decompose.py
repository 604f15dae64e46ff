"""Decomposition: the ops a backend cannot spell, rewritten into ops it can.

Each op of the table may say how it is written with other ops (`OpSpec.decompose`: ``cot``
is ``1 / tan``, ``binomial`` goes through log-gamma, ``heaviside`` is a chain of selects).
A backend lists only the ops it spells; `decompose` rewrites every other op that has a
decomposition, repeatedly, since a decomposition may use an op the backend lacks in turn
(``factorial`` is ``gamma(x + 1)``, and PyTorch's ``gamma`` goes through ``loggamma``). An op
left without a spelling after that is unsupported on that backend (`sympile._emit.pipeline`).
"""

from __future__ import annotations

from collections.abc import Callable

from .._core.graph import Graph
from .._core.ops import OPS
from .._core.rewrite import rewrite


def decompose(graph: Graph, spelt: Callable[[str], bool]) -> Graph:
    """``graph`` with each op that ``spelt`` rejects and that has a decomposition decomposed.

    Example:
        >>> import sympy as sp
        >>> from sympile._sympy.lower import lower
        >>> g = decompose(lower([sp.cot(sp.Symbol("x"))], [sp.Symbol("x")]), lambda op: op != "cot")
        >>> [n.op for n in g.nodes]
        ['input', 'tan', 'const', 'div']
    """

    def pending(g: Graph) -> bool:
        return any(OPS[n.op].decompose is not None and not spelt(n.op) for n in g.nodes)

    def rule(b, i, n, args):
        spec = OPS[n.op]
        if spec.decompose is None or spelt(n.op):
            return None
        return spec.decompose(b, n.attr, *args)

    for _ in range(len(OPS)):  # each round removes one level of decompositions
        if not pending(graph):
            return graph
        graph = rewrite(graph, rule)
    return graph
