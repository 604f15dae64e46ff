"""Constant folding: every subgraph that depends on no input becomes one literal.

Values come from SymPy at 30 digits and are rounded once, so ``log(3)`` or
``2/sqrt(pi)`` is the correctly rounded float64, and a constant never costs an operation
at run time. A literal is a Python number, so it takes the dtype of the arrays it meets
(NumPy's and PyTorch's weak scalars): float32 inputs stay float32.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from fractions import Fraction

import sympy as sp

from .._core.constants import NAMED_CONSTANTS, const_value
from .._core.graph import VARIABLE, Graph
from .._core.rewrite import memoized, rewrite
from .._core.simplify import EXACT_ARITHMETIC, MAX_EXACT_POWER_BITS


def fold_constants(graph: Graph) -> Graph:
    """The same graph with each input-free subgraph replaced by a literal."""
    nodes = graph.nodes
    variable = [False] * len(nodes)
    for i, n in enumerate(nodes):
        variable[i] = n.op in VARIABLE or any(variable[a] for a in n.args)
    points = set()
    for i, n in enumerate(nodes):
        if variable[i]:
            points.update(a for a in n.args if not variable[a] and nodes[a].args)
    points.update(o for o in graph.outputs if not variable[o] and nodes[o].args)
    if not points:
        return graph
    values = {}
    exact: dict[int, tuple] = {}
    for i in points:  # arithmetic on numbers: exactly, in Python, rounded once
        v = _arithmetic(nodes, i, exact)
        if v is not None:
            values[i] = v
    order = sorted(points - values.keys())
    through_sympy: list[int] = []
    while order:  # the rest through SymPy; pruned: raise only the constant subgraphs
        values.update(zip(order, constant_literals(graph, order)))
        through_sympy += order
        # where SymPy cannot fold a subgraph (loggamma's test of its argument's sign when the
        # argument is complex), its constant parts are folded instead: a complex one then meets the
        # real-only check, as a literal would, rather than being computed in real arithmetic (NaN)
        parts = {a for i in order if values[i] is None for a in nodes[i].args if nodes[a].args}
        order = sorted(parts - values.keys())
    if through_sympy:
        # SymPy makes 0.0 * pi an exact 0, which the Builder would let absorb a NaN (0 * x is 0); a
        # value computed from a float literal stays a float, as in float arithmetic (the exact
        # arithmetic above already rounds such values)
        inexact = [False] * len(nodes)
        for i, n in enumerate(nodes):
            inexact[i] = (n.op == "const" and type(n.attr) is float) or any(inexact[a] for a in n.args)
        for i in through_sympy:
            if inexact[i] and type(values[i]) in (int, Fraction):
                values[i] = float(values[i])

    def rule(b, i, n, args):
        v = values.get(i)
        return None if v is None else b.const(v)

    return rewrite(graph, rule)


#: Ops SymPy evaluates exactly at any size in about linear time (arithmetic, orderings, parts).
EXACT_OPS = frozenset(
    {"add", "sub", "mul", "div", "neg", "powi", "pow", "mod", "abs", "sign", "floor", "ceiling", "frac", "min", "max"}
    | {"lt", "le", "gt", "ge", "eq", "ne"}
)


def _beyond_float(attr) -> bool:
    if type(attr) is int:
        return attr.bit_length() > 1023
    if type(attr) is Fraction:
        f = const_value(attr)
        return f == 0 or math.isinf(f)
    return False


def huge_literals_as_floats(graph: Graph) -> Graph:
    """An exact literal beyond float64's range, in the argument of a function (``sec``, ``sin``,
    ``gamma``, ...), stands for its float value (``inf`` or 0.0), as every literal does at run time
    (`sympile._core.constants.const_value`), and the argument is that of float64 arithmetic:
    constant folding evaluated ``sec(10**400000)`` exactly, reducing by pi to 400,000 digits (34 s;
    the fuzzer's ``10**1240911`` ran for many minutes)."""
    nodes = graph.nodes
    huge = {i for i, n in enumerate(nodes) if n.op == "const" and _beyond_float(n.attr)}
    if not huge:
        return graph
    values: dict[int, float | None] = {}
    reaches: dict[int, bool] = {}

    def arithmetic(i: int) -> Sequence[int]:
        return nodes[i].args if nodes[i].op in _FLOAT_ARITHMETIC else ()

    def value(i: int, args: list):
        """The float64 value of constant node ``i`` if it is exact arithmetic on literals, else None."""
        n = nodes[i]
        if n.op == "const":
            c = const_value(n.attr)
            return float(c) if type(c) in (int, float, Fraction) and type(c) is not bool else None
        if n.op not in _FLOAT_ARITHMETIC or any(a is None for a in args):
            return None
        try:
            return _FLOAT_ARITHMETIC[n.op](*args, n.attr)
        except (ArithmeticError, ValueError):
            return None

    def in_float(i: int):
        return memoized(i, arithmetic, value, values)

    def reaches_huge(i: int) -> bool:
        return memoized(i, arithmetic, lambda j, below: j in huge or any(below), reaches)

    def rule(b, i, n, args):
        if n.op in EXACT_OPS or n.op == "const":
            return None
        swap = {k: in_float(a) for k, a in enumerate(n.args) if reaches_huge(a)}
        swap = {k: v for k, v in swap.items() if v is not None}
        if not swap:
            return None
        new = [b.const(swap[k]) if k in swap else a for k, a in enumerate(args)]
        return b.node(n.op, tuple(new), n.attr)

    return rewrite(graph, rule)


#: Float64 arithmetic on constants, for `huge_literals_as_floats` (``attr``: powi's exponent).
_FLOAT_ARITHMETIC = {
    "add": lambda a, b, attr: a + b,
    "sub": lambda a, b, attr: a - b,
    "mul": lambda a, b, attr: a * b if a and b else 0.0 * a * b,
    "neg": lambda a, attr: -a,
    "div": lambda a, b, attr: a / b if b else math.copysign(math.inf, a) * math.copysign(1.0, b) if a else math.nan,
    "powi": lambda a, attr: a**attr if abs(a) != math.inf or attr > 0 else 0.0,
}


def constant_literals(graph: Graph, order: list[int]) -> list:
    """The literals of the constant subgraphs ``order`` of ``graph`` through SymPy; None for one
    that SymPy cannot build (it evaluates as it builds: loggamma's sign test of ``erfinv(2)**2 + 1``
    asks mpmath for ``erfinv(2)``, which raises ValueError), left to run time (NaN there)."""
    from .._sympy.raising import to_sympy

    try:
        return [_literal(e) for e in to_sympy(graph.with_outputs(order).pruned())]
    except (ArithmeticError, ValueError, TypeError):
        if len(order) == 1:
            return [None]
    return [v for i in order for v in constant_literals(graph, [i])]


def _arithmetic(nodes, root: int, memo: dict[int, tuple]):
    """The literal for a constant subgraph of finite numbers and ``+ - * /`` (None otherwise).

    Python floats are exact binary fractions, so the value is computed exactly with
    `Fraction` and rounded once: the correctly rounded float when any literal was a float,
    else the exact int or Fraction, as SymPy gives them.
    """

    def children(i):
        return nodes[i].args if nodes[i].op in EXACT_ARITHMETIC or nodes[i].op == "powi" else ()

    def compute(i, got):
        n = nodes[i]
        if n.op == "powi":
            return None if None in got else _power(got[0], n.attr)
        if n.op == "const":
            v = n.attr
            if type(v) is float and v - v == 0:
                return (Fraction(v), True)
            return (Fraction(v), False) if type(v) in (int, Fraction) else None
        rule = EXACT_ARITHMETIC.get(n.op)
        if rule is None or None in got:
            return None
        if n.op == "div" and got[1][0] == 0:
            # By a zero that float arithmetic gave (an underflowed power): IEEE's signed inf.
            if type(got[1][0]) is not float or got[0][0] == 0:
                return None
            return (math.copysign(math.inf, got[0][0]) * math.copysign(1.0, got[1][0]), True)
        return (rule(*(g[0] for g in got)), any(g[1] for g in got))

    found = memoized(root, children, compute, memo)
    if found is None:
        return None
    value, inexact = found
    if inexact:
        try:
            return float(value)
        except OverflowError:
            return None
    return int(value) if value.denominator == 1 else value


def _power(base: tuple, n: int) -> tuple | None:
    """``base**n`` for `_arithmetic`: exact while the result has at most `MAX_EXACT_POWER_BITS`
    bits, else its float value (overflowing to inf, underflowing to 0, as the backends' float
    arithmetic would): ``3**(10**9)`` is never computed exactly (nor handed to SymPy, which would)."""
    value, inexact = base
    if value == 0 and n < 0:
        return None
    if type(value) is float:  # already rounded (a power of a power beyond exact arithmetic)
        try:
            return (value**n, True)
        except (OverflowError, ZeroDivisionError):
            return None
    f = Fraction(value)
    if abs(n) * max(f.numerator.bit_length(), f.denominator.bit_length(), 1) <= MAX_EXACT_POWER_BITS:
        return (f**n, inexact)
    try:
        return (float(f) ** n, True)
    except OverflowError:  # float(f) or the power beyond float64
        big = abs(f) > 1 if n > 0 else abs(f) < 1
        sign = -1.0 if f < 0 and n % 2 else 1.0
        return (sign * math.inf if big else sign * 0.0, True)


#: Functions of a constant past float64's range are left to run time (`_reduces_a_huge_argument`):
#: SymPy (mpmath) computes them exactly, with as many digits as the argument has before its point
#: (a periodic function reduces it by pi; gamma's Stirling series takes log(2 pi) that precisely).
#: Beyond float64's range: such an argument is inf at run time.
_HUGE = sp.Integer(2) ** 1024


def _reduces_a_huge_argument(e) -> bool:
    """Whether ``e`` holds a function of a constant beyond float64's range.

    ``sec(exp(exp(14)))`` made SymPy reduce a 522,000-digit number by pi, ``gamma`` of such a
    number compute pi to as many digits (minutes, in one mpmath call that nothing interrupts).
    Such a subgraph is left unfolded: at run time the argument is inf and the function what
    float64 makes of it (NaN, inf), as for any other such argument. Inner functions are looked at
    first, so each argument's magnitude is estimated (to 5 digits) only once its own functions are
    known to be cheap.
    """
    for sub in sp.postorder_traversal(e):
        if isinstance(sub, sp.Function):
            for a in sub.args:
                try:
                    size = abs(sp.N(a, 5))
                except Exception:  # noqa: BLE001 - SymPy cannot estimate it: leave it to run time
                    return True
                if not size.is_Number or size.has(sp.nan, sp.zoo, sp.oo) or size > _HUGE:
                    return True
    return False


def _literal(e):
    """The literal attr for a constant SymPy value, or None to keep the subgraph."""
    if e is sp.true or e is sp.false:
        return bool(e)
    if e.is_Integer:
        return int(e)
    if e.is_Rational:
        return Fraction(int(e.p), int(e.q))
    name = NAMED_CONSTANTS.get(e)
    if name is not None:
        return name
    if _reduces_a_huge_argument(e):
        return None
    try:
        v = sp.N(e, 30)
    except Exception:
        return None
    if not v.is_number or v.has(sp.nan, sp.zoo, sp.oo, -sp.oo):
        return None
    re, im = v.as_real_imag()
    if not (re.is_Number and im.is_Number):
        return None
    return float(re) if im == 0 else complex(float(re), float(im))
