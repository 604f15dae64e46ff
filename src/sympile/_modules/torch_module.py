"""`SymPyModule`: SymPy expressions as a PyTorch module, a drop-in for sympytorch's.

The expressions are lowered once to a graph (floats as parameter slots, one per occurrence,
in ``sympy.preorder_traversal`` order), prepared for PyTorch (constants folded, untaken
branches masked, isomorphic sibling terms batched) and emitted as one straight-line function
that takes its floats as packed 1-D tensors. The module holds:

- a scalar ``nn.Parameter`` ``p{k}`` for the k-th Float occurrence, and a scalar buffer
  ``b{k}`` for the k-th ``UnevaluatedExpr(Float)`` occurrence, stacked into the packed vectors
  once per call; or, with ``packed=True``, one ``nn.Parameter`` ``params`` and one buffer
  ``frozen`` whose entry k is slot k;
- the constants (integers, rationals, named constants, folded constant subexpressions), made
  from their exact values in the module's dtype: a plain tensor attribute, not a buffer, so
  ``buffers()`` and ``state_dict()`` hold only the floats.

The module pickles as its graph and tensors: the generated function is rebuilt on load.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

import sympy as sp
import torch

from .._backends.torch import PIPELINE, Compiled, cached, coerce_inputs, compile_graph, prepare
from .._core.errors import ArgumentError, MissingInputError, ShapeError, SympileError
from .._core.graph import Graph, paused_gc
from .._sympy.lower import lower
from .._sympy.raising import to_sympy
from .parameters import parameters_as_symbols

#: The names of a module's parameters and frozen floats: ``p0, p1, ...`` and ``b0, b1, ...``
#: (the same k as `SymPyModule.parameter_symbols`'s k-th symbol).
PARAM_PREFIX, BUFFER_PREFIX = "p", "b"
#: The names of the two tensors of the packed layout (``packed=True``).
PACKED = ("params", "frozen")


class _NoExpressionsError(SympileError, ValueError):
    """`SymPyModule` was given no expressions."""


class SymPyModule(torch.nn.Module):
    """SymPy expressions as a ``torch.nn.Module``: trainable floats, outputs stacked last.

    Args:
        expressions: a sequence of SymPy expressions (at least one).
        extra_funcs: ``{sympy function or class: callable}`` for functions sympile does not
            translate, or to override a built-in translation; the callable takes tensors.
        symbols: the input symbols in order. Given, the module can also be called
            positionally, ``mod(X)`` with ``X[..., i]`` the i-th symbol. Default: every free
            symbol of the expressions, sorted by name.
        packed: hold the floats as one 1-D ``nn.Parameter`` ``params`` and one buffer
            ``frozen`` instead of a scalar per float: for models with many floats, where
            per-tensor costs (autograd's, an optimiser's) add up.

    Calling it: ``mod(x=tensor_or_number, ...)`` by symbol name (other keywords are
    ignored), or ``mod(X)`` when ``symbols`` was given. Inputs broadcast together; the result
    has shape ``(*batch, len(expressions))``. It is computed in the promotion of the inputs'
    dtypes and the module's dtype, on the inputs' device.

    Each ``Float`` occurrence is its own scalar ``nn.Parameter``, named ``p{k}`` for the k-th
    Float in ``sympy.preorder_traversal`` order (so two equal coefficients train apart); a
    Float wrapped in ``sympy.UnevaluatedExpr`` (see `hide_floats`) is a scalar buffer
    ``b{k}``. An expression without floats has no parameters. `sympy` gives the expressions
    back with the current values, and `parameter_symbols` shows which parameter is which
    coefficient.

    Example:
        >>> import sympy as sp, torch
        >>> x = sp.Symbol("x")
        >>> mod = SymPyModule(expressions=[2.0 * sp.sin(x) + 0.5, x**2])
        >>> mod(x=torch.tensor([0.0, 1.0])).shape
        torch.Size([2, 2])
        >>> {name: p.item() for name, p in mod.named_parameters()}
        {'p0': 0.5, 'p1': 2.0}
    """

    def __init__(
        self,
        *,
        expressions: Iterable[Any],
        extra_funcs: Mapping[Any, Callable] | None = None,
        symbols: Sequence[sp.Symbol] | None = None,
        packed: bool = False,
    ) -> None:
        super().__init__()
        if isinstance(expressions, (str, sp.Basic)) and not isinstance(expressions, sp.MatrixBase):
            raise ArgumentError(
                "expressions must be a list of SymPy expressions, not a single "
                f"{type(expressions).__name__}; pass [expr]"
            )
        exprs = list(expressions)
        if not exprs:
            raise _NoExpressionsError("SymPyModule needs at least one expression; expressions=[] is empty")
        positional = symbols is not None
        if symbols is None:
            free = set()
            for e in exprs:
                free |= getattr(e, "free_symbols", set())
            symbols = sorted((s for s in free if isinstance(s, sp.Symbol)), key=lambda s: (s.name, str(s)))
        symbols = list(symbols)
        with paused_gc():
            graph = lower(exprs, symbols, floats="params", extra_funcs=extra_funcs)
        self._graph = graph
        self._positional = positional
        self._symbols = symbols if positional else None
        self._extra_funcs = dict(extra_funcs) if extra_funcs else None
        self._packed = bool(packed)
        dtype = torch.get_default_dtype()
        params, frozen = _exact(graph.params, dtype, None), _exact(graph.buffers, dtype, None)
        if self._packed:
            self.params = torch.nn.Parameter(params)
            self.register_buffer("frozen", frozen)
        else:
            for name, value in zip(slot_names(PARAM_PREFIX, len(graph.params)), params):
                self.register_parameter(name, torch.nn.Parameter(value.clone()))
            for name, value in zip(slot_names(BUFFER_PREFIX, len(graph.buffers)), frozen):
                self.register_buffer(name, value.clone())
        self._compile()
        self._constants = _exact(self._compiled.constants, dtype, None)

    # -- building ---------------------------------------------------------------------------

    def _compile(self, batch: bool = True) -> None:
        """The emitted function and how to feed it, rebuilt from the graph (also after loading).

        ``batch=False`` (for benchmarks) leaves sibling terms unbatched."""
        graph = self._graph
        with paused_gc():
            key = (graph.content_hash(), "SymPyModule", batch)
            self._compiled: Compiled = cached(key, lambda: _emit(graph, batch))
            # inputs whose complex values would reach a real-only op: refused before any arithmetic
            self._real = PIPELINE.real_inputs(graph)
        c = self._compiled
        n_params, n_buffers = len(graph.params), len(graph.buffers)
        p_order = c.param_order if c.param_order is not None else range(n_params)
        b_order = c.buffer_order if c.buffer_order is not None else range(n_buffers)
        # The names stacked into the function's packed vectors, in the function's order; for
        # the packed layout, the index that reorders ``params`` and ``frozen`` (None: as is).
        self._feed_params = [f"{PARAM_PREFIX}{k}" for k in p_order]
        self._feed_buffers = [f"{BUFFER_PREFIX}{k}" for k in b_order]
        self._param_index = None if c.param_order is None else torch.tensor(c.param_order, dtype=torch.long)
        self._buffer_index = None if c.buffer_order is None else torch.tensor(c.buffer_order, dtype=torch.long)
        self._names = [getattr(s, "name", str(s)) for s in graph.inputs]

    @property
    def source(self) -> str:
        """The generated source of the forward computation."""
        return self._compiled.source

    @property
    def symbols(self) -> list | None:
        """The ``symbols`` given (the order of ``mod(X)``'s last axis), or None."""
        return self._symbols

    @property
    def extra_funcs(self) -> dict | None:
        """The ``extra_funcs`` given, or None."""
        return self._extra_funcs

    @property
    def input_names(self) -> list[str]:
        """The names the module is called with, in the order of its inputs."""
        return list(self._names)

    @property
    def packed(self) -> bool:
        """Whether the floats are held as one packed ``params`` (and ``frozen``) tensor."""
        return self._packed

    @property
    def dtype(self) -> torch.dtype:
        """The module's dtype (the default dtype at construction, changed by ``.to()``...)."""
        return self._constants.dtype

    # -- calling ----------------------------------------------------------------------------

    def forward(self, *args: Any, **symbols: Any) -> torch.Tensor:
        values = self._gather(args, symbols)
        K = self._constants
        values, rdt, device = coerce_inputs(values, K.dtype, K.device)
        if self._real is not None:
            self._real.check(values)
        # a float32 input to a float64 module is widened: PyTorch would compute an op of it and a
        # 0-d float64 value in float32
        values = [v.to(rdt) if v.dtype.is_floating_point and v.dtype != rdt else v for v in values]
        if self._packed:
            P, B = self.params, self.frozen
            if self._param_index is not None:
                P = P.index_select(0, self._param_index.to(P.device))
            if self._buffer_index is not None:
                B = B.index_select(0, self._buffer_index.to(B.device))
        else:
            # one stack per call: the function runs on packed vectors, autograd un-stacks
            ps, bs = self._parameters, self._buffers
            P = torch.stack([ps[n] for n in self._feed_params]) if self._feed_params else None
            B = torch.stack([bs[n] for n in self._feed_buffers]) if self._feed_buffers else None
        if P is not None and P.dtype != rdt:
            P = P.to(rdt)
        if B is not None and B.dtype != rdt:
            B = B.to(rdt)
        if K.dtype != rdt or K.device != device:
            K = _exact(self._compiled.constants, rdt, device)
        return self._compiled.fn(P, B, K, *values)

    def _gather(self, args: tuple, symbols: dict) -> list:
        names = self._names
        if args:
            if not self._positional:
                raise ArgumentError(
                    "this module takes its inputs by name, mod(" + ", ".join(f"{n}=..." for n in names) + "); "
                    "to call it as mod(X), build it with symbols=[...]"
                )
            if len(args) != 1 or symbols:
                raise ArgumentError(
                    f"call mod(X) with one tensor whose last axis holds {', '.join(names)}, or by name; "
                    f"got {len(args)} positional and {len(symbols)} keyword arguments"
                )
            (X,) = args
            if not isinstance(X, torch.Tensor):
                X = torch.as_tensor(X)
            if X.ndim == 0 or X.shape[-1] != len(names):
                raise ShapeError(
                    f"mod(X) needs X[..., i] to be the i-th of the {len(names)} symbols ({', '.join(names)}), "
                    f"so a last axis of size {len(names)}; got shape {tuple(X.shape)}"
                )
            return list(X.unbind(-1))
        try:
            return [symbols[n] for n in names]
        except KeyError:
            missing = [n for n in names if n not in symbols]
            raise MissingInputError(
                f"missing input(s) {', '.join(missing)}: this module expects {', '.join(names)} "
                f"(got {', '.join(symbols) or 'none'})"
            ) from None

    # -- the floats, and back to SymPy --------------------------------------------------------

    def _slots(self, kind: str) -> list[torch.Tensor]:
        """The tensors that hold the ``"params"`` or ``"frozen"`` slots, in slot order: the
        packed tensor, or one scalar per slot."""
        if self._packed:
            return [getattr(self, kind)]
        n = len(self._graph.params if kind == "params" else self._graph.buffers)
        store = self._parameters if kind == "params" else self._buffers
        return [store[name] for name in slot_names(PARAM_PREFIX if kind == "params" else BUFFER_PREFIX, n)]

    def _values(self, kind: str) -> list[float]:
        tensors = self._slots(kind)
        if not tensors:
            return []
        return torch.cat([t.detach().reshape(-1) for t in tensors]).cpu().tolist()

    def sympy(self) -> list[sp.Expr]:
        """The expressions, with the current values of the parameters and buffers."""
        return to_sympy(self._graph, self._values("params"), self._values("frozen"))

    def parameter_symbols(self, prefix: str = "p") -> tuple[list[sp.Symbol], list[sp.Expr]]:
        """Which parameter is which coefficient.

        Returns ``(symbols, expressions)``: the symbols ``p0, p1, ...`` (``prefix`` and the
        slot; an underscore is added while a name clashes with a symbol of the expressions)
        and the expressions with parameter ``p{k}`` (entry k of ``params`` when packed)
        replaced by the k-th symbol.

        Example:
            >>> import sympy as sp
            >>> x = sp.Symbol("x")
            >>> mod = SymPyModule(expressions=[1.5 * sp.sin(2.0 * x) + 1.5])
            >>> mod.parameter_symbols()
            ([p0, p1, p2], [p0 + p1*sin(p2*x)])
        """
        syms, as_inputs = parameters_as_symbols(self._graph, self._graph.inputs, prefix)
        return syms, to_sympy(as_inputs, (), self._values("frozen"))

    # -- dtype, device, state, pickling ------------------------------------------------------------

    def _apply(self, fn, recurse=True):
        """``.to()``, ``.double()``, ``.cuda()``...: the constants are remade from their exact
        values in the new dtype, and so are the floats that still hold their initial values."""
        before = {kind: [t.dtype for t in self._slots(kind)] for kind in ("params", "frozen")}
        super()._apply(fn, recurse)
        self._constants = fn(self._constants)
        for index in ("_param_index", "_buffer_index"):
            if getattr(self, index) is not None:
                setattr(self, index, fn(getattr(self, index)))
        with torch.no_grad():
            for kind, initial in (("params", self._graph.params), ("frozen", self._graph.buffers)):
                tensors = self._slots(kind)
                if not tensors or tensors[0].dtype == before[kind][0] or not tensors[0].dtype.is_floating_point:
                    continue
                t = torch.cat([t.reshape(-1) for t in tensors])
                was = torch.tensor(initial, dtype=torch.float64).to(before[kind][0]).to(t.device, t.dtype)
                exact = torch.where(t == was, _exact(initial, t.dtype, t.device), t)
                for dst, src in zip(tensors, exact.split([d.numel() for d in tensors])):
                    dst.copy_(src.reshape(dst.shape))
            c = self._constants
            self._constants = _exact(self._compiled.constants, c.dtype, c.device)
        return self

    def _load_from_state_dict(self, state_dict, prefix, local_metadata, strict, missing, unexpected, errors):
        """Loads either layout's ``state_dict`` into either layout (and drops the ``constants``
        that earlier versions saved: they are always remade from their exact values)."""
        state_dict.pop(prefix + "constants", None)
        for kind, slot_prefix, n in (
            ("params", PARAM_PREFIX, len(self._graph.params)),
            ("frozen", BUFFER_PREFIX, len(self._graph.buffers)),
        ):
            names = [prefix + name for name in slot_names(slot_prefix, n)]
            if not self._packed and prefix + kind in state_dict and not any(k in state_dict for k in names):
                packed = state_dict[prefix + kind]
                if packed.ndim == 1 and packed.numel() == n:
                    state_dict.pop(prefix + kind)
                    state_dict.update(zip(names, packed.unbind()))
                else:
                    errors.append(
                        f"the saved {kind!r} holds {packed.numel()} values; this module has {n} ({', '.join(names)})"
                    )
            elif self._packed and prefix + kind not in state_dict and all(k in state_dict for k in names):
                # (with no such floats, the other layout has no key for them)
                own = getattr(self, kind)
                state_dict[prefix + kind] = torch.stack([state_dict.pop(k) for k in names]) if names else own[:0]
        super()._load_from_state_dict(state_dict, prefix, local_metadata, strict, missing, unexpected, errors)

    def __getattr__(self, name: str) -> Any:
        try:
            return super().__getattr__(name)
        except AttributeError:
            if name in PACKED and not self.__dict__.get("_packed", True):
                raise AttributeError(
                    f"this SymPyModule has a scalar parameter per float (p0, p1, ... in named_parameters()) "
                    f"and a scalar buffer per frozen float (b0, b1, ...), so no {name!r}; "
                    f"build it with packed=True for one packed 'params' tensor and 'frozen' buffer"
                ) from None
            raise

    def __getstate__(self) -> dict:
        state = self.__dict__.copy()
        state.pop("_compiled", None)
        state.pop("_real", None)
        return state

    def __setstate__(self, state: dict) -> None:
        if "_packed" not in state:  # pickled by a version that had only the packed layout
            state["_packed"] = True
            buffers = state["_buffers"]
            for name in ("_param_order", "_buffer_order"):
                buffers.pop(name, None)
            state["_constants"] = buffers.pop("constants")
        super().__setstate__(state)
        self._compile()
        c = self._constants
        self._constants = _exact(self._compiled.constants, c.dtype, c.device)

    def __repr__(self) -> str:
        # printed when asked: printing a large expression takes longer than compiling it
        return f"{type(self).__name__}(expressions={to_sympy(self._graph)})"


def _emit(graph: Graph, batch: bool = True) -> Compiled:
    prepared = prepare(graph, batch)
    n_in = len(prepared.inputs)
    deps = prepared.input_dependence()
    full = (1 << n_in) - 1
    inputs = "(" + "".join(f"a{k}, " for k in range(n_in)) + ")"

    def returns(outs):
        if len(outs) == 1 and deps[prepared.outputs[0]] == full and n_in:
            return f"{outs[0]}[..., None]"
        return f"_stack([{', '.join(outs)}], {inputs})"

    return compile_graph(prepared, returns)


def _exact(values, dtype: torch.dtype, device) -> torch.Tensor:
    """Python numbers as a tensor, each rounded once from its float64 value to ``dtype``."""
    return torch.tensor(values, dtype=torch.float64, device=device).to(dtype)


def slot_names(prefix: str, n: int) -> list[str]:
    """``prefix0, prefix1, ...``: the names of ``n`` slots."""
    return [f"{prefix}{k}" for k in range(n)]


def _after_load(mod, incompatible_keys) -> None:
    """Nothing: modules pickled by earlier versions name this load hook (it remade the
    constants, which are no longer in the ``state_dict``)."""
