"""`SymbolicArray`: an n-dimensional array of SymPy scalars with NumPy's semantics.

The entries live in a read-only NumPy ``object`` array, so shapes, broadcasting, indexing,
transposes and reshapes are NumPy's own; arithmetic applies SymPy's operators entry by
entry. Reductions build one n-ary ``Add``/``Mul`` per result, never a left fold (which
SymPy would rebuild at every step). Everything a traced function computes stays a scalar
SymPy expression per entry; `numpify` lowers them all into one graph.
"""

from __future__ import annotations

import itertools
import operator
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
import sympy as sp

from .._core.errors import ShapeError, SympileError, UnsupportedFunctionError

ShapeLike = Any  # int, tuple of ints, or None (a scalar)


def _entry(v) -> sp.Basic:
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


_to_entries = np.frompyfunc(_entry, 1, 1)


def _frozen(data: np.ndarray) -> np.ndarray:
    data.flags.writeable = False
    return data


def as_object_array(obj) -> np.ndarray:
    """``obj`` (a SymbolicArray, NumPy array, SymPy array or matrix, nested list, scalar) as an
    ``object`` array of SymPy entries."""
    if isinstance(obj, SymbolicArray):
        return obj._data
    if isinstance(obj, np.ndarray):
        if obj.dtype == object:
            return _frozen(np.asarray(_to_entries(obj), dtype=object))
        return _frozen(np.asarray(_to_entries(obj.astype(object)), dtype=object))
    if isinstance(obj, (sp.MatrixBase, sp.NDimArray)):
        shape = tuple(obj.shape)
        data = np.empty(shape, dtype=object)
        for idx in itertools.product(*(range(n) for n in shape)):
            data[idx] = _entry(obj[idx])
        return _frozen(data)
    if isinstance(obj, (list, tuple)):
        parts = [as_object_array(o) for o in obj]
        shapes = {p.shape for p in parts}
        if len(shapes) > 1:
            raise ShapeError(
                f"cannot make an array from a ragged nested sequence (its items have shapes {sorted(shapes)}); "
                "every item of a level must have the same shape"
            )
        if not parts:
            return _frozen(np.empty((0,), dtype=object))
        out = np.empty((len(parts), *parts[0].shape), dtype=object)
        for k, p in enumerate(parts):
            out[k] = p[()] if p.ndim == 0 else p  # a 0-d array would be stored as an object itself
        return _frozen(out)
    data = np.empty((), dtype=object)
    data[()] = _entry(obj)
    return _frozen(data)


def _operand(obj) -> tuple[np.ndarray, bool]:
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
    return SymbolicArray._from_data(_frozen(data))


def elementwise(fn: Callable, nin: int, name: str) -> Callable:
    """``fn`` on SymPy scalars, applied entry by entry with NumPy broadcasting.

    Scalars in give a scalar out; any array in gives a `SymbolicArray` out.
    """
    ufunc = np.frompyfunc(fn, nin, 1)

    def apply(*args):
        ops = [_operand(a) for a in args]
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


def lazy(fn):
    """``fn`` (a SymPy function or relation) evaluated now for numbers only.

    SymPy's automatic evaluation of a function of a symbolic argument asks the assumption
    system many questions (``exp`` of a 10-term sum: ~25 ms, ``Max``: ~60 ms); a traced
    function does not need the answers, and the graph simplifies what matters.
    """

    def apply(*args):
        if all(getattr(a, "is_number", True) for a in args):
            return fn(*args)
        return fn(*args, evaluate=False)

    return apply


