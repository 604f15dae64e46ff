"""The PyTensor backend: `to_pytensor` and `variables`, ``lambdify(..., backend="pytensor")``,
gradients from ``pytensor.grad`` against the graph's own derivatives, and the example.

Per-op values are in tests/test_backends_differential.py.
"""

import pickle
import runpy
from pathlib import Path

import numpy as np
import pytest
import sympy as sp
from helpers import require
from hypothesis import given, settings
from hypothesis import strategies as st

from sympile import SympileError, UnsupportedFunctionError, lambdify, lower
from sympile._functions.lambdify import LambdifiedFunction
from sympile._transforms.ad import grad_graph, hessian_graph

pytensor = require("pytensor")
pt = require("pytensor.tensor")
from sympile.pytensor import to_pytensor, variables  # noqa: E402

x, y, z = sp.symbols("x y z")
ROOT = Path(__file__).resolve().parent.parent.parent


def test_lambdify_compiles_a_pytensor_function():
    exprs = [sp.sin(x) * sp.exp(-(y**2)), sp.Piecewise((sp.sqrt(x), x > 0), (y, True)), sp.Integer(3)]
    f = lambdify([x, y], exprs, backend="pytensor")
    f_np = lambdify([x, y], exprs)
    xs = np.linspace(-1, 1, 7)
    for got, want in zip(f(xs, 0.5), f_np(xs, 0.5)):
        assert np.shape(got) == (7,)
        np.testing.assert_allclose(got, want, rtol=1e-14)
    one = f(0.25, 0.5)
    assert [float(v) for v in one] == pytest.approx([float(v) for v in f_np(0.25, 0.5)], rel=1e-14)
    assert "pt.switch" in f.source
    compiled = next(iter(f.built.kernel.functions.values()))
    assert type(compiled) is type(pytensor.function([], pt.constant(1.0)))
    assert f(xs.astype(np.float32), np.float32(0.5))[0].dtype == np.float32
    g = pickle.loads(pickle.dumps(f))
    np.testing.assert_allclose(g(xs, 0.5)[0], f(xs, 0.5)[0])


def test_matrix_outputs_and_nested_arguments():
    M = sp.Matrix([[x * y, sp.cos(x)], [1, y]])
    f = lambdify([[x, y]], M, backend="pytensor")
    got = f(np.array([[0.5, 1.0, 1.5], [2.0, 2.5, 3.0]]))
    want = lambdify([[x, y]], M)(np.array([[0.5, 1.0, 1.5], [2.0, 2.5, 3.0]]))
    assert got.shape == (2, 2, 3)
    np.testing.assert_allclose(got, want, rtol=1e-15)


def test_variables_follow_sympy_pytensor_function_options():
    a, b, c = variables([x, y, z], dims={x: 2}, dtypes={y: "float32"}, broadcastables={z: (True, False)})
    assert (a.ndim, a.dtype, a.name) == (2, "float64", "x")
    assert (b.ndim, b.dtype) == (0, "float32")
    assert c.type.shape == (1, None)
    (d,) = variables([x], dim=3)
    assert d.ndim == 3
    # dims overrides broadcastables, as in SymPy
    (e,) = variables([x], dims={x: 1}, broadcastables={x: (True, True)})
    assert e.ndim == 1


def test_to_pytensor_builds_a_graph_to_use_elsewhere():
    u = pt.dvector("u")
    expr = sp.Piecewise((x**2, x > 1), (sp.log(1 + sp.exp(x)), True)) + sp.erf(x)
    out = to_pytensor(expr, {x: u})
    assert "Switch" in pytensor.dprint(out, file="str")
    f = pytensor.function([u], out)
    values = np.linspace(-3, 3, 11)
    np.testing.assert_allclose(f(values), lambdify(x, expr)(values), rtol=1e-14)
    # a list of symbols makes fresh inputs; the structure of the expressions is kept
    outs = to_pytensor([x * y, sp.Matrix([x, y])], [x, y], dim=1)
    assert isinstance(outs, list) and outs[1].ndim == 3
    # float32 inputs keep float32 through the literals
    v = pt.fvector("v")
    assert to_pytensor(sp.pi * x + sp.Rational(1, 3), {x: v}).dtype == "float32"


