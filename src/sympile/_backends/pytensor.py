"""The PyTensor backend: a spelling table over ``pytensor.tensor``, and its wrapper.

The graph is emitted as a Python function that, given PyTensor variables for the inputs,
builds the outputs' PyTensor graph (``Piecewise`` becomes ``pt.switch``).
`sympile.pytensor.to_pytensor` returns those variables, for use inside a bigger graph (a PyMC
model, say); the ``lambdify`` backend compiles them with ``pytensor.function``, once per
combination of input dtypes and broadcast patterns, on first call.

PyTensor differentiates the graph it runs (``pytensor.grad``), so untaken branches are
masked first (`mask_branches`, the double-where pattern) and their gradients stay finite.
Literals are made in the computation's dtype, so float32 inputs stay float32.

``lambdify`` compiles so that its values are the NumPy backend's (`compile_mode`): without
PyTensor's algebraic rewrites, which hold for real numbers but not for floats at 0, ±inf, NaN
or past overflow (``exp(log(x)) -> x``, ``sign(1/x) -> sign(x)``, ``0*x -> 0``), and without
Numba's fast-math flags, under which LLVM folds ``exp(log(x))`` to ``x`` by itself. PyTensor's
own passes recurse on the depth of the graph, so they run under a recursion limit raised for
that depth (`deep_enough`).
"""

from __future__ import annotations

import math
import sys
from contextlib import contextmanager
from typing import Any

import numpy as np
import pytensor
import pytensor.tensor as pt
from pytensor.graph.traversal import io_toposort

from .._core.constants import const_value
from .._core.errors import SympileError
from .._core.graph import Graph
from .._emit.emit import Emitted, Spelling, compile_source, emit
from .._emit.pipeline import pipeline
from .._emit.tables import ARRAY
from .._emit.wrapper import Built, Inputs, array_of, entry_frame
from .special_functions import reflected_polygamma

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
    "polygamma": "_polygamma({a}, {0})",
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
    "_polygamma": reflected_polygamma(pt.polygamma, pt),
    "_sign": _sign,
    "_INF": math.inf,
    "_NAN": math.nan,
}
SPELLING = Spelling("pytensor", "pt", PYTENSOR, _NAMESPACE)
#: The functions PyTensor computes for real arguments only (`RealOnly`), beyond those real-only
#: everywhere.
REAL_ONLY = frozenset({"erfc"})
#: Constants folded, untaken branches masked (PyTensor differentiates the graph it runs).
PIPELINE = pipeline(SPELLING, mask=True, real_only=REAL_ONLY)


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
            return pt.constant(np.bool_(value))  # pt.constant(False) would be an int8
        if type(value) is complex:
            return pt.constant(np.asarray(value, np.result_type(dtype, np.complex64)))
        return pt.constant(np.asarray(value, dtype))

    return k


def tensor(name: str, dtype: str, shape: tuple) -> Any:
    """A PyTensor input variable named ``name``.

    ``pt.tensor(name=...)`` refuses names that NumPy reads as a dtype (``a10``, ``float64``,
    ``int8``), taking them for the dtype passed by position; the type's call takes any name.
    """
    return pt.TensorType(dtype=dtype, shape=shape)(name=name)


def compute_dtype(variables) -> str:
    """The float dtype literals take beside these variables: their float upcast, else floatX."""
    floats = [v.dtype for v in variables if v.dtype.startswith(("float", "complex"))]
    if not floats:
        return pytensor.config.floatX
    dt = np.result_type(*floats)
    return str(np.empty(0, dt).real.dtype)


# -- lambdify(..., backend="pytensor") ------------------------------------------------------------

#: PyTensor's rewrite databases that change values: algebraic identities of the reals that
#: floats break at 0, ±inf, NaN, subnormals and overflow (canonicalize: ``0*x -> 0``,
#: ``x*y/y -> x``, ``sign(1/x) -> sign(x)``, ``exp(log(x)) -> x``; stabilize and specialize:
#: ``log(1+exp(x)) -> softplus(x)``, ``sqrt(x*x) -> |x|``; add_mul_fusion: balanced sums
#: flattened into one left-to-right sum). sympile has already shared, simplified and folded
#: the graph exactly, so ``lambdify`` compiles without them; merging, fusion of elementwise
#: loops and in-place updates stay.
VALUE_CHANGING_REWRITES = ("canonicalize", "stabilize", "specialize", "uncanonicalize", "add_mul_fusion")

#: Python frames PyTensor's recursive passes (graph cloning, above all) take per level of graph
#: depth, with room to spare, and above the depth, for the caller and PyTensor's own calls.
FRAMES_PER_LEVEL = 4
FRAMES_BASE = 2_000
#: The deepest graph compiled (5,000 levels are tested by hand, and take PyTensor and Numba minutes).
MAX_DEPTH = 10_000


