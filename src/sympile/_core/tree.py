"""Nested argument and output structures: flattening them, and spelling them back.

A structure is a tree whose leaves are numbered in depth-first order. Nodes are
``("leaf", k)``, ``("list", [...])``, ``("tuple", [...])`` and
``("array", shape, [...])`` for a SymPy Matrix or Array (entries in row-major order).
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from typing import Any

import sympy as sp
from sympy.tensor.array import NDimArray

from .errors import SympileError


def flatten(obj: Any) -> tuple[list, tuple]:
    """Leaves of a nested list/tuple/Matrix/Array in depth-first order, and the tree."""
    leaves: list = []

    def walk(o):  # recursion on nesting depth of containers only, never on expressions
        if isinstance(o, (list, tuple)) and not isinstance(o, sp.Basic):
            return ("tuple" if isinstance(o, tuple) else "list", [walk(x) for x in o])
        if isinstance(o, sp.MatrixBase):
            return ("array", tuple(o.shape), [walk(x) for x in o])
        if isinstance(o, NDimArray):
            cells = itertools.product(*(range(n) for n in o.shape))
            return ("array", tuple(o.shape), [walk(o[c]) for c in cells])
        if isinstance(o, sp.Tuple):
            return ("tuple", [walk(x) for x in o])
        leaves.append(o)
        return ("leaf", len(leaves) - 1)

    return leaves, walk(obj)


def spell(tree: tuple, texts: list[str], array: Callable[[tuple, list[str]], str]) -> str:
    """Source text that rebuilds the structure from the leaves' source texts."""
    kind = tree[0]
    if kind == "leaf":
        return texts[tree[1]]
    if kind == "array":
        return array(tree[1], [spell(t, texts, array) for t in tree[2]])
    items = [spell(t, texts, array) for t in tree[1]]
    if kind == "list":
        return "[" + ", ".join(items) + "]"
    return "(" + ", ".join(items) + ("," if len(items) == 1 else "") + ")"


def arg_targets(tree: tuple) -> tuple[list[str], list[str]]:
    """The parameter list and the unpacking statements for a (nested) argument tree."""
    params, unpack = [], []

    def target(t):
        if t[0] == "leaf":
            return f"a{t[1]}"
        if t[0] == "array":
            raise SympileError("arguments cannot be Matrices or Arrays; pass a list of symbols")
        return "[" + ", ".join(target(x) for x in t[1]) + ("," if len(t[1]) == 1 else "") + "]"

    for k, t in enumerate(tree[1] if tree[0] in ("list", "tuple") else [tree]):
        if t[0] == "leaf":
            params.append(f"a{t[1]}")
        else:
            params.append(f"g{k}")
            unpack.append(f"{target(t)} = g{k}")
    return params, unpack


def top_level_count(tree: tuple) -> int:
    return len(tree[1]) if tree[0] in ("list", "tuple") else 1
