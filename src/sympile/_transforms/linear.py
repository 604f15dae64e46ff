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

from .._core.graph import Graph, Node
from .._core.ops import const_value

#: A row needs this many terms, and a block this many rows, to be worth a matrix.
MIN_TERMS = 4
MIN_ROWS = 4
#: Part of the C kernels' cache key: change it when what this module finds changes.
LAYOUT = ("linear blocks", 1, MIN_TERMS, MIN_ROWS)


@dataclass
class Block:
    """``rows`` values ``offsets[r] + sum_k coefficients[k][r] * bases[k]`` (column-major)."""

    bases: list[int]  # node indices in the original graph
    coefficients: list[list[float]]  # [base][row]
    offsets: list[float]
    roots: list[int]  # the original node each row replaces


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


def _linear_form(
    graph: Graph,
    root: int,
    scaled: list,
    through: Callable[[int], bool],
    leaf: Callable[[int, float], tuple[int, float]] | None = None,
) -> tuple[float, dict[int, float]]:
    """``(offset, {base: coefficient})`` of the sum at ``root``.

    The walk goes through ``root`` and the nodes ``through`` accepts when they are ``add``,
    ``sub``, ``neg`` or a literal multiple; literals go into the offset, anything else is a
    base (``leaf`` may map it and its coefficient to another).
    """
    nodes = graph.nodes
    offset, terms = 0.0, {}
    stack = [(root, 1.0)]
    while stack:
        i, c = stack.pop()
        value = _number(graph, i)
        if value is not None:
            offset += c * value
            continue
        m = nodes[i]
        if i == root or through(i):
            if m.op == "add":
                stack += [(m.args[0], c), (m.args[1], c)]
                continue
            if m.op == "sub":
                stack += [(m.args[0], c), (m.args[1], -c)]
                continue
            if m.op == "neg":
                stack.append((m.args[0], -c))
                continue
            if scaled[i] is not None:
                k, x = scaled[i]
                stack.append((x, c * k))
                continue
        if leaf is not None:
            i, c = leaf(i, c)
        terms[i] = terms.get(i, 0.0) + c
    return offset, terms


def _rows(graph: Graph, min_terms: int = MIN_TERMS) -> dict[int, tuple[float, dict[int, float]]]:
    """Each sum root -> ``(offset, {base: coefficient})``, for roots with ``min_terms`` terms."""
    nodes = graph.nodes
    uses = graph.use_counts()
    outputs = set(graph.outputs)
    user: dict[int, int] = {}
    for i, n in enumerate(nodes):
        for a in n.args:
            user[a] = i

    scaled = [_scaled(graph, i) for i in range(len(nodes))]  # once per node, not per visit

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
        offset, terms = _linear_form(graph, root, scaled, interior, leaf)
        if len(terms) >= min_terms and math.isfinite(offset) and all(math.isfinite(v) for v in terms.values()):
            rows[root] = (offset, terms)
    return rows


def linear_blocks(graph: Graph) -> tuple[Graph, list[Block]]:
    """The graph with its linear blocks as ``matvec``/``mvrow`` nodes, and the blocks.

    ``matvec`` (attr: the block's index) takes the block's bases; ``mvrow`` (attr:
    ``(block, row)``) takes the ``matvec`` node. Returns the graph unchanged and no blocks
    when there are none worth it.
    """
    rows = _rows(graph)
    groups: dict[tuple[int, ...], list[int]] = {}
    for root, (_, terms) in rows.items():
        groups.setdefault(tuple(sorted(terms)), []).append(root)
    users: dict[int, list[int]] = {}
    for i, n in enumerate(graph.nodes):
        for a in n.args:
            users.setdefault(a, []).append(i)
    blocks: list[Block] = []
    at: dict[int, list[int]] = {}  # node index -> blocks placed right after it
    for bases, roots in groups.items():
        if len(roots) < MIN_ROWS or not set(bases).isdisjoint(roots):
            continue
        place = max(bases)
        # every row must be needed only after all the bases exist (else the rows feed the block)
        if any(u <= place for r in roots for u in users.get(r, ())):
            continue
        at.setdefault(place, []).append(len(blocks))
        blocks.append(
            Block(
                list(bases),
                [[rows[r][1][b] for r in roots] for b in bases],
                [rows[r][0] for r in roots],
                roots,
            )
        )
    if not blocks:
        return graph, []
    new: list[Node] = []
    where: dict[int, int] = {}
    replaced = {r for b in blocks for r in b.roots}
    for i, n in enumerate(graph.nodes):
        if i not in replaced:
            where[i] = len(new)
            new.append(Node(n.op, tuple(where[a] for a in n.args), n.attr))
        for k in at.get(i, ()):
            block = blocks[k]
            mv = len(new)
            new.append(Node("matvec", tuple(where[a] for a in block.bases), k))
            for r, root in enumerate(block.roots):
                where[root] = len(new)
                new.append(Node("mvrow", (mv,), (k, r)))
    out = Graph(new, [where[o] for o in graph.outputs], graph.inputs, graph.params, graph.buffers)
    return out, blocks


