"""The symbolic NumPy namespace (``import sympile.numpy as snp``): constants and functions.

Elementwise functions are one table, name -> SymPy function, applied with NumPy's
broadcasting by `elementwise`. Each function takes NumPy's positional arguments; a keyword
NumPy has and sympile does not support (``out=``, ``where=``, ``dtype=``, ...) raises an
`UnsupportedFunctionError` naming it rather than being ignored.

Where a textbook formula is poor in floating point, the SymPy form chosen lowers to the
accurate op: ``expm1(x)`` is ``exp(x) - 1`` and ``log1p(x)`` is ``log(1 + x)``, which
lowering turns into ``expm1``/``log1p``; ``logaddexp`` picks the branch that cannot overflow.
"""

from __future__ import annotations

import builtins
import operator
import string
from collections import Counter
from typing import Any

import numpy as np
import sympy as sp
from sympy.logic.boolalg import Boolean

from .._core.errors import ShapeError, SympileError, UnsupportedFunctionError
from .symbolic_array import (
    SymbolicArray,
    _frozen,
    _operand,
    add_all,
    as_object_array,
    elementwise,
    lazy,
    matmul_entries,
    reduce_entries,
    tensordot,
)
from .symbolic_array import floor_divide as _floor_divide
from .symbolic_array import power as _power

# -- constants (SymPy's exact ones: they lower to full-precision literals) --------------------
pi = sp.pi
e = sp.E
euler_gamma = sp.EulerGamma
inf = sp.oo
nan = sp.nan
newaxis = None


def _reject(name: str, kwargs: dict) -> None:
    if kwargs:
        listing = ", ".join(f"{k}=" for k in sorted(kwargs))
        raise UnsupportedFunctionError(
            f"sympile.numpy.{name} does not support the keyword argument(s) {listing}; "
            "symbolic arrays are immutable (no out=) and their entries are exact: drop the argument"
        )


# -- elementwise functions -----------------------------------------------------------------------


def _truth(v):
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


def _where(c, x, y):
    c = _truth(c)
    if c is sp.true or c is sp.false:
        return x if c is sp.true else y
    # Unevaluated, so that a run-time test such as isnan(x) (x != x) is kept.
    return sp.Piecewise((x, c), (y, True), evaluate=False)


_INF = (sp.oo, -sp.oo, sp.zoo)

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
    "square": lambda x: _power(x, 2),
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
    "logical_not": lambda x: lazy(sp.Not)(_truth(x)),
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

BINARY = {
    "add": operator.add,
    "subtract": operator.sub,
    "multiply": operator.mul,
    "divide": operator.truediv,
    "true_divide": operator.truediv,
    "floor_divide": _floor_divide,
    "mod": lazy(sp.Mod),
    "remainder": lazy(sp.Mod),
    "power": _power,
    "arctan2": lazy(sp.atan2),
    "maximum": lazy(sp.Max),
    "minimum": lazy(sp.Min),
    "hypot": _hypot,
    "logaddexp": _logaddexp,
    "logical_and": lambda x, y: lazy(sp.And)(_truth(x), _truth(y)),
    "logical_or": lambda x, y: lazy(sp.Or)(_truth(x), _truth(y)),
    "logical_xor": lambda x, y: lazy(sp.Xor)(_truth(x), _truth(y)),
    "less": lazy(sp.Lt),
    "less_equal": lazy(sp.Le),
    "greater": lazy(sp.Gt),
    "greater_equal": lazy(sp.Ge),
    "equal": lazy(sp.Eq),
    "not_equal": lazy(sp.Ne),
}


def _numpy_function(name: str, fn, nin: int):
    apply = elementwise(fn, nin, name)

    def function(*args, **kwargs):
        _reject(name, kwargs)
        if len(args) != nin:
            raise SympileError(f"sympile.numpy.{name} takes {nin} argument(s), got {len(args)}")
        return apply(*args)

    function.__name__ = function.__qualname__ = name
    function.__doc__ = f"Symbolic ``numpy.{name}``: elementwise, with NumPy's broadcasting."
    return function


