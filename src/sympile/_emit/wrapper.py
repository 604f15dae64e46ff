"""The one layer between generated code and its callers, shared by every backend.

A backend's ``build(graph, arg_tree, out_tree, options)`` returns a `Built`: the function
of the user's arguments, its source, and what a frontend may use beyond calling it (an
entry that takes the calling object first, a compiled C kernel). Frontends read these
fields; they never look inside the generated code's namespace.

The Python backends write their entry points alike, through `entry_frame`: the parameters
and the statements that unpack nested arguments (`sympile._core.tree.arg_targets`), and the
return value, in which every output that does not depend on every input is broadcast to the
inputs' shape and a Matrix or Array output is stacked (``_array``, batch dimensions last).
What every broadcast output needs of the inputs (their broadcast shape, their dtype) is
worked out once per call (``_like = _common(a0, a1, ...)``), and each such output is then
``_broadcast(value, _like)``: nothing per call grows as outputs x inputs. Each backend
supplies ``_common``, ``_broadcast`` and ``_array`` for its array library (`array_of` makes
``_array`` from the library's stacking); the text is the same for all.

Every input is checked and converted once, at the call boundary, the same way on every
backend (`Inputs`): what is not a number or an array of numbers is refused there with an
`ArgumentError`, before any arithmetic could run on it. An array of a lazy library (a Dask
array) is never made a NumPy array there: the boundary raises `Deferred`, and the call goes to
that library's handler (`call_deferred`), which maps the function over the array's blocks.
"""

from __future__ import annotations

import sys
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property
from typing import Any

import numpy as np

from .._core.errors import ArgumentError
from .._core.graph import Graph
from .._core.kinds import literal_typed
from .._core.tree import arg_targets, spell
from .._core.tuning import CACHE_SIZE


@dataclass
class Built:
    """What a backend's ``build`` gives a frontend.

    ``fn`` takes the user's arguments; ``source`` is the generated code. ``method``, where the
    backend has one, is the same entry taking the calling object first (``method(owner,
    *args)``, with ``owner`` None for no object), so that a frontend can make it a class's
    ``__call__`` and save a Python frame per call; ``kernel`` is the compiled object behind
    ``fn`` where there is one (the C backend's kernel, PyTensor's compiled functions).
    """

    fn: Callable
    source: str
    method: Callable | None = None
    kernel: Any = None
    inputs: Inputs | None = None  # what ``fn`` takes as an input (None: the default `Inputs`)


class LRU:
    """A small least-recently-used cache (compiled functions kept per process)."""

    def __init__(self, size: int = CACHE_SIZE):
        self.size = size
        self._items: OrderedDict = OrderedDict()

    def get(self, key, make: Callable[[], Any]) -> Any:
        """The value for ``key``, made with ``make()`` and kept when absent."""
        hit = self._items.get(key)
        if hit is None:
            hit = self._items[key] = make()
            if len(self._items) > self.size:
                self._items.popitem(last=False)
        else:
            self._items.move_to_end(key)
        return hit

    def __len__(self) -> int:
        return len(self._items)

    def clear(self) -> None:
        self._items.clear()


def spell_array(shape: tuple, items: list[str]) -> str:
    """Source text for a Matrix/Array output from its entries' texts."""
    return f"_array({tuple(shape)!r}, [{', '.join(items)}])"


@dataclass
class Frame:
    """How a Python entry point of a graph takes its arguments and gives its outputs.

    ``params`` and ``unpack`` take and unpack the arguments into the flat inputs ``a0, a1,
    ...``; ``ready`` (after any conversion of the inputs) prepares what ``outputs`` needs;
    ``outputs(texts)`` are the outputs' texts, broadcast where needed, and ``returns(texts)``
    the return value built from them in the output structure.
    """

    params: list[str]
    unpack: list[str]
    ready: list[str]
    outputs: Callable[[list[str]], list[str]]
    out_tree: tuple

    def returns(self, texts: list[str]) -> str:
        return spell(self.out_tree, self.outputs(texts), spell_array)


