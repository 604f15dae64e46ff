"""`save` and `load`: expressions and modules as data (JSON), never as pickles.

A saved file is one JSON document: the expressions as text (symbols replaced by placeholders
``s0, s1, ...``, Floats written exactly), the symbols' names and assumptions, and for a module
its kind, positional symbols and dtype. Loading parses the text with the restricted parser
(`sympile._sympy.parse`), so a damaged or hostile file fails with a clear error and runs nothing.
"""

from __future__ import annotations

import json
import math
import os
import stat
from collections.abc import Mapping, Sequence
from typing import Any

import sympy as sp
from sympy.printing.str import StrPrinter

from .._core.errors import SympileError
from .._sympy.parse import MAX_NODES, ParseError, parse_many

FORMAT = "sympile"
VERSION = 1
#: The largest file `load` reads (the parser's limits bound the expressions in it).
MAX_BYTES = 8 * 1024 * 1024
#: The assumptions a saved symbol may carry.
ASSUMPTIONS = ("real", "positive", "negative", "nonnegative", "nonpositive", "integer", "finite", "complex")


class LoadError(SympileError, ValueError):
    """A file that is not a valid sympile save (damaged, foreign or hostile)."""


class _ExactPrinter(StrPrinter):
    """Floats exactly (``repr`` of the double), UnevaluatedExpr kept, symbols as placeholders."""

    def __init__(self, names: Mapping):
        super().__init__({"full_prec": True})
        self.names = names

    def _print_Float(self, expr):
        v = float(expr)
        if math.isinf(v):
            return "oo" if v > 0 else "(-oo)"
        if math.isnan(v):
            return "nan"
        return repr(v) if v >= 0 else f"({v!r})"

    # Products and powers are written as they are built, argument by argument: SymPy's own
    # printing of Mul(1/3, 1/(x**2 + 1)) as 1/(3*(x**2 + 1)) reads back as 1/(3*x**2 + 3).
    def _operand(self, arg, in_product: bool = False) -> str:
        text = self._print(arg)
        atomic = arg.is_Atom and not arg.is_Rational or arg.is_Integer or arg.is_Function
        if (atomic or (in_product and arg.is_Pow)) and not text.startswith("-"):
            return text
        return f"({text})"

    def _print_Mul(self, expr):
        return "*".join(self._operand(a, True) for a in expr.args)

    def _print_Pow(self, expr):
        return f"{self._operand(expr.base)}**{self._operand(expr.exp)}"

    def _print_UnevaluatedExpr(self, expr):
        return f"UnevaluatedExpr({self._print(expr.args[0])})"

    def _print_Symbol(self, expr):
        return self.names[expr]


def _dump_expressions(exprs: list, also: Sequence = ()) -> tuple[list[str], list[dict]]:
    """The expressions as text and the table of their symbols, with ``also`` (a module's
    positional and time symbols, which need not occur in the expressions) first."""
    symbols: dict = {}
    for s in also:
        symbols.setdefault(s, f"s{len(symbols)}")
    for e in exprs:
        for s in sorted(e.free_symbols, key=str):
            if isinstance(s, sp.Symbol):
                symbols.setdefault(s, f"s{len(symbols)}")
    printer = _ExactPrinter(symbols)
    texts = [printer.doprint(e) for e in exprs]
    table = []
    for s, placeholder in symbols.items():
        assumptions = {k: v for k, v in s.assumptions0.items() if k in ASSUMPTIONS and v is not None}
        table.append({"name": s.name, "placeholder": placeholder, "assumptions": assumptions})
    return texts, table


