"""`lambdify`: SymPy's calling convention, generated through the graph."""

from __future__ import annotations

import inspect
import sys
from collections.abc import Mapping
from typing import Any

import numpy as np
import sympy as sp

from .._backends import MODULE_ALIASES, get_backend
from .._core.errors import ArgumentError, ShapeError, SympileError
from .._core.graph import Graph, paused_gc
from .._core.tree import flatten, mismatch, rebuild, top_level
from .._core.tree import leaves as flat_leaves
from .._emit.wrapper import LRU, Inputs, call_deferred, deferred_in
from .._sympy.lower import lower
from .._sympy.raising import to_sympy

_CACHE = LRU()
_MODULES = sys.modules


def lambdify(
    args: Any,
    expr: Any,
    backend: str = "numpy",
    *,
    extra_funcs: Mapping | None = None,
    modules: Any = None,
    cse: Any = None,
    dummify: Any = None,
    docstring_limit: Any = None,
) -> LambdifiedFunction:
    """Turn SymPy expressions into a fast numerical function, like `sympy.lambdify`.

    Args:
        args: a symbol, or a (nested) list/tuple of symbols; nested lists are unpacked
            from the matching nested arguments of the call.
        expr: an expression, or a (nested) list/tuple, Matrix or Array of them; the
            result has the same structure (a Matrix becomes a 2-D array with any batch
            dimensions last, as in SymPy).
        backend: ``"numpy"`` (default) or another installed backend.
        extra_funcs: ``{sympy function or name: callable}`` for functions sympile does not
            translate, or to override a built-in translation.
        modules: SymPy's argument, accepted for drop-in use: ``"numpy"``, ``"math"`` or
            ``"scipy"`` (all served by the NumPy backend), or a dict of extra functions.
        cse, dummify, docstring_limit: accepted and ignored: common subexpressions are
            always shared, and symbol names never reach the generated code.

    Returns:
        A callable with ``.source``, ``.args``, ``.expr`` and ``.graph``; it pickles by
        value (its graph), so it works in a fresh interpreter and in spawn workers.

    Example:
        >>> import sympy as sp
        >>> x, y = sp.symbols("x y")
        >>> f = lambdify([x, y], [sp.sin(x) * y, x**2])
        >>> f(0.5, 2.0)
        [0.958851077208406, 0.25]
    """
    backend, extra_funcs = _merge_modules(backend, modules, extra_funcs)
    if isinstance(args, str) or isinstance(expr, str):
        raise SympileError("lambdify takes SymPy objects, not strings: sympile never evaluates text as code")
    inputs, arg_tree = flatten(args)
    for s in inputs:
        if not isinstance(s, sp.Basic):
            raise SympileError(f"every argument must be a SymPy symbol; got {s!r}")
    exprs, out_tree = flatten(expr)
    with paused_gc():
        graph = lower(exprs, inputs, extra_funcs=extra_funcs)
        return LambdifiedFunction(graph, backend, {}, arg_tree, out_tree, args=args, expr=expr)


def _merge_modules(backend, modules, extra_funcs):
    if modules is None:
        return backend, extra_funcs
    extra = dict(extra_funcs or {})
    for m in modules if isinstance(modules, (list, tuple)) else [modules]:
        if isinstance(m, Mapping):
            extra.update(m)
        elif m in MODULE_ALIASES:
            if backend == "numpy":
                backend = MODULE_ALIASES[m]
        elif isinstance(m, str):
            backend = m
        else:
            raise SympileError(f"modules entries must be names or dicts, got {m!r}")
    return backend, extra


