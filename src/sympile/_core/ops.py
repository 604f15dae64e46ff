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

import math
from collections.abc import Callable
from dataclasses import dataclass
from fractions import Fraction

import sympy as sp

from .simplify import (
    HALF,
    simplify_add,
    simplify_div,
    simplify_mul,
    simplify_neg,
    simplify_pow,
    simplify_powi,
    simplify_sub,
    simplify_where,
)

NOT_DIFFERENTIABLE = object()


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
    #: ``rule(b, attr, *args) -> node``: the op written with other ops, for the backends that
    #: cannot spell it (`sympile._transforms.decompose`).
    decompose: Callable | None = None
    #: Made by a backend's passes just before emitting (batched ops, linear and map blocks,
    #: fused multiply-adds): a graph kept on a compiled object never holds one, so it has no
    #: derivative rule and does not raise to SymPy.
    emission: bool = False
    #: The op's name in messages (SymPy's name for it).
    title: str = ""
    #: Made by graph AD only (the pairs of `CONJUGATE_PAIRS`): never lowered from SymPy, and
    #: decomposed before emission.
    made_by_ad: bool = False


OPS: dict[str, OpSpec] = {}
#: SymPy class -> op name, for the ops that lower argument by argument.
SYMPY_TO_OP: dict[type, str] = {}


def _def(name, arity, sympy=(), **kw) -> None:
    if isinstance(sympy, type):
        sympy = (sympy,)
    if "to_sympy" not in kw and sympy:
        kw["to_sympy"] = _call_class(sympy[0])
    kw.setdefault("title", sympy[0].__name__ if sympy else name)
    OPS[name] = OpSpec(name, arity, sympy, **kw)
    for cls in sympy:
        SYMPY_TO_OP[cls] = name


def _call_class(cls):
    return lambda *args, attr=None: cls(*args)


# -- shorthands for the derivative rules ------------------------------------------------


def _sq(b, x):
    return b.mul(x, x)


def _one_plus_sq(b, x):
    return b.add(b.const(1), _sq(b, x))


def _one_minus_sq(b, x):
    # Not (1 - x) * (1 + x): near x = ±1 the rounding of x*x is that of a change of x smaller than its
    # own rounding (the loss is the input's, as for asin), and the product's derivative
    # -(1 + x) + (1 - x) would cancel near 0.
    return b.sub(b.const(1), _sq(b, x))


def _d_powi(b, y, n, x):
    return (b.mul(b.const(n), b.node("powi", (x,), n - 1)),)


def _d_pow(b, y, _, x, e):
    """``d/dx = e x**(e-1)`` and ``d/de = x**e log x``.

    Where ``x**e`` is 0 (``0**e`` for ``e > 0``, or an underflow), so is ``d/de``; but ``log 0 = -inf``
    times 0 is NaN, so the log reads 1 there instead of ``x``, the double-where of `mask`: its own
    partial ``1 / x`` is then finite too, and every higher derivative stays finite. Where ``x**e`` is
    not 0 nothing changes (``0**e`` for ``e <= 0`` is infinite or 1, and ``d/de`` is as infinite as
    the math says). A literal base other than 0 needs no mask. Another input-free base (``-sqrt(2)``)
    is masked after its log, ``where(x**e == 0, 0, log x)``, so that the log stays input-free and
    is folded (complex for a negative base, as SymPy's; computed at run time in real arithmetic it
    would be NaN).

    ``d/dx`` at ``x = 0`` and ``e = 0`` is 0 (``x**0`` is 1 there), where ``e * x**(e-1)`` is
    ``0 * inf``: the base reads 1 at that one point (JAX and PyTorch select 0 wherever ``e = 0``,
    which makes the mixed ``d2/dx de`` 0 instead of ``1/x`` at every ``x``). Applied again to the
    partial's own power, it makes ``d2/dx2`` of ``x**e`` at ``x = 0``, ``e = 1`` read 0, not NaN.
    """
    base = b.const_value(x)
    xs = x
    zero, one = b.const(0), b.const(1)
    if base is None and not b.variable[x]:  # input-free: mask after the log, which then folds
        log_x = b.where(b.op("eq", y, zero), zero, b.op("log", x))
    elif base is None or base == 0:
        log_x = b.op("log", b.where(b.op("eq", y, zero), one, x))
        if b.const_value(e) is None:  # the base partial's mask at x = 0, e = 0
            xs = b.where(b.op("and", b.op("eq", x, zero), b.op("eq", e, zero)), one, x)
    else:
        log_x = b.op("log", x)
    return (b.mul(e, b.op("pow", xs, b.sub(e, one))), b.mul(log_x, y))


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


