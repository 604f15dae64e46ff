"""NumPy's elementwise functions on SymPy scalars: one table, NumPy name -> SymPy function.

`SymbolicArray` applies each entry by entry with NumPy's broadcasting, for its operators
and for ``numpy.exp(array)`` and friends; `sympile.numpy` offers each under its NumPy name.

Where a textbook formula is poor in floating point, the SymPy form chosen lowers to the
accurate op: ``expm1(x)`` is ``exp(x) - 1`` and ``log1p(x)`` is ``log(1 + x)``, which
lowering turns into ``expm1``/``log1p``; ``logaddexp`` picks the branch that cannot overflow.
"""

from __future__ import annotations

import operator

import sympy as sp
from sympy.logic.boolalg import Boolean, BooleanAtom


def lazy(fn):
    """``fn`` (a SymPy function or relation) evaluated now for numbers and truth values only.

    SymPy's automatic evaluation of a function of a symbolic argument asks the assumption
    system many questions (``exp`` of a 10-term sum: ~25 ms, ``Max``: ~60 ms); a traced
    function does not need the answers, and the graph simplifies what matters. Logic of
    ``true``/``false`` is always evaluated, even while a trace turns SymPy's evaluation off:
    an unevaluated ``Not(true)`` is a SymPy object, and Python's ``bool`` of it is True.
    """

    def apply(*args):
        if all(isinstance(a, BooleanAtom) for a in args):
            return fn(*args, evaluate=True)
        if all(getattr(a, "is_number", True) or isinstance(a, BooleanAtom) for a in args):
            return fn(*args)
        return fn(*args, evaluate=False)

    return apply


