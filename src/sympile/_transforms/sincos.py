"""``sin(u)`` and ``cos(u)`` of one argument as one ``sincos(u)`` pair, for backends whose pair
costs about what one of them does (`sympile._backends.jax_trig` reduces the argument once for
both, and each call of it is a compiled kernel of its own).

``sin(u)`` becomes ``pick(sincos(u), 0)`` and ``cos(u)`` ``pick(sincos(u), 1)``, only where the
graph has both; hash-consing makes the two picks read one ``sincos`` node.
"""

from __future__ import annotations

from .._core.graph import Graph
from .._core.rewrite import replace

_SLOT = {"sin": 0, "cos": 1}


def share_sincos(graph: Graph) -> Graph:
    """``graph`` with each ``sin``/``cos`` pair of one argument read from one ``sincos`` node."""
    seen: dict[int, dict[str, int]] = {}
    for i, n in enumerate(graph.nodes):
        if n.op in _SLOT:
            seen.setdefault(n.args[0], {})[n.op] = i
    plan = {i: _SLOT[op] for both in seen.values() if len(both) == 2 for op, i in both.items()}
    return replace(graph, plan, lambda b, slot, args: b.node("pick", (b.node("sincos", tuple(args)),), slot))
