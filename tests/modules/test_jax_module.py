"""`sympile.jax.SymbolicModule`: sympy2jax's behaviour where it is right, and each of its
defects fixed, checked against the NumPy backend, SymPy and sympy2jax, in float32 and x64."""

import copy
import functools
import os
import pickle
import subprocess
import sys

import numpy as np
import pytest
import sympy as sp
from helpers import reference, require
from hypothesis import given, settings
from hypothesis import strategies as st

from sympile import MissingInputError, ShapeError, SympileError, lambdify
from sympile._core.constants import CONSTANT_VALUES

jax = require("jax")
eqx = require("equinox")
jnp = jax.numpy
from sympile.jax import SymbolicModule, concatenate, stack  # noqa: E402

x, y, t = sp.symbols("x y t")
unit = st.floats(0.05, 0.95)


def tree():
    """A pytree with every kind of leaf the issue names: branches, Mod, Heaviside, n-ary Min/Max."""
    return {
        "a": [2.5 * sp.sin(x) + 0.5 * y, sp.Piecewise((1.5 * sp.sqrt(x), x > 0.2), (0.3 * x, True))],
        "b": (sp.Max(x, y, 0.7) * sp.Min(x, 1.2, y), sp.Mod(x, 1.5) + 0.25 * sp.Heaviside(y - 0.1)),
        "c": None,
        "d": sp.Rational(2, 7) * x * y + sp.GoldenRatio - 3 * sp.exp(-(x**2)),
    }


def floats_as_symbols(exprs):
    """Each Float occurrence, in preorder over the expressions, replaced by a symbol ``p<k>``."""
    found = []

    def walk(e):
        if e.is_Float:
            s = sp.Symbol(f"p{len(found)}")
            found.append((s, float(e)))
            return s
        return e.func(*[walk(a) for a in e.args]) if e.args else e

    return [walk(e) for e in exprs], found


def leaves(pytree):
    return jax.tree_util.tree_leaves(pytree)


def values(mod):
    """The module's parameters as a list of Python floats, in slot order."""
    return [float(p) for p in mod.params]


def treedef(pytree):
    return jax.tree_util.tree_structure(pytree)


# -- values, pytrees, dtypes -------------------------------------------------------------


@settings(max_examples=25)
@given(u=unit, v=unit)
def test_values_match_numpy_backend_float32(u, v):
    a, b = np.float32(4 * u - 1), np.float32(3 * v - 1)
    mod = SymbolicModule(tree())
    out = mod(x=jnp.float32(a), y=jnp.float32(b))
    assert out["c"] is None and isinstance(out["b"], tuple) and isinstance(out["a"], list)
    # the reference in float32 too: at x = float32(0.2) the branch x > 0.2 is not taken in float32
    want = lambdify([x, y], leaves(tree()))(a, b)
    got = leaves(out)
    assert all(g.dtype == jnp.float32 for g in got)
    np.testing.assert_allclose([float(g) for g in got], want, rtol=2e-6, atol=2e-6)


@settings(max_examples=25)
@given(u=unit, v=unit)
def test_values_match_sympy_x64(u, v):
    a, b = 4 * u - 1, 3 * v - 1
    with jax.enable_x64(True):
        mod = SymbolicModule(tree())
        assert all(p.dtype == jnp.float64 for p in mod.params)
        got = leaves(mod(x=jnp.float64(a), y=jnp.float64(b)))
        for e, g in zip(leaves(tree()), got):
            assert g.dtype == jnp.float64
            ref = reference(e, {x: a, y: b})
            assert float(g) == pytest.approx(ref.real, rel=1e-13, abs=1e-14)


def test_a_complex_input_reaching_a_real_only_op_is_refused_by_name():
    # As lambdify: named when traced, before JAX's own TypeError (rem of complex), also under
    # filter_jit and in a copy and a pickle; a complex input that reaches no such op computes.
    mod = SymbolicModule([sp.Mod(x, 3) + sp.Float(1.5) * y])
    rng = np.random.default_rng(21)
    xs, ys = rng.uniform(-4, 4, 5), rng.uniform(-4, 4, 5)
    zs = ys + 1j * rng.uniform(-1, 1, 5)
    (out,) = mod(x=jnp.asarray(xs), y=jnp.asarray(zs))
    np.testing.assert_allclose(np.asarray(out), np.mod(xs, 3) + 1.5 * zs, rtol=1e-5)
    jitted = eqx.filter_jit(lambda m, a, b: m(x=a, y=b))
    for m in (mod, copy.deepcopy(mod), pickle.loads(pickle.dumps(mod))):
        with pytest.raises(SympileError, match="^x is complex.*Mod"):
            m(x=jnp.asarray(zs), y=jnp.asarray(xs))
        with pytest.raises(SympileError, match="^x is complex.*Mod"):
            jitted(m, jnp.asarray(zs), jnp.asarray(xs))