class GraphTooDeepError(SympileError, RecursionError):
    """A graph deeper than the PyTensor backend compiles."""


def compile_mode() -> Any:
    """PyTensor's default mode without the rewrites that change values (`VALUE_CHANGING_REWRITES`)."""
    return pytensor.compile.mode.get_default_mode().excluding(*VALUE_CHANGING_REWRITES)


def depth(outputs) -> int:
    """The longest path from an input to one of ``outputs`` (PyTensor variables), walked iteratively."""
    levels: dict = {}
    for node in io_toposort([], list(outputs)):
        level = 1 + max((levels.get(v, 0) for v in node.inputs), default=0)
        for v in node.outputs:
            levels[v] = level
    return max((levels.get(v, 0) for v in outputs), default=0)


@contextmanager
def deep_enough(outputs):
    """Python's recursion limit raised, for this block, to what PyTensor needs for ``outputs``.

    Raises `SympileError` (a ``RecursionError``) for graphs deeper than `MAX_DEPTH`.
    """
    levels = depth(outputs)
    if levels > MAX_DEPTH:
        raise GraphTooDeepError(
            f"this graph is {levels} operations deep and PyTensor's compiler recurses on depth; "
            f"the pytensor backend compiles graphs up to {MAX_DEPTH} deep: use backend='numpy' or 'c', "
            "which do not recurse"
        )
    old = sys.getrecursionlimit()
    sys.setrecursionlimit(max(old, FRAMES_BASE + FRAMES_PER_LEVEL * levels))
    try:
        yield
    finally:
        sys.setrecursionlimit(old)


#: What a PyTensor function takes as an input (`Inputs`): NumPy arrays in native byte order, as
#: PyTensor's types need.
INPUTS = Inputs(native=True)


class _Compiled:
    """The graph compiled by ``pytensor.function``, once per input signature (dtypes, broadcasting)."""

    def __init__(self, graph: Graph):
        self.build, self.source = graph_builder(graph)
        self.n_in = len(graph.inputs)
        self.functions: dict[tuple, Any] = {}
        self.real = PIPELINE.real_inputs(graph)

    def __call__(self, *args):
        arrays = [np.asarray(a) for a in INPUTS.convert(args)]
        if self.real is not None:
            self.real.check(arrays)
        arrays = [a.astype(np.float64) if a.dtype.kind in "biu" else a for a in arrays]
        shape = np.broadcast_shapes(*(a.shape for a in arrays)) if arrays else ()
        key = tuple((a.dtype.str, tuple(d == 1 for d in a.shape)) for a in arrays)
        fn = self.functions.get(key)
        if fn is None:
            ins = [
                tensor(f"a{k}", str(a.dtype), tuple(1 if d == 1 else None for d in a.shape))
                for k, a in enumerate(arrays)
            ]
            outs = self.build(*ins, literal_maker(compute_dtype(ins)))
            outs = [pt.as_tensor_variable(o) for o in outs]
            # Numba compiles the function on its first call: it runs under the same flags and limit.
            with deep_enough(outs), pytensor.config.change_flags(numba__fastmath=False):
                fn = pytensor.function(ins, outs, on_unused_input="ignore", mode=compile_mode())
                results = fn(*arrays)
            self.functions[key] = fn
        else:
            results = fn(*arrays)
        return [r if r.shape == shape else np.broadcast_to(r, shape).copy() for r in results]


def build(graph: Graph, arg_tree: tuple, out_tree: tuple, options: dict) -> Built:
    """A function of ``arg_tree``'s structure that runs ``pytensor.function`` (`Built.kernel`:
    the compiled functions, one per input signature); its source is the graph builder's."""
    compiled = _Compiled(graph)
    frame = entry_frame(graph, arg_tree, out_tree, broadcast=False)  # _Compiled broadcasts
    flat = "".join(f"a{k}, " for k in range(compiled.n_in))
    lines = [
        f"def _f({', '.join([*frame.params, '/'] if frame.params else [])}):",
        *(f"    {u}" for u in frame.unpack),
        f"    _o = _run({flat})",
        f"    return {frame.returns([f'_scalar(_o[{k}])' for k in range(len(graph.outputs))])}",
    ]
    source = "\n".join(lines) + "\n"
    namespace = {"_run": compiled, "_array": array_of(np.array, np.zeros), "_scalar": _scalar}
    fn = compile_source(Emitted(source, namespace, "_f"), "pytensor")
    return Built(fn, compiled.source + "\n" + source, kernel=compiled, inputs=INPUTS)


def _scalar(a):
    return a[()] if a.ndim == 0 else a


__all__ = [
    "GraphTooDeepError",
    "build",
    "compile_mode",
    "compute_dtype",
    "deep_enough",
    "graph_builder",
    "literal_maker",
    "tensor",
]
