"""`SymbolicModule`: a pytree of SymPy expressions as an Equinox module with trainable Floats.

A drop-in for ``sympy2jax.SymbolicModule``. The expressions are lowered once to one `Graph`
(``floats="params"``: one parameter slot per Float occurrence, in ``preorder_traversal``
order over the flattened expressions), and the graph is emitted as one straight-line JAX
function. The module then holds only:

- ``params``: the trainable Floats, one scalar array leaf each, in a tuple (as sympy2jax has
  one leaf per Float); ``packed=True`` makes them one flat array instead, and
  ``make_array=False`` a tuple of Python floats. The generated function reads its entries
  either way (``p[k]``, or a strided slice gathered into one vector for batched terms);
- ``funcs``: the array leaves of the ``extra_funcs`` (an MLP's weights train with the module);
- ``program`` (static): the graph, the generated function and the names. It compares and
  hashes by content (the graph's content hash, which leaves out the parameters' values, and
  what else decides the code), so two modules built from the same expressions, a deepcopy and
  a pickle round trip all have one treedef: ``eqx.apply_updates``, ``tree_map`` across
  models and ``eqx.filter_jit``'s cache work across them,

so ``jax.jit(mod)``, ``jax.jit(f)(mod, ...)``, ``eqx.filter_jit`` and ``eqx.filter_grad`` all
work, and ``.sympy()`` raises the graph back with the current values.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import sympy as sp
from sympy.tensor.array import NDimArray

from .._backends.jax import PIPELINE, emit_module
from .._core.errors import ArgumentError, MissingInputError, ShapeError, SympileError
from .._core.graph import Graph, paused_gc
from .._sympy.lower import lower
from .._sympy.raising import to_sympy
from .parameters import parameters_as_symbols

#: ``stack(*args)``: the arrays (or scalars, broadcast together) stacked along a new first axis.
stack = sp.Function("stack")
#: ``concatenate(*args)``: the arrays joined along their first axis (scalars count as length 1).
concatenate = sp.Function("concatenate")


class _Slot:
    """Stands in a graph's ``call`` node for function ``index`` of the module (data, not code)."""

    __slots__ = ("index",)

    def __init__(self, index: int | str):
        self.index = index

    def __call__(self, *args):
        raise SympileError("this placeholder is filled in by SymbolicModule; it cannot be called")

    def __repr__(self) -> str:
        return f"_Slot({self.index!r})"

    def __eq__(self, other) -> bool:
        return type(other) is _Slot and other.index == self.index

    def __hash__(self) -> int:
        return hash(("_Slot", self.index))

    def __reduce__(self):
        return (_Slot, (self.index,))


_SCALAR = (sp.Basic, bool, int, float, complex)
_BUILTIN_CALLS = {stack: _Slot("stack"), concatenate: _Slot("concatenate")}


def _spell_call(args: list[str], attr) -> str:
    index = attr[1].index
    if index == "stack":
        return f"_stack({', '.join(args)})"
    if index == "concatenate":
        return f"_concatenate({', '.join(args)})"
    return f"fs[{index}]({', '.join(args)})"


