"""The one rewrite driver: every pass that turns a graph into another goes through `rewrite`.

A pass is a *rule* called once per node, in topological order, with the node's arguments
already rewritten; it returns the node's new value, or None to keep the node as it is (over
its rewritten arguments). New nodes are made with a hash-consing `Builder`, so a rewritten
graph shares every common subexpression, as a lowered one does, and with ``simplify`` the
op table's simplification rules apply as nodes are made. The walk is a loop: nothing recurses
on the depth of the graph.

Values need not be node indices: a pass may carry richer values (a node and whether it holds
a negation, a base and an exact factor) and say with ``output`` how a value becomes a node.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from .graph import Builder, Graph, Node


class Rewriter(Builder):
    """The builder of a rewritten graph, which also knows the new value of each old node
    visited so far (`value`)."""

    def __init__(self, n: int, simplify: bool):
        super().__init__(simplify=simplify)
        self.values: list[Any] = [None] * n

    def value(self, old: int) -> Any:
        """The new value of the old graph's node ``old`` (visited already)."""
        return self.values[old]


#: ``rule(b, i, node, args) -> value | None``: ``b`` the `Rewriter` of the new graph, ``i`` the
#: node's index in the old one, ``args`` the values of its arguments.
Rule = Callable[[Rewriter, int, Node, list], Any]


def rewrite(
    graph: Graph,
    rule: Rule | None = None,
    *,
    simplify: bool = True,
    after: Callable[[int], Sequence[int]] | None = None,
    output: Callable[[Builder, Any], int] | None = None,
    prune: bool = True,
) -> Graph:
    """``graph`` rebuilt node by node through ``rule`` (see the module docstring).

    Args:
        rule: the pass; None rebuilds every node (hash-consing and, with ``simplify``,
            simplifying the graph).
        simplify: apply the op table's simplification rules to the nodes made.
        after: extra nodes whose values a node's rule reads (``b.value``, beyond its
            arguments); the nodes are then visited depth first from the outputs, so that
            those come first.
        output: turns an output's value into a node (default: the value is a node).
        prune: drop the nodes no output needs.
    """
    nodes = graph.nodes
    b = Rewriter(len(nodes), simplify)
    values = b.values
    order = range(len(nodes)) if after is None else graph.postorder(after)
    node = b.node
    for i in order:
        n = nodes[i]
        args = [values[a] for a in n.args]
        v = rule(b, i, n, args) if rule is not None else None
        values[i] = node(n.op, tuple(args), n.attr) if v is None else v
    outputs = [values[o] if output is None else output(b, values[o]) for o in graph.outputs]
    new = b.graph(outputs, graph.inputs, graph.params, graph.buffers)
    return new.pruned() if prune else new


def replace(graph: Graph, plan: dict, make: Callable[[Rewriter, Any, list], Any]) -> Graph:
    """``graph`` with each node ``i`` of ``plan`` made by ``make(b, plan[i], args)`` (no other
    node changes, nothing is simplified); the graph itself when the plan is empty."""
    if not plan:
        return graph

    def rule(b, i, n, args):
        return make(b, plan[i], args) if i in plan else None

    return rewrite(graph, rule, simplify=False)


def memoized(root, children: Callable[[Any], Sequence], compute: Callable[[Any, list], Any], memo: dict) -> Any:
    """``compute(item, [the values of children(item)])`` for ``root``: children first, each item
    once (``memo``, item -> value, is kept across calls). Iterative, so deep structures are fine."""
    stack = [root]
    while stack:
        item = stack[-1]
        if item in memo:
            stack.pop()
            continue
        kids = children(item)
        missing = [k for k in kids if k not in memo]
        if missing:
            stack.extend(missing)
            continue
        stack.pop()
        memo[item] = compute(item, [memo[k] for k in kids])
    return memo[root]


def relabel(graph: Graph, make: Callable[[int, Node], Node | None]) -> Graph:
    """``graph`` with node ``i`` replaced by ``make(i, node)`` where that is not None, in place.

    For local rewrites whose new node reads only nodes that come before it (``x * x`` as
    ``square(x)``): the order stays topological and no node is rebuilt, so it costs a pass
    over the list; nodes no output needs any more are pruned.
    """
    nodes = list(graph.nodes)
    changed = False
    for i, n in enumerate(nodes):
        new = make(i, n)
        if new is not None:
            nodes[i] = new
            changed = True
    if not changed:
        return graph
    return Graph(nodes, graph.outputs, graph.inputs, graph.params, graph.buffers).pruned()