_FUNCTIONS = {name: _numpy_function(name, fn, 1) for name, fn in UNARY.items()}
_FUNCTIONS.update({name: _numpy_function(name, fn, 2) for name, fn in BINARY.items()})

exp, expm1, log, log2, log10, log1p = (_FUNCTIONS[n] for n in ("exp", "expm1", "log", "log2", "log10", "log1p"))
sin, cos, tan, arcsin, arccos, arctan = (_FUNCTIONS[n] for n in ("sin", "cos", "tan", "arcsin", "arccos", "arctan"))
sinh, cosh, tanh = _FUNCTIONS["sinh"], _FUNCTIONS["cosh"], _FUNCTIONS["tanh"]
arcsinh, arccosh, arctanh = _FUNCTIONS["arcsinh"], _FUNCTIONS["arccosh"], _FUNCTIONS["arctanh"]
ceil, floor, sqrt, cbrt, square = (_FUNCTIONS[n] for n in ("ceil", "floor", "sqrt", "cbrt", "square"))
abs, absolute, fabs, sign = _FUNCTIONS["abs"], _FUNCTIONS["absolute"], _FUNCTIONS["fabs"], _FUNCTIONS["sign"]
negative, positive = _FUNCTIONS["negative"], _FUNCTIONS["positive"]
conj, conjugate, real, imag = _FUNCTIONS["conj"], _FUNCTIONS["conjugate"], _FUNCTIONS["real"], _FUNCTIONS["imag"]
logical_not, logical_and = _FUNCTIONS["logical_not"], _FUNCTIONS["logical_and"]
logical_or, logical_xor = _FUNCTIONS["logical_or"], _FUNCTIONS["logical_xor"]
isinf, isposinf, isneginf = _FUNCTIONS["isinf"], _FUNCTIONS["isposinf"], _FUNCTIONS["isneginf"]
isnan, isfinite, isreal, iscomplex = (_FUNCTIONS[n] for n in ("isnan", "isfinite", "isreal", "iscomplex"))
arctan2, maximum, minimum = _FUNCTIONS["arctan2"], _FUNCTIONS["maximum"], _FUNCTIONS["minimum"]
add, subtract, multiply, divide = (_FUNCTIONS[n] for n in ("add", "subtract", "multiply", "divide"))
true_divide, floor_divide, mod, remainder = (_FUNCTIONS[n] for n in ("true_divide", "floor_divide", "mod", "remainder"))
power, hypot, logaddexp = _FUNCTIONS["power"], _FUNCTIONS["hypot"], _FUNCTIONS["logaddexp"]
less, less_equal, greater, greater_equal = (_FUNCTIONS[n] for n in ("less", "less_equal", "greater", "greater_equal"))
equal, not_equal = _FUNCTIONS["equal"], _FUNCTIONS["not_equal"]

_WHERE = elementwise(_where, 3, "where")


def where(condition, x, y, **kwargs) -> Any:
    """Symbolic ``numpy.where(condition, x, y)``: a ``Piecewise`` per entry (three arguments only).

    Example:
        >>> import sympile.numpy as snp
        >>> from sympile import named_array
        >>> x = named_array("x", 2)
        >>> snp.where(x > 0, x, 0)[0]
        Piecewise((x[0], x[0] > 0), (0, True))
    """
    _reject("where", kwargs)
    return _WHERE(condition, x, y)


def angle(z, deg: bool = False, **kwargs) -> Any:
    """Symbolic ``numpy.angle``: the argument of a complex number (in degrees with ``deg=True``)."""
    _reject("angle", kwargs)
    scale = 180 / sp.pi if deg else 1
    return elementwise(lambda v: sp.arg(v) * scale, 1, "angle")(z)


# -- making arrays ---------------------------------------------------------------------------


def _is_symbolic(obj) -> bool:
    stack = [obj]
    while stack:
        o = stack.pop()
        if isinstance(o, (SymbolicArray, sp.Basic)):
            return True
        if isinstance(o, np.ndarray) and o.dtype == object:
            stack.extend(o.ravel().tolist())
        elif isinstance(o, (list, tuple)):
            stack.extend(o)
    return False


