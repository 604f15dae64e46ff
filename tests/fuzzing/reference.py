"""The fuzzer's reference: a SymPy expression evaluated by mpmath at 50 digits, with the point's
conditioning.

`evaluate(expr, point)` walks the SymPy tree (iteratively, post-order) and gives each node its
value at 50 digits and a first-order bound on what float64 evaluation may be off by there: the
node's arguments carry errors (none for the inputs, which are floats; half an ulp for literals
such as ``1/3`` or ``pi``), each argument's error is pushed through the node by evaluating it
again at 50 digits with that argument moved by its error (so the node's conditioning, at this
point, scales it), and the node adds its own rounding (`ULPS`: a few ulps of the value; of 1
for functions whose libraries are accurate in absolute terms near their zeros). The root's
bound is the rounding bound of the whole expression: input conditioning and intermediate
cancellation both show in it, and it does not depend on sympile's graph.

Float64 semantics, where they differ from SymPy's complex numbers:

- a real function of real, input-dependent arguments whose value is not real (``log(-1)``,
  ``sqrt(-2)``, ``asin(3)``) is a domain error: NaN, as every float64 library gives;
- a finite value beyond float64's range is an overflow: ``inf`` with its sign;
- a pole (``1/0``, ``gamma(-2)``) is an infinity of unknown sign (C99 gives NaN at gamma's poles).

A point is *ill-conditioned* (`Reference.ill`, with the reason) when float64 cannot be judged
there: a jump (``floor``, ``sign``, a comparison) or a domain edge within the error bound of its
argument, an intermediate that overflows or is a pole, or a bound larger than ``ILL`` of the
value. Those are counted, never judged.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import mpmath
import sympy as sp
from mpmath import mp
from sympy.core.relational import Relational
from sympy.functions.elementary.piecewise import ExprCondPair

DPS = 50
EPS = 2.0**-52
TINY = 2.0**-1074
FLOAT_MAX = 1.7976931348623157e308
SMALLEST_NORMAL = 2.2250738585072014e-308
#: Sums are exact when their terms' binary exponents differ by at most this much (memory stays small).
EXACT_SPREAD = 4096
#: A bound beyond this fraction of the value leaves nothing to judge.
ILL = 1e-3
#: The tolerance: this many times the rounding bound, plus a few ulps of the value.
SAFETY = 16
#: An intermediate beyond these magnitudes is flagged "extreme": the chain rule's first and second
#: derivatives multiply up to three such factors (``d2(1/p) = 2/p**3``), which leave float64's range.
EXTREME_LOW, EXTREME_HIGH = mp.mpf(10) ** -100, mp.mpf(10) ** 100

_fn = {
    sp.sin: mp.sin, sp.cos: mp.cos, sp.tan: mp.tan, sp.cot: mp.cot, sp.sec: mp.sec, sp.csc: mp.csc,
    sp.asin: mp.asin, sp.acos: mp.acos, sp.atan: mp.atan, sp.acot: mp.acot, sp.asec: mp.asec,
    sp.acsc: mp.acsc, sp.sinh: mp.sinh, sp.cosh: mp.cosh, sp.tanh: mp.tanh, sp.coth: mp.coth,
    sp.sech: mp.sech, sp.csch: mp.csch, sp.asinh: mp.asinh, sp.acosh: mp.acosh, sp.atanh: mp.atanh,
    sp.exp: mp.exp, sp.log: mp.log, sp.erf: mp.erf, sp.erfc: mp.erfc, sp.erfinv: mp.erfinv,
    sp.gamma: mp.gamma, sp.loggamma: mp.loggamma, sp.sinc: mp.sinc, sp.re: mp.re, sp.im: mp.im,
    sp.arg: mp.arg, sp.conjugate: mp.conj, sp.atan2: mp.atan2, sp.besselj: mp.besselj,
    sp.bessely: mp.bessely, sp.polygamma: mp.psi, sp.sign: mp.sign, sp.floor: mp.floor,
    sp.ceiling: mp.ceil,
}  # fmt: skip
#: Relative accuracy of float64 libraries, in ulps (absolute, of 1, for those in `ABSOLUTE`).
ULPS = {sp.Add: 1, sp.Mul: 1, sp.Pow: 4, sp.erf: 10, sp.erfc: 50, sp.gamma: 50, sp.loggamma: 50,
        sp.erfinv: 50, sp.LambertW: 50, sp.besselj: 1e3, sp.bessely: 1e3, sp.polygamma: 1e3}  # fmt: skip
ABSOLUTE = (sp.loggamma, sp.LambertW, sp.besselj, sp.bessely, sp.polygamma, sp.erfinv)
PERIODIC = (sp.sin, sp.cos, sp.tan, sp.cot, sp.sec, sp.csc)
POLES = (sp.gamma, sp.loggamma, sp.polygamma, sp.cot, sp.csc, sp.coth, sp.csch)
DISCONTINUOUS = (sp.floor, sp.ceiling, sp.frac, sp.sign, sp.Heaviside, sp.Mod, Relational)


#: The flag of a NaN value (which a parent may still make finite: ``1.0**NaN`` is 1).
_NAN = frozenset({"nan"})


class NoReference(Exception):
    """The expression holds something the reference cannot evaluate (an unevaluated Derivative)."""


class _Pole(Exception):
    pass


@dataclass
class _Val:
    v: object  # mpf, mpc or bool (NaN as mp.nan); for an ExprCondPair, the pair's two _Vals
    err: float = 0.0
    flags: frozenset = frozenset()  # what happened below this node
    own: frozenset = frozenset()  # what happened at it: "pole", "overflow", "inf", "nan"

    @property
    def seen(self) -> frozenset:
        return self.flags | self.own


@dataclass
class Reference:
    """What float64 should give: ``kind`` is ``"value"`` (``value`` within ``tolerance``), ``"nan"``,
    ``"inf"`` (``sign`` +1 or -1; 0 for a pole of unknown sign, where NaN is also accepted), or
    ``"ill"`` (not judged: ``reason``)."""

    kind: str
    value: complex = 0j
    bound: float = 0.0
    sign: int = 0
    reason: str = ""
    flags: frozenset = field(default_factory=frozenset)

    @property
    def tolerance(self) -> float:
        return SAFETY * self.bound + 4 * EPS * abs(self.value) + 4 * TINY

    def describe(self) -> str:
        if self.kind == "value":
            return f"{self.value!r} (tolerance {self.tolerance:.3g})"
        if self.kind == "inf":
            return {1: "inf", -1: "-inf", 0: "inf of either sign (a pole)"}[self.sign]
        return self.kind if self.kind == "nan" else f"ill-conditioned: {self.reason}"


def _is_nan(v) -> bool:
    return not isinstance(v, bool) and mp.isnan(v)


def _is_finite(v) -> bool:
    return isinstance(v, bool) or mp.isfinite(v)


def _real(v):
    """mpc with a zero imaginary part as mpf."""
    if isinstance(v, mpmath.mpc) and v.imag == 0:
        return v.real
    return v


def _apply(e, vals: list):
    """The value of node ``e`` of the SymPy tree at argument values ``vals`` (50 digits)."""
    f = e.func
    if f is sp.Add:  # exactly (1 + 1e-250 must not round to 1 before log sees it) where that is cheap
        mags = [mp.mag(v) for v in vals if isinstance(v, mpmath.mpf) and mp.isfinite(v) and v != 0]
        if len(mags) < len(vals) or max(mags) - min(mags) > EXACT_SPREAD:
            return mp.fsum(vals)
        total = mp.mpf(0)
        for v in vals:
            total = mp.fadd(total, v, exact=True)
        return total
    if f is sp.Mul:
        return mp.fprod(vals)
    if f is sp.Pow:
        b, x = vals
        if x == 0 or b == 1:  # IEEE 754 pow: 1 even for a NaN operand
            return mp.mpf(1)
        if b == 0 and mp.re(x) < 0:
            raise _Pole
        if isinstance(b, mpmath.mpf) and isinstance(x, mpmath.mpf) and b == -mp.inf and not mp.isnan(x):
            odd = x == mp.nint(x) and mp.nint(x) % 2 == 1  # IEEE 754 pow(-inf, x), not a complex power
            return (-1 if odd else 1) * (mp.inf if x > 0 else mp.zero)
        return mp.power(b, x)
    if isinstance(e, sp.Piecewise):
        for expr_v, cond_v in vals:
            if cond_v is True:
                return expr_v
        return mp.nan
    if isinstance(e, Relational):
        a, b = (_real(v) for v in vals)
        if _is_nan(a) or _is_nan(b):
            return f is sp.Ne
        return {sp.StrictGreaterThan: a > b, sp.StrictLessThan: a < b, sp.GreaterThan: a >= b,
                sp.LessThan: a <= b, sp.Eq: a == b, sp.Ne: a != b}[f]  # fmt: skip
    if f is sp.And:
        return all(vals)
    if f is sp.Or:
        return any(vals)
    if f is sp.Not:
        return not vals[0]
    if f is sp.ITE:
        return vals[1] if vals[0] else vals[2]
    if f is sp.Xor:
        return sum(bool(v) for v in vals) % 2 == 1
    if f in (sp.Min, sp.Max):
        if any(_is_nan(v) for v in vals):
            return mp.nan
        return (min if f is sp.Min else max)(_real(v) for v in vals)
    if f is sp.Abs:
        return abs(vals[0])
    if f is sp.frac:
        return vals[0] - mp.floor(vals[0])
    if f is sp.Mod:
        a, b = vals
        if isinstance(a, mpmath.mpf) and isinstance(b, mpmath.mpf) and mp.isfinite(a) and mp.isinf(b):
            return a if a == 0 or (a > 0) == (b > 0) else b  # Python's and every backend's a % ±inf
        if b == 0 or not (_is_finite(a) and _is_finite(b)):
            return mp.nan
        r = mp.fmod(a, b)  # exact, however large a / b is; then floored, as SymPy's and NumPy's Mod
        return r + b if r != 0 and (r < 0) != (b < 0) else r
    if f is sp.Heaviside:
        a = vals[0]
        half = vals[1] if len(vals) > 1 else mp.mpf(0.5)
        return mp.mpf(1) if a > 0 else mp.mpf(0) if a < 0 else half if not _is_nan(a) else mp.nan
    if f is sp.LambertW:
        return mp.lambertw(vals[0], int(vals[1]) if len(vals) > 1 else 0)
    if f is sp.DiracDelta:
        if vals[0] == 0:
            raise _Pole
        return mp.mpf(0)
    if f in _fn:
        if any(_is_nan(v) for v in vals):  # float64: NaN in, NaN out (mpmath's atan2(inf, nan) is pi/2)
            return mp.nan
        # mpmath's complex atan (log of a ratio) keeps digits absolute: 1e-56 for atan(1e-220 j), and
        # 0 for the imaginary part 2e-121 of atan(4e120 (-0.4 + 0.9j)), which then meets an inf
        sizes = [abs(v) for v in vals if isinstance(v, mpmath.mpc) and v != 0 and mp.isfinite(v)]
        bits = max((abs(int(mp.log(a, 2))) * (1 if a < 1 else 2) for a in sizes), default=0)
        if bits:
            with mp.extraprec(min(bits + 20, 8000)):
                return +_fn[f](*vals)
        return _fn[f](*vals)
    raise NoReference(f"no mpmath rule for {f.__name__}")


def _ulps(e) -> tuple[float, bool]:
    f = e.func
    absolute = f in ABSOLUTE
    if f in (sp.Add, sp.Mul):
        return ULPS[f] * (len(e.args) - 1), False
    return ULPS.get(f, 2.0), absolute


def _node(e, kids: list[_Val], depends: bool) -> _Val:
    """The value, error bound and flags of node ``e`` from its children's."""
    if isinstance(e, ExprCondPair):
        return _Val((kids[0], kids[1]))
    if isinstance(e, sp.Piecewise):  # only the conditions looked at and the chosen branch count
        flags = frozenset()
        for pair in kids:
            branch, cond = pair.v
            flags |= cond.seen
            if cond.v is True:
                return _Val(branch.v, branch.err, flags | branch.flags, branch.own)
        return _Val(mp.nan, 0.0, flags, _NAN)
    vals = [k.v for k in kids]
    flags = frozenset().union(*(k.seen for k in kids))
    try:
        v = _apply(e, vals)
    except _Pole:
        return _Val(mp.inf, 0.0, flags, frozenset({"pole"}))
    except (ValueError, ZeroDivisionError) as exc:
        if isinstance(e, POLES) or "pole" in str(exc):
            return _Val(mp.inf, 0.0, flags, frozenset({"pole"}))
        if _changes_kind(e, vals, kids, finite=False):  # erfinv(1 + 1e-18): float64's argument is 1
            flags |= {"edge"}
        return _Val(mp.nan, 0.0, flags, _NAN)
    if _near_pole(e, vals, kids):
        flags |= {"edge"}
    if e.func is sp.Mul and _subnormal_partial(vals):
        flags |= {"subnormal"}
    if isinstance(v, bool):
        for i, k in enumerate(kids):
            if k.err and _is_finite(k.v) and any(_shifted(e, vals, i, d) != v for d in (k.err, -k.err)):
                flags |= {"jump"}
        return _Val(v, 0.0, flags)
    v = _real(v)
    all_real = all(isinstance(x, (mpmath.mpf, bool)) for x in vals)
    # loggamma is the real log|gamma| in every backend, NaN outside its domain, for a constant too
    # (docs/lambdify.md); SymPy's is the complex branch
    if (depends or e.func is sp.loggamma) and all_real and isinstance(v, mpmath.mpc):
        if _changes_kind(e, vals, kids, finite=False):
            flags |= {"edge"}
        return _Val(mp.nan, 0.0, flags, _NAN)  # a domain error of float64
    if not mp.isfinite(v):
        if _changes_kind(e, vals, kids, finite=False, real=all_real and depends, to_nan=not mp.isnan(v)):
            flags |= {"edge"}
        return _Val(v, 0.0, flags, _NAN if mp.isnan(v) else frozenset({"inf"}))
    if v != 0 and not EXTREME_LOW <= abs(v) <= EXTREME_HIGH:
        flags |= {"extreme"}  # its derivatives multiply powers of it (`derivatives.in_range`)
    if 0 < abs(v - 1) <= EPS or (v == 1 and any(isinstance(a, mpmath.mpf) and 0 < abs(a) < EPS for a in vals)):
        # float64 holds 1 or its neighbour (exp(3e-45**2) is 1 + 1e-89, 1 at 50 digits too): the
        # slope of its deviation is lost to float64's resolution
        flags |= {"unit"}
    # propagate the arguments' errors through this node, at 50 digits
    err = 0.0
    for i, k in enumerate(kids):
        if not k.err or isinstance(k.v, bool) or not _is_finite(k.v):
            continue
        worst = 0.0
        shifts = _shifts(k)
        for d in shifts:
            try:
                w = _real(_shifted(e, vals, i, d))
            except (ValueError, ZeroDivisionError, _Pole):
                flags |= {"edge"}
                continue
            if isinstance(w, bool) or not mp.isfinite(w) or (isinstance(w, mpmath.mpc) and isinstance(v, mpmath.mpf)):
                flags |= {"edge"}
                continue
            worst = max(worst, float(abs(w - v)))
        if worst and isinstance(e, DISCONTINUOUS) and worst > 1e-6 * max(1.0, float(abs(v))):
            flags |= {"jump"}
        if isinstance(e, PERIODIC) and k.err >= 1:  # two samples of sin over a period say little
            flags |= {"period"}
        err += worst
    if _jump_within(e, vals, kids):
        flags |= {"jump"}
    if depends and _signed_zero(e, vals):
        flags |= {"edge"}
    ulps, absolute = _ulps(e)
    scale = float(sum(abs(x) for x in vals)) if e.func is sp.Add else float(abs(v))
    if absolute:
        scale = max(scale, 1.0)
    if e.func in (sp.besselj, sp.bessely) and isinstance(vals[-1], mpmath.mpf):
        # the libraries reduce x - (2n+1)pi/4 in float64 past |x| ~ 25: an error of eps |x| in the phase
        scale = max(scale, float(mp.sqrt(abs(vals[-1]))))
    err += ulps * EPS * scale + (TINY if 0 < abs(v) < 2.3e-308 else 0.0)  # underflow's granularity
    if 0 < abs(v) < SMALLEST_NORMAL:
        flags |= {"subnormal"}  # XLA on CPU flushes it to zero (docs/jax.md)
    if abs(v) > FLOAT_MAX:
        return _Val(v, err, flags, frozenset({"overflow"}))
    return _Val(v, err, flags)


