"""The PyTensor backend: a spelling table over ``pytensor.tensor``, and its two wrappers.

The graph is emitted as a Python function that, given PyTensor variables for the inputs,
builds the outputs' PyTensor graph (``Piecewise`` becomes ``pt.switch``). `to_pytensor`
returns those variables, for use inside a bigger graph (a PyMC model, say); the ``lambdify``
backend compiles them with ``pytensor.function``, once per combination of input dtypes and
broadcast patterns, on first call.

PyTensor differentiates the graph it runs (``pytensor.grad``), so untaken branches are
masked first (`_mask.mask_branches`, the double-where pattern) and their gradients stay
finite. Literals are made in the computation's dtype, so float32 inputs stay float32.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pytensor
import pytensor.tensor as pt

from .._core.errors import ArgumentError, UnsupportedFunctionError
from .._core.graph import Graph
from .._core.ops import const_value
from .._core.tree import arg_targets, flatten, spell
from .._emit.emit import ARRAY_FORMS, Emitted, Spelling, compile_source, emit
from .._sympy.lower import lower
from .._transforms.fold import fold_constants
from .._transforms.mask import mask_branches

PYTENSOR = {
    **ARRAY_FORMS,
    "eq": "pt.eq({0}, {1})",
    "ne": "pt.neq({0}, {1})",
    "cbrt": "pt.sign({0}) * pt.abs({0}) ** _k(1 / 3)",
    "sinc": "_sinc({0}, _k)",
    "heaviside": "_heaviside({0}, {1}, _k)",
    "where": "pt.switch({0}, {1}, {2})",
    "and": "pt.and_({0}, {1})",
    "or": "pt.or_({0}, {1})",
    "xor": "pt.xor({0}, {1})",
    "not": "pt.invert({0})",
    "erf": "pt.erf({0})",
    "erfc": "pt.erfc({0})",
    "erfinv": "pt.erfinv({0})",
    "gamma": "pt.gamma({0})",
    "loggamma": "pt.gammaln({0})",
    "polygamma": "pt.polygamma({a}, {0})",
    "factorial": "pt.gamma({0} + _k(1))",
    "binomial": "_binomial({0}, {1}, _k)",
    "besselj": "pt.jv({0}, {1})",
    "re": "pt.real({0})",
    "im": "pt.imag({0})",
    "arg": "pt.arctan2(pt.imag({0}), pt.real({0}))",  # pt.angle gives float64 for complex64
    "sign": "_sign({0}, _k)",
    "conjugate": "pt.conj({0})",
    "abs": "pt.abs({0})",
    "mod": "pt.mod({0}, {1})",
}

#: Ops PyTensor has no function for.
WITHOUT = {"lambertw": "LambertW", "bessely": "bessely"}


def _sinc(x, k):
    zero = pt.eq(x, k(0))
    safe = pt.switch(zero, k(1), x)  # the double where: sin(x)/x is never formed at 0
    return pt.switch(zero, k(1), pt.sin(safe) / safe)


def _sign(x, k):
    if not x.dtype.startswith("complex"):
        return pt.sign(x)
    r = pt.abs(x)  # NumPy's sign of a complex number: z / |z|
    zero = pt.eq(r, k(0))
    return pt.switch(zero, k(0), x / pt.switch(zero, k(1), r))


def _heaviside(x, h, k):
    return pt.switch(pt.gt(x, k(0)), k(1), pt.switch(pt.lt(x, k(0)), k(0), pt.switch(pt.eq(x, k(0)), h, x)))


def _binomial(n, m, k):
    one = k(1)
    return pt.gamma(n + one) / (pt.gamma(m + one) * pt.gamma(n - m + one))


def _const(attr) -> str:
    """Literals become ``_k(value)``: a constant in the computation's dtype."""
    value = const_value(attr)
    if type(value) is bool:
        return f"_k({value!r})"
    if type(value) is complex:
        return f"_k(complex({_real(value.real)}, {_real(value.imag)}))"
    return f"_k({_real(float(value))})"


def _real(v: float) -> str:
    if math.isnan(v):
        return "_NAN"
    if math.isinf(v):
        return "_INF" if v > 0 else "(-_INF)"
    return repr(v)


_NAMESPACE = {
    "pt": pt,
    "_sinc": _sinc,
    "_sign": _sign,
    "_heaviside": _heaviside,
    "_binomial": _binomial,
    "_INF": math.inf,
    "_NAN": math.nan,
}