def floor_divide(a, b):
    # NumPy's floor_divide: the whole number of times b goes into a, rounded from the exact
    # remainder (1.0 // 0.1 is 9.0; floor(1.0 / 0.1) would be 10).
    if getattr(a, "is_number", True) and getattr(b, "is_number", True):
        if (a.is_Float or b.is_Float) and a.is_real and b.is_real and b != 0:
            return sp.Float(float(a) // float(b))  # Python's float // is NumPy's
        return sp.floor(a / b)  # exact
    if _cancels(a, b):
        return sp.floor(a / b)  # x // x is 1, as SymPy (and SymNum) write it
    whole = lazy(sp.floor)((a - lazy(sp.Mod)(a, b)) / b + sp.S.Half)
    return sp.Piecewise((a / b, lazy(sp.Eq)(b, 0)), (whole, True), evaluate=False)


def _cancels(a, b) -> bool:
    """Whether the symbols of ``a / b`` cancel (SymPy's ``x / x`` is 1). While a function is
    traced SymPy does not evaluate, so this is structural and cheap there."""
    return bool((a / b).is_number)


def mod(a, b):
    """NumPy's ``mod``: SymPy's ``Mod``, evaluated for numbers and where the symbols cancel (``x % x`` is 0)."""
    if (getattr(a, "is_number", True) and getattr(b, "is_number", True)) or _cancels(a, b):
        return sp.Mod(a, b)
    return sp.Mod(a, b, evaluate=False)


def power(a, b):
    if getattr(a, "is_number", True) and getattr(b, "is_number", True):
        return a**b
    # Evaluating ``(sum of terms)**2`` asks the assumption system about every term (~1 ms);
    # the graph needs only the structure.
    return sp.Pow(a, b, evaluate=False)


def truth(v):
    """NumPy's truth of a value: a condition as it is, a number compared with zero."""
    return v if isinstance(v, Boolean) else sp.Ne(v, 0)


def _unless_number(number_test, symbolic):
    """A predicate decided now for numbers, and at run time (an unevaluated comparison) otherwise."""

    def predicate(x):
        if x.is_number:
            return sp.true if number_test(x) else sp.false
        return symbolic(x)

    return predicate


def _cbrt(x):
    return lazy(sp.sign)(x) * lazy(sp.Abs)(x) ** sp.Rational(1, 3)  # real cube root, as NumPy's


def _logaddexp(x, y):
    # Each branch is exactly log(e^x + e^y), so its derivative is right everywhere (0.5, 0.5
    # at a tie); the select keeps the exponential that cannot overflow. Equal infinities
    # come first (inf - inf would be NaN).
    log1p, exp = lazy(sp.log), lazy(sp.exp)
    return sp.Piecewise(
        (x, lazy(sp.And)(lazy(sp.Eq)(x, y), lazy(sp.Eq)(lazy(sp.Abs)(x), sp.oo))),
        (x + log1p(1 + exp(y - x)), lazy(sp.Ge)(x, y)),
        (y + log1p(1 + exp(x - y)), True),
        evaluate=False,
    )


def _hypot(x, y):
    # Scaled so that neither x**2 nor y**2 overflows or underflows; each branch is exactly
    # hypot, so derivatives are right (1/sqrt(2) at a tie). NaN selects no branch: NaN.
    a, b = lazy(sp.Abs)(x), lazy(sp.Abs)(y)
    square = lambda r: sp.Pow(r, 2, evaluate=False)  # SymPy would write (b/a)**2 as b**2/a**2
    ge, gt, eq, both = lazy(sp.Ge), lazy(sp.Gt), lazy(sp.Eq), lazy(sp.And)
    return sp.Piecewise(
        (a, eq(a, sp.oo)),
        (b, eq(b, sp.oo)),
        (a * sp.sqrt(1 + square(b / a)), both(ge(a, b), gt(a, 0))),
        (b * sp.sqrt(1 + square(a / b)), gt(b, a)),
        (0, eq(a + b, 0)),
        evaluate=False,
    )


def angle(z):
    """NumPy's ``angle``: the argument of ``z``, 0 at 0 (SymPy's ``arg(0)`` is nan)."""
    if getattr(z, "is_number", False) and z.is_zero:
        return sp.Integer(0)
    return lazy(sp.arg)(z)


def structural(compare):
    """Python's ``==``/``!=`` of two entries as a SymPy truth value: SymNum's array ``==``."""
    return lambda a, b: sp.true if compare(a, b) else sp.false


def select(c, x, y):
    """NumPy's ``where`` on one entry: ``x`` where ``c`` is true, else ``y``."""
    c = truth(c)
    if c is sp.true or c is sp.false:
        return x if c is sp.true else y
    # Unevaluated, so that a run-time test such as isnan(x) (x != x) is kept.
    return sp.Piecewise((x, c), (y, True), evaluate=False)


_INF = (sp.oo, -sp.oo, sp.zoo)

#: NumPy's one-argument elementwise functions.
UNARY = {
    "exp": lazy(sp.exp),
    "expm1": lambda x: lazy(sp.exp)(x) - 1,
    "log": lazy(sp.log),
    "log2": lambda x: lazy(sp.log)(x) / sp.log(2),
    "log10": lambda x: lazy(sp.log)(x) / sp.log(10),
    "log1p": lambda x: lazy(sp.log)(1 + x),
    "sin": lazy(sp.sin),
    "cos": lazy(sp.cos),
    "tan": lazy(sp.tan),
    "arcsin": lazy(sp.asin),
    "arccos": lazy(sp.acos),
    "arctan": lazy(sp.atan),
    "sinh": lazy(sp.sinh),
    "cosh": lazy(sp.cosh),
    "tanh": lazy(sp.tanh),
    "arcsinh": lazy(sp.asinh),
    "arccosh": lazy(sp.acosh),
    "arctanh": lazy(sp.atanh),
    "ceil": lazy(sp.ceiling),
    "floor": lazy(sp.floor),
    "sqrt": sp.sqrt,
    "cbrt": _cbrt,
    "square": lambda x: power(x, 2),
    "abs": lazy(sp.Abs),
    "absolute": lazy(sp.Abs),
    "fabs": lazy(sp.Abs),
    "sign": lazy(sp.sign),
    "negative": operator.neg,
    "positive": lambda x: x,
    "conj": sp.conjugate,
    "conjugate": sp.conjugate,
    "real": sp.re,
    "imag": sp.im,
    "angle": angle,
    "logical_not": lambda x: lazy(sp.Not)(truth(x)),
    "isinf": _unless_number(lambda x: x in _INF, lambda x: sp.Eq(sp.Abs(x), sp.oo, evaluate=False)),
    "isposinf": _unless_number(lambda x: x == sp.oo, lambda x: sp.Eq(x, sp.oo, evaluate=False)),
    "isneginf": _unless_number(lambda x: x == -sp.oo, lambda x: sp.Eq(x, -sp.oo, evaluate=False)),
    "isnan": _unless_number(lambda x: x is sp.nan, lambda x: sp.Ne(x, x, evaluate=False)),
    "isfinite": _unless_number(
        lambda x: x not in _INF and x is not sp.nan, lambda x: sp.Lt(sp.Abs(x), sp.oo, evaluate=False)
    ),
    "isreal": lambda x: sp.Eq(sp.im(x), 0),
    "iscomplex": lambda x: sp.Ne(sp.im(x), 0),
}

#: NumPy's two-argument elementwise functions.
BINARY = {
    "add": operator.add,
    "subtract": operator.sub,
    "multiply": operator.mul,
    "divide": operator.truediv,
    "true_divide": operator.truediv,
    "floor_divide": floor_divide,
    "mod": mod,
    "remainder": mod,
    "power": power,
    "arctan2": lazy(sp.atan2),
    "maximum": lazy(sp.Max),
    "minimum": lazy(sp.Min),
    "hypot": _hypot,
    "logaddexp": _logaddexp,
    "logical_and": lambda x, y: lazy(sp.And)(truth(x), truth(y)),
    "logical_or": lambda x, y: lazy(sp.Or)(truth(x), truth(y)),
    "logical_xor": lambda x, y: lazy(sp.Xor)(truth(x), truth(y)),
    "less": lazy(sp.Lt),
    "less_equal": lazy(sp.Le),
    "greater": lazy(sp.Gt),
    "greater_equal": lazy(sp.Ge),
    "equal": lazy(sp.Eq),
    "not_equal": lazy(sp.Ne),
}

#: ``==`` and ``!=`` of symbolic arrays (and ``numpy.equal``/``not_equal`` of them): whether two
#: entries are the same expression, as SymNum's arrays compare. ``equal``/``not_equal`` above
#: compare values at run time.
STRUCTURAL = {"equal": structural(operator.eq), "not_equal": structural(operator.ne)}

__all__ = ["UNARY", "BINARY", "STRUCTURAL", "lazy", "power", "floor_divide", "select", "angle", "truth"]