def save(obj: Any, path: str | os.PathLike) -> None:
    """Save an expression, a list of them, or a sympile module to ``path`` as JSON.

    Modules (``sympile.torch.SymPyModule``, ``sympile.jax.SymbolicModule``) are saved with
    their current constants; ``extra_funcs`` cannot be saved (they are code): pass them again
    to `load`.

    Example:
        >>> import sympy as sp, tempfile, os
        >>> x = sp.Symbol("x", positive=True)
        >>> path = os.path.join(tempfile.mkdtemp(), "model.json")
        >>> save(0.1 * sp.exp(-x) + sp.pi, path)
        >>> load(path)
        pi + 0.1*exp(-x)
    """
    doc: dict[str, Any] = {"format": FORMAT, "version": VERSION}
    kind, exprs, extra = _describe(obj)
    named = [*extra.get("positional", ()), *([extra["time"]] if "time" in extra else [])]
    texts, symbols = _dump_expressions(exprs, named)
    placeholders = dict(zip(named, (s["placeholder"] for s in symbols)))
    for key in ("positional", "time"):
        if key in extra:
            v = extra[key]
            extra[key] = placeholders[v] if isinstance(v, sp.Symbol) else [placeholders[p] for p in v]
    doc.update(kind=kind, expressions=texts, symbols=symbols, **extra)
    tmp = f"{os.fspath(path)}.tmp{os.getpid()}"
    with open(tmp, "w", encoding="utf-8") as f:
        json.dump(doc, f, indent=1)
    os.replace(tmp, path)


def _describe(obj) -> tuple[str, list, dict]:
    cls = type(obj).__name__
    module = type(obj).__module__
    if isinstance(obj, sp.Basic):
        return "expression", [obj], {}
    if isinstance(obj, (list, tuple)) and all(isinstance(e, sp.Basic) for e in obj):
        return "expressions", list(obj), {}
    if module.startswith("sympile") and cls in ("SymPyModule", "SymbolicModule"):
        exprs = obj.sympy()
        if not isinstance(exprs, list):
            raise SympileError("only modules whose expressions are a flat list can be saved")
        if getattr(obj, "extra_funcs", None):
            pass  # the functions' names are in the text; their code must be given to load()
        extra: dict[str, Any] = {}
        program = getattr(obj, "program", None)  # a SymbolicModule keeps them in its static part
        symbols = getattr(obj, "symbols", None) or getattr(program, "symbols", None)
        if symbols:
            extra["positional"] = list(symbols)
        time = getattr(program, "time", None)
        if time is not None:
            extra["time"] = time
        dtype = _dtype_name(obj)
        if dtype:
            extra["dtype"] = dtype
        return ("torch" if cls == "SymPyModule" else "jax"), exprs, extra
    raise SympileError(f"cannot save a {cls}: save a SymPy expression, a list of them, or a sympile module")


def _dtype_name(module) -> str | None:
    for attr in ("dtype",):
        d = getattr(module, attr, None)
        if d is not None:
            return str(d).replace("torch.", "")
    try:
        p = next(iter(module.parameters()))
        return str(p.dtype).replace("torch.", "")
    except (AttributeError, StopIteration, TypeError):
        return None