def test_outputs_that_ignore_an_input_are_broadcast():
    mod = SymbolicModule([x * y, x, 1.5, 2 * sp.pi])
    out = mod(x=jnp.ones(3), y=jnp.ones((2, 1)))
    assert [o.shape for o in out] == [(2, 3)] * 4
    np.testing.assert_allclose(out[2], 1.5)
    np.testing.assert_allclose(out[3], 2 * np.pi, rtol=1e-7)


def test_extra_keywords_are_ignored_and_missing_ones_named():
    mod = SymbolicModule([x + y])
    assert float(mod(x=1.0, y=2.0, z=5.0)[0]) == 3.0
    with pytest.raises(MissingInputError, match=r"missing input\(s\) y.*mod\(x=\.\.\., y=\.\.\.\)") as info:
        mod(x=1.0)
    assert isinstance(info.value, KeyError) and isinstance(info.value, SympileError)


# -- parameters --------------------------------------------------------------------------


def test_parameters_are_float_occurrences_in_preorder():
    exprs = leaves(tree())
    mod = SymbolicModule(tree())
    symbolic, found = floats_as_symbols(exprs)
    assert values(mod) == pytest.approx([v for _, v in found])
    syms, named = mod.parameter_symbols()
    assert syms == [s for s, _ in found] and named["c"] is None
    for ours, theirs in zip(leaves(named), symbolic):
        assert ours == theirs or sp.simplify(ours - theirs) == 0
    # two equal coefficients are two parameters, trained apart
    twin = SymbolicModule([2.5 * x + 2.5 * sp.sin(x)])
    assert len(twin.params) == 2
    g = jax.grad(lambda p: twin.functional()[1](p, x=2.0)[0])(twin.functional()[0])
    assert sorted(g.tolist()) == pytest.approx(sorted([2.0, np.sin(2.0)]), rel=1e-6)


def test_unevaluated_floats_are_frozen():
    mod = SymbolicModule([sp.UnevaluatedExpr(sp.Float(0.5)) * x + 1.5])
    assert values(mod) == [1.5] and len(leaves(mod)) == 1  # the frozen 0.5 is no leaf
    assert float(mod(x=2.0)[0]) == 2.5
    assert mod.sympy()[0] == sp.UnevaluatedExpr(sp.Float(0.5)) * x + 1.5


#: Isomorphic terms that the module batches into vector ops: evenly spaced parameter slots
#: (strided slices) and unevenly spaced ones (a gather).
BATCHED = [
    sp.Add(*[sp.Float(1 + i / 4) * sp.sin(sp.Float(0.5 + i / 4) * x + sp.Float(1 + i / 8)) for i in range(6)]),
    1.5 * sp.sin(2.5 * x)
    + 0.5 * sp.sin(1.25 * x + 0.1 * y)
    + 2.0 * sp.sin(0.75 * x)
    + 3.0 * sp.cos(1.5 * y) * sp.sin(0.3 * x)
    + 0.25 * sp.sin(0.5 * x),
    sp.Add(*[sp.Float(i + 1) * sp.exp(-sp.Float(i / 2 + 0.5) * y) for i in range(4)]),
]


@pytest.mark.parametrize("make_array", [True, False])
def test_batched_terms_match_numpy_backend(make_array):
    mod = SymbolicModule(BATCHED, make_array=make_array)
    assert "_take(p, slice(" in mod.source and "_take(p, (" in mod.source  # both kinds of vector leaf
    xs, ys = np.linspace(-2, 2, 7), np.linspace(0, 1, 7)
    want = lambdify([x, y], BATCHED)(xs, ys)
    for got in (mod(x=jnp.asarray(xs), y=jnp.asarray(ys)), jax.jit(mod)(x=xs, y=ys), mod(x=0.5, y=0.25)):
        assert [g.dtype for g in got] == [jnp.float32] * 3
    np.testing.assert_allclose(mod(x=jnp.asarray(xs), y=jnp.asarray(ys)), want, rtol=2e-6, atol=1e-5)
    np.testing.assert_allclose(mod(x=0.5, y=0.25), lambdify([x, y], BATCHED)(0.5, 0.25), rtol=2e-6)
    assert mod.sympy() == BATCHED


SMOOTH = [
    *BATCHED,
    2.5 * sp.sin(1.5 * x) + 0.5 * y,
    sp.Piecewise((1.5 * sp.sqrt(x), x > 0.2), (0.3 * x, True)),
    sp.Max(x, y, 0.7) * sp.Min(x, 1.2, y),
    sp.exp(-0.5 * x**2) * (y + 2) ** 1.5 + sp.Rational(2, 7) * sp.log(1.25 + x**2),
]


@functools.cache
def parameter_gradient():
    """d(sum of SMOOTH)/d(each Float occurrence), by sympy.diff, compiled by the NumPy backend."""
    symbolic, found = floats_as_symbols(SMOOTH)
    ps = [s for s, _ in found]
    total = sp.Add(*symbolic)
    return lambdify([x, y, ps], [sp.diff(total, p) for p in ps]), [v for _, v in found]


