"""Model selection that knows the noise, and constants that snap to exact values.

A candidate's *criterion* is a description length in nats (smaller is better)::

    n * log(max(mse, floor)) + cost(expr)

- ``floor`` is the loss the data cannot resolve: float precision on clean data
  (``(1e-8 * RMS(y))**2``), else a lower confidence bound of the noise variance (from a
  nearest-neighbour estimate and the best candidates' residuals). Losses below it are equal,
  so float dust and fitted noise buy nothing.
- ``cost`` charges every node ``log(n)`` (BIC's price of a parameter), a fitted constant
  (a Float) twice that, and an exact constant one node plus the length of its digits
  (``log|p| + log(q)`` for a rational ``p/q``, 1 per pi or E; the exact factors of a
  product, or terms of a sum, are one constant): ``3/2`` is cheaper than
  ``1.5``, ``x`` than ``1.0*x``, and a term that the data cannot see is dearer than its absence.

`snap` tries each fitted constant as 0 (the term dropped), a small rational (1: the factor
dropped), or a small rational multiple of pi, 1/pi, sqrt(2), sqrt(3), sqrt(pi) or
sqrt(2*pi) and their inverses, within a few standard errors of its value, refits the remaining
constants, and keeps the option of smallest criterion when that is no worse than before. The
constant nearest to an exact value (in standard errors) goes first.
"""

from __future__ import annotations

import math
import time
import warnings
from fractions import Fraction

import numpy as np
import sympy as sp

from .._core.errors import SympileError

#: Relative float precision below which two losses on clean data are equal.
FLOAT_FLOOR = 1e-8


def nearest_neighbour_noise(X: np.ndarray, y: np.ndarray, max_points: int = 2000) -> float:
    """An upper estimate of the noise variance: half the mean squared difference of ``y``
    between each point and its nearest neighbour in standardised ``X``."""
    n = y.shape[0]
    if n < 3:
        return math.inf
    idx = np.arange(n) if n <= max_points else np.random.default_rng(0).choice(n, max_points, replace=False)
    Z = X[idx]
    scale = Z.std(axis=0)
    Z = (Z - Z.mean(axis=0)) / np.where(scale > 0, scale, 1.0)
    d = ((Z[:, None, :] - Z[None, :, :]) ** 2).sum(-1)
    np.fill_diagonal(d, np.inf)
    nn = np.argmin(d, axis=1)
    diff = y[idx] - y[idx][nn]
    return float(np.mean(diff * diff) / 2)


def loss_floor(y: np.ndarray, noise: float, best_losses: list[float]) -> float:
    """The loss below which the data cannot tell candidates apart (see the module's text)."""
    n = y.shape[0]
    precision = (FLOAT_FLOOR**2) * float(np.mean(y * y)) + 1e-300
    # the noise variance: the smaller of the neighbour estimate and the best residuals, and
    # of that a lower bound (a chi-square with n degrees of freedom has relative sd sqrt(2/n))
    estimate = min([noise, *best_losses]) if best_losses else noise
    if not math.isfinite(estimate):
        return precision
    return max(precision, estimate * max(0.0, 1 - 3 * math.sqrt(2 / max(n, 1))))


def cost(expr, n: int) -> float:
    """The description length of ``expr`` in nats (see the module's text)."""
    unit = math.log(max(n, 3))
    total = 0.0
    stack = [expr]
    while stack:
        e = stack.pop()
        if isinstance(e, sp.Float):
            total += 2 * unit
        elif e.is_number and not e.has(sp.Float):
            total += unit + _digits(e)
        elif not e.args:
            total += unit
        else:
            total += unit
            args = list(e.args)
            if isinstance(e, (sp.Mul, sp.Add)):
                # the exact numbers of a product or sum are one constant: 3/(2*pi) is one
                exact = [a for a in args if a.is_number and not a.has(sp.Float)]
                if exact:
                    total += unit + sum(_digits(a) for a in exact)
                    args = [a for a in args if not (a.is_number and not a.has(sp.Float))]
            stack.extend(args)
    return total


def _digits(e) -> float:
    out = 0.0
    for a in sp.preorder_traversal(e):
        if isinstance(a, sp.Rational):
            out += math.log(max(abs(int(a.p)), 1)) + math.log(int(a.q))
        elif isinstance(a, sp.NumberSymbol):
            out += 1.0
    return out


def criterion(loss: float, expr, n: int, floor: float) -> float:
    if not math.isfinite(loss):
        return math.inf
    return n * math.log(max(loss, floor)) + cost(expr, n)


_BASES = [
    sp.Integer(1),
    sp.pi,
    1 / sp.pi,
    sp.sqrt(2),
    sp.sqrt(3),
    sp.sqrt(sp.pi),
    1 / sp.sqrt(sp.pi),
    sp.sqrt(2 * sp.pi),
    1 / sp.sqrt(2 * sp.pi),
]
_BASE_VALUES = [float(b) for b in _BASES]


