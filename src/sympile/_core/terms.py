"""The n-ary view of a tree of binary ops: the terms of a sum, the factors of a product.

A graph holds ``a - (b + -c)`` as three binary nodes; raising, batching and the linear
blocks want it as the signed terms ``+a, -b, +c``. `terms` is the one walk that gives them:
it descends from a root through the ops of a *family* (each argument with its sign: ``sub``
negates its second, ``div`` inverts its second), as far as the caller allows, and returns the
leaves of the walk with their signs, left to right.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from .graph import Node

#: op -> the sign each argument carries: the terms of a sum, and the factors of a product (a
#: factor's sign is its power).
SUM = {"add": (1, 1), "sub": (1, -1), "neg": (-1,)}
PRODUCT = {"mul": (1, 1), "div": (1, -1)}


def terms(
    nodes: Sequence[Node],
    root: int,
    family: dict[str, tuple[int, ...]] = SUM,
    *,
    into: Callable[[int], bool] | None = None,
    scaled: Callable[[int], tuple[Any, int] | None] | None = None,
    sign: Any = 1,
) -> list[tuple[int, Any]]:
    """``[(node, sign), ...]``: the terms under ``root``, left to right.

    The walk enters ``root`` and every node that ``into`` accepts (default: all) whose op is
    in ``family``; with ``scaled``, it also goes through a node that ``scaled`` maps to
    ``(k, x)`` (the node is ``k * x``), multiplying the sign by ``k``. ``sign`` is the root's.
    """
    out: list[tuple[int, Any]] = []
    stack = [(root, sign)]
    while stack:
        i, s = stack.pop()
        if i == root or into is None or into(i):
            n = nodes[i]
            signs = family.get(n.op)
            if signs is not None:
                for a, t in zip(reversed(n.args), reversed(signs)):
                    stack.append((a, s if t == 1 else -s))
                continue
            if scaled is not None:
                found = scaled(i)
                if found is not None:
                    k, x = found
                    stack.append((x, s * k))
                    continue
        out.append((i, s))
    return out
