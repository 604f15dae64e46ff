"""`sympile.lambdify`: SymPy's calling convention, structures, dtypes, errors, pickling, safety."""

import linecache
import multiprocessing
import os
import pickle
import subprocess
import sys
import traceback

import numpy as np
import pytest
import sympy as sp
from hypothesis import given, settings
from hypothesis import strategies as st

import sympile
from sympile import ArgumentError, MissingInputError, ShapeError, SympileError, UnsupportedFunctionError, lambdify

x, y, z = sp.symbols("x y z")
finite = st.floats(-10, 10, allow_nan=False)


@settings(max_examples=50)
@given(a=finite, b=finite)
def test_matches_sympy_lambdify(a, b):
    expr = [sp.sin(x) * y**2 + sp.exp(-(x**2)), sp.atan2(y, x) + sp.Abs(x - y)]
    ours = lambdify([x, y], expr)(a, b)
    theirs = sp.lambdify([x, y], expr)(a, b)
    np.testing.assert_allclose(ours, theirs, rtol=1e-13, atol=1e-300)  # sums associate differently


def test_nested_arguments_are_unpacked():
    f = lambdify([x, [y, (z,)]], x + 2 * y + 3 * z)
    assert f(1.0, [2.0, (3.0,)]) == 14.0
    assert f(1.0, np.array([2.0, 3.0])[:1].tolist() + [(3.0,)]) == 14.0
    g = lambdify((x,), x * 2)
    assert g(3.0) == 6.0
    h = lambdify(x, x + 1)
    assert h(1.0) == 2.0


def test_output_structures():
    f = lambdify([x, y], [x, (y, [x * y]), sp.Matrix([[x, y], [1, x * y]])])
    a, (b, (c,)), m = f(2.0, 3.0)
    assert (a, b, c) == (2.0, 3.0, 6.0)
    assert isinstance(m, np.ndarray) and m.shape == (2, 2)
    np.testing.assert_array_equal(m, [[2.0, 3.0], [1.0, 6.0]])
    arr = lambdify([x], sp.Array([[[x, 1], [2, x]], [[x, x], [3, 4]]]))(np.arange(5.0))
    assert arr.shape == (2, 2, 2, 5)
    np.testing.assert_array_equal(arr[1, 1, 0], np.full(5, 3.0))
    imm = lambdify([x], sp.ImmutableMatrix([x, 2 * x]))(1.5)
    assert imm.shape == (2, 1)
    assert lambdify([x], sp.Tuple(x, 2 * x))(1.0) == (1.0, 2.0)


def test_matrix_batch_dimensions_are_last_like_sympy():
    m = sp.Matrix([[x, y], [x * y, x + y]])
    X = np.linspace(0, 1, 7)
    ours = lambdify([x, y], m)(X, 2.0)
    theirs = sp.lambdify([x, y], m)(X, np.full(7, 2.0))
    np.testing.assert_allclose(ours, theirs)


def test_constants_broadcast_to_the_inputs_shape():
    f = lambdify([x, y], [sp.Integer(2), x + 1, sp.pi * y])
    a, b, c = f(np.zeros((3, 1)), np.zeros(4))
    assert a.shape == b.shape == c.shape == (3, 4)
    assert np.all(a == 2)
    a, b, c = f(1.0, 2.0)
    assert a == 2 and b == 2.0


@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.complex64, np.complex128])
def test_dtype_follows_inputs(dtype):
    f = lambdify([x, y], [sp.sin(x) * y + sp.Rational(1, 3), sp.sqrt(x**2 + 1) - 2.5 * y, sp.exp(x) * sp.pi])
    xs = np.linspace(0.1, 1, 4).astype(dtype)
    for out in f(xs, xs):
        assert out.dtype == dtype


def test_integer_inputs_stay_exact_where_numpy_does():
    f = lambdify(x, [x**2, x**3 + 1, x / 2])
    a, b, c = f(np.array([3, 4]))
    assert a.dtype.kind == "i" and a.tolist() == [9, 16]
    assert b.tolist() == [28, 65]
    assert c.tolist() == [1.5, 2.0]
    assert f(3) == [9, 28, 1.5]


