"""Every backend at the special points of the elementary and special functions.

gamma, loggamma, erf, erfc, sqrt, log, exp, sign and floor at 0, -0, ±inf, NaN, subnormals,
poles, integers and huge arguments, on the NumPy backend (arrays and the ``math`` path for
scalars), PyTorch, JAX (float64), PyTensor and C (arrays and one point), against references
worked out with mpmath at 40 digits and the conventions of docs/lambdify.md (SciPy's for Γ,
C99's ``lgamma`` for log|Γ|). Where a platform gives another value, the value it gives is
asserted (the `platform` rules), so a change on either side is seen.
"""

import math

import mpmath
import numpy as np
import pytest
import sympy as sp
from helpers import require

from sympile import lambdify

x = sp.Symbol("x")
inf, nan = math.inf, math.nan
TINY = 2.2250738585072014e-308  # the smallest normal float64

FUNCTIONS = {
    "gamma": sp.gamma,
    "loggamma": sp.loggamma,
    "erf": sp.erf,
    "erfc": sp.erfc,
    "sqrt": sp.sqrt,
    "log": sp.log,
    "exp": sp.exp,
    "sign": sp.sign,
    "floor": sp.floor,
}
POINTS = [0.0, -0.0, inf, -inf, nan, 5e-324, -5e-324, 1e-310, TINY, 1e-8, 0.5, -0.5, 1.0, 2.0, 3.0]
POINTS += [10.0, -1.0, -2.0, -2.5, -170.5, 171.5, 172.0, -740.0, 700.0, 1e300, -1e300]

_MP = {
    "gamma": mpmath.gamma,
    "loggamma": lambda v: mpmath.log(abs(mpmath.gamma(v))),
    "erf": mpmath.erf,
    "erfc": mpmath.erfc,
    "sqrt": mpmath.sqrt,
    "log": mpmath.log,
    "exp": mpmath.exp,
}


def reference(name: str, p: float) -> float:
    """The float64 value of ``name`` at ``p``: mpmath at 40 digits, and the conventions at the edges."""
    if math.isnan(p):
        return nan
    if name == "sign":
        return 1.0 if p > 0 else -1.0 if p < 0 else p
    if name == "floor":
        return float(math.floor(p)) if math.isfinite(p) else p
    pole = p <= 0 and (math.isinf(p) or p == math.floor(p))  # 0, -0, the negative integers and -inf
    if name == "gamma" and pole:
        return math.copysign(inf, p) if p == 0 else nan  # SciPy's
    if name == "loggamma" and (pole or math.isinf(p)):
        return inf  # C99's lgamma
    if name == "loggamma" and p < 0:
        return nan  # SymPy's loggamma is complex there: NaN in real semantics
    if name in ("sqrt", "log") and p < 0:
        return nan
    if math.isinf(p):
        one = math.copysign(1.0, p)
        return {"gamma": inf, "erf": one, "erfc": 1 - one, "sqrt": inf, "log": inf}.get(name, inf if p > 0 else 0.0)
    if name == "log" and p == 0:
        return -inf
    if name == "erfc" and p > 30:
        return 0.0  # erfc(27.3) underflows float64 (and mpmath's erfc of 1e300 its own range)
    with mpmath.workdps(40):
        v = _MP[name](mpmath.mpf(p))
        if abs(v) < mpmath.mpf("1e-330"):
            return 0.0
        return float(v) if abs(v) < mpmath.mpf("1.8e308") else math.copysign(inf, float(mpmath.sign(v)))


# -- what each platform gives instead (documented in docs/lambdify.md and docs/jax.md) -----------


def platform(backend: str, name: str, p: float) -> float:
    """The documented value on ``backend``: the reference, but for what the platform decides."""
    if backend == "jax" and p != 0 and abs(p) < TINY:
        p = math.copysign(0.0, p)  # XLA on CPU reads subnormal inputs as zeros (DAZ) ...
    want = reference(name, p)
    if backend == "jax" and want != 0 and abs(want) < TINY:
        want = math.copysign(0.0, want)  # ... and flushes subnormal results to zero (FTZ)
    return want


#: Relative error allowed, beyond which a value is wrong. Γ from exp(log Γ) (PyTorch, JAX) loses
#: |log Γ(x)| ulps; elsewhere a few ulps.
def tolerance(backend: str, name: str, p: float) -> float:
    if name in ("sign", "floor", "sqrt"):
        return 0.0
    if name == "gamma" and backend in ("torch", "jax") and math.isfinite(p) and p != math.floor(p):
        return 1e-15 * max(1.0, abs(math.lgamma(p)))
    return 4e-16 if name in ("exp", "log") else 2e-15


def _same(got: float, want: float, rel: float, scale: float = 0.0) -> bool:
    if math.isnan(want) or math.isnan(got):
        return math.isnan(want) and math.isnan(got)
    if math.isinf(want) or math.isinf(got) or rel == 0:
        return got == want  # ±0 are equal: the sign of a zero result is not compared here
    return abs(got - want) <= rel * max(abs(want), scale)


# -- the backends ------------------------------------------------------------------------------------


def _numpy(f, points):
    with np.errstate(all="ignore"):
        return np.asarray(f(np.array(points)), dtype=float)


def _numpy_scalar(f, points):
    with np.errstate(all="ignore"):
        return np.array([float(f(p)) for p in points])


def _torch(f, points):
    torch = require("torch")
    return f(torch.tensor(points, dtype=torch.float64)).numpy()


def _jax(f, points):
    jax = require("jax")
    with jax.enable_x64(True):
        return np.asarray(f(np.array(points)), dtype=float)


