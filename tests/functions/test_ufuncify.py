"""`sympile.ufuncify`: SymPy's calling convention, checked against `sympy.lambdify` and SymPy itself."""

import pickle

import numpy as np
import pytest
import sympy as sp
from helpers import assert_close_to_reference
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from sympile import ArgumentError, SympileError, Ufunc, lambdify, ufuncify

x, y, z = sp.symbols("x y z")


pytestmark = pytest.mark.usefixtures("kernel_cache")


def test_sympy_docstring_examples():
    f = ufuncify((x, y), y + x**2)
    np.testing.assert_array_equal(f([1, 2, 3], 2), [3.0, 6.0, 11.0])
    np.testing.assert_array_equal(f(np.arange(5), 3), [3.0, 4.0, 7.0, 12.0, 19.0])
    helper_func = sp.Function("helper_func")
    g = ufuncify((x, y), x**2 + y * helper_func(x), helpers=[("helper_func", x**3, [x])])
    np.testing.assert_array_equal(g([1, 2], [3, 4]), [4.0, 36.0])
    assert isinstance(f, Ufunc) and (f.nin, f.nout, f.nargs) == (2, 1, 3)


def test_a_single_symbol_and_scalars():
    f = ufuncify(x, sp.sin(x) ** 2)
    value = f(0.5)
    assert type(value) is np.float64 and value == pytest.approx(np.sin(0.5) ** 2, rel=1e-15)


EXPRS = [sp.exp(-(x**2)) * sp.cos(y * z), sp.atan2(x, y**2 + 1) + sp.erfc(z), sp.Piecewise((x, x > y), (z**3, True))]


@settings(max_examples=30)
@given(shapes=hnp.mutually_broadcastable_shapes(num_shapes=3, max_dims=3, max_side=4), seed=st.integers(0, 2**32 - 1))
def test_several_outputs_broadcast_like_sympy_lambdify(shapes, seed):
    f = ufuncify((x, y, z), EXPRS)
    ref = sp.lambdify((x, y, z), EXPRS, ["scipy", "numpy"])
    rng = np.random.default_rng(seed)
    args = [rng.uniform(-2, 2, s) for s in shapes.input_shapes]
    got = f(*args)
    assert isinstance(got, tuple) and len(got) == 3
    for g, w in zip(got, ref(*np.broadcast_arrays(*args))):
        assert np.shape(g) == shapes.result_shape
        np.testing.assert_allclose(g, np.broadcast_to(w, shapes.result_shape), rtol=1e-13, atol=1e-15)


@settings(max_examples=20)
@given(point=st.lists(st.floats(-3, 3), min_size=3, max_size=3))
def test_values_match_sympy_at_30_digits(point):
    f = ufuncify((x, y, z), EXPRS)
    for value, e in zip(f(*point), EXPRS):
        assert_close_to_reference(e, [x, y, z], point, float(value), graph=lambdify([x, y, z], e).graph)


def test_out_arrays():
    f = ufuncify((x, y), [x * y, x - y])
    a, b = np.empty(4), np.empty(4, np.float32)
    got = f(np.arange(4.0), 2.0, out=(a, b))
    assert got[0] is a and got[1] is b
    np.testing.assert_array_equal(a, np.arange(4.0) * 2)
    np.testing.assert_array_equal(b, np.arange(4.0) - 2)
    single = ufuncify((x, y), x / y)
    c = np.empty(3)
    assert single([1.0, 2.0, 3.0], 4.0, out=c) is c
    np.testing.assert_array_equal(c, [0.25, 0.5, 0.75])
    with pytest.raises(ArgumentError, match="one per output"):
        f(1.0, 2.0, out=(a,))


def test_float32_stays_float32():
    f = ufuncify((x,), sp.exp(x) / 3)
    assert f(np.ones(3, np.float32)).dtype == np.float32
    assert f(np.ones(3, np.int64)).dtype == np.float64


def test_keeps_its_source_pickles_and_raises():
    f = ufuncify((x, y), sp.gamma(x) + y)
    assert "tgamma(" in f.source
    g = pickle.loads(pickle.dumps(f))
    assert g(2.5, 1.0) == f(2.5, 1.0)
    assert g.exprs == [sp.gamma(x) + y]


def test_tempdir_keeps_the_source(tmp_path):
    f = ufuncify((x,), x + 1, tempdir=str(tmp_path / "t"))
    assert (tmp_path / "t" / "sympile_ufunc.c").read_text() == f.source


def test_errors():
    with pytest.raises(SympileError, match="C99"):
        ufuncify((x,), x, language="F95")
    with pytest.raises(SympileError, match="backend"):
        ufuncify((x,), x, backend="torch")
    with pytest.raises(SympileError):
        ufuncify((x,), [])
    f = ufuncify((x, y), x + y)
    with pytest.raises(ArgumentError, match="2 argument"):
        f(1.0)
