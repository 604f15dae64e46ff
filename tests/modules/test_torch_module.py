"""`sympile.torch.SymPyModule`: sympytorch's behaviour where it is right, and each of its
defects fixed (each fix is tested where sympytorch's behaviour would fail the test)."""

import copy
import io
import pickle

import numpy as np
import pytest
import sympy as sp
from helpers import require
from hypothesis import given, settings
from hypothesis import strategies as st
from op_cases import CASES
from op_cases import at as _at
from op_cases import symbols_of as _symbols

import sympile
from sympile import ArgumentError, MissingInputError, ShapeError, SympileError, lambdify
from sympile.torch import SymPyModule, hide_floats

torch = require("torch")

x, y, z = sp.symbols("x y z")
DEVICES = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
rng = np.random.default_rng(0)


def sine_sum(n=50):
    a, b, c = rng.uniform(0.5, 2, (3, n))
    return sp.Add(*[sp.Float(a[i]) * sp.sin(sp.Float(b[i]) * x + sp.Float(c[i])) for i in range(n)])


def _occurrences(expr, values):
    """``expr`` with its k-th Float occurrence (preorder) replaced by ``values[k]``."""
    it = iter(values)

    def walk(e):  # recursion is fine on the small expressions of these tests
        if e.is_Float:
            return sp.Float(next(it))
        return e.func(*[walk(a) for a in e.args]) if e.args else e

    return walk(expr)


# -- sympytorch's behaviour, where it is right ---------------------------------------------


def test_call_by_name_stacks_outputs_last():
    sympytorch = require("sympytorch")
    exprs = [2.5 * sp.sin(x) * y, sp.exp(-(x**2)) + 1.5, x * y * z]
    ours = SymPyModule(expressions=exprs)
    theirs = sympytorch.SymPyModule(expressions=exprs)
    gen = torch.Generator().manual_seed(0)
    X, Y, Z = (torch.randn(4, 3, generator=gen) for _ in range(3))
    out = ours(x=X, y=Y, z=Z, unused=torch.zeros(1))
    assert out.shape == (4, 3, 3)
    torch.testing.assert_close(out, theirs(x=X, y=Y, z=Z))


def test_floats_are_parameters_and_hidden_floats_buffers():
    mod = SymPyModule(expressions=[1.5 * x + hide_floats(2.5 * y) + sp.UnevaluatedExpr(sp.Float(0.25))])
    assert [p.shape for p in mod.parameters()] == [torch.Size([1])]
    assert mod.params.tolist() == [1.5]
    assert sorted(mod.frozen.tolist()) == [0.25, 2.5]
    out = mod(x=torch.tensor(1.0, requires_grad=True), y=2.0)
    out.sum().backward()
    assert mod.params.grad.tolist() == [1.0]
    assert not mod.frozen.requires_grad


def test_sympy_gives_the_expressions_with_current_values():
    expr = 2.5 * sp.sin(0.5 * x) + sp.Piecewise((x**2, x > 1.5), (0.25, True))
    mod = SymPyModule(expressions=[expr, x * y])
    assert mod.sympy()[0] == expr and mod.sympy()[1] == x * y
    with torch.no_grad():
        mod.params.copy_(torch.tensor([3.0, 4.0, 2.0, 0.125]))
    new = mod.sympy()[0]
    assert new == _occurrences(expr, [3.0, 4.0, 2.0, 0.125])
    xs = torch.linspace(-2, 3, 11, dtype=torch.float64)
    ref = lambdify(x, new)(xs.numpy())
    np.testing.assert_allclose(mod.double()(x=xs, y=1.0)[:, 0].detach().numpy(), ref, rtol=1e-12)


def test_extra_funcs_and_sympy_round_trip():
    f = sp.Function("f")
    mod = SymPyModule(expressions=[f(x) * 2.0 + 1], extra_funcs={f: lambda t: t**3})
    torch.testing.assert_close(mod(x=torch.tensor([2.0]))[:, 0], torch.tensor([17.0]))
    assert mod.sympy() == [2.0 * f(x) + 1]


