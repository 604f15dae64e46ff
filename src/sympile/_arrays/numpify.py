"""`numpify`: trace a NumPy-style function with symbolic arrays, and compile it through the graph.

The traced graph (`tracing`) is compiled by the chosen backend like any other, with one
flat argument per input entry and the outputs assembled into arrays.

At call time a `NumpifiedFunction` checks each argument's shape (no silent broadcasting of
a stack of inputs into one row), hands the entries to the compiled code as Python numbers
(the NumPy backend's ``math`` path: far cheaper than NumPy on scalars) and gives float
outputs back in the inputs' dtype. It pickles as its graph, so it works in a fresh
interpreter and in spawn workers, and the differential operators read the graph directly.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable

import numpy as np
import sympy as sp

from .._core.errors import ArgumentError, ShapeError, SympileError
from .._core.graph import VARIABLE, Builder, Graph, paused_gc
from .._core.ops import OPS
from .._emit.emit import Emitted, bind, compile_source
from .._emit.wrapper import deferred_in, deferred_library
from .._functions.lambdify import LambdifiedFunction, flat_form
from .._sympy.raising import to_sympy
from .._transforms.fold import fold_constants
from .._transforms.points import expand_points
from .entries import as_shape, entry
from .symbolic_array import SymbolicArray, as_object_array
from .tracing import Traced, build_symbolic, trace

_F64 = np.dtype(np.float64)
#: The default of a generated entry point's parameters: a missing argument, not None.
_ABSENT = object()


# -- tracing ---------------------------------------------------------------------------------------


def _trace(func: Callable, arg_shapes) -> Traced:
    """`trace` for compiling (NumPy data keeps its data axis), keeping a `NumpifiedFunction`'s argument names."""
    return trace(func, arg_shapes, list(func.arg_names) if isinstance(func, NumpifiedFunction) else None, data=True)


def as_traced(func: Callable, arg_shapes) -> Traced:
    """The trace of ``func``: read from a `NumpifiedFunction`, or made from ``arg_shapes``."""
    if isinstance(func, NumpifiedFunction):
        if arg_shapes and tuple(as_shape(s) for s in arg_shapes) != func.arg_shapes:
            return _trace(func, arg_shapes)
        return func._traced
    if not callable(func):
        raise SympileError(f"expected a function, got {type(func).__name__}")
    return trace(func, arg_shapes, data=True)


# -- the compiled function ---------------------------------------------------------------------------


def _is_boolean(graph: Graph, index: int) -> bool:
    n = graph.nodes[index]
    return OPS[n.op].boolean or (n.op == "const" and type(n.attr) is bool)


def _float_type(dtypes: list | None) -> np.dtype:
    return _F64 if not dtypes else np.result_type(*dtypes)


def _cast(value, boolean: bool, target: np.dtype):
    """An output in the inputs' float dtype (booleans stay booleans)."""
    t = type(value)
    if t is np.ndarray:
        kind = value.dtype.kind
        if kind == "f":
            return value if value.dtype == target else value.astype(target)
        if kind == "c":
            want = np.result_type(target, np.complex64)
            return value if value.dtype == want else value.astype(want)
        if kind == "b" and boolean:
            return value
        if kind in "iubO":
            return value.astype(target)
        return value
    if t is float:
        return target.type(value)
    if t is bool or isinstance(value, np.bool_):
        return np.bool_(value) if boolean else target.type(value)
    if t is int or isinstance(value, np.number):
        if isinstance(value, np.complexfloating) or t is complex:
            return np.result_type(target, np.complex64).type(value)
        return target.type(value)
    if t is complex:
        return np.result_type(target, np.complex64).type(value)
    return value  # another backend's array: its own dtype rules apply


def _float_literal_outputs(graph: Graph) -> Graph:
    """Integer literals among the outputs (a Hessian's constant entries) written as floats.

    NumPy builds an array from Python floats faster than from floats mixed with ints; the
    values are the same (only integers that floats hold exactly are rewritten).
    """
    nodes = graph.nodes
    ints = [o for o in graph.outputs if nodes[o].op == "const" and type(nodes[o].attr) is int]
    if not ints or any(abs(nodes[o].attr) >= 2**53 for o in ints):
        return graph
    b = Builder(graph)
    outputs = [b.const(float(nodes[o].attr)) if o in ints else o for o in graph.outputs]
    return b.graph(outputs, graph.inputs, graph.params, graph.buffers)


