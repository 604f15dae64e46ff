"""The symbolic NumPy namespace (``import sympile.numpy as snp``): constants and functions.

Elementwise functions are one table (`ufuncs`), name -> SymPy function, applied with
NumPy's broadcasting (`symbolic_array.ELEMENTWISE`). Each function takes NumPy's positional
arguments; a keyword NumPy has and sympile does not support (``out=``, ``where=``,
``dtype=``, ...) raises an `UnsupportedFunctionError` naming it rather than being ignored.

A function whose arguments hold NumPy arrays or scalars of numbers and no SymPy objects is
NumPy's own (`numbers_to_numpy`): it returns NumPy's value, as SymNum's ``sum`` does. Python
numbers alone stay exact (``snp.exp(1)`` is ``E``); the array makers (``zeros``, ``eye``,
...) always make symbolic arrays of exact entries.
"""

from __future__ import annotations

import builtins
import functools
import operator
import string
from collections import Counter
from collections.abc import Callable
from typing import Any

import numpy as np
import sympy as sp

from .._core.errors import ShapeError, SympileError, UnsupportedFunctionError
from .entries import as_shape, frozen
from .reductions import add_all, reduce_entries
from .symbolic_array import ELEMENTWISE, SymbolicArray, as_object_array, as_result, elementwise, operand
from .symbolic_array import dot as _dot
from .symbolic_array import matmul as _matmul
from .symbolic_array import trace as _trace
from .ufuncs import BINARY, UNARY, select

# -- constants (SymPy's exact ones: they lower to full-precision literals) --------------------
pi = sp.pi
e = sp.E
euler_gamma = sp.EulerGamma
inf = sp.oo
nan = sp.nan
newaxis = None
# SymNum's other spellings (NumPy 1's aliases)
Inf = Infinity = PINF = infty = sp.oo
NaN = NAN = sp.nan
NINF = -sp.oo


def _reject(name: str, kwargs: dict) -> None:
    if kwargs:
        listing = ", ".join(f"{k}=" for k in sorted(kwargs))
        raise UnsupportedFunctionError(
            f"sympile.numpy.{name} does not support the keyword argument(s) {listing}; "
            "symbolic arrays are immutable (no out=) and their entries are exact: drop the argument"
        )


def _holds_numpy_numbers(args) -> bool:
    """Whether ``args`` (nested in lists and tuples) hold a NumPy array or scalar of numbers and nothing symbolic."""
    found = False
    stack = list(args)
    while stack:
        o = stack.pop()
        if isinstance(o, (SymbolicArray, sp.Basic, sp.MatrixBase, sp.NDimArray)):
            return False
        if isinstance(o, np.ndarray):
            if o.dtype == object:
                return False
            found = True
        elif isinstance(o, np.generic):
            found = True
        elif isinstance(o, (list, tuple)):
            stack.extend(o)
    return found


def numbers_to_numpy(numpy_function: Callable) -> Callable:
    """Decorate a `sympile.numpy` function: called with NumPy numbers and nothing symbolic, it is
    ``numpy_function`` (NumPy computes the value, with NumPy's keywords)."""

    def decorate(function: Callable) -> Callable:
        @functools.wraps(function)
        def dispatch(*args, **kwargs):
            if _holds_numpy_numbers((*args, *kwargs.values())):
                return numpy_function(*args, **kwargs)
            return function(*args, **kwargs)

        return dispatch

    return decorate


# -- elementwise functions -----------------------------------------------------------------------


def _numpy_function(name: str, nin: int):
    apply = ELEMENTWISE[name]

    @numbers_to_numpy(getattr(np, name))
    def function(*args, **kwargs):
        _reject(name, kwargs)
        if len(args) != nin:
            raise SympileError(f"sympile.numpy.{name} takes {nin} argument(s), got {len(args)}")
        return apply(*args)

    function.__name__ = function.__qualname__ = name
    function.__doc__ = f"Symbolic ``numpy.{name}``: elementwise, with NumPy's broadcasting."
    return function


