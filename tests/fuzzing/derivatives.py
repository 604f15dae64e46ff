"""The derivative class's references: what float64 derivatives of an expression should be at a point.

Each entry (d/dx, d/dy, d/dz, then the Hessian's upper triangle) is `sympy.diff` evaluated by the
reference (`reference.evaluate`, with its error bound), checked against finite differences of the
60-digit value; where SymPy's form cannot be evaluated (an unevaluated ``Derivative`` of ``Mod``,
``floor``), the finite differences alone, within ``FD_ONLY`` relative. Three rules keep the references honest:

- **The value first.** Where the function's own value is ill-conditioned (a jump or a domain edge
  within its error bound, an intermediate that overflows, a bound as large as the value), NaN
  (undefined) or infinite, its derivatives are not judged: float64 does not know the point well
  enough for the derivative there to mean anything (``acosh(1 + t**2)`` with ``t**2`` below
  float64's resolution of 1; ``Mod(u, c)`` with ``u`` a million times ``c``'s ulp). Nor where an
  intermediate is infinite inside a finite value (``erf(log(0))``): the chain rule meets
  ``inf * 0`` there, in any AD system.
- **Finite differences carry their own error.** Each is taken at two steps, ``h`` and ``h/4``;
  a difference quotient that changes between them by more than its rounding and truncation
  allow straddles a jump or a kink (it grows like ``1/h``), and the entry is ill-conditioned;
  otherwise its tolerance is that change plus the rounding floor of the 60-digit values, an
  absolute term (``|f| 10**-60 / h**k``) that the relative one alone missed (a second
  difference of a piecewise-linear function is 1e-38, not 0).
- **SymPy's form against the differences.** They must agree within both tolerances; else the
  entry is ill-conditioned (SymPy's form NaN where the differences are finite: ``0**f log 0``).
"""

from __future__ import annotations

from dataclasses import replace

import sympy as sp
from mpmath import mp
from random_expressions import SYMBOLS

from . import reference as R

REAL = sp.symbols("x y z", real=True)
PAIRS = [(0, 0), (0, 1), (0, 2), (1, 1), (1, 2), (2, 2)]
#: Digits of the values the differences are taken of.
DPS = 60
#: Steps, relative to ``max(1, |coordinate|)``, of the first and second differences.
STEP1, STEP2 = mp.mpf(10) ** -15, mp.mpf(10) ** -12
#: How much a difference may change between the steps ``h`` and ``h/4`` beyond its error floor,
#: relative to its size, before it counts as straddling a jump.
AGREE = 1e-6
#: The relative tolerance of an entry judged by the finite differences alone.
FD_ONLY = 1e-7
#: An exactly-0 entry's rounding bound, in ulps of the largest derivative entry at the point.
ZERO_ULPS = 4


def derivative_references(expr, pts, gaps: list | None = None) -> list:
    """For each point, the `reference.Reference` of each derivative entry (None: no reference);
    ``gaps`` collects what the reference could not evaluate."""
    gaps = [] if gaps is None else gaps
    try:
        er = expr.xreplace(dict(zip(SYMBOLS, REAL)))  # SymPy evaluates again: Mod by zero can raise
    except Exception as exc:  # noqa: BLE001
        gaps.append((str(expr)[:200], None, f"{type(exc).__name__}: {exc}"[:200]))
        return [None] * len(pts)
    try:
        stepped = _steps_rewritten(er)
        d1 = [_steps_flat(sp.diff(stepped, s)) for s in REAL]
        d2 = [_steps_flat(sp.diff(d1[i], REAL[j])) for i, j in PAIRS]
    except Exception:  # noqa: BLE001 - SymPy's simplification can recurse too deep: differences only
        d1, d2 = [None] * 3, [None] * len(PAIRS)
    out = []
    for pt in pts:
        p = dict(zip(REAL, pt))
        # the value as compiled: SymPy's real symbols rewrite re(y*log(x)) as y*log|x|, finite at
        # x < 0, where float64's log(x) (and so the compiled function) is NaN
        why, flags = _value_unfit(expr, dict(zip(SYMBOLS, pt)), gaps)
        if why:
            out.append([R.Reference("ill", reason=why)] * (len(d1) + len(d2)))
            continue
        try:
            fd = finite_differences(er, pt)
        except Exception:  # noqa: BLE001 - counted as no difference
            fd = [None] * (len(d1) + len(d2))
        entries = [_entry(d, p, f, gaps) for d, f in zip(d1 + d2, fd)]
        # a gradient entry whose form is NaN met a point where a part is not differentiable (0**P
        # at P = 0: log 0 times P's zero slope); the chain rule's second derivatives meet it too
        broken = {i for i in range(3) if entries[i] is not None and entries[i].reason.startswith(_NAN_FORM)}
        for k, (i, j) in enumerate(PAIRS):
            if broken & {i, j}:
                entries[3 + k] = R.Reference("ill", reason=f"{_NAN_FORM} in the gradient")
        wide = flags & {"extreme", "unit"}  # the value's intermediates count for the derivatives' (`in_range`)
        if wide:
            entries = [e if e is None else replace(e, flags=e.flags | wide) for e in entries]
        # An exact 0 is often SymPy's own cancellation (atan(tan z)' = (1 + tan**2)/(1 + tan**2) = 1,
        # so d2/dz2 = 0; log(A B) separates): the chain rule sums the same terms in float64 and
        # leaves their rounding, on the scale of the derivatives at the point, for which SymPy's
        # form carries no bound. Such an entry is judged within that scale's rounding.
        scale = max((abs(e.value) for e in entries if e is not None and e.kind == "value"), default=0.0)
        entries = [
            replace(e, bound=max(e.bound, ZERO_ULPS * R.EPS * scale))
            if e is not None and e.kind == "value" and e.value == 0
            else e
            for e in entries
        ]
        out.append(entries)
    return out