@settings(max_examples=15)
@given(u=unit, v=unit)
def test_gradient_wrt_parameters_matches_sympy_diff(u, v):
    a, b = 4 * u - 1, 3 * v - 1
    grad, values = parameter_gradient()
    with jax.enable_x64(True):
        mod = SymbolicModule(SMOOTH)
        grads = eqx.filter_grad(lambda m: sum(m(x=jnp.float64(a), y=jnp.float64(b))))(mod)
    np.testing.assert_allclose(grads.params, grad(a, b, values), rtol=1e-12, atol=1e-12)


def test_parameters_are_inexact_array_leaves_and_train():
    mod = SymbolicModule([2.0 * x + 1.0])
    dynamic = leaves(eqx.filter(mod, eqx.is_inexact_array))
    assert len(dynamic) == 2 and all(a is b for a, b in zip(dynamic, mod.params))
    grads = eqx.filter_grad(lambda m: m(x=3.0)[0])(mod)
    new = eqx.apply_updates(mod, jax.tree_util.tree_map(lambda g: -0.5 * g, grads))
    assert values(new) == [0.5, 0.5]
    assert new.sympy() == [0.5 * x + 0.5]
    assert mod.sympy() == [2.0 * x + 1.0]


def test_sympy_round_trip_keeps_the_pytree():
    mod = SymbolicModule(tree())
    back = mod.sympy()
    assert back["c"] is None and isinstance(back["b"], tuple)
    for e, r in zip(leaves(tree()), leaves(back)):
        assert sp.simplify(e - r) == 0 or e == r


# -- leaves and treedefs: one scalar leaf per Float, equal modules equal pytrees ---------------


def test_one_scalar_leaf_per_float_occurrence():
    expr = [2.5 * sp.sin(0.5 * x) + 2.5 * y, sp.Rational(1, 3) * x**2 + 4 * y + sp.pi]
    mod = SymbolicModule(expr)
    _, found = floats_as_symbols(expr)
    got = leaves(mod)
    assert len(got) == len(found) == 3  # the integers, the rational and pi are no leaves
    assert all(isinstance(p, jax.Array) and p.shape == () and p.dtype == jnp.float32 for p in got)
    assert [float(p) for p in got] == [v for _, v in found]
    assert leaves(eqx.filter(mod, eqx.is_inexact_array)) == got
    # sympy2jax's inexact leaves for the floats, in the same order (it also makes pi one)
    s2j = require("sympy2jax")
    theirs = [p for p in leaves(s2j.SymbolicModule(expr[0])) if eqx.is_inexact_array(p)]
    assert [float(p) for p in theirs] == [float(p) for p in leaves(SymbolicModule(expr[0]))]


def test_frozen_floats_are_not_leaves():
    from sympile import hide_floats

    mod = SymbolicModule([hide_floats(2.5 * sp.sin(0.5 * x)) + 1.5 * y])
    assert values(mod) == [1.5]
    assert float(mod(x=1.0, y=2.0)[0]) == pytest.approx(2.5 * np.sin(0.5) + 3.0, rel=1e-6)
    grads = eqx.filter_grad(lambda m: m(x=1.0, y=2.0)[0])(mod)
    assert values(grads) == [2.0]
    # a frozen value is part of the static half: another value is another treedef
    assert treedef(mod) != treedef(SymbolicModule([hide_floats(2.0 * sp.sin(0.5 * x)) + 1.5 * y]))


def test_gradient_is_one_leaf_per_float():
    mod = SymbolicModule(1.5 * sp.exp(-0.5 * x) + 0.25 * x)
    grads = eqx.filter_grad(lambda m: m(x=2.0))(mod)
    assert treedef(grads) == treedef(mod)
    assert all(g.shape == () for g in grads.params)
    # d/d(0.25) = x, d/d(1.5) = exp(-0.5 x), d/d(-0.5) = 1.5 x exp(-0.5 x), in preorder
    want = {0.25: 2.0, 1.5: np.exp(-1.0), -0.5: 1.5 * 2.0 * np.exp(-1.0)}
    assert values(grads) == pytest.approx([want[v] for v in values(mod)], rel=1e-6)


def test_modules_from_the_same_expressions_are_equal_pytrees():
    a, b = SymbolicModule(tree()), SymbolicModule(tree())
    assert treedef(a) == treedef(b) == treedef(copy.deepcopy(a)) == treedef(pickle.loads(pickle.dumps(a)))
    assert hash(treedef(a)) == hash(treedef(b))
    # as in sympy2jax, the floats' values are leaves, not structure: the same expression with
    # other coefficients is the same pytree
    assert treedef(SymbolicModule(2.1 * x**2)) == treedef(SymbolicModule(1.21 * x**2))
    # but another structure, input, pytree or positional form is not
    others = [
        SymbolicModule(2.1 * x**3),
        SymbolicModule(2.1 * y**2),
        SymbolicModule(2.1 * sp.Symbol("x", positive=True) ** 2),
        SymbolicModule([2.1 * x**2]),
        SymbolicModule([2.1 * x**2], symbols=[x]),
        SymbolicModule(2.1 * x**2, packed=True),
    ]
    defs = [treedef(SymbolicModule(2.1 * x**2))] + [treedef(m) for m in others]
    assert len(set(defs)) == len(defs)


