"""Lowering: SymPy expressions -> `Graph`.

The walk is iterative (an explicit stack, post-order over ``expr.args``), so neither a
5,000-deep nesting nor a 100,000-term sum comes near Python's recursion limit. Nodes are
shared through the builder's hash-consing, and a float-free subexpression that SymPy
holds once is lowered once.

Floats are either literals (``floats="literal"``, for plain functions) or, for
trainable modules, one parameter slot per *occurrence* (``floats="params"``): slots are
numbered in the order of ``sympy.preorder_traversal`` (depth-first, ``expr.args``
order), and a Float wrapped in ``UnevaluatedExpr`` becomes a buffer slot instead.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from fractions import Fraction
from typing import Any

import sympy as sp
from mpmath.libmp import to_float
from sympy.core.function import AppliedUndef
from sympy.functions.elementary.piecewise import ExprCondPair

from .._core.constants import NAMED_CONSTANTS
from .._core.errors import MissingInputError, SympileError, UnsupportedFunctionError
from .._core.graph import Builder, Graph
from .._core.ops import OPS, SYMPY_TO_OP


def lower(
    outputs: Sequence[Any],
    inputs: Sequence[Any] = (),
    *,
    floats: str = "literal",
    extra_funcs: Mapping | None = None,
) -> Graph:
    """Lower SymPy expressions to one `Graph` whose outputs are in the same order.

    Args:
        outputs: SymPy expressions (or Python numbers).
        inputs: the SymPy objects (symbols, or applied functions such as ``f(t)``)
            that become the graph's inputs, in slot order.
        floats: ``"literal"`` or ``"params"`` (see the module docstring).
        extra_funcs: ``{sympy function or its name: callable}``; these functions become
            ``call`` nodes, overriding any built-in translation.

    Example:
        >>> import sympy as sp
        >>> x = sp.Symbol("x")
        >>> g = lower([sp.sin(x) ** 2 + sp.sin(x)], [x])
        >>> [n.op for n in g.nodes]
        ['input', 'sin', 'mul', 'add']
    """
    if floats not in ("literal", "params"):
        raise ValueError(f"floats must be 'literal' or 'params', not {floats!r}")
    lw = _Lowerer(inputs, floats == "params", extra_funcs or {})
    roots = [lw.lower(_as_sympy(e)) for e in outputs]
    if lw.missing:
        names = ", ".join(sorted({str(m) for m in lw.missing}))
        expected = ", ".join(str(s) for s in inputs) or "none"
        raise MissingInputError(
            f"the expression uses {names}, which is not among the arguments ({expected}); "
            "add it to the arguments or substitute a value for it"
        )
    return lw.b.graph(roots, inputs=tuple(inputs), params=lw.params, buffers=lw.buffers).pruned()


def _as_sympy(e):
    if isinstance(e, sp.Basic):
        return e
    if isinstance(e, (bool, int, float, complex)):
        return sp.sympify(e)
    if isinstance(e, str):
        raise SympileError(
            f"expected a SymPy expression, got the string {e!r}; sympile never evaluates text "
            "as code: build the expression with SymPy, or parse text with sympile's restricted parser"
        )
    raise SympileError(f"expected a SymPy expression, got {type(e).__name__}")


def _float(e) -> float:
    """``float(e)`` for a SymPy Float, rounded to nearest from its full precision, without
    SymPy's per-call overhead."""
    try:
        return to_float(e._mpf_, rnd="n")
    except (AttributeError, OverflowError, ValueError):
        return float(e)


class _Finish:
    __slots__ = ("expr", "nargs")

    def __init__(self, expr, nargs):
        self.expr = expr
        self.nargs = nargs


