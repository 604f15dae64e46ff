"""`quantise`: round the constants of an expression to a grid."""

from __future__ import annotations

import math
from fractions import Fraction

import sympy as sp

from .._core.errors import SympileError


def quantise(expr, step: float = 0.01, *, tol: float = 1e-9):
    """Round every Float of ``expr`` to the nearest multiple of ``step``.

    What rounds to zero disappears (SymPy drops ``0*x`` and ``x + 0``); a value that lands on
    an integer becomes an ``Integer`` (so ``x**2.0003`` becomes ``x**2``); other values become
    Floats on the grid, written without binary noise (``0.35``, not ``0.35000000000000003``).
    Integers, Rationals and named constants are exact already and are left alone, as are
    non-finite Floats. Floats inside ``UnevaluatedExpr`` are rounded too, and stay wrapped.

    Args:
        expr: a SymPy expression (or a list/tuple of them).
        step: the grid spacing, a positive number.
        tol: how close to an integer (in units of ``step``) counts as an integer.

    Example:
        >>> import sympy as sp
        >>> x, y = sp.symbols("x y")
        >>> quantise(0.99997 * y / (1.00002 + 0.0041 * x + y), 0.01)
        y/(y + 1)
        >>> quantise(2.5004 * x**2.0003 - 0.123 * y, 0.05)
        2.5*x**2 - 0.1*y
    """
    if isinstance(expr, (list, tuple)):
        return type(expr)(quantise(e, step, tol=tol) for e in expr)
    try:
        step_f = float(step)
    except (TypeError, ValueError):
        raise SympileError(f"step must be a positive number, got {step!r}") from None
    if not math.isfinite(step_f) or step_f <= 0:
        raise SympileError(f"step must be a positive number, got {step!r}")
    if not isinstance(expr, sp.Basic):
        raise SympileError(f"quantise takes a SymPy expression, got {type(expr).__name__}")
    grid = Fraction(str(step_f))  # 0.01 as 1/100 exactly: multiples print cleanly
    decimals = max(0, -math.floor(math.log10(step_f)) + 1) if step_f < 1 else 0
    replacements = {}
    for f in expr.atoms(sp.Float):
        v = float(f)
        if not math.isfinite(v):
            continue
        k = int(math.copysign(math.floor(abs(v) / step_f + 0.5), v))  # ties away from zero
        q = grid * k
        if q.denominator == 1 or abs(float(q) - round(float(q))) <= tol * step_f:
            replacements[f] = sp.Integer(round(float(q)))
        else:
            replacements[f] = sp.Float(round(float(q), decimals + 6), max(15, decimals + 2))
    return expr.xreplace(replacements)


quantize = quantise
