"""What the PyTorch and JAX modules share about their parameters: which coefficient each is."""

from __future__ import annotations

import sympy as sp

from .._core.graph import Graph
from .._core.rewrite import rewrite


def parameters_as_symbols(graph: Graph, taken, prefix: str = "p") -> tuple[list[sp.Symbol], Graph]:
    """``(symbols, graph)``: a symbol ``p0, p1, ...`` per parameter slot (``prefix`` and the slot;
    an underscore is added while a name clashes with one of ``taken``), and the graph with each
    parameter an input after the graph's own inputs, standing for its symbol."""
    taken = {str(t) for t in taken}
    while any(f"{prefix}{k}" in taken for k in range(len(graph.params))):
        prefix += "_"
    symbols = [sp.Symbol(f"{prefix}{k}") for k in range(len(graph.params))]
    n_in = len(graph.inputs)

    def rule(b, i, n, args):
        return b.node("input", (), n_in + n.attr) if n.op == "param" else None

    as_inputs = rewrite(graph, rule, simplify=False)
    return symbols, Graph(as_inputs.nodes, as_inputs.outputs, (*graph.inputs, *symbols), (), graph.buffers)
