"""Graph AD: reverse and forward mode, Hessians, safe branches, linear size, errors."""

import numpy as np
import pytest
import sympy as sp
from hypothesis import given, settings
from hypothesis import strategies as st

from sympile import DifferentiationError, lower, to_sympy
from sympile._functions.lambdify import LambdifiedFunction
from sympile._transforms.ad import grad_graph, hessian_graph, jacobian_graph, jvp_graph, vjp_graph

x, y, z = sp.symbols("x y z")
X = [x, y, z]
point = st.lists(st.floats(-2, 2, allow_nan=False), min_size=3, max_size=3)


def compile_graph(graph, n_out=None):
    n_in = len(graph.inputs)
    outs = ("list", [("leaf", k) for k in range(len(graph.outputs))])
    return LambdifiedFunction(graph, "numpy", {}, ("list", [("leaf", k) for k in range(n_in)]), outs)


F = [sp.sin(x * y) * sp.exp(z) + x**3 / (1 + y**2), sp.atan2(y, x + 3) * sp.cosh(z)]


@settings(max_examples=40)
@given(p=point)
def test_jacobian_matches_sympy(p):
    J = compile_graph(jacobian_graph(lower(F, X)))(*p)
    ref = [float(sp.diff(f, v).evalf(30, subs=dict(zip(X, p)))) for f in F for v in X]
    np.testing.assert_allclose(J, ref, rtol=1e-12, atol=1e-12)


@settings(max_examples=50)
@given(p=point, t=point)
def test_jvp_and_vjp_agree_with_the_jacobian(p, t):
    g = lower(F, X)
    J = np.reshape(compile_graph(jacobian_graph(g))(*p), (2, 3))
    jvp = compile_graph(jvp_graph(g))(*p, *t)
    np.testing.assert_allclose(jvp, J @ np.array(t), rtol=1e-12, atol=1e-12)
    v = t[:2]
    vjp = compile_graph(vjp_graph(g))(*p, *v)
    np.testing.assert_allclose(vjp, np.array(v) @ J, rtol=1e-12, atol=1e-12)


@settings(max_examples=30)
@given(p=point)
def test_hessian_matches_sympy(p):
    f = sp.exp(-(x**2) - y**2 / 2) * sp.sin(z * x) + sp.log(1 + y**2) * z**3
    H = np.reshape(compile_graph(hessian_graph(lower([f], X)))(*p), (3, 3))
    ref = np.array(sp.hessian(f, X).evalf(30, subs=dict(zip(X, p))), dtype=float)
    np.testing.assert_allclose(H, ref, rtol=1e-11, atol=1e-11)
    np.testing.assert_allclose(H, H.T, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize(
    "expr, at, slope",
    [
        (sp.Piecewise((sp.sqrt(x), x > 0), (0, True)), -1.0, 0.0),
        (sp.Piecewise((sp.log(x - 1), x > 1), (x**2, True)), 0.5, 1.0),
        (sp.Piecewise((sp.acos(x), x < 1), (0, True)), 3.0, 0.0),
        (sp.sqrt(sp.Max(x, 0)), -2.0, 0.0),
        (sp.Piecewise((1 / x, x > 0), (0, True)), 0.0, 0.0),
    ],
)
def test_untaken_branches_never_poison_the_gradient(expr, at, slope):
    with np.errstate(all="ignore"):
        grad = compile_graph(grad_graph(lower([expr], [x])))(at)[0]
        hess = compile_graph(hessian_graph(lower([expr], [x])))(at)[0]
    assert grad == pytest.approx(slope)
    assert np.isfinite(hess)


def test_branch_gradients_where_taken():
    expr = sp.Piecewise((sp.sqrt(x), x > 0), (x**3, True))
    f = compile_graph(grad_graph(lower([expr], [x])))
    assert f(4.0)[0] == pytest.approx(0.25)
    assert f(-2.0)[0] == pytest.approx(12.0)


def _unevaluated_term(a, b, c):
    """``a*exp(b*x*y + c*z)`` built as it prints, without SymPy's evaluation (which costs far
    more than lowering and differentiating it)."""
    arg = sp.Add(sp.Mul(sp.Float(b), x, y, evaluate=False), sp.Mul(sp.Float(c), z, evaluate=False), evaluate=False)
    return sp.Mul(sp.Float(a), sp.exp(arg, evaluate=False), evaluate=False)


def test_derivative_size_is_linear_in_function_size():
    rng = np.random.default_rng(0)
    sizes = []
    for n in (250, 500, 1000):
        c = rng.uniform(-1, 1, (3, n))
        f = sp.Add(*[_unevaluated_term(*c[:, i]) for i in range(n)], evaluate=False)
        g = lower([f], X)
        sizes.append(len(grad_graph(g)) / len(g))
    assert max(sizes) < 4 and sizes[-1] < sizes[0] * 1.2


def test_parameters_can_be_differentiated():
    g = lower([2.5 * sp.sin(0.5 * x)], [x], floats="params")
    G = grad_graph(g, [0, 1], kind="param")
    assert to_sympy(G) == [sp.sin(0.5 * x), 2.5 * x * sp.cos(0.5 * x)]


def test_no_rule_is_a_clear_error():
    f = sp.Function("f")
    g = lower([f(x) * x], [x], extra_funcs={f: np.sin})
    with pytest.raises(DifferentiationError, match="extra_funcs"):
        grad_graph(g)
    with pytest.raises(DifferentiationError, match="besselj with respect to its argument 1"):
        grad_graph(lower([sp.besselj(x, y)], [x, y]))
    with pytest.raises(DifferentiationError, match="one output"):
        grad_graph(lower([x, y], [x, y]))


def test_derivatives_raise_to_sympy():
    (d,) = to_sympy(grad_graph(lower([sp.sin(x) ** 2], [x])))
    assert sp.simplify(d - sp.sin(2 * x)) == 0