def test_tree_map_across_two_modules_and_apply_updates_on_a_deepcopy():
    a, b = SymbolicModule(tree()), SymbolicModule(tree())
    b = jax.tree_util.tree_map(lambda p: 2 * p, b)
    mean = jax.tree_util.tree_map(lambda p, q: (p + q) / 2, a, b)
    assert values(mean) == pytest.approx([1.5 * v for v in values(a)])
    grads = eqx.filter_grad(lambda m: m(x=0.5, y=0.25)["a"][0])(a)
    new = eqx.apply_updates(copy.deepcopy(a), grads)  # the copy's treedef is the original's
    # d/dp of 2.5*sin(x) + 0.5*y is sin(0.5) for 2.5 and 0.25 for 0.5
    assert values(new)[:2] == pytest.approx([0.5 + 0.25, 2.5 + np.sin(0.5)], rel=1e-6)
    assert float(new.sympy()["a"][0].subs({x: 0.5, y: 0.25})) == pytest.approx(float(new(x=0.5, y=0.25)["a"][0]))


def test_filter_jit_does_not_retrace_for_an_equal_module():
    traces = []

    @eqx.filter_jit
    def loss(m, v):
        traces.append(1)
        return m(x=v, y=0.25)["d"]

    mod = SymbolicModule(tree())
    loss(mod, 0.5)
    for other in (SymbolicModule(tree()), copy.deepcopy(mod), pickle.loads(pickle.dumps(mod))):
        other = jax.tree_util.tree_map(lambda p: p + 1, other)
        assert float(loss(other, 0.5)) == pytest.approx(float(other(x=0.5, y=0.25)["d"]), rel=1e-6)
    assert len(traces) == 1
    loss(SymbolicModule({**tree(), "d": 2.5 * x}), 0.5)  # another expression: another trace
    assert len(traces) == 2


@pytest.mark.parametrize("x64", [False, True])
def test_leaves_take_the_default_float_dtype(x64):
    with jax.enable_x64(x64):
        dtype = jnp.float64 if x64 else jnp.float32
        mod = SymbolicModule([1.5 * sp.sin(0.2 * x)])
        assert [p.dtype for p in mod.params] == [dtype, dtype]
        grads = eqx.filter_grad(lambda m: m(x=jnp.asarray(2.0, dtype))[0])(mod)
        assert [g.dtype for g in grads.params] == [dtype, dtype]
        want = [np.sin(0.4), 1.5 * 2.0 * np.cos(0.4)]
        assert values(grads) == pytest.approx(want, rel=1e-13 if x64 else 1e-6)
        back = pickle.loads(pickle.dumps(mod))
        assert treedef(back) == treedef(mod) and [p.dtype for p in back.params] == [dtype, dtype]
        assert back.sympy() == [1.5 * sp.sin(0.2 * x)]


def test_packed_layout_is_one_leaf_with_the_same_values():
    mod = SymbolicModule(SMOOTH)
    packed = SymbolicModule(SMOOTH, packed=True)
    assert len(leaves(packed)) == 1 and packed.params.shape == (len(mod.params),)
    np.testing.assert_array_equal(packed.params, mod.params)
    np.testing.assert_array_equal(leaves(packed(x=0.5, y=0.25)), leaves(mod(x=0.5, y=0.25)))
    g, gp = (eqx.filter_grad(lambda m: sum(m(x=0.5, y=0.25)))(m) for m in (mod, packed))
    np.testing.assert_allclose(gp.params, np.asarray(g.params), rtol=1e-6)
    assert packed.sympy() == mod.sympy() == SMOOTH
    assert treedef(pickle.loads(pickle.dumps(packed))) == treedef(packed)


def primitives(fn, *args) -> list[str]:
    """The names of the primitives in ``fn``'s jaxpr, nested jaxprs included."""
    names = []

    def walk(jaxpr):
        for e in jaxpr.eqns:
            names.append(e.primitive.name)
            for sub in jax.extend.core.jaxprs_in_params(e.params):
                walk(sub)

    walk(jax.make_jaxpr(fn)(*args).jaxpr)
    return names


