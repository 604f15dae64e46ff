"""The data axis of a traced function: NumPy data held as columns over the points.

While `trace` traces a function for compiling (``data=True``), a NumPy array that meets a
symbolic array is *data*: one of its axes runs over points. Its entries at one point are
`DataColumn` symbols (each stands for a column of values, one per point), so the per-point
model is one small SymPy expression, whatever the number of points; a sum over the points is
a `PointSum`. Lowering makes the columns ``data`` leaves and the sums ``psum`` nodes
(`sympile._transforms.points`). Anything that needs the entries point by point (indexing one
point, an output that keeps the data axis) gets them written out (`expand`): the old form,
with the same values.

This module holds what needs no array class: the symbols, the sums, the active trace's
columns, and the expansion of per-point entries.
"""

from __future__ import annotations

import contextlib
import contextvars
import hashlib

import numpy as np
import sympy as sp

from .._core.tuning import DATA_MIN_POINTS
from .entries import entry, frozen


class DataColumn(sp.Dummy):
    """A symbol standing for a column of data: one value per point (``values``)."""

    def __new__(cls, name: str, values: np.ndarray):
        self = super().__new__(cls, name, real=True)
        self.values = values
        return self

    def __getnewargs_ex__(self):
        return ((self.name, self.values), {})


class PointSum(sp.Function):
    """The sum over the points of a per-point expression; ``PointSum(expr, n)`` for ``n`` points."""

    nargs = 2

    def _eval_is_real(self):
        return self.args[0].is_real


def point_sum(expr, n: int):
    """The sum over ``n`` points of ``expr``: ``n * expr`` where no data column is in it."""
    expr = entry(expr)
    if not expr.has(DataColumn):
        return expr * n
    return PointSum(expr, sp.Integer(n), evaluate=False)


class _Columns:
    """The active trace's data columns, one symbol per distinct column of values."""

    def __init__(self):
        self.by_digest: dict[str, DataColumn] = {}

    def column(self, values: np.ndarray) -> DataColumn:
        values = np.ascontiguousarray(values)
        key = hashlib.sha256(values.dtype.str.encode() + values.tobytes()).hexdigest()
        got = self.by_digest.get(key)
        if got is None:
            got = self.by_digest[key] = DataColumn(f"data{len(self.by_digest)}", values)
        return got

    @property
    def symbols(self) -> list[DataColumn]:
        return list(self.by_digest.values())


_ACTIVE: contextvars.ContextVar[_Columns | None] = contextvars.ContextVar("sympile_data_axis", default=None)


@contextlib.contextmanager
def data_axis():
    """Within, NumPy data meeting symbolic arrays keeps its data axis; yields the columns made."""
    columns = _Columns()
    token = _ACTIVE.set(columns)
    try:
        yield columns
    finally:
        _ACTIVE.reset(token)


def is_data(obj, axis: int = 0, n: int | None = None) -> bool:
    """Whether ``obj`` is a NumPy array of real numbers that may be data along ``axis`` (of ``n`` points)."""
    if _ACTIVE.get() is None or type(obj) is not np.ndarray or obj.dtype.kind not in "fiu":
        return False
    if not -obj.ndim <= axis < obj.ndim:
        return False
    size = obj.shape[axis]
    return size == n if n is not None else size >= DATA_MIN_POINTS


def columns_of(array: np.ndarray, axis: int) -> np.ndarray:
    """The per-point entries of ``array`` along ``axis``: an object array of `DataColumn`s."""
    columns = _ACTIVE.get()
    moved = np.moveaxis(array, axis, 0)
    rest = moved.shape[1:]
    out = np.empty(rest, dtype=object)
    for idx in np.ndindex(*rest):
        out[idx] = columns.column(moved[(slice(None), *idx)])
    return frozen(out)


def expand(point: np.ndarray, axis: int, n: int) -> np.ndarray:
    """The entries at every point: ``point`` (per-point entries) with its data axis put back at ``axis``."""
    flat = point.ravel().tolist()
    used = sorted(set().union(*(e.atoms(DataColumn) for e in flat)), key=lambda c: c.name) if flat else []
    values = [c.values.tolist() for c in used]
    rows = []
    for k in range(n):
        subs = {c: entry(v[k]) for c, v in zip(used, values)}
        row = np.empty(len(flat), dtype=object)
        row[:] = [e.xreplace(subs) for e in flat] if subs else flat
        rows.append(row.reshape(point.shape))
    out = np.empty((n, *point.shape), dtype=object)
    for k, row in enumerate(rows):
        out[k] = row if point.ndim else row[()]
    return frozen(np.moveaxis(out, 0, axis))


__all__ = ["DataColumn", "PointSum", "point_sum", "data_axis", "is_data", "columns_of", "expand"]