def load(path: str | os.PathLike, *, extra_funcs: Mapping | None = None) -> Any:
    """Load what `save` wrote: the expression(s), or the module rebuilt from them.

    The expressions are read with the restricted parser (`sympile.parse_expr`) within one
    budget, so a file is read or refused at once: see the limits in ``docs/discover.md``.

    Raises:
        LoadError: the file is damaged, not a sympile save, too large, not a regular file, or
            holds text the parser refuses; nothing in it is ever executed.
    """
    doc = _json_document(path)
    if not isinstance(doc, dict) or doc.get("format") != FORMAT:
        raise LoadError(f"{os.fspath(path)!r} is not a sympile save")
    if doc.get("version") != VERSION:
        raise LoadError(f"{os.fspath(path)!r} is format version {doc.get('version')!r}; this sympile reads {VERSION}")
    kind = doc.get("kind")
    texts = _field(doc, "expressions", list)
    table = _field(doc, "symbols", list)
    symbols = {}
    if len(table) > MAX_NODES:
        raise LoadError(f"the save lists {len(table)} symbols; a sympile save holds at most {MAX_NODES}")
    for entry in table:
        if not isinstance(entry, dict):
            raise LoadError("a symbol entry is not an object")
        name = _field(entry, "name", str)
        placeholder = _field(entry, "placeholder", str)
        assumptions = entry.get("assumptions", {})
        if not isinstance(assumptions, dict) or any(
            k not in ASSUMPTIONS or not isinstance(v, bool) for k, v in assumptions.items()
        ):
            raise LoadError(f"symbol {name!r} has invalid assumptions")
        symbols[placeholder] = sp.Symbol(name, **assumptions)
    functions = {}
    for key in extra_funcs or {}:
        name = key if isinstance(key, str) else getattr(key, "__name__", str(key))
        functions[name] = sp.Function(name) if isinstance(key, str) else key
    if not all(isinstance(text, str) for text in texts):
        raise LoadError("an expression is not text")
    try:
        exprs = parse_many(texts, symbols=symbols, strict_symbols=True, functions=functions)
    except ParseError as e:
        raise LoadError(f"{os.fspath(path)!r} holds an expression sympile will not read: {e}") from None
    if kind == "expression":
        if len(exprs) != 1:
            raise LoadError("an 'expression' save holds exactly one expression")
        return exprs[0]
    if kind == "expressions":
        return exprs
    positional = doc.get("positional")
    if positional is not None:
        if not isinstance(positional, list) or any(p not in symbols for p in positional):
            raise LoadError("the positional symbols are not among the saved symbols")
        positional = [symbols[p] for p in positional]
    if kind == "torch":
        from .torch_module import SymPyModule

        module = SymPyModule(expressions=exprs, symbols=positional, extra_funcs=extra_funcs)
        dtype = doc.get("dtype")
        if dtype is not None:
            import torch

            if dtype not in ("float16", "bfloat16", "float32", "float64", "complex64", "complex128"):
                raise LoadError(f"unknown dtype {dtype!r}")
            module = module.to(getattr(torch, dtype))
        return module
    if kind == "jax":
        from .jax_module import SymbolicModule

        kwargs = {"symbols": positional} if positional is not None else {}
        time = doc.get("time")
        if time is not None:
            if time not in symbols:
                raise LoadError("the time symbol is not among the saved symbols")
            kwargs["time"] = symbols[time]
        return SymbolicModule(exprs, extra_funcs=extra_funcs, **kwargs)
    raise LoadError(f"unknown kind {kind!r} in {os.fspath(path)!r}")


def _json_document(path) -> Any:
    """The JSON document in the file at ``path``: a regular file of at most `MAX_BYTES` bytes
    (a FIFO, device or directory is refused without reading it)."""
    if not isinstance(path, (str, bytes, os.PathLike)):
        raise LoadError(f"load takes the path of a file written by sympile.save, got {type(path).__name__}")
    name = os.fspath(path)
    try:
        mode = os.stat(path).st_mode
        if not stat.S_ISREG(mode):
            raise LoadError(_not_regular(name, mode))
        # O_NONBLOCK: were the file swapped for a FIFO since, opening it would wait for a writer
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0))
        with os.fdopen(fd, "rb") as f:
            mode = os.fstat(f.fileno()).st_mode
            if not stat.S_ISREG(mode):
                raise LoadError(_not_regular(name, mode))
            data = f.read(MAX_BYTES + 1)
    except OSError as e:
        raise LoadError(f"cannot read {name!r}: {e.strerror or e}") from None
    if len(data) > MAX_BYTES:
        raise LoadError(f"{name!r} is larger than a sympile save may be ({MAX_BYTES} bytes)")
    try:
        return json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as e:
        raise LoadError(f"{name!r} is not a sympile save (not valid JSON: {e})") from None


def _not_regular(name: str, mode: int) -> str:
    kind = "a directory" if stat.S_ISDIR(mode) else "not a regular file (a FIFO, device or socket)"
    return f"{name!r} is {kind}; load takes the path of a file written by sympile.save"


def _field(doc: dict, key: str, kind: type):
    value = doc.get(key)
    if not isinstance(value, kind):
        raise LoadError(f"the save's {key!r} is missing or not a {kind.__name__}")
    return value