def _subnormal_partial(vals) -> bool:
    """Whether a product of some of ``vals`` (in the order a compiler may take) is subnormal: the
    smallest one, of every factor below 1 in magnitude."""
    small = mp.mpf(1)
    for v in vals:
        if not isinstance(v, bool) and mp.isfinite(v) and 0 < abs(v) < 1:
            small *= abs(v)
    return small < SMALLEST_NORMAL


def _jump_within(e, vals, kids) -> bool:
    """Whether a jump of floor, ceiling, frac or Mod lies within its argument's error interval.

    Moving the argument by its error is not enough to see it: an error that is a whole number (an
    ulp of 1e46) moves ``frac`` to the same value, one that is a multiple of the modulus ``Mod``."""
    f = e.func
    if f in (sp.floor, sp.ceiling, sp.frac):
        a, r = vals[0], kids[0].err
    elif f is sp.Mod:
        (a, b), (ra, rb) = vals, (kids[0].err, kids[1].err)
        if not (isinstance(b, mpmath.mpf) and mp.isfinite(b)) or b == 0:
            return False
        if rb >= abs(b):
            return True
        a, r = (a / b if isinstance(a, mpmath.mpf) else a), ra / abs(b) + float(abs(a / b)) * rb / float(abs(b))
    else:
        return False
    if not r or not isinstance(a, mpmath.mpf) or not mp.isfinite(a):
        return False
    return mp.floor(a + r) >= mp.ceil(a - r)


