"""`hide_floats`: every Float of an expression wrapped in ``UnevaluatedExpr``, to freeze it."""

from __future__ import annotations

from typing import TypeVar

import sympy as sp

E = TypeVar("E")


def hide_floats(expression: E) -> E:
    """The same expression with every ``Float`` wrapped in ``sympy.UnevaluatedExpr``.

    A module (`sympile.torch.SymPyModule`, ...) makes each ``Float`` a trainable parameter
    and each wrapped one a frozen buffer, so ``hide_floats`` freezes them all. Floats already
    wrapped stay as they are, and the arguments keep their order, so the frozen floats are
    numbered as the original's floats are. Works on a Matrix too, entry by entry, and on
    expressions of any depth (the walk does not recurse, and rebuilt nodes are not
    re-evaluated).

    Example:
        >>> import sympy as sp
        >>> x = sp.Symbol("x")
        >>> e = hide_floats(2.5 * sp.sin(0.5 * x) + 1)
        >>> e.atoms(sp.UnevaluatedExpr) == {sp.UnevaluatedExpr(sp.Float(2.5)), sp.UnevaluatedExpr(sp.Float(0.5))}
        True
    """
    if isinstance(expression, sp.MatrixBase):
        return expression.applyfunc(hide_floats)
    if not isinstance(expression, sp.Basic):
        return expression
    memo: dict = {}
    stack = [(expression, False)]
    while stack:
        e, expanded = stack.pop()
        if e in memo:
            continue
        if e.is_Float:
            memo[e] = sp.UnevaluatedExpr(e)
        elif not e.args or (type(e) is sp.UnevaluatedExpr and e.args[0].is_Float):
            memo[e] = e
        elif not expanded:
            stack.append((e, True))
            stack.extend((a, False) for a in e.args if a not in memo)
        else:
            args = [memo[a] for a in e.args]
            changed = any(a is not b for a, b in zip(args, e.args))
            memo[e] = _rebuild(e, args) if changed else e
    return memo[expression]


def _rebuild(e, args):
    # Not re-evaluated: Min/Max would compare the wrapped floats and could drop an argument,
    # and evaluating every level of a deep expression would recurse through it.
    try:
        return e.func(*args, evaluate=False)
    except TypeError:  # a class without the option (ExprCondPair, ...)
        return e.func(*args)
