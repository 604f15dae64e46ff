"""Complex values and the ops defined for real arguments only (issue 14, fuzzer failures 1 and 2).

A real-only op (``Mod``, ``Heaviside``, comparisons, ``floor``, ``Min``/``Max``, ``atan2``, ...)
that a complex constant reaches is refused at build time with `UnsupportedFunctionError` on
every backend; a complex input that would reach one is refused at call time, naming the input
and the op; complex values that do not reach one are computed as before.
"""

import numpy as np
import pytest
import sympy as sp
from helpers import require

from sympile import UnsupportedFunctionError, lambdify, lower
from sympile._core.kinds import complex_misuses, complex_sensitive_inputs

x, y, z = sp.symbols("x y z")
#: The fuzzer's complex constant: SymPy leaves it complex, the folder makes it a complex literal.
C = 1 + (-sp.GoldenRatio + sp.I * sp.pi / 2) ** 2
BACKENDS = ["numpy", "torch", "jax", "pytensor", "c"]

REAL_ONLY_OF_COMPLEX = [
    (sp.Mod(x, C), "Mod"),
    (sp.Heaviside(x * C), "Heaviside"),
    (sp.Piecewise((x, x * C > 0), (0, True)), "StrictGreaterThan"),
    (sp.floor(x + C), "floor"),
    (sp.ceiling(x * C), "ceiling"),
    (sp.Min(x * C, y), "Min"),
    (sp.Max(x, y * C), "Max"),
    (sp.atan2(x * C, 2), "atan2"),
    (sp.frac(x * C), "frac"),
]


def _module(backend):
    if backend != "numpy" and backend != "c":
        require(backend)


@pytest.mark.parametrize("backend", BACKENDS)
def test_real_only_ops_refuse_complex_constants_at_build_time(backend):
    _module(backend)
    for expr, title in REAL_ONLY_OF_COMPLEX:
        with pytest.raises(UnsupportedFunctionError, match=rf"computes {title} for real arguments only.*complex"):
            lambdify([x, y, z], expr, backend=backend)


def test_the_fuzzers_reproducer_is_refused_by_name():
    """``Mod(x, 1 + (-GoldenRatio + I*pi/2)**2)`` raised NumPy's TypeError, PyTorch's
    NotImplementedError and JAX's TypeError at call time."""
    for backend in ("numpy", "torch", "jax"):
        _module(backend)
        with pytest.raises(UnsupportedFunctionError) as e:
            lambdify([x, y, z], sp.Mod(x, C), backend=backend)
        assert f"the {backend} backend computes Mod" in str(e.value)


@pytest.mark.parametrize("backend", ["numpy", "torch"])
def test_complex_values_that_reach_no_real_only_op_still_compute(backend):
    """A complex constant beside a real-only op (not into it), or made real first (re, Abs), is fine."""
    _module(backend)
    exprs = [sp.Mod(x, 2) * C + y, sp.floor(sp.re(x * C)) + sp.Abs(y * C), sp.Piecewise((C * x, x > 0), (y, True))]
    f = lambdify([x, y], exprs, backend=backend)
    rng = np.random.default_rng(14)
    xs, ys = rng.uniform(-3, 3, 5), rng.uniform(-3, 3, 5)
    args = (xs, ys) if backend == "numpy" else [require("torch").as_tensor(a) for a in (xs, ys)]
    got = [np.asarray(o) for o in f(*args)]
    for e, g in zip(exprs, got):
        want = [complex(e.evalf(30, subs={x: sp.Float(a, 30), y: sp.Float(b, 30)})) for a, b in zip(xs, ys)]
        np.testing.assert_allclose(g, want, rtol=1e-13, atol=1e-13)


@pytest.mark.parametrize("backend", ["numpy", "torch", "jax", "pytensor"])
def test_complex_inputs_into_real_only_ops_are_refused_by_name_at_call_time(backend):
    """Complex values of ``x`` would reach Mod: refused with the input's and the op's names, as an
    array, a Python complex and a NumPy complex scalar; ``y`` may be complex."""
    _module(backend)
    f = lambdify([x, y], sp.Mod(x, 2) + y, backend=backend)
    arrays = [np.array([0.5 + 1j, 2.0]), 0.5 + 1j, np.complex128(1 + 1j)]
    if backend == "torch":
        arrays.append(require("torch").tensor([0.5 + 1j]))
    for a in arrays:
        with pytest.raises(
            UnsupportedFunctionError, match=r"^x is complex .*computes Mod of it for real arguments only"
        ):
            f(a, 1.0)
    if backend == "pytensor":  # compiling for complex y costs seconds; the other backends show it
        return
    rng = np.random.default_rng(15)
    xs, ys = rng.uniform(-3, 3, 4), rng.uniform(-3, 3, 4) + 1j * rng.uniform(-3, 3, 4)
    got = np.asarray(
        f(require("torch").as_tensor(xs), require("torch").as_tensor(ys)) if backend == "torch" else f(xs, ys)
    )
    np.testing.assert_allclose(got, np.mod(xs, 2) + ys, rtol=1e-6)


def test_a_backends_own_real_only_functions_are_refused_with_a_remedy():
    """PyTorch has no complex erf, JAX no complex gamma: the error says what to do."""
    require("torch")
    require("jax")
    with pytest.raises(UnsupportedFunctionError, match=r"torch backend computes erf .*extra_funcs=\{sympy.erf"):
        lambdify([x], sp.erf(x * C), backend="torch")
    with pytest.raises(UnsupportedFunctionError, match=r"jax backend computes gamma .*extra_funcs=\{sympy.gamma"):
        lambdify([x], sp.gamma(x * C), backend="jax")
    assert lambdify([x], sp.erf(x * C))(0.5) == pytest.approx(complex(sp.erf(sp.Rational(1, 2) * C).evalf(20)))