# -- fixed: parameters by occurrence --------------------------------------------------------


def test_each_float_occurrence_is_its_own_parameter():
    sympytorch = require("sympytorch")
    expr = 1.5 * x + 1.5 * y**2
    assert len(list(sympytorch.SymPyModule(expressions=[expr]).parameters())) == 1  # shared
    mod = SymPyModule(expressions=[expr])
    assert mod.params.numel() == 2
    opt = torch.optim.SGD(mod.parameters(), lr=0.1)
    xs, ys = torch.linspace(-1, 1, 20), torch.linspace(0, 2, 20)
    for _ in range(200):  # fit 3x + 0.5y**2: the two coefficients must move apart
        opt.zero_grad()
        loss = ((mod(x=xs, y=ys)[:, 0] - (3 * xs + 0.5 * ys**2)) ** 2).mean()
        loss.backward()
        opt.step()
    torch.testing.assert_close(mod.params.detach(), torch.tensor([3.0, 0.5]), atol=1e-3, rtol=0)
    assert mod.sympy()[0] == _occurrences(expr, mod.params.tolist())


def test_parameter_order_is_preorder_and_named():
    expr = 0.5 + 2.0 * sp.sin(3.0 * x + 0.5) * sp.exp(-1.25 * y)
    mod = SymPyModule(expressions=[expr])
    floats = [float(e) for e in sp.preorder_traversal(expr) if e.is_Float]
    assert mod.params.tolist() == floats
    syms, exprs = mod.parameter_symbols()
    assert [str(s) for s in syms] == [f"p{k}" for k in range(len(floats))]
    assert exprs[0].xreplace(dict(zip(syms, map(sp.Float, floats)))) == expr
    # a clash with the user's symbols changes the prefix
    p0 = sp.Symbol("p0")
    syms, _ = SymPyModule(expressions=[1.5 * p0]).parameter_symbols()
    assert str(syms[0]) == "p_0"


@given(st.lists(st.floats(0.5, 4.0), min_size=3, max_size=12))
@settings(max_examples=20)
def test_parameter_gradients_match_sympy_diff(values):
    """The gradient with respect to every coefficient, batched terms included."""
    n = len(values) // 3
    expr = sum(
        sp.Float(values[3 * i]) * sp.sin(sp.Float(values[3 * i + 1]) * x + sp.Float(values[3 * i + 2]))
        for i in range(n)
    )
    expr += sp.Float(values[-1]) * sp.exp(-x)
    mod = SymPyModule(expressions=[expr]).double()
    xs = torch.linspace(-2, 2, 9, dtype=torch.float64)
    mod(x=xs).sum().backward()
    syms, (template,) = mod.parameter_symbols()
    point = dict(zip(syms, mod.params.tolist()))
    for k, s in enumerate(syms):
        d = lambdify(x, sp.diff(template, s).subs(point))
        np.testing.assert_allclose(mod.params.grad[k].item(), np.sum(d(xs.numpy())), rtol=1e-10, atol=1e-10)


# -- fixed: constants follow the dtype and device ------------------------------------------------


def test_constants_are_exact_in_float64():
    """Within an ulp of SymPy at 30 digits (sympytorch's float32 pi is off by 1e-8)."""
    sympytorch = require("sympytorch")
    exprs = [sp.pi * x, sp.Rational(1, 3) * x, sp.E + x * sp.EulerGamma, sp.GoldenRatio * sp.Catalan * x]
    xs = torch.linspace(-3, 3, 101, dtype=torch.float64)
    exact = [np.array([float(e.subs(x, sp.Float(v, 40)).evalf(30)) for v in xs.tolist()]) for e in exprs]
    for mod in (SymPyModule(expressions=exprs), SymPyModule(expressions=exprs).double()):
        out = mod(x=xs)
        assert out.dtype == torch.float64
        assert torch.equal(out[:, 0], xs * float(sp.pi.evalf(30)))
        assert torch.equal(out[:, 1], xs / 3)
        for k, e in enumerate(exact):
            np.testing.assert_allclose(out[:, k].detach().numpy(), e, rtol=2**-52, atol=0)
    # sympytorch makes pi a float32 tensor, even for float64 inputs and a float64 module:
    theirs = sympytorch.SymPyModule(expressions=[sp.pi * x]).double()(x=xs)[:, 0]
    assert np.max(np.abs(theirs.numpy() - exact[0]) / np.abs(exact[0])) > 1e-9


