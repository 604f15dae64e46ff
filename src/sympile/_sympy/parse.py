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
import contextvars
import io
import math
import re
import tokenize
from collections.abc import Callable, Mapping
from typing import Any

import sympy as sp

from .._core.errors import SympileError


class ParseError(SympileError, ValueError):
    """Text that is not an expression sympile accepts."""


#: The limits on what text may ask for, each checked before SymPy computes anything, so that
#: any text is accepted or refused at once: SymPy evaluates exact arithmetic eagerly, and
#: ``9**9**9`` or ``factorial(10**9)`` would otherwise run for hours.
MAX_LENGTH = 1_000_000  # characters of text (for `load`: of all of a file's expressions)
MAX_NODES = 20_000  # numbers, names, operators and calls (for `load`: in all of a file's expressions),
#: weighted by SymPy's work on each: a call runs the function's evaluation rules and an exact number
#: is a new object whose assumptions SymPy deduces (0.5-1 ms and 0.1 ms, against 0.03 ms for a name),
#: so each counts as this many; 20,000 such units take about a second at worst (docs/discover.md).
CALL_WEIGHT = 10
NUMBER_WEIGHT = 4
MAX_DEPTH = 200  # nesting (a chain a + b + c or a * b / c is one level)
MAX_DIGITS = 1000  # decimal digits of an exact number the parser computes (numerator or denominator)
MAX_ROOTS = 1000  # exact roots (2**(1/3)) of numbers of at most MAX_DIGITS / 4 digits: SymPy factors them
MAX_FACTORIAL = 1000  # the largest exact argument of factorial, gamma, loggamma, polygamma, digamma

#: The exact roots a parse may still take (SymPy looks for factors of the number: milliseconds each).
_ROOTS_LEFT: contextvars.ContextVar[list] = contextvars.ContextVar("roots_left")


def _digits(r) -> float:
    """Decimal digits of an exact rational's larger part (its log10); 0 for 0, 1 and -1."""
    p, q = abs(int(r.p)), int(r.q)
    return max(math.log10(p) if p > 1 else 0.0, math.log10(q) if q > 1 else 0.0)


def _too_big(what: str, digits: float, fix: str = "write it as a float (1e300) or keep it symbolic"):
    raise ParseError(
        f"{what} would be an exact number of about {digits:.3g} digits; the parser computes exact "
        f"numbers of at most {MAX_DIGITS} digits: {fix}"
    )


def _coefficient_digits(e) -> int:
    """Digits of the exact numbers that multiplying ``e`` by a number multiplies: a number's own,
    a product's coefficient, a sum's terms' coefficients (a number times a sum distributes)."""
    if e.is_Rational:
        return _digits(e)
    if e.is_Mul:
        return _digits(e.args[0]) if e.args[0].is_Rational else 0
    if e.is_Add:
        return max((_coefficient_digits(t) for t in e.args), default=0)
    return 0


def _power_digits(e) -> float:
    """Digits of the exact numbers that raising ``e`` to an integer power raises with it:
    ``(3*x*sqrt(2))**n`` is ``3**n * x**n * 2**(n/2)``."""
    if e.is_Rational:
        return _digits(e)
    if e.is_Mul:
        return max((_power_digits(a) for a in e.args), default=0)
    if e.is_Pow and e.exp.is_Rational:
        d = _power_digits(e.base)
        return d * min(abs(float(e.exp.p)), 1e300) / float(e.exp.q) if d else 0.0
    return 0


def _checked_power(base, exp):
    """``base**exp``, refused when SymPy would compute an exact number past MAX_DIGITS."""
    _check_operands("raise to a power", (base, exp))
    if isinstance(exp, sp.Basic) and exp.is_Rational and isinstance(base, sp.Basic):
        d = _power_digits(base)
        if d and abs(int(exp.p)) * d > MAX_DIGITS:
            _too_big(f"{_clip(str(base), 30)}**{_clip(str(exp), 30)}", abs(int(exp.p)) * d)
        if exp.q != 1 and d:
            _take_root(base, exp, d)
        for f in sp.Mul.make_args(base):  # (x**a)**b is x**(a*b)
            if f.is_Pow and f.exp.is_Rational and _digits(f.exp) + _digits(exp) > MAX_DIGITS:
                _too_big(
                    f"the exponent of ({_clip(str(base), 30)})**{_clip(str(exp), 30)}", _digits(f.exp) + _digits(exp)
                )
    digits = _float_power_digits(base, exp)
    if digits > MAX_DIGITS:
        raise ParseError(
            f"{_clip(str(base), 30)}**{_clip(str(exp), 30)} would be a number of about {digits:.3g} digits "
            f"before (or after) its point, which SymPy computes at that precision; the parser computes numbers "
            f"of at most {MAX_DIGITS} digits (float64 holds 308): keep the power symbolic, or write its value"
        )
    return base**exp