def _signed_zero(e, vals) -> bool:
    """Where the sign of a zero decides the value and float64 may hold -0.0 (the reference cannot
    see it): ``acot(±0) = ±pi/2``, ``atan2(±0, x < 0) = ±pi``, ``atan2(±0, ±0)`` is one of 0, ±pi."""
    if e.func is sp.acot:
        return vals[0] == 0
    if e.func is sp.atan2:
        y, x = vals
        return y == 0 and isinstance(x, mpmath.mpf) and x <= 0
    return False


def _shifts(k: _Val) -> list:
    """The moves of an argument by its error; to exactly 0 too where the error reaches it (float64
    may have underflowed there: ``(-3.5)**exp(-800)`` is 1, not a domain error), and to the nearest
    whole number where the error reaches it."""
    out = [k.err, -k.err] if isinstance(k.v, mpmath.mpf) else [k.err, -k.err, 1j * k.err, -1j * k.err]
    if k.v != 0 and abs(k.v) <= k.err:
        out.append(-k.v)
    if isinstance(k.v, mpmath.mpf):  # to a whole number (float64 beyond 2**53 holds nothing else: (-3)**w
        n = mp.nint(k.v)  # is real there; 1 + 1e-30 is 1, and pow(1, NaN) = 1)
        if n != k.v and n != 0 and abs(n - k.v) <= k.err:
            out.append(n - k.v)
    return out


