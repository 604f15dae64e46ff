"""Batching: isomorphic sibling subgraphs -> one vector op per level.

Eager array libraries pay a fixed cost per operation (launching a kernel, recording it for
autograd), so ``sum(a_i*sin(b_i*x + c_i) for i in range(50))`` written out costs some 250 launches. Its 50
terms have the same ops over the same input and differ only in their parameters; batched,
they are ``a @ sin(b * x[..., None] + c)`` with ``a``, ``b``, ``c`` vectors: five launches.

`batch_siblings` finds the terms of each n-ary sum, product, ``min`` or ``max`` (a tree of
single-use ``add``/``sub``/``neg``, ``mul``, ``min`` or ``max`` nodes), groups the terms that
are *isomorphic* (the same ops and attrs over the same nodes, differing only in parameters,
buffers and literals), and rebuilds each group of at least ``min_size`` terms as one
batched subgraph whose values have a trailing axis of size k, reduced by one op. Positions
where every term has the same node stay unbatched (and get a trailing unit axis, `lift`, if
they depend on an input); positions where the terms differ must be parameters, buffers or
literals, and become vector leaves.

The batched ops are emission-only ops of the table (`OpSpec.emission`): graph AD, constant
folding, branch masking and raising run on the unbatched graph, before batching, and never
see them. Their array-generic spellings are in the shared array table
(`sympile._emit.tables`); each backend spells the vector leaves itself (a slice of its packed
parameters, a literal array).
"""

from __future__ import annotations

from .._core.graph import Graph
from .._core.ops import OPS
from .._core.rewrite import Rewriter, memoized, rewrite
from .._core.terms import SUM, terms

VECTOR_LEAVES = frozenset({"vparam", "vbuffer", "vconst"})

_FAMILY = {"add": "sum", "sub": "sum", "neg": "sum", "mul": "prod", "min": "min", "max": "max"}
#: Each family's ops, with the sign of each argument (`sympile._core.terms`).
_TERMS = {"sum": SUM, "prod": {"mul": (1, 1)}, "min": {"min": (1, 1)}, "max": {"max": (1, 1)}}
_REDUCE = {"sum": "vsum", "prod": "vprod", "min": "vmin", "max": "vmax"}
_BINARY = {"sum": "add", "prod": "mul", "min": "min", "max": "max"}
_SLOTTED = {"param": "vparam", "buffer": "vbuffer", "const": "vconst"}

#: Groups smaller than this stay as they are.
MIN_SIZE = 3


def structure_keys(graph: Graph) -> list[int]:
    """For each node, an int that is equal for two nodes exactly when they are isomorphic.

    Isomorphic: the same ops and attrs over the same inputs and input-only nodes, differing
    at most in which parameter, buffer or (non-boolean) literal sits at each leaf. Arguments
    of commutative ops are compared as multisets.
    """
    keys: list[int] = []
    interned: dict[tuple, int] = {}
    for i, n in enumerate(graph.nodes):
        op = n.op
        if op in ("param", "buffer") or (op == "const" and type(n.attr) is not bool):
            k: tuple = (op,)
        elif not n.args or op == "call":  # inputs, booleans, user functions: only themselves
            k = ("node", i)
        else:
            args = [keys[a] for a in n.args]
            if OPS[op].commutative:
                args.sort()
            k = (op, type(n.attr), n.attr, *args)
        keys.append(interned.setdefault(k, len(interned)))
    return keys


def batch_siblings(graph: Graph, min_size: int = MIN_SIZE) -> Graph:
    """The same function with each group of isomorphic sibling terms computed as one vector op.

    Returns ``graph`` itself when nothing is batched. The result is for emission only (see
    the module docstring); keep the original graph for raising and differentiation.

    Example:
        >>> import sympy as sp
        >>> from sympile import lower
        >>> x = sp.Symbol("x")
        >>> g = lower([sum(sp.Float(i + 1) * sp.sin(sp.Float(i + 2) * x) for i in range(4))], [x], floats="params")
        >>> [n.op for n in batch_siblings(g).nodes]
        ['input', 'vparam', 'lift', 'mul', 'sin', 'vparam', 'vdot']
    """
    nodes = graph.nodes
    uses = graph.use_counts()
    user = graph.users()  # the one user of a node used once
    for o in graph.outputs:
        user[o] = -1
    family = [_FAMILY.get(n.op) for n in nodes]
    absorbed = [
        family[i] is not None and uses[i] == 1 and user[i] >= 0 and family[user[i]] == family[i]
        for i in range(len(nodes))
    ]
    keys = structure_keys(graph)
    deps = graph.input_dependence()
    batched = []

    # A simplification must not turn a vector into a scalar (``0 * v``): nodes are made as asked.
    def rule(b, i, n, args):
        if family[i] is None or absorbed[i]:
            return None
        fam = family[i]
        members = terms(nodes, i, _TERMS[fam], into=lambda j: family[j] == fam and uses[j] == 1)
        built = _batch_cluster(members, fam, nodes, keys, deps, b, min_size)
        if built is not None:
            batched.append(i)
        return built

    out = rewrite(graph, rule, simplify=False)
    return out if batched else graph