def test_gradient_leaves_of_a_batched_group_are_written_by_one_op():
    mod = SymbolicModule(BATCHED)
    xs, ys = jnp.linspace(-2.0, 2.0, 5), jnp.linspace(0.0, 1.0, 5)
    names = primitives(
        jax.grad(lambda p: sum(o.sum() for o in eqx.tree_at(lambda m: m.params, mod, p)(x=xs, y=ys))), mod.params
    )
    gathers = mod.source.count("_take(")
    # one split per gathered group, and no slice or squeeze per leaf
    assert names.count("sympile_split") == gathers and names.count("sympile_gather") == gathers
    assert names.count("slice") + names.count("squeeze") + names.count("gather") < gathers


@pytest.mark.parametrize("dtype", [np.float32, np.complex64])
def test_split_returns_each_entry_bit_for_bit(dtype):
    from sympile._backends.jax_leaves import split_p

    rng = np.random.default_rng(7)
    special = [-0.0, 0.0, np.inf, -np.inf, np.nan, 1e-30]
    entries = np.concatenate([special, rng.normal(size=70)]).astype(np.float32)  # past one chunk of 64
    if dtype == np.complex64:
        parts = np.stack([entries, np.roll(entries, 3)], axis=-1)
        entries = parts.view(np.complex64)[:, 0]  # each part signed zero, infinite, NaN in turn
    out = jax.jit(lambda v: split_p.bind(v))(jnp.asarray(entries))
    assert np.stack([np.asarray(o) for o in out]).tobytes() == entries.tobytes()


def test_second_order_derivatives_through_the_scalar_leaves():
    """The leaves' gather and its transpose compose with JAX's transformations, agreeing with the
    packed layout (plain indexing of one array)."""
    exprs = BATCHED[2:]
    mod, packed = SymbolicModule(exprs), SymbolicModule(exprs, packed=True)
    xs, ys = jnp.linspace(-1.5, 1.5, 4), jnp.linspace(0.0, 1.0, 4)

    def loss(params, m):
        return sum(jnp.sum(o**2) for o in eqx.tree_at(lambda n: n.params, m, params)(x=xs, y=ys))

    # jax.hessian is jacfwd (vmap of jvp) of jacrev (vmap of vjp): the gather's jvp, transpose
    # and batching rules, and the split's; jacrev twice transposes the split back
    @functools.partial(jax.jit, static_argnums=1)
    def second_order(p, m):
        return jax.hessian(loss)(p, m), jax.jacrev(jax.jacrev(loss))(p, m)

    got, want = second_order(mod.params, mod), second_order(packed.params, packed)
    for g, w in zip(got, want):
        np.testing.assert_allclose(np.asarray(g), np.asarray(w), rtol=2e-5, atol=1e-4)


def test_batched_products_with_a_shared_lifted_input_keep_their_values_and_gradients():
    """Two batched groups over the same input (the lifted input is bound once and multiplied as
    an outer product in both) agree with SymPy in value and gradient, in x64."""
    exprs = [
        sp.Add(*[sp.Float(1 + i / 3) * sp.sin(sp.Float(0.5 + i / 5) * x) for i in range(5)])
        + sp.Add(*[sp.Float(0.5 + i / 7) * sp.exp(-sp.Float(0.25 + i / 9) * x) for i in range(4)])
    ]
    symbolic, found = floats_as_symbols(exprs)
    ps = [s for s, _ in found]
    grad = lambdify([x, ps], [sp.diff(symbolic[0], p) for p in ps])
    value = lambdify([x, ps], symbolic[0])
    us = np.random.default_rng(11).uniform(-2, 2, 3)
    p = [v for _, v in found]
    with jax.enable_x64(True):
        mod = SymbolicModule(exprs)
        jaxpr = jax.make_jaxpr(lambda u: mod(x=u))(jnp.asarray(us)).jaxpr
        outer = [
            e for e in jaxpr.eqns if e.primitive.name == "dot_general" and e.params["dimension_numbers"][0] == ((), ())
        ]
        assert "_1 = jnp.expand_dims(a0, -1)" in mod.source and len(outer) == 2
        got, g = eqx.filter_jit(eqx.filter_value_and_grad(lambda m: m(x=jnp.asarray(us))[0].sum()))(mod)
    np.testing.assert_allclose(got, sum(value(u, p) for u in us), rtol=1e-13)
    np.testing.assert_allclose(g.params, np.sum([grad(u, p) for u in us], axis=0), rtol=1e-12, atol=1e-13)


# -- the sympy2jax defects, fixed ------------------------------------------------------------


def test_jit_of_the_module_and_of_a_function_taking_it():
    mod = SymbolicModule(tree())
    want = leaves(mod(x=0.5, y=0.25))
    np.testing.assert_allclose(leaves(jax.jit(mod)(x=0.5, y=0.25)), want, rtol=1e-6)
    np.testing.assert_allclose(leaves(jax.jit(lambda m, a: m(x=a, y=0.25))(mod, 0.5)), want, rtol=1e-6)
    np.testing.assert_allclose(leaves(eqx.filter_jit(lambda m, a: m(x=a, y=0.25))(mod, 0.5)), want, rtol=1e-6)
    # a module with new parameters is another argument of the same shape: no retrace needed
    traces = []

    @jax.jit
    def loss(m, a):
        traces.append(1)
        return m(x=a, y=0.25)["a"][0]

    loss(mod, 0.5)
    loss(eqx.apply_updates(mod, jax.tree_util.tree_map(jnp.ones_like, eqx.filter(mod, eqx.is_inexact_array))), 0.5)
    assert len(traces) == 1


