"""`to_pytensor`: SymPy expressions as PyTensor variables, to use inside a bigger PyTensor graph.

The expressions are lowered to a graph and spelt by the PyTensor backend
(`sympile._backends.pytensor.graph_builder`) over the variables given, or over fresh ones
made as SymPy's ``pytensor_function`` makes them (`variables`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import pytensor
import pytensor.tensor as pt

from .._backends.pytensor import compute_dtype, graph_builder, literal_maker, tensor
from .._core.tree import flatten, rebuild
from .._sympy.lower import lower


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
        out.append(tensor(str(s), dtypes.get(s, pytensor.config.floatX), shape))
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
    outs = build(*given, literal_maker(compute_dtype(given)))
    return _restructure(tree, outs)


def _restructure(tree, outs):
    def array(shape, ks):
        items = [outs[k] for k in ks]
        if not items:
            return pt.zeros(shape)
        stacked = pt.stack(pt.broadcast_arrays(*items))
        return stacked.reshape((*shape, *stacked.shape[1:]), ndim=len(shape) + stacked.ndim - 1)

    return rebuild(tree, outs.__getitem__, array)