def test_constants_in_float32_are_correctly_rounded_and_in_state_dict():
    mod = SymPyModule(expressions=[sp.pi * x + sp.Rational(2, 7), sp.TribonacciConstant * x + 3 * sp.I * x])
    sd = mod.state_dict()
    assert set(sd) == {"params", "frozen", "constants"}
    assert sd["constants"].dtype == torch.float32
    for c in (sp.pi, sp.Rational(2, 7), sp.TribonacciConstant):
        assert np.float32(float(c.evalf(30))) in sd["constants"].numpy()
    xs = torch.linspace(-1, 1, 7)
    out = mod(x=xs)
    assert out.dtype == torch.complex64
    ref = lambdify(x, [sp.pi * x + sp.Rational(2, 7), sp.TribonacciConstant * x])(xs.double().numpy())
    np.testing.assert_allclose(out[:, 0].real.numpy(), ref[0], rtol=2**-23)
    np.testing.assert_allclose(out[:, 1].real.numpy(), ref[1], rtol=2**-23)
    torch.testing.assert_close(out[:, 1].imag, 3 * xs, rtol=0, atol=0)
    assert float(sp.pi.evalf(30)) in mod.double().constants.tolist()


def test_dtype_conversions_restore_exact_values():
    mod = SymPyModule(expressions=[0.1 * x + sp.pi + hide_floats(0.2 * x)])
    assert mod.params.item() != 0.1  # float32
    mod.double()
    assert mod.params.dtype == mod.frozen.dtype == mod.constants.dtype == torch.float64
    assert mod.params.item() == 0.1 and mod.frozen.item() == 0.2  # untouched: exact again
    assert float(sp.pi.evalf(30)) in mod.constants.tolist()
    mod.float()
    with torch.no_grad():
        mod.params.fill_(0.3)
    mod.to(torch.float64)
    assert mod.params.item() == float(np.float32(0.3))  # a trained value is kept as it is
    assert isinstance(mod.params, torch.nn.Parameter)


@pytest.mark.parametrize("device", DEVICES)
def test_to_device(device):
    mod = SymPyModule(expressions=[sine_sum(5) + sp.pi * x + sp.Rational(1, 3)]).to(device)
    assert mod.params.device.type == mod.constants.device.type == device
    xs = torch.linspace(-1, 1, 9, device=device)
    out = mod(x=xs)
    assert out.device.type == device
    ref = lambdify(x, mod.sympy()[0])(xs.cpu().double().numpy())
    np.testing.assert_allclose(out[:, 0].detach().cpu().numpy(), ref, rtol=2e-5, atol=2e-5)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64, torch.complex128])
def test_input_dtypes(dtype):
    exprs = [2.5 * sp.sin(x) * y + sp.Rational(1, 3), sp.exp(0.5 * x) + sp.pi * y**2]
    mod = SymPyModule(expressions=exprs)
    data = rng.uniform(-1, 1, (2, 16))
    if dtype.is_complex:
        data = data + 1j * rng.uniform(-1, 1, (2, 16))
    out = mod(x=torch.tensor(data[0], dtype=dtype), y=torch.tensor(data[1], dtype=dtype))
    assert out.dtype == dtype
    ref = np.stack(lambdify([x, y], exprs)(data[0], data[1]), -1)
    tol = 1e-6 if dtype == torch.float32 else 1e-7  # the float32 coefficients
    np.testing.assert_allclose(out.detach().numpy(), ref, rtol=tol, atol=tol)
    out = mod.double()(x=torch.tensor(data[0], dtype=dtype), y=torch.tensor(data[1], dtype=dtype))
    if dtype != torch.float32:
        np.testing.assert_allclose(out.detach().numpy(), ref, rtol=1e-14, atol=1e-14)