def graph_builder(graph: Graph) -> tuple[Any, str]:
    """A Python function ``(a0, a1, ..., _k) -> [output variables]`` and its source.

    ``_k(value)`` makes a literal; the caller chooses its dtype.
    """
    for n in graph.nodes:
        if n.op in WITHOUT:
            raise UnsupportedFunctionError(
                f"the pytensor backend cannot compute {WITHOUT[n.op]}: PyTensor has no such function; "
                "use backend='numpy' for this expression"
            )
    graph = mask_branches(fold_constants(graph))
    n_in = len(graph.inputs)
    emitted = emit(
        graph,
        Spelling("pytensor", "pt", PYTENSOR, _NAMESPACE),
        name="_graph",
        signature=[*(f"a{k}" for k in range(n_in)), "_k"],
        const=_const,
        returns=lambda outs: "[" + ", ".join(outs) + "]",
    )
    return compile_source(emitted, "pytensor"), emitted.source


def _literal_maker(dtype: str):
    def k(value):
        if type(value) is bool:
            return pt.constant(value)
        if type(value) is complex:
            return pt.constant(np.asarray(value, np.result_type(dtype, np.complex64)))
        return pt.constant(np.asarray(value, dtype))

    return k


def compute_dtype(variables) -> str:
    """The float dtype literals take beside these variables: their float upcast, else floatX."""
    floats = [v.dtype for v in variables if v.dtype.startswith(("float", "complex"))]
    if not floats:
        return pytensor.config.floatX
    dt = np.result_type(*floats)
    return str(np.empty(0, dt).real.dtype)


def variables(
    symbols: Sequence,
    *,
    dims: Mapping | None = None,
    dim: int | None = None,
    dtypes: Mapping | None = None,
    broadcastables: Mapping | None = None,
) -> list:
    """Fresh PyTensor input variables for SymPy symbols, as SymPy's ``pytensor_function`` makes them.

    Args:
        symbols: the SymPy symbols.
        dims: ``{symbol: number of dimensions}`` (overrides ``broadcastables``).
        dim: the number of dimensions of every input (default 0: scalars).
        dtypes: ``{symbol: dtype}`` (default ``pytensor.config.floatX``).
        broadcastables: ``{symbol: tuple of bools}``, True for a dimension of size 1 that broadcasts.

    Example:
        >>> import sympy as sp
        >>> x, y = sp.symbols("x y")
        >>> [v.type for v in variables([x, y], dims={x: 1}, dtypes={y: "float32"})]
        [TensorType(float64, shape=(None,)), TensorType(float32, shape=())]
    """
    dtypes = dict(dtypes or {})
    out = []
    for s in symbols:
        if dims is not None and s in dims:
            shape = (None,) * int(dims[s])
        elif broadcastables is not None and s in broadcastables:
            shape = tuple(1 if b else None for b in broadcastables[s])
        else:
            shape = (None,) * int(dim or 0)
        out.append(pt.tensor(name=str(s), dtype=dtypes.get(s, pytensor.config.floatX), shape=shape))
    return out


def to_pytensor(
    exprs: Any,
    inputs: Sequence | Mapping,
    *,
    dims: Mapping | None = None,
    dim: int | None = None,
    dtypes: Mapping | None = None,
    broadcastables: Mapping | None = None,
    extra_funcs: Mapping | None = None,
) -> Any:
    """SymPy expressions as PyTensor variables, for use inside a bigger PyTensor graph (a PyMC model).

    Args:
        exprs: an expression, or a (nested) list/tuple, Matrix or Array of them; the result
            has the same structure (a Matrix becomes a tensor of shape ``(rows, cols, *batch)``).
        inputs: ``{symbol: variable}`` (PyTensor variables, or anything ``pt.as_tensor_variable``
            takes) to connect the expressions to your graph, or a sequence of symbols, for
            which fresh variables are made with `variables` (call it yourself to keep them).
        dims, dim, dtypes, broadcastables: how fresh variables are made (see `variables`),
            as in SymPy's ``pytensor_function``.
        extra_funcs: ``{sympy function: callable}``; the callable is called with PyTensor variables.

    Returns:
        PyTensor variables, in the structure of ``exprs``. ``pytensor.grad`` differentiates
        them; untaken ``Piecewise`` branches are masked, so their gradients stay finite.

    Example:
        >>> import pytensor, pytensor.tensor as pt, sympy as sp
        >>> x = sp.Symbol("x")
        >>> v = pt.dscalar("v")
        >>> y = to_pytensor(sp.Piecewise((x**2, x > 0), (-x, True)), {x: v})
        >>> f = pytensor.function([v], [y, pytensor.grad(y, v)])
        >>> [float(r) for r in f(3.0)]
        [9.0, 6.0]
    """
    if isinstance(inputs, Mapping):
        symbols = list(inputs)
        given = [pt.as_tensor_variable(v) for v in inputs.values()]
    else:
        symbols = list(inputs)
        given = variables(symbols, dims=dims, dim=dim, dtypes=dtypes, broadcastables=broadcastables)
    flat, tree = flatten(exprs)
    graph = lower(flat, symbols, extra_funcs=extra_funcs)
    build, _ = graph_builder(graph)
    outs = build(*given, _literal_maker(compute_dtype(given)))
    return _restructure(tree, outs)