def _c_scalar(f, points):
    return np.array([float(f(p)) for p in points])


BACKENDS = {
    "numpy": ("numpy", _numpy),
    "numpy-scalar": ("numpy", _numpy_scalar),
    "torch": ("torch", _torch),
    "jax": ("jax", _jax),
    "pytensor": ("pytensor", _numpy),
    "c": ("c", _numpy),
    "c-scalar": ("c", _c_scalar),
}


def _compiled(backend: str, name: str):
    kind, _ = BACKENDS[backend]
    require({"numpy": "numpy", "c": "numpy"}.get(kind, kind))
    if kind == "c":
        from sympile._backends.c.compile import CompilerError

        try:
            return lambdify(x, FUNCTIONS[name](x), backend="c")
        except CompilerError:
            pytest.skip("no C compiler")
    if kind == "jax":
        jax = require("jax")
        with jax.enable_x64(True):
            return lambdify(x, FUNCTIONS[name](x), backend="jax")
    return lambdify(x, FUNCTIONS[name](x), backend=kind)


@pytest.mark.parametrize("name", list(FUNCTIONS))
@pytest.mark.parametrize("backend", list(BACKENDS))
def test_special_values_are_the_documented_ones(backend, name):
    f = _compiled(backend, name)
    got = BACKENDS[backend][1](f, POINTS)
    wrong = [
        (p, float(g), platform(backend, name, p))
        for p, g in zip(POINTS, got)
        # log|Γ| near its zeros (x = 1, 2, -2.457..., ...) is a difference of logs: errors scale with 1
        if not _same(float(g), platform(backend, name, p), tolerance(backend, name, p), name == "loggamma")
    ]
    assert not wrong, f"{name} on {backend}: (point, value, documented value): {wrong}"


# -- regressions, by behaviour -------------------------------------------------------------------


def test_loggamma_of_a_subnormal_is_minus_its_log_on_numpy_arrays():
    # SciPy's gammaln gives inf there (and -inf at -inf, where C99's lgamma gives +inf)
    f = lambdify(x, sp.loggamma(x))
    got = f(np.array([5e-324, -5e-324, 1e-310, -np.inf]))
    np.testing.assert_array_equal(got, [-math.log(5e-324), nan, -math.log(1e-310), inf])  # complex at -5e-324
    assert f(np.array([5e-324], dtype=np.float64)).dtype == np.float64


@pytest.mark.parametrize("backend", ["numpy", "torch", "jax", "pytensor", "c"])
def test_floor_of_gamma_at_integers_is_the_factorial(backend):
    # factorials up to 22! are floats exactly; JAX's gamma(3) is 1.9999999999999976 and
    # PyTorch's exp(gammaln(n)) is an ulp off for most n, and C's tgamma (glibc's before 2.41) a few
    # ulps from 13 on, so floor would be (n-1)! - 1: those three look the integers up in a table
    n = np.arange(1.0, 24.0)
    want = np.array([float(math.factorial(k - 1)) for k in range(1, 24)])
    floor_gamma = BACKENDS[backend][1](_compiled_expr(backend, sp.floor(sp.gamma(x))), list(n))
    np.testing.assert_array_equal(floor_gamma, want)


def _compiled_expr(backend, expr):
    if backend == "jax":
        jax = require("jax")
        with jax.enable_x64(True):
            return lambdify(x, expr, backend="jax")
    require({"numpy": "numpy", "c": "numpy"}.get(backend, backend))
    return lambdify(x, expr, backend=backend)


def test_gamma_and_loggamma_are_exact_at_integers_on_torch_and_jax_with_their_derivatives():
    torch = require("torch")
    jax = require("jax")
    n = np.arange(1.0, 172.0)
    with mpmath.workdps(40):
        log_fact = [float(mpmath.log(mpmath.factorial(k - 1))) for k in range(1, 172)]
    fact = [float(math.factorial(k - 1)) for k in range(1, 172)]
    ft = lambdify(x, [sp.gamma(x), sp.loggamma(x)], backend="torch")
    g, lg = ft(torch.tensor(n))
    np.testing.assert_array_equal(g.numpy(), fact)
    np.testing.assert_array_equal(lg.numpy(), log_fact)
    with jax.enable_x64(True):
        fj = lambdify(x, [sp.gamma(x), sp.loggamma(x)], backend="jax")
        g, lg = fj(np.array(n))
        np.testing.assert_array_equal(np.asarray(g), fact)
        np.testing.assert_array_equal(np.asarray(lg), log_fact)
        dj = jax.grad(lambda v: fj(v)[0])(3.0)
    # Γ'(3) = Γ(3) ψ(3) = 2 (3/2 - γ): the exact values keep the formula's derivative
    want = float(2 * (mpmath.mpf(3) / 2 - mpmath.euler))
    assert float(dj) == pytest.approx(want, rel=1e-13)
    v = torch.tensor(3.0, dtype=torch.float64, requires_grad=True)
    ft(v)[0].backward()
    assert float(v.grad) == pytest.approx(want, rel=1e-13)


def test_torch_gamma_follows_scipy_at_zeros_poles_and_minus_infinity():
    torch = require("torch")
    scipy_special = require("scipy.special")
    f = lambdify(x, sp.gamma(x), backend="torch")
    points = [0.0, -0.0, -1.0, -2.0, -170.0, -inf, inf, -1e300]
    got = f(torch.tensor(points, dtype=torch.float64)).numpy()
    np.testing.assert_array_equal(got, scipy_special.gamma(points))
    assert math.copysign(1.0, got[1]) == -1.0