def test_grad_with_respect_to_inputs_and_vmap():
    expr = sp.Piecewise((sp.sqrt(x) * 1.5, x > 0.2), (0.3 * x, True)) + 2.0 * sp.sin(x * y)
    mod = SymbolicModule(expr)
    f = lambdify([x, y], [sp.diff(expr, x), sp.diff(expr, y)])
    for a in (-1.0, 0.1, 0.7, 2.0):
        gx, gy = jax.grad(lambda u, v: mod(x=u, y=v), argnums=(0, 1))(a, 0.5)
        np.testing.assert_allclose([gx, gy], f(a, 0.5), rtol=1e-5)
    xs = jnp.linspace(-1, 2, 7)
    np.testing.assert_allclose(jax.vmap(lambda u: mod(x=u, y=0.5))(xs), mod(x=xs, y=0.5), rtol=1e-6)


@pytest.mark.parametrize(
    "expr",
    [
        sp.Piecewise((sp.sqrt(x), x > 0), (0.5 * x, True)),
        sp.Piecewise((sp.log(x) * 2.0, x > 0.5), (x, True)),
        sp.Piecewise((1.0 / x, sp.Ne(x, 0)), (0, True)),
        sp.Max(x, 0.0) + sp.Min(x, 0.5, -x),
    ],
    ids=str,
)
def test_gradients_are_never_nan_from_untaken_branches(expr):
    mod = SymbolicModule(expr)
    for a in (-2.0, -0.0, 0.0, 0.3, 1.5):
        g_in = jax.grad(lambda u: mod(x=u))(a)
        g_mod = eqx.filter_grad(lambda m: m(x=a))(mod)
        assert np.isfinite(g_in) and np.all(np.isfinite(g_mod.params))


def test_pickle_and_deepcopy_rebuild_from_the_graph(tmp_path):
    mod = SymbolicModule(tree())
    mod = jax.tree_util.tree_map(lambda p: p + 0.125, mod)
    data = pickle.dumps(mod)
    assert b"sympile-jax" not in data and b"def _f" not in data  # data, not code
    for other in (pickle.loads(data), copy.deepcopy(mod)):
        assert treedef(other) == treedef(mod)
        assert [p.dtype for p in other.params] == [p.dtype for p in mod.params]
        np.testing.assert_array_equal(other.params, mod.params)
        assert other.sympy() == mod.sympy()
        np.testing.assert_array_equal(leaves(other(x=0.5, y=0.25)), leaves(mod(x=0.5, y=0.25)))
    path = tmp_path / "mod.pkl"
    path.write_bytes(data)
    script = f"import pickle; m = pickle.load(open({str(path)!r}, 'rb')); print(float(m(x=0.5, y=0.25)['d']))"
    env = {**os.environ, "JAX_PLATFORMS": "cpu"}
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env, check=True)
    assert float(out.stdout) == pytest.approx(float(mod(x=0.5, y=0.25)["d"]), rel=1e-7)


def test_tree_serialise_leaves_round_trips(tmp_path):
    mod = SymbolicModule(tree())
    trained = jax.tree_util.tree_map(lambda p: p * 0.5, mod)
    eqx.tree_serialise_leaves(tmp_path / "m.eqx", trained)
    loaded = eqx.tree_deserialise_leaves(tmp_path / "m.eqx", SymbolicModule(tree()))
    np.testing.assert_array_equal(loaded.params, trained.params)
    assert loaded.sympy() == trained.sympy()


def test_sympy_works_with_extra_funcs():
    f = sp.Function("f")
    mod = SymbolicModule([1.5 * f(x) + sp.sin(x)], extra_funcs={f: jnp.tanh})
    assert float(mod(x=0.5)[0]) == pytest.approx(1.5 * np.tanh(0.5) + np.sin(0.5), rel=1e-6)
    assert mod.sympy() == [1.5 * f(x) + sp.sin(x)]


def test_extra_funcs_can_override_a_translation():
    mod = SymbolicModule([sp.sin(x)], extra_funcs={sp.sin: jnp.cos})
    assert float(mod(x=0.5)[0]) == pytest.approx(np.cos(0.5), rel=1e-6)
    assert mod.sympy() == [sp.sin(x)]