class _Lowerer:
    def __init__(self, inputs: Sequence[Any], params: bool, extra_funcs: Mapping):
        self.b = Builder()
        self.slots: dict[Any, int] = {}
        for i, s in enumerate(inputs):
            if not isinstance(s, sp.Basic):
                raise SympileError(f"argument {s!r} is not a SymPy symbol")
            if s in self.slots:
                raise SympileError(f"the argument {s} appears twice in the argument list")
            self.slots[s] = i
        self.use_params = params
        self.params: list[float] = []
        self.buffers: list[float] = []
        self.missing: set = set()
        self.memo: dict[Any, int] = {}
        self.extra = _normalise_extra(extra_funcs)

    # The walk. ``vals`` holds lowered children (node ids, or (expr, cond) pairs);
    # ``fresh`` says whether the value holds a parameter occurrence (then it is not memoised).
    def lower(self, root) -> int:
        work: list = [root]
        vals: list = []
        fresh: list[bool] = []
        memo = self.memo
        while work:
            item = work.pop()
            if type(item) is _Finish:
                e, n = item.expr, item.nargs
                args = vals[len(vals) - n :]
                has = any(fresh[len(fresh) - n :])
                del vals[len(vals) - n :], fresh[len(fresh) - n :]
                v = self.combine(e, args)
                vals.append(v)
                fresh.append(has)
                if not has:
                    memo[e] = v
                continue
            e = item
            if type(e) is sp.Float and not self.use_params:  # the commonest atom: no memo, no hash
                vals.append(self.b.const(_float(e)))
                fresh.append(False)
                continue
            v = memo.get(e)
            if v is not None:
                vals.append(v)
                fresh.append(False)
                continue
            v = self.leaf(e)
            if v is not None:
                vals.append(v)
                is_fresh = self.use_params and self.b.nodes[v].op in ("param", "buffer")
                fresh.append(is_fresh)
                if not is_fresh:
                    memo[e] = v
                continue
            if type(e) is sp.UnevaluatedExpr:
                work.append(e.args[0])
                continue
            self.check_supported(e)
            work.append(_Finish(e, len(e.args)))
            work.extend(reversed(e.args))
        return vals[0]

    def leaf(self, e) -> int | None:
        """The node of an atom (or of an input that is not an atom), else None."""
        b = self.b
        slot = self.slots.get(e)
        if slot is not None:
            return b.node("input", (), slot)
        if not e.args:
            if e.is_Integer:
                return b.const(int(e))
            if e.is_Rational:
                return b.const(Fraction(int(e.p), int(e.q)))
            if e.is_Float:
                return self.float_leaf(e, self.use_params)
            name = NAMED_CONSTANTS.get(e)
            if name is not None:
                return b.const(name)
            if e is sp.true or e is sp.false:
                return b.const(bool(e))
            if e.is_Symbol:
                self.missing.add(e)
                return b.const(0)
            raise UnsupportedFunctionError(f"sympile cannot translate the atom {e!r} ({type(e).__name__})")
        if type(e) is sp.UnevaluatedExpr and e.args[0].is_Float:
            return self.float_leaf(e.args[0], False)
        return None

    def float_leaf(self, e, trainable: bool) -> int:
        value = _float(e)
        if not self.use_params:
            return self.b.const(value)
        if trainable:
            self.params.append(value)
            return self.b.node("param", (), len(self.params) - 1)
        self.buffers.append(value)
        return self.b.node("buffer", (), len(self.buffers) - 1)

    def check_supported(self, e) -> None:
        cls = type(e)
        if self.extra_key(e) is not None or cls in LOWERINGS or cls in SYMPY_TO_OP:
            return
        raise unsupported(e)

    def extra_key(self, e):
        if not self.extra or not isinstance(e, sp.Function):
            return None
        cls = type(e)
        if cls in self.extra:
            return cls
        if cls.__name__ in self.extra:
            return cls.__name__
        return None

    def combine(self, e, args: list) -> Any:
        key = self.extra_key(e)
        if key is not None:
            return self.b.node("call", tuple(args), self.extra[key])
        lowering = LOWERINGS.get(type(e))
        if lowering is not None:
            return lowering(self, e, args)
        op = SYMPY_TO_OP[type(e)]
        arity = OPS[op].arity
        if len(args) != arity:
            raise UnsupportedFunctionError(
                f"sympile translates {type(e).__name__} with {arity} argument(s), not {len(args)}: {e}"
            )
        return self.b.node(op, tuple(args))


def _normalise_extra(extra_funcs: Mapping) -> dict:
    """``{function class or name: callable}`` -> ``{class or name: (class or name, callable)}``."""
    out = {}
    for k, fn in extra_funcs.items():
        if not callable(fn):
            raise SympileError(f"extra_funcs[{k!r}] must be callable, got {type(fn).__name__}")
        if isinstance(k, str):
            key = k
        elif isinstance(k, type) and issubclass(k, sp.Basic):
            key = k
        elif isinstance(k, sp.Function) or (isinstance(k, sp.Basic) and isinstance(type(k), sp.FunctionClass)):
            key = type(k)
        else:
            raise SympileError(
                f"extra_funcs keys must be SymPy function classes (sympy.sin, sympy.Function('f')) "
                f"or their names, got {k!r}"
            )
        out[key] = (key, fn)
    return out


