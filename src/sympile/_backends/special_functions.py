"""Special functions for the NumPy backend: SciPy's when it is installed, else mpmath's.

mpmath comes with SymPy, so every special function of the op table works without SciPy,
elementwise and slowly; installing SciPy (``pip install sympile[scipy]``) makes them fast.

``import scipy.special`` costs about 0.2 s, more than the rest of a first build, so it is
imported when a generated function first looks up a special function (`LazySpecial`), not
when the backend is imported or a namespace is made: a graph without erf, gamma, ... never
imports SciPy.
"""

from __future__ import annotations

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
    """SciPy's special functions (else mpmath's), imported now."""
    try:
        import scipy.special as s
    except ImportError:
        return mpmath_special()
    return SimpleNamespace(**{n: getattr(s, n) for n in NAMES})


def mpmath_special() -> SimpleNamespace:
    import mpmath

    def gammaln(x):
        return mpmath.log(abs(mpmath.gamma(x)))

    fns = dict(
        erf=mpmath.erf,
        erfc=mpmath.erfc,
        erfinv=mpmath.erfinv,
        gamma=mpmath.gamma,
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
