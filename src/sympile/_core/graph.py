"""The one intermediate form: an immutable, hash-consed DAG in SSA form.

A node is ``(op, args, attr)``: ``op`` names an entry of the op table, ``args`` are the
indices of earlier nodes and ``attr`` is the op's static datum (the value of a literal,
the slot of an input or parameter, the exponent of an integer power). Nodes are kept in
topological order, so every walk over a graph is a plain loop over a list.
"""

from __future__ import annotations

import gc
import hashlib
from contextlib import contextmanager
from fractions import Fraction
from typing import Any, NamedTuple

from .ops import OPS
from .tuning import PAIR_EXISTING_MAX


@contextmanager
def paused_gc():
    """Pause the cyclic garbage collector: building 100,000 nodes would trigger it often,
    and nothing built here forms cycles."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


class Node(NamedTuple):
    op: str
    args: tuple[int, ...] = ()
    attr: Any = None


def _key(op: str, args: tuple[int, ...], attr: Any) -> tuple:
    # 1 == 1.0 == True hash alike; the type keeps Integer(1), Float(1.0) and true apart.
    return (op, args, type(attr), attr)


class Graph:
    """An immutable DAG: ``nodes`` in topological order and the indices of ``outputs``.

    ``inputs`` holds the SymPy objects that the ``input`` leaves stand for (by slot),
    ``params`` and ``buffers`` the values of the trainable and frozen float slots.
    """

    __slots__ = ("nodes", "outputs", "inputs", "params", "buffers", "_hash")

    def __init__(self, nodes, outputs, inputs=(), params=(), buffers=()):
        self.nodes: tuple[Node, ...] = tuple(nodes)
        self.outputs: tuple[int, ...] = tuple(outputs)
        self.inputs: tuple = tuple(inputs)
        self.params: tuple = tuple(params)
        self.buffers: tuple = tuple(buffers)
        self._hash: str | None = None

    def __len__(self) -> int:
        return len(self.nodes)

    def __repr__(self) -> str:
        return (
            f"Graph({len(self.nodes)} nodes, {len(self.outputs)} outputs, "
            f"{len(self.inputs)} inputs, {len(self.params)} params)"
        )

    def __getstate__(self):
        return (self.nodes, self.outputs, self.inputs, self.params, self.buffers)

    def __setstate__(self, state):
        nodes, outputs, inputs, params, buffers = state
        self.__init__([Node(*n) for n in nodes], outputs, inputs, params, buffers)

    def content_hash(self) -> str:
        """A hex digest of the graph's structure and constants, for content-keyed caches."""
        if self._hash is None:
            h = hashlib.sha256()
            for n in self.nodes:
                h.update(repr((n.op, n.args, type(n.attr).__name__, _hashable(n.attr))).encode())
            h.update(repr((self.outputs, len(self.inputs), len(self.params), len(self.buffers))).encode())
            self._hash = h.hexdigest()
        return self._hash

    def live(self) -> list[bool]:
        """Which nodes the outputs depend on."""
        live = [False] * len(self.nodes)
        for o in self.outputs:
            live[o] = True
        for i in range(len(self.nodes) - 1, -1, -1):
            if live[i]:
                for a in self.nodes[i].args:
                    live[a] = True
        return live

    def pruned(self) -> Graph:
        """The same graph without the nodes that no output depends on."""
        live = self.live()
        if all(live):
            return self
        new_index: list[int] = [-1] * len(self.nodes)
        nodes = []
        for i, n in enumerate(self.nodes):
            if live[i]:
                new_index[i] = len(nodes)
                args = n.args
                if args:
                    n = Node(n.op, tuple([new_index[a] for a in args]), n.attr)
                nodes.append(n)
        outputs = [new_index[o] for o in self.outputs]
        return Graph(nodes, outputs, self.inputs, self.params, self.buffers)

    def with_outputs(self, outputs) -> Graph:
        return Graph(self.nodes, outputs, self.inputs, self.params, self.buffers)

    def input_dependence(self) -> list[int]:
        """For each node, a bit set (as an int) of the input slots it depends on."""
        deps = [0] * len(self.nodes)
        for i, n in enumerate(self.nodes):
            if n.op == "input":
                deps[i] = 1 << n.attr
            else:
                d = 0
                for a in n.args:
                    d |= deps[a]
                deps[i] = d
        return deps

    def postorder(self, after=None) -> list[int]:
        """The live nodes in a depth-first post-order from the outputs, arguments left to right.

        A sum of many terms comes out as term, term, add, term, term, add, add...: evaluated in
        this order, few intermediates are alive at once. ``after(i)`` names further nodes that
        must come before node ``i`` (besides its arguments).
        """
        nodes = self.nodes
        done = [False] * len(nodes)
        order: list[int] = []
        for root in self.outputs:
            stack = [(root, False)]
            while stack:
                i, expanded = stack.pop()
                if done[i]:
                    continue
                if expanded:
                    done[i] = True
                    order.append(i)
                    continue
                stack.append((i, True))
                before = nodes[i].args if after is None else (*nodes[i].args, *after(i))
                stack.extend((a, False) for a in reversed(before) if not done[a])
        return order

    def users(self) -> list[int]:
        """For each node, the last node that uses it (-1 for none, or an output that nothing uses):
        the one user of a node that `use_counts` says is used once."""
        user = [-1] * len(self.nodes)
        for i, n in enumerate(self.nodes):
            for a in n.args:
                user[a] = i
        return user

    def use_counts(self) -> list[int]:
        counts = [0] * len(self.nodes)
        for n in self.nodes:
            for a in n.args:
                counts[a] += 1
        for o in self.outputs:
            counts[o] += 1
        return counts


