"""polygamma at negative arguments: the reflection formula (`special_functions.reflected_polygamma`).

SciPy's and PyTensor's Hurwitz zeta walked from a negative argument up to 9 one step at a time
(minutes at -7.5e9: the fuzzer's derivative campaign hung in that C loop), and JAX's series gave
-1.3e-10 for 10.07 there. Checked against mpmath at 30 digits on seeded points (through the same
reflection in mpmath where its own polygamma is slow, below -1e6); the poles keep the library's value.
"""

import mpmath
import numpy as np
import pytest
import sympy as sp
from helpers import require

from sympile import lambdify

x = sp.Symbol("x")


def _reference(n: int, v: float) -> float:
    with mpmath.workdps(30):
        z = mpmath.mpf(v)
        if v > -1e6:
            return float(mpmath.polygamma(n, z))
        # (-1)^n psi_n(1 - x) - pi d^n/dx^n cot(pi x), the n-th derivative taken by mpmath
        cot_n = mpmath.diff(lambda t: mpmath.cot(mpmath.pi * t), z, n)
        return float((-1) ** n * mpmath.polygamma(n, 1 - z) - mpmath.pi * cot_n)


def _points():
    rng = np.random.default_rng(30)
    far = -rng.uniform(1e8, 1e10, 2).round(6)  # non-integers, where float64 still has fractions
    return np.concatenate([-rng.uniform(0.05, 40, 6), far, rng.uniform(0.1, 30, 3)])


@pytest.mark.parametrize("backend", ["numpy", "torch", "jax", "pytensor"])
@pytest.mark.parametrize("n", [0, 1, 2, 3])
def test_polygamma_at_negative_arguments_matches_mpmath(backend, n):
    if backend != "numpy":
        lib = require(backend)
    pts = _points()
    single = backend == "jax" and not _x64()
    if single:  # float32: the far points are whole numbers (poles) there
        pts = pts.astype(np.float32)
        pts = pts[pts != np.round(pts)].astype(float)
    f = lambdify([x], sp.polygamma(n, x), backend=backend)
    got = np.asarray(f(lib.tensor(pts) if backend == "torch" else pts), dtype=float)
    want = np.array([_reference(n, v) for v in pts])
    # psi_n's relative condition number at x < 0 is |x psi_{n+1}(x) / psi_n(x)|; beyond -1e6, at
    # most |x| 1e2 here (cot's derivatives at fractions far from the poles)
    cond = np.array([abs(v * _reference(n + 1, v) / w) if v > -1e6 else abs(v) * 1e2 for v, w in zip(pts, want)])
    eps = 1.2e-7 if single else 2.3e-16
    ulps = 64  # PyTorch's own trigamma was up to 5e-10 relative off at 0 < x < 5: zeta(2, x) instead
    assert np.all(np.abs(got - want) <= ulps * eps * (1 + cond) * np.abs(want)), (got, want)


def _x64() -> bool:
    import jax

    return bool(jax.config.read("jax_enable_x64"))