def unsupported(e) -> UnsupportedFunctionError:
    name = type(e).__name__
    hint = ""
    if isinstance(e, (sp.Derivative, sp.Integral, sp.Sum, sp.Product)):
        hint = f" Call .doit() first if SymPy can evaluate the {name.lower()}."
    if isinstance(e, sp.Function) or isinstance(e, AppliedUndef):
        key = f"sympy.Function({name!r})" if isinstance(e, AppliedUndef) else f"sympy.{name}"
        return UnsupportedFunctionError(
            f"sympile has no translation for the function {name} (in {_short(e)}); "
            f"pass extra_funcs={{{key}: <callable>}} to supply one.{hint}"
        )
    return UnsupportedFunctionError(f"sympile cannot translate {name} (in {_short(e)}).{hint}")


def _short(e, limit: int = 80) -> str:
    text = sp.sstr(e) if len(e.args) < 50 else f"{type(e).__name__}(...)"
    return text if len(text) <= limit else text[: limit - 3] + "..."


# -- the translations that a table entry cannot say ---------------------------------------


def _lower_add(lw: _Lowerer, e, args: list[int]) -> int:
    b = lw.b
    ops = [b.nodes[a].op for a in args]
    # exp(u) - 1 -> expm1(u): accurate where exp(u) is close to 1.
    if "exp" in ops:
        m1 = [i for i, a in enumerate(args) if b.is_const(a, -1)]
        if m1:
            k = ops.index("exp")
            u = b.nodes[args[k]].args[0]
            args = [a for i, a in enumerate(args) if i not in (k, m1[0])] + [b.op("expm1", u)]
    # Terms split by sign, literals apart: the sums that differ only in their constant
    # (as derivatives of one expression do) then share everything but the last add.
    terms: dict[tuple[bool, bool], list[int]] = {(c, s): [] for c in (False, True) for s in (False, True)}
    for a in args:
        n = b.nodes[a]
        if n.op == "neg":
            terms[not b.variable[a], True].append(n.args[0])
        elif n.op == "const" and type(n.attr) in (int, float, Fraction) and n.attr < 0:
            terms[True, True].append(b.const(-n.attr))
        else:
            terms[not b.variable[a], False].append(a)
    pos, neg = terms[False, False], terms[False, True]
    c = _signed_sum(b, terms[True, False], terms[True, True])
    if not pos and not neg:
        return c
    # One orientation for x - y and y - x (the side with the oldest term is positive),
    # so that a sum and its negation share their nodes.
    flip = bool(neg) and (not pos or min(neg) < min(pos))
    if flip:
        pos, neg = neg, pos
    r = _signed_sum(b, pos, neg)
    if c is None:
        return b.neg(r) if flip else r
    if flip:
        return b.sub(c, r)
    cn = b.nodes[c]
    return b.sub(r, cn.args[0]) if cn.op == "neg" else b.add(r, c)


_TRANSCENDENTAL = frozenset({"exp", "sin", "cos", "tan", "sinh", "cosh", "tanh", "log", "sqrt", "pow", "erf", "atan"})


def _signed_sum(b: Builder, pos: list[int], neg: list[int]) -> int | None:
    if not pos and not neg:
        return None
    if not neg:
        return b.sum(pos)
    if not pos:
        return b.neg(b.sum(neg))
    return b.sub(b.sum(pos), b.sum(neg))


def _lower_mul(lw: _Lowerer, e, args: list[int]) -> int:
    b = lw.b
    coeff: Any = 1
    num, den, literals = [], [], []
    for a in args:
        n = b.nodes[a]
        v = b.exact_value(a)
        if v is not None:
            coeff = coeff * v
        elif n.op == "div" and b.is_const(n.args[0], 1):
            den.append(n.args[1])
        elif n.op == "rsqrt":
            den.append(b.op("sqrt", n.args[0]))
        elif n.op == "neg":
            coeff = -coeff
            num.append(n.args[0])
        elif not b.variable[a]:
            if n.op == "const" and type(n.attr) is float and n.attr < 0:
                coeff = -coeff
                a = b.const(-n.attr)
            literals.append(a)
        else:
            num.append(a)
    # The product of the variable factors first, literals last (as in _lower_add), but a
    # lone literal goes with a function's value (w * exp(u) recurs in derivatives of sums).
    calls = [k for k, a in enumerate(num) if b.nodes[a].op in _TRANSCENDENTAL]
    if len(literals) == 1 and calls and len(num) > 1 and coeff in (1, -1):
        k = calls[-1]
        num[k] = b.mul(num[k], literals.pop())
    r = b.product(num)
    if den:
        r = b.div(r, b.product(den))
    coeff = Fraction(coeff)
    p, q = abs(coeff.numerator), coeff.denominator
    if q & (q - 1) == 0:  # p/q is exact in binary: one multiplication
        literals.insert(0, b.const(Fraction(p, q) if q > 1 else p))
    elif p != 1:
        literals.insert(0, b.const(p))
    if literals:
        r = b.mul(r, b.product(literals))
    if q & (q - 1):
        r = b.div(r, b.const(q))  # x/3 is correctly rounded; x*(1/3) is not
    return b.neg(r) if coeff < 0 else r