def test_unsupported_functions_are_refused():
    with pytest.raises(UnsupportedFunctionError, match="LambertW"):
        to_pytensor(sp.LambertW(x), [x])


GRAD_CASES = [
    sp.sin(x) * sp.exp(-y * z) + sp.atan2(x, y**2 + 1),
    sp.Piecewise((sp.sqrt(x), x > 0), (-(y**2), True)) * z,
    sp.Max(x, y) * sp.Abs(z) + sp.log(1 + x**2),
    sp.gamma(x**2 + 1) + sp.erfc(y) * sp.tanh(z),
    x**y,
]


@pytest.mark.parametrize("expr", GRAD_CASES, ids=range(len(GRAD_CASES)))
@settings(max_examples=10)
@given(point=st.lists(st.floats(-2, 2), min_size=3, max_size=3))
def test_pytensor_grad_agrees_with_the_graph_derivatives(expr, point):
    if expr == x**y:
        point[0] = abs(point[0]) + 0.1
    vs = pt.dscalars("a", "b", "c")
    out = to_pytensor(expr, dict(zip([x, y, z], vs)))
    f = _grad_function(expr, vs, out)
    graph = grad_graph(lower([expr], [x, y, z]))
    own = _numpy_function(graph, ("list", [("leaf", 0), ("leaf", 1), ("leaf", 2)]))
    with np.errstate(all="ignore"):
        want = np.array(own(*point), dtype=float)
    got = np.array(f(*point), dtype=float)
    assert np.all(np.isfinite(got)) or not np.all(np.isfinite(want))
    np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12)


_GRADS = {}


def _numpy_function(graph, out_tree):
    """The graph's own derivatives, evaluated by the NumPy backend."""
    return LambdifiedFunction(graph, "numpy", {}, ("list", [("leaf", k) for k in range(3)]), out_tree)


def _grad_function(expr, vs, out):
    if expr not in _GRADS:
        _GRADS[expr] = pytensor.function(
            list(vs), pytensor.grad(out, list(vs), disconnected_inputs="ignore"), on_unused_input="ignore"
        )
    return _GRADS[expr]


def test_hessian_agrees_with_the_graph_hessian():
    expr = sp.log(1 + sp.exp(x * y)) + sp.sin(z) * x**3
    v = pt.dvector("v")
    out = to_pytensor(expr, {x: v[0], y: v[1], z: v[2]})
    graph = hessian_graph(lower([expr], [x, y, z]))
    own = _numpy_function(graph, ("array", (3, 3), [("leaf", k) for k in range(9)]))
    point = [0.3, -0.8, 1.3]
    # PyTensor's own reverse mode twice, row by row as `pytensor.gradient.hessian` does (there
    # inside a Scan), run by PyTensor's Python implementations of its ops: what is compared is
    # the Hessian PyTensor derives from our graph, which needs no C module per kernel of it.
    grad = pytensor.grad(out, v)
    hessian = pt.stack([pytensor.grad(grad[k], v) for k in range(3)])
    f = pytensor.function([v], hessian, mode=pytensor.compile.mode.Mode(linker="py", optimizer="fast_compile"))
    np.testing.assert_allclose(f(np.array(point)), own(*point), rtol=1e-13)


def test_untaken_branches_do_not_poison_gradients():
    v = pt.dscalar("v")
    out = to_pytensor(sp.Piecewise((sp.sqrt(x), x > 0), (x**2, True)) + sp.sinc(x), {x: v})
    g = pytensor.function([v], pytensor.grad(out, v))
    assert float(g(-1.0)) == pytest.approx(-2.0 + np.sin(1.0) - np.cos(1.0), rel=1e-12)
    assert float(g(0.0)) == 0.0


def test_example_pytensor_logdensity(capsys):
    namespace = runpy.run_path(str(ROOT / "examples" / "pytensor_logdensity.py"))
    assert namespace["main"]() < 1e-6
    assert "largest relative difference" in capsys.readouterr().out


def test_extra_funcs_receive_pytensor_variables():
    h = sp.Function("h")
    v = pt.dvector("v")
    out = to_pytensor(h(x) ** 2, {x: v}, extra_funcs={h: pt.softplus})
    f = pytensor.function([v], [out, pytensor.grad(out.sum(), v)])
    values = np.array([-1.0, 0.0, 2.0])
    value, grad = f(values)
    softplus = np.log1p(np.exp(values))
    np.testing.assert_allclose(value, softplus**2, rtol=1e-14)
    np.testing.assert_allclose(grad, 2 * softplus / (1 + np.exp(-values)), rtol=1e-14)