def _changes_kind(e, vals, kids, finite: bool, real: bool = True, to_nan: bool = False) -> bool:
    """Whether moving an argument by its error makes a non-finite (or domain-error) value finite, or
    (``to_nan``) an infinite one NaN (``oo*exp(z)`` where ``exp(z)`` underflows: ``inf*0``)."""
    for i, k in enumerate(kids):
        if not k.err or isinstance(k.v, bool) or not _is_finite(k.v):
            continue
        for d in _shifts(k):
            try:
                w = _real(_shifted(e, vals, i, d))
            except (ValueError, ZeroDivisionError, _Pole):
                continue
            if not isinstance(w, bool) and mp.isfinite(w) and not (real and isinstance(w, mpmath.mpc)):
                return True
            if to_nan and not isinstance(w, bool) and mp.isnan(w):
                return True
    return False


def _near_pole(e, vals, kids) -> bool:
    """Whether a pole lies within the error bound of the argument (gamma at the negative integers,
    tan and sec at odd multiples of pi/2, cot and csc at multiples of pi, coth and csch at 0)."""
    f = e.func
    if f not in (sp.gamma, sp.loggamma, sp.tan, sp.sec, sp.cot, sp.csc, sp.coth, sp.csch) or not kids:
        return False
    a, err = vals[-1], kids[-1].err
    if not isinstance(a, mpmath.mpf) or not mp.isfinite(a):
        return False
    if f in (sp.gamma, sp.loggamma):
        return a <= err and abs(a - mp.nint(a)) <= err
    if f in (sp.coth, sp.csch):
        return abs(a) <= err
    period = mp.pi
    shift = period / 2 if f in (sp.tan, sp.sec) else 0
    t = a - shift
    return abs(t - period * mp.nint(t / period)) <= err + 4 * EPS * abs(a)


