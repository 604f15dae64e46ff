"""The derivative of an object array of SymPy entries, by graph AD (`SymbolicArray.diff`).

The entries are lowered into one graph, differentiated there (linear in their size, no
expression swell) and raised back to SymPy; `sympy.diff` is never called.
"""

from __future__ import annotations

import numpy as np
import sympy as sp

from .._core.errors import SympileError
from .._core.graph import Builder, paused_gc
from .._sympy.lower import lower
from .._sympy.raising import to_sympy
from .._transforms.ad import jacobian_nodes
from .entries import frozen


def input_atoms(entries) -> list:
    """The free symbols (and applied undefined functions) of the entries, in a stable order."""
    found: set = set()
    for e in entries:
        if isinstance(e, sp.Basic):
            found |= e.free_symbols
            found |= {a for a in e.atoms(sp.Function) if isinstance(a, sp.core.function.AppliedUndef)}
    return sorted(found, key=sp.default_sort_key)


def differentiate(data: np.ndarray, wrt: np.ndarray) -> np.ndarray:
    """The derivative of the entries ``data`` by the symbols ``wrt`` (object arrays).

    SymPy's array convention: the result has shape ``wrt.shape + data.shape``.
    """
    wrt_entries = wrt.ravel().tolist()
    for w in wrt_entries:
        if not (w.is_Symbol or isinstance(w, sp.core.function.AppliedUndef)):
            raise SympileError(f"diff: can only differentiate by symbols, not {w}")
    if len(set(wrt_entries)) != len(wrt_entries):
        raise SympileError("diff: the variables repeat a symbol")
    entries = data.ravel().tolist()
    others = [s for s in input_atoms(entries) if s not in set(wrt_entries)]
    with paused_gc():
        graph = lower(entries, wrt_entries + others)
        b = Builder(graph)
        xs = [b.node("input", (), k) for k in range(len(wrt_entries))]
        rows = jacobian_nodes(b, list(graph.outputs), xs)
        outs = [rows[i][j] for j in range(len(xs)) for i in range(len(entries))]
        raised = to_sympy(b.graph(outs, graph.inputs).pruned())
    out = np.empty(len(raised), dtype=object)
    out[:] = raised
    return frozen(out.reshape(wrt.shape + data.shape))


__all__ = ["differentiate", "input_atoms"]
