"""The entries of a symbolic array: SymPy objects in read-only NumPy ``object`` arrays.

The pieces below `SymbolicArray` that need no array class: one value as an entry, a
frozen object array, a shape, and a list of indices (axes, arguments) checked against a
count.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import sympy as sp

from .._core.errors import ShapeError, SympileError

ShapeLike = Any  # int, tuple of ints, or None (a scalar)


def entry(v) -> sp.Basic:
    """One array entry as a SymPy object. Numbers become exact SymPy numbers; text is refused."""
    if isinstance(v, sp.Basic):
        return v
    if isinstance(v, (bool, np.bool_)):
        return sp.true if v else sp.false
    if isinstance(v, (int, np.integer)):
        return sp.Integer(int(v))
    if isinstance(v, (float, np.floating)):
        return sp.Float(float(v))
    if isinstance(v, (complex, np.complexfloating)):
        v = complex(v)
        return sp.Float(v.real) + sp.I * sp.Float(v.imag)
    if isinstance(v, str):
        raise SympileError(
            f"cannot put the string {v!r} into a symbolic array: sympile never evaluates text; "
            "build the entry with SymPy (sympy.Symbol, ...) instead"
        )
    raise SympileError(f"cannot put a {type(v).__name__} into a symbolic array; entries must be SymPy or numbers")


#: `entry` applied to every item of an object array.
to_entries = np.frompyfunc(entry, 1, 1)


def frozen(data: np.ndarray) -> np.ndarray:
    """``data``, made read-only: a symbolic array's entries never change."""
    data.flags.writeable = False
    return data


def is_int(v) -> bool:
    """Whether ``v`` is a Python or NumPy integer (not a bool)."""
    return isinstance(v, (int, np.integer)) and not isinstance(v, bool)


def as_shape(shape: ShapeLike) -> tuple[int, ...]:
    """A shape given as None (a scalar), a non-negative int or a sequence of them, as a tuple."""
    if shape is None:
        return ()
    if is_int(shape):
        shape = (int(shape),)
    if isinstance(shape, sp.Tuple):
        shape = tuple(int(s) for s in shape)
    if not isinstance(shape, (tuple, list)) or not all(is_int(s) and s >= 0 for s in shape):
        raise ShapeError(f"a shape is None, a non-negative int or a tuple of them, not {shape!r}")
    return tuple(int(s) for s in shape)


def as_indices(items, n: int, not_int: Callable[[], Exception], out_of_range: Callable[[Any], Exception]) -> list[int]:
    """``items`` as indices into ``n`` places, a negative one counting from the end.

    An item that is not an integer raises ``not_int()``; one outside ``[-n, n)`` raises
    ``out_of_range(item)``. Each caller words the errors for what its indices name.
    """
    out = []
    for k in items:
        if not is_int(k):
            raise not_int()
        if not -n <= k < n:
            raise out_of_range(k)
        out.append(int(k) % n)
    return out


__all__ = ["ShapeLike", "entry", "to_entries", "frozen", "is_int", "as_shape", "as_indices"]