class _Program:
    """The static half of a module: what JAX must not trace.

    Equal to another program that would run the same code on the same inputs: same graph
    structure, frozen values, input symbols, pytree, positional symbols and extra functions.
    The parameters' values are not part of it (they are the module's leaves), so the modules
    of ``2.1*x**2`` and ``1.21*x**2`` have one treedef, as in sympy2jax.
    """

    def __init__(self, graph: Graph, treedef, symbols, time, statics: tuple, stacked: bool):
        self.graph = graph
        self.treedef = treedef
        self.symbols = symbols  # the positional symbols (a tuple), or None
        self.time = time
        self.statics = statics  # the non-array parts of the extra functions
        self.stacked = stacked  # positional calls return one array, out[..., j] = expression j
        self.names = tuple(getattr(s, "name", str(s)) for s in graph.inputs)
        self.buffers = tuple(float(v) for v in graph.buffers)
        self.fn, self.source = emit_module(graph, self._returns, _spell_call)
        # inputs whose complex values would reach a real-only op: refused when traced (by dtype)
        self.real = PIPELINE.real_inputs(graph)
        key = (graph.content_hash(), graph.inputs, tuple(v.hex() for v in self.buffers), treedef, symbols, time)
        try:
            self._hash = hash((key, statics, stacked))
            self._key = (key, statics, stacked)
        except TypeError:  # an extra function whose static part is unhashable: equal only to itself
            self._hash = id(self)
            self._key = self

    def __eq__(self, other) -> bool:
        return self is other or (type(other) is _Program and self._hash == other._hash and self._key == other._key)

    def __hash__(self) -> int:
        return self._hash

    def _returns(self, outs: list[str]) -> str:
        """Outputs that ignore some input, and hold no user call, broadcast to the inputs' shape."""
        g = self.graph
        n_in = len(g.inputs)
        if n_in:
            deps = g.input_dependence()
            calls = _holds_call(g)
            full = (1 << n_in) - 1
            args = ", ".join(f"a{k}" for k in range(n_in))
            outs = [
                t if deps[o] == full or calls[o] else f"_broadcast({t}, _common({args}))"
                for t, o in zip(outs, g.outputs)
            ]
        return "(" + "".join(f"{t}, " for t in outs) + ")"

    def __repr__(self) -> str:
        return f"<sympile program: {len(self.graph)} nodes; inputs {', '.join(self.names) or 'none'}>"

    def __reduce__(self):
        return (_Program, (self.graph, self.treedef, self.symbols, self.time, self.statics, self.stacked))

    # -- inputs ---------------------------------------------------------------------------
    def named(self, inputs: Mapping) -> list:
        try:
            return [inputs[n] for n in self.names]
        except KeyError:
            missing = [n for n in self.names if n not in inputs]
            raise MissingInputError(
                f"missing input(s) {', '.join(missing)}; this module is called as "
                f"mod({', '.join(f'{n}=...' for n in self.names)})"
            ) from None

    def positional(self, args: tuple, inputs: Mapping) -> list:
        if self.symbols is None:
            raise ArgumentError(
                "call the module with keyword arguments (mod(x=...)), or build it with "
                "SymbolicModule(expressions, symbols=[...]) to call it as mod(X) or mod(t, X, args)"
            )
        if len(args) == 1:
            (x,) = args
            t = None
        elif len(args) == 3:  # diffrax's vector field convention: (t, y, args)
            t, x, extra = args
            if isinstance(extra, Mapping):
                inputs = {**extra, **inputs}
        else:
            raise ArgumentError(f"call the module as mod(X) or mod(t, X, args), not with {len(args)} arguments")
        x = jnp.asarray(x)
        n = len(self.symbols)
        if x.ndim == 0 or x.shape[-1] != n:
            raise ShapeError(
                f"mod(X) takes X[..., i] as the i-th of the symbols ({', '.join(map(str, self.symbols))}): "
                f"X's last axis must have length {n}, but X has shape {x.shape}"
            )
        values = {s: x[..., i] for i, s in enumerate(self.symbols)}
        if self.time is not None and t is not None:
            values[self.time] = t
        out = []
        for s, name in zip(self.graph.inputs, self.names):
            v = values.get(s)
            if v is None:
                if name not in inputs:
                    raise MissingInputError(
                        f"missing input {name}: it is neither in symbols=({', '.join(map(str, self.symbols))})"
                        f"{' nor the time symbol' if self.time is not None else ''}; pass it as mod(X, {name}=...)"
                    )
                v = inputs[name]
            out.append(v)
        return out

    # -- outputs --------------------------------------------------------------------------
    def run(self, params, funcs: tuple, args: tuple, inputs: Mapping):
        values = self.positional(args, inputs) if args else self.named(inputs)
        if self.real is not None:
            self.real.check(values)
        fs = tuple(s if d is None else eqx.combine(d, s) for d, s in zip(funcs, self.statics))
        # a tuple of leaves goes in as it is: a scalar parameter is read as its own leaf (its
        # gradient is its own output), and batched terms gather theirs into a vector (`_take`);
        # stacking all the leaves first would make every scalar read a slice, whose transpose
        # (a pad per parameter, summed) XLA compiles very slowly
        outs = self.fn(params, self.buffers, fs, *values)
        if args and self.stacked:
            return jnp.stack(jnp.broadcast_arrays(*outs), axis=-1)
        return jax.tree_util.tree_unflatten(self.treedef, list(outs))