def array(object_, dtype=None, **kwargs) -> Any:
    """Symbolic ``numpy.array``: a `SymbolicArray` when ``object_`` holds SymPy expressions, else NumPy's array.

    Example:
        >>> import sympile.numpy as snp
        >>> from sympile import named_array
        >>> x = named_array("x", 2)
        >>> snp.array([x[0] * 2, 1]).shape
        (2,)
    """
    _reject("array", kwargs)
    if _is_symbolic(object_):
        return SymbolicArray(object_, dtype=dtype)
    return np.array(object_, dtype=dtype)


asarray = array


def _constant(shape, value, dtype) -> SymbolicArray:
    from .symbolic_array import _shape

    shape = _shape(shape)
    data = np.empty(shape, dtype=object)
    data.fill(as_object_array(value)[()])
    return SymbolicArray._from_data(_frozen(data), None if dtype is None else np.dtype(dtype))


def zeros(shape, dtype=None, **kwargs) -> SymbolicArray:
    """A `SymbolicArray` of exact zeros."""
    _reject("zeros", kwargs)
    return _constant(shape, 0, dtype)


def ones(shape, dtype=None, **kwargs) -> SymbolicArray:
    """A `SymbolicArray` of exact ones."""
    _reject("ones", kwargs)
    return _constant(shape, 1, dtype)


def full(shape, fill_value, dtype=None, **kwargs) -> SymbolicArray:
    """A `SymbolicArray` with every entry ``fill_value`` (a number or an expression)."""
    _reject("full", kwargs)
    return _constant(shape, fill_value, dtype)


def _shape_of(a) -> tuple:
    return as_object_array(a).shape if not hasattr(a, "shape") else tuple(a.shape)


def zeros_like(a, dtype=None, **kwargs) -> SymbolicArray:
    _reject("zeros_like", kwargs)
    return _constant(_shape_of(a), 0, dtype)


def ones_like(a, dtype=None, **kwargs) -> SymbolicArray:
    _reject("ones_like", kwargs)
    return _constant(_shape_of(a), 1, dtype)


def full_like(a, fill_value, dtype=None, **kwargs) -> SymbolicArray:
    _reject("full_like", kwargs)
    return _constant(_shape_of(a), fill_value, dtype)


def eye(N: int, M: int | None = None, k: int = 0, dtype=None, **kwargs) -> SymbolicArray:
    """A `SymbolicArray` with exact ones on the ``k``-th diagonal."""
    _reject("eye", kwargs)
    M = N if M is None else M
    data = np.empty((N, M), dtype=object)
    one, zero = sp.Integer(1), sp.Integer(0)
    for i in range(N):
        for j in range(M):
            data[i, j] = one if j - i == k else zero
    return SymbolicArray._from_data(_frozen(data), None if dtype is None else np.dtype(dtype))


def identity(n: int, dtype=None, **kwargs) -> SymbolicArray:
    _reject("identity", kwargs)
    return eye(n, dtype=dtype)


# -- reductions and products ---------------------------------------------------------------------


def _as_array(a) -> SymbolicArray:
    return a if isinstance(a, SymbolicArray) else SymbolicArray(a)


def sum(a, axis=None, keepdims: bool = False, **kwargs) -> Any:
    """Symbolic ``numpy.sum``: one n-ary SymPy ``Add`` per result entry."""
    _reject("sum", kwargs)
    return _as_array(a).sum(axis, keepdims)


def prod(a, axis=None, keepdims: bool = False, **kwargs) -> Any:
    """Symbolic ``numpy.prod``."""
    _reject("prod", kwargs)
    return _as_array(a).prod(axis, keepdims)


def mean(a, axis=None, keepdims: bool = False, **kwargs) -> Any:
    """Symbolic ``numpy.mean``."""
    _reject("mean", kwargs)
    return _as_array(a).mean(axis, keepdims)


def _result(data: np.ndarray) -> Any:
    return data[()] if data.ndim == 0 else SymbolicArray._from_data(data)