def _spell_outputs(tree, bools: list[bool], whole: bool) -> str:
    """Source that assembles the flat outputs ``_o`` into the output structure (float64 arrays).

    Only for the fast path, whose values are Python floats; an array's leaves are consecutive.
    """
    kind = tree[0]
    if kind == "leaf":
        return f"{'_bool' if bools[tree[1]] else '_float64'}(_o[{tree[1]}])"
    if kind == "array":
        first, last = tree[2][0][1], tree[2][-1][1] + 1
        part = "_o" if whole else f"_o[{first}:{last}]"
        dtype = "_bool" if all(bools[first:last]) else "_f64"
        text = f"_np_array({part}, {dtype})"
        return text if len(tree[1]) == 1 else f"{text}.reshape({tree[1]!r})"
    items = [_spell_outputs(t, bools, False) for t in tree[1]]
    return ("[" + ", ".join(items) + "]") if kind == "list" else ("(" + "".join(f"{i}, " for i in items) + ")")


class NumpifiedFunction(functools.partial):
    """A traced function compiled by a backend; call it with arrays of the traced shapes.

    Attributes: ``source`` (the generated code), ``graph``, ``arg_shapes``, ``arg_names``,
    ``backend``. Called with symbolic arrays, it evaluates symbolically instead (so it can
    be used inside another traced function).
    """

    # A `functools.partial` of its generated entry point: the call goes to the entry at C
    # speed, which matters when the whole function takes a microsecond.

    def __new__(cls, traced: Traced, backend: str = "numpy", options: dict | None = None):
        graph = traced.graph
        # The NumPy and C backends take Python floats and return the outputs flat (Python numbers
        # for one point) and the entry point assembles the arrays; other backends build their own.
        numpy = backend in ("numpy", "c")
        n_out = len(graph.outputs)
        bools = [_is_boolean(graph, o) for o in graph.outputs]
        # One real array (a gradient, a Hessian): the C library fills it at one point itself.
        tree = traced.out_tree
        assembled = backend == "c" and tree[0] == "array" and not any(bools) and all(_value_kinds(graph)[0])
        out_tree = ("tuple", [("leaf", k) for k in range(n_out)]) if numpy and not assembled else tree
        arg_tree = ("list", [("leaf", k) for k in range(len(graph.inputs))])
        with paused_gc():
            if backend != "numpy":  # the per-point form is the NumPy backend's; the others get it written out
                graph = expand_points(graph)
            code_graph = _float_literal_outputs(graph) if numpy else graph
            compiled = LambdifiedFunction(code_graph, backend, dict(options or {}), arg_tree, out_tree)
        namespace = {
            "_nd": np.ndarray,
            "_f64": _F64,
            "_float64": np.float64,
            "_bool": np.bool_,
            "_np_array": np.array,
            "_empty": np.empty,
            # the NumPy backend's generated ``_call(self, *args)`` itself, called with None for
            # self: ``_fn`` would add a frame to every call
            "_fn": compiled.built.method or compiled.built.fn,
            "_self_arg": compiled.built.method is not None,
            "_absent": _ABSENT,
            "_assembled": assembled,
        }
        point = getattr(compiled.built.kernel, "point_of_arrays", None) if assembled else None
        if point is not None:
            entry = _generate_c_entry(traced, point)
        elif numpy:
            entry = _generate_entry(traced, 0, bools, namespace)
        else:
            entry = _forward()
        self = super().__new__(cls, entry)
        self._traced = traced
        self.backend = backend
        self._options = dict(options or {})
        self._fn = compiled.built.fn
        self._code_graph = code_graph
        self.source = compiled.source
        self._numpy = numpy
        self._assembled = assembled
        self._shapes = traced.arg_shapes
        self._nargs = len(self._shapes)
        self._bools = bools
        self._namespace = namespace
        self._tails: dict[int, Callable] = {}
        self._prefixes: dict[int, Callable] = {}
        self._raised = None
        self.__name__ = self.__qualname__ = traced.name
        self.__signature__ = inspect.Signature(
            [inspect.Parameter(name, inspect.Parameter.POSITIONAL_ONLY) for name in traced.arg_names]
        )
        bind(entry, _slow=self._slow, _finish=self._finish)
        return self

    # -- what it is ---------------------------------------------------------------------------
    @property
    def graph(self) -> Graph:
        return self._traced.graph

    @property
    def arg_shapes(self) -> tuple:
        return self._shapes

    @property
    def arg_names(self) -> tuple:
        return self._traced.arg_names

    def __repr__(self) -> str:
        args = ", ".join(f"{n}: {s}" for n, s in zip(self.arg_names, self._shapes))
        return f"<sympile numpified {self.__name__}({args}) on {self.backend}>"

    def __reduce__(self):
        return (_rebuild, (tuple(self._traced), self.backend, self._options))

    def __copy__(self):
        return self

    def __deepcopy__(self, memo):
        return self

    # -- calling (the slow path: checks, conversions, explanations) ----------------------------
    def _slow(self, *args):
        args = tuple(a for a in args if a is not _ABSENT)
        if len(args) != self._nargs:
            raise ArgumentError(
                f"{self.__name__} takes {self._nargs} argument(s) ({', '.join(self.arg_names)}), "
                f"but {len(args)} were given"
            )
        if deferred_in(args) is not None:
            return self._deferred([], args, 0)
        flat = self._flatten(args, 0)
        if flat is None:
            return self._symbolic(args)
        leaves, dtypes = flat
        return self._finish(self._fn(*leaves), dtypes)

    def _slow_tail(self, first: int, pre: list, *args):
        """The call with the first ``first`` arguments given as their flattened float64 entries ``pre``."""
        args = tuple(a for a in args if a is not _ABSENT)
        if len(args) != self._nargs - first:
            raise ArgumentError(f"{self.__name__} takes {self._nargs - first} array(s) here, got {len(args)}")
        if deferred_in(args) is not None:
            return self._deferred(list(pre), args, first)
        flat = self._flatten(args, first)
        if flat is None:
            entries = [e for a in args for e in as_object_array(a).ravel().tolist()]
            return self._symbolic_entries(list(pre) + entries)
        leaves, dtypes = flat
        return self._finish(self._fn(*pre, *leaves), dtypes)

    def _prefix(self, n: int) -> Callable:
        """A function of the first ``n`` arguments giving their entries as Python floats when they
        are float64 arrays of the right shapes (None otherwise)."""
        prefix = self._prefixes.get(n)
        if prefix is None:
            prefix = self._prefixes[n] = _generate_prefix(self._shapes[:n]) if self._numpy else _none
        return prefix

    def _tail(self, first: int) -> Callable:
        """A function of ``(pre, *rest)`` for calls whose first ``first`` arguments come flattened."""
        tail = self._tails.get(first)
        if tail is None:
            slow = functools.partial(self._slow_tail, first)
            tail = slow
            if self._numpy:
                tail = _generate_entry(self._traced, first, self._bools, self._namespace)
                bind(tail, _slow_tail=slow, _finish=self._finish)
            self._tails[first] = tail
        return tail

    def _flatten(self, args, first: int):
        """``(leaves, float dtypes)`` for the arguments at positions ``first, ...``; None if symbolic."""
        leaves: list = []
        dtypes = None
        numpy = self._numpy
        for k, a in enumerate(args, first):
            t = type(a)
            if t is float or t is int:
                if self._shapes[k]:
                    raise self._shape_error(k, ())
                leaves.append(a)
                continue
            if t is not np.ndarray:
                if isinstance(a, (SymbolicArray, sp.Basic)):
                    return None
                if numpy or isinstance(a, (list, tuple, np.generic, complex)):
                    a = np.asarray(a)
                else:  # another backend's array: its entries as that backend's scalars
                    shape = tuple(getattr(a, "shape", ()))
                    if shape != self._shapes[k]:
                        raise self._shape_error(k, shape)
                    leaves += list(a.reshape(-1)) if shape else [a]
                    continue
            if a.shape != self._shapes[k]:
                raise self._shape_error(k, a.shape)
            kind = a.dtype.kind
            if kind == "O":
                if any(isinstance(v, sp.Basic) for v in a.ravel().tolist()):
                    return None
                a = a.astype(np.float64)
            elif kind in "fc" and a.dtype != _F64:
                dtypes = [*(dtypes or []), a.dtype if kind == "f" else np.dtype(a.real.dtype)]
            elif kind not in "fciub":
                raise ArgumentError(f"{self.__name__}: argument {self.arg_names[k]} has dtype {a.dtype}, not a number")
            if numpy:
                leaves += a.ravel().tolist()
            else:
                leaves += list(a.reshape(-1)) if a.ndim else [a[()]]
        return leaves, dtypes

    def _deferred(self, pre: list, args: tuple, first: int):
        """The call over lazy (Dask) arrays: an argument's trailing axes are its traced shape and
        its leading axes a stack of points (the same for every lazy argument, broadcast with the
        others'); each output is a lazy array of the stack's shape followed by the output's shape.
        The compiled per-entry function computes block by block (see `sympile._scale`)."""
        if any(n.op == "data" for n in self.graph.nodes):
            raise ArgumentError(
                f"{self.__name__} sums over data arrays, so it cannot map over a stack of lazy points; "
                "compute it on NumPy arrays (or with the data as lazy arrays given to a function of the point)"
            )
        leaves = list(pre)
        for k, a in enumerate(args, first):
            want = self._shapes[k]
            if deferred_library(a) is None:
                a = np.asarray(a)
            got = tuple(a.shape)
            if len(got) < len(want) or got[len(got) - len(want) :] != want:
                raise ShapeError(
                    f"{self.__name__}: argument {self.arg_names[k]} must have shape {want} or a stack of them "
                    f"(..., {', '.join(map(str, want))}), got {got}"
                )
            leaves += [a[(..., *idx)] for idx in np.ndindex(*want)] if want else [a]
        flat = flat_form(self._code_graph, self.backend, self._options)(*leaves)
        return _lazy_tree(self._traced.out_tree, flat)

    def _finish(self, out, dtypes):
        """The outputs in the structure traced, float outputs in the inputs' float dtype."""
        target = _float_type(dtypes)
        if self._numpy and not self._assembled:
            return _assemble(self._traced.out_tree, out, self._bools, target)
        return _cast_tree(self._traced.out_tree, out, self._bools, target)

    def _shape_error(self, k: int, got) -> ShapeError:
        want = self._shapes[k]
        msg = f"{self.__name__}: argument {self.arg_names[k]} must have shape {want}, got {tuple(got)}"
        if len(got) > len(want) and tuple(got[len(got) - len(want) :]) == want:
            msg += (
                "; a numpified function does not map over a stack of inputs: call it once per row "
                "(or numpify the batched function with the stacked shape)"
            )
        return ShapeError(msg)

    def _symbolic(self, args):
        """Evaluate on symbolic arguments: the graph raised to SymPy, with the arguments substituted."""
        entries = []
        for k, a in enumerate(args):
            data = as_object_array(a)
            if data.shape != self._shapes[k]:
                raise self._shape_error(k, data.shape)
            entries += data.ravel().tolist()
        return self._symbolic_entries(entries)

    def _symbolic_entries(self, entries: list):
        if self._raised is None:
            self._raised = to_sympy(expand_points(self.graph))
        subs = dict(zip(self.graph.inputs, [entry(e) for e in entries]))
        values = [e.xreplace(subs) for e in self._raised]
        return build_symbolic(self._traced.out_tree, values)