def _holds_call(graph: Graph) -> list[bool]:
    held = [False] * len(graph.nodes)
    for i, n in enumerate(graph.nodes):
        held[i] = n.op == "call" or any(held[a] for a in n.args)
    return held


def _leaves(expressions) -> tuple[list, Any]:
    leaves, treedef = jax.tree_util.tree_flatten(expressions)
    out = []
    for e in leaves:
        if isinstance(e, (sp.MatrixBase, NDimArray)):
            raise SympileError(
                "a SymPy Matrix or Array is one leaf to JAX, not an array of expressions: "
                "pass matrix.tolist() (a nested list) or build the array with stack(...)"
            )
        if isinstance(e, (bool, int, float, complex)):
            e = sp.sympify(e)
        if not isinstance(e, sp.Basic):
            raise SympileError(f"expressions must be a pytree of SymPy expressions; found {type(e).__name__}")
        out.append(e)
    return out, treedef


def _inputs(exprs: list, symbols, time) -> tuple:
    """The input symbols: ``symbols`` (in order), then ``time``, then the rest by name."""
    free: set = set()
    for e in exprs:
        free |= e.free_symbols
    first = list(symbols or ()) + ([time] if time is not None else [])
    inputs = first + sorted(free - set(first), key=lambda s: (str(s), sp.default_sort_key(s)))
    names: dict[str, Any] = {}
    for s in inputs:
        if not isinstance(s, sp.Symbol):
            raise SympileError(f"a module's inputs must be SymPy symbols; {s!r} is a {type(s).__name__}")
        other = names.setdefault(getattr(s, "name", str(s)), s)
        if other != s:
            raise SympileError(
                f"two different symbols are both named {s} (their assumptions differ); "
                "a module takes its inputs by name: rename one"
            )
    return tuple(inputs)