def _shifted(e, vals, i, d):
    moved = list(vals)
    moved[i] = vals[i] + d
    return _apply(e, moved)


def _leaf(e, point: dict) -> _Val:
    if e in point:
        return _Val(mp.mpf(point[e]))
    if e.is_Integer:
        v = mp.mpf(int(e))
        return _Val(v, 0.0 if abs(int(e)) <= 2**53 else 0.5 * EPS * float(abs(v)))
    if e.is_Rational:
        v = mp.mpf(e.p) / e.q
        return _Val(v, 0.5 * EPS * float(abs(v)))
    if e.is_Float:  # its float64 value (0 or inf beyond float64's range), as the compiled code holds it
        return _Val(mp.mpf(float(e)))
    if e is sp.I:
        return _Val(mp.mpc(0, 1))
    if e is sp.nan:
        return _Val(mp.nan)
    if e in (sp.oo, sp.zoo):
        return _Val(mp.inf, 0.0, frozenset({"inf"} if e is sp.oo else {"pole"}))
    if e is sp.S.NegativeInfinity:
        return _Val(-mp.inf, 0.0, frozenset({"inf"}))
    if e in (sp.true, sp.false):
        return _Val(bool(e))
    if e.is_NumberSymbol or e.is_number:
        v = _real(mp.mpmathify(e.evalf(DPS + 10)))
        return _Val(v, 0.5 * EPS * float(abs(v)))
    if e.is_Symbol:
        raise NoReference(f"no value for the symbol {e}")
    raise NoReference(f"no mpmath rule for the atom {e!r}")