# -- map blocks: many applications of one function to linear forms, summed --------------

#: Unary ops whose NumPy ufunc and ``math`` function agree on every real number (no
#: domain error that the ``math`` variant would hand to the NumPy path), by ufunc name.
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
#: A map block needs this many terms to beat straight-line scalar code: about 55 ns a term
#: there, against about 2 us for the few array calls (CPython 3.11, NumPy 2).
MAP_MIN = 48
#: ... and its linear forms at most this many bases (a small dense matrix).
MAP_MAX_BASES = 8


@dataclass
class MapBlock:
    """``sum_t weights[t] * op(offsets[t] + sum_k coefficients[k][t] * bases[k])``."""

    op: str
    bases: list[int]  # node indices in the original graph
    coefficients: list[list[float]]  # [base][term]
    offsets: list[float]
    weights: list[float]


def map_blocks(graph: Graph) -> tuple[Graph, list[MapBlock]]:
    """The graph with its map blocks as ``mapsum`` nodes (attr: the block's index), and the blocks.

    A map block is a sum's terms ``w_t * f(b_t + c_t . x)``: one unary function `MAP_OPS`
    of linear forms over a few shared bases ``x``, each application used only by that sum
    (``sum_i a_i*sin(b_i*x + c_i)``, a layer of a small network, a Fourier series). Scalar
    code spends a call and four arithmetic operations on each term; as arrays it is one
    matrix product, one ufunc call and one dot product. The sum's other terms are kept,
    with their literal factors multiplied out. Returns the graph unchanged and no blocks
    when there are none worth it.
    """
    nodes = graph.nodes
    if sum(1 for n in nodes if n.op in MAP_OPS) < MAP_MIN:  # the common case, found cheaply
        return graph, []
    rows = _rows(graph, MAP_MIN)
    if not rows:
        return graph, []
    uses = graph.use_counts()
    outputs = set(graph.outputs)
    user: dict[int, int] = {}
    for i, n in enumerate(nodes):
        for a in n.args:
            user[a] = i
    scaled = [_scaled(graph, i) for i in range(len(nodes))]
    blocks: list[MapBlock] = []
    replaced: dict[int, tuple[float, dict[int, float], list[int]]] = {}
    for root, (offset, terms) in rows.items():
        groups: dict[str, list[int]] = {}
        for base in terms:
            n = nodes[base]
            mine = uses[base] == 1 and base not in outputs and (user[base] == root or uses[user[base]] == 1)
            if n.op in MAP_OPS and mine:
                groups.setdefault(n.op, []).append(base)
        found, taken = [], set()
        for op, members in groups.items():
            if len(members) < MAP_MIN:
                continue
            inner = [_linear_form(graph, nodes[g].args[0], scaled, lambda i: uses[i] == 1) for g in members]
            bases = sorted({b for _, t in inner for b in t})
            numbers = [v for o, t in inner for v in (o, *t.values())]
            if not bases or len(bases) > MAP_MAX_BASES or not all(math.isfinite(v) for v in numbers):
                continue
            found.append(len(blocks))
            taken.update(members)
            blocks.append(
                MapBlock(
                    op,
                    bases,
                    [[t.get(b, 0.0) for _, t in inner] for b in bases],
                    [o for o, _ in inner],
                    [terms[g] for g in members],
                )
            )
        if found:
            replaced[root] = (offset, {b: c for b, c in terms.items() if b not in taken}, found)
    if not blocks:
        return graph, []
    new: list[Node] = []
    where: dict[int, int] = {}

    def add(node: Node) -> int:
        new.append(node)
        return len(new) - 1

    for i, n in enumerate(nodes):
        if i not in replaced:
            where[i] = add(Node(n.op, tuple(where[a] for a in n.args), n.attr))
            continue
        offset, rest, found = replaced[i]
        parts = [add(Node("mapsum", tuple(where[b] for b in blocks[k].bases), k)) for k in found]
        for b, c in rest.items():
            parts.append(add(Node("mul", (where[b], add(Node("const", (), c))))))
        if offset:
            parts.append(add(Node("const", (), offset)))
        acc = parts[0]
        for p in parts[1:]:
            acc = add(Node("add", (acc, p)))
        where[i] = acc
    out = Graph(new, [where[o] for o in graph.outputs], graph.inputs, graph.params, graph.buffers)
    return out.pruned(), blocks