# -- fixed: the op table, branches and gradients ------------------------------------------------


def test_extra_funcs_override_builtin_translations():
    sympytorch = require("sympytorch")
    funcs = {sp.sin: lambda t: torch.zeros_like(t)}
    xs = torch.linspace(0.5, 1, 4)
    assert torch.all(SymPyModule(expressions=[sp.sin(x)], extra_funcs=funcs)(x=xs) == 0)
    assert not torch.all(sympytorch.SymPyModule(expressions=[sp.sin(x)], extra_funcs=funcs)(x=xs) == 0)


def test_nary_min_max_piecewise_mod_heaviside():
    sympytorch = require("sympytorch")
    exprs = [
        sp.Min(x, y, 0.5 * x + 1),
        sp.Max(x, y, x * y, 0.25),
        sp.Piecewise((x**2, x < y), (sp.sin(x), x > 1), (y, True)),
        sp.Mod(x, y + 3),
        sp.Heaviside(x) * y + sp.Heaviside(y, 0.25),
    ]
    xs, ys = rng.uniform(-2, 2, (2, 64))
    ys[:4] = 0.0
    mod = SymPyModule(expressions=exprs).double()
    out = mod(x=torch.tensor(xs), y=torch.tensor(ys)).detach().numpy()
    np.testing.assert_allclose(out, np.stack(lambdify([x, y], exprs)(xs, ys), -1), rtol=1e-14)
    with pytest.raises(Exception):  # noqa: B017 - sympytorch cannot evaluate n-ary Min
        sympytorch.SymPyModule(expressions=exprs[:1])(x=torch.tensor(xs), y=torch.tensor(ys))


MODULE_CASES = [c for c in CASES if c[0] not in ("lambertw", "lambertw_branch", "besselj")]


@pytest.mark.parametrize("case", MODULE_CASES, ids=[c[0] for c in MODULE_CASES])
def test_every_op_matches_numpy_backend(case):
    """The op table through a module, a Float in each expression as a parameter."""
    expr = case[1] + 0.5 * x
    syms = _symbols(expr)
    u, v = rng.uniform(0, 1, (2, 32))
    pts = [_at(case, a, b) for a, b in zip(u, v)]
    args = [np.array([p[0] for p in pts]), np.array([p[1] for p in pts])] + [np.full(32, 1.7)] * (len(syms) - 2)
    mod = SymPyModule(expressions=[expr], symbols=syms).double()
    out = mod(torch.tensor(np.stack(args, -1)))[:, 0].detach().numpy()
    with np.errstate(all="ignore"):
        ref = lambdify(syms, expr)(*args)
    tol = 1e-6 if case[0] == "bessely" else 1e-12
    np.testing.assert_allclose(out, ref, rtol=tol, atol=tol, equal_nan=True)


def test_branch_gradients_are_never_nan():
    exprs = [
        sp.Piecewise((sp.sqrt(x), x > 0), (0, True)),
        sp.Piecewise((sp.log(x), x > 0.5), (x, True)),
        sp.sqrt(sp.Abs(x) + 1.0) * sp.Abs(x),
        sp.Piecewise((1 / x, sp.Abs(x) > 1), (x, True)),
    ]
    mod = SymPyModule(expressions=exprs)
    xs = torch.tensor([-1.0, 0.0, 0.25, 4.0], requires_grad=True)
    grads = [torch.autograd.grad(mod(x=xs)[:, k].sum(), xs)[0] for k in range(4)]
    assert grads[0].tolist() == [0.0, 0.0, 1.0, 0.25]  # the example: 0 at x = -1
    torch.testing.assert_close(grads[1], torch.tensor([1.0, 1.0, 1.0, 0.25]))
    assert not any(torch.isnan(g).any() for g in grads)
    torch.testing.assert_close(grads[3], torch.tensor([1.0, 1.0, 1.0, -1 / 16]))


