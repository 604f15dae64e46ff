"""Reductions and contractions of object arrays of SymPy entries: sums, products, ``tensordot``, ``matmul``.

Each result entry is one n-ary ``Add``/``Mul``, never a left fold (which SymPy would
rebuild at every step).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import sympy as sp

from .._core.errors import ShapeError, SympileError
from .entries import as_indices, frozen
from .ufuncs import truth


def axes(axis, ndim: int, name: str) -> tuple[int, ...]:
    """NumPy's ``axis`` argument (None, an int or a tuple of ints) as a tuple of axes of ``ndim`` dimensions."""
    if axis is None:
        return tuple(range(ndim))
    if ndim == 0 and isinstance(axis, (int, np.integer)) and axis in (0, -1):
        return ()  # NumPy's reductions accept axis 0 or -1 of a 0-d array (and reduce nothing)
    out = as_indices(
        axis if isinstance(axis, (tuple, list)) else (axis,),
        ndim,
        lambda: SympileError(f"{name}: axis must be an int or a tuple of ints, got {axis!r}"),
        lambda a: ShapeError(f"{name}: axis {a} is out of bounds for an array of dimension {ndim}"),
    )
    if len(set(out)) != len(out):
        raise ShapeError(f"{name}: repeated axis in {axis!r}")
    return tuple(out)


def reduce_entries(data: np.ndarray, axis, keepdims: bool, combine: Callable[[list], Any], name: str) -> np.ndarray:
    """``combine`` (a function of a list of entries) over ``axis`` of an object array."""
    reduced = axes(axis, data.ndim, name)
    keep = [d for d in range(data.ndim) if d not in reduced]
    moved = np.transpose(data, keep + list(reduced))
    lead = moved.shape[: len(keep)]
    rows = moved.reshape((*lead, -1))
    out = np.empty(lead, dtype=object)
    for idx in np.ndindex(*lead):
        out[idx] = combine(rows[idx].tolist())
    if keepdims:
        out = out.reshape(tuple(1 if d in reduced else n for d, n in enumerate(data.shape)))
    return frozen(out)


def add_all(items: list) -> sp.Basic:
    return sp.Add(*items) if items else sp.Integer(0)


def multiply_all(items: list) -> sp.Basic:
    return sp.Mul(*items) if items else sp.Integer(1)


def all_true(items: list) -> sp.Basic:
    return sp.And(*map(truth, items))


def any_true(items: list) -> sp.Basic:
    return sp.Or(*map(truth, items))


def maximum_of(items: list) -> sp.Basic:
    if not items:
        raise ShapeError("max of an empty array (it has no identity)")
    return sp.Max(*items)


def minimum_of(items: list) -> sp.Basic:
    if not items:
        raise ShapeError("min of an empty array (it has no identity)")
    return sp.Min(*items)


#: Reduction name -> the function of a list of entries that makes one result entry.
REDUCERS = {"sum": add_all, "prod": multiply_all, "all": all_true, "any": any_true, "max": maximum_of}
REDUCERS["min"] = minimum_of


def tensordot(a: np.ndarray, b: np.ndarray, a_axis: int, b_axis: int) -> np.ndarray:
    """Contract axis ``a_axis`` of ``a`` with ``b_axis`` of ``b`` (object arrays): ``numpy.tensordot``'s shape."""
    if a.shape[a_axis] != b.shape[b_axis]:
        raise ShapeError(
            f"shapes {a.shape} and {b.shape} are not aligned: dimension {a_axis} of the first ({a.shape[a_axis]}) "
            f"!= dimension {b_axis} of the second ({b.shape[b_axis]})"
        )
    am = np.moveaxis(a, a_axis, -1)
    bm = np.moveaxis(b, b_axis, 0)
    k = a.shape[a_axis]
    a2 = am.reshape(-1, k)
    b2 = bm.reshape(k, -1)
    out = np.empty((a2.shape[0], b2.shape[1]), dtype=object)
    for i in range(a2.shape[0]):
        row = a2[i]
        for j in range(b2.shape[1]):
            out[i, j] = add_all([row[t] * b2[t, j] for t in range(k)])
    return frozen(out.reshape(am.shape[:-1] + bm.shape[1:]))


def matmul_entries(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """NumPy's ``matmul`` on object arrays: 1-D promotion and broadcast batch dimensions."""
    if a.ndim == 0 or b.ndim == 0:
        raise ShapeError("matmul: an operand is a scalar (0-d); use * to multiply by a scalar")
    va, vb = a.ndim == 1, b.ndim == 1
    a2 = a[None, :] if va else a
    b2 = b[:, None] if vb else b
    if a2.shape[-1] != b2.shape[-2]:
        raise ShapeError(
            f"matmul: the operands' shapes {a.shape} and {b.shape} do not match "
            f"(size {a2.shape[-1]} is different from {b2.shape[-2]})"
        )
    try:
        batch = np.broadcast_shapes(a2.shape[:-2], b2.shape[:-2])
    except ValueError:
        raise ShapeError(f"matmul: the batch dimensions of {a.shape} and {b.shape} do not broadcast") from None
    a3 = np.broadcast_to(a2, batch + a2.shape[-2:])
    b3 = np.broadcast_to(b2, batch + b2.shape[-2:])
    n, k, m = a2.shape[-2], a2.shape[-1], b2.shape[-1]
    out = np.empty(batch + (n, m), dtype=object)
    for idx in np.ndindex(*batch):
        left, right = a3[idx], b3[idx]
        for i in range(n):
            for j in range(m):
                out[idx + (i, j)] = add_all([left[i, t] * right[t, j] for t in range(k)])
    if va:
        out = out[..., 0, :]
    if vb:
        out = out[..., 0]
    return frozen(np.asarray(out, dtype=object))


__all__ = ["axes", "reduce_entries", "add_all", "multiply_all", "REDUCERS", "tensordot", "matmul_entries"]