def matmul(a, b, **kwargs) -> Any:
    """Symbolic ``numpy.matmul`` (``a @ b``), with 1-D promotion and broadcast batch dimensions."""
    _reject("matmul", kwargs)
    return _result(matmul_entries(_operand(a)[0], _operand(b)[0]))


def dot(a, b, **kwargs) -> Any:
    """Symbolic ``numpy.dot``: the last axis of ``a`` against the second-to-last of ``b``."""
    _reject("dot", kwargs)
    da, db = _operand(a)[0], _operand(b)[0]
    if da.ndim == 0 or db.ndim == 0:
        return multiply(a, b)
    return _result(tensordot(da, db, da.ndim - 1, 0 if db.ndim == 1 else db.ndim - 2))


def outer(a, b, **kwargs) -> SymbolicArray:
    """Symbolic ``numpy.outer`` of the flattened arguments."""
    _reject("outer", kwargs)
    da, db = _operand(a)[0].ravel(), _operand(b)[0].ravel()
    return multiply(SymbolicArray._from_data(da[:, None]), SymbolicArray._from_data(db[None, :]))


def trace(a, offset: int = 0, axis1: int = 0, axis2: int = 1, **kwargs) -> Any:
    """Symbolic ``numpy.trace``."""
    _reject("trace", kwargs)
    data = _operand(a)[0]
    if data.ndim < 2:
        raise ShapeError(f"trace needs an array of at least 2 dimensions, got shape {data.shape}")
    diagonal = np.diagonal(data, offset, axis1, axis2)
    return _result(reduce_entries(diagonal, -1, False, add_all, "trace"))


def diag(v, k: int = 0, **kwargs) -> SymbolicArray:
    """Symbolic ``numpy.diag``: the ``k``-th diagonal of a 2-D array, or a 2-D array with ``v`` on it."""
    _reject("diag", kwargs)
    data = _operand(v)[0]
    if data.ndim == 2:
        return SymbolicArray._from_data(_frozen(np.diagonal(data, k).copy()))
    if data.ndim != 1:
        raise ShapeError(f"diag needs a 1-D or 2-D array, got shape {data.shape}")
    n = data.shape[0] + builtins.abs(k)
    out = np.empty((n, n), dtype=object)
    out.fill(sp.Integer(0))
    for i, entry in enumerate(data.tolist()):
        out[i - min(k, 0), i + max(k, 0)] = entry
    return SymbolicArray._from_data(_frozen(out))


