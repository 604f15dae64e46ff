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


def values(mod):
    """The parameters' values in slot order: p0, p1, ... (or the packed ``params``)."""
    return [v for p in mod.parameters() for v in p.reshape(-1).tolist()]


def grads(mod):
    return torch.cat([p.grad.reshape(-1) for p in mod.parameters()])


def set_values(mod, new):
    with torch.no_grad():
        flat = torch.tensor(new, dtype=torch.float64)
        ps = list(mod.parameters())
        for p, v in zip(ps, flat.split([p.numel() for p in ps]), strict=True):
            p.copy_(v.reshape(p.shape))


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
    assert [(name, p.shape, p.item()) for name, p in mod.named_parameters()] == [("p0", torch.Size([]), 1.5)]
    assert sorted(b.item() for b in mod.buffers()) == [0.25, 2.5]
    out = mod(x=torch.tensor(1.0, requires_grad=True), y=2.0)
    out.sum().backward()
    assert mod.p0.grad.item() == 1.0
    assert not any(b.requires_grad for b in mod.buffers())


def test_sympy_gives_the_expressions_with_current_values():
    expr = 2.5 * sp.sin(0.5 * x) + sp.Piecewise((x**2, x > 1.5), (0.25, True))
    mod = SymPyModule(expressions=[expr, x * y])
    assert mod.sympy()[0] == expr and mod.sympy()[1] == x * y
    set_values(mod, [3.0, 4.0, 2.0, 0.125])
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


# -- parameters as sympytorch's users expect them ---------------------------------------------


def test_one_scalar_parameter_per_float_named_in_occurrence_order():
    sympytorch = require("sympytorch")
    exprs = [0.5 + 2.0 * sp.sin(3.0 * x + 0.25) * sp.exp(-1.25 * y), 4.0 * x * y]
    mod, theirs = SymPyModule(expressions=exprs), sympytorch.SymPyModule(expressions=exprs)
    floats = [float(e) for expr in exprs for e in sp.preorder_traversal(expr) if e.is_Float]
    named = list(mod.named_parameters())
    assert [name for name, _ in named] == [f"p{k}" for k in range(len(floats))]
    assert all(isinstance(p, torch.nn.Parameter) and p.shape == () and p.requires_grad for _, p in named)
    assert [p.item() for _, p in named] == [float(np.float32(f)) for f in floats]
    # the same parameters as sympytorch's (its floats here are all different)
    assert sorted(p.item() for p in mod.parameters()) == sorted(p.item() for p in theirs.parameters())
    assert list(mod.state_dict()) == [name for name, _ in named] and list(mod.buffers()) == []
    syms, _ = mod.parameter_symbols()
    assert [str(s) for s in syms] == [name for name, _ in named]  # p{k} is the k-th symbol
    assert mod.p3.item() == 0.25 and mod.p5.item() == 4.0


def test_frozen_floats_are_scalar_buffers():
    expr = 2.0 * x + sp.UnevaluatedExpr(sp.Float(1.5)) * sp.sin(0.5 * x)
    mod = SymPyModule(expressions=[expr])
    assert [(n, p.item()) for n, p in mod.named_parameters()] == [("p0", 2.0), ("p1", 0.5)]
    assert [(n, b.item(), b.shape) for n, b in mod.named_buffers()] == [("b0", 1.5, torch.Size([]))]
    assert set(mod.state_dict()) == {"p0", "p1", "b0"}
    hidden_expr = hide_floats(expr)
    hidden = SymPyModule(expressions=[hidden_expr])
    assert list(hidden.parameters()) == []
    frozen = [float(e) for e in sp.preorder_traversal(hidden_expr) if e.is_Float]
    assert sorted(frozen) == [0.5, 1.5, 2.0]
    assert [(n, b.item()) for n, b in hidden.named_buffers()] == [(f"b{k}", v) for k, v in enumerate(frozen)]
    xs = torch.linspace(-1, 1, 5, requires_grad=True)
    out = hidden(x=xs)
    torch.testing.assert_close(out, mod(x=xs))
    out.sum().backward()  # a gradient for the input, none for the buffers
    assert xs.grad is not None and not any(b.requires_grad for b in hidden.buffers())
    with torch.no_grad():
        hidden.b1.fill_(-1.0)  # a buffer is a value the module uses, and sympy() shows
    new = [-1.0 if k == 1 else v for k, v in enumerate(frozen)]
    assert hidden.sympy()[0].doit() == _occurrences(hidden_expr, new).doit()
    ref = lambdify(x, hidden.sympy()[0].doit())(xs.detach().double().numpy())
    np.testing.assert_allclose(hidden(x=xs)[:, 0].detach().numpy(), ref, rtol=1e-6)