#: Below this ``|x|``, sinc' is its Taylor series: ``(cos x - sinc x) / x`` cancels as ``x -> 0`` (at
#: ``x = 1e-4`` it kept 8 digits), and the series' first omitted term is under 1e-16 relatively here.
_SINC_SERIES_BELOW = 0.5
#: sinc'(x) = x * sum over n >= 1 of (-1)**n 2n x**(2n - 2) / (2n + 1)!  (-1/3 + x**2/30 - ...), as
#: floats: exact fractions with 13-digit denominators are integer literals that float32 JAX refuses.
_SINC_SERIES = tuple((-1) ** n * 2 * n / math.factorial(2 * n + 1) for n in range(1, 8))


def _d_sinc(b, y, _, x):
    """``(cos x - sinc x) / x``, or near 0 (where that cancels) its Taylor series, chosen by a select."""
    x2 = _sq(b, x)
    series = b.const(_SINC_SERIES[-1])
    for c in reversed(_SINC_SERIES[:-1]):
        series = b.add(b.const(c), b.mul(x2, series))
    near = b.op("lt", b.op("abs", x), b.const(_SINC_SERIES_BELOW))
    return (b.where(near, b.mul(x, series), b.div(b.sub(b.op("cos", x), y), x)),)


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


# -- decompositions: an op in terms of others, for the backends that cannot spell it ---------


def _reciprocal_of(f: str):
    """``1 / f(x)``: cot, sec, csc, coth, sech, csch, rsqrt."""
    return lambda b, attr, x: b.recip(b.op(f, x))


def _of_reciprocal(f: str):
    """``f(1 / x)``: acot, asec, acsc, acoth, asech, acsch."""
    return lambda b, attr, x: b.op(f, b.recip(x))


def _gamma_sign(b, x):
    """The sign of Γ(x): -1 on (-1, 0), (-3, -2), ..., else 1."""
    odd = b.op("eq", b.op("mod", b.op("floor", x), b.const(2)), b.const(1))
    return b.where(b.op("and", b.op("lt", x, b.const(0)), odd), b.const(-1.0), b.const(1.0))


def _gamma_by_loggamma(b, attr, x):
    return b.mul(_gamma_sign(b, x), b.op("exp", b.op("loggamma", x)))


#: Γ is finite below this (it overflows float64 past 171.6): the binomial's exact range.
_GAMMA_FINITE = 170