def entry_frame(graph: Graph, arg_tree: tuple, out_tree: tuple, *, broadcast: bool = True) -> Frame:
    """The `Frame` of an entry point of ``graph`` with arguments ``arg_tree`` and outputs
    ``out_tree``; with ``broadcast``, every output that ignores an input, or whose dtype its
    literals alone decide (`literal_typed`: ``where(c, 1, 0)``), is broadcast to the inputs' shape
    and dtype (``_broadcast(value, _like)``, with ``_like = _common(inputs)`` made once)."""
    params, unpack = arg_targets(arg_tree)
    n_in = len(graph.inputs)
    deps = graph.input_dependence()
    full = (1 << n_in) - 1
    literal = literal_typed(graph)
    ignoring = [broadcast and n_in > 0 and (deps[o] != full or literal[o]) for o in graph.outputs]
    # what the broadcasts need of the inputs is worked out once per call, not once per output
    ready = [f"_like = _common({', '.join(f'a{k}' for k in range(n_in))})"] if any(ignoring) else []

    def outputs(texts: list[str]) -> list[str]:
        return [f"_broadcast({t}, _like)" if ig else t for t, ig in zip(texts, ignoring)]

    return Frame(params, unpack, ready, outputs, out_tree)


def array_of(stack: Callable[[list], Any], zeros: Callable[[tuple], Any]) -> Callable:
    """A backend's ``_array(shape, entries)``: the entries (broadcast together by ``stack``)
    as one array of shape ``(*shape, *batch)``."""

    def _array(shape, entries):
        if not entries:
            return zeros(tuple(shape))
        a = stack(entries)
        return a.reshape(tuple(shape) + tuple(a.shape[1:]))

    return _array


# -- one point: the arguments as Python numbers -------------------------------------------------
#
# A call at one point (Python floats, NumPy float64 scalars or 0-d arrays, 1-D float64 state
# vectors or lists of floats through nested arguments) runs the straight-line scalar code on
# Python numbers, which costs a fraction of NumPy's per-operation overhead. These turn an
# argument into Python numbers, or say it is not one point (`NOT_A_POINT`), at a cost that
# grows with the argument's length only.

#: What `point_scalar` gives for anything that is not one float64-or-Python number.
NOT_A_POINT = object()

_F64 = np.dtype(np.float64)
_NDARRAY = np.ndarray
_FLOAT64 = np.float64


def point_scalar(v: Any) -> Any:
    """``v`` as a Python ``float`` or ``int`` when it is one number computed in float64: a Python
    float or int (not a bool), a NumPy float64 scalar, a 0-d float64 array; else `NOT_A_POINT`."""
    t = type(v)
    if t is float or t is int:
        return v
    if t is _FLOAT64:
        return float(v)
    if t is _NDARRAY and v.shape == () and v.dtype == _F64:
        return v.item()
    return NOT_A_POINT


def point_vector(v: Any, n: int) -> list | None:
    """The ``n`` numbers of a nested argument of ``n`` leaves given as one point (a 1-D float64
    array, or a list or tuple of `point_scalar` numbers), as a list of Python numbers; else None."""
    t = type(v)
    if t is _NDARRAY:
        return v.tolist() if v.shape == (n,) and v.dtype == _F64 else None
    if (t is not list and t is not tuple) or len(v) != n:
        return None
    for x in v:
        if type(x) is not float and type(x) is not int:
            return _converted(v)
    return v


def _converted(items) -> list | None:
    out = [point_scalar(x) for x in items]
    return None if any(x is NOT_A_POINT for x in out) else out


def point_leaves(v: Any, tree: tuple) -> list | None:
    """The leaves of a nested argument of structure ``tree`` (lists of leaves, any depth), given as
    one point (nested lists of numbers, or a float64 array of that nesting), in depth-first
    order as Python numbers; else None."""
    if type(v) is _NDARRAY:
        if v.dtype != _F64 or v.ndim == 0:
            return None
        v = v.tolist()
    out: list = []

    def walk(t, x) -> bool:
        if t[0] == "leaf":
            x = point_scalar(x)
            out.append(x)
            return x is not NOT_A_POINT
        if (type(x) is not list and type(x) is not tuple) or len(x) != len(t[1]):
            return False
        return all(walk(s, y) for s, y in zip(t[1], x))

    return out if walk(tree, v) else None


# -- every input: checked and converted once, the same way on every backend ---------------------

#: NumPy dtype kinds of numbers: bool, signed and unsigned integers, floats, complex numbers.
NUMERIC_KINDS = "biufc"


