"""`lambdify(..., backend="torch")`: every op against SymPy and the NumPy backend, dtypes,
devices, autograd (against graph AD), torch.func, torch.compile, and the special functions."""

import pickle
import zlib

import numpy as np
import pytest
import sympy as sp
from helpers import assert_close_to_reference, require
from hypothesis import given, settings
from hypothesis import strategies as st
from op_cases import CASES
from op_cases import at as _at
from op_cases import symbols_of as _symbols

from sympile import UnsupportedFunctionError, lambdify, lower
from sympile._functions.lambdify import LambdifiedFunction
from sympile._transforms.ad import grad_graph

torch = require("torch")

x, y = sp.symbols("x y")
IDS = [c[0] for c in CASES]
#: Cases PyTorch cannot compute (each must raise UnsupportedFunctionError): LambertW, and
#: Bessel functions of orders other than 0 and 1 (``besselj`` uses order 1/2).
UNSUPPORTED = {"lambertw", "lambertw_branch", "besselj"}
SUPPORTED = [c for c in CASES if c[0] not in UNSUPPORTED]
SUPPORTED_IDS = [c[0] for c in SUPPORTED]
#: torch.special's Bessel functions are accurate to about 1e-6 between 4 and 8 even in float64.
LOOSE = {"bessely": 1e-6}
DEVICES = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
uv = st.tuples(st.floats(0, 1), st.floats(0, 1))

_BUILT: dict = {}


def _function(case):
    name = case[0]
    if name not in _BUILT:
        try:
            _BUILT[name] = lambdify(_symbols(case[1]), case[1], backend="torch")
        except UnsupportedFunctionError as e:
            _BUILT[name] = e
    f = _BUILT[name]
    assert not isinstance(f, Exception), f
    return f


@pytest.mark.parametrize("name", sorted(UNSUPPORTED))
def test_the_unsupported_cases_are_refused_with_the_fix(name):
    case = next(c for c in CASES if c[0] == name)
    with pytest.raises(UnsupportedFunctionError, match="extra_funcs"):
        lambdify(_symbols(case[1]), case[1], backend="torch")


def _points(case, n, seed):
    rng = np.random.default_rng(seed)
    u, v = rng.uniform(0, 1, (2, n))
    pts = [_at(case, a, b) for a, b in zip(u, v)]
    args = [np.array([p[0] for p in pts]), np.array([p[1] for p in pts])]
    return args + [np.full(n, 1.7)] * (len(_symbols(case[1])) - 2)


@pytest.mark.parametrize("case", SUPPORTED, ids=SUPPORTED_IDS)
@settings(max_examples=15)
@given(point=uv)
def test_value_matches_sympy(case, point):
    f = _function(case)
    expr = case[1]
    syms = _symbols(expr)
    pt = [*_at(case, *point), *[1.7] * (len(syms) - 2)]
    got = f(*[torch.tensor(p, dtype=torch.float64) for p in pt])
    assert got.dtype in (torch.float64, torch.bool)
    rel = LOOSE.get(case[0], 1e-12)
    assert_close_to_reference(expr, syms, pt, got.item(), rel=rel, graph=lambdify(syms, expr).graph)


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("case", SUPPORTED, ids=SUPPORTED_IDS)
def test_arrays_match_numpy_backend(case, device):
    f = _function(case)
    args = _points(case, 256, seed=zlib.crc32(case[0].encode()))
    with np.errstate(all="ignore"):
        ref = np.asarray(lambdify(_symbols(case[1]), case[1])(*args))
    got = f(*[torch.tensor(a, device=device) for a in args]).cpu().numpy()
    assert got.shape == ref.shape
    if ref.dtype == bool:
        np.testing.assert_array_equal(got, ref)
    else:
        atol = LOOSE.get(case[0], 1e-13)  # (values are of order 1; some cancel to near 0)
        np.testing.assert_allclose(got, ref, rtol=max(atol, 1e-12), atol=atol, equal_nan=True)


@pytest.mark.parametrize("case", SUPPORTED, ids=SUPPORTED_IDS)
def test_float32_in_float32_out(case):
    f = _function(case)
    args = [torch.tensor(a, dtype=torch.float32) for a in _points(case, 8, seed=1)]
    out = f(*args)
    assert out.dtype in (torch.float32, torch.bool), out.dtype
    ref = lambdify(_symbols(case[1]), case[1])(*[a.double().numpy() for a in args])
    if out.dtype != torch.bool:
        np.testing.assert_allclose(out.numpy(), ref, rtol=5e-5, atol=LOOSE.get(case[0], 1e-6) * 10)


