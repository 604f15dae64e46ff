"""Fused ops for array code: one library call where the graph has two, or one read where it has two.

Both are emission-only ops (`OpSpec.emission`), made just before emitting for the backends
that spell them:

- `squares`: ``x * x`` becomes ``square(x)``, which reads ``x`` once. An ``x`` used nowhere
  else is then written inline instead of in a local that stays alive, as an array, until the
  statement that squares it runs (memory traffic on large arrays).
- `multiply_adds`: ``u + v * w``, where the product is used only there, becomes
  ``fma(u, v, w)`` (``torch.addcmul``): one pass over the data instead of two, which counts for
  the wide batched ops of eager libraries.
"""

from __future__ import annotations

from .._core.graph import Graph, Node
from .._core.rewrite import relabel


def squares(graph: Graph) -> Graph:
    """``x * x`` as ``square(x)``.

    Example:
        >>> import sympy as sp
        >>> from sympile._sympy.lower import lower
        >>> x = sp.Symbol("x")
        >>> [n.op for n in squares(lower([sp.sin(x) ** 2], [x])).nodes]
        ['input', 'sin', 'square']
    """
    return relabel(graph, lambda i, n: Node("square", n.args[:1]) if n.op == "mul" and n.args[0] == n.args[1] else None)


def multiply_adds(graph: Graph) -> Graph:
    """``u + v * w`` as ``fma(u, v, w)`` where the product has no other use."""
    nodes = graph.nodes
    uses = graph.use_counts()

    def fused(i: int, n) -> Node | None:
        if n.op != "add":
            return None
        for u, m in (n.args, n.args[::-1]):
            if nodes[m].op == "mul" and uses[m] == 1:
                return Node("fma", (u, *nodes[m].args))
        return None

    return relabel(graph, fused)