_FUNCTIONS = {name: _numpy_function(name, 1) for name in UNARY if name != "angle"}
_FUNCTIONS.update({name: _numpy_function(name, 2) for name in BINARY})

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

_WHERE = elementwise(select, 3, "where")


@numbers_to_numpy(np.where)
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


@numbers_to_numpy(np.angle)
def angle(z, deg: bool = False, **kwargs) -> Any:
    """Symbolic ``numpy.angle``: the argument of a complex number (in degrees with ``deg=True``); 0 at 0."""
    _reject("angle", kwargs)
    radians = ELEMENTWISE["angle"](z)
    return radians * (180 / sp.pi) if deg else radians


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

    As SymNum's, it returns a `SymbolicArray` or a NumPy array of numbers itself, not a copy
    (with a ``dtype`` that differs, a converted one).

    Example:
        >>> import sympile.numpy as snp
        >>> from sympile import named_array
        >>> x = named_array("x", 2)
        >>> snp.array([x[0] * 2, 1]).shape
        (2,)
        >>> snp.array(x) is x
        True
    """
    _reject("array", kwargs)
    if isinstance(object_, SymbolicArray):
        return object_ if dtype is None else object_.astype(dtype)
    if isinstance(object_, np.ndarray) and object_.dtype != object and dtype in (None, object_.dtype):
        return object_
    if _is_symbolic(object_):
        return SymbolicArray(object_, dtype=dtype)
    return np.array(object_, dtype=dtype)


asarray = array


def _constant(shape, value, dtype) -> SymbolicArray:
    shape = as_shape(shape)
    data = np.empty(shape, dtype=object)
    data.fill(as_object_array(value)[()])
    return SymbolicArray._from_data(frozen(data), None if dtype is None else np.dtype(dtype))


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
    return SymbolicArray._from_data(frozen(data), None if dtype is None else np.dtype(dtype))


def identity(n: int, dtype=None, **kwargs) -> SymbolicArray:
    _reject("identity", kwargs)
    return eye(n, dtype=dtype)


# -- reductions and products ---------------------------------------------------------------------


def _as_array(a) -> SymbolicArray:
    return a if isinstance(a, SymbolicArray) else SymbolicArray(a)


@numbers_to_numpy(np.sum)
def sum(a, axis=None, keepdims: bool = False, **kwargs) -> Any:
    """Symbolic ``numpy.sum``: one n-ary SymPy ``Add`` per result entry."""
    _reject("sum", kwargs)
    return _as_array(a).sum(axis, keepdims=keepdims)


@numbers_to_numpy(np.prod)
def prod(a, axis=None, keepdims: bool = False, **kwargs) -> Any:
    """Symbolic ``numpy.prod``."""
    _reject("prod", kwargs)
    return _as_array(a).prod(axis, keepdims=keepdims)


@numbers_to_numpy(np.mean)
def mean(a, axis=None, keepdims: bool = False, **kwargs) -> Any:
    """Symbolic ``numpy.mean``."""
    _reject("mean", kwargs)
    return _as_array(a).mean(axis, keepdims=keepdims)


def _reduction(name: str) -> Callable:
    @numbers_to_numpy(getattr(np, name))
    def reduce(a, axis=None, keepdims: bool = False, **kwargs) -> Any:
        _reject(name, kwargs)
        return getattr(_as_array(a), name)(axis, keepdims=keepdims)

    reduce.__name__ = reduce.__qualname__ = name
    reduce.__doc__ = f"Symbolic ``numpy.{name}``: one SymPy value per result entry (``all``/``any``: a condition)."
    return reduce


all, any = _reduction("all"), _reduction("any")
max, min = _reduction("max"), _reduction("min")


@numbers_to_numpy(np.matmul)
def matmul(a, b, **kwargs) -> Any:
    """Symbolic ``numpy.matmul`` (``a @ b``), with 1-D promotion and broadcast batch dimensions."""
    _reject("matmul", kwargs)
    return _matmul(a, b)


@numbers_to_numpy(np.dot)
def dot(a, b, **kwargs) -> Any:
    """Symbolic ``numpy.dot``: the last axis of ``a`` against the second-to-last of ``b``."""
    _reject("dot", kwargs)
    return _dot(a, b)


@numbers_to_numpy(np.outer)
def outer(a, b, **kwargs) -> SymbolicArray:
    """Symbolic ``numpy.outer`` of the flattened arguments."""
    _reject("outer", kwargs)
    da, db = operand(a)[0].ravel(), operand(b)[0].ravel()
    return multiply(SymbolicArray._from_data(da[:, None]), SymbolicArray._from_data(db[None, :]))


@numbers_to_numpy(np.trace)
def trace(a, offset: int = 0, axis1: int = 0, axis2: int = 1, **kwargs) -> Any:
    """Symbolic ``numpy.trace``."""
    _reject("trace", kwargs)
    return _trace(a, offset, axis1, axis2)


@numbers_to_numpy(np.diag)
def diag(v, k: int = 0, **kwargs) -> SymbolicArray:
    """Symbolic ``numpy.diag``: the ``k``-th diagonal of a 2-D array, or a 2-D array with ``v`` on it."""
    _reject("diag", kwargs)
    data = operand(v)[0]
    if data.ndim == 2:
        return SymbolicArray._from_data(frozen(np.diagonal(data, k).copy()))
    if data.ndim != 1:
        raise ShapeError(f"diag needs a 1-D or 2-D array, got shape {data.shape}")
    n = data.shape[0] + builtins.abs(k)
    out = np.empty((n, n), dtype=object)
    out.fill(sp.Integer(0))
    for i, entry in enumerate(data.tolist()):
        out[i - builtins.min(k, 0), i + builtins.max(k, 0)] = entry
    return SymbolicArray._from_data(frozen(out))


@numbers_to_numpy(np.einsum)
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
    datas = [operand(o)[0] for o in operands]
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
    if len(set(out)) != len(out) or builtins.any(c not in "".join(expanded) for c in out):
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
    return as_result(frozen(np.asarray(full, dtype=object)))


# -- joining and reshaping -------------------------------------------------------------------------


@numbers_to_numpy(np.concatenate)
def concatenate(arrays, axis: int | None = 0, **kwargs) -> SymbolicArray:
    """Symbolic ``numpy.concatenate`` (``axis=None`` joins the flattened arrays)."""
    _reject("concatenate", kwargs)
    datas = [operand(a)[0] for a in arrays]
    if axis is None:
        datas = [d.ravel() for d in datas]
        axis = 0
    try:
        return SymbolicArray._from_data(frozen(np.concatenate(datas, axis=axis)))
    except (ValueError, np.exceptions.AxisError) as e:
        raise ShapeError(f"concatenate: {e}") from None


@numbers_to_numpy(np.stack)
def stack(arrays, axis: int = 0, **kwargs) -> SymbolicArray:
    """Symbolic ``numpy.stack``: join arrays of one shape along a new axis."""
    _reject("stack", kwargs)
    try:
        return SymbolicArray._from_data(frozen(np.stack([operand(a)[0] for a in arrays], axis=axis)))
    except (ValueError, np.exceptions.AxisError) as e:
        raise ShapeError(f"stack: {e}") from None


@numbers_to_numpy(np.reshape)
def reshape(a, shape, **kwargs) -> SymbolicArray:
    _reject("reshape", kwargs)
    return _as_array(a).reshape(shape)


@numbers_to_numpy(np.transpose)
def transpose(a, axes=None, **kwargs) -> SymbolicArray:
    _reject("transpose", kwargs)
    return _as_array(a).transpose(axes)


__all__ = [
    "pi",
    "e",
    "euler_gamma",
    "inf",
    "nan",
    "newaxis",
    "Inf",
    "Infinity",
    "PINF",
    "infty",
    "NaN",
    "NAN",
    "NINF",
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
    "all",
    "any",
    "max",
    "min",
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