DIFFERENTIABLE = [c for c in SUPPORTED if c[0] not in ("logic", "ite", "compare")]
#: Real functions with complex intermediates: graph AD takes re/im/conj/arg as functions of a
#: real argument, PyTorch differentiates them properly; these are checked by finite differences.
COMPLEX_PARTS = {"re_im", "arg", "conjugate", "complex"}


@pytest.mark.parametrize("case", DIFFERENTIABLE, ids=[c[0] for c in DIFFERENTIABLE])
def test_autograd_matches_graph_ad(case):
    """PyTorch's gradient of the emitted code equals the gradient graph (checked against
    sympy.diff by test_ops), and is never NaN where the graph's is finite."""
    f = _function(case)
    syms = _symbols(case[1])
    args = _points(case, 64, seed=7)
    ts = [torch.tensor(a, requires_grad=True) for a in args]
    f(*ts).sum().backward()
    if case[0] in COMPLEX_PARTS:
        h = 1e-6
        ref = []
        for k in range(len(args)):
            up = [torch.tensor(a + h * (j == k)) for j, a in enumerate(args)]
            down = [torch.tensor(a - h * (j == k)) for j, a in enumerate(args)]
            ref.append(((f(*up) - f(*down)) / (2 * h)).numpy())
        tol = 1e-6
    else:
        grad = grad_graph(lower([case[1]], syms), list(range(len(syms))))
        tree = ("list", [("leaf", i) for i in range(len(syms))])
        ref_fn = LambdifiedFunction(grad, "numpy", {}, tree, ("list", [("leaf", k) for k in range(len(syms))]))
        with np.errstate(all="ignore"):
            ref = ref_fn(*args)
        tol = LOOSE.get(case[0], 1e-9) * 10
    for t, r in zip(ts, ref):
        r = np.broadcast_to(np.real(r), t.shape)
        finite = np.isfinite(r)
        g = (t.grad if t.grad is not None else torch.zeros_like(t)).numpy()  # None: not used
        np.testing.assert_allclose(g[finite], r[finite], rtol=tol, atol=tol)


COMPLEX = [
    c
    for c in CASES
    if c[0]
    in {
        "add",
        "sub",
        "mul",
        "div",
        "neg",
        "powi",
        "pow_symbolic",
        "exp",
        "log",
        "sin",
        "cos",
        "tan",
        "sinh",
        "cosh",
        "tanh",
        "asin",
        "atan",
        "asinh",
        "re_im",
        "conjugate",
        "complex",
        "constants",
        "rational",
        "float",
        "abs",
    }
]


@pytest.mark.parametrize("case", COMPLEX, ids=[c[0] for c in COMPLEX])
def test_complex128_matches_numpy_backend(case):
    f = _function(case)
    rng = np.random.default_rng(3)
    args = [a + 1j * rng.uniform(-1, 1, a.shape) for a in _points(case, 64, seed=3)]
    out = f(*[torch.tensor(a) for a in args])
    ref = lambdify(_symbols(case[1]), case[1])(*args)
    assert out.dtype == (torch.complex128 if np.iscomplexobj(ref) else torch.float64)
    np.testing.assert_allclose(out.numpy(), ref, rtol=1e-12, atol=1e-14)


def test_complex_inputs_against_sympy():
    z = sp.Symbol("z")
    expr = sp.sqrt(z) + sp.log(z) * sp.exp(sp.I * z) + sp.asin(z) + z**2.5
    f = lambdify(z, expr, backend="torch")
    for value in (-2.0 + 0.5j, 0.3 - 1.2j, -4 + 0j):
        out = f(torch.tensor([value], dtype=torch.complex128))
        assert out.dtype == torch.complex128
        ref = complex(expr.subs(z, value).evalf(30))
        assert abs(complex(out[0]) - ref) <= 1e-13 * abs(ref)