def test_complex_flow_stops_at_real_results_and_conditions():
    g = lower(
        [sp.floor(sp.re(x)), sp.Mod(sp.Abs(y), 2), sp.Piecewise((y, z > 0), (x, True)), sp.Heaviside(z)], [x, y, z]
    )
    assert complex_sensitive_inputs(g) == {2: ("gt", "heaviside")}
    g = lower([sp.Mod(x * sp.I, 2), sp.floor(sp.im(x * sp.I))], [x])
    assert [g.nodes[i].op for i in complex_misuses(g)] == ["mod"]


def _mpmath_gamma(points):
    mpmath = require("mpmath")
    with mpmath.workdps(30):
        return np.array([complex(mpmath.gamma(mpmath.mpc(p.real, p.imag))) for p in points])


def test_torch_gamma_of_complex_arguments_matches_mpmath():
    """PyTorch's gamma of a complex tensor was its real part's gamma in float32: Stirling's series with
    the recurrence and the reflection formula, against mpmath in both half-planes."""
    torch = require("torch")
    rng = np.random.default_rng(16)
    z = np.concatenate([rng.uniform(-25, 25, 150) + 1j * rng.uniform(-25, 25, 150), rng.uniform(-4, 4, 50) + 0.01j])
    want = _mpmath_gamma(z)
    f = lambdify([x], sp.gamma(x * sp.I + sp.I), backend="torch")  # gamma(i(x + 1)): x = -iz - 1
    got = f(torch.tensor(-1j * z - 1, dtype=torch.complex128)).numpy()
    np.testing.assert_allclose(got, want, rtol=1e-13, atol=0)
    low = f(torch.tensor(-1j * z - 1, dtype=torch.complex64)).numpy()
    moderate = (np.abs(want) > 1e-30) & (np.abs(want) < 1e30)
    np.testing.assert_allclose(low[moderate], want[moderate], rtol=2e-4)


def test_torch_gamma_of_a_complex_argument_gives_complex_values():
    """The fuzzer's reproducer: float32 ``[1.3841, -0.9299]`` before; NumPy and SymPy's values now."""
    torch = require("torch")
    e = sp.gamma(sp.asinh(y * (sp.Float(12.429216196844383) + sp.I * sp.pi)))
    rng = np.random.default_rng(17)
    ys = np.concatenate([[0.5, -0.48], rng.uniform(-1, 1, 4)])
    got = lambdify([y], e, backend="torch")(torch.tensor(ys, dtype=torch.float64))
    assert got.dtype == torch.complex128
    want = [complex(e.evalf(30, subs={y: sp.Float(v, 30)})) for v in ys]
    np.testing.assert_allclose(got.numpy(), want, rtol=1e-13)
    np.testing.assert_allclose(lambdify([y], e)(ys), want, rtol=1e-13)


@pytest.mark.parametrize("backend", BACKENDS)
def test_loggamma_of_a_complex_constant_is_refused_not_a_raw_type_error(backend):
    """loggamma is lowered with a test of its argument's sign; folding that test for ``1 + I``
    asked SymPy to compare a complex number (a raw TypeError from the fuzzer's value class)."""
    _module(backend)
    with pytest.raises(UnsupportedFunctionError, match="loggamma for real arguments only"):
        lambdify([x], x * sp.loggamma(1 + sp.I), backend=backend)


@pytest.mark.parametrize(
    "expr",
    [
        (sp.GoldenRatio * sp.log(sp.atanh(sp.pi / 2))) ** (x * y),  # the fuzzer's reproducer
        (sp.I * x) ** y,  # a complex intermediate to a variable power
        (x + sp.I) ** 3,  # ... to an integer power
    ],
)
def test_complex_powers_past_float64_give_inf_at_one_point_as_arrays_do(expr):
    """Python's complex power raises OverflowError past float64 where NumPy's gives inf: the
    one-point call (NumPy scalars, Python complex intermediates) must give the array's value."""
    f = lambdify([x, y], expr)
    rng = np.random.default_rng(7)
    points = [(1e200, 3.0), (2.0, 1e4), *rng.uniform(0.5, 3.0, (3, 2))]
    for a, b in points:
        with np.errstate(all="ignore"):
            one = f(float(a), float(b))
            whole = f(np.array([a]), np.array([b]))[0]
        np.testing.assert_equal(complex(one), complex(whole))
    for a, b in points[2:]:  # and finite values are right (SymPy at 30 digits)
        ref = complex(expr.subs({x: a, y: b}).evalf(30))
        assert abs(complex(f(float(a), float(b))) - ref) <= 1e-13 * abs(ref)


def test_complex_powers_keep_a_float32_inputs_precision():
    f = lambdify([x, y], (sp.I * x) ** y)
    assert f(np.float32(2.0), np.float32(3.0)).dtype == np.complex64
    assert f(np.ones(2, np.float32), np.full(2, 3, np.float32)).dtype == np.complex64


def test_complex_division_by_zero_gives_numpys_value_at_one_point():
    """Python's complex division raises ZeroDivisionError where NumPy's gives inf or NaN (the
    fuzzer's derivative at y = -1e300, one point): the one-point call gives the array's value."""
    for expr in [(sp.I * x + 1) / y, (x + sp.I) / sp.sin(y)]:
        f = lambdify([x, y], expr)
        x0 = float(np.random.default_rng(3).uniform(0.5, 2.0))
        with np.errstate(all="ignore"):
            one = f(x0, 0.0)
            whole = f(np.array([x0]), np.array([0.0]))[0]
        np.testing.assert_equal(complex(one), complex(whole))