def _lower_pow(lw: _Lowerer, e, args: list[int]) -> int:
    b = lw.b
    base, exp = args
    ex = e.args[1]
    # x**(1/3) is cbrt only where x >= 0 (SymPy means the principal root); x**(±1/2) become
    # sqrt and 1/sqrt by the pow rule. Other fractional powers stay pow: sqrt(x)**3 would
    # differentiate to 0*inf at 0, where pow's own rule gives 1.5*sqrt(x) = 0.
    # (The exponent by its class flag and numerator/denominator: no SymPy comparison, and the
    # base's assumptions are asked only for a cube root.)
    if ex.is_Rational and ex.q == 3 and ex.p == 1 and e.args[0].is_nonnegative:
        return b.op("cbrt", base)
    return b.op("pow", base, exp)


def _nary(op):
    def lower_nary(lw: _Lowerer, e, args: list[int]) -> int:
        return lw.b.reduce(op, args)

    return lower_nary


def _lower_piecewise(lw: _Lowerer, e, pairs: list) -> int:
    b = lw.b
    result = b.const("nan")  # SymPy's value where no condition holds
    for value, cond in reversed(pairs):
        result = value if b.const_value(cond) is True else b.where(cond, value, result)
    return result


def _lower_log(lw: _Lowerer, e, args: list[int]) -> int:
    b = lw.b
    (u,) = args
    n = b.nodes[u]
    # log(1 + t) -> log1p(t): accurate where t is small.
    if n.op == "add" and (b.is_const(n.args[0], 1) or b.is_const(n.args[1], 1)):
        return b.op("log1p", n.args[1] if b.is_const(n.args[0], 1) else n.args[0])
    return b.op("log", u)


def _lower_heaviside(lw: _Lowerer, e, args: list[int]) -> int:
    h0 = args[1] if len(args) > 1 else lw.b.const(Fraction(1, 2))
    return lw.b.op("heaviside", args[0], h0)


def _lower_loggamma(lw: _Lowerer, e, args: list[int]) -> int:
    """SymPy's ``loggamma(x)``: the ``loggamma`` op (log|Γ(x)|, on which the op table's gamma and
    binomial decompositions rely) where that is SymPy's real value, and NaN where SymPy's is
    complex (x < 0 and not an integer): the real semantics of every other function, and the value
    the constant folder gives. At the poles (0, -1, -2, ...) both are +inf."""
    b = lw.b
    (u,) = args
    complex_there = b.op("and", b.op("lt", u, b.const(0)), b.op("ne", b.op("floor", u), u))
    return b.where(complex_there, b.const("nan"), b.op("loggamma", u))


def _int_attr(e, index: int, what: str) -> int:
    v = e.args[index]
    if not v.is_Integer:
        raise UnsupportedFunctionError(f"sympile translates {type(e).__name__} only with an integer {what}: {e}")
    return int(v)


def _lower_polygamma(lw: _Lowerer, e, args: list[int]) -> int:
    return lw.b.node("polygamma", (args[1],), _int_attr(e, 0, "order"))


def _lower_lambertw(lw: _Lowerer, e, args: list[int]) -> int:
    k = _int_attr(e, 1, "branch") if len(args) > 1 else 0
    return lw.b.node("lambertw", (args[0],), k)


#: SymPy classes whose translation a table entry cannot say.
LOWERINGS = {
    sp.Add: _lower_add,
    sp.Mul: _lower_mul,
    sp.Pow: _lower_pow,
    sp.Min: _nary("min"),
    sp.Max: _nary("max"),
    sp.And: _nary("and"),
    sp.Or: _nary("or"),
    sp.Xor: _nary("xor"),
    sp.Piecewise: _lower_piecewise,
    ExprCondPair: lambda lw, e, args: tuple(args),
    sp.ITE: lambda lw, e, args: lw.b.where(*args),
    sp.Heaviside: _lower_heaviside,
    sp.log: _lower_log,
    sp.polygamma: _lower_polygamma,
    sp.loggamma: _lower_loggamma,
    sp.LambertW: _lower_lambertw,
}
