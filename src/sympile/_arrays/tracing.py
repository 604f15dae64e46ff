"""Tracing: call a NumPy-style function on symbolic arrays and lower what it returns into one graph.

Tracing calls the function once on `named_array` arguments; every entry of every output
is a SymPy scalar, and all of them are lowered into one `Graph` (so subexpressions shared
between entries are computed once). A `Traced` function keeps the graph with the
arguments' shapes and names and the output's structure, which `build_symbolic` fills back
in with SymPy values; `numpify` compiles it and `diffops` differentiates it.
"""

from __future__ import annotations

import contextlib
import inspect
from collections.abc import Callable
from typing import NamedTuple

import numpy as np
import sympy as sp
from sympy.core.parameters import evaluate

from .._core.data import Data
from .._core.errors import ArgumentError, SympileError, TracingError
from .._core.graph import Graph, paused_gc
from .._core.rewrite import rewrite
from .._functions.lambdify import LambdifiedFunction
from .._sympy.lower import lower
from .._transforms.points import PointCounts, fold_data, sum_points
from .data_axis import PointSum, data_axis
from .entries import as_shape, entry, frozen
from .symbolic_array import SymbolicArray, as_object_array, named_array


class Traced(NamedTuple):
    """A traced function: its graph, argument shapes and names, and output structure.

    The graph's inputs are the arguments' entries in order (row-major within each
    argument); ``out_tree`` is a structure tree (`_core.tree`) whose ``("array", shape, ...)`` nodes
    are output arrays and whose leaves number the graph's outputs.
    """

    graph: Graph
    arg_shapes: tuple
    arg_names: tuple
    out_tree: tuple
    name: str


def arg_names(func: Callable, n: int) -> list[str]:
    """Names for ``n`` positional arguments of ``func`` (``args_0, ...`` for ``*args``), from its signature."""
    try:
        params = list(inspect.signature(func).parameters.values())
    except (TypeError, ValueError):
        return [f"arg_{k}" for k in range(n)]
    names: list[str] = []
    required = 0
    for p in params:
        if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD):
            names.append(p.name)
            required += p.default is p.empty
        elif p.kind is p.VAR_POSITIONAL:
            names += [f"{p.name}_{k}" for k in range(max(0, n - len(names)))]
            break
    if n < required or n > len(names):
        what = f"{required}" if required == len(names) else f"{required} to {len(names)}"
        raise ArgumentError(
            f"{function_name(func)} takes {what} positional argument(s) but {n} shape(s) were given; "
            "give one shape per argument (None or () for a scalar)"
        )
    return names[:n]


def function_name(func) -> str:
    """``func``'s name for messages and generated code (``lambda`` for a lambda)."""
    name = getattr(func, "__name__", None) or type(func).__name__
    return "lambda" if name == "<lambda>" else name


def symbolic_arguments(arg_shapes, names) -> list:
    """One symbolic argument per shape: a real symbol for ``None``, else a `named_array`."""
    return [sp.Symbol(n, real=True) if s is None else named_array(n, s) for s, n in zip(arg_shapes, names)]


def entries_of(value) -> list:
    """The entries of a symbolic argument in row-major order."""
    if isinstance(value, SymbolicArray):
        return value._data.ravel().tolist()
    return as_object_array(value).ravel().tolist()


def flatten_output(value, leaves: list) -> tuple:
    """The structure tree of a traced function's value, appending its entries to ``leaves``."""
    if isinstance(value, tuple):
        return ("tuple", [flatten_output(v, leaves) for v in value])
    if isinstance(value, list):
        return ("list", [flatten_output(v, leaves) for v in value])
    if isinstance(value, (SymbolicArray, np.ndarray, sp.MatrixBase, sp.NDimArray)):
        data = value._data if isinstance(value, SymbolicArray) else as_object_array(value)
        if data.ndim == 0:
            leaves.append(data[()])
            return ("leaf", len(leaves) - 1)
        items = []
        for e in data.ravel().tolist():
            leaves.append(e)
            items.append(("leaf", len(leaves) - 1))
        return ("array", data.shape, items)
    if isinstance(value, (sp.Basic, bool, int, float, complex, np.generic)):
        leaves.append(entry(value))
        return ("leaf", len(leaves) - 1)
    raise SympileError(
        f"a traced function must return SymPy expressions, symbolic arrays or tuples/lists of them, "
        f"not {type(value).__name__}"
    )


