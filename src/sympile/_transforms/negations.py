"""Shared negations: a value and its negation computed once.

A sum and its negation arise together: SymPy distributes a minus sign over sums, and the
derivatives of one expression hold both ``x - c`` and ``c - x``, ``r + k`` and ``(-k) - r``,
``u*k`` and ``u*(-k)``. `share_negations` computes each such pair once: the second member
becomes a negation of the first, and negations are carried up to where they cost nothing
(``a + -b`` is ``a - b``, ``a * -b`` is ``-(a*b)``) and written out only where they do not.
Negation is exact, so every value is unchanged (up to the sign of a zero difference). The
graph is kept as it was when the result would not have fewer operations.

This helps every graph that holds differences of both orientations: gradients and Hessians
of sums of squares, log-likelihoods, anything with ``(x - mu)`` terms.
"""

from __future__ import annotations

from fractions import Fraction

from .._core.graph import Graph
from .._core.rewrite import rewrite

_NUMBER = (int, float, Fraction)


def _twins(graph: Graph) -> dict[int, int]:
    """Node -> an earlier node that it is the negation of."""
    seen: dict[str, dict[tuple[int, int], int]] = {"add": {}, "sub": {}, "mul": {}}
    consts: dict[tuple, int] = {}
    literal: dict[int, object] = {}  # node -> its value, for finite real literals
    twin: dict[int, int] = {}
    for j, n in enumerate(graph.nodes):
        op = n.op
        if op == "const":
            v = n.attr
            consts.setdefault((type(v), v), j)
            if type(v) in _NUMBER and v == v:
                literal[j] = v
            continue
        table = seen.get(op)
        if table is None:
            continue
        a, b = n.args
        i = None
        if op == "sub":
            i = table.get((b, a))
            if i is None and a in literal:  # k - r and r + (-k)
                v = literal[a]
                k = consts.get((type(v), -v))
                if k is not None:
                    i = seen["add"].get((b, k) if b < k else (k, b))
        else:
            for u, c in ((a, b), (b, a)):
                if c not in literal or u in literal:
                    continue
                v = literal[c]
                k = consts.get((type(v), -v))
                if k is None:
                    continue
                # r + k and (-k) - r; u*k and u*(-k)
                i = seen["sub"].get((k, u)) if op == "add" else table.get((u, k) if u < k else (k, u))
                if i is not None:
                    break
        if i is not None:
            twin[j] = i
        table.setdefault(n.args, j)
    return twin


def share_negations(graph: Graph) -> Graph:
    """The same graph computing each value that is another's negation from that other."""
    twin = _twins(graph)
    if not twin:
        return graph

    # Each value is ``(node, negated)``: the new node, and whether it holds the negation.
    def rule(b, j, n, args):
        if j in twin:
            k, negated = b.value(twin[j])
            v = (k, not negated)
        elif n.op == "neg":
            k, negated = args[0]
            v = (k, not negated)
        elif n.op in ("add", "sub"):
            (x, nx), (y, ny) = args
            if n.op == "sub":
                ny = not ny
            if nx == ny:  # x + y, or -(x + y)
                v = (b.node("add", (x, y)), nx)
            else:
                v = (b.node("sub", (y, x) if nx else (x, y)), False)
        elif n.op in ("mul", "div"):
            (x, nx), (y, ny) = args
            v = (b.node(n.op, (x, y)), nx != ny)
        else:
            v = (b.node(n.op, tuple(plain(b, r) for r in args), n.attr), False)
        return v

    def plain(b, ref: tuple[int, bool]) -> int:
        k, negated = ref
        return b.node("neg", (k,)) if negated else k

    out = rewrite(graph, rule, simplify=False, output=plain)
    ops = sum(1 for n in out.nodes if n.args)
    return out if ops < sum(1 for n in graph.pruned().nodes if n.args) else graph