def test_lambdify_values_are_numpys_where_pytensor_rewrites_would_change_them():
    # exp(log(u)) is u only for u >= 0 (Numba's fast-math folds it anyway); sign(1/u) is sign(u)
    # only where u**4 neither underflows nor overflows; 0*u is 0 only for finite u.
    cases = [
        (sp.exp(sp.Piecewise((sp.log(x), x < 5), (0, True))), [-2.0, 3.0, 7.0]),
        (sp.sign(x**-4), [1e-100, -1e-100, 2.0]),
        (sp.log(sp.exp(x)), [1000.0, -1.0]),
        (sp.sqrt(x * y), [1e200, -3.0]),
    ]
    for expr, points in cases:
        f = lambdify([x, y], expr, backend="pytensor")
        want = lambdify([x, y], expr)
        with np.errstate(all="ignore"):
            np.testing.assert_array_equal(
                f(np.array(points), np.array(points)), want(np.array(points), np.array(points))
            )
    assert np.isnan(lambdify(x, sp.exp(sp.Piecewise((sp.log(x), x < 5), (0, True))), backend="pytensor")(-2.0))
    assert lambdify(x, sp.sign(x**-4), backend="pytensor")(1e-100) == 1.0


def test_inputs_may_have_names_that_numpy_reads_as_dtypes():
    xs = sp.symbols("x0:12")
    f = lambdify(xs, sum(k * s for k, s in enumerate(xs)), backend="pytensor")
    assert f(*[1.0] * 12) == sum(range(12))
    named = [sp.Symbol(n) for n in ("float64", "int8", "a10", "floatX")]
    ins = variables(named)
    assert [v.name for v in ins] == ["float64", "int8", "a10", "floatX"]
    assert all(v.dtype == pytensor.config.floatX for v in ins)
    out = to_pytensor(sum(k * s for k, s in enumerate(named, 1)), dict(zip(named, ins)))
    assert float(pytensor.function(ins, out)(1.0, 1.0, 1.0, 1.0)) == 10.0
    assert to_pytensor(named[0] ** 2, named).ndim == 0


def test_boolean_branches_of_a_condition_stay_boolean():
    # ITE(c, u, False) is where(c, u, False): a boolean select, inside another condition
    ite = sp.ITE(sp.Eq(x, y), y < 1, False, evaluate=False)
    expr = sp.Piecewise((sp.Piecewise((1.5, sp.Eq(x, y) | ite), (2.5, True)), x < 3), (0, True))
    f = lambdify([x, y], expr, backend="pytensor")
    xs, ys = np.array([0.5, 0.5, 0.5, 4.0]), np.array([0.5, 2.0, 0.7, 4.0])
    np.testing.assert_array_equal(f(xs, ys), [1.5, 2.5, 2.5, 0.0])
    np.testing.assert_array_equal(f(xs, ys), lambdify([x, y], expr)(xs, ys))


def test_graphs_deeper_than_the_recursion_limit_compile(monkeypatch):
    # PyTensor clones a graph recursively, one frame per level: lambdify raises the limit for
    # the depth of the graph (and only while compiling); the limit is lowered here so that a
    # graph quick to compile is deeper than it.
    import sys

    from sympile._backends import pytensor as backend

    e = x
    for _ in range(300):
        e = sp.sin(e, evaluate=False)
    f = lambdify(x, e, backend="pytensor")
    old = sys.getrecursionlimit()
    sys.setrecursionlimit(250)
    try:
        value = float(f(0.3))
        assert sys.getrecursionlimit() == 250
    finally:
        sys.setrecursionlimit(old)
    want = 0.3
    for _ in range(300):
        want = np.sin(want)
    assert value == pytest.approx(want, rel=1e-12)
    monkeypatch.setattr(backend, "MAX_DEPTH", 100)
    g = lambdify(x, sp.cos(e), backend="pytensor")
    with pytest.raises(SympileError, match="301 operations deep") as info:
        g(0.3)
    assert isinstance(info.value, RecursionError)
