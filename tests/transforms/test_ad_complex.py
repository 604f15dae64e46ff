"""Graph AD through the complex parts of complex values (`sympile._transforms.conjugates`).

``Abs``, ``re``, ``im``, ``arg``, ``conjugate`` and ``sign`` of a complex intermediate are not
holomorphic, so the chain rule with one partial per argument got their derivatives wrong (complex,
or zero for ``im`` and ``arg``). Checked here against mpmath's numerical derivatives at 40 digits
of the same SymPy expressions, on seeded random points and constants, first and second order,
reverse and forward mode, on the array backends; a real function's derivative comes out real.
"""

import mpmath
import numpy as np
import pytest
import sympy as sp
from helpers import require

from sympile import UnsupportedFunctionError, grad, hessian, jacobian, jacobian_vector_product
from sympile._core.graph import Builder
from sympile._core.ops import OPS
from sympile._sympy.lower import lower
from sympile._transforms.ad import reverse
from sympile._transforms.conjugates import REWRITTEN

x, y = sp.symbols("x y")


def _cases(seed: int = 14):
    """(name, expression of x and y): each complex part of a complex intermediate, with seeded
    random complex constants, and the parts combined and nested."""
    rng = np.random.default_rng(seed)

    def c():
        re, im = rng.uniform(0.3, 1.5, 2).round(3) * rng.choice([-1, 1], 2)
        return sp.Float(re) + sp.Float(im) * sp.I

    u = c() * x + sp.exp(sp.I * y) + c()  # complex, holomorphic in x and y
    w = sp.sin(c() * x * y) + x**2 * c()
    return [
        ("abs", sp.log(sp.Abs(u))),
        ("re", sp.re(u * w)),
        ("im", sp.im(u**2) * x),
        ("arg", sp.arg(u)),
        ("conjugate", sp.re(sp.conjugate(u) * w)),
        ("sign", sp.im(sp.sign(w) * u)),
        ("nested", sp.Abs(sp.exp(sp.I * sp.Abs(u) * w)) + sp.atan(sp.im(w) * sp.re(u))),
        ("abs of a tiny part", sp.log(sp.Abs(sp.Float(2.857e-9) * x - sp.I)) / sp.log(10)),  # the fuzzer's
    ]


CASES = _cases()
IDS = [name for name, _ in CASES]


def _reference(expr, point, order):
    """mpmath's derivatives at 40 digits: the gradient (order 1) or the Hessian (order 2)."""
    f = sp.lambdify((x, y), expr, "mpmath")
    with mpmath.workdps(40):
        at = [mpmath.mpf(v) for v in point]
        if order == 1:
            return np.array([float(mpmath.re(mpmath.diff(f, at, d))) for d in ((1, 0), (0, 1))])
        pairs = [[(2, 0), (1, 1)], [(1, 1), (0, 2)]]
        return np.array([[float(mpmath.re(mpmath.diff(f, at, d))) for d in row] for row in pairs])


def _function(expr):
    return lambda v: expr.subs({x: v[0], y: v[1]}, simultaneous=True)


def _points(n: int = 2):
    return np.random.default_rng(2).uniform(-1.5, 1.5, (n, 2))


def _check(expr, backend, points):
    H = hessian(_function(expr), 2, return_aux=True, backend=backend)
    for point in points:
        h, g, _ = H(point)
        g, h = np.asarray(g), np.asarray(h)
        assert g.dtype.kind == h.dtype.kind == "f"  # a real function's derivatives are real
        # JAX computes in float32 unless x64 is enabled
        rtol = 1e-9 if g.dtype == np.float64 else 2e-4
        np.testing.assert_allclose(g, _reference(expr, point, 1), rtol=rtol, atol=rtol / 100)
        np.testing.assert_allclose(h, _reference(expr, point, 2), rtol=rtol, atol=rtol / 100)


@pytest.mark.parametrize("name,expr", CASES, ids=IDS)
def test_derivatives_through_complex_parts_of_complex_values_match_mpmath(name, expr):
    _check(expr, "numpy", _points())


@pytest.mark.parametrize("backend", ["torch", "jax"])
def test_every_array_backend_differentiates_through_complex_parts(backend):
    require(backend)
    _check(sum(e for _, e in CASES[3:7]), backend, _points(1))  # arg, conjugate, sign, nested