def test_constants_are_exact_in_the_inputs_dtype():
    xs = torch.linspace(-3, 3, 101, dtype=torch.float64)
    f = lambdify(x, [sp.pi * x, sp.Rational(2, 7) * x, sp.GoldenRatio + x], backend="torch")
    a, b, c = f(xs)
    assert torch.equal(a, xs * float(sp.pi.evalf(30)))
    assert torch.equal(b, xs * 2 / 7)
    assert torch.equal(c, xs + float(sp.GoldenRatio.evalf(30)))
    a32, b32, _ = f(xs.float())
    assert a32.dtype == torch.float32
    pi32 = torch.tensor(float(sp.pi.evalf(30)), dtype=torch.float32)
    assert torch.equal(a32, xs.float() * pi32)
    assert torch.equal(b32, xs.float() * 2 / 7)


def test_python_numbers_and_integer_tensors():
    f = lambdify([x, y], sp.sin(x) + y / 2, backend="torch")
    out = f(1.0, 2)
    assert isinstance(out, torch.Tensor) and out.dtype == torch.get_default_dtype()
    assert out.item() == pytest.approx(np.sin(1.0) + 1.0, rel=1e-6)
    out = f(torch.arange(3), torch.tensor([1.0, 2.0, 3.0], dtype=torch.float64))
    assert out.dtype == torch.float64
    np.testing.assert_allclose(out.numpy(), np.sin(np.arange(3)) + np.array([1.0, 2.0, 3.0]) / 2)


def test_outputs_broadcast_and_structures():
    f = lambdify([x, y], [sp.Integer(2), x + 1, (sp.pi * y, sp.Matrix([[x, y], [1, x * y]]))], backend="torch")
    a, b, (c, m) = f(torch.zeros(3, 1), torch.zeros(4))
    assert a.shape == b.shape == c.shape == (3, 4)
    assert torch.all(a == 2)
    assert m.shape == (2, 2, 3, 4)
    assert torch.all(m[1, 0] == 1)


def test_piecewise_gradient_is_not_nan_from_the_untaken_branch():
    f = lambdify(
        x, [sp.Piecewise((sp.sqrt(x), x > 0), (0, True)), sp.Piecewise((sp.log(x), x > 0), (x, True))], "torch"
    )
    xs = torch.tensor([-1.0, 0.0, 4.0], requires_grad=True)
    a, b = f(xs)
    (ga,) = torch.autograd.grad(a.sum(), xs, retain_graph=True)
    assert ga.tolist() == [0.0, 0.0, 0.25]
    (gb,) = torch.autograd.grad(b.sum(), xs)
    assert gb.tolist() == [1.0, 1.0, 0.25]
    naive = torch.where(xs > 0, torch.sqrt(xs), 0.0)  # what a plain translation computes
    assert torch.isnan(torch.autograd.grad(naive.sum(), xs)[0][0])


def test_torch_func_grad_vmap_jacrev():
    f = lambdify([x, y], sp.sin(x) * sp.exp(y) + x**3, backend="torch")
    xs, ys = torch.linspace(-1, 1, 5, dtype=torch.float64), torch.linspace(0, 1, 5, dtype=torch.float64)
    gx = torch.func.vmap(torch.func.grad(f, argnums=0))(xs, ys)
    torch.testing.assert_close(gx, torch.cos(xs) * torch.exp(ys) + 3 * xs**2)
    jac = torch.func.jacrev(lambda v: f(v[0], v[1]))(torch.tensor([0.3, 0.4], dtype=torch.float64))
    torch.testing.assert_close(
        jac, torch.tensor([np.cos(0.3) * np.exp(0.4) + 3 * 0.09, np.sin(0.3) * np.exp(0.4)], dtype=torch.float64)
    )


def test_torch_compile_fullgraph():
    expr = sum(sp.Rational(k + 1, 3) * sp.sin((k + 2) * x + y) for k in range(6)) + sp.Piecewise((x, x > 0), (y, True))
    f = lambdify([x, y], expr, backend="torch")
    compiled = torch.compile(f, fullgraph=True)
    gen = torch.Generator().manual_seed(0)
    xs, ys = (torch.randn(50, dtype=torch.float64, generator=gen) for _ in range(2))
    torch.testing.assert_close(compiled(xs, ys), f(xs, ys))
    ref = lambdify([x, y], expr)(xs.numpy(), ys.numpy())
    np.testing.assert_allclose(f(xs, ys).numpy(), ref, rtol=1e-12)