# -- fixed: copying, saving, converting, compiling ------------------------------------------------


def _check_copy(mod, other):
    xs = torch.linspace(-1, 1, 5)
    torch.testing.assert_close(other(x=xs), mod(x=xs))
    with torch.no_grad():
        other.params.add_(1.0)
    assert not torch.equal(other.params, mod.params)  # the copy owns its parameters
    assert other.sympy() != mod.sympy()


def test_deepcopy_pickle_and_torch_save():
    mod = SymPyModule(expressions=[sine_sum(6) + sp.pi * x, sp.Piecewise((x, x > 0), (1.5, True))])
    _check_copy(mod, copy.deepcopy(mod))
    _check_copy(mod, pickle.loads(pickle.dumps(mod)))
    buf = io.BytesIO()
    torch.save(mod, buf)
    buf.seek(0)
    _check_copy(mod, torch.load(buf, weights_only=False))
    # the pickle holds the graph and tensors, not generated code
    assert b"def _f" not in pickle.dumps(mod)


def test_state_dict_round_trip():
    mod = SymPyModule(expressions=[sine_sum(6) + sp.pi * x])
    with torch.no_grad():
        mod.params.mul_(2)
    buf = io.BytesIO()
    torch.save(mod.state_dict(), buf)
    buf.seek(0)
    other = SymPyModule(expressions=[sine_sum(6) + sp.pi * x]).double()
    other.load_state_dict(torch.load(buf))  # weights_only: plain tensors
    assert other.params.dtype == torch.float64
    torch.testing.assert_close(other.params.float(), mod.params.detach())
    assert float(sp.pi.evalf(30)) in other.constants.tolist()  # exact again after the load


def test_torch_compile_fullgraph_and_functional_call():
    mod = SymPyModule(expressions=[sine_sum(8) + sp.Piecewise((sp.sqrt(x), x > 0), (0, True)), x * y], symbols=[x, y])
    X = torch.randn(33, 2, generator=torch.Generator().manual_seed(0))
    compiled = torch.compile(mod, fullgraph=True)
    torch.testing.assert_close(compiled(X), mod(X))
    torch.testing.assert_close(compiled(x=X[:, 0], y=X[:, 1]), mod(X))
    params = {"params": mod.params.detach() * 2}
    out = torch.func.functional_call(mod, params, (X,))
    ref = lambdify([x, y], [e.subs({}) for e in _with(mod, params["params"])])(X[:, 0].numpy(), X[:, 1].numpy())
    np.testing.assert_allclose(out.detach().numpy(), np.stack(ref, -1), rtol=1e-5, atol=1e-5)
    g = torch.func.grad(lambda p: torch.func.functional_call(mod, {"params": p}, (X,)).sum())(mod.params.detach())
    mod(X).sum().backward()
    torch.testing.assert_close(g, mod.params.grad)


def _with(mod, params):
    other = copy.deepcopy(mod)
    with torch.no_grad():
        other.params.copy_(params)
    return other.sympy()