def snap_options(value: float, max_den: int = 12, max_options: int = 10, within: float | None = None) -> list:
    """Exact values near ``value`` (within ``within``, default 5% of it): 0, and small
    rationals times the bases, simplest first."""
    out = {sp.Integer(0): 0.0}
    window = 0.05 * abs(value) if within is None else within
    if value == 0 or not math.isfinite(value):
        return list(out)
    for base, bv in zip(_BASES, _BASE_VALUES):
        r = value / bv
        for den in (1, 2, 3, 4, 5, 6, 8, 10, 12):
            if den > max_den:
                break
            f = Fraction(r).limit_denominator(den)
            if f == 0 or abs(f.numerator) > 100:
                continue
            exact = sp.Rational(f.numerator, f.denominator) * base
            approx = float(f) * bv
            if abs(approx - value) <= window:
                out.setdefault(exact, _digits(exact))
    ranked = sorted(out, key=lambda e: (out[e], abs(float(e) - value)))
    return ranked[:max_options]


def snap(expr, columns, y, floor: float, deadline: float | None = None, fit_iter: int = 60):
    """``expr`` with its Floats replaced by exact values where the criterion allows (each
    change followed by a refit of the remaining Floats). Returns (expr, loss)."""
    n = y.shape[0]
    loss = mse(expr, columns, y)
    best_crit = criterion(loss, expr, n, floor)
    done: set = set()
    errors = _stderr(expr, columns, y)
    while deadline is None or time.perf_counter() < deadline:
        plans = []
        for f in _ordered_floats(expr):
            if f in done:
                continue
            # how far the data lets the constant move: a few standard errors (at least 1e-6
            # of it: the criterion judges); without them, 5% of its value
            err = errors.get(f)
            within = None if err is None else max(4 * err, 1e-6 * abs(float(f)))
            options = snap_options(float(f), within=within)
            # the constant closest to an exact value (in standard errors) goes first
            z = min((abs(float(o) - float(f)) / (err or abs(float(f)) or 1.0) for o in options if o != 0), default=1e9)
            plans.append((z, f, options))
        if not plans:
            break
        _, f, options = min(plans, key=lambda p: p[0])
        done.add(f)
        choice = None
        for value in options:
            if deadline is not None and time.perf_counter() > deadline:
                break
            trial = expr.xreplace({f: value})
            refit = _refit(trial, columns, y, fit_iter) if trial.atoms(sp.Float) else None
            if refit is not None:
                trial, trial_loss = refit
            else:
                trial_loss = mse(trial, columns, y)
            c = criterion(trial_loss, trial, n, floor)
            if c <= best_crit + 1e-9 * abs(best_crit):  # the best acceptable option
                choice, best_crit, loss = trial, c, trial_loss
        if choice is not None:
            expr = choice
            done = {d for d in done if d in expr.atoms(sp.Float)}
            errors = _stderr(expr, columns, y)
    return real_powers(expr), loss


def _stderr(expr, columns, y) -> dict:
    """{Float: its standard error} from a Levenberg-Marquardt fit (empty if that fails)."""
    from .fit import FitWarning, fit

    if not expr.atoms(sp.Float):
        return {}
    data = {k: v for k, v in columns.items() if sp.Symbol(k) in expr.free_symbols}
    data["__target__"] = y
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FitWarning)
        try:
            result = fit(expr, data, "__target__", max_iter=1)
        except SympileError:
            return {}
    occurrences = [a for a in sp.preorder_traversal(expr) if isinstance(a, sp.Float)]
    errors = result.stderr or []
    if len(errors) != len(occurrences):
        return {}
    out: dict = {}
    for f, e in zip(occurrences, errors):
        if math.isfinite(e):
            out[f] = max(out.get(f, 0.0), float(e))
    return out


def real_powers(expr):
    """``exp(a)**r`` as ``exp(a*r)``, right for the real ``a`` of real data:
    ``sqrt(exp(-theta**2))`` is ``exp(-theta**2/2)``."""
    return expr.replace(
        lambda e: e.is_Pow and isinstance(e.base, sp.exp) and e.exp.is_real,
        lambda e: sp.exp(e.base.args[0] * e.exp),
    )


def _ordered_floats(expr) -> list:
    seen, out = set(), []
    for a in sp.preorder_traversal(expr):
        if isinstance(a, sp.Float) and a not in seen:
            seen.add(a)
            out.append(a)
    return out


def _refit(expr, columns, y, max_iter: int):
    from .fit import FitWarning, fit

    data = {k: v for k, v in columns.items() if sp.Symbol(k) in expr.free_symbols}
    data["__target__"] = y
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FitWarning)
        try:
            result = fit(expr, data, "__target__", max_iter=max_iter)
        except SympileError:
            return None
    return real_powers(result.expr), result.loss


def mse(expr, columns, y) -> float:
    """Mean squared error of ``expr`` (compiled) at the data's ``columns`` against ``y`` (inf
    where it cannot be computed or leaves the reals)."""
    from .._functions.lambdify import lambdify

    syms = sorted(expr.free_symbols, key=str)
    try:
        f = lambdify(syms, expr)
        with np.errstate(all="ignore"):
            pred = np.broadcast_to(np.asarray(f(*[columns[str(s)] for s in syms]), dtype=complex), y.shape)
    except (SympileError, KeyError):
        return math.inf
    if np.any(np.abs(pred.imag) > 1e-12 * (1 + np.abs(pred.real))):
        return math.inf
    r = pred.real - y
    v = float(np.mean(r * r))
    return v if math.isfinite(v) else math.inf