_STEPS = (sp.floor, sp.ceiling)
_NAN_FORM = "sympy.diff's form is NaN"


def _steps_rewritten(e):
    """``Mod(a, b)`` as ``a - b floor(a/b)`` and ``frac(u)`` as ``u - floor(u)``, whose derivatives
    SymPy writes out (it leaves those of ``Mod`` and ``frac`` unevaluated); only the derivative
    forms are taken of it, the value stays the reference's own ``Mod``."""
    e = e.replace(sp.Mod, lambda a, b: a - b * sp.floor(a / b))
    return e.replace(sp.frac, lambda u: u - sp.floor(u))


def _steps_flat(d):
    """``d`` with the derivatives of ``floor`` and ``ceiling``, which SymPy leaves unevaluated, 0:
    their value away from a jump (the finite differences see jumps)."""

    def is_step_derivative(e):
        return isinstance(e, sp.Derivative) and isinstance(e.expr, _STEPS)

    d = d.replace(lambda e: isinstance(e, sp.Subs) and is_step_derivative(e.expr), lambda *_: sp.S.Zero)
    return d.replace(is_step_derivative, lambda *_: sp.S.Zero)


def in_range(ref: R.Reference, got) -> bool:
    """False where ``got`` misses the reference at a point where float64's range or resolution
    decides the derivative: an intermediate of the function or of SymPy's form of the derivative
    is beyond 10**±100 (``"extreme"``), or within an ulp of 1 but not 1 (``"unit"``: float64
    keeps 1, and its slope is gone: ``exp(x**2)`` at ``x = 3e-45``).

    The chain rule multiplies such intermediates (``d2(1/p) = 2/p**3``; ``u**(-3/2) * u'**2``
    for ``sqrt(u)``; ``y**(-5/3)`` in ``d2/dy2 y**(1/3)`` at ``y = 2e206``, which underflows and
    takes a term of a finite sum with it) in an order the compiled graph fixes, in any AD system:
    a product leaves the range where the exact result does not, and the answer is 0, inf, NaN,
    subnormal or off by a lost term. Such misses are counted apart (``range``); answers that
    agree are passed, and every other point is judged as usual."""
    if ref.kind != "value" or not ref.flags & {"extreme", "unit"}:
        return True
    return R.judge(ref, got) is None


def _value_unfit(er, p: dict, gaps: list) -> tuple[str, frozenset]:
    """Why the function's value at ``p`` leaves its derivatives unjudged, or '', and the value's flags."""
    try:
        ref = R.evaluate(er, p)
    except R.NoReference:
        return "", frozenset()
    except Exception as exc:  # noqa: BLE001
        gaps.append((str(er)[:200], list(p.values()), f"{type(exc).__name__}: {exc}"[:200]))
        return "", frozenset()
    return _unfit_reason(ref), ref.flags


def _unfit_reason(ref: R.Reference) -> str:
    if ref.kind == "ill" and (ref.value != 0 or ref.reason.startswith(("a ", "an "))):
        # a jump, edge, pole or overflow, or a bound as large as a value that is not 0 (a bound
        # of 1 ulp of an exact 0, ``x - 1`` at 1, says nothing of the slope)
        return f"the value is ill-conditioned here ({ref.reason})"
    if ref.kind == "nan":
        return "the function is undefined (NaN) here"
    if ref.kind == "inf":
        return "the function is infinite here"
    if ref.flags & {"inf", "pole", "overflow"}:
        # log(0) = -inf inside a finite value (its slope is 1/0, met by a 0): the chain rule
        # gives inf * 0 = NaN, in every AD system, where the limit may be finite
        return "an intermediate is infinite here"
    if "nan" in ref.flags:
        # 1.0**NaN is 1 (erf(z)**(1/3) at z < 0 is NaN): the chain rule meets NaN's slope, 1 * 0 * NaN
        return "an intermediate is NaN here"
    return ""