def test_scalar_fast_path_agrees_with_numpy_path_and_falls_back():
    expr = sp.sqrt(x) + sp.log(x) + sp.asin(x / 10)
    f = lambdify(x, expr)
    for v in (0.5, 2.0, 7.0):
        assert f(v) == pytest.approx(float(f(np.array([v]))[0]), rel=1e-15)
    with np.errstate(invalid="ignore", divide="ignore"):
        assert np.isnan(f(-1.0))  # math.sqrt raises: the NumPy path answers
        assert f(0.0) == -np.inf
    with np.errstate(over="ignore"):
        assert lambdify(x, sp.exp(x))(1000.0) == np.inf  # OverflowError in math -> NumPy's inf


def test_scalar_path_writes_sums_as_chains():
    """The ``math`` variant writes a long sum left to right (CPython runs it faster); its value
    agrees with the NumPy path's balanced sum to rounding, for random terms."""
    rng = np.random.default_rng(0)
    a, b = rng.uniform(-2, 2, (2, 30))
    expr = sp.Add(*[sp.Float(a[i]) * sp.sin(sp.Float(b[i]) * x + y) for i in range(30)]) * x * y * (x + 2)
    f = lambdify([x, y], expr)
    for _ in range(20):
        p, q = rng.normal(size=2)
        want = float(expr.evalf(30, subs={x: sp.Float(p, 30), y: sp.Float(q, 30)}))
        assert f(float(p), float(q)) == pytest.approx(want, rel=1e-12, abs=1e-12)
        assert f(float(p), float(q)) == pytest.approx(float(f(np.array([p]), np.array([q]))[0]), rel=1e-12, abs=1e-12)


def test_scalar_entry_counts_arguments_without_a_tuple():
    f = lambdify([x, y], x * y + 1)
    assert f(2.0, 3.0) == 7.0
    with pytest.raises(ArgumentError, match="takes 2 argument"):
        f(2.0)
    with pytest.raises(ArgumentError, match="takes 2 argument"):
        f(2.0, 3.0, 4.0)
    with pytest.raises(ArgumentError, match="takes 2 argument"):
        f()
    with pytest.raises(TypeError):
        f(a0=2.0, a1=3.0)  # the generated parameter names are not keywords
    g = lambdify([], sp.Float(2.5) + sp.pi)
    assert g() == pytest.approx(2.5 + np.pi)
    with pytest.raises(ArgumentError, match="takes 0 argument"):
        g(1.0)


def _state_model(n: int = 6):
    """A small ODE-like model: a state vector, parameters, a Matrix and a vector output (a list
    of matrices, as `KanesMethod` gives) with constant entries and entries that ignore inputs."""
    q, p = sp.symbols(f"q:{n}"), sp.symbols("p:3")
    m = sp.Matrix(n, n, lambda i, j: p[0] * sp.cos(q[i] - q[j]) if abs(i - j) <= 1 else 0)
    f = sp.Matrix([p[1] * sp.sin(q[i]) + p[2] * q[(i + 1) % n] ** 2 for i in range(n)])
    return q, p, [m, f, sp.Integer(3), p[0] * p[1]]


def _sympy_reference(q, p, exprs, qv, pv):
    """The model's values at one point from SymPy at 30 digits (independent of any backend)."""
    at = {**{s: sp.Float(float(v), 30) for s, v in zip(q, qv)}, **{s: sp.Float(float(v), 30) for s, v in zip(p, pv)}}
    return [
        np.array(e.evalf(30, subs=at), dtype=float) if isinstance(e, sp.MatrixBase) else float(e.evalf(30, subs=at))
        for e in exprs
    ]


