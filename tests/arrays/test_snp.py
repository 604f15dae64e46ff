"""sympile.numpy: every function traced, compiled and compared with NumPy's own on random inputs."""

import numpy as np
import pytest
import sympy as sp
from hypothesis import given, settings
from hypothesis import strategies as st

import sympile.numpy as snp
from sympile import ShapeError, SymbolicArray, UnsupportedFunctionError, grad, named_array, numpify_func

R = (-3.0, 3.0)
POS = (0.1, 4.0)
UNIT = (-0.95, 0.95)

#: (name, domain): unary functions, compared with ``numpy.<name>``.
UNARY = [
    ("exp", R),
    ("expm1", (-1e-3, 1e-3)),
    ("log", POS),
    ("log2", POS),
    ("log10", POS),
    ("log1p", (-0.5, 1e-3)),
    ("sin", R),
    ("cos", R),
    ("tan", (-1.5, 1.5)),
    ("arcsin", UNIT),
    ("arccos", UNIT),
    ("arctan", R),
    ("sinh", R),
    ("cosh", R),
    ("tanh", R),
    ("arcsinh", R),
    ("arccosh", (1.1, 4.0)),
    ("arctanh", UNIT),
    ("ceil", R),
    ("floor", R),
    ("sqrt", POS),
    ("cbrt", R),
    ("square", R),
    ("abs", R),
    ("absolute", R),
    ("fabs", R),
    ("sign", R),
    ("negative", R),
    ("positive", R),
    ("angle", R),
    ("conj", R),
    ("conjugate", R),
    ("real", R),
    ("imag", R),
    ("isinf", R),
    ("isposinf", R),
    ("isneginf", R),
    ("isnan", R),
    ("isfinite", R),
    ("isreal", R),
    ("iscomplex", R),
    ("logical_not", R),
]

BINARY = [
    ("arctan2", R, R),
    ("maximum", R, R),
    ("minimum", R, R),
    ("add", R, R),
    ("subtract", R, R),
    ("multiply", R, R),
    ("divide", R, POS),
    ("power", POS, R),
    ("hypot", R, R),
    ("logaddexp", (-800, 800), (-800, 800)),
    ("logical_and", R, R),
    ("logical_or", R, R),
    ("logical_xor", R, R),
    ("floor_divide", R, POS),
    ("mod", R, POS),
    ("less", R, R),
    ("equal", R, R),
]


def points(domain, n=4):
    return st.lists(st.floats(*domain, allow_subnormal=False), min_size=n, max_size=n).map(np.array)


@pytest.mark.parametrize("name, domain", UNARY, ids=[u[0] for u in UNARY])
@settings(max_examples=10, deadline=None)
@given(data=st.data())
def test_unary_function_matches_numpy(name, domain, data):
    f = numpify_func(getattr(snp, name), 4)
    x = data.draw(points(domain))
    expected = getattr(np, name)(x)
    got = f(x)
    assert got.shape == expected.shape
    if expected.dtype == bool:
        assert np.array_equal(got, expected)
    else:
        np.testing.assert_allclose(got, expected, rtol=1e-13, atol=1e-300)


@pytest.mark.parametrize("name, da, db", BINARY, ids=[b[0] for b in BINARY])
@settings(max_examples=10, deadline=None)
@given(data=st.data())
def test_binary_function_broadcasts_like_numpy(name, da, db, data):
    f = numpify_func(getattr(snp, name), (2, 3), 3)
    a = data.draw(points(da, 6)).reshape(2, 3)
    b = data.draw(points(db, 3))
    expected = getattr(np, name)(a, b)
    got = f(a, b)
    assert got.shape == expected.shape == (2, 3)
    if expected.dtype == bool:
        assert np.array_equal(got, expected)
    else:
        np.testing.assert_allclose(got, expected, rtol=1e-13, atol=1e-300)


@pytest.mark.parametrize(
    "name", ["isinf", "isposinf", "isneginf", "isnan", "isfinite", "sign", "abs", "maximum", "minimum"]
)
def test_special_values_are_decided_at_run_time(name):
    values = np.array([np.inf, -np.inf, np.nan, 0.0, -2.0])
    fn = getattr(snp, name)
    if name in ("maximum", "minimum"):
        f = numpify_func(lambda x: fn(x, 1.0), 5)
        expected = getattr(np, name)(values, 1.0)
    else:
        f = numpify_func(fn, 5)
        expected = getattr(np, name)(values)
    assert np.array_equal(f(values), expected, equal_nan=True)


