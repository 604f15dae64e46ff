"""A restricted parser: text -> SymPy, from an allow-list, never through ``eval``/``sympify``.

Text from files, the command line and symbolic-regression engines is parsed with Python's
own ``ast`` module (which runs nothing) and then built into SymPy objects node by node: only
numbers, names, arithmetic (``+ - * / ** ^ %``), comparisons, calls of allow-listed
functions and tuples (for ``Piecewise``) are accepted. Attribute access, subscripts,
lambdas, keywords, strings, comprehensions and calls of anything else are refused with a
`ParseError` that says what was found and where.
"""

from __future__ import annotations

import ast
import io
import tokenize
from collections.abc import Callable, Mapping
from typing import Any

import sympy as sp

from .._core.errors import SympileError


class ParseError(SympileError, ValueError):
    """Text that is not an expression sympile accepts."""


def _square(x):
    return x**2


def _cube(x):
    return x**3


#: The functions text may call: name -> SymPy function. Engines' spellings included.
FUNCTIONS: dict[str, Callable] = {
    **{
        name: getattr(sp, name)
        for name in (
            "sin cos tan cot sec csc asin acos atan acot asec acsc atan2 sinh cosh tanh coth sech csch "
            "asinh acosh atanh acoth asech acsch exp log sqrt cbrt Abs sign floor ceiling frac Mod Min Max "
            "Heaviside erf erfc erfinv gamma loggamma factorial binomial polygamma digamma sinc besselj "
            "bessely LambertW re im arg conjugate Piecewise UnevaluatedExpr Rational ITE And Or Not Xor"
        ).split()
    },
    "abs": sp.Abs,
    "min": sp.Min,
    "max": sp.Max,
    "pow": sp.Pow,
    "square": _square,
    "cube": _cube,
    "arcsin": sp.asin,
    "arccos": sp.acos,
    "arctan": sp.atan,
    "arctan2": sp.atan2,
    "ln": sp.log,
    "neg": lambda x: -x,
    "inv": lambda x: 1 / x,
    "add": lambda x, y: x + y,
    "sub": lambda x, y: x - y,
    "mul": lambda x, y: x * y,
    "div": lambda x, y: x / y,
}

#: Names that stand for constants rather than symbols.
CONSTANTS: dict[str, Any] = {
    "pi": sp.pi,
    "E": sp.E,
    "I": sp.I,
    "oo": sp.oo,
    "inf": sp.oo,
    "nan": sp.nan,
    "EulerGamma": sp.EulerGamma,
    "GoldenRatio": sp.GoldenRatio,
    "Catalan": sp.Catalan,
    "TribonacciConstant": sp.TribonacciConstant,
    "True": sp.true,
    "False": sp.false,
}

_BINARY = {
    ast.Add: lambda a, b: a + b,
    ast.Sub: lambda a, b: a - b,
    ast.Mult: lambda a, b: a * b,
    ast.Div: lambda a, b: a / b,
    ast.Pow: lambda a, b: a**b,
    ast.Mod: lambda a, b: sp.Mod(a, b),
    ast.BitAnd: lambda a, b: sp.And(a, b),
    ast.BitOr: lambda a, b: sp.Or(a, b),
}
_UNARY = {ast.USub: lambda a: -a, ast.UAdd: lambda a: a, ast.Invert: lambda a: sp.Not(a), ast.Not: lambda a: sp.Not(a)}
_COMPARE = {ast.Lt: sp.Lt, ast.LtE: sp.Le, ast.Gt: sp.Gt, ast.GtE: sp.Ge, ast.Eq: sp.Eq, ast.NotEq: sp.Ne}

MAX_LENGTH = 2_000_000


def parse_expr(
    text: str,
    *,
    symbols: Mapping[str, Any] | None = None,
    strict_symbols: bool = False,
    functions: Mapping[str, Callable] | None = None,
) -> sp.Basic:
    """Parse ``text`` into a SymPy expression, accepting only an allow-list of constructs.

    Args:
        text: Python-style arithmetic (``^`` is also a power).
        symbols: names -> the SymPy objects they stand for (default: a ``Symbol`` per name).
        strict_symbols: refuse names not in ``symbols`` (and not constants).
        functions: more callable names (name -> SymPy function), e.g. for ``extra_funcs``.

    Example:
        >>> parse_expr("a*exp(-b*t) + c^2")
        a*exp(-b*t) + c**2
        >>> parse_expr("__import__('os')")
        Traceback (most recent call last):
        ...
        sympile._sympy.parse.ParseError: the function __import__ is not allowed (at column 1); ...
    """
    if not isinstance(text, str):
        raise ParseError(f"expected text to parse, got {type(text).__name__}")
    if len(text) > MAX_LENGTH:
        raise ParseError(f"the expression is too long ({len(text)} characters; the limit is {MAX_LENGTH})")
    # x^2 is a power in mathematics and in engines' output (text holds no strings to spoil).
    text = text.replace("^", "**").strip()
    fns = dict(FUNCTIONS)
    if functions:
        fns.update(functions)
    builder = _Builder(symbols or {}, strict_symbols, fns, text)
    pieces = _split_sum(text) if len(text) > 5000 else [(1, text)]
    terms = []
    for sign, piece in pieces:
        try:
            tree = ast.parse(piece, mode="eval")
        except (SyntaxError, ValueError, RecursionError, MemoryError) as e:
            detail = getattr(e, "msg", None) or str(e) or type(e).__name__
            raise ParseError(f"cannot parse {_clip(text)!r}: {detail}") from None
        value = builder.build(tree.body)
        terms.append(value if sign > 0 else -value)
    return terms[0] if len(terms) == 1 else sp.Add(*terms)