def _floordiv(a, b):
    # NumPy's floor_divide: the whole number of times b goes into a, rounded from the exact
    # remainder (1.0 // 0.1 is 9.0; floor(1.0 / 0.1) would be 10).
    if getattr(a, "is_number", True) and getattr(b, "is_number", True):
        if (a.is_Float or b.is_Float) and a.is_real and b.is_real and b != 0:
            return sp.Float(float(a) // float(b))  # Python's float // is NumPy's
        return sp.floor(a / b)  # exact
    whole = lazy(sp.floor)((a - lazy(sp.Mod)(a, b)) / b + sp.S.Half)
    return sp.Piecewise((a / b, lazy(sp.Eq)(b, 0)), (whole, True), evaluate=False)


def _pow(a, b):
    if getattr(a, "is_number", True) and getattr(b, "is_number", True):
        return a**b
    # Evaluating ``(sum of terms)**2`` asks the assumption system about every term (~1 ms);
    # the graph needs only the structure.
    return sp.Pow(a, b, evaluate=False)


_ADD = elementwise(operator.add, 2, "add")
_SUB = elementwise(operator.sub, 2, "subtract")
_MUL = elementwise(operator.mul, 2, "multiply")
_DIV = elementwise(operator.truediv, 2, "divide")
_FLOORDIV = elementwise(_floordiv, 2, "floor_divide")
_MOD = elementwise(lazy(sp.Mod), 2, "mod")
_POW = elementwise(_pow, 2, "power")
power = _pow
floor_divide = _floordiv
_LT = elementwise(lazy(sp.Lt), 2, "less")
_LE = elementwise(lazy(sp.Le), 2, "less_equal")
_GT = elementwise(lazy(sp.Gt), 2, "greater")
_GE = elementwise(lazy(sp.Ge), 2, "greater_equal")
_EQ = elementwise(lazy(sp.Eq), 2, "equal")
_NE = elementwise(lazy(sp.Ne), 2, "not_equal")
_NEG = elementwise(operator.neg, 1, "negative")
_ABS = elementwise(lazy(sp.Abs), 1, "absolute")
_RE = elementwise(sp.re, 1, "real")
_IM = elementwise(sp.im, 1, "imag")
_CONJ = elementwise(sp.conjugate, 1, "conjugate")


def _swap(fn):
    return lambda a, b: fn(b, a)


# -- reductions and contractions -----------------------------------------------------------


def _axes(axis, ndim: int, name: str) -> tuple[int, ...]:
    if axis is None:
        return tuple(range(ndim))
    items = axis if isinstance(axis, (tuple, list)) else (axis,)
    out = []
    for a in items:
        if not isinstance(a, (int, np.integer)) or isinstance(a, bool):
            raise SympileError(f"{name}: axis must be an int or a tuple of ints, got {axis!r}")
        if not -ndim <= a < ndim:
            raise ShapeError(f"{name}: axis {a} is out of bounds for an array of dimension {ndim}")
        out.append(int(a) % ndim)
    if len(set(out)) != len(out):
        raise ShapeError(f"{name}: repeated axis in {axis!r}")
    return tuple(out)


def reduce_entries(data: np.ndarray, axis, keepdims: bool, combine: Callable[[list], Any], name: str) -> np.ndarray:
    """``combine`` (a function of a list of entries) over ``axis`` of an object array."""
    axes = _axes(axis, data.ndim, name)
    keep = [d for d in range(data.ndim) if d not in axes]
    moved = np.transpose(data, keep + list(axes))
    lead = moved.shape[: len(keep)]
    rows = moved.reshape((*lead, -1))
    out = np.empty(lead, dtype=object)
    for idx in np.ndindex(*lead):
        out[idx] = combine(rows[idx].tolist())
    if keepdims:
        out = out.reshape(tuple(1 if d in axes else n for d, n in enumerate(data.shape)))
    return _frozen(out)


def add_all(items: list) -> sp.Basic:
    return sp.Add(*items) if items else sp.Integer(0)


def multiply_all(items: list) -> sp.Basic:
    return sp.Mul(*items) if items else sp.Integer(1)


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
    return _frozen(out.reshape(am.shape[:-1] + bm.shape[1:]))


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
    return _frozen(np.asarray(out, dtype=object))


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
            shape = _shape(shape)
            if data.size == int(np.prod(shape, dtype=int)):
                data = _frozen(data.reshape(shape))
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
            if all(isinstance(e, sp.logic.boolalg.Boolean) for e in entries):
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
        return _RE(self)

    @property
    def imag(self) -> SymbolicArray:
        return _IM(self)

    def conj(self) -> SymbolicArray:
        return _CONJ(self)

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
            return SymbolicArray._from_data(_frozen(got), self._dtype)
        return got

    def __setitem__(self, index, value):
        raise SympileError(
            "symbolic arrays are immutable: build a new one instead of assigning into it "
            "(snp.where, snp.concatenate, snp.stack)"
        )

    def __array__(self, dtype=None, copy=None) -> np.ndarray:
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
        from .snp import UFUNCS

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
    __add__ = _ADD
    __sub__ = _SUB
    __mul__ = _MUL
    __truediv__ = _DIV
    __floordiv__ = _FLOORDIV
    __mod__ = _MOD
    __pow__ = _POW
    __radd__ = _swap(_ADD)
    __rsub__ = _swap(_SUB)
    __rmul__ = _swap(_MUL)
    __rtruediv__ = _swap(_DIV)
    __rfloordiv__ = _swap(_FLOORDIV)
    __rmod__ = _swap(_MOD)
    __rpow__ = _swap(_POW)
    __lt__ = _LT
    __le__ = _LE
    __gt__ = _GT
    __ge__ = _GE
    __eq__ = _EQ  # elementwise, as in NumPy
    __ne__ = _NE
    __hash__ = None  # type: ignore[assignment]
    __neg__ = _NEG
    __abs__ = _ABS

    def __pos__(self) -> SymbolicArray:
        return self

    def __matmul__(self, other) -> Any:
        return _matmul_result(matmul_entries(self._data, _operand(other)[0]))

    def __rmatmul__(self, other) -> Any:
        return _matmul_result(matmul_entries(_operand(other)[0], self._data))

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
        return SymbolicArray._from_data(_frozen(data), self._dtype)

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
        return SymbolicArray._from_data(_frozen(data), self._dtype)

    def squeeze(self, axis=None) -> SymbolicArray:
        try:
            return SymbolicArray._from_data(_frozen(np.squeeze(self._data, axis)), self._dtype)
        except ValueError as e:
            raise ShapeError(str(e)) from None

    def swapaxes(self, axis1: int, axis2: int) -> SymbolicArray:
        return SymbolicArray._from_data(_frozen(np.swapaxes(self._data, axis1, axis2)), self._dtype)

    def copy(self) -> SymbolicArray:
        return self

    def astype(self, dtype) -> SymbolicArray:
        return SymbolicArray._from_data(self._data, np.dtype(dtype))

    # -- reductions ------------------------------------------------------------------------------
    def sum(self, axis=None, keepdims: bool = False) -> Any:
        return _reduced(reduce_entries(self._data, axis, keepdims, add_all, "sum"), axis, keepdims)

    def prod(self, axis=None, keepdims: bool = False) -> Any:
        return _reduced(reduce_entries(self._data, axis, keepdims, multiply_all, "prod"), axis, keepdims)

    def mean(self, axis=None, keepdims: bool = False) -> Any:
        axes = _axes(axis, self.ndim, "mean")
        count = int(np.prod([self.shape[a] for a in axes], dtype=int))
        if count == 0:
            raise ShapeError("mean of an empty array")
        return _reduced(
            reduce_entries(self._data, axis, keepdims, lambda items: add_all(items) / count, "mean"), axis, keepdims
        )

    def dot(self, other) -> Any:
        from .snp import dot

        return dot(self, other)

    def trace(self, offset: int = 0, axis1: int = 0, axis2: int = 1) -> Any:
        from .snp import trace

        return trace(self, offset, axis1, axis2)

    def diagonal(self, offset: int = 0, axis1: int = 0, axis2: int = 1) -> SymbolicArray:
        return SymbolicArray._from_data(_frozen(np.diagonal(self._data, offset, axis1, axis2).copy()))

    # -- SymPy --------------------------------------------------------------------------------------
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
            out = _diff(out, v)
        return out

    def _map(self, fn: Callable) -> SymbolicArray:
        return SymbolicArray._from_data(_frozen(np.asarray(np.frompyfunc(fn, 1, 1)(self._data), dtype=object)))


def _shape(shape: ShapeLike) -> tuple[int, ...]:
    if shape is None:
        return ()
    if isinstance(shape, (int, np.integer)) and not isinstance(shape, bool):
        shape = (int(shape),)
    if isinstance(shape, sp.Tuple):
        shape = tuple(int(s) for s in shape)
    if not isinstance(shape, (tuple, list)) or not all(
        isinstance(s, (int, np.integer)) and not isinstance(s, bool) and s >= 0 for s in shape
    ):
        raise ShapeError(f"a shape is None, a non-negative int or a tuple of them, not {shape!r}")
    return tuple(int(s) for s in shape)


def _rebuild_array(entries, shape, dtype):
    return SymbolicArray(entries, shape, dtype)


def _reduced(data: np.ndarray, axis, keepdims: bool):
    if data.ndim == 0 and not keepdims:
        return data[()]
    return SymbolicArray._from_data(data)


def _matmul_result(data: np.ndarray):
    return data[()] if data.ndim == 0 else SymbolicArray._from_data(data)


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
            pairs.append((old, _entry(new)))
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
    shape = _shape(shape)
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
    out = SymbolicArray._from_data(_frozen(data), dtype)
    out._name = name
    return out


def input_atoms(entries) -> list:
    """The free symbols (and applied undefined functions) of the entries, in a stable order."""
    found: set = set()
    for e in entries:
        if isinstance(e, sp.Basic):
            found |= e.free_symbols
            found |= {a for a in e.atoms(sp.Function) if isinstance(a, sp.core.function.AppliedUndef)}
    return sorted(found, key=sp.default_sort_key)


def _diff(array: SymbolicArray, v) -> SymbolicArray:
    from .._core.graph import Builder, paused_gc
    from .._sympy.lower import lower
    from .._sympy.raising import to_sympy
    from .._transforms.ad import jacobian_nodes

    wrt = as_object_array(v)
    wrt_entries = wrt.ravel().tolist()
    for w in wrt_entries:
        if not (w.is_Symbol or isinstance(w, sp.core.function.AppliedUndef)):
            raise SympileError(f"diff: can only differentiate by symbols, not {w}")
    if len(set(wrt_entries)) != len(wrt_entries):
        raise SympileError("diff: the variables repeat a symbol")
    entries = array._data.ravel().tolist()
    others = [s for s in input_atoms(entries) if s not in set(wrt_entries)]
    with paused_gc():
        graph = lower(entries, wrt_entries + others)
        b = Builder(graph)
        xs = [b.node("input", (), k) for k in range(len(wrt_entries))]
        rows = jacobian_nodes(b, list(graph.outputs), xs)
        # SymPy's convention: d(array)/d(v) has shape v.shape + array.shape.
        outs = [rows[i][j] for j in range(len(xs)) for i in range(len(entries))]
        raised = to_sympy(b.graph(outs, graph.inputs).pruned())
    data = np.empty(len(raised), dtype=object)
    data[:] = raised
    return SymbolicArray._from_data(_frozen(data.reshape(wrt.shape + array.shape)))


__all__ = ["SymbolicArray", "named_array", "as_object_array", "elementwise", "lazy", "power", "floor_divide"]