@pytest.mark.parametrize(
    "kind",
    ["floats", "float64 vectors", "float64 scalars", "0-d arrays", "lists of numpy scalars", "tuples"],
)
def test_one_point_of_every_argument_kind_takes_the_scalar_path(kind):
    """One point as the solvers and users pass it gives the same values as Python floats, as
    SymPy at 30 digits, and Python numbers (the ``math`` path) rather than NumPy scalars."""
    q, p, exprs = _state_model()
    rng = np.random.default_rng(7)
    qv, pv = rng.normal(size=len(q)), rng.uniform(0.5, 2, size=len(p))
    nested = lambdify([q, p], exprs)
    flat = lambdify([*q, *p], exprs)
    args = {
        "floats": (qv.tolist(), pv.tolist()),
        "float64 vectors": (qv, pv),
        "float64 scalars": ([np.float64(v) for v in qv], [np.float64(v) for v in pv]),
        "0-d arrays": ([np.array(v) for v in qv], [np.array(v) for v in pv]),
        "lists of numpy scalars": (list(qv), list(pv)),
        "tuples": (tuple(qv.tolist()), tuple(pv)),
    }[kind]
    want = _sympy_reference(q, p, exprs, qv, pv)
    for got in (nested(*args), flat(*args[0], *args[1])):
        m, f, c, pp = got
        np.testing.assert_allclose(m, want[0], rtol=1e-13, atol=1e-15)
        np.testing.assert_allclose(f, want[1], rtol=1e-13, atol=1e-15)
        assert c == 3 and pp == pytest.approx(want[3], rel=1e-14)
        assert type(pp) is float  # the math path: Python numbers, not NumPy scalars
        assert m.dtype == np.float64 and m.shape == (len(q), len(q)) and f.shape == (len(q), 1)


def test_state_vectors_of_other_kinds_take_the_numpy_path_and_keep_its_rules():
    q, p, exprs = _state_model()
    f = lambdify([q, p], exprs)
    rng = np.random.default_rng(8)
    qv, pv = rng.normal(size=len(q)), rng.uniform(0.5, 2, size=len(p))
    m32, f32, _, pp32 = f(qv.astype(np.float32), pv.astype(np.float32))
    assert m32.dtype == f32.dtype == np.float32 and pp32.dtype == np.float32
    m64, *_ = f(qv, pv)
    np.testing.assert_allclose(m32, m64, rtol=2e-6, atol=1e-6)
    # arrays of points: batch dimensions last, each column the one-point value
    Q, P = rng.normal(size=(len(q), 5)), pv[:, None]
    mb, fb, cb, ppb = f(Q, P)
    assert mb.shape == (len(q), len(q), 5) and fb.shape == (len(q), 1, 5)
    assert cb.shape == ppb.shape == (5,) and np.all(cb == 3)
    for j in range(5):
        mj, fj, _, _ = f(Q[:, j], pv)
        np.testing.assert_allclose(mb[..., j], mj, rtol=1e-14)
        np.testing.assert_allclose(fb[..., j], fj, rtol=1e-14)
    # booleans and integer vectors are not float64 points: NumPy's rules (integer powers stay exact)
    g = lambdify([[x, y]], [x**3, x * y])
    assert g(np.array([3, 4]))[0] == 27 and g(np.array([3, 4]))[0].dtype.kind == "i"
    assert g([True, 2.0])[1] == 2.0


def test_deeper_nesting_takes_the_point_path_from_lists_and_arrays():
    w, t = sp.symbols("w t")
    f = lambdify([[[x, y], [z, w]], t], [x * y - z * t, sp.Matrix([[x, 0], [0, w]])])
    for arg in ([[1.5, 2.0], [3.0, 4.0]], np.array([[1.5, 2.0], [3.0, 4.0]]), ((1.5, np.float64(2.0)), [3.0, 4.0])):
        v, m = f(arg, 0.5)
        assert v == 1.5 and type(v) is float
        np.testing.assert_array_equal(m, [[1.5, 0], [0, 4.0]])
    v, m = f(np.array([[[1.0, 2.0], [2.0, 2.0]], [[3.0, 3.0], [1.0, 2.0]]]), 2.0)
    np.testing.assert_array_equal(v, [-4.0, -2.0])  # x = [1, 2], y = [2, 2], z = [3, 3], t = 2
    assert m.shape == (2, 2, 2)
    np.testing.assert_array_equal(m[1, 1], [1.0, 2.0])