class LambdifiedFunction:
    """A compiled function: callable, with its ``.source``, ``.args``, ``.expr`` and ``.graph``.

    Where the backend's code has an entry that takes the calling object first
    (`Built.method`, the NumPy backend's), the object is an instance of a subclass made once
    per compiled function whose ``__call__`` is that entry: a call then runs one Python frame,
    as a plain function's does.
    """

    __slots__ = ("built", "graph", "backend", "_options", "_arg_tree", "_out_tree", "_args", "_expr", "_nargs")
    __slots__ += ("__weakref__",)  # jax.jit(f) keeps a weak reference to f

    def __new__(cls, graph: Graph, backend: str, options: dict, arg_tree, out_tree, *, args=None, expr=None):
        key = (graph.content_hash(), backend, repr(arg_tree), repr(out_tree), repr(sorted(options.items())))
        built, own_class = _CACHE.get(key, lambda: _build(graph, backend, options, arg_tree, out_tree))
        self = object.__new__(own_class)
        self.built = built
        self.graph = graph
        self.backend = backend
        self._options = options
        self._arg_tree = arg_tree
        self._out_tree = out_tree
        self._args = args
        self._expr = expr
        self._nargs = len(top_level(arg_tree))
        return self

    @property
    def source(self) -> str:
        """The generated code."""
        return self.built.source

    def __call__(self, *args, **kwargs):
        # keywords go to the backend's function (the C backend's ``out=`` and ``threads=``);
        # a framework's error (PyTorch's RuntimeError for shapes) is diagnosed too. Lazy arrays
        # (Dask's) go to their library's handler before any backend could compute them whole.
        # (The NumPy backend's own entry, its ``__call__``, hands them over at its call boundary.)
        if "dask" in _MODULES and deferred_in(args):  # one lookup while Dask is not imported
            return call_deferred(self, args, kwargs)
        try:
            return self.built.fn(*args, **kwargs)
        except (ValueError, TypeError, RuntimeError) as e:
            problem = self._diagnose(args, kwargs)
            if problem is None:
                raise
            raise problem from e

    def _diagnose(self, args, kwargs=None) -> SympileError | None:
        """Say which argument was wrong, by its symbol, when the error came from the arguments.

        In order: keywords the backend's function does not take, the number of arguments, their
        nesting, an input the call boundary refuses (`Inputs`), shapes that do not broadcast.
        """
        signature = f"({_describe(self.args)})"
        wrong = [k for k in kwargs or () if k not in _keywords(self.built.fn)]
        if wrong:
            return ArgumentError(
                f"this function takes its {self._nargs} argument(s) {signature} by position, not by keyword "
                f"(got {', '.join(f'{k}=' for k in wrong)}): call it as f{signature}"
            )
        if len(args) != self._nargs:
            return ArgumentError(
                f"this function takes {self._nargs} argument(s) {signature}, but {len(args)} were given"
            )
        leaves: list = []
        tops = top_level(self._arg_tree)
        for i, (t, a) in enumerate(zip(tops, args)):
            error = mismatch(t, a, leaves)
            if error:
                return ArgumentError(f"argument {i + 1} ({_sympy_structure(t, self._symbols())}): {error}")
        inputs = self.built.inputs or Inputs()
        names = [str(s) for s in self._symbols()]
        for i, t in enumerate(tops):
            for k in flat_leaves(t):
                refused = inputs.what_was_refused(leaves[k])
                if refused is not None:
                    where = f"argument {i + 1}" if t[0] == "leaf" else f"in argument {i + 1}"
                    return ArgumentError(
                        f"{names[k]} ({where}) is {refused}; the {self.backend} backend takes {inputs.accepted()}"
                    )
        shapes = [tuple(getattr(inputs.one(v), "shape", ())) for v in leaves]
        try:
            np.broadcast_shapes(*shapes)
        except ValueError:
            listing = ", ".join(f"{n}: {s}" for n, s in zip(names, shapes))
            return ShapeError(f"the arguments' shapes do not broadcast together ({listing})")
        return None

    def _symbols(self) -> list:
        """The input symbols, in the order of the flat inputs."""
        return list(self.graph.inputs)

    @property
    def args(self):
        """The arguments, as given to lambdify."""
        if self._args is None:
            self._args = _sympy_structure(self._arg_tree, list(self.graph.inputs))
        return self._args

    @property
    def expr(self):
        """The expression(s); after unpickling, the graph raised back to SymPy."""
        if self._expr is None:
            self._expr = _sympy_structure(self._out_tree, to_sympy(self.graph))
        return self._expr

    def __repr__(self) -> str:
        return f"<sympile function of ({_describe(self.args)}) on {self.backend}>"

    def __copy__(self):  # immutable: a copy is itself (and copying needs no pickling, below)
        return self

    def __deepcopy__(self, memo):
        return self

    def __reduce__(self):
        # An extra_funcs callable is pickled by reference: a lambda or local function has none.
        for n in self.graph.nodes:
            fn = n.attr[1] if n.op == "call" else None
            owner = sys.modules.get(getattr(fn, "__module__", None) or "")
            found = owner
            for part in getattr(fn, "__qualname__", "<>").split("."):
                found = getattr(found, part, None)
            if fn is not None and found is not fn:
                raise SympileError(
                    f"cannot pickle this function: its extra_funcs entry {n.attr[0]!r} is "
                    f"{getattr(fn, '__qualname__', fn)!r}, which pickle cannot find by name; define it "
                    f"with def at the top level of a module (not a lambda or a local function)"
                )
        return (_rebuild, (self.graph, self.backend, self._options, self._arg_tree, self._out_tree))


def _build(graph, backend, options, arg_tree, out_tree) -> tuple:
    """The backend's `Built`, and the class of the functions that run it."""
    built = get_backend(backend).build(graph, arg_tree, out_tree, options)
    if built.method is None:
        return built, LambdifiedFunction
    return built, type("LambdifiedFunction", (LambdifiedFunction,), {"__slots__": (), "__call__": built.method})


def _rebuild(graph, backend, options, arg_tree, out_tree):
    with paused_gc():
        return LambdifiedFunction(graph, backend, options, arg_tree, out_tree)


def _keywords(fn) -> set:
    """The names ``fn`` takes only by keyword (the C backend's ``out`` and ``threads``)."""
    try:
        parameters = inspect.signature(fn).parameters.values()
    except (TypeError, ValueError):
        return set()
    return {p.name for p in parameters if p.kind is inspect.Parameter.KEYWORD_ONLY}


def _describe(args) -> str:
    if isinstance(args, (list, tuple)):
        return ", ".join(_describe(a) if isinstance(a, (list, tuple)) else str(a) for a in args)
    return str(args)


def _sympy_structure(tree, leaves: list):
    """The structure of ``tree`` with SymPy leaves; arrays as Matrices (2-D) or Arrays."""

    def array(shape, ks):
        items = [leaves[k] for k in ks]
        return sp.ImmutableMatrix(*shape, items) if len(shape) == 2 else sp.Array(items, shape)

    return rebuild(tree, leaves.__getitem__, array)


def flat_form(graph, backend: str, options: dict) -> LambdifiedFunction:
    """``graph`` compiled taking one argument per input and giving a tuple of its outputs: the
    form that maps elementwise over blocks of arrays (Dask, a stack of numpified points)."""
    args = ("tuple", [("leaf", k) for k in range(len(graph.inputs))])
    outs = ("tuple", [("leaf", k) for k in range(len(graph.outputs))])
    return LambdifiedFunction(graph, backend, dict(options), args, outs)
