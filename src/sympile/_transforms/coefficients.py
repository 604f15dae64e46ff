"""Gathering exact factors: ``u + u -> 2*u``, ``(-100)*u - 100*u -> -200*u``, ``(2*u)*(3*v) -> 6*(u*v)``.

Reverse and forward mode multiply and add partial derivatives one at a time, so their graphs
repeat a term with different literal factors; gathered, they compute the same values with
fewer operations. Only exact (int and rational) factors are combined, so no number is
rounded here; as in the builder, ``0 * u`` is 0 even where ``u`` is infinite.
"""

from __future__ import annotations

from fractions import Fraction

from .._core.graph import Graph
from .._core.rewrite import rewrite


def collect_coefficients(graph: Graph) -> Graph:
    """The same function with exact numeric factors gathered (see the module docstring)."""

    # Each node's value is ``(base, c)``: the node is ``c * base`` with ``c`` exact; a base of
    # None means the number ``c``.
    def make(b, form) -> int:
        base, c = form
        if base is None:
            return b.const(_exact(c))
        if c == 1:
            return base
        if c == -1:
            return b.neg(base)
        if c == 0:
            return b.const(0)
        c = Fraction(c)
        if c.denominator & (c.denominator - 1) == 0:  # exact in binary: one multiplication
            return b.mul(base, b.const(_exact(c)))
        scaled = base if abs(c.numerator) == 1 else b.mul(base, b.const(abs(c.numerator)))
        quotient = b.div(scaled, b.const(c.denominator))  # x/3 is correctly rounded, x*(1/3) is not
        return quotient if c > 0 else b.neg(quotient)

    def rule(b, i, n, fs):
        op = n.op
        if op == "const" and type(n.attr) in (int, Fraction):
            return (None, n.attr)
        if op == "neg":
            return (fs[0][0], -fs[0][1])
        if op == "mul":
            (u, cu), (v, cv) = fs
            base = v if u is None else u if v is None else b.mul(u, v)
            return (base, cu * cv) if cu * cv != 0 else (None, 0)
        if op in ("add", "sub"):
            (u, cu), (v, cv) = fs
            cv = cv if op == "add" else -cv
            if u == v:
                return (u, cu + cv) if cu + cv != 0 else (None, 0)
            if cu < 0 and cv < 0:  # -(a + b): the sign goes into the coefficient
                return (b.add(make(b, (u, -cu)), make(b, (v, -cv))), -1)
            if cv < 0:
                return (b.sub(make(b, (u, cu)), make(b, (v, -cv))), 1)
            if cu < 0:
                return (b.sub(make(b, (v, cv)), make(b, (u, -cu))), 1)
            return (b.add(make(b, (u, cu)), make(b, (v, cv))), 1)
        if op == "div" and fs[1][0] is None and fs[1][1] != 0:
            (u, cu), (_, cv) = fs
            return (u, Fraction(cu) / cv)
        return (b.node(op, tuple(make(b, f) for f in fs), n.attr), 1)

    return rewrite(graph, rule, output=make)


def _exact(c):
    c = Fraction(c)
    return int(c) if c.denominator == 1 else c