_EXACT = (int, Fraction)
#: The ops whose value is not known before run time (the rest of a graph's leaves are literals).
VARIABLE = frozenset({"input", "param", "buffer", "call", "data"})
_NODE_RULES = {name: (spec.commutative and spec.arity == 2, spec.simplify) for name, spec in OPS.items()}
_PLAIN_RULES = {name: (commutative, None) for name, (commutative, _) in _NODE_RULES.items()}


def _exact(attr) -> bool:
    return type(attr) in _EXACT


class Builder:
    """Appends nodes to a graph under construction, sharing every node that exists already.

    The builder applies the algebraic identities that make derivative graphs small as
    they are built (``x + 0``, ``1 * x``, ``0 * x``, ``--x``, exact integer and rational
    arithmetic); it never rounds a number. ``simplify=False`` makes nodes as asked (for
    passes whose nodes carry more than a scalar, such as batching, where ``0 * v`` must stay
    a vector).
    """

    def __init__(self, graph: Graph | None = None, *, simplify: bool = True):
        self._rules = _NODE_RULES if simplify else _PLAIN_RULES
        self.nodes: list[Node] = []
        #: Whether each node depends on an input, parameter or buffer (else it is a constant).
        self.variable: list[bool] = []
        self._index: dict[tuple, int] = {}
        if graph is not None:
            for n in graph.nodes:
                self._index.setdefault(_key(*n), len(self.nodes))
                self.nodes.append(n)
                self.variable.append(n.op in VARIABLE or any(self.variable[a] for a in n.args))

    def graph(self, outputs, inputs=(), params=(), buffers=()) -> Graph:
        return Graph(self.nodes, outputs, inputs, params, buffers)

    # -- the one way in ------------------------------------------------------------
    def node(self, op: str, args: tuple[int, ...] = (), attr: Any = None) -> int:
        commutative, simplify = self._rules[op]
        if commutative and args[0] > args[1]:
            args = (args[1], args[0])
        if simplify is not None:
            found = simplify(self, args, attr)
            if found is not None:
                return found
        key = (op, args, type(attr), attr)
        i = self._index.get(key)
        if i is None:
            i = len(self.nodes)
            self.nodes.append(Node(op, args, attr))
            variable = self.variable
            v = op in VARIABLE
            if not v:
                for a in args:  # a loop, not any(...): no generator per node on this hot path
                    if variable[a]:
                        v = True
                        break
            variable.append(v)
            self._index[key] = i
        return i

    # -- helpers for lowering and derivative rules ----------------------------------
    def const(self, value) -> int:
        return self.node("const", (), value)

    def const_value(self, i: int):
        """The literal value of node ``i``, or None when it is not a literal number."""
        n = self.nodes[i]
        return n.attr if n.op == "const" else None

    def is_const(self, i: int, value) -> bool:
        n = self.nodes[i]
        return n.op == "const" and _exact(n.attr) and n.attr == value

    def exact_value(self, i: int):
        n = self.nodes[i]
        if n.op == "const" and _exact(n.attr):
            return n.attr
        return None

    def op(self, name: str, *args: int, attr: Any = None) -> int:
        return self.node(name, args, attr)

    def add(self, a: int, b: int) -> int:
        return self.node("add", (a, b))

    def sub(self, a: int, b: int) -> int:
        return self.node("sub", (a, b))

    def mul(self, a: int, b: int) -> int:
        return self.node("mul", (a, b))

    def div(self, a: int, b: int) -> int:
        return self.node("div", (a, b))

    def neg(self, a: int) -> int:
        return self.node("neg", (a,))

    def recip(self, a: int) -> int:
        return self.node("div", (self.const(1), a))

    def where(self, c: int, a: int, b: int) -> int:
        return self.node("where", (c, a, b))

    def find(self, op: str, args: tuple[int, ...], attr: Any = None) -> int | None:
        """The node ``(op, args, attr)`` if it exists already (commutative args sorted)."""
        if OPS[op].commutative and len(args) == 2 and args[0] > args[1]:
            args = (args[1], args[0])
        return self._index.get(_key(op, args, attr))

    def sum(self, terms: list[int]) -> int:
        """A balanced sum (pairwise: short dependency chains, small rounding error)."""
        return self.reduce("add", terms, 0)

    def product(self, factors: list[int]) -> int:
        return self.reduce("mul", factors, 1)

    def _pair_existing(self, op: str, items: list[int]) -> list[int]:
        """Operands whose pairing exists already are paired first (n-ary subexpression sharing)."""
        if len(items) < 3 or len(items) > PAIR_EXISTING_MAX:
            return items
        found = True
        while found and len(items) > 2:
            found = False
            for i in range(len(items)):
                for j in range(i + 1, len(items)):
                    hit = self.find(op, (items[i], items[j]))
                    if hit is not None:
                        items = [hit] + [t for k, t in enumerate(items) if k not in (i, j)]
                        found = True
                        break
                if found:
                    break
        return items

    def reduce(self, op: str, items: list[int], empty=None) -> int:
        if not items:
            if empty is None:
                raise ValueError(f"cannot reduce an empty list with {op}")
            return self.const(empty)
        items = self._pair_existing(op, list(items))
        while len(items) > 1:
            paired = [self.node(op, (items[k], items[k + 1])) for k in range(0, len(items) - 1, 2)]
            if len(items) % 2:
                paired.append(items[-1])
            items = paired
        return items[0]


__all__ = ["Node", "Graph", "Builder", "VARIABLE", "paused_gc"]


def _hashable(attr):
    """``attr`` as `repr` can write it: integers in hex (Python refuses ``repr`` of an int past 4300
    digits, and an exact constant such as ``10**5000`` is a legitimate literal until it is folded)."""
    if type(attr) is int:
        return hex(attr)
    if type(attr) is Fraction:
        return hex(attr.numerator), hex(attr.denominator)
    return attr