def _entry(d, p: dict, fd, gaps: list):
    try:
        ref = None if d is None else R.evaluate(d, p)
    except R.NoReference:
        ref = None
    except Exception as exc:  # noqa: BLE001
        gaps.append((str(d)[:200], list(p.values()), f"{type(exc).__name__}: {exc}"[:200]))
        ref = None
    if fd == "jump":
        return R.Reference("ill", reason="the finite differences straddle a jump or a kink")
    if ref is not None and fd is not None:
        value, tol = fd
        if ref.kind == "value":
            if abs(value - ref.value) > tol + 8 * ref.tolerance + 1e-8 * abs(ref.value):
                return R.Reference("ill", reason="sympy.diff and finite differences disagree")
            return ref
        if ref.kind == "nan":
            return R.Reference("ill", reason=f"{_NAN_FORM} where the finite differences are finite")
        return ref
    if ref is not None:
        if ref.kind == "nan":  # where the value is finite, a NaN of SymPy's form is its own 0 * inf
            return R.Reference("ill", reason=f"{_NAN_FORM} where the function is finite")
        return ref
    if fd is None:
        return None
    value, tol = fd
    # No error bound of float64's evaluation comes with the differences: a loose relative one
    return R.Reference("value", value, max(FD_ONLY * abs(value), tol) / R.SAFETY)


def finite_differences(expr, pt) -> list:
    """Central differences of the 60-digit value (the gradient, then the Hessian's upper triangle):
    each ``(value, tolerance)``, ``"jump"`` where the steps ``h`` and ``h/4`` disagree, or None
    where the value is not finite nearby."""

    def f(q):
        v = R.value_only(expr, dict(zip(REAL, q)), dps=DPS)
        return v if mp.isfinite(v) else None

    def moved(q, shifts):
        q = [mp.mpf(c) for c in q]
        for i, d in shifts:
            q[i] += d
        return q

    center = None

    def first(i, h):
        a, b = f(moved(pt, [(i, h)])), f(moved(pt, [(i, -h)]))
        if a is None or b is None:
            return None
        if center is not None:  # a kink: the one-sided slopes' gap does not shrink with the step
            kinks[i].append(abs((a - center) - (center - b)) / h)
        return (a - b) / (2 * h), max(abs(a), abs(b))

    def second(i, j, h):
        vals = [f(moved(pt, [(i, si * h[i]), (j, sj * h[j])])) for si, sj in ((1, 1), (1, -1), (-1, 1), (-1, -1))]
        if any(v is None for v in vals):
            return None
        return (vals[0] - vals[1] - vals[2] + vals[3]) / (4 * h[i] * h[j]), max(abs(v) for v in vals)

    def judged(at_h, at_quarter, step_power):
        if at_h is None or at_quarter is None:
            return None
        (v1, size), (v2, _) = at_h, at_quarter
        floor = 16 * size * mp.mpf(10) ** (-DPS) / step_power  # the values' rounding, amplified
        change = abs(v1 - v2)
        if change > floor + AGREE * max(abs(v1), abs(v2)):
            return "jump"
        return complex(v2), float(change + floor)

    out = []
    kinks: list[list] = [[], [], []]
    kinked = [False] * 3
    with mp.workdps(DPS):
        center = f(pt)
        scale = [max(1, abs(mp.mpf(c))) for c in pt]
        for i in range(3):
            h = STEP1 * scale[i]
            at_h, at_quarter = first(i, h), first(i, h / 4)
            entry = judged(at_h, at_quarter, h / 4)
            if len(kinks[i]) == 2 and entry not in (None, "jump"):
                # smooth: the gap is h |f''|, a quarter at h/4; across a kink it stays the change of slope
                gap_h, gap_q = kinks[i]
                floor = 64 * abs(center) * mp.mpf(10) ** (-DPS) / (h / 4)
                if gap_q > floor + AGREE * abs(entry[0]) and gap_q > gap_h / 2:
                    kinked[i] = True
                    entry = "jump"
            out.append(entry)
        h = [STEP2 * s for s in scale]
        q = [c / 4 for c in h]
        for i, j in PAIRS:
            # central differences are blind to a kink whose sides are mirror images (|z| at z = 1e-300)
            entry = "jump" if kinked[i] or kinked[j] else None
            out.append(entry or judged(second(i, j, h), second(i, j, q), q[i] * q[j]))
    return out
