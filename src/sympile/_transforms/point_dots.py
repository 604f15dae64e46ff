"""Sums over data points as matrix products, for the array code of a graph over data.

A sum over the points of a data column times a per-point value, ``psum(X[:, j] * q)``, is a
dot product; a graph holds many that share ``q`` (a gradient ``X^T r``, a Hessian
``X^T diag(s'(z)) X`` is ``psum(X[:, j] * X[:, k] * q)`` for every ``j <= k``). `point_dots`
gathers them: each term of a ``psum`` is read as ``literal * data columns * scalars *
per-point factors``; the terms over the same per-point factors become the rows of one
constant matrix ``C`` (the columns multiplied out now), so that all of them cost one
``C @ q`` (a ``prows`` node, whose rows ``pick`` nodes read). Likewise a per-point sum of
many ``data column * scalar`` terms (``z = X @ w``) is one ``M @ [scalars]``. Exact in
meaning; the rounding is a matrix product's. Made just before emitting (the NumPy backend's
array code): the ops it makes are emission-only.
"""

from __future__ import annotations

from collections import defaultdict

import numpy as np

from .._core.constants import const_value
from .._core.data import Data
from .._core.graph import Graph
from .._core.rewrite import rewrite
from .._core.terms import SUM, terms
from .._core.tuning import POINT_MATVEC_MIN_TERMS
from .points import has_data, point_counts

_PRODUCT = {"mul": (1, 1)}


def _split(nodes, counts, term: int, sign: int):
    """``(column or None, scalars, per-point factors)`` of one term, or None where a factor is
    neither data, a real literal, a scalar nor per-point."""
    column = None
    coefficient = float(sign)
    scalars, varying = [], []
    for f, _ in terms(nodes, term, _PRODUCT):
        n = nodes[f]
        if n.op == "data" and n.attr.values.ndim == 1:
            column = n.attr.values if column is None else column * n.attr.values
        elif n.op == "const":
            v = const_value(n.attr)
            if type(v) not in (int, float):
                return None
            coefficient *= v
        elif counts[f]:
            varying.append(f)
        else:
            scalars.append(f)
    if coefficient != 1.0 or column is None:
        column = coefficient if column is None else coefficient * column
    return column, tuple(sorted(scalars)), tuple(sorted(varying))


def point_dots(graph: Graph) -> Graph:
    """``graph`` with its sums over points of data times shared values as matrix products."""
    if not has_data(graph):
        return graph
    nodes = graph.nodes
    counts = point_counts(nodes)
    uses = graph.use_counts()
    users = graph.users()

    def inner(i: int) -> bool:  # a single-use per-point sum is read through
        return uses[i] == 1 and counts[i] > 0

    # the sums over points: their terms, grouped by their per-point factors
    sums: dict[int, list] = {}
    rows: dict[tuple, dict[str, tuple[int, np.ndarray]]] = defaultdict(dict)
    for i, n in enumerate(nodes):
        if n.op != "psum":
            continue
        split = [_split(nodes, counts, t, s) for t, s in terms(nodes, n.args[0], SUM, into=inner)]
        if any(s is None or not s[2] for s in split):
            continue
        items = []
        for column, scalars, varying in split:
            column = np.broadcast_to(np.asarray(column, dtype=np.float64), (n.attr,))
            key = Data(column).digest
            group = rows[varying]
            if key not in group:
                group[key] = (len(group), column)
            items.append((scalars, varying, group[key][0]))
        sums[i] = items

    # per-point sums of data columns times scalars: one matrix times the vector of the scalars
    linear: dict[int, tuple] = {}
    for i, n in enumerate(nodes):
        if n.op not in SUM or not counts[i] or inner(i) and nodes[users[i]].op in SUM:
            continue
        found = []
        rest = []
        for t, s in terms(nodes, i, SUM, into=inner):
            split = _split(nodes, counts, t, s)
            if split is not None and not split[2] and split[1] and np.ndim(split[0]) == 1:
                found.append(split)
            else:
                rest.append((t, s))
        if len(found) >= POINT_MATVEC_MIN_TERMS:
            matrix = np.stack([np.broadcast_to(c, (counts[i],)) for c, _, _ in found], axis=1)
            linear[i] = (Data(matrix), [sc for _, sc, _ in found], rest)
    if not sums and not linear:
        return graph

    made: dict[tuple, int] = {}

    def group_value(b, varying: tuple) -> int:
        got = made.get(varying)
        if got is None:
            q = b.product([b.value(f) for f in varying])
            table = np.stack([c for _, c in sorted(rows[varying].values(), key=lambda r: r[0])])
            got = made[varying] = b.node("prows", (b.node("data", (), Data(table)), q))
        return got

    def rule(b, i, n, args):
        if i in sums:
            total = []
            for scalars, varying, row in sums[i]:
                factors = [b.value(f) for f in scalars]
                total.append(b.product([b.node("pick", (group_value(b, varying),), row), *factors]))
            return b.sum(total)
        if i in linear:
            matrix, scalar_sets, rest = linear[i]
            vector = b.node("pstack", tuple(b.product([b.value(f) for f in sc]) for sc in scalar_sets))
            value = b.node("pdot", (b.node("data", (), matrix), vector))
            others = [b.value(t) if s > 0 else b.neg(b.value(t)) for t, s in rest]
            return b.sum([value, *others])
        return None

    return rewrite(graph, rule)


__all__ = ["point_dots"]
