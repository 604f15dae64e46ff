"""Linear blocks: many sums of constant multiples of the same values, as one matrix product.

A Hessian or Jacobian of a model fitted to data is full of sums like
``H[j, k] = sum_i (X[i, j] * X[i, k]) * d_i``: dozens of outputs, each a weighted sum of
the same few values with different constant weights. Straight-line code spends a multiply
and an add on every term, one at a time. Gathered, they are ``H = C @ d + b`` with a
constant matrix ``C``, which a C compiler runs as vector instructions, several rows at once.

`linear_blocks` finds them: a *row* is the tree of ``add``/``sub``/``neg`` and
multiplications by literals under one sum (only through nodes used once, so no work is
duplicated), written as ``b + sum_k c_k * base_k``, with the literal factors of a base
multiplied out (also through a shared ``literal * base``); rows over the same set of bases
form a *block*. The graph it returns computes each block with one ``matvec`` node and
reads its rows with ``mvrow`` nodes. A row sums its terms in order, from ``b``: the same
value as the graph's up to rounding (the literal factors are multiplied first). Only scalar
code uses it: the C backend's one-point body and the NumPy backend's ``math`` variant.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

from .._core.constants import const_value
from .._core.graph import Graph
from .._core.rewrite import rewrite
from .._core.terms import SUM, terms
from .._core.tuning import LINEAR_MIN_ROWS, LINEAR_MIN_TERMS


@dataclass(frozen=True)
class Block:
    """``len(roots)`` values ``offsets[r] + sum_k coefficients[k][r] * bases[k]`` (column-major).

    A ``matvec`` node's attr (its arguments are the bases' nodes); a ``mvrow`` node's attr is
    ``(block, r)``.
    """

    bases: tuple[int, ...]  # node indices in the original graph
    coefficients: tuple[tuple[float, ...], ...]  # [base][row]
    offsets: tuple[float, ...]
    roots: tuple[int, ...]  # the original node each row replaces


def _number(graph: Graph, i: int) -> float | None:
    """The finite real value of a literal node (None for anything else)."""
    n = graph.nodes[i]
    if n.op != "const" or type(n.attr) is bool:
        return None
    value = const_value(n.attr)
    if type(value) not in (int, float):
        return None
    try:
        value = float(value)
    except OverflowError:
        return None
    return value if math.isfinite(value) else None


def _scaled(graph: Graph, i: int) -> tuple[float, int] | None:
    """``(c, x)`` when node ``i`` is ``c * x`` with ``c`` a literal."""
    n = graph.nodes[i]
    if n.op != "mul":
        return None
    for k in (0, 1):
        c = _number(graph, n.args[k])
        if c is not None and _number(graph, n.args[1 - k]) is None:
            return c, n.args[1 - k]
    return None


def linear_form(
    graph: Graph,
    root: int,
    scaled: list,
    through: Callable[[int], bool],
    leaf: Callable[[int, float], tuple[int, float]] | None = None,
) -> tuple[float, dict[int, float]]:
    """``(offset, {base: coefficient})`` of the sum at ``root``.

    The walk (`sympile._core.terms`) goes through ``root`` and the nodes ``through`` accepts
    when they are ``add``, ``sub``, ``neg`` or a literal multiple; literals go into the offset,
    anything else is a base (``leaf`` may map it and its coefficient to another).
    """
    offset, found = 0.0, {}
    for i, c in terms(graph.nodes, root, SUM, into=through, scaled=scaled.__getitem__, sign=1.0):
        value = _number(graph, i)
        if value is not None:
            offset += c * value
            continue
        if leaf is not None:
            i, c = leaf(i, c)
        found[i] = found.get(i, 0.0) + c
    return offset, found


def scaled_nodes(graph: Graph) -> list[tuple[float, int] | None]:
    """For each node, ``(c, x)`` when it is ``c * x`` with ``c`` a literal, else None."""
    return [_scaled(graph, i) for i in range(len(graph.nodes))]


def linear_rows(graph: Graph, min_terms: int = LINEAR_MIN_TERMS) -> dict[int, tuple[float, dict[int, float]]]:
    """Each sum root -> ``(offset, {base: coefficient})``, for roots with ``min_terms`` terms."""
    nodes = graph.nodes
    uses = graph.use_counts()
    outputs = set(graph.outputs)
    user = graph.users()

    scaled = scaled_nodes(graph)  # once per node, not per visit

    def linear(i: int) -> bool:
        return nodes[i].op in ("add", "sub", "neg") or scaled[i] is not None

    def interior(i: int) -> bool:
        return uses[i] == 1 and i not in outputs and linear(i) and linear(user[i])

    # ``b - a`` is ``-(a - b)``: both spellings of one difference count as one base
    differences = {n.args: i for i, n in enumerate(nodes) if n.op == "sub"}

    def leaf(i: int, c: float) -> tuple[int, float]:
        while scaled[i] is not None:  # the literal factors of a shared ``c * x``
            k, i = scaled[i]
            c *= k
        if nodes[i].op == "sub":
            j = differences.get(nodes[i].args[::-1], i)
            if j < i:
                c, i = -c, j
        return i, c

    rows = {}
    for root, n in enumerate(nodes):
        if n.op not in ("add", "sub") or interior(root):
            continue
        offset, found = linear_form(graph, root, scaled, interior, leaf)
        if len(found) >= min_terms and math.isfinite(offset) and all(math.isfinite(v) for v in found.values()):
            rows[root] = (offset, found)
    return rows


def linear_blocks(graph: Graph, min_coefficients: int = 0) -> Graph:
    """The graph with its linear blocks as ``matvec``/``mvrow`` nodes (the graph itself if none).

    A block needs ``min_coefficients`` coefficients (rows times bases) to be made.
    """
    rows = linear_rows(graph)
    groups: dict[tuple[int, ...], list[int]] = {}
    for root, (_, found) in rows.items():
        groups.setdefault(tuple(sorted(found)), []).append(root)
    users: dict[int, list[int]] = {}
    for i, n in enumerate(graph.nodes):
        for a in n.args:
            users.setdefault(a, []).append(i)
    at: dict[int, list[Block]] = {}  # node index -> the blocks placed right after it
    for bases, roots in groups.items():
        if len(roots) < LINEAR_MIN_ROWS or len(roots) * len(bases) < min_coefficients:
            continue
        if not set(bases).isdisjoint(roots):
            continue
        place = max(bases)
        # every row must be needed only after all the bases exist (else the rows feed the block)
        if any(u <= place for r in roots for u in users.get(r, ())):
            continue
        block = Block(
            bases,
            tuple(tuple(rows[r][1][b] for r in roots) for b in bases),
            tuple(rows[r][0] for r in roots),
            tuple(roots),
        )
        at.setdefault(place, []).append(block)
    if not at:
        return graph
    rows_at: dict[int, int] = {}  # a replaced root -> its mvrow node

    def rule(b, i, n, args):
        if i in rows_at:
            return rows_at[i]
        if i not in at:
            return None
        v = b.node(n.op, tuple(args), n.attr)
        for block in at[i]:  # the blocks whose last base this is
            mv = b.node("matvec", tuple(v if a == i else b.value(a) for a in block.bases), block)
            for r, root in enumerate(block.roots):
                rows_at[root] = b.node("mvrow", (mv,), (block, r))
        return v

    return rewrite(graph, rule, simplify=False)


def blocks_of(graph: Graph) -> list[Block]:
    """The linear blocks of a graph made by `linear_blocks`, in the order of their nodes."""
    return [n.attr for n in graph.nodes if n.op == "matvec"]