def test_vmap_and_jacrev():
    mod = SymPyModule(expressions=[sp.sin(2.0 * x) * y, x**2 + 0.5 * y], symbols=[x, y]).double()
    X = torch.randn(5, 2, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    torch.testing.assert_close(torch.func.vmap(mod)(X), mod(X))
    jac = torch.func.vmap(torch.func.jacrev(mod))(X)
    a, b = X[:, 0], X[:, 1]
    expected = torch.stack(
        [
            torch.stack([2 * torch.cos(2 * a) * b, torch.sin(2 * a)], -1),
            torch.stack([2 * a, torch.full_like(a, 0.5)], -1),
        ],
        -2,
    )
    torch.testing.assert_close(jac, expected)


# -- positional form and errors ---------------------------------------------------------------------


def test_positional_form():
    mod = SymPyModule(expressions=[x - 2.0 * y, y * z], symbols=[x, y, z])
    gen = torch.Generator().manual_seed(0)
    X = torch.randn(3, 4, 3, generator=gen)
    out = mod(X)
    assert out.shape == (3, 4, 2)
    torch.testing.assert_close(out, mod(x=X[..., 0], y=X[..., 1], z=X[..., 2]))
    with pytest.raises(ShapeError, match="last axis of size 3"):
        mod(torch.randn(4, 2, generator=gen))
    with pytest.raises(ArgumentError):
        mod(X, X)
    with pytest.raises(ArgumentError, match="symbols="):
        SymPyModule(expressions=[x])(torch.ones(3, 1))


def test_missing_input_lists_expected_names():
    mod = SymPyModule(expressions=[x * y + z])
    with pytest.raises(MissingInputError, match="missing input.*y.*expects x, y, z") as info:
        mod(x=1.0, z=2.0)
    assert isinstance(info.value, KeyError) and isinstance(info.value, SympileError)
    with pytest.raises(MissingInputError, match="z"):
        SymPyModule(expressions=[x * y + z], symbols=[x, y])


def test_empty_and_malformed_expressions():
    with pytest.raises(SympileError, match="at least one expression") as info:
        SymPyModule(expressions=[])
    assert isinstance(info.value, ValueError)
    with pytest.raises(ArgumentError, match=r"\[expr\]"):
        SymPyModule(expressions=x + 1)
    with pytest.raises(SympileError, match="never evaluates text"):
        SymPyModule(expressions=["x + 1"])


def test_constant_outputs_follow_inputs_shape_and_module():
    mod = SymPyModule(expressions=[sp.pi, x, sp.Float(1.5)])
    out = mod(x=torch.zeros(2, 3))
    assert out.shape == (2, 3, 3)
    assert torch.all(out[..., 0] == torch.tensor(float(sp.pi.evalf(30)), dtype=torch.float32))
    out = SymPyModule(expressions=[sp.pi]).double()()
    assert out.shape == (1,) and out.dtype == torch.float64 and out.item() == float(sp.pi.evalf(30))


def test_symbol_names_never_reach_the_source():
    evil = sp.Symbol("__import__('os').system('echo hi')")
    mod = SymPyModule(expressions=[sp.sin(evil) + 1.5])
    assert "system" not in mod.source and "os" not in mod.source
    assert mod(**{evil.name: torch.zeros(1)}).item() == 1.5


def test_batched_terms_match_sympytorch_values_and_gradients():
    sympytorch = require("sympytorch")
    expr = sine_sum(50)
    ours, theirs = SymPyModule(expressions=[expr]), sympytorch.SymPyModule(expressions=[expr])
    assert "_vdot" in ours.source  # the 50 terms are one vector op
    xs = torch.linspace(-3, 3, 100)
    torch.testing.assert_close(ours(x=xs), theirs(x=xs), rtol=1e-5, atol=1e-5)
    ours(x=xs).sum().backward()
    theirs(x=xs).sum().backward()
    floats = [float(e) for e in sp.preorder_traversal(expr) if e.is_Float]
    theirs_grad = {float(n._value.detach()): n._value.grad for n in theirs.modules() if hasattr(n, "_value")}
    expected = torch.stack([theirs_grad[float(np.float32(f))] for f in floats])
    torch.testing.assert_close(ours.params.grad, expected, rtol=1e-4, atol=1e-4)


def test_build_is_cached_and_hide_floats_is_exported():
    assert sympile.hide_floats is hide_floats
    expr = sine_sum(20)
    a, b = SymPyModule(expressions=[expr]), SymPyModule(expressions=[expr])
    assert a._compiled is b._compiled and a.params is not b.params