def _binomial_by_gamma(b, attr, n, k):
    """The real binomial coefficient Γ(n+1) / (Γ(k+1) Γ(n-k+1)), as `scipy.special.binom`.

    The ratio of gammas where they are finite and none is at a pole (exact for small
    integers), 0 where only a denominator has a pole, else through log-gamma (finite where the
    gammas overflow). The selects are masked like any branch, so gradients stay finite.
    """
    one, zero, top = b.const(1), b.const(0), b.const(_GAMMA_FINITE)
    a, c, d = b.add(n, one), b.add(k, one), b.add(b.sub(n, k), one)
    ratio = b.div(b.op("gamma", a), b.mul(b.op("gamma", c), b.op("gamma", d)))
    sign = b.mul(b.mul(_gamma_sign(b, a), _gamma_sign(b, c)), _gamma_sign(b, d))
    lg = [b.op("loggamma", v) for v in (a, c, d)]
    through_logs = b.mul(sign, b.op("exp", b.sub(b.sub(lg[0], lg[1]), lg[2])))
    poles = [b.op("and", b.op("le", v, zero), b.op("eq", b.op("floor", v), v)) for v in (a, c, d)]
    finite = [b.op("lt", b.op("abs", v), top) for v in (a, c, d)]
    exact = b.reduce("and", [*finite, *(b.op("not", p) for p in poles)])
    vanishes = b.op("and", b.op("not", poles[0]), b.op("or", poles[1], poles[2]))  # a pole below only
    return b.where(exact, ratio, b.where(vanishes, b.const(0.0), through_logs))


def _heaviside_by_where(b, attr, x, h):
    zero = b.const(0)
    at_zero = b.where(b.op("eq", x, zero), h, x)  # x itself where it is NaN
    return b.where(b.op("gt", x, zero), b.const(1.0), b.where(b.op("lt", x, zero), b.const(0.0), at_zero))


def _sinc_by_where(b, attr, x):
    zero = b.op("eq", x, b.const(0))
    return b.where(zero, b.const(1.0), b.div(b.op("sin", x), x))