def _none(*args):
    return None


#: Up to this many entries, the fast path unpacks them into names (cheaper than a star call).
_UNPACK_MAX = 64
#: Output arrays up to this size are filled entry by entry.
_SMALL = 8
#: The end of a ``try:`` that builds float64 outputs: complex values go to ``_finish``.
_COMPLEX_TO_FINISH = ["except TypeError:  # complex values", "    return _finish(_o, None)"]


def _fast_checks(shapes, pre: int = 0) -> tuple[list[str], list[str], list[str], list[str]]:
    """For arguments of ``shapes`` (after ``pre`` entries given flat as ``_pre``): parameters,
    the checks that they are float64 arrays of those shapes (Python floats for scalars), the
    statements that unpack their entries as Python floats, and the expressions that pass them."""
    params = [f"x{k}" for k in range(len(shapes))]
    checks, statements, passed = ["not _more"], [], []
    sizes = [int(np.prod(s, dtype=int)) for s in shapes]
    unpack = pre + sum(sizes) <= _UNPACK_MAX
    if pre:
        names = [f"_p{j}" for j in range(pre)]
        statements += [f"{', '.join(names)}, = _pre"] if unpack else []
        passed += names if unpack else ["*_pre"]
    for x, shape, size in zip(params, shapes, sizes):
        if shape == ():
            checks.append(f"type({x}) is float")
            passed.append(x)
            continue
        checks.append(f"type({x}) is _nd and {x}.dtype is _f64 and {x}.shape == {shape!r}")
        entries = f"{x}.tolist()" if len(shape) == 1 else f"{x}.ravel().tolist()"
        if unpack and size:
            names = [f"{x}_{j}" for j in range(size)]
            statements.append(f"{', '.join(names)}, = {entries}")
            passed += names
        else:
            passed.append(f"*{entries}")
    return params, checks, statements, passed