def evaluate(expr, point: dict, dps: int = DPS) -> Reference:
    """The float64 outcome ``expr`` should have at ``point`` (symbol -> float), as a `Reference`.

    Raises `NoReference` for expressions outside the reference's rules.
    """
    with mp.workdps(dps):
        root = _walk(sp.sympify(expr), point)
    return _classify(root)


def value_only(expr, point: dict, dps: int = DPS):
    """The 50-digit value alone (mpf/mpc), float64 semantics as in `evaluate`; for finite differences."""
    with mp.workdps(dps):
        return _walk(sp.sympify(expr), point).v


def _walk(expr, point: dict) -> _Val:
    memo: dict = {}
    stack = [(expr, False)]
    while stack:
        e, ready = stack.pop()
        if e in memo:
            continue
        if not e.args or e.is_Atom:
            memo[e] = _leaf(e, point)
        elif not ready:
            stack.append((e, True))
            stack.extend((a, False) for a in e.args if a not in memo)
        else:
            kids = [memo[a] for a in e.args]
            val = _node(e, kids, bool(e.free_symbols))
            if "overflow" in val.own and isinstance(val.v, mpmath.mpf):  # float64 goes on with inf
                val = _Val(mp.inf if val.v > 0 else -mp.inf, val.err, val.flags, val.own)
            memo[e] = val
    return memo[expr]


