"""Nested argument and output structures: flattening them, and building them back.

A structure is a tree whose leaves are numbered in depth-first order. Nodes are
``("leaf", k)``, ``("list", [...])``, ``("tuple", [...])`` and ``("array", shape, [...])``
for an array (a SymPy Matrix or Array, or a traced array) whose entries, in row-major order,
are leaves. `flatten` makes a tree from nested values; `rebuild` is the one walk back, used
for values (a function's outputs), for source text that builds them, and for diagnoses.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from typing import Any

import sympy as sp
from sympy.tensor.array import NDimArray

from .errors import SympileError


def sympy_entries(o: Any) -> list | None:
    """The entries of a SymPy Matrix or Array in row-major order, with its shape; None for anything else."""
    if isinstance(o, sp.MatrixBase):
        return [tuple(o.shape), list(o)]
    if isinstance(o, NDimArray):
        return [tuple(o.shape), [o[c] for c in itertools.product(*(range(n) for n in o.shape))]]
    return None


def flatten(obj: Any, array: Callable[[Any], list | None] = sympy_entries) -> tuple[list, tuple]:
    """Leaves of a nested list/tuple/array in depth-first order, and the tree.

    ``array(o)`` gives ``[shape, entries]`` for the values that are arrays (default: SymPy
    Matrices and Arrays), else None.
    """
    leaves: list = []

    def walk(o):  # recursion on the nesting of containers only, never on expressions
        if isinstance(o, (list, tuple)) and not isinstance(o, sp.Basic):
            return ("tuple" if isinstance(o, tuple) else "list", [walk(x) for x in o])
        if isinstance(o, sp.Tuple):
            return ("tuple", [walk(x) for x in o])
        found = array(o)
        if found is not None:
            shape, entries = found
            start = len(leaves)
            leaves.extend(entries)
            return ("array", tuple(shape), [("leaf", k) for k in range(start, len(leaves))])
        leaves.append(o)
        return ("leaf", len(leaves) - 1)

    return leaves, walk(obj)


def _sequence(kind: str, items: list) -> Any:
    return items if kind == "list" else tuple(items)


def rebuild(
    tree: tuple,
    leaf: Callable[[int], Any],
    array: Callable[[tuple, list[int]], Any],
    sequence: Callable[[str, list], Any] = _sequence,
) -> Any:
    """The structure of ``tree`` built back: ``leaf(k)`` for a leaf, ``array(shape, [k, ...])``
    for an array (given its leaves' numbers), ``sequence(kind, items)`` for a list or tuple."""
    kind = tree[0]
    if kind == "leaf":
        return leaf(tree[1])
    if kind == "array":
        return array(tree[1], [t[1] for t in tree[2]])
    return sequence(kind, [rebuild(t, leaf, array, sequence) for t in tree[1]])


def spelt_sequence(kind: str, items: list[str]) -> str:
    """Source text of a list or tuple of items' texts (for `rebuild`)."""
    if kind == "list":
        return "[" + ", ".join(items) + "]"
    return "(" + ", ".join(items) + ("," if len(items) == 1 else "") + ")"


def spell(tree: tuple, texts: list[str], array: Callable[[tuple, list[str]], str]) -> str:
    """Source text that builds the structure from the leaves' source texts."""
    return rebuild(tree, texts.__getitem__, lambda shape, ks: array(shape, [texts[k] for k in ks]), spelt_sequence)


def leaves(tree: tuple) -> list[int]:
    """The tree's leaf numbers, in order."""
    if tree[0] == "leaf":
        return [tree[1]]
    return [k for t in tree[-1] for k in leaves(t)]


def arg_targets(tree: tuple) -> tuple[list[str], list[str]]:
    """The parameter list and the unpacking statements for a (nested) argument tree."""
    params, unpack = [], []

    def target(t):
        if t[0] == "leaf":
            return f"a{t[1]}"
        if t[0] == "array":
            raise SympileError("arguments cannot be Matrices or Arrays; pass a list of symbols")
        return "[" + ", ".join(target(x) for x in t[1]) + ("," if len(t[1]) == 1 else "") + "]"

    for k, t in enumerate(top_level(tree)):
        if t[0] == "leaf":
            params.append(f"a{t[1]}")
        else:
            params.append(f"g{k}")
            unpack.append(f"{target(t)} = g{k}")
    return params, unpack


def top_level(tree: tuple) -> list[tuple]:
    """The subtrees of the top-level arguments (a lone leaf is one argument)."""
    return list(tree[1]) if tree[0] in ("list", "tuple") else [tree]


def mismatch(tree: tuple, value: Any, leaves: list) -> str | None:
    """Why ``value`` does not have the nesting of ``tree`` (None if it has; its leaves are appended)."""
    if tree[0] == "leaf":
        leaves.append(value)
        return None
    try:
        items = list(value)
    except TypeError:
        return f"expected a sequence of {len(tree[1])} for a nested argument, got {type(value).__name__}"
    if len(items) != len(tree[1]):
        return f"expected a sequence of {len(tree[1])} for a nested argument, got {len(items)} items"
    for t, v in zip(tree[1], items):
        error = mismatch(t, v, leaves)
        if error:
            return error
    return None
