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
from dataclasses import dataclass

from ._graph import Graph, Node
from ._ops import const_value

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


def _rows(graph: Graph) -> dict[int, tuple[float, dict[int, float]]]:
    """Each sum root -> ``(offset, {base: coefficient})``, for roots with enough terms."""
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

    rows = {}
    for root, n in enumerate(nodes):
        if n.op not in ("add", "sub") or interior(root):
            continue
        offset, terms = 0.0, {}
        stack = [(root, 1.0)]
        while stack:
            i, c = stack.pop()
            value = _number(graph, i)
            if value is not None:
                offset += c * value
                continue
            if i == root or interior(i):
                m = nodes[i]
                if m.op == "add":
                    stack += [(m.args[0], c), (m.args[1], c)]
                elif m.op == "sub":
                    stack += [(m.args[0], c), (m.args[1], -c)]
                elif m.op == "neg":
                    stack.append((m.args[0], -c))
                else:
                    k, x = scaled[i]
                    stack.append((x, c * k))
                continue
            while scaled[i] is not None:  # the literal factors of a shared ``c * x``
                k, i = scaled[i]
                c *= k
            if nodes[i].op == "sub":
                j = differences.get(nodes[i].args[::-1], i)
                if j < i:
                    c, i = -c, j
            terms[i] = terms.get(i, 0.0) + c
        if len(terms) >= MIN_TERMS and math.isfinite(offset) and all(math.isfinite(v) for v in terms.values()):
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
