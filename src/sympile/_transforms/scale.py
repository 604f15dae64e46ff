"""A common power-of-two factor of a sum's terms, applied once.

``-x0*(x - a)/2 - x1*(y - b)/2`` (a quadratic form, a Gaussian log-density, the ``1/2`` of a
least-squares loss) multiplies every term by the same ``±1/2``. `factor_scales` rewrites such
a sum as ``(x0*(x - a) + x1*(y - b)) * (-1/2)``: one multiplication instead of one per term.
Scaling by a power of two is exact, so ``(u + v)*k`` is the same number as ``u*k + v*k``
(barring overflow and underflow at the ends of the range): no result changes. Other factors
are left alone, as ``(u + v)/3`` rounds differently from ``u/3 + v/3``.
"""

from __future__ import annotations

import math
from fractions import Fraction

from .._core.graph import Graph
from .._core.rewrite import replace
from .._core.terms import SUM, terms

_NUMBER = (int, float, Fraction)


def _factor(v) -> bool:
    """Whether the literal ``v`` is a power of two other than 1 (a factor worth taking out)."""
    return type(v) in _NUMBER and v not in (0, 1, -1) and _power_of_two(abs(v))


def _power_of_two(v) -> bool:
    if type(v) is float:
        return math.isfinite(v) and math.frexp(v)[0] == 0.5
    v = Fraction(v)
    return v.numerator & (v.numerator - 1) == 0 and v.denominator & (v.denominator - 1) == 0


def factor_scales(graph: Graph) -> Graph:
    """Each sum whose variable terms are all ``u * (±k)``, ``k`` one power of two other than 1,
    computed as ``(±u ± ...) * k`` (its literal terms added after)."""
    nodes = graph.nodes
    # the common case, found cheaply: no product with a power-of-two literal
    twos = {i for i, n in enumerate(nodes) if n.op == "const" and _factor(n.attr)}
    if not twos or not any(n.op == "mul" and (n.args[0] in twos or n.args[1] in twos) for n in nodes):
        return graph
    uses = graph.use_counts()
    user = graph.users()

    def interior(j: int) -> bool:
        return uses[j] == 1 and nodes[j].op in SUM and user[j] >= 0 and nodes[user[j]].op in SUM

    def literal(j: int):
        n = nodes[j]
        return n.attr if n.op == "const" and type(n.attr) in _NUMBER else None

    def scaled(j: int):
        """``(u, c)`` if node ``j`` is ``u * c`` for a literal ``c`` (and a ``u`` that is not one)."""
        n = nodes[j]
        if n.op != "mul":
            return None
        for u, c in (n.args, n.args[::-1]):
            v = literal(c)
            if v is not None and v != 0 and literal(u) is None:
                return u, v
        return None

    plan: dict[int, tuple] = {}  # sum root -> (k, [(u, sign)], [(literal node, sign)])
    for i, n in enumerate(nodes):
        if n.op not in ("add", "sub") or interior(i):
            continue
        found, constants, magnitude = [], [], None
        for t, sign in terms(nodes, i, SUM, into=interior):
            if literal(t) is not None:
                constants.append((t, sign))
                continue
            s = scaled(t)
            if s is None:
                break
            u, v = s
            if magnitude is None:
                magnitude = abs(v)
                if magnitude == 1 or not _power_of_two(magnitude):
                    break
            elif abs(v) != magnitude:
                break
            found.append((u, sign if v > 0 else -sign))
        else:
            if len(found) >= 2:
                plan[i] = (magnitude, found, constants)

    def make(b, planned, args):
        k, found, constants = planned
        pos = [b.value(u) for u, s in found if s > 0]
        neg = [b.value(u) for u, s in found if s < 0]
        if not pos:
            r = b.mul(b.sum(neg), b.const(-k))
        else:
            r = b.mul(b.sub(b.sum(pos), b.sum(neg)) if neg else b.sum(pos), b.const(k))
        for c, s in constants:
            r = b.add(r, b.value(c)) if s > 0 else b.sub(r, b.value(c))
        return r

    return replace(graph, plan, make)
