"""`SymPyModule`: SymPy expressions as a PyTorch module, a drop-in for sympytorch's.

The expressions are lowered once to a graph (floats as parameter slots, one per occurrence,
in ``sympy.preorder_traversal`` order), prepared for PyTorch (constants folded, untaken
branches masked, isomorphic sibling terms batched) and emitted as one straight-line function.
The module holds three packed 1-D tensors:

- ``params``: an ``nn.Parameter``, entry k is the k-th Float occurrence;
- ``frozen``: a buffer, entry k is the k-th ``UnevaluatedExpr(Float)`` occurrence;
- ``constants``: a buffer of the integers, rationals, named constants and folded constant
  subexpressions the function uses, made from their exact values in the module's dtype.

The module pickles as its graph and tensors: the generated function is rebuilt on load.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

import sympy as sp
import torch

from .._backends.torch import Compiled, cached, coerce_inputs, compile_graph, prepare
from .._core.errors import ArgumentError, MissingInputError, ShapeError, SympileError
from .._core.graph import Graph, paused_gc
from .._sympy.lower import lower
from .._sympy.raising import to_sympy
from .parameters import parameters_as_symbols


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

    Calling it: ``mod(x=tensor_or_number, ...)`` by symbol name (other keywords are
    ignored), or ``mod(X)`` when ``symbols`` was given. Inputs broadcast together; the result
    has shape ``(*batch, len(expressions))``. It is computed in the promotion of the inputs'
    dtypes and the module's dtype, on the inputs' device.

    Each ``Float`` occurrence is its own trainable parameter (entry k of ``params`` is the
    k-th Float in ``sympy.preorder_traversal`` order, so two equal coefficients train apart);
    a Float wrapped in ``sympy.UnevaluatedExpr`` (see `hide_floats`) is a frozen entry of
    ``frozen``. `sympy` gives the expressions back with the current values, and
    `parameter_symbols` shows which entry is which coefficient.

    Example:
        >>> import sympy as sp, torch
        >>> x = sp.Symbol("x")
        >>> mod = SymPyModule(expressions=[2.0 * sp.sin(x) + 0.5, x**2])
        >>> mod(x=torch.tensor([0.0, 1.0])).shape
        torch.Size([2, 2])
        >>> mod.params
        Parameter containing:
        tensor([0.5000, 2.0000], requires_grad=True)
    """

    def __init__(
        self,
        *,
        expressions: Iterable[Any],
        extra_funcs: Mapping[Any, Callable] | None = None,
        symbols: Sequence[sp.Symbol] | None = None,
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
        dtype = torch.get_default_dtype()
        self.params = torch.nn.Parameter(_exact(graph.params, dtype, None))
        self.register_buffer("frozen", _exact(graph.buffers, dtype, None))
        self._compile()
        self.register_buffer("constants", _exact(self._compiled.constants, dtype, None))
        self.register_load_state_dict_post_hook(_after_load)

    # -- building ---------------------------------------------------------------------------

    def _compile(self, batch: bool = True) -> None:
        """The emitted function and how to feed it, rebuilt from the graph (also after loading).

        ``batch=False`` (for benchmarks) leaves sibling terms unbatched."""
        graph = self._graph
        with paused_gc():
            key = (graph.content_hash(), "SymPyModule", batch)
            self._compiled: Compiled = cached(key, lambda: _emit(graph, batch))
        c = self._compiled
        device = self.params.device
        order = lambda o: None if o is None else torch.tensor(o, dtype=torch.long, device=device)
        # Non-persistent buffers: they follow the module's device, and are not in state_dict.
        self.register_buffer("_param_order", order(c.param_order), persistent=False)
        self.register_buffer("_buffer_order", order(c.buffer_order), persistent=False)
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

    # -- calling ----------------------------------------------------------------------------

    def forward(self, *args: Any, **symbols: Any) -> torch.Tensor:
        values = self._gather(args, symbols)
        P, B = self.params, self.frozen
        values, rdt, device = coerce_inputs(values, P.dtype, P.device)
        if self._param_order is not None:
            P = P.index_select(0, self._param_order.to(P.device))
        if self._buffer_order is not None:
            B = B.index_select(0, self._buffer_order.to(B.device))
        if P.dtype != rdt:
            P = P.to(rdt)
        if B.dtype != rdt:
            B = B.to(rdt)
        K = self.constants
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

    # -- back to SymPy ------------------------------------------------------------------------

    def sympy(self) -> list[sp.Expr]:
        """The expressions, with the current values of the parameters and buffers."""
        return to_sympy(self._graph, self.params.detach().cpu().tolist(), self.frozen.detach().cpu().tolist())

    def parameter_symbols(self, prefix: str = "p") -> tuple[list[sp.Symbol], list[sp.Expr]]:
        """Which entry of ``params`` is which coefficient.

        Returns ``(symbols, expressions)``: the symbols ``p0, p1, ...`` (``prefix`` and the
        entry's index; an underscore is added while a name clashes with a symbol of the
        expressions) and the expressions with ``params[k]`` replaced by the k-th symbol.

        Example:
            >>> import sympy as sp
            >>> x = sp.Symbol("x")
            >>> mod = SymPyModule(expressions=[1.5 * sp.sin(2.0 * x) + 1.5])
            >>> mod.parameter_symbols()
            ([p0, p1, p2], [p0 + p1*sin(p2*x)])
        """
        syms, as_inputs = parameters_as_symbols(self._graph, self._graph.inputs, prefix)
        return syms, to_sympy(as_inputs, (), self.frozen.detach().cpu().tolist())

    # -- dtype, device, state, pickling ------------------------------------------------------------

    def _apply(self, fn, recurse=True):
        """``.to()``, ``.double()``, ``.cuda()``...: the constants are remade from their exact
        values in the new dtype, and so are the floats that still hold their initial values."""
        before = {name: getattr(self, name).dtype for name in ("params", "frozen")}
        super()._apply(fn, recurse)
        with torch.no_grad():
            for name, initial in (("params", self._graph.params), ("frozen", self._graph.buffers)):
                t = getattr(self, name)
                if t.dtype != before[name] and t.dtype.is_floating_point and t.numel():
                    was = torch.tensor(initial, dtype=torch.float64).to(before[name]).to(t.device, t.dtype)
                    exact = _exact(initial, t.dtype, t.device)
                    t.copy_(torch.where(t == was, exact, t))
            _restore_constants(self)
        return self

    def __getstate__(self) -> dict:
        state = self.__dict__.copy()
        state.pop("_compiled", None)
        return state

    def __setstate__(self, state: dict) -> None:
        super().__setstate__(state)
        self._compile()

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


def _restore_constants(mod: SymPyModule) -> None:
    c = mod.constants
    with torch.no_grad():
        c.copy_(_exact(mod._compiled.constants, c.dtype, c.device))


def _after_load(mod, incompatible_keys) -> None:
    # A state_dict saved in float32 holds constants rounded to float32: remake them exactly.
    _restore_constants(mod)
