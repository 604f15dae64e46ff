"""The PyTensor backend: a spelling table over ``pytensor.tensor``, and its wrapper.

The graph is emitted as a Python function that, given PyTensor variables for the inputs,
builds the outputs' PyTensor graph (``Piecewise`` becomes ``pt.switch``).
`sympile.pytensor.to_pytensor` returns those variables, for use inside a bigger graph (a PyMC
model, say); the ``lambdify`` backend compiles them with ``pytensor.function``, once per
combination of input dtypes and broadcast patterns, on first call.

PyTensor differentiates the graph it runs (``pytensor.grad``), so untaken branches are
masked first (`mask_branches`, the double-where pattern) and their gradients stay finite.
Literals are made in the computation's dtype, so float32 inputs stay float32.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytensor
import pytensor.tensor as pt

from .._core.constants import const_value
from .._core.errors import ArgumentError
from .._core.graph import Graph
from .._emit.emit import Emitted, Spelling, compile_source, emit
from .._emit.pipeline import pipeline
from .._emit.tables import ARRAY
from .._emit.wrapper import Built, array_of, entry_frame

#: PyTensor's spellings: the array libraries' base and what differs (cbrt, sinc, heaviside,
#: factorial, binomial and arg are decomposed: `OpSpec.decompose`).
PYTENSOR = {
    **ARRAY,
    "eq": "pt.eq({0}, {1})",
    "ne": "pt.neq({0}, {1})",
    "where": "pt.switch({0}, {1}, {2})",
    "cbrt": None,
    "sinc": None,
    "heaviside": None,
    "arg": None,  # pt.angle gives float64 for complex64
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
    "besselj": "pt.jv({0}, {1})",
    "re": "pt.real({0})",
    "im": "pt.imag({0})",
    "sign": "_sign({0}, _k)",
    "conjugate": "pt.conj({0})",
    "abs": "pt.abs({0})",
    "mod": "pt.mod({0}, {1})",
}


def _sign(x, k):
    if not x.dtype.startswith("complex"):
        return pt.sign(x)
    r = pt.abs(x)  # NumPy's sign of a complex number: z / |z|
    zero = pt.eq(r, k(0))
    return pt.switch(zero, k(0), x / pt.switch(zero, k(1), r))


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
    "_sign": _sign,
    "_INF": math.inf,
    "_NAN": math.nan,
}
SPELLING = Spelling("pytensor", "pt", PYTENSOR, _NAMESPACE)
#: Constants folded, untaken branches masked (PyTensor differentiates the graph it runs).
PIPELINE = pipeline(SPELLING, mask=True)


def graph_builder(graph: Graph) -> tuple[Any, str]:
    """A Python function ``(a0, a1, ..., _k) -> [output variables]`` and its source.

    ``_k(value)`` makes a literal; the caller chooses its dtype.
    """
    graph = PIPELINE(graph)
    n_in = len(graph.inputs)
    emitted = emit(
        graph,
        SPELLING,
        name="_graph",
        signature=[*(f"a{k}" for k in range(n_in)), "_k"],
        const=_const,
        returns=lambda outs: "[" + ", ".join(outs) + "]",
    )
    return compile_source(emitted, "pytensor"), emitted.source


def literal_maker(dtype: str):
    """``_k`` for `graph_builder`'s functions: literals in ``dtype``."""

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
            outs = self.build(*ins, literal_maker(compute_dtype(ins)))
            outs = [pt.as_tensor_variable(o) for o in outs]
            fn = self.functions[key] = pytensor.function(ins, outs, on_unused_input="ignore")
        results = fn(*arrays)
        return [r if r.shape == shape else np.broadcast_to(r, shape).copy() for r in results]


def build(graph: Graph, arg_tree: tuple, out_tree: tuple, options: dict) -> Built:
    """A function of ``arg_tree``'s structure that runs ``pytensor.function`` (`Built.kernel`:
    the compiled functions, one per input signature); its source is the graph builder's."""
    compiled = _Compiled(graph)
    frame = entry_frame(graph, arg_tree, out_tree, broadcast=False)  # _Compiled broadcasts
    flat = "".join(f"a{k}, " for k in range(compiled.n_in))
    lines = [
        f"def _f({', '.join(frame.params)}):",
        *(f"    {u}" for u in frame.unpack),
        f"    _o = _run({flat})",
        f"    return {frame.returns([f'_scalar(_o[{k}])' for k in range(len(graph.outputs))])}",
    ]
    source = "\n".join(lines) + "\n"
    namespace = {"_run": compiled, "_array": array_of(np.array, np.zeros), "_scalar": _scalar}
    fn = compile_source(Emitted(source, namespace, "_f"), "pytensor")
    return Built(fn, compiled.source + "\n" + source, kernel=compiled)


def _scalar(a):
    return a[()] if a.ndim == 0 else a


__all__ = ["build", "compute_dtype", "graph_builder", "literal_maker"]
