"""Map blocks: a long sum of unary functions of linear forms, as a few array operations.

A one-layer network, a Fourier series, an RBF-like expansion or a sum of exponentials are
sums of terms ``w_t * f_t(b_t + c_t . x)``: elementary functions of linear forms over a few
shared values ``x``. Scalar code spends a function call and several arithmetic operations on
each term; as arrays, the whole sum is one matrix product ``u = C x + b``, one ufunc call per
function on its slice of ``u``, and one dot product ``w . u`` — a fixed handful of calls for
any number of terms. `map_blocks` finds such sums and replaces their function terms with one
``mapsum`` node (emission-only; its attr is the `MapBlock`) whose arguments are the bases ``x``.

Only the NumPy backend's scalar (``math``) variant uses it: there a NumPy call costs about as
much as a dozen scalar terms (`TERMS_PER_NUMPY_CALL`), so a block is made when its terms
outnumber what its calls cost. The functions are those whose NumPy ufunc and ``math``
function agree on every real number, so no domain error that the scalar path would hand to
the array path is hidden in a block.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from .._core.graph import Graph
from .._core.rewrite import replace
from .._core.tuning import MAP_CALLS, MAP_MAX_BASES, TERMS_PER_NUMPY_CALL
from .linear import linear_form, linear_rows, scaled_nodes

#: Unary ops whose NumPy ufunc and ``math`` function agree on every real number, by ufunc name.
MAP_OPS = {
    "exp": "exp",
    "sin": "sin",
    "cos": "cos",
    "tan": "tan",
    "tanh": "tanh",
    "sinh": "sinh",
    "cosh": "cosh",
    "atan": "arctan",
}


def min_terms(functions: int) -> int:
    """How many terms a block of that many different functions needs to pay."""
    return TERMS_PER_NUMPY_CALL * (MAP_CALLS + functions)


@dataclass(frozen=True)
class MapBlock:
    """``sum_t weights[t] * f_t(offsets[t] + sum_k coefficients[k][t] * bases[k])``, where
    ``f_t`` is the op of the segment ``(op, start, stop)`` holding ``t``. A ``mapsum`` node's
    attr (its arguments are the bases' nodes)."""

    segments: tuple[tuple[str, int, int], ...]
    bases: tuple[int, ...]  # node indices in the original graph
    coefficients: tuple[tuple[float, ...], ...]  # [base][term]
    offsets: tuple[float, ...]
    weights: tuple[float, ...]


def map_blocks(graph: Graph) -> Graph:
    """The graph with its map blocks as ``mapsum`` nodes (the graph itself if none).

    The sum's other terms are kept, with their literal factors multiplied out.
    """
    nodes = graph.nodes
    if sum(1 for n in nodes if n.op in MAP_OPS) < min_terms(1):  # the common case, found cheaply
        return graph
    rows = linear_rows(graph, min_terms(1))
    if not rows:
        return graph
    uses = graph.use_counts()
    outputs = set(graph.outputs)
    user = graph.users()
    scaled = scaled_nodes(graph)
    replaced: dict[int, tuple[float, dict[int, float], MapBlock]] = {}
    for root, (offset, terms) in rows.items():
        members = sorted(  # the applications only this sum uses, grouped by function
            (
                base
                for base in terms
                if nodes[base].op in MAP_OPS
                and uses[base] == 1
                and base not in outputs
                and (user[base] == root or uses[user[base]] == 1)
            ),
            key=lambda base: (nodes[base].op, base),
        )
        functions = sorted({nodes[m].op for m in members})
        if len(members) < min_terms(len(functions)):
            continue
        inner = [linear_form(graph, nodes[m].args[0], scaled, lambda i: uses[i] == 1) for m in members]
        bases = sorted({b for _, t in inner for b in t})
        numbers = [v for o, t in inner for v in (o, *t.values())]
        if not bases or len(bases) > MAP_MAX_BASES or not all(math.isfinite(v) for v in numbers):
            continue
        segments = []
        for f in functions:
            at = [t for t, m in enumerate(members) if nodes[m].op == f]
            segments.append((f, at[0], at[-1] + 1))
        block = MapBlock(
            tuple(segments),
            tuple(bases),
            tuple(tuple(t.get(b, 0.0) for _, t in inner) for b in bases),
            tuple(o for o, _ in inner),
            tuple(terms[m] for m in members),
        )
        taken = set(members)
        replaced[root] = (offset, {b: c for b, c in terms.items() if b not in taken}, block)

    def make(b, planned, args):
        offset, rest, block = planned
        parts = [b.node("mapsum", tuple(b.value(x) for x in block.bases), block)]
        parts += [b.node("mul", (b.value(x), b.const(c))) for x, c in rest.items()]
        if offset:
            parts.append(b.const(offset))
        acc = parts[0]
        for p in parts[1:]:
            acc = b.node("add", (acc, p))
        return acc

    return replace(graph, replaced, make)