def _float_power_digits(base, exp) -> float:
    """The decimal digits before the point of ``base**exp`` for numbers of which one is a float, 0 for
    others: SymPy computes such a power at a precision of about that many digits (``2.5**2.5**2.5**2.5``,
    about 10**3382, took 13 s)."""
    if not (isinstance(base, sp.Basic) and isinstance(exp, sp.Basic) and base.is_Number and exp.is_Number):
        return 0.0
    if not (base.is_Float or exp.is_Float) or base == 0 or not (base.is_finite and exp.is_finite):
        return 0.0
    try:
        b, e = abs(float(base)), float(exp)
    except (OverflowError, ValueError, TypeError):
        return math.inf
    if b == 0 or b == 1:
        return 0.0
    return abs(e * math.log10(b)) if math.isfinite(b) else math.inf


def _take_root(base, exp, digits: float) -> None:
    if digits > MAX_DIGITS / 4:
        raise ParseError(
            f"the exact root {_clip(str(base), 30)}**({exp}) of a {digits:.0f}-digit number is too costly to "
            f"take (the limit is {MAX_DIGITS // 4} digits); write the number as a float"
        )
    left = _ROOTS_LEFT.get(None)
    if left is not None:
        left[0] -= 1
        if left[0] < 0:
            raise ParseError(
                f"the expression takes more than {MAX_ROOTS} exact roots of numbers; write the numbers as floats"
            )


def _checked_product(factors):
    """``Mul(*factors)``, refused when the product of their exact numbers would pass MAX_DIGITS."""
    _check_operands("multiply", factors)
    coefficient = 0
    exponents: dict = {}
    for f in factors:
        coefficient += _coefficient_digits(f)
        for g in sp.Mul.make_args(f):  # x**a * x**b is x**(a + b)
            if g.is_Pow and g.exp.is_Rational:
                exponents[g.base] = exponents.get(g.base, 0) + _digits(g.exp)
    worst = max(coefficient, max(exponents.values(), default=0))
    if worst > MAX_DIGITS:
        _too_big("a product", worst)
    return sp.Mul(*factors)


def _checked_sum(terms):
    """``Add(*terms)``, refused when adding their exact numbers would pass MAX_DIGITS (adding
    fractions multiplies their denominators)."""
    _check_operands("add", terms)
    groups: dict = {}
    for t in terms:
        for u in sp.Add.make_args(t):
            c, rest = u.as_coeff_Mul()
            if c.is_Rational and (c.q != 1 or _digits(c) > 100):
                g = groups.setdefault(rest, [0, set(), 0])
                g[0] = max(g[0], _digits(sp.Integer(c.p)))
                g[1].add(int(c.q))
                g[2] += 1
    for numerator, denominators, n in groups.values():
        worst = numerator + sum(_digits(sp.Integer(q)) for q in denominators) + len(str(n))
        if worst > MAX_DIGITS:
            _too_big("a sum of fractions", worst)
    return sp.Add(*terms)


def _check_operands(doing: str, operands) -> None:
    for a in operands:
        if isinstance(a, tuple):
            raise ParseError(
                f"cannot {doing} a tuple {_clip(str(a), 40)}: parentheses with commas are only "
                "allowed as Piecewise's (value, condition) pairs"
            )
        if isinstance(a, sp.Basic) and not isinstance(a, sp.Expr):
            raise ParseError(
                f"cannot {doing} {_clip(str(a), 40)}: it is a condition (true or false), not a number; "
                f"for a step write Piecewise((1, {_clip(str(a), 40)}), (0, True)) or Heaviside(...)"
            )


def _negative(x):
    _check_operands("negate", (x,))
    return _checked_product((sp.S.NegativeOne, x))


def _square(x):
    return _checked_power(x, sp.Integer(2))


def _cube(x):
    return _checked_power(x, sp.Integer(3))


def _checked_factorial_like(name: str, args) -> None:
    """Exact arguments of factorial, gamma and their kin: SymPy evaluates them exactly."""
    for a in args:
        if isinstance(a, sp.Basic) and a.is_Rational and abs(a) > MAX_FACTORIAL:
            raise ParseError(
                f"{name} of {_clip(str(a), 30)} would be computed exactly (a number of millions of digits); "
                f"exact arguments of {name} may be at most {MAX_FACTORIAL}: write the argument as a float "
                f"({name}({float(a):.6g})) to get its floating-point value"
            )


