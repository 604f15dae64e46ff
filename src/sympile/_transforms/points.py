"""Data stays an array: per-point graphs over ``data`` leaves, summed over the points.

A model evaluated over data and reduced is a per-point graph (nodes over ``data`` leaves, one
value per point) plus ``psum`` nodes that sum a per-point value over the points (see the op
table). Its size, and its derivatives' size, follow the model, not the data.

- `point_counts`: which nodes are per-point, and over how many points.
- `PointCounts` and `sum_points`: the same, kept up to date while a builder grows, for graph AD:
  a derivative crossing from per-point nodes into scalar ones is summed over the points (the
  derivative of a sum is the sum of the derivatives).
- `fold_data`: every subgraph over data and literals only (``X[:, j] * X[:, k]`` in a Hessian)
  computed once, with NumPy, when the graph is made: a new ``data`` leaf (a ``psum`` of data,
  a literal).
- `expand_points`: the same computation with one scalar node per point (data values as
  literals, sums over points as sums): for backends without the per-point form, for raising to
  SymPy, and as the reference in tests.
"""

from __future__ import annotations

import numpy as np

from .._core.constants import const_value
from .._core.data import Data
from .._core.graph import Builder, Graph
from .._core.ops import OPS
from .._core.rewrite import rewrite


def has_data(graph: Graph) -> bool:
    """Whether the graph holds per-point nodes (a ``data`` leaf)."""
    return any(n.op == "data" for n in graph.nodes)


def point_counts(nodes) -> list[int]:
    """For each node, the number of points it holds one value for (0: one value in all)."""
    counts = [0] * len(nodes)
    for i, n in enumerate(nodes):
        if n.op == "data":
            counts[i] = n.attr.points
        elif n.op != "psum":
            for a in n.args:
                if counts[a]:
                    counts[i] = counts[a]
                    break
    return counts


class PointCounts:
    """`point_counts` of a growing builder's nodes, extended on demand (for graph AD).

    ``PointCounts.of(b)`` is kept with the builder, so repeated sweeps scan its nodes once.
    """

    def __init__(self, b: Builder):
        self.b = b
        self.counts: list[int] = []
        self.any = any(n.op == "data" for n in b.nodes)

    @classmethod
    def of(cls, b: Builder) -> PointCounts:
        got = getattr(b, "_point_counts", None)
        if got is None:
            got = b._point_counts = cls(b)
        return got

    def __call__(self, i: int) -> int:
        counts, nodes = self.counts, self.b.nodes
        for k in range(len(counts), i + 1):
            n = nodes[k]
            c = 0
            if n.op == "data":
                c = n.attr.points
                self.any = True
            elif n.op != "psum":
                for a in n.args:
                    if counts[a]:
                        c = counts[a]
                        break
            counts.append(c)
        return counts[i]


def sum_points(b: Builder, x: int | None, n: int, counts: PointCounts) -> int | None:
    """The sum over ``n`` points of ``x``: a ``psum``, or ``n * x`` where ``x`` is the same at every point."""
    if x is None:
        return None
    return b.node("psum", (x,), n) if counts(x) else b.mul(b.const(n), x)


# -- data-only subgraphs, computed when the graph is made --------------------------------------


def _numpy_value(op: str, attr, values: list):
    """The op on NumPy arrays and numbers, or None where this module does not compute it."""
    if op == "powi":
        return values[0] ** attr
    if op == "where":
        return np.where(*values)
    if op == "psum":
        return float(np.sum(values[0])) if values[0].dtype.kind == "f" else complex(np.sum(values[0]))
    name = OPS[op].array
    fn = getattr(np, name, None) if name is not None and not OPS[op].emission else None
    return None if fn is None else fn(*values)


def fold_data(graph: Graph) -> Graph:
    """``graph`` with every node over data and literals only computed now (see the module docstring)."""
    nodes = graph.nodes
    if not has_data(graph):
        return graph
    fixed = [False] * len(nodes)  # over data and literals only
    for i, n in enumerate(nodes):
        fixed[i] = (
            n.op == "data"
            or (n.op == "const" and type(n.attr) is not bool)
            or (bool(n.args) and n.op != "call" and all(fixed[a] for a in n.args))
        )
    if not any(fixed[i] and n.args for i, n in enumerate(nodes)):
        return graph
    values: dict[int, object] = {}

    def rule(b, i, n, args):
        if not fixed[i] or any(a not in values for a in n.args):
            return None
        if n.op == "data":
            values[i] = n.attr.values
            return None
        if n.op == "const":
            values[i] = const_value(n.attr)
            return None
        with np.errstate(all="ignore"):
            try:
                v = _numpy_value(n.op, n.attr, [values[a] for a in n.args])
            except (TypeError, ValueError):
                v = None
        if v is None or (isinstance(v, np.ndarray) and v.dtype.kind not in "fc"):
            fixed[i] = False  # computed at run time, like its users
            return None
        values[i] = v
        return b.node("data", (), Data(v)) if isinstance(v, np.ndarray) and v.ndim else b.const(v)

    return rewrite(graph, rule)


# -- the expanded form ------------------------------------------------------------------------


def expand_points(graph: Graph) -> Graph:
    """The same computation with one scalar node per point (see the module docstring)."""
    if not has_data(graph):
        return graph
    counts = point_counts(graph.nodes)
    b = Builder()
    values: list = [None] * len(graph.nodes)  # a node index, or for a per-point node one per point
    for i, n in enumerate(graph.nodes):
        if n.op == "data":
            values[i] = [b.const(float(v)) if type(v) is not complex else b.const(v) for v in n.attr.values.tolist()]
        elif n.op == "psum":
            arg = values[n.args[0]]
            values[i] = b.sum(arg) if isinstance(arg, list) else b.mul(b.const(n.attr), arg)
        elif counts[i]:
            args = [values[a] for a in n.args]
            values[i] = [
                b.node(n.op, tuple(a[k] if isinstance(a, list) else a for a in args), n.attr) for k in range(counts[i])
            ]
        else:
            values[i] = b.node(n.op, tuple(values[a] for a in n.args), n.attr)
    outputs = []
    for o in graph.outputs:
        if isinstance(values[o], list):
            raise ValueError("an output of a graph over data must be summed over the points")
        outputs.append(values[o])
    return b.graph(outputs, graph.inputs, graph.params, graph.buffers).pruned()


__all__ = ["has_data", "point_counts", "PointCounts", "sum_points", "fold_data", "expand_points"]