def test_no_floats_no_parameters_and_dtype_follows_the_module(tmp_path):
    exprs = [sp.Rational(2, 7) * x + 3, sp.pi * sp.sqrt(sp.Abs(x)), sp.Integer(-1)]
    mod = SymPyModule(expressions=exprs)
    assert list(mod.parameters()) == [] and list(mod.buffers()) == [] and mod.state_dict() == {}
    assert mod.dtype == torch.float32 and mod(x=torch.ones(2)).dtype == torch.float32
    mod.to(torch.float64)
    assert mod.dtype == torch.float64
    out = mod(x=torch.tensor([4.0]))  # float32 input, float64 module
    assert out.dtype == torch.float64
    assert out[0, 0].item() == 2 * 4.0 / 7 + 3 and out[0, 1].item() == 2 * float(sp.pi.evalf(30))
    sympile.save(mod, tmp_path / "m.json")  # the dtype is saved even without a parameter
    assert sympile.load(tmp_path / "m.json").dtype == torch.float64


def test_optimiser_over_parameters_trains_each_float():
    """Adam over ``mod.parameters()`` (one entry per float), in either layout, to the same values."""
    expr = 1.0 * sp.sin(1.0 * x) + 1.0 * x**2 + 0.5
    xs = torch.linspace(-2, 2, 41, dtype=torch.float64)
    target = 2.5 * torch.sin(0.75 * xs) - 0.5 * xs**2 + 1.0
    trained = []
    for packed in (False, True):
        mod = SymPyModule(expressions=[expr], packed=packed).double()
        opt = torch.optim.Adam(mod.parameters(), lr=0.05)
        for _ in range(600):
            opt.zero_grad()
            loss = ((mod(x=xs)[:, 0] - target) ** 2).mean()
            loss.backward()
            opt.step()
        assert loss.item() < 1e-8
        trained.append(values(mod))
        got = mod.sympy()[0]
        assert got == _occurrences(expr, values(mod))
        np.testing.assert_allclose(lambdify(x, got)(xs.numpy()), target.numpy(), atol=1e-4)
    assert len(trained[0]) == 4  # one parameter per float
    np.testing.assert_allclose(trained[0], trained[1], rtol=1e-9)  # per-parameter Adam is elementwise


def test_deepcopy_computes_with_the_copys_current_values():
    """sympytorch's copy still computes with the original's parameters; sympile's owns its own."""
    sympytorch = require("sympytorch")
    xs = torch.linspace(0, 1, 3)
    for lib in (sympytorch, None):
        mod = (lib.SymPyModule if lib else SymPyModule)(expressions=[2.0 * x])
        with torch.no_grad():
            next(mod.parameters()).fill_(3.0)  # trained
        other = copy.deepcopy(mod)
        with torch.no_grad():
            next(other.parameters()).fill_(5.0)
        assert other.sympy() == [5.0 * x] and mod.sympy() == [3.0 * x]
        if lib is not None:
            assert torch.equal(other(x=xs)[:, 0], 3 * xs)  # stale: sympytorch's defect
        else:
            assert torch.equal(other(x=xs)[:, 0], 5 * xs) and torch.equal(mod(x=xs)[:, 0], 3 * xs)


def test_packed_layout_computes_the_same():
    exprs = [sine_sum(12) + hide_floats(0.5 * x) * y, sp.exp(-1.5 * y) + 2.0 * sp.pi]
    per, packed = SymPyModule(expressions=exprs), SymPyModule(expressions=exprs, packed=True)
    assert per.packed is False and packed.packed is True
    assert [n for n, _ in packed.named_parameters()] == ["params"] and packed.params.shape == (38,)
    assert [n for n, _ in packed.named_buffers()] == ["frozen"] and packed.frozen.tolist() == [0.5]
    assert packed.params.tolist() == values(per) and packed.sympy() == per.sympy()
    xs, ys = torch.linspace(-1, 1, 7), torch.linspace(0, 2, 7)
    torch.testing.assert_close(packed(x=xs, y=ys), per(x=xs, y=ys))
    packed(x=xs, y=ys).sum().backward()
    per(x=xs, y=ys).sum().backward()
    torch.testing.assert_close(packed.params.grad, grads(per))
    with pytest.raises(AttributeError, match="packed=True"):
        per.params  # noqa: B018
    with pytest.raises(AttributeError, match="no_such"):
        per.no_such  # noqa: B018