def _compile_guarded(
    name: str, params: list[str], checks: list[str], body: list[str], otherwise: str, namespace: dict
) -> Callable:
    """The compiled function ``def name(params): if checks: body; return otherwise``.

    The checks are joined by ``and``; ``body`` is lines of source as at the top of a function.
    """
    source = (
        f"def {name}({', '.join(params)}):\n"
        f"    if {' and '.join(checks)}:\n"
        + "".join(f"        {line}\n" for line in body)
        + f"    return {otherwise}\n"
    )
    return compile_source(Emitted(source, namespace, name), "numpify")


def _generate_prefix(shapes) -> Callable:
    params, checks, statements, passed = _fast_checks(shapes)
    if len(shapes) == 1 and shapes[0]:  # one array: its list of entries is the answer
        statements, passed = [], [f"*x0.{'tolist()' if len(shapes[0]) == 1 else 'ravel().tolist()'}"]
    return _compile_guarded(
        "_prefix",
        [*(f"{x}=None" for x in params), "*_more"],
        checks,
        [*statements, f"return [{', '.join(passed)}]"],
        "None",
        {"_nd": np.ndarray, "_f64": _F64},
    )


def _generate_c_entry(traced: Traced, point: Callable) -> Callable:
    """The entry point of a C kernel that fills the one output array itself: the arrays go to
    the library as they are (it checks their type and shape), anything else to ``_slow``."""
    params = [f"x{k}" for k in range(len(traced.arg_shapes))]
    body = [
        f"_r = _point({tuple(traced.out_tree[1])!r}, {tuple(traced.arg_shapes)!r}, {', '.join(params)})",
        "if _r is not NotImplemented:",
        "    return _r",
    ]
    passed = ", ".join([*params, "*_more"])
    return _compile_guarded(
        "_entry",
        [*(f"{x}=_absent" for x in params), "*_more"],
        ["not _more"],
        body,
        f"_slow({passed})",
        {"_point": point, "_absent": _ABSENT},
    )