def trace(func: Callable, arg_shapes, names=None, args=None, data: bool = False) -> Traced:
    """Call ``func`` on symbolic arguments and lower every output entry into one graph.

    ``args`` are the symbolic arguments to use (their entries must be distinct symbols);
    by default they are made from ``arg_shapes`` and ``names``. With ``data``, NumPy data that
    meets the arguments keeps its data axis (`data_axis`): a sum over it is a per-point graph
    and a ``psum``, whatever the number of points.
    """
    if isinstance(func, LambdifiedFunction):
        raise TracingError(
            "a function made by sympile.lambdify computes with numbers and cannot be traced with symbolic "
            "arrays; differentiate the SymPy expression itself: pass lambda x: <the expression written with "
            "sympile.numpy> here, or lambdify sympy.Matrix([expr]).jacobian(args) (or sympy.diff) instead"
        )
    if names is None:
        names = arg_names(func, len(arg_shapes))
    if args is None:
        args = symbolic_arguments(arg_shapes, names)
    try:
        # SymPy's automatic evaluation (collecting terms, asking assumptions) costs most of a
        # trace and the graph does not need it: lowering reads structure, the builder
        # simplifies and folds, and raised results are evaluated again.
        with evaluate(False), data_axis() if data else _no_data() as columns:
            value = func(*args)
    except SympileError:
        raise
    except TypeError as e:
        if "truth value" in str(e) or "cannot determine" in str(e):
            raise SympileError(
                f"{function_name(func)} branches on the value of an argument ({e}); a traced function must not: "
                "use sympile.numpy.where, maximum or minimum instead of if/else"
            ) from e
        if _numpy_on_symbols(e):
            raise _numpy_error(func, e) from e
        raise
    except (AttributeError, ValueError, np.linalg.LinAlgError) as e:
        if _numpy_on_symbols(e):
            raise _numpy_error(func, e) from e
        raise
    leaves: list = []
    with evaluate(False):
        out_tree = flatten_output(value, leaves)
    inputs = [s for a in args for s in entries_of(a)]
    with paused_gc():
        if columns:
            graph = lower(leaves, inputs + columns.symbols, extra_funcs={PointSum: _never_called})
            graph = fold_data(_point_graph(graph, len(inputs)))
        else:
            graph = lower(leaves, inputs)
    shapes = tuple(as_shape(s) for s in arg_shapes)
    return Traced(graph, shapes, tuple(names), out_tree, function_name(func))


#: Words in NumPy's errors for symbolic values it cannot compute with.
_NUMPY_ON_SYMBOLS = ("ufunc", "dtype('O')", "dtype=object", "object arrays", "Symbol", "Expr", "Add", "Mul")


def _numpy_on_symbols(e: Exception) -> bool:
    return type(e).__module__.startswith("numpy") or any(k in str(e) for k in _NUMPY_ON_SYMBOLS)


def _numpy_error(func, e: Exception) -> TracingError:
    return TracingError(
        f"{function_name(func)} calls a NumPy function that cannot compute with symbolic values ({e}); "
        "while it is traced its arguments are symbolic arrays: use the functions of sympile.numpy "
        "(import sympile.numpy as snp; snp.exp, snp.sum, snp.where, @ for products), not numpy's, and do not "
        "convert the arguments with numpy.asarray; for what sympile.numpy lacks (numpy.linalg), write the "
        "computation out or pass its result in as an argument"
    )


@contextlib.contextmanager
def _no_data():
    yield None


def _never_called(*args):
    raise AssertionError("a sum over data points is a psum node, never called")


def _point_graph(graph: Graph, n_inputs: int) -> Graph:
    """The lowered graph with its data columns (the inputs after ``n_inputs``) as ``data`` leaves
    and its `PointSum` calls as ``psum`` nodes."""
    columns = graph.inputs[n_inputs:]

    def rule(b, i, n, args):
        if n.op == "input" and n.attr >= n_inputs:
            return b.node("data", (), Data(columns[n.attr - n_inputs].values))
        if n.op == "call" and n.attr[0] is PointSum:
            return sum_points(b, args[0], int(b.nodes[args[1]].attr), PointCounts.of(b))
        return None

    new = rewrite(graph, rule)
    return Graph(new.nodes, new.outputs, graph.inputs[:n_inputs], new.params, new.buffers)


def build_symbolic(tree, values: list):
    """The output structure with symbolic arrays (and SymPy scalars for the leaves)."""
    kind = tree[0]
    if kind == "leaf":
        return values[tree[1]]
    if kind == "array":
        data = np.empty(len(tree[2]), dtype=object)
        data[:] = [values[t[1]] for t in tree[2]]
        return SymbolicArray._from_data(frozen(data.reshape(tree[1])))
    items = [build_symbolic(t, values) for t in tree[1]]
    return items if kind == "list" else tuple(items)


__all__ = [
    "Traced",
    "trace",
    "arg_names",
    "function_name",
    "symbolic_arguments",
    "entries_of",
    "flatten_output",
    "build_symbolic",
]
