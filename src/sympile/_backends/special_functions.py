"""Special functions for the NumPy backend: SciPy's when it is installed, else mpmath's.

mpmath comes with SymPy, so every special function of the op table works without SciPy,
elementwise and slowly; installing SciPy (``pip install sympile[scipy]``) makes them fast.

``import scipy.special`` costs about 0.2 s, more than the rest of a first build, so it is
imported when a generated function first looks up a special function (`LazySpecial`), not
when the backend is imported or a namespace is made: a graph without erf, gamma, ... never
imports SciPy.

Conventions at the edges (tests/backends/test_special_values.py checks them), which every
backend follows: ``gamma`` is SciPy's (±inf at ±0, NaN at the poles 0 > n integer and at -inf);
``loggamma`` is log|Γ(x)|, C99's ``lgamma`` (+inf at the poles and at ±inf, ``-log|x|`` at
subnormals), where SciPy's ``gammaln`` gives -inf at -inf and inf at subnormals
(`conventional_gammaln`). The tables of Γ and log Γ at the integers 1, ..., 171 are for the
backends whose gamma is inexact there (`FACTORIALS`, `log_factorials`).
"""

from __future__ import annotations

import functools
import math
from types import SimpleNamespace

import numpy as np

NAMES = ("erf", "erfc", "erfinv", "gamma", "gammaln", "polygamma", "binom", "jv", "yv", "lambertw")


class LazySpecial:
    """The special functions as attributes (``_sp.erf``), loaded on the first lookup.

    The first lookup of any of `NAMES` imports SciPy's (else mpmath's) functions and stores
    them all on the instance, so later lookups are plain attribute reads.

    Example:
        >>> sp = LazySpecial()
        >>> float(sp.erf(0.0))
        0.0
    """

    def __getattr__(self, name: str):
        if name not in NAMES:
            raise AttributeError(name)
        self.__dict__.update(vars(scipy_special_now()))
        return self.__dict__[name]


def scipy_special() -> LazySpecial:
    """SciPy's special functions (else mpmath's), imported on first use."""
    return LazySpecial()


def scipy_special_now() -> SimpleNamespace:
    """SciPy's special functions (else mpmath's), imported now, with `conventional_gammaln`."""
    try:
        import scipy.special as s
    except ImportError:
        fns = mpmath_special()
    else:
        fns = SimpleNamespace(**{n: getattr(s, n) for n in NAMES})
    fns.gammaln = conventional_gammaln(fns.gammaln)
    fns.polygamma = reflected_polygamma(fns.polygamma, np)
    return fns


#: The smallest normal float64: below it (subnormals) SciPy's gammaln overflows to inf.
_TINY = np.finfo(np.float64).tiny

#: Γ(n) = (n - 1)! for n = 1, ..., 171, correctly rounded to float64 (Γ overflows past 171.6).
FACTORIALS = tuple(float(math.factorial(n)) for n in range(171))


@functools.cache
def log_factorials() -> tuple[float, ...]:
    """log Γ(n) = log (n - 1)! for n = 1, ..., 171, correctly rounded to float64 (by mpmath)."""
    import mpmath

    with mpmath.workdps(40):
        return tuple(float(mpmath.log(mpmath.factorial(n))) for n in range(171))


def conventional_gammaln(gammaln):
    """``gammaln`` with C99's ``lgamma`` at the edges: +inf at -inf, ``-log|x|`` at subnormals.

    There log|Γ(x)| = -log|x| - γx + O(x²) is -log|x| to far below rounding; SciPy's gammaln
    gives inf (and -inf at -inf, where C's lgamma, PyTorch, JAX and PyTensor give +inf).

    Example:
        >>> import scipy.special
        >>> f = conventional_gammaln(scipy.special.gammaln)
        >>> float(f(5e-324)), float(f(-np.inf))
        (744.4400719213812, inf)
    """

    def fixed(x):
        y = gammaln(x)
        a = np.asarray(x)
        if a.dtype.kind != "f":
            return y
        edge = (a == -np.inf) | ((a != 0) & (np.abs(a) < _TINY))
        if not edge.any():
            return y
        near_zero = -np.log(np.abs(np.where(edge, a, 1)))
        out = np.where(a == -np.inf, np.inf, np.where(edge, near_zero, y)).astype(np.asarray(y).dtype)
        return out[()] if out.ndim == 0 else out

    return fixed