@given(xs=st.lists(st.floats(-5, 5), min_size=1, max_size=20), k=st.integers(3, 12))
@settings(max_examples=25)
def test_batched_sibling_terms_match_numpy(xs, k):
    expr = sum((i + 2) * sp.sin((i + 3) * x + i + 1) * sp.exp(-(i + 2) * x / 8) for i in range(k))
    f = lambdify(x, expr, backend="torch")
    assert "_vdot" in f.source or "torch.sum" in f.source  # the terms are one vector op
    got = f(torch.tensor(xs, dtype=torch.float64)).numpy()
    np.testing.assert_allclose(got, lambdify(x, expr)(np.array(xs)), rtol=1e-12, atol=1e-12)


def test_bessel_orders_zero_and_one_with_gradients():
    scipy_special = require("scipy.special")
    f = lambdify(x, [sp.besselj(0, x), sp.besselj(1, x), sp.bessely(0, x), sp.bessely(1, x)], backend="torch")
    xs = torch.tensor([0.3, 1.7, 2.9, 3.5], dtype=torch.float64, requires_grad=True)
    outs = f(xs)
    refs = [scipy_special.j0, scipy_special.j1, scipy_special.y0, scipy_special.y1]
    derivs = [
        lambda v: -scipy_special.j1(v),
        lambda v: scipy_special.jvp(1, v),
        lambda v: -scipy_special.y1(v),
        lambda v: scipy_special.yvp(1, v),
    ]
    for out, ref, d in zip(outs, refs, derivs):
        np.testing.assert_allclose(out.detach().numpy(), ref(xs.detach().numpy()), rtol=0, atol=1e-6)
        (g,) = torch.autograd.grad(out.sum(), xs)
        np.testing.assert_allclose(g.numpy(), d(xs.detach().numpy()), rtol=0, atol=1e-6)


@pytest.mark.parametrize(
    "expr, name",
    [(sp.LambertW(x), "LambertW"), (sp.besselj(sp.Rational(1, 2), x), "besselj"), (sp.besselj(y, x), "besselj")],
)
def test_unsupported_functions_name_the_fix(expr, name):
    with pytest.raises(UnsupportedFunctionError, match=f"extra_funcs=.*sympy.{name}"):
        lambdify([x, y], expr, backend="torch")
    f = lambdify([x, y], expr, backend="torch", extra_funcs={type(expr): lambda *a: torch.zeros_like(a[-1])})
    assert torch.all(f(torch.ones(3), torch.ones(3)) == 0)


def test_extra_funcs_receive_tensors():
    g = sp.Function("g")
    f = lambdify(x, g(x) + sp.sin(x), backend="torch", extra_funcs={g: torch.special.expit})
    xs = torch.linspace(-2, 2, 7, dtype=torch.float64)
    torch.testing.assert_close(f(xs), torch.special.expit(xs) + torch.sin(xs))


def test_pickles_by_value():
    f = lambdify([x, y], sp.sin(x) * sp.pi + y, backend="torch")
    g = pickle.loads(pickle.dumps(f))
    xs = torch.linspace(0, 1, 4, dtype=torch.float64)
    torch.testing.assert_close(g(xs, xs), f(xs, xs))
    assert g.backend == "torch"


def test_symbol_names_never_reach_the_source():
    evil = sp.Symbol("__import__('os').system('echo hi')")
    f = lambdify([evil], sp.sin(evil) + 1, backend="torch")
    assert "os" not in f.source and "system" not in f.source
    assert f(torch.zeros(1)).item() == 1.0


def test_complex_constants_scalar_and_batched():
    es = [
        sp.I * x + sp.pi,
        sp.exp(sp.I * sp.pi / 5) * x,
        sum(sp.exp((k + 2) * sp.I * sp.pi / 7) * sp.sin((k + 2) * x) for k in range(5)),
    ]
    f = lambdify(x, es, backend="torch")
    assert "_vdot" in f.source
    xs = np.linspace(-1, 1, 9)
    for dtype, tol in ((torch.float64, 1e-14), (torch.float32, 1e-6)):
        outs = f(torch.tensor(xs, dtype=dtype))
        for out, ref in zip(outs, lambdify(x, es)(xs)):
            assert out.dtype == (torch.complex128 if dtype == torch.float64 else torch.complex64)
            np.testing.assert_allclose(out.numpy(), ref, rtol=tol, atol=tol)
