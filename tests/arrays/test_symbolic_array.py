"""SymbolicArray: NumPy's broadcasting, indexing, shapes and reductions, checked against NumPy."""

import operator
import pickle

import hypothesis.extra.numpy as hnp
import numpy as np
import pytest
import sympy as sp
from hypothesis import given, settings
from hypothesis import strategies as st

import sympile.numpy as snp
from sympile import ShapeError, SymbolicArray, SympileError, UnsupportedFunctionError, named_array, numpify_func

small_shapes = hnp.array_shapes(min_dims=0, max_dims=3, min_side=1, max_side=3)
floats = st.floats(-3, 3, allow_nan=False, allow_subnormal=False)


def numeric(sym, dtype=float) -> np.ndarray:
    if isinstance(sym, SymbolicArray):
        return np.array(sym.tolist(), dtype=dtype).reshape(sym.shape)
    return np.array(sym, dtype=dtype)


def constant(values: np.ndarray) -> SymbolicArray:
    """A symbolic array of the exact binary values of ``values``."""
    return SymbolicArray(values)


BINARY = [operator.add, operator.sub, operator.mul, operator.truediv, operator.pow, operator.floordiv, operator.mod]


@settings(max_examples=40)
@given(data=st.data(), op=st.sampled_from(BINARY))
def test_broadcasting_matches_numpy(data, op):
    shapes = data.draw(hnp.mutually_broadcastable_shapes(num_shapes=2, max_dims=3, max_side=3))
    a = data.draw(hnp.arrays(np.float64, shapes.input_shapes[0], elements=st.floats(0.5, 3)))
    b = data.draw(hnp.arrays(np.float64, shapes.input_shapes[1], elements=st.floats(0.5, 3)))
    expected = op(a, b)
    got = op(constant(a), constant(b))
    assert got.shape == expected.shape == shapes.result_shape
    np.testing.assert_allclose(numeric(got), expected, rtol=1e-13)
    # a NumPy array on either side defers to the symbolic array
    np.testing.assert_allclose(numeric(op(a, constant(b))), expected, rtol=1e-13)
    np.testing.assert_allclose(numeric(op(constant(a), b)), expected, rtol=1e-13)


@settings(max_examples=25, deadline=None)
@given(data=st.data(), op=st.sampled_from(BINARY[:5]))
def test_broadcasting_of_traced_arguments_matches_numpy(data, op):
    shapes = data.draw(hnp.mutually_broadcastable_shapes(num_shapes=2, max_dims=3, max_side=3))
    s1, s2 = shapes.input_shapes
    f = numpify_func(lambda a, b: op(a, b), s1, s2)
    a = data.draw(hnp.arrays(np.float64, s1, elements=st.floats(0.5, 3)))
    b = data.draw(hnp.arrays(np.float64, s2, elements=st.floats(0.5, 3)))
    got = np.asarray(f(a, b))
    assert got.shape == shapes.result_shape
    np.testing.assert_allclose(got, op(a, b), rtol=1e-13)


@pytest.mark.parametrize(
    "op",
    [operator.lt, operator.le, operator.gt, operator.ge, snp.less, snp.greater_equal, snp.equal, snp.not_equal],
)
def test_comparisons_are_elementwise(op):
    a = np.array([[1.0, 2.0, 3.0]])
    b = np.array([[2.0], [2.0]])
    got = op(constant(a), constant(b))
    assert got.shape == (2, 3)
    assert np.array_equal(np.array(got.tolist(), dtype=bool), op(a, b))
    traced = numpify_func(lambda x: op(x, 2.0), 3)  # decided at run time
    assert np.array_equal(traced(a[0]), op(a[0], 2.0))
    assert traced(a[0]).dtype == bool