def _cbrt_by_pow(b, attr, x):
    return b.mul(b.op("sign", x), b.op("pow", b.op("abs", x), b.const(Fraction(1, 3))))


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
    simplify=simplify_add,
    deriv=lambda b, y, _, u, v: (b.const(1), b.const(1)),
    to_sympy=lambda u, v, attr=None: u + v,
)
_def(
    "sub",
    2,
    array="subtract",
    simplify=simplify_sub,
    deriv=lambda b, y, _, u, v: (b.const(1), b.const(-1)),
    to_sympy=lambda u, v, attr=None: u - v,
)
_def(
    "mul",
    2,
    array="multiply",
    commutative=True,
    simplify=simplify_mul,
    deriv=lambda b, y, _, u, v: (v, u),
    to_sympy=lambda u, v, attr=None: u * v,
)
_def(
    "div",
    2,
    array="divide",
    simplify=simplify_div,
    safe=(None, 1),
    deriv=lambda b, y, _, u, v: (b.recip(v), b.neg(b.div(y, v))),
    to_sympy=lambda u, v, attr=None: u / v,
)
_def(
    "neg",
    1,
    array="negative",
    simplify=simplify_neg,
    deriv=lambda b, y, _, u: (b.const(-1),),
    to_sympy=lambda u, attr=None: -u,
)
_def("powi", 1, deriv=_d_powi, simplify=simplify_powi, to_sympy=_to_powi, safe=(1,))
_def(
    "pow", 2, array="power", deriv=_d_pow, simplify=simplify_pow, safe=(1, None), to_sympy=lambda u, v, attr=None: u**v
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
    decompose=_reciprocal_of("sqrt"),
    deriv=lambda b, y, _, x: (b.neg(b.div(b.mul(b.const(HALF), y), x)),),
    to_sympy=lambda x, attr=None: 1 / sp.sqrt(x),
)
_def(
    "cbrt",
    1,
    array="cbrt",
    safe=(1,),
    decompose=_cbrt_by_pow,
    deriv=lambda b, y, _, x: (b.recip(b.mul(b.const(3), _sq(b, y))),),
    to_sympy=lambda x, attr=None: sp.cbrt(x),
)
_def("exp", 1, sp.exp, array="exp", deriv=lambda b, y, _, x: (y,))
_def(
    "expm1",
    1,
    array="expm1",
    deriv=lambda b, y, _, x: (b.op("exp", x),),  # not y + 1: it cancels as expm1(x) -> -1
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
_def("asin", 1, sp.asin, array="arcsin", safe=(0,), deriv=lambda b, y, _, x: (b.op("rsqrt", _one_minus_sq(b, x)),))
_def(
    "acos", 1, sp.acos, array="arccos", safe=(0,), deriv=lambda b, y, _, x: (b.neg(b.op("rsqrt", _one_minus_sq(b, x))),)
)
_def("atan", 1, sp.atan, array="arctan", deriv=lambda b, y, _, x: (b.recip(_one_plus_sq(b, x)),))
_def("atan2", 2, sp.atan2, array="arctan2", deriv=_d_atan2, safe=(1, 1))

# Hyperbolic.
_def("sinh", 1, sp.sinh, array="sinh", deriv=lambda b, y, _, x: (b.op("cosh", x),))
_def("cosh", 1, sp.cosh, array="cosh", deriv=lambda b, y, _, x: (b.op("sinh", x),))
# tanh' = sech**2, coth' = -csch**2: not 1 - y**2, which cancels as y -> ±1 (all digits lost as tanh
# rounds to 1).
_def("tanh", 1, sp.tanh, array="tanh", deriv=lambda b, y, _, x: (_sq(b, b.op("sech", x)),))
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

# The reciprocal functions, 1 / f(x), and their inverses, f⁻¹(1 / x): spelt where a backend has
# them, else decomposed.
for _name, _cls, _of, _safe, _deriv in (
    ("cot", sp.cot, "tan", (1,), lambda b, y, _, x: (b.neg(_one_plus_sq(b, y)),)),
    ("sec", sp.sec, "cos", None, lambda b, y, _, x: (b.mul(y, b.op("tan", x)),)),
    ("csc", sp.csc, "sin", (1,), lambda b, y, _, x: (b.neg(b.mul(y, b.op("cot", x))),)),
    ("coth", sp.coth, "tanh", (1,), lambda b, y, _, x: (b.neg(_sq(b, b.op("csch", x))),)),
    ("sech", sp.sech, "cosh", None, lambda b, y, _, x: (b.neg(b.mul(y, b.op("tanh", x))),)),
    ("csch", sp.csch, "sinh", (1,), lambda b, y, _, x: (b.neg(b.mul(y, b.op("coth", x))),)),
):
    _def(_name, 1, _cls, safe=_safe, decompose=_reciprocal_of(_of), deriv=_deriv)


def _d_arc_reciprocal(one_minus: bool, sign: int, square: bool):
    """d/dx f⁻¹(1/x) = ±1 / (x² sqrt(1 ∓ 1/x²)) for asec/acsc/acsch; ±1 / (x sqrt(1 - x²)) for asech."""

    def rule(b, y, _, x):
        if square:
            inner = (_one_minus_sq if one_minus else _one_plus_sq)(b, b.recip(x))
            d = b.recip(b.mul(_sq(b, x), b.op("sqrt", inner)))
        else:
            d = b.recip(b.mul(x, b.op("sqrt", _one_minus_sq(b, x))))
        return (d if sign > 0 else b.neg(d),)

    return rule


def _asec_acsc(sine: bool):
    """asec(x) = acos(1/x), acsc(x) = asin(1/x) without rounding 1/x first (acos(1/x) was 4e-9
    relative off near |x| = 1, where acos and asin magnify the rounding): with t = sqrt((x-1)/(x+1)),
    asec = 2 atan(t) and acsc = 2 atan(2/(x+1) / (1+t)**2) (pi/2 - asec without cancelling as
    |x| grows); identities of the principal branches, so complex arguments too. At x = -1 and
    x = ±inf, where t is not finite, the values are selected."""

    def rule(b, attr, x):
        one = b.const(1)
        up = b.add(x, one)
        t = b.op("sqrt", b.div(b.sub(x, one), up))
        v = b.div(b.div(b.const(2), up), _sq(b, b.add(one, t))) if sine else t
        v = b.mul(b.const(2), b.op("atan", v))
        at_inf = b.where(b.op("eq", b.op("abs", x), b.const("oo")), b.const(0.0 if sine else math.pi / 2), v)
        return b.where(b.op("eq", x, b.const(-1)), b.const(-math.pi / 2 if sine else math.pi), at_inf)

    return rule


_def("asec", 1, sp.asec, safe=(2,), decompose=_asec_acsc(False), deriv=_d_arc_reciprocal(True, 1, True))
_def("acsc", 1, sp.acsc, safe=(2,), decompose=_asec_acsc(True), deriv=_d_arc_reciprocal(True, -1, True))
for _name, _cls, _of, _safe, _deriv in (
    ("acot", sp.acot, "atan", (1,), lambda b, y, _, x: (b.neg(b.recip(_one_plus_sq(b, x))),)),
    ("acoth", sp.acoth, "atanh", (2,), lambda b, y, _, x: (b.recip(_one_minus_sq(b, x)),)),
    ("asech", sp.asech, "acosh", (HALF,), _d_arc_reciprocal(True, -1, False)),
    ("acsch", sp.acsch, "asinh", (1,), _d_arc_reciprocal(False, -1, True)),
):
    _def(_name, 1, _cls, safe=_safe, decompose=_of_reciprocal(_of), deriv=_deriv)

# Pieces, steps and choices.
_def("abs", 1, sp.Abs, array="abs", deriv=lambda b, y, _, x: (b.op("sign", x),))
_def("sign", 1, sp.sign, array="sign", deriv=_zero, discontinuous=True)
_def("floor", 1, sp.floor, array="floor", deriv=_zero, discontinuous=True)
_def("ceiling", 1, sp.ceiling, array="ceil", deriv=_zero, discontinuous=True)
_def(
    "frac",
    1,
    sp.frac,
    decompose=lambda b, attr, x: b.sub(x, b.op("floor", x)),
    deriv=lambda b, y, _, x: (b.const(1),),
    discontinuous=True,
)
_def("mod", 2, sp.Mod, array="mod", deriv=_d_mod, discontinuous=True, safe=(None, 1))
_def("min", 2, array="minimum", commutative=True, deriv=_d_min, to_sympy=lambda u, v, attr=None: sp.Min(u, v))
_def("max", 2, array="maximum", commutative=True, deriv=_d_max, to_sympy=lambda u, v, attr=None: sp.Max(u, v))
_def(
    "heaviside",
    2,
    array="heaviside",
    deriv=lambda b, y, _, x, h: (b.const(0), None),
    decompose=_heaviside_by_where,
    discontinuous=True,
    to_sympy=lambda x, h, attr=None: sp.Heaviside(x, h),
)
_def(
    "where",
    3,
    array="where",
    deriv=_d_where,
    simplify=simplify_where,
    to_sympy=lambda c, u, v, attr=None: sp.Piecewise((u, c), (v, True)),
)

# Comparisons and logic (boolean results, no gradient).
_def("lt", 2, sp.StrictLessThan, array="less", **_REL)
_def("le", 2, sp.LessThan, array="less_equal", **_REL)
_def("gt", 2, sp.StrictGreaterThan, array="greater", **_REL)
_def("ge", 2, sp.GreaterThan, array="greater_equal", **_REL)
_def("eq", 2, sp.Equality, array="equal", commutative=True, **_REL)
_def("ne", 2, sp.Unequality, array="not_equal", commutative=True, **_REL)


def _truth(b, i):
    """The literal truth value of node ``i``, or None."""
    n = b.nodes[i]
    return n.attr if n.op == "const" and type(n.attr) is bool else None


def _simplify_logic(absorbing: bool):
    """``and`` (``absorbing`` False) or ``or`` (True) with a literal operand, or of a value with
    itself: an array library's ``logical_and(x, True)`` wants arrays, and the masks of graph AD
    combine conditions that lowering may have made literal."""

    def simplify(b, args, attr):
        u, v = args
        if u == v:
            return u
        for x, y in ((u, v), (v, u)):
            t = _truth(b, x)
            if t is not None:
                return x if t is absorbing else y
        return None

    return simplify


def _simplify_not(b, args, attr):
    t = _truth(b, args[0])
    return None if t is None else b.const(not t)


_def("and", 2, array="logical_and", commutative=True, to_sympy=lambda u, v, attr=None: sp.And(u, v),
     simplify=_simplify_logic(False), **_REL)  # fmt: skip
_def("or", 2, array="logical_or", commutative=True, to_sympy=lambda u, v, attr=None: sp.Or(u, v),
     simplify=_simplify_logic(True), **_REL)  # fmt: skip
_def("xor", 2, array="logical_xor", commutative=True, to_sympy=lambda u, v, attr=None: sp.Xor(u, v), **_REL)
_def("not", 1, sp.Not, array="logical_not", simplify=_simplify_not, **_REL)

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
_def(
    "gamma", 1, sp.gamma, safe=(1,), decompose=_gamma_by_loggamma, deriv=lambda b, y, _, x: (b.mul(y, _digamma(b, x)),)
)
_def("loggamma", 1, sp.loggamma, safe=(1,), deriv=lambda b, y, _, x: (_digamma(b, x),))
_def(
    "polygamma",
    1,
    safe=(1,),
    deriv=lambda b, y, n, x: (b.node("polygamma", (x,), n + 1),),
    to_sympy=lambda x, attr=None: sp.polygamma(attr, x),
)
_def(
    "factorial",
    1,
    sp.factorial,
    safe=(1,),
    decompose=lambda b, attr, x: b.op("gamma", b.add(x, b.const(1))),
    deriv=lambda b, y, _, x: (b.mul(y, _digamma(b, b.add(x, b.const(1)))),),
)
_def("binomial", 2, sp.binomial, deriv=_d_binomial, safe=(1, 1), decompose=_binomial_by_gamma)
_def("sinc", 1, sp.sinc, deriv=_d_sinc, decompose=_sinc_by_where)
_def("besselj", 2, sp.besselj, deriv=_d_bessel("besselj"))
_def("bessely", 2, sp.bessely, deriv=_d_bessel("bessely"), safe=(None, 1))
_def(
    "lambertw",
    1,
    deriv=_d_lambertw,
    safe=(1,),
    title="LambertW",
    to_sympy=lambda x, attr=None: sp.LambertW(x) if attr == 0 else sp.LambertW(x, attr),
)

# Complex parts. Their derivative rules are those for real arguments (re, im and conjugate
# are not holomorphic): d re(x)/dx = 1, d im(x)/dx = 0, ...; for a complex argument graph AD
# rewrites them first (`CONJUGATE_PAIRS` below, `sympile._transforms.conjugates`).
_def("re", 1, sp.re, array="real", deriv=lambda b, y, _, x: (b.const(1),))
_def("im", 1, sp.im, array="imag", deriv=_zero)
_def(
    "arg",
    1,
    sp.arg,
    array="angle",
    deriv=_zero,
    discontinuous=True,
    decompose=lambda b, attr, x: b.op("atan2", b.op("im", x), b.op("re", x)),
)
_def("conjugate", 1, sp.conjugate, array="conj", deriv=lambda b, y, _, x: (b.const(1),))


# The complex parts of a complex value, for graph AD (`sympile._transforms.conjugates`). ``|u|``,
# ``re u``, ``im u`` and ``arg u`` are not holomorphic in ``u``, but they are in the pair ``(u, ū)``
# (``|u| = sqrt(u ū)``): AD rewrites the op of a complex ``u`` as its pair op of ``(u, ū)``, ``ū`` the
# conjugate's graph, whose partials are the Wirtinger derivatives ``∂/∂u`` and ``∂/∂ū``. The value
# is the plain op of ``u`` (the decomposition, which every backend takes: none spells a pair op).
def _d_cabs(b, y, _, u, ub):
    twice = b.mul(b.const(2), y)
    return (b.div(ub, twice), b.div(u, twice))


def _half_i(b):
    return b.mul(b.const(HALF), b.const("I"))


def _d_carg(b, y, _, u, ub):
    i2 = _half_i(b)  # d arg u = Im(du / u) = -i/2 du/u + i/2 dū/ū
    return (b.neg(b.div(i2, u)), b.div(i2, ub))


CONJUGATE_PAIRS = {"abs": "cabs", "re": "cre", "im": "cim", "arg": "carg"}
for _plain, _pair, _rule in (
    ("abs", "cabs", _d_cabs),
    ("re", "cre", lambda b, y, _, u, ub: (b.const(HALF), b.const(HALF))),
    ("im", "cim", lambda b, y, _, u, ub: (b.neg(_half_i(b)), _half_i(b))),
    ("arg", "carg", _d_carg),
):
    _def(
        _pair,
        2,
        deriv=_rule,
        decompose=lambda b, attr, u, ub, _plain=_plain: b.op(_plain, u),
        to_sympy=lambda u, ub, attr=None, _cls=OPS[_plain].sympy[0]: _cls(u),
        title=OPS[_plain].title,
        made_by_ad=True,
    )

# Data (`sympile._core.data`): a ``data`` leaf is a column of values over the points (attr: a
# `Data`); the per-point nodes over it hold one value per point, and ``psum`` sums one over the
# points (attr: their number, so that a value the same at every point sums to ``N * x``). A
# derivative crossing from per-point nodes into scalar ones is summed the same way (`_transforms.ad`).
_def("data", 0, title="data")
_def(
    "psum",
    1,
    array="sum",
    simplify=lambda b, args, n: b.mul(b.const(n), args[0]) if b.nodes[args[0]].op == "const" else None,
    deriv=lambda b, y, n, x: (b.const(1),),
    title="a sum over data points",
)

# A user function from ``extra_funcs``: ``attr`` is ``(key, callable)``.
_def("call", -1, title="functions from extra_funcs (Python callables)")

# Emission-only ops, made by a backend's passes just before emitting (see `OpSpec.emission`).
# ``square`` is ``x * x`` reading ``x`` once (`sympile._emit.emit`); ``fma`` is ``a + b * c``
# (`sympile._transforms.fuse`); ``matvec``/``mvrow`` a linear block and one of its rows
# (`sympile._transforms.linear`); ``mapsum`` a map block (`sympile._transforms.maps`); the rest
# are the batched ops (`sympile._transforms.batch`): vector leaves (attr: their slots or
# literals), ``lift`` (``x[..., None]``), the reductions over the trailing axis, and ``vdot``.
for _name, _arity, _array in (
    ("square", 1, "square"),
    ("fma", 3, None),
    ("matvec", -1, None),
    ("mvrow", 1, None),
    ("mapsum", -1, None),
    ("vparam", 0, None),
    ("vbuffer", 0, None),
    ("vconst", 0, None),
    ("lift", 1, None),
    ("vsum", 1, None),
    ("vprod", 1, None),
    ("vmin", 1, None),
    ("vmax", 1, None),
    ("vdot", 2, None),
    # data sums as matrix products (`sympile._transforms.point_dots`): ``pdot`` is a data table
    # times a vector, ``prows`` the same as a list of numbers, ``pick`` one entry of either,
    # ``pstack`` scalars made one vector
    ("pdot", 2, None),
    ("prows", 2, None),
    ("pick", 1, None),
    ("pstack", -1, None),
    # ``sin`` and ``cos`` of one argument from one call, a pair (`sympile._transforms.sincos`);
    # ``pick`` takes either
    ("sincos", 1, None),
):
    _def(_name, _arity, array=_array, emission=True)