@dataclass(frozen=True)
class Inputs:
    """What a backend's compiled functions take as one input, and how it is converted (`convert`).

    Every backend takes Python numbers (``bool``, ``int``, ``float``, and ``complex`` where it
    computes complex numbers: ``complex``), NumPy numbers and arrays of numeric dtypes (bool,
    integers, floats, complex numbers: `NUMERIC_KINDS`) in any byte order and with any strides,
    objects whose ``__array__`` gives such an array (NumPy array subclasses are taken as plain
    arrays), and lists or tuples of numbers as arrays of points (made by NumPy, exactly: a list
    of Python floats is a float64 array). ``own`` are the backend's own array types (torch
    tensors, JAX arrays), taken as they are. With ``native``, a NumPy array not in native byte
    order, with a negative stride or unaligned is copied into one that is (frameworks that wrap
    NumPy's memory cannot use the others).

    Anything else (None, text, bytes, dates and times, ``Decimal``, ``Fraction``, arrays of
    objects, masked arrays) is refused with an `ArgumentError`, which `what_was_refused`
    describes for a message that names the argument.
    """

    own: tuple = ()
    own_name: str = ""
    native: bool = False
    complex: bool = True

    def accepted(self) -> str:
        """The accepted kinds, in words (for error messages)."""
        numbers = "bool, int, float, complex" if self.complex else "bool, int, float"
        kinds = "bool, integer, float or complex" if self.complex else "bool, integer or float"
        own = f"{self.own_name}, " if self.own_name else ""
        return (
            f"{own}Python numbers ({numbers}), NumPy numbers and arrays of {kinds} dtype (or objects "
            "whose __array__ gives one), and lists or tuples of numbers (arrays of points)"
        )

    def convert(self, values) -> list:
        """The inputs ``values``, each as the backend takes it; raises `ArgumentError` for one it does not."""
        plain, arrays, native = self._plain, self._arrays, self.native
        return [
            v
            if type(v) in plain or (type(v) is _NDARRAY and v.dtype in arrays and (not native or _native_layout(v)))
            else self.one(v)
            for v in values
        ]

    def one(self, v: Any) -> Any:
        """One input as the backend takes it: itself, or a NumPy array (see the class)."""
        t = type(v)
        if t is float or t is int or t is bool:
            return v
        if t is _NDARRAY:
            if v.dtype.kind not in self._kinds:
                raise ArgumentError(f"{_describe(v)}: {_NOT_NUMBERS}")
            if self.native and not (v.dtype.isnative and _native_layout(v)):
                return np.array(v, dtype=v.dtype.newbyteorder("="), order="C")
            return v
        if t is complex and self.complex:
            return v
        if self.own and isinstance(v, self.own):
            return v
        if isinstance(v, np.generic) and v.dtype.kind in self._kinds:
            return v
        if deferred_library(v) is not None:  # computed by its library, blockwise: never np.asarray here
            raise Deferred
        if v is None or isinstance(v, (str, bytes, bytearray, complex, np.generic, np.ma.MaskedArray)):
            raise ArgumentError(f"{_describe(v)}: {_NOT_NUMBERS}")
        try:
            a = np.asarray(v)  # a plain ndarray, also of an array subclass
        except (ValueError, TypeError, RuntimeError) as e:  # a ragged list, a tensor on a GPU, ...
            raise ArgumentError(f"{_describe(v)}, of which NumPy cannot make an array ({e})") from e
        if a.dtype.kind not in self._kinds:
            raise ArgumentError(f"{_describe(v)}: {_NOT_NUMBERS}")
        return self.one(a)

    @cached_property
    def _kinds(self) -> str:
        return NUMERIC_KINDS if self.complex else NUMERIC_KINDS.replace("c", "")

    @cached_property
    def _arrays(self) -> frozenset:
        """The dtypes of NumPy arrays `convert` takes without a closer look: the numeric ones in
        native byte order (with ``native``, only if their layout is native too: `_native_layout`)."""
        return frozenset(np.dtype(c) for c in "?bhilqpBHILQPefdgFDG" if np.dtype(c).kind in self._kinds)

    @cached_property
    def _plain(self) -> frozenset:
        """The types of numbers taken as they are: Python's, and NumPy's numeric scalar types."""
        scalars = {np.dtype(c).type for c in "?bhilqpBHILQPefdgFDG"}
        return frozenset({bool, int, float, complex} | scalars) - (set() if self.complex else _COMPLEX_TYPES)

    def what_was_refused(self, v: Any) -> str | None:
        """What is wrong with ``v`` as an input (``"None: not a number or an array of numbers"``),
        or None if it is taken."""
        try:
            self.one(v)
        except Deferred:
            return None
        except ArgumentError as e:
            return str(e)
        return None