def test_where_keeps_a_run_time_nan_test():
    f = numpify_func(lambda x: snp.where(snp.isnan(x), 0.0, x), 3)
    assert np.array_equal(f(np.array([1.0, np.nan, -2.0])), [1.0, 0.0, -2.0])


@settings(max_examples=20, deadline=None)
@given(c=points(R, 6), a=points(R, 6), b=points(R, 6))
def test_where_matches_numpy(c, a, b):
    f = numpify_func(lambda c, a, b: snp.where(c > 0, a, b), (2, 3), 3, (2, 1))
    c, a, b = c.reshape(2, 3), a[:3], b[:2].reshape(2, 1)
    np.testing.assert_array_equal(f(c, a, b), np.where(c > 0, a, b))


def test_logaddexp_has_the_right_slope_at_a_tie_and_does_not_overflow():
    g = grad(lambda x: snp.logaddexp(x[0], x[1]), 2)
    np.testing.assert_allclose(g(np.array([0.3, 0.3])), [0.5, 0.5], rtol=1e-15)
    f = numpify_func(lambda x: snp.logaddexp(x[0], x[1]), 2)
    assert f(np.array([1000.0, 999.0])) == np.logaddexp(1000.0, 999.0)
    with np.errstate(over="ignore"):  # the untaken branch's exponential may overflow
        assert np.array_equal(g(np.array([1000.0, -1000.0])), [1.0, 0.0])


@pytest.mark.parametrize("name", ["logaddexp", "hypot"])
def test_infinities_and_nan_in_two_argument_functions(name):
    values = [np.inf, -np.inf, np.nan, 0.0, 1e-300, 2.0, -1e300]
    a, b = np.meshgrid(values, values)
    f = numpify_func(getattr(snp, name), (7, 7), (7, 7))
    with np.errstate(all="ignore"):
        np.testing.assert_allclose(f(a, b), getattr(np, name)(a, b), rtol=1e-14)