def _classify(root: _Val) -> Reference:
    v, flags = root.v, root.flags
    if isinstance(v, bool):
        v = mp.mpf(int(v))
    for flag, reason in (
        ("jump", "a jump within the error bound"),
        ("edge", "a domain edge within the error bound"),
        ("pole", "a pole in an intermediate"),
        ("overflow", "an intermediate overflows"),
        ("period", "an argument's error spans a period of a trigonometric function"),
    ):
        if flag in flags:
            return Reference("ill", reason=reason, flags=root.seen)
    if isinstance(v, mpmath.mpc) and (mp.isinf(v.real) or mp.isinf(v.imag) or "overflow" in root.own):
        # (-inf)*(a + bi) is inf*a + (inf*b)i in float64, NaN parts where a or b is 0: order-dependent
        return Reference("ill", reason="a complex infinity", flags=root.seen)
    if mp.isnan(v):
        return Reference("nan", flags=root.seen)
    if "pole" in root.own:
        return Reference("inf", sign=0, flags=root.seen)
    if mp.isinf(v) or "overflow" in root.own:
        return Reference("inf", sign=1 if mp.re(v) > 0 else -1, flags=root.seen)
    value = complex(v)
    bound = root.err
    if bound > ILL * abs(value) and bound > 1e-300:
        return Reference("ill", value, bound, reason=f"bound {bound:.3g} of a value {abs(value):.3g}", flags=flags)
    if abs(value) >= FLOAT_MAX * (1 - 1e-12):
        return Reference("ill", value, bound, reason="at the edge of float64's range", flags=flags)
    return Reference("value", value, bound, flags=root.seen)


def judge(ref: Reference, got) -> str | None:
    """None when ``got`` (a Python number) agrees with ``ref``; else a short description of how not."""
    try:
        g = complex(got)
    except (TypeError, ValueError):
        return f"not a number: {got!r}"
    nan = math.isnan(g.real) or math.isnan(g.imag)
    if ref.kind == "nan":
        return None if nan else "NaN expected"
    if ref.kind == "inf":
        if nan:
            return None if ref.sign == 0 else "inf expected, got NaN"
        if g.imag == 0 and math.isinf(g.real) and (ref.sign == 0 or math.copysign(1, g.real) == ref.sign):
            return None
        return "inf expected"
    if nan or math.isinf(g.real) or math.isinf(g.imag):
        return "finite value expected"
    err = abs(g - ref.value)
    if err <= ref.tolerance:
        return None
    return f"wrong value (error {err:.3g} > tolerance {ref.tolerance:.3g})"