def test_an_equinox_module_in_extra_funcs_trains_with_the_module():
    f = sp.Function("f")
    mlp = eqx.nn.MLP("scalar", "scalar", 8, 2, key=jax.random.PRNGKey(0))
    mod = SymbolicModule([1.5 * f(x) + x], extra_funcs={f: mlp})
    xs = jnp.linspace(-1, 1, 5)

    def loss(m):
        return jnp.sum(jax.vmap(lambda u: m(x=u)[0])(xs) ** 2)

    def hand(m):  # the same model written by hand
        return jnp.sum(jax.vmap(lambda u: 1.5 * m(u) + u)(xs) ** 2)

    assert float(loss(mod)) == pytest.approx(float(hand(mlp)), rel=1e-6)
    grads = eqx.filter_grad(loss)(mod)
    want = eqx.filter_grad(hand)(mlp)
    ours = leaves(eqx.filter(grads.funcs, eqx.is_inexact_array))
    np.testing.assert_allclose(
        np.concatenate([np.ravel(g) for g in ours]),
        np.concatenate([np.ravel(g) for g in leaves(want)]),
        rtol=1e-5,
        atol=1e-7,
    )
    n_weights = len(leaves(eqx.filter(mlp, eqx.is_inexact_array)))
    assert len(leaves(eqx.filter(mod, eqx.is_inexact_array))) == 1 + n_weights
    # jax.jit of a function taking the module works with an MLP inside, too
    assert float(jax.jit(loss)(mod)) == pytest.approx(float(loss(mod)), rel=1e-6)
    assert mod.sympy() == [1.5 * f(x) + x]


@pytest.mark.parametrize("c", [sp.pi, sp.E, sp.EulerGamma, sp.GoldenRatio, sp.Catalan, sp.TribonacciConstant], ids=str)
def test_every_named_constant_is_exact_in_the_input_dtype(c):
    mod = SymbolicModule([c * x])
    import mpmath

    with mpmath.workprec(24):
        c32 = np.float32(float(mpmath.mpf(str(sp.N(c, 40)))))
    assert mod(x=jnp.float32(1))[0].item() == c32
    with jax.enable_x64(True):
        assert SymbolicModule([c * x])(x=jnp.float64(1))[0].item() == CONSTANT_VALUES[str(c)]


def _assert_divided_exactly(got, want, v):
    if jax.default_backend() == "cpu":
        np.testing.assert_array_equal(got, want)
    else:  # XLA's float32 division on GPUs is within 2 ulp, not correctly rounded
        tol = 2 * np.spacing(np.abs(v)) + 2 * np.spacing(np.abs(want))
        assert np.all(np.abs(np.asarray(got) - want) <= tol), (got, want)


def test_imaginary_unit_and_exact_rationals():
    mod = SymbolicModule([sp.exp(sp.I * x), sp.Rational(1, 3) * x, x / 7 + 5])
    v = jnp.asarray([0.1, 1.7, -2.3], jnp.float32)
    e, third, seventh = mod(x=v)
    assert e.dtype == jnp.complex64 and third.dtype == seventh.dtype == jnp.float32
    np.testing.assert_allclose(e, np.exp(1j * np.asarray(v, np.float64)), rtol=1e-6)
    for a, b in ((third, seventh), jax.jit(mod)(x=v)[1:]):
        _assert_divided_exactly(a, np.asarray(v) / np.float32(3), np.asarray(v))
        _assert_divided_exactly(b, np.asarray(v) / np.float32(7) + np.float32(5), np.asarray(v))


def test_make_array_false_keeps_python_floats():
    mod = SymbolicModule([2.5 * x + 0.5], make_array=False)
    assert mod.params == (0.5, 2.5)  # preorder: SymPy puts the number first in an Add
    assert leaves(eqx.filter(mod, eqx.is_inexact_array)) == []
    with jax.enable_x64(True):  # weakly typed constants: float32 stays float32
        assert mod(x=jnp.ones(2, jnp.float32))[0].dtype == jnp.float32
    assert mod.sympy() == [2.5 * x + 0.5]
    np.testing.assert_allclose(jax.jit(mod)(x=2.0)[0], 5.5)
    assert pickle.loads(pickle.dumps(mod)).params == (0.5, 2.5)


# -- stack and concatenate ------------------------------------------------------------------


def test_stack_and_concatenate_match_sympy2jax():
    s2j = require("sympy2jax")
    assert stack == s2j.stack and concatenate == s2j.concatenate  # one expression serves both
    expr = [concatenate(stack(x, 2.0 * y), stack(sp.sin(x) * y)), stack(stack(x, y), stack(y, x))]
    ours = SymbolicModule(expr)
    theirs = s2j.SymbolicModule(expr)
    for args in ({"x": 0.5, "y": -1.5}, {"x": jnp.linspace(0, 1, 4), "y": jnp.linspace(1, 2, 4)}):
        for a, b in zip(ours(**args), theirs(**args)):
            assert a.shape == b.shape
            np.testing.assert_allclose(a, b, rtol=1e-6)
    assert ours.sympy() == expr