def test_eq_and_ne_are_structural_as_in_symnum():
    x, y = sp.symbols("x y")
    a = SymbolicArray([[x, y], [x + 1, 2]])
    same = a == SymbolicArray([[x, x], [1 + x, 2]])
    assert isinstance(same, SymbolicArray) and same.shape == (2, 2)
    assert same.tolist() == [[sp.true, sp.false], [sp.true, sp.true]]  # never an unevaluated Eq
    assert (a != SymbolicArray([[x, x], [1 + x, 2]])).tolist() == [[sp.false, sp.true], [sp.false, sp.false]]
    assert (a == x).tolist() == [[sp.true, sp.false], [sp.false, sp.false]]  # broadcasting
    assert (x == a).tolist() == [[sp.true, sp.false], [sp.false, sp.false]]
    # a NumPy array on the left calls numpy.equal, which is the same comparison
    assert (np.array([[x, y], [x, 2]], dtype=object) == a).tolist() == [[sp.true, sp.true], [sp.false, sp.true]]
    assert bool(np.all(np.array([[x, y], [x + 1, 2]], dtype=object) == a))
    assert not np.all(a == SymbolicArray([[x, y], [x + 1, 3]]))
    # structural: the same value written differently is not the same expression
    assert (SymbolicArray([x * (x + 1)]) == SymbolicArray([x**2 + x])).tolist() == [sp.false]
    assert (a == None) is False  # noqa: E711  (not an entry: Python compares identity)
    with pytest.raises(ShapeError):
        a == SymbolicArray([x, y, x])  # noqa: B015


def test_eq_of_a_traced_argument_is_structural():
    # as in SymNum, x == 2.0 asks whether the expressions are the same, not the values
    f = numpify_func(lambda x: (x == 2.0, x == x, snp.equal(x, 2.0)), 2)
    same_as_two, same_as_itself, value_is_two = f(np.array([2.0, 3.0]))
    assert same_as_two.tolist() == [False, False]
    assert same_as_itself.tolist() == [True, True]
    assert value_is_two.tolist() == [True, False]


@pytest.mark.parametrize("name", ["sum", "prod", "mean", "all", "any", "max", "min"])
@pytest.mark.parametrize("axis", [None, 0, -1, (0, 1)])
def test_numpy_reductions_call_the_array_methods(name, axis):
    values = np.array([[0.5, -2.0, 3.0], [1.5, 0.0, -1.0]])
    got = getattr(np, name)(constant(values), axis=axis)
    want = getattr(np, name)(values, axis=axis)
    assert np.array_equal(np.asarray(SymbolicArray(got), dtype=want.dtype), want)
    if name in ("all", "any"):
        assert all(isinstance(v, sp.logic.boolalg.BooleanAtom) for v in SymbolicArray(got).flat)
    kept = getattr(np, name)(constant(values), axis=axis, keepdims=True)
    assert kept.shape == getattr(np, name)(values, axis=axis, keepdims=True).shape


@pytest.mark.parametrize("ufunc, method", [(np.add, "sum"), (np.multiply, "prod"), (np.logical_and, "all")])
def test_ufunc_reduce_is_the_reduction(ufunc, method):
    x = named_array("x", (2, 3))
    assert ufunc.reduce(x, axis=1).tolist() == getattr(x, method)(axis=1).tolist()


def test_all_and_any_of_symbolic_conditions():
    x = named_array("x", 2)
    assert np.all(x > 0) == sp.And(x[0] > 0, x[1] > 0)
    assert np.any(x > 0) == sp.Or(x[0] > 0, x[1] > 0)
    assert np.all(SymbolicArray([sp.true, x[0] > 0])) == (x[0] > 0)
    assert np.any(SymbolicArray([sp.true, x[0] > 0])) is sp.true
    assert np.all(SymbolicArray([1, 0])) is sp.false  # numbers: their truth, as NumPy's


def test_reductions_refuse_out_and_dtype():
    x = named_array("x", 2)
    with pytest.raises(UnsupportedFunctionError, match="out="):
        np.sum(x, out=np.empty(()))
    with pytest.raises(UnsupportedFunctionError, match="dtype="):
        x.sum(dtype=float)


