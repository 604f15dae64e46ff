"""`ufuncify`: SymPy's ``ufuncify`` calling convention, compiled by the C backend.

SymPy's version writes C, then builds a NumPy extension with the platform's Python build
tools on every call; this one goes through the graph (shared subexpressions, correctly
rounded constants, libm special functions), compiles once per machine into the on-disk
cache, and keeps the ufunc's manners: broadcasting, ``out=``, one array per output.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np
import sympy as sp

from .._core.errors import ArgumentError, SympileError
from .._core.graph import Graph, paused_gc
from .._sympy.lower import lower
from .._sympy.raising import to_sympy


def ufuncify(
    args: Any,
    expr: Any,
    language: str | None = None,
    backend: str = "numpy",
    tempdir: str | None = None,
    flags: Iterable[str] | None = None,
    verbose: bool = False,
    helpers: Any = None,
    **kwargs: Any,
) -> Ufunc:
    """Compile an elementwise function of NumPy arrays, like `sympy.utilities.autowrap.ufuncify`.

    Args:
        args: a symbol, or an iterable of symbols: the arguments, in order.
        expr: an expression, or a list/tuple of them (one output each).
        language: ``None``, ``"C"`` or ``"C99"``: sympile writes C99.
        backend: SymPy's wrapper choice (``"numpy"``, ``"cython"``, ``"f2py"``); every one
            gives the same compiled kernel here.
        tempdir: if given, the generated C source is also written there.
        flags, verbose, kwargs: accepted for drop-in use and ignored: sympile chooses the
            compiler flags (``-O3``, vector math, OpenMP) itself.
        helpers: ``(name, expr, args)`` triples: ``Function(name)`` in ``expr`` stands for
            ``expr`` of ``args``, as in SymPy.

    Returns:
        A `Ufunc`: call it with arrays (or numbers) that broadcast together; it returns one
        array per output (a tuple when there are several), float32 for float32 inputs and
        float64 otherwise, and takes ``out=`` (an array, or a tuple of arrays, one per
        output) and ``threads=``.

    Example:
        >>> import numpy as np, sympy as sp
        >>> x, y = sp.symbols("x y")
        >>> f = ufuncify((x, y), y + x**2)
        >>> f([1, 2, 3], 2)
        array([ 3.,  6., 11.])
        >>> f(np.arange(5), 3)
        array([ 3.,  4.,  7., 12., 19.])
    """
    if language is not None and str(language).upper() not in ("C", "C99"):
        raise SympileError(f"sympile's ufuncify writes C99, not {language!r}; leave language unset or use 'C'")
    if not isinstance(backend, str) or backend.lower() not in ("numpy", "cython", "f2py"):
        raise SympileError(f"ufuncify's backend must be 'numpy', 'cython' or 'f2py', not {backend!r}")
    symbols = (args,) if isinstance(args, sp.Basic) else tuple(args)
    exprs = list(expr) if isinstance(expr, (list, tuple)) else [expr]
    if not exprs:
        raise SympileError("ufuncify needs at least one expression")
    for name, body, params in helpers or ():
        stands_for = sp.Lambda(tuple(params), body)
        exprs = [e.replace(sp.Function(name), stands_for) if isinstance(e, sp.Basic) else e for e in exprs]
    with paused_gc():
        graph = lower(exprs, symbols)
    u = Ufunc(graph)
    if tempdir is not None:
        from pathlib import Path

        Path(tempdir).mkdir(parents=True, exist_ok=True)
        (Path(tempdir) / "sympile_ufunc.c").write_text(u.source)
    return u


class Ufunc:
    """A compiled elementwise function with NumPy's ufunc manners (see `ufuncify`).

    Attributes: ``nin``, ``nout``, ``source`` (the C code), ``graph``, ``args`` and
    ``exprs`` (raised back to SymPy). It pickles as its graph.
    """

    __slots__ = ("graph", "kernel", "nin", "nout", "_exprs")

    def __init__(self, graph: Graph):
        from .._backends.c.backend import CKernel  # the C backend loads on first use, as every backend does

        self.graph = graph
        self.kernel = CKernel(graph)
        self.nin = len(graph.inputs)
        self.nout = len(graph.outputs)
        self._exprs = None

    @property
    def nargs(self) -> int:
        return self.nin + self.nout

    @property
    def source(self) -> str:
        return self.kernel.source

    @property
    def args(self) -> tuple:
        return tuple(self.graph.inputs)

    @property
    def exprs(self) -> list:
        if self._exprs is None:
            self._exprs = to_sympy(self.graph)
        return self._exprs

    def __repr__(self) -> str:
        return f"<sympile ufunc of ({', '.join(map(str, self.args))}): {self.nin} in, {self.nout} out>"

    def __reduce__(self):
        return (Ufunc, (self.graph,))

    def __call__(self, *args, out=None, threads=None):
        if len(args) != self.nin:
            raise ArgumentError(f"this ufunc takes {self.nin} argument(s), but {len(args)} were given")
        outs = self.kernel.eval(args, None, threads)
        results = [outs[k] != 0 if b else outs[k] for k, b in enumerate(self.kernel.boolean)]
        if out is not None:
            targets = out if isinstance(out, tuple) else (out,)
            if len(targets) != self.nout:
                raise ArgumentError(f"out must hold {self.nout} array(s), one per output; got {len(targets)}")
            for target, value in zip(targets, results):
                if not isinstance(target, np.ndarray):
                    raise ArgumentError(f"out must be NumPy arrays, got {type(target).__name__}")
                np.copyto(target, value, casting="same_kind")
            return targets[0] if self.nout == 1 else tuple(targets)
        results = [r[()] if r.ndim == 0 else r for r in results]
        return results[0] if self.nout == 1 else tuple(results)
