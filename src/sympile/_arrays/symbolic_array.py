"""`SymbolicArray`: an n-dimensional array of SymPy scalars with NumPy's semantics.

The entries live in a read-only NumPy ``object`` array, so shapes, broadcasting, indexing,
transposes and reshapes are NumPy's own; arithmetic applies SymPy's operators entry by
entry, and NumPy's elementwise functions (`ufuncs`) apply the same way. Reductions build one
n-ary ``Add``/``Mul`` per result (`reductions`). Everything a traced function computes stays
a scalar SymPy expression per entry; `numpify` lowers them all into one graph.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
import sympy as sp

from .._core.errors import ShapeError, SympileError, UnsupportedFunctionError
from .array_derivative import differentiate
from .data_axis import columns_of, expand, is_data, point_sum
from .entries import ShapeLike, as_shape, entry, frozen, to_entries
from .reductions import REDUCERS, add_all, axes, matmul_entries, reduce_entries, tensordot
from .ufuncs import BINARY, STRUCTURAL, UNARY


def as_object_array(obj) -> np.ndarray:
    """``obj`` (a SymbolicArray, NumPy array, SymPy array or matrix, nested list, scalar) as an
    ``object`` array of SymPy entries."""
    if isinstance(obj, SymbolicArray):
        return obj._data
    if isinstance(obj, np.ndarray):
        if obj.dtype == object:
            return frozen(np.asarray(to_entries(obj), dtype=object))
        return frozen(np.asarray(to_entries(obj.astype(object)), dtype=object))
    if isinstance(obj, (sp.MatrixBase, sp.NDimArray)):
        shape = tuple(obj.shape)
        data = np.empty(shape, dtype=object)
        for idx in itertools.product(*(range(n) for n in shape)):
            data[idx] = entry(obj[idx])
        return frozen(data)
    if isinstance(obj, (list, tuple)):
        parts = [as_object_array(o) for o in obj]
        shapes = {p.shape for p in parts}
        if len(shapes) > 1:
            raise ShapeError(
                f"cannot make an array from a ragged nested sequence (its items have shapes {sorted(shapes)}); "
                "every item of a level must have the same shape"
            )
        if not parts:
            return frozen(np.empty((0,), dtype=object))
        out = np.empty((len(parts), *parts[0].shape), dtype=object)
        for k, p in enumerate(parts):
            out[k] = p[()] if p.ndim == 0 else p  # a 0-d array would be stored as an object itself
        return frozen(out)
    data = np.empty((), dtype=object)
    data[()] = entry(obj)
    return frozen(data)


def operand(obj) -> tuple[np.ndarray, bool]:
    """``(entries, is_array)`` for an operand of an elementwise function."""
    if isinstance(obj, SymbolicArray):
        return obj._data, True
    if isinstance(obj, (np.ndarray, list, tuple, sp.MatrixBase, sp.NDimArray)):
        return as_object_array(obj), True
    return as_object_array(obj), False


def _wrap(result, is_array: bool):
    if not is_array:
        return result
    data = np.empty((), dtype=object)
    if isinstance(result, np.ndarray):
        data = result
    else:
        data[()] = result
    return SymbolicArray._from_data(frozen(data))


def elementwise(fn: Callable, nin: int, name: str, per_point: bool = True) -> Callable:
    """``fn`` on SymPy scalars, applied entry by entry with NumPy broadcasting.

    Scalars in give a scalar out; any array in gives a `SymbolicArray` out. With
    ``per_point=False`` arrays with a data axis are written out point by point first (for a
    function of the entries' structure, which a per-point symbol does not show).
    """
    ufunc = np.frompyfunc(fn, nin, 1)

    def apply(*args):
        pointwise = _pointwise(ufunc, args) if per_point else None
        if pointwise is not None:
            return pointwise
        ops = [operand(a) for a in args]
        datas = [d for d, _ in ops]
        if nin > 1:
            try:
                np.broadcast_shapes(*(d.shape for d in datas))
            except ValueError:
                listing = ", ".join(str(d.shape) for d in datas)
                raise ShapeError(f"{name}: the operands' shapes {listing} do not broadcast together") from None
        return _wrap(ufunc(*datas), any(a for _, a in ops))

    apply.__name__ = name
    return apply


#: NumPy's elementwise functions by name, applied with broadcasting: the array's operators,
#: ``numpy.exp(array)`` and friends, and `sympile.numpy`'s functions are these.
ELEMENTWISE = {name: elementwise(fn, 1, name) for name, fn in UNARY.items()}
ELEMENTWISE.update({name: elementwise(fn, 2, name) for name, fn in BINARY.items()})

#: ``==`` and ``!=`` of symbolic arrays: entry by entry, whether the expressions are the same.
COMPARE = {name: elementwise(fn, 2, name, per_point=False) for name, fn in STRUCTURAL.items()}


def _swap(fn):
    return lambda a, b: fn(b, a)


# -- products (NumPy's matmul, dot and trace; `sympile.numpy` offers them too) -----------------


def as_result(data: np.ndarray) -> Any:
    """A computed object array as a result: its one entry when it is 0-d, else a `SymbolicArray`."""
    return data[()] if data.ndim == 0 else SymbolicArray._from_data(data)


def matmul(a, b) -> Any:
    """NumPy's ``matmul`` (``a @ b``), with 1-D promotion and broadcast batch dimensions."""
    pointwise = _point_matmul(a, b)
    if pointwise is not None:
        return pointwise
    return as_result(matmul_entries(operand(a)[0], operand(b)[0]))


def dot(a, b) -> Any:
    """NumPy's ``dot``: the last axis of ``a`` against the second-to-last of ``b``."""
    if np.ndim(a) in (1, 2) and np.ndim(b) in (1, 2) and _has_points(a, b):
        return matmul(a, b)  # the same for 1-D and 2-D operands
    da, db = operand(a)[0], operand(b)[0]
    if da.ndim == 0 or db.ndim == 0:
        return ELEMENTWISE["multiply"](a, b)
    return as_result(tensordot(da, db, da.ndim - 1, 0 if db.ndim == 1 else db.ndim - 2))


def trace(a, offset: int = 0, axis1: int = 0, axis2: int = 1) -> Any:
    """NumPy's ``trace``: the sum along a diagonal."""
    data = operand(a)[0]
    if data.ndim < 2:
        raise ShapeError(f"trace needs an array of at least 2 dimensions, got shape {data.shape}")
    diagonal = np.diagonal(data, offset, axis1, axis2)
    return as_result(reduce_entries(diagonal, -1, False, add_all, "trace"))


#: NumPy ufunc name -> its symbolic version, for ``numpy.exp(symbolic_array)`` and friends.
#: ``numpy.equal`` is structural, as ``==`` (``ndarray == symbolic_array`` calls it).
UFUNCS = {**ELEMENTWISE, **COMPARE, "matmul": matmul}

#: NumPy ufunc name -> the array method its ``reduce`` is (``numpy.add.reduce(a)`` is ``a.sum()``).
UFUNC_REDUCTIONS = {"add": "sum", "multiply": "prod", "logical_and": "all", "logical_or": "any"}
UFUNC_REDUCTIONS.update({"maximum": "max", "minimum": "min"})


# -- the array -------------------------------------------------------------------------------


class SymbolicArray:
    """An n-dimensional array of SymPy expressions that behaves like a NumPy array.

    Broadcasting arithmetic (``+ - * / // % **``), comparisons, ``@`` (batched too),
    NumPy indexing, ``reshape``, ``transpose``, ``sum``/``prod`` with ``axis`` and
    ``keepdims``. Entries are immutable SymPy scalars; indexing one entry gives it back.

    Example:
        >>> import sympile.numpy as snp
        >>> from sympile import named_array
        >>> x = named_array("x", 2)
        >>> y = snp.exp(x) * 2 + x[::-1]
        >>> y.shape, y[0]
        ((2,), x[1] + 2*exp(x[0]))
    """

    __slots__ = ("_data", "_dtype", "_name")
    __array_priority__ = 20

    def __init__(self, object_: Any, shape: ShapeLike = None, dtype: Any = None):
        data = as_object_array(object_)
        if shape is not None:
            shape = as_shape(shape)
            if data.size == int(np.prod(shape, dtype=int)):
                data = frozen(data.reshape(shape))
            else:
                raise ShapeError(f"cannot give {data.size} entries the shape {shape}")
        self._data = data
        self._dtype = None if dtype is None else np.dtype(dtype)
        self._name = None

    @classmethod
    def _from_data(cls, data: np.ndarray, dtype=None) -> SymbolicArray:
        out = cls.__new__(cls)
        out._data = data
        out._dtype = dtype
        out._name = None
        return out

    # -- what NumPy arrays have ------------------------------------------------------------
    @property
    def shape(self) -> tuple[int, ...]:
        return self._data.shape

    @property
    def ndim(self) -> int:
        return self._data.ndim

    @property
    def size(self) -> int:
        return self._data.size

    @property
    def dtype(self) -> np.dtype:
        """``int64``, ``float64`` or ``complex128`` as the entries' assumptions allow (else ``object``),
        unless the array was made with a dtype."""
        if self._dtype is None:
            entries = self._data.ravel().tolist()
            # a Symbol is a Boolean too (it may stand for a condition): conditions are the non-Expr ones
            if all(isinstance(e, sp.logic.boolalg.Boolean) and not isinstance(e, sp.Expr) for e in entries):
                self._dtype = np.dtype(bool)
            elif all(e.is_integer for e in entries):
                self._dtype = np.dtype(np.int64)
            elif all(e.is_real for e in entries):
                self._dtype = np.dtype(np.float64)
            elif all(e.is_complex for e in entries):
                self._dtype = np.dtype(np.complex128)
            else:
                self._dtype = np.dtype(object)
        return self._dtype

    @property
    def T(self) -> SymbolicArray:
        return self.transpose()

    @property
    def flat(self):
        """An iterator over the entries in row-major order (indexable, like NumPy's)."""
        return self._data.flat

    @property
    def real(self) -> SymbolicArray:
        return ELEMENTWISE["real"](self)

    @property
    def imag(self) -> SymbolicArray:
        return ELEMENTWISE["imag"](self)

    def conj(self) -> SymbolicArray:
        return ELEMENTWISE["conjugate"](self)

    conjugate = conj

    def __len__(self) -> int:
        if self.ndim == 0:
            raise TypeError("len() of unsized object")
        return self.shape[0]

    def __iter__(self) -> Iterator:
        if self.ndim == 0:
            raise TypeError("iteration over a 0-d array")
        for k in range(self.shape[0]):
            yield self[k]

    def __getitem__(self, index) -> Any:
        parts = index if isinstance(index, tuple) else (index,)
        if any(isinstance(i, SymbolicArray) or (isinstance(i, sp.Basic) and not i.is_Integer) for i in parts):
            raise SympileError("a symbolic array cannot be indexed by symbolic values; index with integers and slices")
        try:
            got = self._data[index]
        except IndexError as e:
            raise ShapeError(f"bad index {index!r} for an array of shape {self.shape}: {e}") from None
        if isinstance(got, np.ndarray):
            return SymbolicArray._from_data(frozen(got), self._dtype)
        return got

    def __setitem__(self, index, value):
        raise SympileError(
            "symbolic arrays are immutable: build a new one instead of assigning into it "
            "(snp.where, snp.concatenate, snp.stack)"
        )

    def __array__(self, dtype=None, copy=None) -> np.ndarray:
        if dtype is None and self.dtype != object and not self.free_symbols:
            dtype = self.dtype  # numbers: a NumPy array of its dtype, as SymNum's
        if dtype is None or np.dtype(dtype) == object:
            return np.array(self._data, dtype=object)
        dtype = np.dtype(dtype)
        convert = complex if dtype.kind == "c" else bool if dtype.kind == "b" else int if dtype.kind in "iu" else float
        try:
            return np.array([convert(e) for e in self._data.ravel().tolist()], dtype=dtype).reshape(self.shape)
        except TypeError:
            raise SympileError(
                f"cannot convert a symbolic array with free symbols to {dtype}; substitute values first "
                "(.subs) or generate a numerical function (sympile.numpify_func)"
            ) from None

    def __array_ufunc__(self, ufunc, method, *inputs, **kwargs):
        reduction = UFUNC_REDUCTIONS.get(ufunc.__name__)
        if method == "reduce" and reduction is not None and len(inputs) == 1:
            return getattr(inputs[0], reduction)(**kwargs)
        if method != "__call__":
            raise UnsupportedFunctionError(f"numpy.{ufunc.__name__}.{method} is not supported on symbolic arrays")
        if kwargs:
            raise UnsupportedFunctionError(
                f"numpy.{ufunc.__name__} on a symbolic array does not support the keyword argument(s) "
                f"{', '.join(sorted(kwargs))}; symbolic arrays are immutable: use the returned value"
            )
        fn = UFUNCS.get(ufunc.__name__)
        if fn is None:
            raise UnsupportedFunctionError(
                f"numpy.{ufunc.__name__} has no symbolic version; see sympile.numpy for the supported functions"
            )
        return fn(*inputs)

    def __repr__(self) -> str:
        return f"SymbolicArray({self.tolist()!r}, shape={self.shape})"

    def __str__(self) -> str:
        return str(self.tolist())

    def _repr_latex_(self) -> str:
        return sp.Array(self.tolist() if self.ndim else [self._data[()]])._repr_latex_()

    def __bool__(self) -> bool:
        if self.size != 1:
            raise ValueError(
                "the truth value of an array with more than one element is ambiguous; use snp.logical_and etc."
            )
        return bool(self._data.ravel()[0])

    # No __float__/__int__: SymPy would call them to convert the whole array when it meets
    # one in an operation (x + array), where it must defer to the array's reflected operator.

    def __reduce__(self):
        return (_rebuild_array, (self._data.tolist() if self.ndim else self._data[()], self.shape, self._dtype))

    # -- arithmetic ---------------------------------------------------------------------------
    __add__ = ELEMENTWISE["add"]
    __sub__ = ELEMENTWISE["subtract"]
    __mul__ = ELEMENTWISE["multiply"]
    __truediv__ = ELEMENTWISE["divide"]
    __floordiv__ = ELEMENTWISE["floor_divide"]
    __mod__ = ELEMENTWISE["mod"]
    __pow__ = ELEMENTWISE["power"]
    __radd__ = _swap(__add__)
    __rsub__ = _swap(__sub__)
    __rmul__ = _swap(__mul__)
    __rtruediv__ = _swap(__truediv__)
    __rfloordiv__ = _swap(__floordiv__)
    __rmod__ = _swap(__mod__)
    __rpow__ = _swap(__pow__)
    __lt__ = ELEMENTWISE["less"]
    __le__ = ELEMENTWISE["less_equal"]
    __gt__ = ELEMENTWISE["greater"]
    __ge__ = ELEMENTWISE["greater_equal"]

    # SymNum's: entry by entry, whether the expressions are the same (True/False, never an
    # unevaluated Eq); snp.equal compares values at run time.
    def __eq__(self, other) -> Any:
        return _compare("equal", self, other)

    def __ne__(self, other) -> Any:
        return _compare("not_equal", self, other)

    __hash__ = None  # type: ignore[assignment]
    __neg__ = ELEMENTWISE["negative"]
    __abs__ = ELEMENTWISE["absolute"]

    def __pos__(self) -> SymbolicArray:
        return self

    __matmul__ = matmul

    def __rmatmul__(self, other) -> Any:
        return matmul(other, self)

    # -- shape ---------------------------------------------------------------------------------
    def reshape(self, *shape, order: str = "C") -> SymbolicArray:
        if order != "C":
            raise UnsupportedFunctionError("reshape supports only order='C'")
        if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
            shape = tuple(shape[0])
        try:
            data = self._data.reshape(shape)
        except (ValueError, TypeError) as e:
            raise ShapeError(f"cannot reshape an array of shape {self.shape} to {shape}: {e}") from None
        return SymbolicArray._from_data(frozen(data), self._dtype)

    def flatten(self) -> SymbolicArray:
        return self.reshape(-1)

    ravel = flatten

    def transpose(self, *axes) -> SymbolicArray:
        if len(axes) == 1 and (axes[0] is None or isinstance(axes[0], (tuple, list))):
            axes = axes[0]
        try:
            data = np.transpose(self._data, axes if axes else None)
        except (ValueError, TypeError) as e:
            raise ShapeError(f"bad axes {axes!r} for an array of shape {self.shape}: {e}") from None
        return SymbolicArray._from_data(frozen(data), self._dtype)

    def squeeze(self, axis=None) -> SymbolicArray:
        try:
            return SymbolicArray._from_data(frozen(np.squeeze(self._data, axis)), self._dtype)
        except ValueError as e:
            raise ShapeError(str(e)) from None

    def swapaxes(self, axis1: int, axis2: int) -> SymbolicArray:
        return SymbolicArray._from_data(frozen(np.swapaxes(self._data, axis1, axis2)), self._dtype)

    def copy(self) -> SymbolicArray:
        return self

    def astype(self, dtype) -> SymbolicArray:
        return SymbolicArray._from_data(self._data, np.dtype(dtype))

    # -- reductions ------------------------------------------------------------------------------
    # NumPy's signatures, so that numpy.sum(a), numpy.all(a), ... call them; dtype= and out=
    # are accepted only as None (NumPy passes out=None).
    def sum(self, axis=None, dtype=None, out=None, keepdims: bool = False) -> Any:
        return self._reduce("sum", axis, keepdims, dtype, out)

    def prod(self, axis=None, dtype=None, out=None, keepdims: bool = False) -> Any:
        return self._reduce("prod", axis, keepdims, dtype, out)

    def all(self, axis=None, out=None, keepdims: bool = False) -> Any:
        """Whether every entry is true: ``true``/``false`` where decided, else a SymPy ``And``."""
        return self._reduce("all", axis, keepdims, None, out)

    def any(self, axis=None, out=None, keepdims: bool = False) -> Any:
        """Whether some entry is true: ``true``/``false`` where decided, else a SymPy ``Or``."""
        return self._reduce("any", axis, keepdims, None, out)

    def max(self, axis=None, out=None, keepdims: bool = False) -> Any:
        return self._reduce("max", axis, keepdims, None, out)

    def min(self, axis=None, out=None, keepdims: bool = False) -> Any:
        return self._reduce("min", axis, keepdims, None, out)

    def _reduce(self, name: str, axis, keepdims: bool, dtype, out) -> Any:
        _no_dtype_out(name, dtype, out)
        return _reduced(reduce_entries(self._data, axis, keepdims, REDUCERS[name], name), keepdims)

    def mean(self, axis=None, dtype=None, out=None, keepdims: bool = False) -> Any:
        _no_dtype_out("mean", dtype, out)
        count = int(np.prod([self.shape[a] for a in axes(axis, self.ndim, "mean")], dtype=int))
        if count == 0:
            raise ShapeError("mean of an empty array")
        return _reduced(
            reduce_entries(self._data, axis, keepdims, lambda items: add_all(items) / count, "mean"), keepdims
        )

    def dot(self, other) -> Any:
        return dot(self, other)

    def trace(self, offset: int = 0, axis1: int = 0, axis2: int = 1) -> Any:
        return trace(self, offset, axis1, axis2)

    def diagonal(self, offset: int = 0, axis1: int = 0, axis2: int = 1) -> SymbolicArray:
        return SymbolicArray._from_data(frozen(np.diagonal(self._data, offset, axis1, axis2).copy()))

    # -- SymPy --------------------------------------------------------------------------------------
    @property
    def free_symbols(self) -> set:
        """The free symbols of all the entries."""
        return set().union(*(e.free_symbols for e in self._data.ravel().tolist()))

    def tolist(self) -> Any:
        """Nested lists of SymPy expressions (the expression itself for a 0-d array)."""
        return self._data.tolist()

    def subs(self, *args, **kwargs) -> SymbolicArray:
        """``sympy.Basic.subs`` on every entry. A pair may hold arrays: they are substituted entry by entry.

        Example:
            >>> from sympile import named_array
            >>> x = named_array("x", 2)
            >>> (x * 2).subs(x, [3, 4]).tolist()
            [6, 8]
        """
        pairs = _subs_pairs(args)
        return self._map(lambda e: e.subs(pairs, **kwargs))

    def simplify(self, **kwargs) -> SymbolicArray:
        """``sympy.simplify`` on every entry."""
        return self._map(lambda e: sp.simplify(e, **kwargs))

    def diff(self, *variables) -> SymbolicArray:
        """Derivatives by graph AD (linear in the size of the entries, no expression swell).

        Follows SymPy's array convention: the derivative by an array ``v`` has shape
        ``v.shape + self.shape``; several variables differentiate in turn.

        Example:
            >>> from sympile import named_array
            >>> x = named_array("x", 2)
            >>> SymbolicArray(x[0] ** 2 * x[1]).diff(x).tolist()
            [2*x[0]*x[1], x[0]**2]
        """
        out = self
        for v in variables:
            out = SymbolicArray._from_data(differentiate(out._data, as_object_array(v)))
        return out

    def _map(self, fn: Callable) -> SymbolicArray:
        return SymbolicArray._from_data(frozen(np.asarray(np.frompyfunc(fn, 1, 1)(self._data), dtype=object)))


class PointArray(SymbolicArray):
    """A symbolic array with a data axis (`data_axis`): ``point`` holds the entries at one point.

    Its entries are written out point by point (`data_axis.expand`) only where something needs
    them (`_data`); elementwise functions, ``matmul`` and sums keep the per-point form.
    """

    __slots__ = ("_point", "_axis", "_n", "_expanded")

    @classmethod
    def of(cls, point: np.ndarray, axis: int, n: int) -> PointArray:
        out = cls.__new__(cls)
        out._point, out._axis, out._n = point, axis, n
        out._expanded = None
        out._dtype = None
        out._name = None
        return out

    @classmethod
    def of_numpy(cls, array: np.ndarray, axis: int) -> PointArray:
        axis %= array.ndim
        return cls.of(columns_of(array, axis), axis, array.shape[axis])

    @property
    def _data(self) -> np.ndarray:
        if self._expanded is None:
            self._expanded = expand(self._point, self._axis, self._n)
        return self._expanded

    @property
    def shape(self) -> tuple[int, ...]:
        p = self._point.shape
        return (*p[: self._axis], self._n, *p[self._axis :])

    @property
    def ndim(self) -> int:
        return self._point.ndim + 1

    @property
    def size(self) -> int:
        return self._point.size * self._n

    @property
    def dtype(self) -> np.dtype:
        if self._dtype is None:
            self._dtype = SymbolicArray._from_data(self._point).dtype
        return self._dtype

    def sum(self, axis=None, dtype=None, out=None, keepdims: bool = False) -> Any:
        _no_dtype_out("sum", dtype, out)
        reduced = axes(axis, self.ndim, "sum")
        inner = tuple(a - (a > self._axis) for a in reduced if a != self._axis)
        point = reduce_entries(self._point, inner, keepdims, add_all, "sum") if inner else self._point
        if self._axis not in reduced:
            return PointArray.of(point, self._axis - sum(a < self._axis for a in reduced if not keepdims), self._n)
        summed = np.frompyfunc(lambda e: point_sum(e, self._n), 1, 1)(point)
        data = frozen(np.asarray(summed, dtype=object))
        if keepdims:
            data = frozen(np.expand_dims(data, self._axis))
        return _reduced(data, keepdims)

    def mean(self, axis=None, dtype=None, out=None, keepdims: bool = False) -> Any:
        _no_dtype_out("mean", dtype, out)
        count = int(np.prod([self.shape[a] for a in axes(axis, self.ndim, "mean")], dtype=int))
        if count == 0:
            raise ShapeError("mean of an empty array")
        return self.sum(axis, keepdims=keepdims) / count


def _has_points(*args) -> bool:
    return any(isinstance(a, PointArray) or is_data(a) for a in args)


def _shape(a) -> tuple:
    return tuple(a.shape) if isinstance(a, (SymbolicArray, np.ndarray)) else operand(a)[0].shape


def _pointwise(ufunc, args) -> PointArray | None:
    """An elementwise function over per-point operands, or None (then entry by entry).

    The data axes of the point arrays must meet at one position of the broadcast shape; a NumPy
    array with that many rows there becomes data too (with none, the first data-like NumPy array
    sets it). Any other operand must be the same at every point (extent 1 there).
    """
    if not _has_points(*args):
        return None
    shapes = [_shape(a) for a in args]
    try:
        full = np.broadcast_shapes(*shapes)
    except ValueError:
        return None  # the entry-by-entry path says which shapes
    places = {(len(full) - a.ndim + a._axis, a._n) for a in args if isinstance(a, PointArray)}
    if not places:
        places = {(len(full) - a.ndim, a.shape[0]) for a in args if is_data(a)}
        places = {min(places)} if places else places
    if len(places) != 1:
        return None
    ((pos, n),) = places
    points = []
    for a, shape in zip(args, shapes):
        at = pos - (len(full) - len(shape))  # the data axis's position in this operand
        if isinstance(a, PointArray):
            points.append(a._point)
        elif at >= 0 and shape[at] != 1:
            if not is_data(a, at, n):
                return None
            points.append(PointArray.of_numpy(a, at)._point)
        else:
            data = operand(a)[0]
            points.append(data.reshape(shape[:at] + shape[at + 1 :]) if at >= 0 else data)
    out = ufunc(*points)
    if not isinstance(out, np.ndarray):
        cell = np.empty((), dtype=object)
        cell[()] = out
        out = cell
    return PointArray.of(frozen(out), pos, n)


def _point_matmul(a, b) -> Any:
    """``a @ b`` for 1-D and 2-D operands with a data axis, or None (then entry by entry).

    A data axis that is contracted (on both sides) gives sums over the points; one that is
    not (the rows of ``a``, the columns of ``b``) stays a data axis of the result.
    """
    if not _has_points(a, b):
        return None
    sa, sb = _shape(a), _shape(b)
    if len(sa) not in (1, 2) or len(sb) not in (1, 2) or sa[-1] != sb[0]:
        return None
    ca, cb = len(sa) - 1, 0  # the contracted axes
    pa = a._axis if isinstance(a, PointArray) else None
    pb = b._axis if isinstance(b, PointArray) else None
    if pa is None and pb == cb and is_data(a, ca, sb[0]):
        a, pa = PointArray.of_numpy(a, ca), ca
    elif pb is None and pa == ca and is_data(b, cb, sa[-1]):
        b, pb = PointArray.of_numpy(b, cb), cb
    elif pa is None and pb is None:
        if len(sa) == 2 and is_data(a, 0):
            a, pa = PointArray.of_numpy(a, 0), 0
        elif len(sb) == 2 and is_data(b, 1):
            b, pb = PointArray.of_numpy(b, 1), 1
    if pa == ca and pb == cb:  # a sum over the points of per-point products
        n = a._n
        outer = np.multiply.outer(a._point, b._point) if a._point.ndim or b._point.ndim else a._point * b._point
        summed = np.frompyfunc(lambda e: point_sum(e, n), 1, 1)(np.asarray(outer, dtype=object))
        return as_result(frozen(np.asarray(summed, dtype=object)))
    if pa == 0 and len(sa) == 2 and pb is None:  # rows of a are points
        point = matmul_entries(a._point, operand(b)[0])
        return PointArray.of(point, 0, a._n)
    if pb == 1 and len(sb) == 2 and pa is None:  # columns of b are points
        point = matmul_entries(operand(a)[0], b._point)
        return PointArray.of(point, point.ndim, b._n)
    return None


def _compare(name: str, a, b) -> Any:
    try:
        return COMPARE[name](a, b)
    except SympileError:
        if isinstance(b, (SymbolicArray, np.ndarray, list, tuple, sp.Basic, int, float, complex)):
            raise
        return NotImplemented  # not an array's entry (None, text, ...): Python compares identity


def _no_dtype_out(name: str, dtype, out) -> None:
    if dtype is not None or out is not None:
        raise UnsupportedFunctionError(
            f"{name} of a symbolic array does not support dtype= or out=; its entries are exact and it is "
            "immutable: use the returned value (astype sets a dtype)"
        )


def _rebuild_array(entries, shape, dtype):
    return SymbolicArray(entries, shape, dtype)


def _reduced(data: np.ndarray, keepdims: bool):
    return SymbolicArray._from_data(data) if keepdims else as_result(data)


def _subs_pairs(args) -> list:
    if len(args) == 2:
        args = [(args[0], args[1])]
    elif len(args) == 1:
        args = list(args[0].items()) if isinstance(args[0], dict) else list(args[0])
    else:
        raise SympileError("subs takes (old, new), a list of pairs or a dict")
    pairs = []
    for old, new in args:
        if isinstance(old, (SymbolicArray, np.ndarray, list, tuple)):
            olds = as_object_array(old)
            news = np.broadcast_to(as_object_array(new), olds.shape)
            pairs += list(zip(olds.ravel().tolist(), news.ravel().tolist()))
        else:
            pairs.append((old, entry(new)))
    return pairs


def named_array(name: str, shape: ShapeLike, dtype: Any = np.float64) -> SymbolicArray:
    """A symbolic array whose entries are symbols ``name[i, j, ...]``.

    ``dtype`` sets the symbols' assumptions: integer, real (float) or complex entries.
    A shape of ``None`` or ``()`` gives a 0-d array of one symbol named ``name``.

    Example:
        >>> from sympile import named_array
        >>> named_array("x", (2, 2)).tolist()
        [[x[0, 0], x[0, 1]], [x[1, 0], x[1, 1]]]
    """
    if not isinstance(name, str):
        raise SympileError(f"named_array: the name must be a string, got {type(name).__name__}")
    shape = as_shape(shape)
    dtype = np.dtype(np.float64 if dtype is None else dtype)
    if dtype.kind in "iu":
        assumptions = {"integer": True}
    elif dtype.kind == "b":
        assumptions = {"integer": True, "nonnegative": True}
    elif dtype.kind == "f":
        assumptions = {"real": True}
    elif dtype.kind == "c":
        assumptions = {"complex": True}
    else:
        raise SympileError(f"named_array: dtype must be a numeric NumPy dtype, got {dtype}")
    data = np.empty(shape, dtype=object)
    if shape:
        for idx in itertools.product(*(range(n) for n in shape)):
            data[idx] = sp.Symbol(f"{name}[{', '.join(map(str, idx))}]", **assumptions)
    else:
        data[()] = sp.Symbol(name, **assumptions)
    out = SymbolicArray._from_data(frozen(data), dtype)
    out._name = name
    return out


__all__ = [
    "SymbolicArray",
    "PointArray",
    "named_array",
    "as_object_array",
    "operand",
    "elementwise",
    "ELEMENTWISE",
    "COMPARE",
    "UFUNCS",
    "UFUNC_REDUCTIONS",
    "as_result",
    "matmul",
    "dot",
    "trace",
]