@pytest.mark.parametrize("name", ["sum", "prod", "all", "any", "max", "min"])
@pytest.mark.parametrize("axis", [None, 0, -1])
def test_reductions_of_a_0d_array_accept_axis_0_and_minus_1_as_numpy(name, axis):
    a = SymbolicArray(sp.Float(1.5))
    assert getattr(a, name)(axis=axis) == getattr(np, name)(np.array(1.5), axis=axis)
    assert getattr(a, name)(axis=axis, keepdims=True).shape == ()
    with pytest.raises(ShapeError):
        getattr(a, name)(axis=1)
    with pytest.raises(ShapeError):
        getattr(a, name)(axis=(0,))  # NumPy refuses a tuple here too


def test_numpy_array_of_a_symbolic_array():
    numbers = np.asarray(SymbolicArray([[1.5, 2], [0, -1]]))
    assert numbers.dtype == np.float64 and numbers.tolist() == [[1.5, 2.0], [0.0, -1.0]]
    assert np.asarray(SymbolicArray([1, 2])).dtype == np.int64
    assert np.asarray(SymbolicArray([sp.true, sp.false])).tolist() == [True, False]
    x = named_array("x", 2)
    assert np.asarray(x).dtype == object  # free symbols: the entries themselves
    assert np.asarray(SymbolicArray([1.5, 2]), dtype=object).dtype == object


def test_free_symbols():
    x, y = sp.symbols("x y")
    assert SymbolicArray([[x + 1, 2], [y, x]]).free_symbols == {x, y}
    assert SymbolicArray([1.0, 2]).free_symbols == set()


def test_unary_operators():
    a = np.array([[-1.5, 2.0], [0.0, -3.0]])
    np.testing.assert_array_equal(numeric(-constant(a)), -a)
    np.testing.assert_array_equal(numeric(abs(constant(a))), abs(a))
    np.testing.assert_array_equal(numeric(+constant(a)), a)


@settings(max_examples=60)
@given(data=st.data())
def test_basic_indexing_matches_numpy(data):
    shape = data.draw(small_shapes)
    index = data.draw(hnp.basic_indices(shape, allow_newaxis=True, allow_ellipsis=True))
    values = np.arange(int(np.prod(shape))).reshape(shape)
    expected = values[index]
    got = constant(values)[index]
    if isinstance(got, SymbolicArray):
        assert got.shape == expected.shape
        assert np.array_equal(numeric(got, int), expected)
    else:  # one entry: the SymPy number itself, as NumPy gives a scalar
        assert np.ndim(expected) == 0 and got == int(expected)


@settings(max_examples=40)
@given(data=st.data())
def test_integer_array_indexing_matches_numpy(data):
    shape = data.draw(hnp.array_shapes(min_dims=1, max_dims=3, min_side=1, max_side=3))
    index = data.draw(hnp.integer_array_indices(shape))
    values = np.arange(int(np.prod(shape))).reshape(shape)
    got = constant(values)[index]
    assert np.array_equal(numeric(got, int), values[index])


def test_indexing_a_named_array_gives_its_symbols():
    x = named_array("x", (2, 3))
    assert x[1, 2] == sp.Symbol("x[1, 2]", real=True)
    assert x[:, 0].tolist() == [x[0, 0], x[1, 0]]
    assert x[..., None].shape == (2, 3, 1)
    assert x[snp.newaxis].shape == (1, 2, 3)
    with pytest.raises(ShapeError, match="bad index"):
        x[2, 0]
    with pytest.raises(SympileError, match="symbolic values"):
        x[x[0, 0]]


@settings(max_examples=40)
@given(data=st.data())
def test_reductions_match_numpy(data):
    shape = data.draw(hnp.array_shapes(min_dims=1, max_dims=3, min_side=1, max_side=3))
    axes = data.draw(st.lists(st.integers(-len(shape), len(shape) - 1), unique_by=lambda a: a % len(shape)))
    axis = data.draw(st.sampled_from([None, tuple(axes)] + ([axes[0]] if axes else [])))
    keepdims = data.draw(st.booleans())
    values = data.draw(hnp.arrays(np.float64, shape, elements=st.floats(0.5, 2)))
    for name in ("sum", "prod", "mean"):
        expected = getattr(np, name)(values, axis=axis, keepdims=keepdims)
        got = getattr(constant(values), name)(axis=axis, keepdims=keepdims)
        if isinstance(got, SymbolicArray):
            assert got.shape == expected.shape
        else:
            assert np.ndim(expected) == 0
        np.testing.assert_allclose(numeric(got), expected, rtol=1e-13)