def _restructure(tree, outs):
    kind = tree[0]
    if kind == "leaf":
        return outs[tree[1]]
    if kind == "array":
        items = [_restructure(t, outs) for t in tree[2]]
        if not items:
            return pt.zeros(tree[1])
        stacked = pt.stack(pt.broadcast_arrays(*items))
        return stacked.reshape((*tree[1], *stacked.shape[1:]), ndim=len(tree[1]) + stacked.ndim - 1)
    items = [_restructure(t, outs) for t in tree[1]]
    return items if kind == "list" else tuple(items)


# -- lambdify(..., backend="pytensor") ------------------------------------------------------------


class _Compiled:
    """The graph compiled by ``pytensor.function``, once per input signature (dtypes, broadcasting)."""

    def __init__(self, graph: Graph):
        self.build, self.source = graph_builder(graph)
        self.n_in = len(graph.inputs)
        self.functions: dict[tuple, Any] = {}

    def __call__(self, *args):
        arrays = [np.asarray(a) for a in args]
        for a in arrays:
            if a.dtype.kind not in "biufc":
                raise ArgumentError(f"the pytensor backend takes numbers and numeric arrays, got dtype {a.dtype}")
        arrays = [a.astype(np.float64) if a.dtype.kind in "biu" else a for a in arrays]
        shape = np.broadcast_shapes(*(a.shape for a in arrays)) if arrays else ()
        key = tuple((a.dtype.str, tuple(d == 1 for d in a.shape)) for a in arrays)
        fn = self.functions.get(key)
        if fn is None:
            ins = [
                pt.tensor(name=f"a{k}", dtype=a.dtype, shape=tuple(1 if d == 1 else None for d in a.shape))
                for k, a in enumerate(arrays)
            ]
            outs = self.build(*ins, _literal_maker(compute_dtype(ins)))
            outs = [pt.as_tensor_variable(o) for o in outs]
            fn = self.functions[key] = pytensor.function(ins, outs, on_unused_input="ignore")
        results = fn(*arrays)
        return [r if r.shape == shape else np.broadcast_to(r, shape).copy() for r in results]


def _array(shape, entries):
    a = np.array(entries)
    return a.reshape(tuple(shape) + a.shape[1:])


def build(graph: Graph, arg_tree: tuple, out_tree: tuple, options: dict) -> tuple:
    """A function of ``arg_tree``'s structure that runs ``pytensor.function``; and the graph builder's source."""
    compiled = _Compiled(graph)
    params, unpack = arg_targets(arg_tree)
    flat = "".join(f"a{k}, " for k in range(compiled.n_in))
    texts = [f"_scalar(_o[{k}])" for k in range(len(graph.outputs))]
    ret = spell(out_tree, texts, lambda shape, items: f"_array({tuple(shape)!r}, [{', '.join(items)}])")
    lines = [
        f"def _f({', '.join(params)}):",
        *(f"    {u}" for u in unpack),
        f"    _o = _run({flat})",
        f"    return {ret}",
    ]
    source = "\n".join(lines) + "\n"
    namespace = {"_run": compiled, "_array": _array, "_scalar": _scalar}
    fn = compile_source(Emitted(source, namespace, "_f"), "pytensor")
    fn.compiled = compiled
    return fn, compiled.source + "\n" + source


def _scalar(a):
    return a[()] if a.ndim == 0 else a


__all__ = ["to_pytensor", "variables", "build"]