def _forward() -> Callable:
    """The entry point where there is no fast path: straight to ``_slow``."""
    return compile_source(Emitted("def _entry(*args):\n    return _slow(*args)\n", {}, "_entry"), "numpify")


def _generate_entry(traced: Traced, first: int, bools: list[bool], namespace: dict) -> Callable:
    """A generated entry point for float64 arrays of the traced shapes (Python floats for scalars).

    It checks type, dtype and shape inline, hands the entries to the compiled code as Python
    floats (``tolist``: the backend's ``math`` path) and assembles the output arrays;
    anything else goes to ``_slow``, which checks, converts and explains. With ``first > 0``
    the first arguments come already flattened (``_pre``), for a product function at fixed
    arguments. The source holds only generated names and integer shapes.
    """
    pre = sum(int(np.prod(s, dtype=int)) for s in traced.arg_shapes[:first])
    params, checks, statements, passed = _fast_checks(traced.arg_shapes[first:], pre if first else 0)
    signature = (["_pre"] if first else []) + [f"{x}=_absent" for x in params] + ["*_more"]
    rest = ", ".join([*params, "*_more"])
    slow = f"_slow({rest})" if not first else f"_slow_tail(_pre, {rest})"
    tree = traced.out_tree
    real, floating = _value_kinds(traced.graph)
    if namespace.get("_assembled"):  # the backend returned the float64 array itself
        done = ["return _o"]
    elif tree[0] == "array" and not any(bools) and all(real) and len(tree[2]) <= _SMALL:
        # A few entries: filling an empty array is cheaper than NumPy's list conversion.
        names = [f"_o{k}" for k in range(len(tree[2]))]
        cells = [", ".join(map(str, c)) for c in np.ndindex(*tree[1])]
        done = [
            f"{', '.join(names)}, = _o",
            f"_r = _empty({tree[1]!r})",
            "try:",
            *(f"    _r[{c}] = {n}" for c, n in zip(cells, names)),
            *_COMPLEX_TO_FINISH,
            "return _r",
        ]
    elif tree[0] == "array" and not any(bools):
        reshape = "" if len(tree[1]) == 1 else f".reshape({tree[1]!r})"
        if any(r and f for r, f in zip(real, floating)):  # one float entry makes the array float64
            done = [f"return _np_array(_o){reshape}"]
        else:  # integer results (a constant Hessian) are cast in _finish
            done = [f"_r = _np_array(_o){reshape}", "if _r.dtype is _f64:", "    return _r", "return _finish(_o, None)"]
    elif all(real):
        done = ["try:", f"    return {_spell_outputs(tree, bools, True)}", *_COMPLEX_TO_FINISH]
    else:  # a complex output (NumPy's complex scalars would be cast to float with only a warning)
        done = ["return _finish(_o, None)"]
    call = f"_o = _fn({', '.join((['None'] if namespace.get('_self_arg') else []) + list(passed))})"
    return _compile_guarded("_entry", signature, checks, [*statements, call, *done], slow, dict(namespace))