class SymbolicModule(eqx.Module):
    """SymPy expressions as an Equinox module whose Floats are trainable parameters.

    A drop-in for ``sympy2jax.SymbolicModule`` (``from sympile.jax import SymbolicModule,
    stack, concatenate``), and faster: the expressions become one generated JAX function, and
    the Floats one flat array.

    Args:
        expressions: any pytree (list, tuple, dict, ...) of SymPy expressions.
        extra_funcs: ``{sympy function (or its name): callable}`` for functions sympile does
            not translate, or to override one. An Equinox module (an ``eqx.nn.MLP``) is
            called as it is, and its weights train as part of this module.
        make_array: keep the Floats as one JAX array (trainable); ``False`` keeps them as
            Python floats (constants to JAX, weakly typed).
        symbols: a sequence of symbols for the positional form ``mod(X)``: ``X[..., i]`` is
            ``symbols[i]``; a list or tuple of expressions then returns one array with
            ``out[..., j]`` the j-th expression (``mod`` maps ``(..., n)`` to ``(..., m)``).
        time: the symbol that ``t`` binds to in the vector-field form ``mod(t, X, args)``
            (diffrax's convention; ``args``, when a dict, supplies further named inputs).
        packed: hold the trainable Floats as one flat array (one leaf) rather than one scalar
            array leaf per Float (sympy2jax's layout, the default).

    Calling: ``mod(x=..., y=...)`` with one keyword per symbol (by name; extra keywords are
    ignored) returns the pytree of ``expressions`` with arrays for leaves. An output that does
    not depend on every input is broadcast to the inputs' shape.

    Parameters: ``mod.params`` is a tuple of scalar arrays, one leaf per Float occurrence:
    ``mod.params[k]`` is the k-th Float met in ``sympy.preorder_traversal`` of the expressions,
    taken in ``jax.tree_util.tree_leaves`` order. A Float wrapped in ``sympy.UnevaluatedExpr``
    is frozen (a constant of the static part, not a leaf).

    Example:
        >>> import sympy as sp, jax.numpy as jnp
        >>> x = sp.Symbol("x")
        >>> mod = SymbolicModule([2.5 * sp.sin(x), x**2 + 1.5])
        >>> [p.item() for p in mod.params]
        [2.5, 1.5]
        >>> [v.tolist() for v in mod(x=jnp.array([0.0, 2.0]))]
        [[0.0, 2.273243], [1.5, 5.5]]
        >>> mod.sympy()
        [2.5*sin(x), x**2 + 1.5]
    """

    params: Any
    funcs: tuple
    program: _Program = eqx.field(static=True)

    def __init__(
        self,
        expressions: Any,
        extra_funcs: Mapping | None = None,
        make_array: bool = True,
        *,
        symbols: Any = None,
        time: Any = None,
        packed: bool = False,
    ):
        exprs, treedef = _leaves(expressions)
        if symbols is not None:
            symbols = tuple(symbols)
        inputs = _inputs(exprs, symbols, time)
        extra = dict(_BUILTIN_CALLS)
        dynamic, statics = [], []
        for k, (key, fn) in enumerate((extra_funcs or {}).items()):
            if not callable(fn):
                raise SympileError(f"extra_funcs[{key!r}] must be callable, got {type(fn).__name__}")
            d, s = eqx.partition(fn, eqx.is_array)
            dynamic.append(d)
            statics.append(s)
            extra[key] = _Slot(k)
        with paused_gc():
            graph = lower(exprs, inputs, floats="params", extra_funcs=extra)
        stacked = type(expressions) in (list, tuple) and all(isinstance(e, _SCALAR) for e in expressions)
        self.program = _Program(graph, treedef, symbols, time, tuple(statics), stacked)
        self.params = _params(graph.params, make_array, packed)
        self.funcs = tuple(dynamic)

    def __call__(self, *args, **inputs):
        """The expressions' values: ``mod(x=..., ...)``, ``mod(X)`` or ``mod(t, X, args)``."""
        return self.program.run(self.params, self.funcs, args, inputs)

    def sympy(self) -> Any:
        """The expressions (same pytree) with the current parameter values.

        Example:
            >>> import sympy as sp
            >>> x = sp.Symbol("x")
            >>> mod = SymbolicModule({"f": 0.5 * sp.exp(x)})
            >>> mod.sympy()
            {'f': 0.5*exp(x)}
        """
        prog = self.program
        exprs = to_sympy(prog.graph, _shortest(self.params), prog.buffers)
        return jax.tree_util.tree_unflatten(prog.treedef, exprs)

    def functional(self) -> tuple[jax.Array, Functional]:
        """``(params, fn)``: the parameters as one flat array and a pure function ``fn(params, **inputs)``.

        ``fn`` takes the same inputs as the module (keywords, or ``X`` with ``symbols=``), with
        the parameters as its first argument: what optax loops and MCMC samplers want. The
        weights of ``extra_funcs`` modules are held fixed in ``fn``.

        Example:
            >>> import jax, sympy as sp
            >>> x = sp.Symbol("x")
            >>> params, fn = SymbolicModule([3.0 * x**2]).functional()
            >>> jax.grad(lambda p: fn(p, x=2.0)[0])(params).tolist()
            [4.0]
        """
        return _flat(self.params), Functional(self.program, self.funcs)

    def parameter_symbols(self, prefix: str = "p") -> tuple[list[sp.Symbol], Any]:
        """Which entry of ``params`` is which coefficient.

        Returns ``(symbols, expressions)``: the symbols ``p0, p1, ...`` (``prefix`` and the
        entry's index; an underscore is added while a name clashes with an input) and the
        pytree of expressions with ``params[k]`` replaced by the k-th symbol.

        Example:
            >>> import sympy as sp
            >>> x = sp.Symbol("x")
            >>> SymbolicModule([1.5 * sp.sin(2.0 * x) + 1.5]).parameter_symbols()
            ([p0, p1, p2], [p0 + p1*sin(p2*x)])
        """
        syms, as_inputs = parameters_as_symbols(self.program.graph, self.program.names, prefix)
        exprs = to_sympy(as_inputs, (), self.program.buffers)
        return syms, jax.tree_util.tree_unflatten(self.program.treedef, exprs)

    @property
    def source(self) -> str:
        """The generated JAX source."""
        return self.program.source

    # The module object hashes by identity: ``jax.jit(mod)`` needs a hashable callable, and a
    # module's arrays are not hashable. Its treedef is another matter: the static part
    # (`_Program`) compares by content, so equal modules are equal pytrees.
    def __hash__(self) -> int:
        return id(self)

    def __eq__(self, other) -> bool:
        return self is other

    def __reduce__(self):
        prog = self.program
        funcs = tuple(s if d is None else eqx.combine(d, s) for d, s in zip(self.funcs, prog.statics))
        params = self.params
        params = tuple(map(_host, params)) if isinstance(params, tuple) else np.asarray(params)
        return (_rebuild, (prog.graph, prog.treedef, prog.symbols, prog.time, funcs, prog.stacked, params))