def _batch_cluster(terms, fam, nodes, keys, deps, out: Rewriter, min_size) -> int | None:
    if len(terms) < min_size:
        return None
    groups: dict[tuple, list[int]] = {}
    for t, sign in terms:
        groups.setdefault((sign, keys[t]), []).append(t)
    for k in [k for k, g in groups.items() if len(g) < min_size or len(set(g)) == 1]:
        del groups[k]  # (k copies of one node are not a vector)
    if not groups:
        return None
    batcher = _Vectors(nodes, keys, deps, out)
    pos: list[int] = []
    neg: list[int] = []
    done: set = set()
    for (sign, _), members in groups.items():
        done.update(members)
        vec = batcher.vector(tuple(sorted(members)))  # in graph order: slots ascend
        (neg if sign < 0 else pos).append(_reduction(out, fam, vec))
    for t, sign in terms:
        if t not in done:
            (neg if sign < 0 else pos).append(out.value(t))
    op = _BINARY[fam]
    if not pos:
        return out.node("neg", (out.reduce(op, neg),))
    total = out.reduce(op, pos)
    return out.node("sub", (total, out.reduce(op, neg))) if neg else total


def _reduction(out: Rewriter, fam: str, vec: int) -> int:
    """``vec`` reduced over its trailing axis; a sum of products with a vector leaf is a ``@``."""
    n = out.nodes[vec]
    if fam == "sum" and n.op == "mul":
        for u, w in (n.args, n.args[::-1]):
            if out.nodes[w].op in VECTOR_LEAVES and out.nodes[u].op != "lift":
                return out.node("vdot", (u, w))
    return out.node(_REDUCE[fam], (vec,))


class _Vectors:
    """Builds the batched form of isomorphic subgraphs, position by position."""

    def __init__(self, nodes, keys, deps, out: Rewriter):
        self.nodes, self.keys, self.deps, self.out = nodes, keys, deps, out
        self.memo: dict[tuple, tuple[int, bool]] = {}  # member tuple -> (node, is a vector)

    def children(self, members: tuple) -> list[tuple]:
        """The members' arguments, position by position (commutative ones matched by key)."""
        n0 = self.nodes[members[0]]
        rows = []
        for m in members:
            args = self.nodes[m].args
            if OPS[n0.op].commutative and self.keys[args[0]] > self.keys[args[1]]:
                args = (args[1], args[0])
            rows.append(args)
        return [tuple(r[k] for r in rows) for k in range(len(n0.args))]

    def vector(self, members: tuple) -> int:
        nodes, out = self.nodes, self.out

        def children(cur: tuple) -> list:
            if all(m == cur[0] for m in cur) or nodes[cur[0]].op in _SLOTTED:
                return []
            return self.children(cur)

        def compute(cur: tuple, values: list) -> tuple[int, bool]:
            """``(node, whether it is a vector)`` for the members ``cur``."""
            first = cur[0]
            if all(m == first for m in cur):
                return (out.value(first), False)
            n0 = nodes[first]
            leaf = _SLOTTED.get(n0.op)
            if leaf is not None:
                return (out.node(leaf, (), tuple(nodes[m].attr for m in cur)), True)
            args = []
            for k, (node, is_vector) in zip(self.children(cur), values):
                if not is_vector and self.deps[k[0]]:
                    node = out.node("lift", (node,))
                args.append(node)
            return (out.node(n0.op, tuple(args), n0.attr), True)

        return memoized(members, children, compute, self.memo)[0]


__all__ = ["VECTOR_LEAVES", "MIN_SIZE", "batch_siblings", "structure_keys"]