#: Ops whose value is one of their arguments' (or a literal's): an int stays an int.
_CHOICES = {"where": (1, 2), "min": (0, 1), "max": (0, 1)}


def _may_fold_complex(graph: Graph) -> bool:
    """Whether a constant subgraph of the graph may fold to a complex literal: an op with a
    restricted real domain (`OpSpec.safe`) of numbers alone, such as ``log(-7/3)`` in the
    derivative of ``(-7/3)**x``."""
    variable = [False] * len(graph.nodes)
    for i, n in enumerate(graph.nodes):
        variable[i] = n.op in VARIABLE or any(variable[a] for a in n.args)
        if not variable[i] and n.args and OPS[n.op].safe is not None:
            return True
    return False


def _value_kinds(graph: Graph) -> tuple[list[bool], list[bool]]:
    """For each output, whether it is real (no complex literal reaches it, folded constants
    included: a complex output is never cast to float) and whether it is surely a Python float
    when every input is one.

    Surely float: an op of an input that computes (not a literal, a choice between literals,
    or a boolean). With one such entry, the fast path's output array is float64 already.
    """
    if _may_fold_complex(graph):
        graph = fold_constants(graph)
    nodes = graph.nodes
    real = [False] * len(nodes)
    floating = [False] * len(nodes)
    for i, n in enumerate(nodes):
        if n.op in ("input", "data"):
            real[i] = floating[i] = True
        elif n.op == "const":
            real[i] = type(n.attr) is not complex and n.attr not in ("I", "zoo")
        elif n.op in ("param", "buffer", "call"):
            continue
        else:
            real[i] = all(real[a] for a in n.args)
            if n.op in _CHOICES:
                floating[i] = all(floating[n.args[k]] for k in _CHOICES[n.op])
            else:
                floating[i] = not OPS[n.op].boolean and any(floating[a] for a in n.args)
    return [real[o] for o in graph.outputs], [floating[o] for o in graph.outputs]


