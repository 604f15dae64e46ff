"""Masking untaken branches, for backends that differentiate through the emitted code.

PyTorch and JAX differentiate the code they run, and the adjoint of a ``where`` reaches
*both* branches: ``where(x > 0, sqrt(x), 0)`` at ``x = -1`` gives ``0 * inf = nan``.
The cure is the double-where pattern: give an op in a branch a harmless input where its
branch is not taken, ``sqrt(where(x > 0, x, 1))``, then select as before. Values are
unchanged (the masked results are never selected) and the gradient is exact.

Which nodes sit in a branch: a node's *guard* is the set of conditions (with polarity)
under which some output needs it, the intersection over its users of the user's guard plus
the condition of the edge (the taken side of a ``where``). Each op in `OpSpec.safe` names,
per argument, a value at which it and its derivative are finite; an argument of a guarded
op with such a value is masked.
"""

from __future__ import annotations

from collections.abc import Sequence

from .._core.graph import Graph, Node
from .._core.ops import OPS
from .._core.rewrite import rewrite


def guards(graph: Graph) -> list[frozenset | None]:
    """For each node, the literals ``(condition node, polarity)`` that hold wherever it matters."""
    guard = node_guards(graph.nodes, graph.outputs)
    return [guard.get(i) for i in range(len(graph.nodes))]


def node_guards(
    nodes: Sequence[Node], outputs: Sequence[int], order: Sequence[int] | None = None
) -> dict[int, frozenset]:
    """`guards` of the nodes the outputs need (absent: no output needs it).

    ``order`` lists the nodes to visit, ascending, the outputs' cone (default: every node below
    the highest output). Graph AD asks this of a builder's nodes for the outputs it differentiates
    (`ad`), over their cone: the builder also holds the derivatives built before.
    """
    if order is None:
        order = range(max(outputs, default=-1) + 1)
    guard: dict[int, frozenset] = {o: frozenset() for o in outputs}
    implied: dict[tuple, frozenset] = {}
    for i in reversed(order):
        g = guard.get(i)
        if g is None:
            continue
        n = nodes[i]
        for k, a in enumerate(n.args):
            edge = g
            if n.op == "where" and k > 0:
                lit = (n.args[0], k == 1)
                if lit not in implied:
                    implied[lit] = implications(nodes, *lit)
                edge = g | implied[lit]
            had = guard.get(a)
            guard[a] = edge if had is None else had & edge
    return guard


def implications(nodes: Sequence[Node], c: int, holds: bool) -> frozenset:
    """The literals that ``(c, holds)`` implies: itself, and through ``and`` (when it holds), ``or``
    (when it fails) and ``not``, its parts'. A branch taken under ``(x > 0) & (y > 0)`` is guarded
    by ``x > 0``, which another branch under ``(x > 0) & (2 y > 0)`` shares: a node both need
    (``sqrt(x)``) keeps that guard, where the two conditions' intersection alone was empty."""
    out = {(c, holds)}
    stack = [(c, holds)]
    while stack:
        a, pol = stack.pop()
        n = nodes[a]
        if n.op == "not":
            parts = [(n.args[0], not pol)]
        elif (n.op == "and" and pol) or (n.op == "or" and not pol):
            parts = [(x, pol) for x in n.args]
        else:
            continue
        for lit in parts:
            if lit not in out:
                out.add(lit)
                stack.append(lit)
    return frozenset(out)


def condition_literals(nodes: Sequence[Node], lits) -> list[tuple]:
    """``lits`` without those another of them implies (`implications`), sorted: the literals a mask's
    condition needs."""
    lits = set(lits)
    implied = set()
    for lit in lits:
        implied |= implications(nodes, *lit) - {lit}
    return sorted(lits - implied)


def mask_branches(graph: Graph) -> Graph:
    """The same function, with every unsafe op in a branch fed a safe value where untaken."""
    nodes = graph.nodes
    guard = guards(graph)
    masked = [
        i
        for i, n in enumerate(nodes)
        if guard[i] and OPS[n.op].safe is not None and any(s is not None for s in OPS[n.op].safe)
    ]
    if not masked:
        return graph
    cones: dict[int, set] = {}

    def cone(c: int) -> set:
        """The nodes that condition ``c`` depends on (a mask must not create a cycle)."""
        if c not in cones:
            seen, stack = {c}, [c]
            while stack:
                for a in nodes[stack.pop()].args:
                    if a not in seen:
                        seen.add(a)
                        stack.append(a)
            cones[c] = seen
        return cones[c]

    needed: dict[frozenset, list] = {}  # many nodes share a guard

    def condition(lits: frozenset) -> list:
        if lits not in needed:
            needed[lits] = condition_literals(nodes, lits)
        return needed[lits]

    literals = {i: condition(frozenset(lit for lit in guard[i] if i not in cone(lit[0]))) for i in masked}

    def rule(b, i, n, args):
        lits = literals.get(i)
        if not lits:
            return None
        cond = b.reduce("and", [b.value(c) if pol else b.op("not", b.value(c)) for c, pol in lits])
        for k, safe in enumerate(OPS[n.op].safe):
            if safe is not None:
                args[k] = b.where(cond, args[k], b.const(safe))
        return b.node(n.op, tuple(args), n.attr)

    return rewrite(graph, rule, after=lambda i: [c for c, _ in literals.get(i, ())], prune=False)
