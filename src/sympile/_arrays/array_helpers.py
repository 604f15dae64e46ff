"""SymNum's ``symnum.array`` helpers over sympile's arrays: what kind a value is, dtype inference,
`as_symbolic_array`, and the wrappers that give a scalar function NumPy's broadcasting.

`sympile.array` re-exports them with `SymbolicArray` and `named_array`, so code that imports
``symnum.array`` works with ``sympile.array``.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import sympy as sp

from .._core.errors import ArgumentError
from .symbolic_array import SymbolicArray, elementwise

SympyArray = sp.NDimArray | sp.MatrixBase
ScalarLike = sp.Expr | sp.logic.boolalg.Boolean | bool | int | float | complex | np.number
ShapeLike = int | tuple | sp.Tuple
ArrayLike = SympyArray | np.ndarray | SymbolicArray

_SYMPY_ARRAYS = (sp.NDimArray, sp.MatrixBase)
_SCALARS = (sp.Expr, sp.logic.boolalg.Boolean, bool, int, float, complex, np.number)


def is_array(obj) -> bool:
    """Whether ``obj`` is a symbolic, SymPy or NumPy array."""
    return isinstance(obj, (SymbolicArray, np.ndarray, *_SYMPY_ARRAYS))


def is_sympy_array(obj) -> bool:
    """Whether ``obj`` is a SymPy array or matrix."""
    return isinstance(obj, _SYMPY_ARRAYS)


def is_scalar(obj) -> bool:
    """Whether ``obj`` is a symbolic or numeric scalar (a SymPy expression or condition, a number).

    Example:
        >>> import sympy as sp
        >>> from sympile.array import is_scalar
        >>> is_scalar(sp.Symbol("x")), is_scalar(2.5), is_scalar([1])
        (True, True, False)
    """
    return isinstance(obj, _SCALARS) or np.isscalar(obj)


def is_valid_shape(obj) -> bool:
    """Whether ``obj`` has a shape's type: an int, a tuple or a SymPy ``Tuple``."""
    return isinstance(obj, (int, tuple, sp.Tuple))


def infer_array_dtype(array: SymbolicArray) -> np.dtype:
    """The NumPy dtype that can hold the entries: bool, int64, float64, complex128, else object."""
    return SymbolicArray._from_data(SymbolicArray(array)._data).dtype


def infer_scalar_dtype(scalar) -> np.dtype:
    """The NumPy dtype that can hold ``scalar`` (a number or a SymPy expression), else object."""
    if isinstance(scalar, (np.number, np.bool_)):
        return scalar.dtype
    if isinstance(scalar, (bool, int, float, complex)):
        return np.dtype(type(scalar))
    if isinstance(scalar, sp.Expr):
        return infer_array_dtype(SymbolicArray(scalar)) if scalar.is_complex else np.dtype(object)
    raise ArgumentError(f"infer_scalar_dtype: expected a number or a SymPy expression, got {type(scalar).__name__}")


def as_symbolic_array(array) -> SymbolicArray:
    """``array`` as a `SymbolicArray`: itself if it is one, else a new one with its shape and entries.

    Example:
        >>> import numpy as np
        >>> from sympile.array import as_symbolic_array
        >>> a = as_symbolic_array(np.array([1.0, 2.0]))
        >>> a.tolist(), as_symbolic_array(a) is a
        ([1.00000000000000, 2.00000000000000], True)
    """
    return array if isinstance(array, SymbolicArray) else SymbolicArray(array)


def _wrapped(func: Callable, nin: int, name: str | None, doc: str | None) -> Callable:
    name = func.__name__ if name is None else name
    apply = elementwise(func, nin, name)
    apply.__doc__ = func.__doc__ if doc is None else doc
    return apply


def binary_broadcasting_func(func: Callable, name: str | None = None, doc: str | None = None) -> Callable:
    """``func`` of two scalars, applied entry by entry with NumPy's broadcasting.

    Two scalars give a scalar; an array among the arguments gives a `SymbolicArray`.

    Example:
        >>> import sympy as sp
        >>> from sympile.array import binary_broadcasting_func
        >>> from sympile import named_array
        >>> hyp = binary_broadcasting_func(lambda a, b: sp.sqrt(a**2 + b**2), "hyp")
        >>> hyp(named_array("x", 2), 0).tolist()
        [Abs(x[0]), Abs(x[1])]
    """
    return _wrapped(func, 2, name, doc)


def unary_elementwise_func(func: Callable, name: str | None = None, doc: str | None = None) -> Callable:
    """``func`` of one scalar, applied entry by entry: a scalar gives a scalar, an array a `SymbolicArray`."""
    return _wrapped(func, 1, name, doc)


__all__ = [
    "SympyArray",
    "ScalarLike",
    "ShapeLike",
    "ArrayLike",
    "is_array",
    "is_sympy_array",
    "is_scalar",
    "is_valid_shape",
    "infer_array_dtype",
    "infer_scalar_dtype",
    "as_symbolic_array",
    "binary_broadcasting_func",
    "unary_elementwise_func",
]