def einsum(subscripts: str, *operands, **kwargs) -> Any:
    """Symbolic ``numpy.einsum`` with explicit (``"ij,jk->ik"``) or implicit subscripts and ``...``.

    Example:
        >>> import sympile.numpy as snp
        >>> from sympile import named_array
        >>> a = named_array("a", (2, 2))
        >>> snp.einsum("ii", a)
        a[0, 0] + a[1, 1]
    """
    _reject("einsum", kwargs)
    if not isinstance(subscripts, str):
        raise SympileError("einsum: give the subscripts as a string (the interleaved form is not supported)")
    datas = [_operand(o)[0] for o in operands]
    spec = subscripts.replace(" ", "")
    inputs, _, output = spec.partition("->")
    explicit = "->" in spec
    terms = inputs.split(",")
    if len(terms) != len(datas):
        raise ShapeError(f"einsum: the subscripts name {len(terms)} operand(s) but {len(datas)} were given")
    for c in spec:
        if not (c.isalpha() or c in ",.->"):
            raise SympileError(f"einsum: invalid character {c!r} in the subscripts {subscripts!r}")
    pool = [c for c in string.ascii_letters if c not in spec]
    n_ell = builtins.max([d.ndim - (len(t) - 3) for t, d in zip(terms, datas) if "..." in t], default=0)
    ell = "".join(pool[:n_ell])
    expanded = []
    for k, (t, d) in enumerate(zip(terms, datas)):
        if "..." in t:
            n = d.ndim - (len(t) - 3)
            if n < 0:
                raise ShapeError(f"einsum: operand {k} has {d.ndim} dimension(s), fewer than {t!r} names")
            t = t.replace("...", ell[n_ell - n :])
        if len(t) != d.ndim:
            raise ShapeError(f"einsum: operand {k} has {d.ndim} dimension(s) but its subscripts {t!r} name {len(t)}")
        expanded.append(t)
    if explicit:
        out = output.replace("...", ell)
    else:
        counts = Counter("".join(expanded))
        out = ell + "".join(sorted(c for c in counts if counts[c] == 1 and c not in ell))
    if len(set(out)) != len(out) or any(c not in "".join(expanded) for c in out):
        raise ShapeError(f"einsum: bad output subscripts {output!r}")
    order = list(out) + sorted({c for t in expanded for c in t} - set(out))
    full = None
    for t, d in zip(expanded, datas):
        t = list(t)
        while len(set(t)) != len(t):  # a repeated index: take that diagonal
            c = next(c for c in t if t.count(c) > 1)
            i = t.index(c)
            j = t.index(c, i + 1)
            d = np.diagonal(d, axis1=i, axis2=j)
            t = [x for p, x in enumerate(t) if p not in (i, j)] + [c]
        perm = sorted(range(len(t)), key=lambda p: order.index(t[p]))
        d = np.transpose(d, perm)
        t = [t[p] for p in perm]
        d = d.reshape([d.shape[t.index(c)] if c in t else 1 for c in order])
        if full is None:
            full = d
        else:
            try:
                full = np.asarray(np.frompyfunc(operator.mul, 2, 1)(full, d), dtype=object)
            except ValueError:
                raise ShapeError(f"einsum: the operands' dimensions do not match for {subscripts!r}") from None
    summed = tuple(range(len(out), len(order)))
    if summed:
        full = reduce_entries(full, summed, False, add_all, "einsum")
    return _result(_frozen(np.asarray(full, dtype=object)))


# -- joining and reshaping -------------------------------------------------------------------------


def concatenate(arrays, axis: int | None = 0, **kwargs) -> SymbolicArray:
    """Symbolic ``numpy.concatenate`` (``axis=None`` joins the flattened arrays)."""
    _reject("concatenate", kwargs)
    datas = [_operand(a)[0] for a in arrays]
    if axis is None:
        datas = [d.ravel() for d in datas]
        axis = 0
    try:
        return SymbolicArray._from_data(_frozen(np.concatenate(datas, axis=axis)))
    except (ValueError, np.exceptions.AxisError) as e:
        raise ShapeError(f"concatenate: {e}") from None


def stack(arrays, axis: int = 0, **kwargs) -> SymbolicArray:
    """Symbolic ``numpy.stack``: join arrays of one shape along a new axis."""
    _reject("stack", kwargs)
    try:
        return SymbolicArray._from_data(_frozen(np.stack([_operand(a)[0] for a in arrays], axis=axis)))
    except (ValueError, np.exceptions.AxisError) as e:
        raise ShapeError(f"stack: {e}") from None


def reshape(a, shape, **kwargs) -> SymbolicArray:
    _reject("reshape", kwargs)
    return _as_array(a).reshape(shape)


def transpose(a, axes=None, **kwargs) -> SymbolicArray:
    _reject("transpose", kwargs)
    return _as_array(a).transpose(axes)


#: NumPy ufunc name -> its symbolic version, for ``numpy.exp(symbolic_array)`` and friends.
UFUNCS = {**_FUNCTIONS, "matmul": matmul}

__all__ = [
    "pi",
    "e",
    "euler_gamma",
    "inf",
    "nan",
    "newaxis",
    *_FUNCTIONS,
    "where",
    "angle",
    "array",
    "asarray",
    "zeros",
    "ones",
    "full",
    "zeros_like",
    "ones_like",
    "full_like",
    "eye",
    "identity",
    "sum",
    "prod",
    "mean",
    "matmul",
    "dot",
    "outer",
    "trace",
    "diag",
    "einsum",
    "concatenate",
    "stack",
    "reshape",
    "transpose",
]