def test_stack_broadcasts_its_arguments():
    out = SymbolicModule(stack(x, 1.5, y))(x=jnp.arange(3.0), y=2.0)
    np.testing.assert_array_equal(out, [[0, 1, 2], [1.5, 1.5, 1.5], [2, 2, 2]])


# -- the functional form and the positional form ---------------------------------------------


def test_functional_form_is_a_pure_function_of_a_flat_array():
    optax = require("optax")
    xs = jnp.linspace(-2, 2, 50)
    data = 2.0 * jnp.sin(1.5 * xs) + 0.3
    mod = SymbolicModule(1.8 * sp.sin(1.4 * x) + 0.2)
    params, fn = mod.functional()
    assert params.shape == (3,) and params.tolist() == pytest.approx([0.2, 1.8, 1.4])  # preorder
    np.testing.assert_array_equal(fn(params, x=xs), mod(x=xs))
    opt = optax.adam(0.05)

    @jax.jit
    def step(p, state):
        loss, g = jax.value_and_grad(lambda p: jnp.mean((fn(p, x=xs) - data) ** 2))(p)
        updates, state = opt.update(g, state)
        return optax.apply_updates(p, updates), state, loss

    state = opt.init(params)
    for _ in range(400):
        params, state, loss = step(params, state)
    assert float(loss) < 1e-6
    assert params.tolist() == pytest.approx([0.3, 2.0, 1.5], abs=1e-3)
    fitted = eqx.tree_at(lambda m: m.params, mod, tuple(params)).sympy()
    assert sorted(float(f) for f in fitted.atoms(sp.Float)) == pytest.approx([0.3, 1.5, 2.0], abs=1e-3)


def test_positional_form_takes_columns():
    mod = SymbolicModule([x * y, x - 0.5 * y, 2.0], symbols=[x, y])
    X = jnp.asarray(np.random.default_rng(0).uniform(-1, 1, (5, 2)), jnp.float32)
    out = mod(X)
    assert out.shape == (5, 3)
    want = np.stack(mod(x=X[:, 0], y=X[:, 1]), -1)
    np.testing.assert_array_equal(out, want)
    np.testing.assert_array_equal(mod(X[0]), want[0])
    np.testing.assert_array_equal(jax.vmap(mod)(X), want)
    with pytest.raises(ShapeError, match="last axis must have length 2"):
        mod(jnp.ones((5, 3)))
    with pytest.raises(SympileError, match="symbols="):
        SymbolicModule([x])(jnp.ones((5, 1)))


def test_positional_form_is_a_vector_field():
    """x' = v, v' = -4x, z' = cos(t): RK4 under jit against the exact solution."""
    field = SymbolicModule([y, -4.0 * x, sp.cos(t)], symbols=[x, y, sp.Symbol("z")], time=t)

    @jax.jit
    def solve(f, y0):
        h = 0.01

        def step(i, state):
            tt = i * h
            k1 = f(tt, state, None)
            k2 = f(tt + h / 2, state + h / 2 * k1, None)
            k3 = f(tt + h / 2, state + h / 2 * k2, None)
            k4 = f(tt + h, state + h * k3, None)
            return state + h / 6 * (k1 + 2 * k2 + 2 * k3 + k4)

        return jax.lax.fori_loop(0, 100, step, y0)

    with jax.enable_x64(True):
        out = solve(field, jnp.asarray([1.0, 0.0, 0.0]))
        np.testing.assert_allclose(out, [np.cos(2.0), -2 * np.sin(2.0), np.sin(1.0)], rtol=1e-8)
        # and its constants train through the solver
        g = eqx.filter_grad(lambda f: solve(f, jnp.asarray([1.0, 0.0, 0.0]))[0])(field)
        assert np.isfinite(g.params).all() and g.params[0] != 0
    batch = jnp.asarray([[1.0, 0.0, 0.0], [0.5, 0.1, 0.0]], jnp.float32)
    assert solve(field, batch).shape == (2, 3)


def test_vector_field_args_supply_named_inputs():
    k = sp.Symbol("k")
    field = SymbolicModule([y, -k * x], symbols=[x, y], time=t)
    out = field(0.0, jnp.asarray([1.0, 2.0]), {"k": 3.0})
    np.testing.assert_array_equal(out, [2.0, -3.0])
    with pytest.raises(MissingInputError, match="missing input k"):
        field(0.0, jnp.asarray([1.0, 2.0]), None)


# -- construction errors ----------------------------------------------------------------------


def test_construction_errors_are_clear():
    with pytest.raises(SympileError, match="tolist"):
        SymbolicModule([sp.Matrix([[x, y]])])
    with pytest.raises(SympileError, match="both named x"):
        SymbolicModule([x + sp.Symbol("x", positive=True)])
    with pytest.raises(SympileError, match="extra_funcs"):
        SymbolicModule([sp.Function("g")(x)])
    with pytest.raises(SympileError, match="must be callable"):
        SymbolicModule([sp.Function("g")(x)], extra_funcs={sp.Function("g"): 3})