def _native_layout(v: np.ndarray) -> bool:
    """Whether the array's memory is what frameworks that wrap it need: aligned, no negative
    stride (a size-1 axis can have one in a C-contiguous array, so the strides are read)."""
    return (v.ndim == 0 or min(v.strides) >= 0) and v.flags.aligned


_NOT_NUMBERS = "not a number or an array of numbers"
_COMPLEX_TYPES = {complex, np.complex64, np.complex128, np.clongdouble}


def _describe(v: Any) -> str:
    """A value, in a few words: ``None``, ``a str``, ``an array of dtype object``, ``a list of Decimal``."""
    if v is None:
        return "None"
    if isinstance(v, np.ma.MaskedArray):
        return "a masked array (pass .filled(np.nan) for NaN where masked)"
    if isinstance(v, (np.ndarray, np.generic)):
        return f"{'an array' if isinstance(v, np.ndarray) else 'a NumPy scalar'} of dtype {v.dtype}"
    if isinstance(v, (list, tuple)):
        kinds = sorted({type(x).__name__ for x in _items(v)})
        return f"a {type(v).__name__} of {', '.join(kinds) or 'nothing'}"
    if isinstance(v, complex):
        return "a complex number (this backend computes real numbers only)"
    name = type(v).__name__
    if isinstance(v, (bytes, bytearray)):
        return f"a {name} object"
    return f"{'an' if name[:1].lower() in 'aeiou' else 'a'} {name}"


def _items(v, limit: int = 1000) -> list:
    """The non-sequence items of a nested list, the first ``limit`` of them."""
    out, stack = [], [v]
    while stack and len(out) < limit:
        x = stack.pop()
        if isinstance(x, (list, tuple)):
            stack.extend(reversed(x))
        else:
            out.append(x)
    return out


# -- inputs of lazy array libraries: handed to the library, never computed here -----------------

#: ``{top-level module: handler}`` for lazy array libraries (``"dask"``); ``handler(function, args,
#: kwargs)`` gives the call's lazy result. Filled by `sympile._scale`, which imports the library only
#: when a handler runs: a process that never made such an array never imports it.
DEFERRED: dict[str, Callable] = {}
_MODULES = sys.modules


class Deferred(ArgumentError):  # noqa: N818 -- a signal to the call boundary
    """Raised at the call boundary for an input of a lazy array library (`DEFERRED`): the entry
    point hands the call to `call_deferred` instead of making the input a NumPy array. Where no
    entry point takes it (a function that computes in memory only), it is the error the user sees."""

    def __init__(self, message: str = ""):
        super().__init__(
            message
            or "a lazy array (a Dask array) is not taken here: this function computes in memory; call "
            "a compiled function (what lambdify returns) with it, or compute the array first"
        )


def deferred_library(v: Any) -> str | None:
    """The key in `DEFERRED` of the library whose lazy array ``v`` is (by its type's module), or None."""
    name = type(v).__module__.partition(".")[0]
    return name if name in DEFERRED and name in _MODULES else None


def deferred_in(args) -> str | None:
    """`deferred_library` of the first lazy array among ``args`` (through nested lists and tuples),
    or None; costs one dictionary lookup per library when none has been imported."""
    for name in DEFERRED:
        if name in _MODULES:
            break
    else:
        return None
    stack = list(args)
    while stack:
        v = stack.pop()
        t = type(v)
        if t is list or t is tuple:
            stack.extend(v)
        elif t is not float and t is not int and t is not _NDARRAY:
            library = deferred_library(v)
            if library is not None:
                return library
    return None


def call_deferred(owner: Any, args: tuple, kwargs: dict) -> Any:
    """The call ``owner(*args, **kwargs)`` by the handler of the lazy arrays among ``args``."""
    library = deferred_in(args)
    if owner is None or library is None:  # a backend's bare entry point, without its function
        raise ArgumentError(
            "this entry point takes numbers and NumPy arrays; call the compiled function itself "
            "(what lambdify returns) with lazy arrays such as Dask's"
        )
    return DEFERRED[library](owner, args, kwargs)