def _assemble(tree, flat, bools, target):
    kind = tree[0]
    if kind == "leaf":
        return _cast(flat[tree[1]], bools[tree[1]], target)
    if kind == "array":
        first, last = tree[2][0][1], tree[2][-1][1] + 1
        return _cast(np.array(flat[first:last]), all(bools[first:last]), target).reshape(tree[1])
    items = [_assemble(t, flat, bools, target) for t in tree[1]]
    return items if kind == "list" else tuple(items)


def _lazy_tree(tree, flat):
    """The traced output structure over lazy per-entry arrays (an array output: its entries
    stacked on new last axes, through the lazy library's own ``stack``)."""
    kind = tree[0]
    if kind == "leaf":
        return flat[tree[1]]
    if kind == "array":
        entries = [flat[t[1]] for t in tree[2]]
        stacked = np.stack(entries, axis=-1)
        return stacked.reshape(tuple(entries[0].shape) + tuple(tree[1]))
    items = [_lazy_tree(t, flat) for t in tree[1]]
    return items if kind == "list" else tuple(items)


def _cast_tree(tree, value, bools, target):
    kind = tree[0]
    if kind == "leaf":
        return _cast(value, bools[tree[1]], target)
    if kind == "array":
        return _cast(value, all(bools[t[1]] for t in tree[2]), target)
    items = [_cast_tree(t, v, bools, target) for t, v in zip(tree[1], value)]
    return items if kind == "list" else tuple(items)


def _rebuild(traced, backend, options):
    return NumpifiedFunction(Traced(*traced), backend, options)


# -- the public entry points -----------------------------------------------------------------------


def _check_options(name: str, kwargs: dict) -> None:
    if kwargs:
        raise ArgumentError(
            f"{name} does not take {', '.join(f'{k}=' for k in sorted(kwargs))}: sympile always shares common "
            "subexpressions and compiles through its graph; choose the code with backend= ('numpy', 'torch', ...)"
        )


def numpify_func(func: Callable, *arg_shapes, backend: str = "numpy", **kwargs) -> NumpifiedFunction:
    """Trace ``func`` with symbolic arrays of the given shapes and compile it.

    Args:
        func: a function of arrays written with ``sympile.numpy`` (``snp``) operations.
        *arg_shapes: one shape per positional argument: a tuple, an int, or ``None``/``()``
            for a scalar. Optional when ``func`` is a numpified function already.
        backend: which backend generates the code (``"numpy"`` by default).

    Returns:
        A `NumpifiedFunction`: call it with arrays of exactly those shapes.

    Example:
        >>> import numpy as np
        >>> import sympile.numpy as snp
        >>> from sympile import numpify_func
        >>> f = numpify_func(lambda x: snp.sum(x**2) + snp.sin(x[0]), 2)
        >>> float(f(np.array([0.0, 2.0])))
        4.0
    """
    _check_options("numpify_func", kwargs)
    if not arg_shapes and isinstance(func, NumpifiedFunction):
        arg_shapes = func.arg_shapes
    return NumpifiedFunction(_trace(func, arg_shapes), backend)


def numpify(*arg_shapes, backend: str = "numpy", **kwargs) -> Callable[[Callable], NumpifiedFunction]:
    """Decorator form of `numpify_func`.

    Example:
        >>> import numpy as np
        >>> import sympile.numpy as snp
        >>> from sympile import numpify
        >>> @numpify((2,), None)
        ... def f(x, s):
        ...     return snp.exp(s * x)
        >>> f(np.zeros(2), 1.0)
        array([1., 1.])
    """
    _check_options("numpify", kwargs)

    def decorate(func: Callable) -> NumpifiedFunction:
        return numpify_func(func, *arg_shapes, backend=backend)

    return decorate


__all__ = ["numpify", "numpify_func", "NumpifiedFunction", "as_traced"]