def test_reductions_build_one_nary_sum():
    x = named_array("x", 500)
    total = x.sum()
    assert isinstance(total, sp.Add) and len(total.args) == 500
    assert isinstance(x.prod(), sp.Mul)
    with pytest.raises(ShapeError, match="out of bounds"):
        x.sum(axis=1)
    with pytest.raises(ShapeError, match="repeated axis"):
        named_array("y", (2, 2)).sum(axis=(0, -2))


@settings(max_examples=40)
@given(data=st.data())
def test_matmul_matches_numpy_including_batches(data):
    n, k, m = data.draw(st.tuples(*[st.integers(1, 3)] * 3))
    batch_a = data.draw(hnp.array_shapes(min_dims=0, max_dims=2, max_side=2))
    batch_b = data.draw(st.sampled_from([batch_a, batch_a[1:], (1,) * len(batch_a)]))
    shape_a = data.draw(st.sampled_from([(k,), batch_a + (n, k)]))
    shape_b = data.draw(st.sampled_from([(k,), batch_b + (k, m)]))
    a = data.draw(hnp.arrays(np.float64, shape_a, elements=floats))
    b = data.draw(hnp.arrays(np.float64, shape_b, elements=floats))
    expected = a @ b
    got = constant(a) @ constant(b)
    np.testing.assert_allclose(numeric(got), expected, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(numeric(a @ constant(b)), expected, rtol=1e-12, atol=1e-12)
    if np.ndim(expected):
        assert got.shape == expected.shape


def test_matmul_errors_name_the_shapes():
    with pytest.raises(ShapeError, match=r"\(2, 3\) and \(2,\)"):
        named_array("a", (2, 3)) @ named_array("b", 2)
    with pytest.raises(ShapeError, match="scalar"):
        named_array("a", ()) @ named_array("b", 2)


@settings(max_examples=30)
@given(data=st.data())
def test_reshape_transpose_flatten_match_numpy(data):
    shape = data.draw(hnp.array_shapes(min_dims=1, max_dims=3, max_side=3))
    values = np.arange(int(np.prod(shape))).reshape(shape)
    sym = constant(values)
    perm = data.draw(st.permutations(range(len(shape))))
    assert np.array_equal(numeric(sym.transpose(perm), int), values.transpose(perm))
    assert np.array_equal(numeric(sym.transpose(*perm), int), values.transpose(perm))
    assert np.array_equal(numeric(sym.T, int), values.T)
    assert np.array_equal(numeric(sym.flatten(), int), values.flatten())
    assert np.array_equal(numeric(sym.reshape(-1, 1), int), values.reshape(-1, 1))
    assert np.array_equal(numeric(sym.reshape(values.size), int), values.reshape(values.size))
    assert list(sym.flat) == [sp.Integer(v) for v in values.flat]


def test_attributes():
    x = named_array("x", (2, 3))
    assert (x.shape, x.ndim, x.size, x.dtype, len(x)) == ((2, 3), 2, 6, np.float64, 2)
    assert named_array("n", 2, dtype=np.int64).dtype == np.int64
    assert named_array("n", 2, dtype=np.int64)[0].is_integer
    assert named_array("z", 2, dtype=complex)[0].is_real is None
    assert SymbolicArray([1, 2]).dtype == np.int64
    assert (x > 0).dtype == bool
    assert named_array("s", None).shape == () and named_array("s", ()).tolist() == sp.Symbol("s", real=True)
    assert [row.shape for row in x] == [(3,), (3,)]
    assert x.real.tolist() == x.tolist() and x.imag.tolist() == [[0] * 3] * 2


def test_named_array_refuses_bad_names_and_shapes():
    with pytest.raises(SympileError):
        named_array(3, 2)
    with pytest.raises(ShapeError):
        named_array("x", (2, -1))
    with pytest.raises(ShapeError):
        named_array("x", "2")


def test_entries_are_sympy_and_text_is_refused():
    a = SymbolicArray([3, 2.5, True])
    assert [type(e) for e in a.flat] == [sp.Integer, sp.Float, type(sp.true)]
    with pytest.raises(SympileError, match="never evaluates text"):
        SymbolicArray(["__import__('os')"])
    with pytest.raises(SympileError):
        SymbolicArray([object()])
    with pytest.raises(ShapeError, match="ragged"):
        SymbolicArray([[1, 2], [3]])


def test_arrays_are_immutable():
    x = named_array("x", 2)
    with pytest.raises(SympileError, match="immutable"):
        x[0] = 1
    with pytest.raises(ValueError):
        x._data[0] = 1


def test_tolist_subs_simplify():
    x = named_array("x", 2)
    y = snp.sin(x) ** 2 + snp.cos(x) ** 2
    assert y.simplify().tolist() == [1, 1]
    assert (x * 2).subs(x, [3, 4]).tolist() == [6, 8]
    assert (x * 2).subs({x[0]: 1}).tolist() == [2, 2 * x[1]]
    assert SymbolicArray(x[0] + 1).tolist() == x[0] + 1


@settings(max_examples=20, deadline=None)
@given(p=st.lists(st.floats(-2, 2), min_size=2, max_size=2))
def test_diff_matches_sympy_diff(p):
    x = named_array("x", 2)
    y = snp.array([snp.exp(x[0] * x[1]), snp.sin(x[0]) / (2 + x[1] ** 2), x[0] ** 3])
    d = y.diff(x)
    assert d.shape == (2, 3)  # SymPy's convention: variable shape first
    point = dict(zip(x.flat, p))
    for i in range(2):
        for j in range(3):
            ref = sp.diff(y[j], x[i]).evalf(30, subs=point)
            assert abs(complex(d[i, j].evalf(30, subs=point)) - complex(ref)) <= 1e-12 * (1 + abs(complex(ref)))


def test_diff_by_a_scalar_and_twice():
    x = named_array("x", 2)
    s = sp.Symbol("s", real=True)
    y = snp.array([x[0] * s**2, s])
    assert y.diff(s).tolist() == [2 * s * x[0], 1]
    assert y.diff(s, s).tolist() == [2 * x[0], 0]
    with pytest.raises(SympileError, match="symbols"):
        y.diff(x[0] + 1)


def test_array_conversion():
    assert np.array_equal(np.asarray(SymbolicArray([1.5, 2]), dtype=float), [1.5, 2.0])
    x = named_array("x", 2)
    assert np.asarray(x).dtype == object
    with pytest.raises(SympileError, match="free symbols"):
        np.asarray(x, dtype=float)


def test_numpy_functions_dispatch_to_symbolic_versions():
    x = named_array("x", 2)
    assert np.exp(x).tolist() == [sp.exp(x[0]), sp.exp(x[1])]
    assert (np.ones(2, dtype=int) + x).tolist() == [x[0] + 1, x[1] + 1]
    assert (np.eye(2, dtype=int) @ x).tolist() == [x[0], x[1]]
    with pytest.raises(UnsupportedFunctionError, match="out"):
        np.exp(x, out=np.empty(2))
    with pytest.raises(UnsupportedFunctionError, match="no symbolic version"):
        np.gcd(x, x)


def test_sympy_scalars_defer_to_the_array():
    x = named_array("x", 2)
    s = sp.Symbol("s")
    assert (s + x).tolist() == [s + x[0], s + x[1]]
    assert (x[0] * x).tolist() == [x[0] ** 2, x[0] * x[1]]


def test_pickles():
    x = named_array("x", (2, 2))
    y = snp.exp(x) @ x
    z = pickle.loads(pickle.dumps(y))
    assert z.tolist() == y.tolist() and z.shape == y.shape


def test_truth_value():
    assert bool(SymbolicArray([1]))
    with pytest.raises(ValueError, match="ambiguous"):
        bool(SymbolicArray([1, 2]))