# -- fixed: parameters by occurrence --------------------------------------------------------


def test_each_float_occurrence_is_its_own_parameter():
    sympytorch = require("sympytorch")
    expr = 1.5 * x + 1.5 * y**2
    assert len(list(sympytorch.SymPyModule(expressions=[expr]).parameters())) == 1  # shared
    mod = SymPyModule(expressions=[expr])
    assert len(list(mod.parameters())) == 2
    opt = torch.optim.SGD(mod.parameters(), lr=0.1)
    xs, ys = torch.linspace(-1, 1, 20), torch.linspace(0, 2, 20)
    for _ in range(200):  # fit 3x + 0.5y**2: the two coefficients must move apart
        opt.zero_grad()
        loss = ((mod(x=xs, y=ys)[:, 0] - (3 * xs + 0.5 * ys**2)) ** 2).mean()
        loss.backward()
        opt.step()
    np.testing.assert_allclose(values(mod), [3.0, 0.5], atol=1e-3, rtol=0)
    assert mod.sympy()[0] == _occurrences(expr, values(mod))


def test_parameter_order_is_preorder_and_named():
    expr = 0.5 + 2.0 * sp.sin(3.0 * x + 0.5) * sp.exp(-1.25 * y)
    mod = SymPyModule(expressions=[expr])
    floats = [float(e) for e in sp.preorder_traversal(expr) if e.is_Float]
    assert values(mod) == floats
    syms, exprs = mod.parameter_symbols()
    assert [str(s) for s in syms] == [f"p{k}" for k in range(len(floats))]
    assert exprs[0].xreplace(dict(zip(syms, map(sp.Float, floats)))) == expr
    # a clash with the user's symbols changes the prefix
    p0 = sp.Symbol("p0")
    syms, _ = SymPyModule(expressions=[1.5 * p0]).parameter_symbols()
    assert str(syms[0]) == "p_0"


