"""The algebraic identities that the builder applies as nodes are made.

``x + 0``, ``1 * x``, ``0 * x``, ``--x``, ``x - x``, ``-(a - b) -> b - a``,
``-(c*u + v) -> (-c)*u - v``, exact integer and rational arithmetic, integer powers, and
selects on literal conditions: what keeps derivative graphs small. A rule is
``rule(b, args, attr) -> node | None`` (None: make the node as asked); each op's rule is named
by its entry in the op table (`OpSpec.simplify`). No rule rounds a number.
"""

from __future__ import annotations

import operator
from fractions import Fraction
from typing import Any

HALF = Fraction(1, 2)


#: Arithmetic that is exact on ints and Fractions (and on Fractions made from floats).
EXACT_ARITHMETIC = {
    "add": operator.add,
    "sub": operator.sub,
    "mul": operator.mul,
    "div": lambda a, b: Fraction(a) / b,
    "neg": operator.neg,
}


def fold_exact(op: str, values) -> Any:
    """Exact arithmetic on ints and Fractions, for constant folding; None if not exact."""
    rule = EXACT_ARITHMETIC.get(op)
    if rule is None or not all(type(v) in (int, Fraction) for v in values):
        return None
    if op == "div" and values[1] == 0:
        return None
    r = rule(*values)
    if type(r) is Fraction and r.denominator == 1:
        return int(r)
    return r


def _fold(op):
    def rule(b, args, attr):
        values = [b.exact_value(a) for a in args]
        if None not in values:
            r = fold_exact(op, values)
            if r is not None:
                return b.const(r)
        return None

    return rule


_fold_add, _fold_sub, _fold_mul, _fold_div, _fold_neg = map(_fold, ["add", "sub", "mul", "div", "neg"])


def simplify_add(b, args, attr):
    x, y = args
    if b.is_const(x, 0):
        return y
    if b.is_const(y, 0):
        return x
    if b.nodes[y].op == "neg":
        return b.sub(x, b.nodes[y].args[0])
    if b.nodes[x].op == "neg":
        return b.sub(y, b.nodes[x].args[0])
    return _fold_add(b, args, attr)


def simplify_sub(b, args, attr):
    x, y = args
    if b.is_const(y, 0):
        return x
    if b.is_const(x, 0):
        return b.neg(y)
    if x == y:
        return b.const(0)
    if b.nodes[y].op == "neg":
        return b.add(x, b.nodes[y].args[0])
    return _fold_sub(b, args, attr)


def simplify_mul(b, args, attr):
    x, y = args
    for u, v in ((x, y), (y, x)):
        if b.is_const(u, 1):
            return v
        if b.is_const(u, 0):
            return u
        if b.is_const(u, -1):
            return b.neg(v)
    return _fold_mul(b, args, attr)


def simplify_div(b, args, attr):
    x, y = args
    if b.is_const(y, 1):
        return x
    if b.is_const(y, -1):
        return b.neg(x)
    if b.is_const(x, 0) and b.exact_value(y) is None:
        return x
    return _fold_div(b, args, attr)


def simplify_neg(b, args, attr):
    (x,) = args
    n = b.nodes[x]
    if n.op == "neg":
        return n.args[0]
    if n.op == "sub":
        return b.sub(n.args[1], n.args[0])
    if n.op == "add":  # -(c*u + v) -> (-c)*u - v: the sign goes into a literal for free
        for u, v in (n.args, n.args[::-1]):
            m = _negated_scaled(b, u)
            if m is not None:
                return b.sub(m, v)
    return _fold_neg(b, args, attr)


def _negated_scaled(b, i):
    """``u * (-c)`` if node ``i`` is ``u * c`` for a literal number ``c``, else None."""
    n = b.nodes[i]
    if n.op != "mul":
        return None
    for u, c in (n.args, n.args[::-1]):
        v = b.const_value(c)
        if type(v) in (int, float, Fraction):
            return b.mul(u, b.const(-v))
    return None


def simplify_where(b, args, attr):
    c, x, y = args
    if x == y:
        return x
    cv = b.const_value(c)
    if cv is True or cv is False:
        return x if cv else y
    # a select inside a select on the same condition (masks on masks in derivatives of
    # derivatives): only one of its sides can be chosen
    nx, ny = b.nodes[x], b.nodes[y]
    if nx.op == "where" and nx.args[0] == c:
        return b.where(c, nx.args[1], y)
    if ny.op == "where" and ny.args[0] == c:
        return b.where(c, x, ny.args[2])
    return None


def simplify_powi(b, args, n):
    (x,) = args
    if n == 1:
        return x
    if n == 0:
        return b.const(1)
    if n == 2:
        return b.mul(x, x)
    if n < 0:
        return b.recip(b.node("powi", (x,), -n))
    v = b.exact_value(x)
    if v is not None and n * max(_bits(v), 1) <= MAX_EXACT_POWER_BITS:
        return b.const(v**n)
    return None


#: Exact literal powers are computed only up to this size of result: beyond it the value is
#: left to the backend's float arithmetic (where it overflows or underflows), as computing
#: ``3**(10**9)`` exactly would take minutes.
MAX_EXACT_POWER_BITS = 1 << 16


def _bits(v) -> int:
    if type(v) is bool:
        return 1
    f = Fraction(v)
    return max(f.numerator.bit_length(), f.denominator.bit_length())


def simplify_pow(b, args, attr):
    x, y = args
    e = b.exact_value(y)
    if e is None:
        return None
    if type(e) is int and abs(e) < 2**63:  # an integer power; a huge one stays a float pow
        return b.node("powi", (x,), e)
    if e == HALF:
        return b.op("sqrt", x)
    if e == -HALF:
        return b.op("rsqrt", x)
    return None