def test_forward_mode_through_complex_parts_matches_mpmath():
    # More outputs than inputs: the Jacobian is taken column by column in forward mode.
    exprs = [e for _, e in CASES[:4]]
    J = jacobian(lambda v: sp.Matrix([e.subs({x: v[0], y: v[1]}, simultaneous=True) for e in exprs]), 2)
    t = np.array([0.3, -0.7])
    for point in _points():
        rows = np.array([_reference(e, point, 1) for e in exprs])
        np.testing.assert_allclose(J(point).reshape(rows.shape), rows, rtol=1e-10, atol=1e-12)
        tangent = jacobian_vector_product(_function(exprs[0]), 2)(point)(t)
        np.testing.assert_allclose(tangent, rows[0] @ t, rtol=1e-10, atol=1e-12)


def test_an_untaken_branch_through_a_complex_part_still_has_a_finite_derivative():
    # |i sqrt(x) + 1| is taken where x > 0 only; at x = -1 the derivative is that of the other branch.
    expr = sp.Piecewise((sp.Abs(sp.I * sp.sqrt(x) + 2), x > 0), (3 * x, True))
    g = grad(lambda v: expr.subs(x, v[0]), 1)
    assert g(np.array([-1.0])).tolist() == [3.0]
    at = 0.64  # |2 + 0.8 i|' = d sqrt(4 + x)/dx = 1 / (2 sqrt(4.64))
    np.testing.assert_allclose(g(np.array([at])), [1 / (2 * np.sqrt(4 + at))], rtol=1e-14)


def test_a_complex_input_through_a_conjugate_pair_is_refused_at_call_time():
    g = grad(lambda v: sp.Abs(v[0] + sp.I), 1)
    np.testing.assert_allclose(g(np.array([0.75])), [0.75 / np.sqrt(0.75**2 + 1)], rtol=1e-14)
    with pytest.raises(UnsupportedFunctionError, match="along real variables"):
        g(np.array([0.75 + 0.5j]))


def test_only_complex_arguments_are_rewritten():
    # For a real argument the op's own rule is right (d|x|/dx = sign x, 0 at 0): no pair op is made.
    for op in sorted(REWRITTEN):
        graph = lower([OPS[op].sympy[0](sp.sin(x))], [x])
        b = Builder(graph)
        (d,) = reverse(b, graph.outputs, [b.const(1)], [b.node("input", (), 0)])
        made = {n.op for n in b.graph([d]).pruned().nodes}
        assert not made & {"cabs", "cre", "cim", "carg"}, op


@pytest.mark.parametrize(
    "name,expr",
    [
        # the fuzzer's (seed 11): sign of a complex power whose base is complex only through asin(2);
        # its derivative came out 0 (sign's rule for a real argument)
        ("sign", sp.im(sp.sign((1 + sp.asin(2) ** 2) ** (x**2 / (x**2 + 1)))) * y),
        ("re", sp.re(sp.acos(3) * x * y) + sp.im(sp.asin(3) * x**2) + sp.arg(sp.atanh(2) + y)),
        ("abs", sp.Abs(sp.asin(2) + x * y)),
    ],
    ids=["sign", "re, im and arg", "abs"],
)
def test_constants_complex_off_their_real_domain_are_complex(name, expr):
    """``asin(2)``, ``acos(3)``, ``atanh(2)``: input-free nodes whose real arguments lie off the
    function's real domain hold complex values (SymPy leaves them unevaluated, so no literal says
    so); the complex parts of what they reach are differentiated as such, mirrored through the
    conjugate of their value (they sit on branch cuts)."""
    _check(expr, "numpy", _points())


@pytest.mark.parametrize("base", [sp.Rational(-7, 3), sp.Float(-2.5), -sp.sqrt(2), -sp.pi / 4])
def test_a_negative_base_power_beside_a_complex_part_keeps_its_complex_derivative(base):
    """``c**x`` with ``c < 0`` is real at integer ``x`` only; its derivative ``log(c) c**x`` is
    complex. Beside a complex part of a complex value (``Abs(x + I)``), where the real part of a
    real function's derivative is taken, it was taken of this one too: 5.507 for 5.507 + 17.1i."""
    g = grad(lambda v: base ** v[0] + sp.Abs(v[0] + sp.I), 1)
    h = hessian(lambda v: base ** v[0] + sp.Abs(v[0] + sp.I), 1)
    c = complex(base)

    def f(t):
        return mpmath.power(mpmath.mpc(c), t) + abs(t + 1j)

    for at in (2.0, -1.0, 3.0):
        with mpmath.workdps(40):
            first, second = complex(mpmath.diff(f, at)), complex(mpmath.diff(f, at, 2))
        d, dd = complex(np.asarray(g(np.array([at])))[0]), complex(np.asarray(h(np.array([at])))[0, 0])
        assert d == pytest.approx(first, rel=1e-12) and abs(first.imag) > 1
        assert dd == pytest.approx(second, rel=1e-12)