def _checked_binomial(n, k):
    if all(isinstance(a, sp.Basic) and a.is_Integer for a in (n, k)) and n >= 0 and 0 <= k <= n:
        m = min(k, n - k)
        if m * _digits(n) > MAX_DIGITS:
            _too_big(
                f"binomial({_clip(str(n), 30)}, {_clip(str(k), 30)})",
                float(m * _digits(n)),
                "write an argument as a float",
            )
    elif any(isinstance(a, sp.Basic) and a.is_Rational for a in (n, k)):
        _checked_factorial_like("binomial", (n, k))
    return sp.binomial(n, k)


def _checked_exp(arg):
    # exp(c*log(a)) is a**c in SymPy
    for term in sp.Add.make_args(arg) if isinstance(arg, sp.Basic) else ():
        c, rest = term.as_coeff_Mul()
        for f in sp.Mul.make_args(rest):
            if isinstance(f, sp.log):
                _checked_power(f.args[0], c)
    return sp.exp(arg)


def _guarded(fn, check):
    def call(*args):
        check(args)
        return fn(*args)

    return call


#: The functions text may call: name -> SymPy function. Engines' spellings included.
FUNCTIONS: dict[str, Callable] = {
    **{
        name: getattr(sp, name)
        for name in (
            "sin cos tan cot sec csc asin acos atan acot asec acsc atan2 sinh cosh tanh coth sech csch "
            "asinh acosh atanh acoth asech acsch log Abs sign floor ceiling frac Mod Min Max "
            "Heaviside erf erfc erfinv sinc besselj bessely LambertW re im arg conjugate Piecewise "
            "UnevaluatedExpr Rational ITE And Or Not Xor"
        ).split()
    },
    **{
        name: _guarded(getattr(sp, name), lambda args, name=name: _checked_factorial_like(name, args))
        for name in ("gamma", "loggamma", "factorial", "polygamma", "digamma")
    },
    "binomial": _checked_binomial,
    "exp": _checked_exp,
    "abs": sp.Abs,
    "min": sp.Min,
    "max": sp.Max,
    "pow": _checked_power,
    "sqrt": lambda x: _checked_power(x, sp.S.Half),
    "cbrt": lambda x: _checked_power(x, sp.Rational(1, 3)),
    "square": _square,
    "cube": _cube,
    "arcsin": sp.asin,
    "arccos": sp.acos,
    "arctan": sp.atan,
    "arctan2": sp.atan2,
    "ln": sp.log,
    "neg": _negative,
    "inv": lambda x: _checked_power(x, sp.S.NegativeOne),
    "add": lambda x, y: _checked_sum((x, y)),
    "sub": lambda x, y: _checked_sum((x, _negative(y))),
    "mul": lambda x, y: _checked_product((x, y)),
    "div": lambda x, y: _checked_product((x, _checked_power(y, sp.S.NegativeOne))),
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

_CHAINS = {ast.Add: ast.Sub, ast.Sub: ast.Add, ast.Mult: ast.Div, ast.Div: ast.Mult}
_BINARY = {
    ast.Pow: _checked_power,
    ast.Mod: lambda a, b: sp.Mod(a, b),
    ast.BitAnd: lambda a, b: sp.And(a, b),
    ast.BitOr: lambda a, b: sp.Or(a, b),
}
_UNARY = {
    ast.USub: lambda a: _negative(a),
    ast.UAdd: lambda a: a,
    ast.Invert: lambda a: sp.Not(a),
    ast.Not: lambda a: sp.Not(a),
}
_COMPARE = {ast.Lt: sp.Lt, ast.LtE: sp.Le, ast.Gt: sp.Gt, ast.GtE: sp.Ge, ast.Eq: sp.Eq, ast.NotEq: sp.Ne}


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

    The work is bounded: text longer than `MAX_LENGTH` characters, with more than `MAX_NODES`
    nodes (a call weighing `CALL_WEIGHT`, an exact number `NUMBER_WEIGHT`) or nested deeper than
    `MAX_DEPTH`, and exact arithmetic whose result would pass `MAX_DIGITS` digits (``9**9**9``,
    ``factorial(10**9)``), are refused before SymPy computes them.

    Example:
        >>> parse_expr("a*exp(-b*t) + c^2")
        a*exp(-b*t) + c**2
        >>> parse_expr("__import__('os')")
        Traceback (most recent call last):
        ...
        sympile._sympy.parse.ParseError: the function __import__ is not allowed (at column 1); ...
    """
    return parse_many([text], symbols=symbols, strict_symbols=strict_symbols, functions=functions)[0]


def parse_many(
    texts: list[str],
    *,
    symbols: Mapping[str, Any] | None = None,
    strict_symbols: bool = False,
    functions: Mapping[str, Callable] | None = None,
) -> list:
    """`parse_expr` of each text, within one budget: the limits count all of them together."""
    total = 0
    for text in texts:
        if not isinstance(text, str):
            raise ParseError(f"expected text to parse, got {type(text).__name__}")
        total += len(text)
    if total > MAX_LENGTH:
        raise ParseError(f"the expression is too long ({total} characters; the limit is {MAX_LENGTH})")
    if len(texts) > MAX_NODES:  # each is a node at least
        raise ParseError(f"{len(texts)} expressions are too many to read at once (the limit is {MAX_NODES})")
    if _surely_too_large("\n".join(texts)):
        raise _too_large()
    fns = dict(FUNCTIONS)
    if functions:
        fns.update(functions)
    builder = _Builder(symbols or {}, strict_symbols, fns)
    token = _ROOTS_LEFT.set([MAX_ROOTS])
    try:
        return [builder.parse(text) for text in texts]
    finally:
        _ROOTS_LEFT.reset(token)


#: What is surely a node or more: a name (not ``and``/``or``: one node joins a chain of them), a
#: number, an operator.
_ROUGH_NODES = re.compile(
    r"[^\W\d]\w*|(?:\d[\d_]*\.?[\d_]*|\.\d[\d_]*)(?:[eE][-+]?\d[\d_]*)?[jJ]?"
    r"|\*\*|//|<=|>=|==|!=|[-+*/%^<>&|~]"
)


def _surely_too_large(text: str) -> bool:
    """Whether ``text`` has more than `MAX_NODES` names, numbers and operators, or more brackets or
    lines (tokens of Python's tokenizer, which takes seconds over a megabyte), by regular expressions
    alone: such a text is refused before it is tokenized or parsed."""
    if text.count("(") + text.count("[") + text.count("{") > MAX_NODES or text.count("\n") > MAX_NODES:
        return True
    n = 0
    for m in _ROUGH_NODES.finditer(text):
        if m.group() not in ("and", "or"):
            n += 1
            if n > MAX_NODES:
                return True
    return False


def _too_large() -> ParseError:
    return ParseError(
        f"the expression is too large (more than {MAX_NODES} numbers, names and operations, a call "
        f"counting as {CALL_WEIGHT} and an exact number as {NUMBER_WEIGHT})"
    )


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
    def __init__(self, symbols, strict, functions):
        self.symbols = dict(symbols)
        self.strict = strict
        self.functions = functions
        self.nodes = 0  # counted over every text this builder parses

    def parse(self, text: str):
        # x^2 is a power in mathematics and in engines' output (text holds no strings to spoil).
        text = text.replace("^", "**").strip()
        pieces = _split_sum(text) if len(text) > 5000 else [(1, text)]
        self.nodes += len(pieces) - 1  # the operators between the pieces, as `measure` counts a chain
        trees = []
        for sign, piece in pieces:
            try:
                tree = ast.parse(piece, mode="eval")
            except (SyntaxError, ValueError, RecursionError, MemoryError) as e:
                detail = getattr(e, "msg", None) or str(e) or type(e).__name__
                raise ParseError(f"cannot parse {_clip(text)!r}: {detail}") from None
            self.measure(tree.body)  # every piece's size and depth before anything is built
            trees.append((sign, tree.body))
        terms = [self.build(body) for _, body in trees]
        terms = [t if sign > 0 else _UNARY[ast.USub](t) for (sign, _), t in zip(trees, terms)]
        value = terms[0] if len(terms) == 1 else self.apply(None, lambda *t: _checked_sum(t), terms, "add")
        if not isinstance(value, sp.Basic):
            raise ParseError(
                f"{_clip(text)!r} is a tuple, not an expression: parentheses with commas are only allowed "
                "as Piecewise's (value, condition) pairs"
            )
        return value

    def fail(self, node, what: str):
        where = f" (at column {node.col_offset + 1})" if hasattr(node, "col_offset") else ""
        raise ParseError(
            f"{what}{where}; sympile accepts numbers, names, + - * / ** ^ %, comparisons and calls of "
            f"known functions (sin, exp, log, sqrt, ...)"
        )

    def measure(self, root) -> None:
        """Count the nodes and the nesting of a syntax tree, refusing it past the limits."""
        work = [(root, 1)]
        while work:
            node, depth = work.pop()
            if depth > MAX_DEPTH:
                raise ParseError(f"the expression is nested more than {MAX_DEPTH} levels deep")
            children = self.children(node)
            self.nodes += 1 + max(len(children) - 2, 0) * isinstance(node, ast.BinOp)
            if isinstance(node, ast.Call):
                self.nodes += CALL_WEIGHT - 1
            elif isinstance(node, ast.Constant) and type(node.value) is not bool:
                self.nodes += NUMBER_WEIGHT - 1
            if self.nodes > MAX_NODES:
                raise _too_large()
            work.extend((c, depth + 1) for c in children)

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

    def chain(self, node) -> tuple[list, list]:
        """The operands and operators of ``a + b - c`` (or ``a * b / c``), left to right: one
        n-ary operation, built at once (pairwise, SymPy would re-sort the sum at every term)."""
        kinds = (type(node.op), _CHAINS[type(node.op)])
        operands, ops = [], []
        while isinstance(node, ast.BinOp) and type(node.op) in kinds:
            operands.append(node.right)
            ops.append(type(node.op))
            node = node.left
        operands.append(node)
        return operands[::-1], ops[::-1]

    def children(self, node) -> list:
        if isinstance(node, ast.BinOp):
            return self.chain(node)[0] if type(node.op) in _CHAINS else [node.left, node.right]
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

    def apply(self, node, fn, args: list, what: str):
        """``fn(*args)``, with SymPy's and Python's errors said as a `ParseError`."""
        try:
            return fn(*args)
        except ParseError:
            raise
        except (TypeError, ValueError, AttributeError, IndexError, ArithmeticError, RecursionError) as e:
            _check_operands(what, args)  # a condition where a number belongs says so
            where = f" (at column {node.col_offset + 1})" if hasattr(node, "col_offset") else ""
            reason = "division by zero" if isinstance(e, ZeroDivisionError) else str(e) or type(e).__name__
            raise ParseError(f"cannot {what} {_clip(', '.join(map(str, args)), 60)}{where}: {reason}") from None

    def make(self, node, args: list):
        if isinstance(node, ast.Constant):
            v = node.value
            if type(v) is bool:
                return sp.true if v else sp.false
            if type(v) is int:
                if v and math.log10(abs(v)) > MAX_DIGITS:
                    _too_big("an integer literal", math.log10(abs(v)), "write it as a float (1e300)")
                return sp.Integer(v)
            if type(v) is float:
                return sp.Float(v)
            if type(v) is complex:
                return sp.Float(v.real) + sp.I * sp.Float(v.imag) if v.real else sp.I * sp.Float(v.imag)
            self.fail(node, f"the constant {v!r} is not a number")
        if isinstance(node, ast.Name):
            return self.name(node)
        if isinstance(node, ast.BinOp) and type(node.op) in _CHAINS:
            _, ops = self.chain(node)
            if type(node.op) in (ast.Add, ast.Sub):
                _check_operands("add", args)
                terms = [args[0]] + [a if op is ast.Add else _UNARY[ast.USub](a) for a, op in zip(args[1:], ops)]
                return self.apply(node, lambda *t: _checked_sum(t), terms, "add")
            _check_operands("multiply", args)
            factors = [args[0]] + [
                a if op is ast.Mult else _checked_power(a, sp.S.NegativeOne) for a, op in zip(args[1:], ops)
            ]
            return self.apply(node, lambda *f: _checked_product(f), factors, "multiply")
        if isinstance(node, ast.BinOp):
            op = _BINARY.get(type(node.op))
            if op is None:
                self.fail(node, f"the operator {type(node.op).__name__} is not allowed")
            return self.apply(node, op, args, f"apply {type(node.op).__name__} to")
        if isinstance(node, ast.UnaryOp):
            op = _UNARY.get(type(node.op))
            if op is None:
                self.fail(node, f"the operator {type(node.op).__name__} is not allowed")
            return self.apply(node, op, args, f"apply {type(node.op).__name__} to")
        if isinstance(node, ast.BoolOp):
            return self.apply(node, sp.And if isinstance(node.op, ast.And) else sp.Or, args, "combine conditions")
        if isinstance(node, ast.Compare):
            op = _COMPARE.get(type(node.ops[0]))
            if op is None:
                self.fail(node, f"the comparison {type(node.ops[0]).__name__} is not allowed")
            _check_operands("compare", args)
            return self.apply(node, op, args, "compare")
        if isinstance(node, ast.Call):
            name = node.func.id
            if name != "Piecewise" and any(isinstance(a, tuple) for a in args):
                _check_operands(f"apply {name} to", args)
            return self.apply(node, self.functions[name], args, f"apply {name} to")
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