@given(st.lists(st.floats(0.5, 4.0), min_size=3, max_size=12))
@settings(max_examples=20)
def test_parameter_gradients_match_sympy_diff(coefficients):
    """The gradient with respect to every coefficient, batched terms included."""
    c = coefficients
    terms = range(len(c) // 3)
    expr = sum(sp.Float(c[3 * i]) * sp.sin(sp.Float(c[3 * i + 1]) * x + sp.Float(c[3 * i + 2])) for i in terms)
    expr += sp.Float(c[-1]) * sp.exp(-x)
    mod = SymPyModule(expressions=[expr]).double()
    xs = torch.linspace(-2, 2, 9, dtype=torch.float64)
    mod(x=xs).sum().backward()
    syms, (template,) = mod.parameter_symbols()
    point = dict(zip(syms, values(mod)))
    for s, p in zip(syms, mod.parameters(), strict=True):
        d = lambdify(x, sp.diff(template, s).subs(point))
        np.testing.assert_allclose(p.grad.item(), np.sum(d(xs.numpy())), rtol=1e-10, atol=1e-10)


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


def test_a_complex_input_reaching_a_real_only_op_is_refused_by_name():
    # As lambdify: the input is named before any arithmetic (PyTorch raised NotImplementedError for
    # its remainder), in a copy and a pickle too; a complex input that reaches no such op computes.
    mod = SymPyModule(expressions=[sp.Mod(x, 3) + sp.Float(1.5) * y])
    rng = np.random.default_rng(21)
    xs, ys = (torch.tensor(rng.uniform(-4, 4, 5)) for _ in range(2))
    zs = torch.complex(ys, torch.tensor(rng.uniform(-1, 1, 5)))
    out = mod(x=xs, y=zs)[:, 0].detach()
    want = np.mod(xs.numpy(), 3) + 1.5 * zs.numpy()
    np.testing.assert_allclose(out.numpy(), want, rtol=1e-6)
    for m in (mod, copy.deepcopy(mod), pickle.loads(pickle.dumps(mod))):
        with pytest.raises(sympile.UnsupportedFunctionError, match="^x is complex.*Mod"):
            m(x=zs, y=xs)


def test_constants_in_float32_are_correctly_rounded_and_not_state():
    mod = SymPyModule(expressions=[sp.pi * x + sp.Rational(2, 7), sp.TribonacciConstant * x + 3 * sp.I * x])
    assert mod.state_dict() == {} and list(mod.buffers()) == []  # remade from exact values, never saved
    assert mod._constants.dtype == torch.float32
    for c in (sp.pi, sp.Rational(2, 7), sp.TribonacciConstant):
        assert np.float32(float(c.evalf(30))) in mod._constants.numpy()
    xs = torch.linspace(-1, 1, 7)
    out = mod(x=xs)
    assert out.dtype == torch.complex64
    ref = lambdify(x, [sp.pi * x + sp.Rational(2, 7), sp.TribonacciConstant * x])(xs.double().numpy())
    np.testing.assert_allclose(out[:, 0].real.numpy(), ref[0], rtol=2**-23)
    np.testing.assert_allclose(out[:, 1].real.numpy(), ref[1], rtol=2**-23)
    torch.testing.assert_close(out[:, 1].imag, 3 * xs, rtol=0, atol=0)
    assert float(sp.pi.evalf(30)) in mod.double()._constants.tolist()


def test_dtype_conversions_restore_exact_values():
    for packed in (False, True):
        mod = SymPyModule(expressions=[0.1 * sp.sin(0.5 * y) + sp.pi + hide_floats(0.2 * x)], packed=packed)
        assert values(mod)[0] != 0.1  # float32
        assert mod.to(torch.float64) is mod and mod.dtype == torch.float64
        assert {p.dtype for p in [*mod.parameters(), *mod.buffers(), mod._constants]} == {torch.float64}
        assert values(mod) == [0.1, 0.5]
        assert mod.sympy() == [0.1 * sp.sin(0.5 * y) + sp.pi + sp.UnevaluatedExpr(0.2) * x]
        assert float(sp.pi.evalf(30)) in mod._constants.tolist()
        mod.float()
        set_values(mod, [0.3, 0.5])
        mod.to(torch.float64)
        assert values(mod) == [float(np.float32(0.3)), 0.5]  # a trained value is kept as it is
        assert all(isinstance(p, torch.nn.Parameter) for p in mod.parameters())
        assert [name for name, _ in mod.named_parameters()] == (["params"] if packed else ["p0", "p1"])


@pytest.mark.parametrize("device", DEVICES)
def test_to_device(device):
    mod = SymPyModule(expressions=[sine_sum(5) + sp.pi * x + sp.Rational(1, 3)]).to(device)
    assert {p.device.type for p in mod.parameters()} == {mod._constants.device.type} == {device}
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
    before = values(mod)
    assert values(other) == before  # the current values, not the initial ones
    with torch.no_grad():
        for p in other.parameters():
            p.add_(1.0)
    assert values(mod) == before  # the copy owns its parameters...
    assert other.sympy() != mod.sympy()
    assert not torch.equal(other(x=xs), mod(x=xs))  # ...and computes with them


def test_deepcopy_pickle_and_torch_save():
    mod = SymPyModule(expressions=[sine_sum(6) + sp.pi * x, sp.Piecewise((x, x > 0), (1.5, True))])
    set_values(mod, [v * 0.5 for v in values(mod)])  # "trained"
    _check_copy(mod, copy.deepcopy(mod))
    _check_copy(mod, pickle.loads(pickle.dumps(mod)))
    buf = io.BytesIO()
    torch.save(mod, buf)
    buf.seek(0)
    _check_copy(mod, torch.load(buf, weights_only=False))
    # the pickle holds the graph and tensors, not generated code
    assert b"def _f" not in pickle.dumps(mod)


def test_state_dict_round_trip():
    expr = sine_sum(6) + sp.pi * x + hide_floats(0.25 * y)
    mod = SymPyModule(expressions=[expr])
    set_values(mod, [2 * v for v in values(mod)])
    sd = mod.state_dict()
    assert list(sd) == [f"p{k}" for k in range(18)] + ["b0"]
    buf = io.BytesIO()
    torch.save(sd, buf)
    buf.seek(0)
    other = SymPyModule(expressions=[expr]).double()
    other.load_state_dict(torch.load(buf))  # weights_only: plain tensors
    assert {p.dtype for p in other.parameters()} == {torch.float64}
    assert values(other) == values(mod) and other.sympy() == mod.sympy()
    assert float(sp.pi.evalf(30)) in other._constants.tolist()  # the constants stay exact
    xs = torch.linspace(-1, 1, 5, dtype=torch.float64)
    torch.testing.assert_close(other(x=xs, y=xs).float(), mod(x=xs.float(), y=xs.float()))


def test_state_dicts_of_either_layout_and_of_earlier_versions_load():
    expr = 1.5 * sp.sin(2.0 * x) + hide_floats(0.25 * x) + sp.pi
    per, packed = SymPyModule(expressions=[expr]), SymPyModule(expressions=[expr], packed=True)
    set_values(per, [3.0, 4.0])
    packed.load_state_dict(per.state_dict())
    assert packed.params.tolist() == [3.0, 4.0] and packed.frozen.tolist() == [0.25]
    with torch.no_grad():
        packed.params.copy_(torch.tensor([5.0, 6.0]))
    per.load_state_dict(packed.state_dict())
    assert values(per) == [5.0, 6.0] and per.b0.item() == 0.25
    without_frozen = SymPyModule(expressions=[2.0 * x], packed=True)
    without_frozen.load_state_dict({"p0": torch.tensor(3.0)})
    assert without_frozen.params.tolist() == [3.0]
    # what earlier versions saved: the packed tensors and the constants
    old = {"params": torch.tensor([7.0, 8.0]), "frozen": torch.tensor([0.5]), "constants": torch.tensor([3.0])}
    per.load_state_dict(old)
    assert values(per) == [7.0, 8.0] and per.b0.item() == 0.5
    assert float(np.float32(sp.pi.evalf(30))) in per._constants.tolist()  # not the saved 3.0
    with pytest.raises(RuntimeError, match="'params' holds 3 values; this module has 2"):
        per.load_state_dict({"params": torch.tensor([1.0, 2.0, 3.0]), "frozen": torch.tensor([0.5])})
    with pytest.raises(RuntimeError, match="Missing key"):
        per.load_state_dict({"p0": torch.tensor(1.0)})


def test_torch_compile_fullgraph_and_functional_call():
    mod = SymPyModule(expressions=[sine_sum(8) + sp.Piecewise((sp.sqrt(x), x > 0), (0, True)), x * y], symbols=[x, y])
    X = torch.randn(33, 2, generator=torch.Generator().manual_seed(0))
    compiled = torch.compile(mod, fullgraph=True)
    torch.testing.assert_close(compiled(X), mod(X))
    torch.testing.assert_close(compiled(x=X[:, 0], y=X[:, 1]), mod(X))
    params = {name: p.detach() * 2 for name, p in mod.named_parameters()}
    out = torch.func.functional_call(mod, params, (X,))
    ref = lambdify([x, y], _with(mod, params.values()))(X[:, 0].numpy(), X[:, 1].numpy())
    np.testing.assert_allclose(out.detach().numpy(), np.stack(ref, -1), rtol=1e-5, atol=1e-5)
    g = torch.func.grad(lambda p: torch.func.functional_call(mod, p, (X,)).sum())(params)
    assert not out.requires_grad  # computed from the substitutes, not the module's parameters
    other = copy.deepcopy(mod)
    set_values(other, [v.item() for v in params.values()])
    other(X).sum().backward()
    torch.testing.assert_close(torch.stack(list(g.values())), grads(other))
    # the packed layout: one tensor to substitute
    packed = SymPyModule(expressions=mod.sympy(), symbols=[x, y], packed=True)
    p = {"params": packed.params.detach() * 2}
    torch.testing.assert_close(torch.func.functional_call(packed, p, (X,)), out)


def _with(mod, params):
    other = copy.deepcopy(mod)
    set_values(other, [p.item() for p in params])
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
    torch.testing.assert_close(grads(ours), expected, rtol=1e-4, atol=1e-4)


def test_build_is_cached_and_hide_floats_is_exported():
    assert sympile.hide_floats is hide_floats
    expr = sine_sum(20)
    a, b = SymPyModule(expressions=[expr]), SymPyModule(expressions=[expr])
    assert a._compiled is b._compiled and a.p0 is not b.p0