class Functional:
    """The pure function of a `SymbolicModule.functional`: ``fn(params, **inputs)``."""

    def __init__(self, program: _Program, funcs: tuple):
        self.program = program
        self.funcs = funcs

    def __call__(self, params, *args, **inputs):
        return self.program.run(params, self.funcs, args, inputs)


def _params(values, make_array: bool, packed: bool):
    """The parameters' leaves: a tuple of Python floats (``make_array=False``), one flat array
    (``packed``), or a tuple of scalar arrays of JAX's default float dtype (strongly typed)."""
    if not make_array:
        return tuple(float(v) for v in values)
    values = np.asarray(values, dtype=float)
    return jnp.asarray(values) if packed else tuple(jnp.asarray(v) for v in values)


def _flat(params) -> jax.Array:
    """The parameters as one flat array, whatever their layout."""
    if isinstance(params, tuple):
        return jnp.stack(params) if params else jnp.zeros((0,))
    return jnp.asarray(params)


def _host(v):
    """A parameter leaf for pickling: NumPy for an array (dtype kept), a Python float as it is."""
    return v if type(v) is float else np.asarray(v)


def _shortest(params) -> list[float]:
    """The parameters as Python floats, each the shortest decimal that its dtype reads back
    (a float32 0.2 raises as 0.2, not 0.200000002980232)."""
    values = params if isinstance(params, tuple) else np.asarray(params).ravel()
    return [v if type(v) is float else float(str(np.asarray(v))) for v in values]


def _rebuild(graph, treedef, symbols, time, funcs, stacked, params):
    """Unpickling: a module rebuilt from its graph (data); the code is generated again."""
    mod = object.__new__(SymbolicModule)
    dynamic, statics = [], []
    for fn in funcs:
        d, s = eqx.partition(fn, eqx.is_array)
        dynamic.append(d)
        statics.append(s)
    object.__setattr__(mod, "program", _Program(graph, treedef, symbols, time, tuple(statics), stacked))
    if isinstance(params, tuple):
        params = tuple(v if type(v) is float else jnp.asarray(v) for v in params)
    else:
        params = jnp.asarray(params)
    object.__setattr__(mod, "params", params)
    object.__setattr__(mod, "funcs", tuple(dynamic))
    return mod