def test_sparse_matrix_outputs_fill_a_template():
    """A Jacobian-like output with many constant entries is one template filled in: the same
    values, shapes and dtypes as stacking every entry, at one point and over arrays of points."""
    n = 12
    v = sp.symbols(f"v:{n}")
    jac = sp.Matrix(
        n, n, lambda i, j: sp.sin(v[i]) * v[j] if j in (i, (i + 1) % n) else (sp.Rational(1, 3) if i == j + 3 else 0)
    )
    f = lambdify([v], jac)
    assert "_filled(" in f.source
    rng = np.random.default_rng(9)
    point = rng.normal(size=n)
    at = {s: sp.Float(float(t), 30) for s, t in zip(v, point)}
    want = np.array(jac.evalf(30, subs=at), dtype=float)
    np.testing.assert_allclose(f(point), want, rtol=1e-14)
    np.testing.assert_allclose(f(*[point]), want, rtol=1e-14)
    batch = rng.normal(size=(n, 4))
    out = f(batch)
    assert out.shape == (n, n, 4) and out.dtype == np.float64
    for j in range(4):
        np.testing.assert_allclose(out[..., j], f(batch[:, j]), rtol=1e-14)
    assert f(batch.astype(np.float32)).dtype == np.float32
    assert f(batch.astype(np.complex128)).dtype == np.complex128
    ints = lambdify([v], sp.Matrix(n, n, lambda i, j: v[i] if i == j else 0))(np.arange(n))
    assert ints.dtype.kind == "i" and np.array_equal(ints, np.diag(np.arange(n)))


def test_outputs_that_ignore_inputs_broadcast_once_per_call():
    """Outputs that ignore some inputs are broadcast to the inputs' shape and dtype: the shape
    and dtype are worked out once per call (``_common``), not once per output."""
    n = 30
    s = sp.symbols(f"s:{n}")
    f = lambdify([s], [s[k] * 2 for k in range(n)])
    assert f.source.count("_common(") == 1
    rng = np.random.default_rng(10)
    cols = [rng.normal(size=(4, 1)) if k % 2 else rng.normal(size=5).astype(np.float32) for k in range(n)]
    outs = f(cols)
    assert all(o.shape == (4, 5) and o.dtype == np.float64 for o in outs)
    for k in range(n):
        np.testing.assert_allclose(outs[k], np.broadcast_to(2 * cols[k], (4, 5)), rtol=1e-7)


def test_source_is_kept_and_in_linecache():
    f = lambdify([x, y], sp.sin(x) / y)
    assert "def _f" in f.source
    with np.errstate(divide="raise"):
        try:
            f(np.array([1.0]), np.array([0.0]))
        except FloatingPointError:
            tb = traceback.format_exc()
    assert "np.sin" in tb  # the generated line is shown in the traceback
    filenames = [k for k in linecache.cache if k.startswith("<sympile-")]
    assert filenames


def test_attributes():
    f = lambdify([x, [y]], [x + y])
    assert f.args == [x, [y]]
    assert f.expr == [x + y]
    assert isinstance(f.graph, sympile.Graph)
    assert "sympile function" in repr(f)


@pytest.mark.parametrize("name", ["__import__('os').system('touch /tmp/sympile-pwned')", "lambda", "x[0]", "import os"])
def test_symbol_names_never_reach_the_code(name):
    s = sp.Symbol(name)
    t = sp.Symbol(name + "_2")
    f = lambdify([s, t], s * 2 + sp.sin(t))
    assert name not in f.source
    assert f(1.0, 0.0) == 2.0
    assert f(np.array([1.0]), np.array([0.0]))[0] == 2.0
    assert not os.path.exists("/tmp/sympile-pwned")


@pytest.mark.parametrize("names", [("a1", "a0"), ("_f", "np"), ("_f_numpy", "_k0")])
def test_names_like_generated_identifiers_do_not_collide(names):
    s, t = map(sp.Symbol, names)
    f = lambdify([s, t], s - 2 * t)
    assert f(5.0, 1.0) == 3.0
    assert f(np.array([5.0]), np.array([1.0]))[0] == 3.0


def test_strings_are_refused():
    with pytest.raises(SympileError, match="never evaluates text"):
        lambdify([x], "x + 1")
    with pytest.raises(SympileError):
        lambdify("x", x + 1)


def test_missing_symbol_is_named_at_build_time():
    with pytest.raises(MissingInputError, match=r"uses y.*\(x\)") as e:
        lambdify([x], x + y)
    assert isinstance(e.value, KeyError)