def test_floor_divide_and_mod_match_numpy_on_awkward_values():
    a = np.array([1.0, -1.0, 7.5, -7.5, 1.0, 0.0, 5.0])
    b = np.array([0.1, 0.1, -2.0, 2.0, 0.0, 3.0, -0.0])
    f = numpify_func(lambda a, b: (a // b, a % b, snp.floor_divide(a, b), snp.mod(a, b)), 7, 7)
    with np.errstate(all="ignore"):
        expected = (a // b, a % b, np.floor_divide(a, b), np.mod(a, b))
        for got, want in zip(f(a, b), expected):
            np.testing.assert_array_equal(got, want)
    assert (SymbolicArray([1.0]) // SymbolicArray([0.1])).tolist() == [9.0]


def test_angle_in_degrees():
    f = numpify_func(lambda x: snp.angle(x, deg=True), 2)
    np.testing.assert_allclose(f(np.array([-1.0, 2.0])), np.angle([-1.0, 2.0], deg=True))


def test_constants():
    f = numpify_func(lambda x: snp.array([snp.pi * x, snp.e * x, snp.euler_gamma * x, snp.inf * x, snp.nan * x]), ())
    assert np.array_equal(f(1.0), [np.pi, np.e, np.euler_gamma, np.inf, np.nan], equal_nan=True)
    assert snp.newaxis is None
    # SymNum's other spellings
    assert snp.Inf is snp.Infinity is snp.PINF is snp.infty is sp.oo and snp.NINF == -sp.oo
    assert snp.NaN is snp.NAN is sp.nan


def test_scalars_in_give_scalars_out():
    s = sp.Symbol("s")
    assert snp.exp(s) == sp.exp(s)
    assert snp.maximum(s, 1) == sp.Max(s, 1, evaluate=False)
    assert snp.exp(0) == 1 and snp.sqrt(4) == 2
    assert isinstance(snp.exp(named_array("x", ())), SymbolicArray)


# -- making arrays ---------------------------------------------------------------------------------


def test_constructors():
    assert np.array_equal(np.asarray(snp.eye(2, 3, k=1), dtype=float), np.eye(2, 3, k=1))
    assert np.array_equal(np.asarray(snp.identity(3), dtype=float), np.identity(3))
    assert np.array_equal(np.asarray(snp.ones((2, 2)), dtype=float), np.ones((2, 2)))
    assert np.array_equal(np.asarray(snp.zeros(3), dtype=float), np.zeros(3))
    assert np.array_equal(np.asarray(snp.full((2,), 7), dtype=float), np.full((2,), 7))
    x = named_array("x", (2, 3))
    assert snp.ones_like(x).shape == snp.zeros_like(x).shape == snp.full_like(x, 2).shape == (2, 3)
    assert snp.full(2, x[0, 0]).tolist() == [x[0, 0], x[0, 0]]
    assert snp.eye(2, dtype=int).dtype == np.int64


def test_array_is_numpy_for_numbers_and_symbolic_for_expressions():
    a = snp.array([[1.0, 2.0]])
    assert type(a) is np.ndarray and a.dtype == float
    x = named_array("x", 2)
    b = snp.array([x[0] * 2, 1.5])
    assert isinstance(b, SymbolicArray) and b.tolist() == [2 * x[0], 1.5]
    assert snp.array([x, x]).shape == (2, 2)
    assert snp.asarray(x) is not None


def test_array_returns_arrays_themselves_as_symnum():
    numbers = np.array([[1.0, 2.0]])
    assert snp.array(numbers) is numbers and snp.asarray(numbers) is numbers
    assert snp.array(numbers, dtype=np.float64) is numbers
    converted = snp.array(numbers, dtype=np.int64)
    assert converted is not numbers and converted.dtype == np.int64
    x = named_array("x", 2)
    assert snp.array(x) is x and snp.asarray(x) is x
    assert snp.array(x, dtype=np.complex128).dtype == np.complex128
    # SymPy arrays and matrices become symbolic arrays (also of numbers)
    sympy_array = sp.Array([[1.5, 2], [3, sp.Symbol("y")]])
    got = snp.array(sympy_array)
    assert isinstance(got, SymbolicArray) and got.tolist() == sympy_array.tolist()
    assert isinstance(snp.array(sp.ImmutableDenseNDimArray([1.0, 2.0])), SymbolicArray)
    # an object array of numbers (what NumPy makes of mixed input) is converted, not kept
    assert isinstance(snp.array(np.array([1, sp.Symbol("y")], dtype=object)), SymbolicArray)


A = np.array([[0.5, -2.0, 3.0], [1.5, 0.25, -1.0]])
NUMPY_CALLS = [
    ("sum", (A,), {}),
    ("sum", (A,), {"axis": 0}),
    ("prod", (A,), {"axis": -1, "keepdims": True}),
    ("mean", (A,), {"axis": 1}),
    ("max", (A,), {"axis": 0}),
    ("all", (A > 0,), {}),
    ("any", (A > 0,), {"axis": 1}),
    ("exp", (A,), {}),
    ("arctan2", (A, 2.0), {}),
    ("logical_not", (A > 0,), {}),
    ("where", (A > 0, A, np.float64(0)), {}),
    ("dot", (A, A.T), {}),
    ("matmul", (A, A.T), {}),
    ("einsum", ("ij->j", A), {}),
    ("concatenate", ([A, A],), {"axis": 1}),
    ("stack", ([A, A],), {}),
    ("transpose", (A,), {}),
    ("reshape", (A, (3, 2)), {}),
    ("outer", (A, A), {}),
    ("trace", (A[:, :2],), {}),
    ("diag", (A[0],), {}),
    ("angle", (A,), {"deg": True}),
    ("sin", (np.float64(0.5),), {}),
]


@pytest.mark.parametrize("name, args, kwargs", NUMPY_CALLS, ids=[c[0] for c in NUMPY_CALLS])
def test_functions_of_numpy_numbers_are_numpys(name, args, kwargs):
    got = getattr(snp, name)(*args, **kwargs)
    want = getattr(np, name)(*args, **kwargs)
    assert type(got) is type(want)  # NumPy's value, not a SymPy one
    np.testing.assert_array_equal(got, want)


def test_numbers_without_numpy_stay_exact():
    assert snp.exp(1) is sp.E
    assert snp.sum([1, 2]) == 3 and isinstance(snp.sum([1, 2]), sp.Integer)
    assert snp.sqrt(sp.Integer(8)) == 2 * sp.sqrt(2)
    # a NumPy array that meets anything symbolic is part of the symbolic computation
    x = named_array("x", 2)
    assert isinstance(snp.add(np.array([1.0, 2.0]), x), SymbolicArray)
    assert isinstance(snp.concatenate([np.array([1.0]), x]), SymbolicArray)


def test_logical_functions_evaluate_on_sympy_truth_values():
    t, f = sp.true, sp.false
    assert snp.logical_not(t) is sp.false and snp.logical_not(f) is sp.true
    assert bool(snp.logical_not(t)) is False  # Not(true) unevaluated would be truthy
    assert snp.logical_and(t, f) is sp.false and snp.logical_or(t, f) is sp.true
    assert snp.logical_xor(t, t) is sp.false
    got = snp.logical_not(SymbolicArray([True, False]))
    assert got.tolist() == [sp.false, sp.true]
    assert snp.logical_and(SymbolicArray([True, False]), True).tolist() == [sp.true, sp.false]
    # numbers are true where non-zero, as NumPy's
    assert snp.logical_not(sp.Integer(0)) is sp.true and snp.logical_and(sp.Float(2.5), sp.Integer(1)) is sp.true
    x = named_array("x", ())[()]
    condition = snp.logical_not(x > 0)  # a run-time condition
    assert condition.subs(x, 1) is sp.false and condition.subs(x, -1) is sp.true


def test_logical_functions_evaluate_while_traced():
    f = numpify_func(lambda x: snp.where(snp.logical_not(sp.true), x, -x), 2)
    np.testing.assert_array_equal(f(np.array([1.0, 2.0])), [-1.0, -2.0])


@pytest.mark.parametrize("value, deg", [(0, False), (0.0, True), (sp.Integer(0), False), (-1, False), (1j, True)])
def test_angle_matches_numpy_at_zero_and_elsewhere(value, deg):
    got = snp.angle(sp.sympify(value), deg=deg)
    assert complex(got) == pytest.approx(np.angle(complex(value), deg=deg))
    assert complex(snp.angle(snp.zeros(2))[0]) == 0


def test_angle_at_run_time_is_zero_at_zero():
    f = numpify_func(snp.angle, 3)
    np.testing.assert_allclose(f(np.array([0.0, -2.0, 3.0])), np.angle([0.0, -2.0, 3.0]))


@pytest.mark.parametrize("axis", [None, 0, 1, (0, 1), -1])
@pytest.mark.parametrize("name", ["sum", "prod", "mean"])
def test_reductions(name, axis):
    f = numpify_func(lambda x: getattr(snp, name)(x, axis=axis, keepdims=True), (2, 3))
    x = np.random.default_rng(1).uniform(0.5, 2, (2, 3))
    np.testing.assert_allclose(f(x), getattr(np, name)(x, axis=axis, keepdims=True), rtol=1e-14)


DOT_SHAPES = [((3,), (3,)), ((2, 3), (3,)), ((3,), (3, 2)), ((2, 3), (3, 4)), ((2, 2, 3), (3, 2)), ((2, 3), (4, 3, 2))]


@pytest.mark.parametrize("sa, sb", DOT_SHAPES)
def test_dot_and_matmul_match_numpy(sa, sb):
    rng = np.random.default_rng(2)
    a, b = rng.normal(size=sa), rng.normal(size=sb)
    np.testing.assert_allclose(numpify_func(snp.dot, sa, sb)(a, b), np.dot(a, b), rtol=1e-12, atol=1e-14)
    if len(sa) < 3 or len(sb) < 3:
        try:
            expected = np.matmul(a, b)
        except ValueError:
            with pytest.raises(ShapeError):
                snp.matmul(named_array("a", sa), named_array("b", sb))
        else:
            got = numpify_func(snp.matmul, sa, sb)(a, b)
            np.testing.assert_allclose(got, expected, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(numpify_func(snp.dot, (), sb)(2.0, b), 2.0 * b)


EINSUM = [
    ("ij,jk->ik", [(2, 3), (3, 4)]),
    ("ij,jk", [(2, 3), (3, 2)]),
    ("ii", [(3, 3)]),
    ("ii->i", [(3, 3)]),
    ("ij->ji", [(2, 3)]),
    ("i,j->ij", [(2,), (3,)]),
    ("i,i", [(3,), (3,)]),
    ("...ij,...jk->...ik", [(2, 2, 3), (2, 3, 2)]),
    ("bij,bjk->bik", [(2, 2, 3), (1, 3, 2)]),
    ("ijk->", [(2, 2, 2)]),
    ("i...->...", [(2, 3)]),
]


@pytest.mark.parametrize("spec, shapes", EINSUM, ids=[e[0] for e in EINSUM])
def test_einsum_matches_numpy(spec, shapes):
    rng = np.random.default_rng(3)
    arrays = [rng.normal(size=s) for s in shapes]
    f = numpify_func(lambda *ops: snp.einsum(spec, *ops), *shapes)
    np.testing.assert_allclose(f(*arrays), np.einsum(spec, *arrays), rtol=1e-12, atol=1e-14)


def test_einsum_errors():
    a = named_array("a", (2, 3))
    with pytest.raises(ShapeError):
        snp.einsum("ij,jk", a, a)
    with pytest.raises(ShapeError, match="name 3"):
        snp.einsum("ijk", a)


JOIN = [
    lambda m, a, b: m.concatenate([a, b]),
    lambda m, a, b: m.concatenate([a, b], axis=1),
    lambda m, a, b: m.concatenate((a, b), axis=None),
    lambda m, a, b: m.stack([a, b]),
    lambda m, a, b: m.stack([a, b], axis=-1),
    lambda m, a, b: m.outer(a, b),
    lambda m, a, b: m.reshape(a, (3, 2)),
    lambda m, a, b: m.transpose(a),
]


@pytest.mark.parametrize("fn", JOIN)
def test_joining_and_reshaping_match_numpy(fn):
    """Each case is written once over a module ``m``: run with ``snp`` (traced) and with NumPy."""
    rng = np.random.default_rng(4)
    a, b = rng.normal(size=(2, 3)), rng.normal(size=(2, 3))
    expected = fn(np, a, b)
    got = numpify_func(lambda a, b: fn(snp, a, b), (2, 3), (2, 3))(a, b)
    assert got.shape == expected.shape
    np.testing.assert_array_equal(got, expected)


def test_trace_and_diag_match_numpy():
    rng = np.random.default_rng(5)
    m = rng.normal(size=(3, 3))
    v = rng.normal(size=3)
    np.testing.assert_allclose(numpify_func(snp.trace, (3, 3))(m), np.trace(m))
    np.testing.assert_allclose(numpify_func(lambda m: snp.trace(m, 1), (3, 3))(m), np.trace(m, 1))
    for k in (-1, 0, 2):
        np.testing.assert_allclose(numpify_func(lambda v: snp.diag(v, k), 3)(v), np.diag(v, k))
        np.testing.assert_allclose(numpify_func(lambda m: snp.diag(m, k), (3, 3))(m), np.diag(m, k))
    with pytest.raises(ShapeError):
        snp.trace(named_array("v", 3))


def test_shape_errors():
    with pytest.raises(ShapeError, match=r"\(2,\), \(3,\)"):
        snp.add(named_array("a", 2), named_array("b", 3))
    with pytest.raises(ShapeError):
        snp.concatenate([named_array("a", 2), named_array("b", (2, 2))])


@pytest.mark.parametrize(
    "call",
    [
        lambda x: snp.exp(x, out=x),
        lambda x: snp.add(x, x, where=True),
        lambda x: snp.sum(x, dtype=float),
        lambda x: snp.einsum("i->", x, optimize=True),
        lambda x: snp.where(x > 0, x, 0, out=x),
        lambda x: snp.array(x, copy=True),
        lambda x: snp.concatenate([x, x], out=None),
    ],
)
def test_unsupported_keywords_are_named(call):
    with pytest.raises(UnsupportedFunctionError, match=r"(out|where|dtype|optimize|copy)="):
        call(named_array("x", 2))
