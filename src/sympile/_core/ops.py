"""The op table: the single source of truth for every operation of the graph.

One `OpSpec` per op: its name, the SymPy classes it comes from, its arity, its
derivative rule (written with graph ops, so every backend gets derivatives at once), how
it raises back to SymPy, and ``array``, its name in NumPy's namespace, which is also its
spelling in every array backend unless that backend's spelling table says otherwise.

A derivative rule is ``rule(b, y, attr, *xs)``: ``b`` is a `Builder`, ``y`` the node
of the result, ``xs`` the nodes of the arguments; it returns one partial derivative
``d y / d x_i`` per argument, ``None`` where the argument carries no gradient (a
condition, an integer flag) and `NOT_DIFFERENTIABLE` where the derivative exists but
sympile cannot build it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

import sympy as sp

NOT_DIFFERENTIABLE = object()
HALF = Fraction(1, 2)


@dataclass(frozen=True)
class OpSpec:
    name: str
    arity: int
    sympy: tuple = ()
    array: str | None = None
    deriv: Callable | None = None
    to_sympy: Callable | None = None
    commutative: bool = False
    boolean: bool = False
    #: The result jumps somewhere (floor, comparisons): tests keep away from the jumps.
    discontinuous: bool = False
    #: Per argument, a value at which the op and its derivative are finite, or None:
    #: where an untaken branch is masked, this is what its input is replaced by.
    safe: tuple | None = None
    simplify: Callable | None = None


OPS: dict[str, OpSpec] = {}
#: SymPy class -> op name, for the ops that lower argument by argument.
SYMPY_TO_OP: dict[type, str] = {}


def _def(name, arity, sympy=(), **kw) -> None:
    if isinstance(sympy, type):
        sympy = (sympy,)
    if "to_sympy" not in kw and sympy:
        kw["to_sympy"] = _call_class(sympy[0])
    OPS[name] = OpSpec(name, arity, sympy, **kw)
    for cls in sympy:
        SYMPY_TO_OP[cls] = name


def _call_class(cls):
    return lambda *args, attr=None: cls(*args)


# -- simplification rules (applied by the builder as nodes are made) ------------------


def fold_exact(op: str, values) -> Any:
    """Exact arithmetic on ints and Fractions, for constant folding; None if not exact."""
    if not all(type(v) in (int, Fraction) for v in values):
        return None
    if op == "add":
        r = values[0] + values[1]
    elif op == "sub":
        r = values[0] - values[1]
    elif op == "mul":
        r = values[0] * values[1]
    elif op == "neg":
        r = -values[0]
    elif op == "div":
        if values[1] == 0:
            return None
        r = Fraction(values[0]) / values[1]
    else:
        return None
    if type(r) is Fraction and r.denominator == 1:
        return int(r)
    return r


def _fold(op):
    def rule(b, args, attr):
        values = [b.exact_value(a) for a in args]
        if None not in values:
            r = fold_exact(op, values)
            if r is not None:
                return b.const(r)
        return None

    return rule


_fold_add, _fold_sub, _fold_mul, _fold_div, _fold_neg = map(_fold, ["add", "sub", "mul", "div", "neg"])


def _simplify_add(b, args, attr):
    x, y = args
    if b.is_const(x, 0):
        return y
    if b.is_const(y, 0):
        return x
    if b.nodes[y].op == "neg":
        return b.sub(x, b.nodes[y].args[0])
    if b.nodes[x].op == "neg":
        return b.sub(y, b.nodes[x].args[0])
    return _fold_add(b, args, attr)


def _simplify_sub(b, args, attr):
    x, y = args
    if b.is_const(y, 0):
        return x
    if b.is_const(x, 0):
        return b.neg(y)
    if x == y:
        return b.const(0)
    if b.nodes[y].op == "neg":
        return b.add(x, b.nodes[y].args[0])
    return _fold_sub(b, args, attr)


def _simplify_mul(b, args, attr):
    x, y = args
    for u, v in ((x, y), (y, x)):
        if b.is_const(u, 1):
            return v
        if b.is_const(u, 0):
            return u
        if b.is_const(u, -1):
            return b.neg(v)
    return _fold_mul(b, args, attr)


def _simplify_div(b, args, attr):
    x, y = args
    if b.is_const(y, 1):
        return x
    if b.is_const(y, -1):
        return b.neg(x)
    if b.is_const(x, 0) and b.exact_value(y) is None:
        return x
    return _fold_div(b, args, attr)


def _simplify_neg(b, args, attr):
    (x,) = args
    n = b.nodes[x]
    if n.op == "neg":
        return n.args[0]
    if n.op == "sub":
        return b.sub(n.args[1], n.args[0])
    if n.op == "add":  # -(c*u + v) -> (-c)*u - v: the sign goes into a literal for free
        for u, v in (n.args, n.args[::-1]):
            m = _negated_scaled(b, u)
            if m is not None:
                return b.sub(m, v)
    return _fold_neg(b, args, attr)


def _negated_scaled(b, i):
    """``u * (-c)`` if node ``i`` is ``u * c`` for a literal number ``c``, else None."""
    n = b.nodes[i]
    if n.op != "mul":
        return None
    for u, c in (n.args, n.args[::-1]):
        v = b.const_value(c)
        if type(v) in (int, float, Fraction):
            return b.mul(u, b.const(-v))
    return None


def _simplify_where(b, args, attr):
    c, x, y = args
    if x == y:
        return x
    cv = b.const_value(c)
    if cv is True or cv is False:
        return x if cv else y
    return None


def _simplify_powi(b, args, n):
    (x,) = args
    if n == 1:
        return x
    if n == 0:
        return b.const(1)
    if n == 2:
        return b.mul(x, x)
    if n < 0:
        return b.recip(b.node("powi", (x,), -n))
    v = b.exact_value(x)
    if v is not None:
        return b.const(v**n)
    return None


def _simplify_pow(b, args, attr):
    x, y = args
    e = b.exact_value(y)
    if e is None:
        return None
    if type(e) is int:
        return b.node("powi", (x,), e)
    if e == HALF:
        return b.op("sqrt", x)
    if e == -HALF:
        return b.op("rsqrt", x)
    return None


# -- shorthands for the derivative rules ------------------------------------------------


def _sq(b, x):
    return b.mul(x, x)


def _one_plus_sq(b, x):
    return b.add(b.const(1), _sq(b, x))


def _one_minus_sq(b, x):
    return b.sub(b.const(1), _sq(b, x))


def _d_powi(b, y, n, x):
    return (b.mul(b.const(n), b.node("powi", (x,), n - 1)),)


def _d_pow(b, y, _, x, e):
    return (b.mul(e, b.op("pow", x, b.sub(e, b.const(1)))), b.mul(b.op("log", x), y))


def _d_atan2(b, y, _, u, v):
    r2 = b.add(_sq(b, u), _sq(b, v))
    return (b.div(v, r2), b.neg(b.div(u, r2)))


def _select(b, c):
    """The partials of a choice: 1 where ``c`` holds, else 0 (and the reverse)."""
    one, zero = b.const(1), b.const(0)
    return b.where(c, one, zero), b.where(c, zero, one)


def _d_min(b, y, _, u, v):
    return _select(b, b.op("le", u, v))


def _d_max(b, y, _, u, v):
    return _select(b, b.op("ge", u, v))


def _d_where(b, y, _, c, u, v):
    return (None, *_select(b, c))


def _d_erf(b, y, _, x):
    two_over_sqrt_pi = b.div(b.const(2), b.op("sqrt", b.const("pi")))
    return (b.mul(two_over_sqrt_pi, b.op("exp", b.neg(_sq(b, x)))),)


def _d_mod(b, y, _, u, v):
    return (b.const(1), b.neg(b.op("floor", b.div(u, v))))


def _d_sinc(b, y, _, x):
    zero = b.op("eq", x, b.const(0))
    # (cos x - sinc x) / x, with its limit 0 at x = 0 chosen by a select.
    return (b.where(zero, b.const(0), b.div(b.sub(b.op("cos", x), y), x)),)


def _digamma(b, x):
    return b.node("polygamma", (x,), 0)


def _d_binomial(b, y, _, n, k):
    one = b.const(1)
    dn1 = _digamma(b, b.add(n, one))
    dk1 = _digamma(b, b.add(k, one))
    dnk = _digamma(b, b.add(b.sub(n, k), one))
    return (b.mul(y, b.sub(dn1, dnk)), b.mul(y, b.sub(dnk, dk1)))


def _d_bessel(name):
    def rule(b, y, _, nu, x):
        one = b.const(1)
        lo = b.op(name, b.sub(nu, one), x)
        hi = b.op(name, b.add(nu, one), x)
        return (NOT_DIFFERENTIABLE, b.div(b.sub(lo, hi), b.const(2)))

    return rule


def _d_lambertw(b, w, k, x):
    at_zero = b.op("eq", x, b.const(0))
    slope = b.div(w, b.mul(x, b.add(b.const(1), w)))
    return (b.where(at_zero, b.const(1), slope),)


def _zero(b, y, _, *xs):
    return tuple(b.const(0) for _ in xs)


def _no_grad(b, y, _, *xs):
    return tuple(None for _ in xs)


def _to_powi(x, attr=None):
    return sp.Pow(x, attr)


_REL = dict(boolean=True, deriv=_no_grad, discontinuous=True)

# -- the table -------------------------------------------------------------------------

# Leaves: their values come from outside (``input``/``param``/``buffer``) or are literals.
for _leaf in ("input", "param", "buffer", "const"):
    _def(_leaf, 0)

# Arithmetic.
_def(
    "add",
    2,
    array="add",
    commutative=True,
    simplify=_simplify_add,
    deriv=lambda b, y, _, u, v: (b.const(1), b.const(1)),
    to_sympy=lambda u, v, attr=None: u + v,
)
_def(
    "sub",
    2,
    array="subtract",
    simplify=_simplify_sub,
    deriv=lambda b, y, _, u, v: (b.const(1), b.const(-1)),
    to_sympy=lambda u, v, attr=None: u - v,
)
_def(
    "mul",
    2,
    array="multiply",
    commutative=True,
    simplify=_simplify_mul,
    deriv=lambda b, y, _, u, v: (v, u),
    to_sympy=lambda u, v, attr=None: u * v,
)
_def(
    "div",
    2,
    array="divide",
    simplify=_simplify_div,
    safe=(None, 1),
    deriv=lambda b, y, _, u, v: (b.recip(v), b.neg(b.div(y, v))),
    to_sympy=lambda u, v, attr=None: u / v,
)
_def(
    "neg",
    1,
    array="negative",
    simplify=_simplify_neg,
    deriv=lambda b, y, _, u: (b.const(-1),),
    to_sympy=lambda u, attr=None: -u,
)
_def("powi", 1, deriv=_d_powi, simplify=_simplify_powi, to_sympy=_to_powi, safe=(1,))
_def(
    "pow", 2, array="power", deriv=_d_pow, simplify=_simplify_pow, safe=(1, None), to_sympy=lambda u, v, attr=None: u**v
)
_def(
    "sqrt",
    1,
    array="sqrt",
    safe=(1,),
    deriv=lambda b, y, _, x: (b.div(b.const(HALF), y),),
    to_sympy=lambda x, attr=None: sp.sqrt(x),
)
_def(
    "rsqrt",
    1,
    safe=(1,),
    deriv=lambda b, y, _, x: (b.neg(b.div(b.mul(b.const(HALF), y), x)),),
    to_sympy=lambda x, attr=None: 1 / sp.sqrt(x),
)
_def(
    "cbrt",
    1,
    array="cbrt",
    safe=(1,),
    deriv=lambda b, y, _, x: (b.recip(b.mul(b.const(3), _sq(b, y))),),
    to_sympy=lambda x, attr=None: sp.cbrt(x),
)
_def("exp", 1, sp.exp, array="exp", deriv=lambda b, y, _, x: (y,))
_def(
    "expm1",
    1,
    array="expm1",
    deriv=lambda b, y, _, x: (b.add(y, b.const(1)),),
    to_sympy=lambda x, attr=None: sp.exp(x) - 1,
)
_def("log", 1, sp.log, array="log", safe=(1,), deriv=lambda b, y, _, x: (b.recip(x),))
_def(
    "log1p",
    1,
    array="log1p",
    safe=(0,),
    deriv=lambda b, y, _, x: (b.recip(b.add(b.const(1), x)),),
    to_sympy=lambda x, attr=None: sp.log(1 + x),
)

# Trigonometric.
_def("sin", 1, sp.sin, array="sin", deriv=lambda b, y, _, x: (b.op("cos", x),))
_def("cos", 1, sp.cos, array="cos", deriv=lambda b, y, _, x: (b.neg(b.op("sin", x)),))
_def("tan", 1, sp.tan, array="tan", deriv=lambda b, y, _, x: (_one_plus_sq(b, y),))
_def("cot", 1, sp.cot, safe=(1,), deriv=lambda b, y, _, x: (b.neg(_one_plus_sq(b, y)),))
_def("sec", 1, sp.sec, deriv=lambda b, y, _, x: (b.mul(y, b.op("tan", x)),))
_def("csc", 1, sp.csc, safe=(1,), deriv=lambda b, y, _, x: (b.neg(b.mul(y, b.op("cot", x))),))
_def("asin", 1, sp.asin, array="arcsin", safe=(0,), deriv=lambda b, y, _, x: (b.op("rsqrt", _one_minus_sq(b, x)),))
_def(
    "acos", 1, sp.acos, array="arccos", safe=(0,), deriv=lambda b, y, _, x: (b.neg(b.op("rsqrt", _one_minus_sq(b, x))),)
)
_def("atan", 1, sp.atan, array="arctan", deriv=lambda b, y, _, x: (b.recip(_one_plus_sq(b, x)),))
_def("acot", 1, sp.acot, safe=(1,), deriv=lambda b, y, _, x: (b.neg(b.recip(_one_plus_sq(b, x))),))
_def(
    "asec",
    1,
    sp.asec,
    safe=(2,),
    deriv=lambda b, y, _, x: (b.recip(b.mul(_sq(b, x), b.op("sqrt", _one_minus_sq(b, b.recip(x))))),),
)
_def(
    "acsc",
    1,
    sp.acsc,
    safe=(2,),
    deriv=lambda b, y, _, x: (b.neg(b.recip(b.mul(_sq(b, x), b.op("sqrt", _one_minus_sq(b, b.recip(x)))))),),
)
_def("atan2", 2, sp.atan2, array="arctan2", deriv=_d_atan2, safe=(1, 1))

# Hyperbolic.
_def("sinh", 1, sp.sinh, array="sinh", deriv=lambda b, y, _, x: (b.op("cosh", x),))
_def("cosh", 1, sp.cosh, array="cosh", deriv=lambda b, y, _, x: (b.op("sinh", x),))
_def("tanh", 1, sp.tanh, array="tanh", deriv=lambda b, y, _, x: (_one_minus_sq(b, y),))
_def("coth", 1, sp.coth, safe=(1,), deriv=lambda b, y, _, x: (_one_minus_sq(b, y),))
_def("sech", 1, sp.sech, deriv=lambda b, y, _, x: (b.neg(b.mul(y, b.op("tanh", x))),))
_def("csch", 1, sp.csch, safe=(1,), deriv=lambda b, y, _, x: (b.neg(b.mul(y, b.op("coth", x))),))
_def("asinh", 1, sp.asinh, array="arcsinh", deriv=lambda b, y, _, x: (b.op("rsqrt", _one_plus_sq(b, x)),))
_def(
    "acosh",
    1,
    sp.acosh,
    array="arccosh",
    safe=(2,),
    deriv=lambda b, y, _, x: (b.op("rsqrt", b.sub(_sq(b, x), b.const(1))),),
)
_def("atanh", 1, sp.atanh, array="arctanh", safe=(0,), deriv=lambda b, y, _, x: (b.recip(_one_minus_sq(b, x)),))
_def("acoth", 1, sp.acoth, safe=(2,), deriv=lambda b, y, _, x: (b.recip(_one_minus_sq(b, x)),))
_def(
    "asech",
    1,
    sp.asech,
    safe=(HALF,),
    deriv=lambda b, y, _, x: (b.neg(b.recip(b.mul(x, b.op("sqrt", _one_minus_sq(b, x))))),),
)
_def(
    "acsch",
    1,
    sp.acsch,
    safe=(1,),
    deriv=lambda b, y, _, x: (b.neg(b.recip(b.mul(_sq(b, x), b.op("sqrt", _one_plus_sq(b, b.recip(x)))))),),
)

# Pieces, steps and choices.
_def("abs", 1, sp.Abs, array="abs", deriv=lambda b, y, _, x: (b.op("sign", x),))
_def("sign", 1, sp.sign, array="sign", deriv=_zero, discontinuous=True)
_def("floor", 1, sp.floor, array="floor", deriv=_zero, discontinuous=True)
_def("ceiling", 1, sp.ceiling, array="ceil", deriv=_zero, discontinuous=True)
_def("frac", 1, sp.frac, deriv=lambda b, y, _, x: (b.const(1),), discontinuous=True)
_def("mod", 2, sp.Mod, array="mod", deriv=_d_mod, discontinuous=True, safe=(None, 1))
_def("min", 2, array="minimum", commutative=True, deriv=_d_min, to_sympy=lambda u, v, attr=None: sp.Min(u, v))
_def("max", 2, array="maximum", commutative=True, deriv=_d_max, to_sympy=lambda u, v, attr=None: sp.Max(u, v))
_def(
    "heaviside",
    2,
    array="heaviside",
    deriv=lambda b, y, _, x, h: (b.const(0), None),
    discontinuous=True,
    to_sympy=lambda x, h, attr=None: sp.Heaviside(x, h),
)
_def(
    "where",
    3,
    array="where",
    deriv=_d_where,
    simplify=_simplify_where,
    to_sympy=lambda c, u, v, attr=None: sp.Piecewise((u, c), (v, True)),
)

# Comparisons and logic (boolean results, no gradient).
_def("lt", 2, sp.StrictLessThan, array="less", **_REL)
_def("le", 2, sp.LessThan, array="less_equal", **_REL)
_def("gt", 2, sp.StrictGreaterThan, array="greater", **_REL)
_def("ge", 2, sp.GreaterThan, array="greater_equal", **_REL)
_def("eq", 2, sp.Equality, array="equal", commutative=True, **_REL)
_def("ne", 2, sp.Unequality, array="not_equal", commutative=True, **_REL)
_def("and", 2, array="logical_and", commutative=True, to_sympy=lambda u, v, attr=None: sp.And(u, v), **_REL)
_def("or", 2, array="logical_or", commutative=True, to_sympy=lambda u, v, attr=None: sp.Or(u, v), **_REL)
_def("xor", 2, array="logical_xor", commutative=True, to_sympy=lambda u, v, attr=None: sp.Xor(u, v), **_REL)
_def("not", 1, sp.Not, array="logical_not", **_REL)

# Special functions.
_def("erf", 1, sp.erf, deriv=_d_erf)
_def("erfc", 1, sp.erfc, deriv=lambda b, y, _, x: (b.neg(_d_erf(b, y, _, x)[0]),))
_def(
    "erfinv",
    1,
    sp.erfinv,
    safe=(0,),
    deriv=lambda b, y, _, x: (b.mul(b.div(b.op("sqrt", b.const("pi")), b.const(2)), b.op("exp", _sq(b, y))),),
)
_def("gamma", 1, sp.gamma, safe=(1,), deriv=lambda b, y, _, x: (b.mul(y, _digamma(b, x)),))
_def("loggamma", 1, sp.loggamma, safe=(1,), deriv=lambda b, y, _, x: (_digamma(b, x),))
_def(
    "polygamma",
    1,
    safe=(1,),
    deriv=lambda b, y, n, x: (b.node("polygamma", (x,), n + 1),),
    to_sympy=lambda x, attr=None: sp.polygamma(attr, x),
)
_def("factorial", 1, sp.factorial, safe=(1,), deriv=lambda b, y, _, x: (b.mul(y, _digamma(b, b.add(x, b.const(1)))),))
_def("binomial", 2, sp.binomial, deriv=_d_binomial, safe=(1, 1))
_def("sinc", 1, sp.sinc, deriv=_d_sinc)
_def("besselj", 2, sp.besselj, deriv=_d_bessel("besselj"))
_def("bessely", 2, sp.bessely, deriv=_d_bessel("bessely"), safe=(None, 1))
_def(
    "lambertw",
    1,
    deriv=_d_lambertw,
    safe=(1,),
    to_sympy=lambda x, attr=None: sp.LambertW(x) if attr == 0 else sp.LambertW(x, attr),
)

# Complex parts. Their derivatives are those for real arguments (re, im and conjugate
# are not holomorphic): d re(x)/dx = 1, d im(x)/dx = 0, ...
_def("re", 1, sp.re, array="real", deriv=lambda b, y, _, x: (b.const(1),))
_def("im", 1, sp.im, array="imag", deriv=_zero)
_def("arg", 1, sp.arg, array="angle", deriv=_zero, discontinuous=True)
_def("conjugate", 1, sp.conjugate, array="conj", deriv=lambda b, y, _, x: (b.const(1),))

# A user function from ``extra_funcs``: ``attr`` is its index in the graph's function list.
_def("call", -1)

#: Named constants: SymPy object -> the literal attr that stands for it.
NAMED_CONSTANTS: dict[Any, str] = {
    sp.pi: "pi",
    sp.E: "E",
    sp.EulerGamma: "EulerGamma",
    sp.GoldenRatio: "GoldenRatio",
    sp.Catalan: "Catalan",
    sp.TribonacciConstant: "TribonacciConstant",
    sp.I: "I",
    sp.oo: "oo",
    -sp.oo: "-oo",
    sp.nan: "nan",
    sp.zoo: "zoo",
}
CONSTANT_SYMPY: dict[str, Any] = {v: k for k, v in NAMED_CONSTANTS.items()}
#: Their values as Python numbers, correctly rounded to float64.
CONSTANT_VALUES: dict[str, Any] = {
    name: float(obj.evalf(30)) for obj, name in NAMED_CONSTANTS.items() if obj.is_extended_real
}
CONSTANT_VALUES.update(I=1j, nan=float("nan"), zoo=complex(float("inf"), float("nan")))


def const_value(attr) -> Any:
    """The Python number (int, float, complex or bool) that a literal's attr stands for."""
    if type(attr) is str:
        return CONSTANT_VALUES[attr]
    if type(attr) is Fraction:
        return float(attr)
    return attr


def const_to_sympy(attr) -> Any:
    if type(attr) is str:
        return CONSTANT_SYMPY[attr]
    if type(attr) is bool:
        return sp.true if attr else sp.false
    if type(attr) is Fraction:
        return sp.Rational(attr.numerator, attr.denominator)
    return sp.sympify(attr)
