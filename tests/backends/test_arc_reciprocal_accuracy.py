"""asec and acsc are accurate near |x| = 1, at ±1 and ±inf, on every backend (and for complex x); sinc
is accurate at large arguments and near multiples of pi.

They were written ``acos(1/x)`` and ``asin(1/x)``: rounding ``1/x`` first cost digits where acos
and asin magnify it (4e-9 relative off at ``x = 1 + 1e-12``). The references are mpmath's at 40
digits; the points are fresh seeded draws clustered at ±1, plus the edges.
"""

import math

import mpmath
import numpy as np
import pytest
import sympy as sp
from helpers import require

from sympile import lambdify

x = sp.Symbol("x")
BACKENDS = ["numpy", "torch", "jax", "pytensor", "c"]
EPS = 2.0**-52


def _points():
    rng = np.random.default_rng(20261203)
    near = 10.0 ** rng.uniform(-15, 0, 40)
    far = 10.0 ** rng.uniform(0, 300, 20)
    pts = np.concatenate([1 + near, -1 - near, far, -far, rng.uniform(-6, 6, 20)])
    return np.concatenate([pts, [1.0, -1.0, math.inf, -math.inf, 0.5, 0.0]])


def _reference(f, p: float) -> float:
    with mpmath.workdps(40):
        if math.isinf(p):
            return math.pi / 2 if f is sp.asec else 0.0
        if abs(p) < 1:
            return math.nan  # not real: a domain error
        return float((mpmath.asec if f is sp.asec else mpmath.acsc)(mpmath.mpf(p)))


def _call(backend, f, pts):
    if backend == "torch":
        torch = require("torch")
        return f(torch.tensor(pts)).numpy()
    if backend == "jax":
        jax = require("jax")
        with jax.enable_x64(True):
            return np.asarray(f(jax.numpy.asarray(pts)))
    if backend == "pytensor":
        require("pytensor")
    return np.asarray(f(pts))


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("func", [sp.asec, sp.acsc], ids=["asec", "acsc"])
def test_asec_and_acsc_are_accurate_near_one_and_at_the_edges(backend, func):
    pts = _points()
    f = lambdify([x], func(x), backend=backend)
    got = _call(backend, f, pts)
    want = np.array([_reference(func, p) for p in pts])
    assert np.array_equal(np.isnan(got), np.isnan(want)), pts[np.isnan(got) != np.isnan(want)]
    ok = ~np.isnan(want)
    err = np.abs(got[ok] - want[ok])
    assert np.all(err <= 4 * EPS * np.abs(want[ok]) + 1e-300), pts[ok][err > 4 * EPS * np.abs(want[ok])]
    if backend in ("numpy", "c"):  # the one-point paths (``math``, the C scalar library)
        for p, w in zip(pts, want):
            v = f(float(p))
            assert (math.isnan(v) and math.isnan(w)) or abs(v - w) <= 4 * EPS * abs(w), (p, v, w)


@pytest.mark.parametrize("func", [sp.asec, sp.acsc], ids=["asec", "acsc"])
def test_asec_and_acsc_of_complex_arguments_are_the_principal_values(func):
    rng = np.random.default_rng(7)
    zs = rng.normal(0, 2, 30) + 1j * rng.normal(0, 2, 30)
    f = lambdify([x], func(x))
    mp = mpmath.asec if func is sp.asec else mpmath.acsc
    for z in zs:
        with mpmath.workdps(40):
            want = complex(mp(mpmath.mpc(z.real, z.imag)))
        assert abs(f(complex(z)) - want) <= 16 * EPS * abs(want), z


@pytest.mark.parametrize("backend", BACKENDS)
def test_sinc_is_accurate_at_large_arguments_and_near_multiples_of_pi(backend):
    """The array libraries' sinc is the normalised one, and sinc(x/pi) rounded x/pi first: at
    x = 1.2e204 its sign was a coin toss, near k*pi digits were lost; sin(x)/x has neither."""
    rng = np.random.default_rng(5)
    pts = np.concatenate([rng.uniform(-10, 10, 20), np.pi * np.arange(1, 12) + 1e-9, 10 ** rng.uniform(0, 300, 20)])
    pts = np.concatenate([pts, -pts[-10:], [0.0, -0.0]])
    with mpmath.workdps(40):
        want = np.array([1.0 if p == 0 else float(mpmath.sin(mpmath.mpf(p)) / p) for p in pts])
    got = _call(backend, lambdify([x], sp.sinc(x), backend=backend), pts)
    np.testing.assert_array_less(np.abs(got - want), 8 * EPS * np.abs(want) + 1e-300)