def test_wrong_number_of_arguments():
    f = lambdify([x, y], x + y)
    with pytest.raises(ArgumentError, match=r"takes 2 argument\(s\) \(x, y\), but 3 were given"):
        f(1.0, 2.0, 3.0)
    with pytest.raises(ArgumentError, match="but 1 were given"):
        f(np.ones(3))
    assert isinstance(ArgumentError("x"), TypeError)


def test_wrong_nesting():
    f = lambdify([x, [y, z]], x + y + z)
    with pytest.raises(ArgumentError, match="sequence of 2"):
        f(1.0, [2.0])
    with pytest.raises(ArgumentError, match="sequence of 2"):
        f(1.0, 2.0)


def test_arrays_that_do_not_broadcast():
    f = lambdify([x, y], sp.sin(x) * y)
    with pytest.raises(ShapeError, match=r"x: \(3,\), y: \(4,\)"):
        f(np.ones(3), np.ones(4))
    assert isinstance(ShapeError("x"), ValueError)


def test_unsupported_function_names_the_extra_funcs_entry():
    f = sp.Function("myfunc")
    with pytest.raises(UnsupportedFunctionError, match=r"extra_funcs=\{sympy.Function\('myfunc'\): <callable>\}"):
        lambdify([x], f(x) + 1)
    with pytest.raises(UnsupportedFunctionError, match=r"\.doit\(\)"):
        lambdify([x], sp.Integral(x, (x, 0, 1)) + sp.Derivative(sp.Function("g")(x), x))
    with pytest.raises(UnsupportedFunctionError, match="fresnels"):
        lambdify([x], sp.fresnels(x))


def test_extra_funcs_add_and_override():
    f = sp.Function("f")
    g = lambdify([x], f(x) + 1, extra_funcs={f: np.square})
    assert g(3.0) == 10.0
    assert lambdify([x], f(x), extra_funcs={"f": np.negative})(2.0) == -2.0
    # override a built-in translation
    h = lambdify([x], sp.sin(x), extra_funcs={sp.sin: lambda v: v * 0 + 42.0})
    assert h(1.0) == 42.0
    with pytest.raises(SympileError, match="callable"):
        lambdify([x], f(x), extra_funcs={f: 3})
    # user functions are passed by reference, never written into the source
    assert "square" not in g.source


def test_sympy_modules_argument_is_accepted():
    f = lambdify([x], sp.sin(x), modules="math")
    assert f(0.5) == pytest.approx(np.sin(0.5))
    f = lambdify([x], sp.Function("q")(x), modules=[{"q": np.cos}, "numpy"])
    assert f(0.0) == 1.0
    assert lambdify([x], x + 1, cse=True, dummify=True)(1.0) == 2.0


def test_applied_functions_as_arguments():
    t = sp.Symbol("t")
    u = sp.Function("u")(t)
    f = lambdify([u, t], u**2 + t)
    assert f(3.0, 1.0) == 10.0


def test_duplicate_arguments_are_refused():
    with pytest.raises(SympileError, match="twice"):
        lambdify([x, x], x)


def test_unknown_backend():
    with pytest.raises(SympileError, match="unknown backend 'fortran'"):
        lambdify([x], x, backend="fortran")


def test_deep_nesting_compiles():
    e = x
    for _ in range(5000):
        e = sp.sin(e, evaluate=False)
    f = lambdify(x, e)
    expected = 0.3
    for _ in range(5000):
        expected = np.sin(expected)
    assert f(0.3) == pytest.approx(expected, rel=1e-12)
    np.testing.assert_allclose(f(np.array([0.3, 0.3])), expected, rtol=1e-12)


def _unevaluated_term(a, b, c):
    """``a*cos(b*x + c*y)`` built as it prints, without SymPy's evaluation: evaluating 12,500
    such terms costs far more than compiling their sum."""
    arg = sp.Add(sp.Mul(sp.Float(b), x, evaluate=False), sp.Mul(sp.Float(c), y, evaluate=False), evaluate=False)
    return sp.Mul(sp.Float(a), sp.cos(arg, evaluate=False), evaluate=False)