def _split_sum(text: str) -> list[tuple[int, str]]:
    """A long sum split at its top-level ``+``/``-``: Python's parser nests ``a + b + ...``
    one level per term and gives up at a few thousand."""
    try:
        tokens = list(tokenize.generate_tokens(io.StringIO(text).readline))
    except (tokenize.TokenError, SyntaxError, IndentationError):
        return [(1, text)]
    lines = text.splitlines(keepends=True)
    offsets = [0]
    for line in lines:
        offsets.append(offsets[-1] + len(line))
    pieces, depth, start, sign, prev = [], 0, 0, 1, None
    for tok in tokens:
        if tok.type == tokenize.OP and tok.string in "([{":
            depth += 1
        elif tok.type == tokenize.OP and tok.string in ")]}":
            depth -= 1
        elif (
            depth == 0
            and tok.type == tokenize.OP
            and tok.string in "+-"
            and prev is not None
            and (prev.type in (tokenize.NAME, tokenize.NUMBER) or prev.string in ")]}")
        ):
            at = offsets[tok.start[0] - 1] + tok.start[1]
            pieces.append((sign, text[start:at]))
            sign, start = (1 if tok.string == "+" else -1), at + 1
        if tok.type not in (tokenize.NL, tokenize.NEWLINE, tokenize.COMMENT, tokenize.ENDMARKER, tokenize.INDENT):
            prev = tok
    pieces.append((sign, text[start:]))
    return [(s, p.strip()) for s, p in pieces if p.strip()] or [(1, text)]


def _clip(text: str, n: int = 60) -> str:
    return text if len(text) <= n else text[: n - 3] + "..."


class _Builder:
    def __init__(self, symbols, strict, functions, text):
        self.symbols = dict(symbols)
        self.strict = strict
        self.functions = functions
        self.text = text

    def fail(self, node, what: str):
        where = f" (at column {node.col_offset + 1})" if hasattr(node, "col_offset") else ""
        raise ParseError(
            f"{what}{where}; sympile accepts numbers, names, + - * / ** ^ %, comparisons and calls of "
            f"known functions (sin, exp, log, sqrt, ...)"
        )

    def build(self, root):
        # An explicit stack: a long sum is a deeply nested tree.
        work: list = [(root, False)]
        out: list = []
        while work:
            node, expanded = work.pop()
            children = self.children(node)
            if not expanded and children:
                work.append((node, True))
                work.extend((c, False) for c in reversed(children))
                continue
            values = out[len(out) - len(children) :] if children else []
            if children:
                del out[len(out) - len(children) :]
            out.append(self.make(node, values))
        return out[0]

    def children(self, node) -> list:
        if isinstance(node, ast.BinOp):
            return [node.left, node.right]
        if isinstance(node, ast.UnaryOp):
            return [node.operand]
        if isinstance(node, ast.BoolOp):
            return list(node.values)
        if isinstance(node, ast.Compare):
            if len(node.ops) != 1:
                self.fail(node, "chained comparisons are not allowed")
            return [node.left, node.comparators[0]]
        if isinstance(node, ast.Call):
            if not isinstance(node.func, ast.Name):
                self.fail(node, "only plain function names may be called (no attributes or expressions)")
            name = node.func.id
            if name not in self.functions or name.startswith("_"):
                self.fail(node, f"the function {name} is not allowed")
            if node.keywords:
                self.fail(node, "keyword arguments are not allowed")
            return list(node.args)
        if isinstance(node, ast.Tuple):
            return list(node.elts)
        return []

    def make(self, node, args: list):
        if isinstance(node, ast.Constant):
            v = node.value
            if type(v) is bool:
                return sp.true if v else sp.false
            if type(v) is int:
                return sp.Integer(v)
            if type(v) is float:
                return sp.Float(v)
            if type(v) is complex:
                return sp.Float(v.real) + sp.I * sp.Float(v.imag) if v.real else sp.I * sp.Float(v.imag)
            self.fail(node, f"the constant {v!r} is not a number")
        if isinstance(node, ast.Name):
            return self.name(node)
        if isinstance(node, ast.BinOp):
            op = _BINARY.get(type(node.op))
            if op is None:
                self.fail(node, f"the operator {type(node.op).__name__} is not allowed")
            return op(*args)
        if isinstance(node, ast.UnaryOp):
            op = _UNARY.get(type(node.op))
            if op is None:
                self.fail(node, f"the operator {type(node.op).__name__} is not allowed")
            return op(*args)
        if isinstance(node, ast.BoolOp):
            return (sp.And if isinstance(node.op, ast.And) else sp.Or)(*args)
        if isinstance(node, ast.Compare):
            op = _COMPARE.get(type(node.ops[0]))
            if op is None:
                self.fail(node, f"the comparison {type(node.ops[0]).__name__} is not allowed")
            return op(*args)
        if isinstance(node, ast.Call):
            name = node.func.id
            try:
                return self.functions[name](*args)
            except (TypeError, ValueError) as e:
                raise ParseError(f"cannot apply {name} to {len(args)} argument(s): {e}") from None
        if isinstance(node, ast.Tuple):
            return tuple(args)
        self.fail(node, f"{type(node).__name__} is not allowed")

    def name(self, node):
        name = node.id
        if name in self.symbols:
            return self.symbols[name]
        if name in CONSTANTS:
            return CONSTANTS[name]
        if name.startswith("__"):
            self.fail(node, f"the name {name} is not allowed")
        if name in self.functions:
            self.fail(node, f"{name} is a function: call it, as in {name}(x)")
        if self.strict:
            known = ", ".join(sorted(self.symbols)) or "none"
            self.fail(node, f"unknown name {name} (the known names are: {known})")
        return sp.Symbol(name)