@functools.cache
def cot_derivative(n: int) -> tuple[int, ...]:
    """The coefficients (lowest power first) of ``P_n`` with ``d^n/dx^n cot(x) = P_n(cot x)``:
    ``P_0 = c``, ``P_{k+1} = -(1 + c**2) P_k'``."""
    p = [0, 1]
    for _ in range(n):
        d = [k * p[k] for k in range(1, len(p))] + [0, 0]  # P_k', padded
        p = [-(d[k] + (d[k - 2] if k >= 2 else 0)) for k in range(len(d))]
        while len(p) > 1 and p[-1] == 0:
            p.pop()
    return tuple(p)


def reflected_polygamma(polygamma, xp):
    """``polygamma(n, x)`` with ``x < 0`` taken through the reflection formula
    ``ψ⁽ⁿ⁾(x) = (-1)ⁿ ψ⁽ⁿ⁾(1 - x) - π^(n+1) P_n(cot πx)`` (`cot_derivative`).

    The libraries' Hurwitz zeta walks from a negative ``x`` up to 9 one step at a time: SciPy and
    PyTensor took minutes at ``x = -7.5e9`` (a hang in a C loop, which no time limit interrupts),
    and JAX's fixed series gave -1.3e-10 for 10.07. ``cot πx`` is taken at ``x - round(x)``, exact.

    Example:
        >>> import scipy.special
        >>> f = reflected_polygamma(scipy.special.polygamma, np)
        >>> round(float(f(1, -7505300757.545078)), 6), round(float(f(1, -3.5)), 6)
        (10.070222, 9.620879)
    """

    def fixed(n, x):
        a = xp.asarray(x) if xp is np else x
        if xp is np and (a.dtype.kind not in "fi" or not np.any(a < 0)):
            return polygamma(n, x)
        r = a - xp.round(a)  # exact
        neg = xp.less(a, 0) & xp.not_equal(r, 0)  # the poles, the negative integers, keep the library's value
        k = int(n)
        value = polygamma(n, xp.where(neg, 1 - a, a))
        c = 1 / xp.tan(np.pi * xp.where(neg, r, 0.25))
        poly = 0.0
        for coef in reversed(cot_derivative(k)):
            poly = poly * c + coef
        out = xp.where(neg, (-1) ** k * value - np.pi ** (k + 1) * poly, value)
        dtype = getattr(x, "dtype", None)
        if isinstance(dtype, str) and dtype.startswith("float"):  # PyTensor takes Python floats as float64
            out = out.astype(dtype)
        return out[()] if xp is np and out.ndim == 0 else out

    return fixed


def mpmath_special() -> SimpleNamespace:
    import mpmath

    def gamma(x):
        if x == 0 and type(x) is not complex:
            return math.copysign(math.inf, x)  # SciPy's Γ(±0) = ±inf; mpmath raises at every pole
        return mpmath.gamma(x)

    def gammaln(x):
        if type(x) is not complex and (math.isinf(x) or (x <= 0 and x == math.floor(x))):
            return math.inf  # C99's lgamma at the poles and at ±inf
        return mpmath.log(abs(mpmath.gamma(x)))

    fns = dict(
        erf=mpmath.erf,
        erfc=mpmath.erfc,
        erfinv=mpmath.erfinv,
        gamma=gamma,
        gammaln=gammaln,
        polygamma=lambda n, x: mpmath.polygamma(int(n), x),
        binom=mpmath.binomial,
        jv=mpmath.besselj,
        yv=mpmath.bessely,
        lambertw=lambda x, k=0: mpmath.lambertw(x, int(k)),
    )
    return SimpleNamespace(**{n: _elementwise(f, n == "lambertw") for n, f in fns.items()})


def _elementwise(fn, complex_result: bool):
    """A NumPy-style function from an mpmath one: broadcasting, NaN outside the domain."""

    def real(*args):
        try:
            v = complex(fn(*args))
        except (ValueError, ZeroDivisionError, OverflowError):
            return float("nan")
        return v.real if v.imag == 0 else float("nan")

    def cplx(*args):
        try:
            return complex(fn(*args))
        except (ValueError, ZeroDivisionError, OverflowError):
            return complex("nan")

    def apply(*args):
        arrays = [np.asarray(a) for a in args]
        is_complex = complex_result or any(a.dtype.kind == "c" for a in arrays)
        dtype = np.result_type(*arrays, np.float32)
        if dtype.kind not in "fc":
            dtype = np.dtype(np.float64)
        if is_complex:
            dtype = np.result_type(dtype, np.complex64)
        out = np.frompyfunc(cplx if is_complex else real, len(args), 1)(*arrays)
        out = np.asarray(out).astype(dtype)
        return out[()] if out.ndim == 0 else out

    return apply