def test_wide_sum_of_100000_nodes_compiles():
    rng = np.random.default_rng(0)
    c = rng.uniform(-1, 1, (3, 12500))
    expr = sp.Add(*[_unevaluated_term(*c[:, i]) for i in range(12500)], evaluate=False)
    assert sum(1 for _ in sp.preorder_traversal(expr)) > 100_000
    f = lambdify([x, y], expr)
    X = rng.uniform(-1, 1, 3)
    ref = sum(c[0, i] * np.cos(c[1, i] * X + c[2, i] * 0.5) for i in range(12500))
    np.testing.assert_allclose(f(X, 0.5), ref, rtol=1e-10, atol=1e-10)
    assert f(float(X[0]), 0.5) == pytest.approx(ref[0], rel=1e-10, abs=1e-10)
    assert max(len(line) for line in f.source.splitlines()) < 5000


def test_large_inputs_are_blocked_but_identical():
    expr = [sp.sin(x) * sp.exp(-y) + sp.sqrt(x**2 + y**2) * sp.cos(x * y) + sp.tanh(x - y) ** 3, sp.Integer(7), x]
    f = lambdify([x, y], expr)
    rng = np.random.default_rng(0)
    X = rng.uniform(-2, 2, (70001,))
    Y = rng.uniform(-2, 2, (1,))
    big = f(X, Y)
    small = [f(X[i : i + 1000], Y) for i in range(0, 70001, 1000)]
    for k in range(3):
        np.testing.assert_array_equal(big[k], np.concatenate([s[k] for s in small]))
    assert big[1].shape == (70001,) and big[1].dtype == np.float64


def test_pickle_round_trip_in_process():
    f = lambdify([x, [y]], [sp.besselj(1, x) * y, sp.Matrix([x, 1])])
    g = pickle.loads(pickle.dumps(f))
    np.testing.assert_allclose(g(1.0, [2.0])[0], f(1.0, [2.0])[0])
    assert g.expr[0] == f.expr[0]


def test_pickle_in_a_fresh_interpreter(tmp_path):
    f = lambdify([x, y], [sp.gamma(x) + sp.Piecewise((y, y > 0), (-y, True)), sp.Matrix([[x, y]])])
    path = tmp_path / "f.pkl"
    path.write_bytes(pickle.dumps(f))
    code = (
        "import pickle, sys, numpy as np\n"
        f"f = pickle.load(open({str(path)!r}, 'rb'))\n"
        "a, m = f(np.array([1.5, 2.5]), np.array([-1.0, 2.0]))\n"
        "print(repr(a.tolist()), m.shape)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    a, m = f(np.array([1.5, 2.5]), np.array([-1.0, 2.0]))
    assert out.strip() == f"{a.tolist()!r} {m.shape}"


def test_pickling_a_lambda_in_extra_funcs_says_it_must_be_importable():
    import copy
    import math

    f = sp.Function("f")
    g = lambdify([x], f(x) + 1, extra_funcs={f: lambda v: 2 * v})
    with pytest.raises(SympileError, match="extra_funcs entry f is '.*<lambda>'.*def at the top level of a module"):
        pickle.dumps(g)
    assert copy.deepcopy(g)(3.0) == 7.0  # copying needs no pickling
    h = lambdify([x], f(x) + 1, extra_funcs={f: math.erf})  # importable by name: pickles
    assert pickle.loads(pickle.dumps(h))(0.5) == h(0.5)


def _apply(args):
    f, v = args
    return f(v)


def test_spawn_workers():
    f = lambdify(x, sp.erf(x) * sp.sin(x) ** 2)
    ctx = multiprocessing.get_context("spawn")
    with ctx.Pool(2) as pool:
        got = pool.map(_apply, [(f, v) for v in (0.1, 0.5, 2.0)])
    assert got == [f(v) for v in (0.1, 0.5, 2.0)]


def test_rebuilding_the_same_function_is_cached():
    from sympile._functions import lambdify as _lambdify

    expr = sp.sin(x) * sp.cos(y) + sp.Symbol("w") ** 3
    f = lambdify([x, y, sp.Symbol("w")], expr)
    g = lambdify([x, y, sp.Symbol("w")], expr)
    assert f.built is g.built
    assert len(_lambdify._CACHE) <= _lambdify._CACHE.size
