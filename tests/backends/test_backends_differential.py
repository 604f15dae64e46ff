"""The foundation's per-op and differential tests, run against the C and PyTensor backends.

Every case of tests/test_ops.py: values against SymPy at 30 digits (one point, Python floats),
arrays against the NumPy backend, float32 in float32 out, and the derivative graphs against
`sympy.diff`. A case a backend cannot compute by design must raise UnsupportedFunctionError;
the sets below say which, so a backend can neither fail silently nor drop a case unnoticed.
Then random expressions from tests/test_differential.py, against SymPy and the NumPy backend.
"""

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

BACKENDS = ["c", "pytensor"]

#: Cases outside what a backend computes, by design (each raises UnsupportedFunctionError).
UNSUPPORTED = {
    # C has no erfinv, polygamma, LambertW or non-integer Bessel orders, and computes in real arithmetic.
    "c": {"erfinv", "polygamma", "lambertw", "lambertw_branch", "besselj", "re_im", "arg", "complex"},
    "pytensor": {"lambertw", "lambertw_branch", "bessely"},
}
IDS = [c[0] for c in CASES]


pytestmark = pytest.mark.usefixtures("kernel_cache")


@pytest.fixture(autouse=True, scope="module")
def _pytensor_fast_compile():
    """The graphs are what is tested here; FAST_COMPILE spares compiling C for each of them
    (tests/test_pytensor.py runs PyTensor's default mode)."""
    try:
        import pytensor
    except ImportError:
        yield
        return
    mode = pytensor.config.mode
    pytensor.config.mode = "FAST_COMPILE"
    yield
    pytensor.config.mode = mode


def _backend(name):
    if name == "pytensor":
        require("pytensor")
    return name


_BUILT: dict = {}


def _function(case, backend):
    """The case compiled for ``backend``, or None when the backend rejects it (as it must)."""
    key = (case[0], backend)
    if key not in _BUILT:
        syms = _symbols(case[1])
        try:
            _BUILT[key] = lambdify(syms, case[1], backend=backend)
        except UnsupportedFunctionError:
            _BUILT[key] = None
    f = _BUILT[key]
    assert (f is None) == (case[0] in UNSUPPORTED[backend]), f"{case[0]} on {backend}: supported? {f is not None}"
    return f


def _points(case, n, seed):
    rng = np.random.default_rng(seed)
    uv = rng.uniform(0, 1, (n, 2))
    pts = np.array([_at(case, u, v) for u, v in uv])
    return pts[:, 0], pts[:, 1]


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("case", CASES, ids=IDS)
@settings(max_examples=10)
@given(uv=st.tuples(st.floats(0, 1), st.floats(0, 1)))
def test_value_matches_sympy(case, backend, uv):
    f = _function(case, _backend(backend))
    if f is None:
        return
    syms = _symbols(case[1])
    pt = [*_at(case, *uv), *[1.7] * (len(syms) - 2)]
    with np.errstate(all="ignore"):
        value = f(*pt)
    reference_graph = lambdify(syms, case[1]).graph
    assert_close_to_reference(case[1], syms, pt, value, graph=reference_graph)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_arrays_match_numpy_backend(case, backend):
    f = _function(case, _backend(backend))
    if f is None:
        return
    syms = _symbols(case[1])
    xs, ys = _points(case, 257, seed=len(case[0]))
    extra = [np.full(xs.shape, 1.7)] * (len(syms) - 2)
    with np.errstate(all="ignore"):
        got = np.asarray(f(xs, ys, *extra))
        want = np.asarray(lambdify(syms, case[1])(xs, ys, *extra))
    assert got.shape == want.shape and got.dtype == want.dtype
    # SIMD math libraries are accurate to a few ulps, not to half of one.
    np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-13, equal_nan=True)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_float32_in_float32_out(case, backend):
    f = _function(case, _backend(backend))
    if f is None:
        return
    syms = _symbols(case[1])
    xs, ys = _points(case, 33, seed=1)
    args = [xs.astype(np.float32), ys.astype(np.float32), *[np.full(33, 1.7, np.float32)] * (len(syms) - 2)]
    with np.errstate(all="ignore"):
        got = f(*args)
        want = lambdify(syms, case[1])(*[a.astype(np.float64) for a in args])
    assert got.dtype == np.float32, got.dtype
    finite = np.isfinite(want) & (np.abs(want) < 1e30)
    # float32 rounding of the inputs already moves the result by a few float32 ulps times the condition number
    np.testing.assert_allclose(got[finite], want[finite], rtol=2e-3, atol=2e-4)


DIFFERENTIABLE = [c for c in CASES if c[0] not in ("logic", "ite", "compare")]


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("case", DIFFERENTIABLE, ids=[c[0] for c in DIFFERENTIABLE])
@settings(max_examples=5)
@given(uv=st.tuples(st.floats(0, 1), st.floats(0, 1)))
def test_derivative_graph_matches_sympy_diff(case, backend, uv):
    expr = case[1]
    syms = _symbols(expr)
    pt = [*_at(case, *uv), *[1.7] * (len(syms) - 2)]
    grad = grad_graph(lower([expr], syms), [0, 1])
    args = ("list", [("leaf", i) for i in range(len(syms))])
    key = (case[0], backend, "grad")
    if key not in _BUILT:
        try:
            _BUILT[key] = LambdifiedFunction(grad, _backend(backend), {}, args, ("list", [("leaf", 0), ("leaf", 1)]))
        except UnsupportedFunctionError:
            _BUILT[key] = None
    f = _BUILT[key]
    if f is None:  # the derivative needs an op the backend lacks (polygamma for gamma's)
        numpy_f = LambdifiedFunction(grad, "numpy", {}, args, ("list", [("leaf", 0), ("leaf", 1)]))
        assert case[0] in UNSUPPORTED[backend] or any(n.op == "polygamma" for n in numpy_f.graph.nodes)
        return
    with np.errstate(all="ignore"):
        values = f(*pt)
    for k, s in enumerate(syms[:2]):
        one = grad.with_outputs([grad.outputs[k]]).pruned()
        assert_close_to_reference(sp.diff(expr, s), syms, pt, values[k], rel=1e-11, graph=one)


# -- random expressions ---------------------------------------------------------------------------

from random_expressions import SYMBOLS, expressions, points  # noqa: E402


def _supported(expr, backend):
    try:
        return lambdify(SYMBOLS, expr, backend=backend)
    except UnsupportedFunctionError:
        return None


@pytest.mark.parametrize("backend", BACKENDS)
@settings(max_examples=25)
@given(data=st.data())
def test_random_expressions_match_sympy_and_numpy(backend, data):
    expr = data.draw(expressions())
    point = data.draw(points)
    f = _supported(expr, _backend(backend))
    if f is None:
        return
    rng = np.random.default_rng(len(str(expr)))
    batch = [rng.uniform(-3, 3, 64) for _ in SYMBOLS]
    with np.errstate(all="ignore"):
        value = f(*point)
        got = np.broadcast_to(f(*batch), (64,))
        want = np.broadcast_to(lambdify(SYMBOLS, expr)(*batch), (64,))
    assert_close_to_reference(expr, SYMBOLS, point, value, graph=lambdify(SYMBOLS, expr).graph)
    close = np.isclose(got, want, rtol=1e-9, atol=1e-12, equal_nan=True)
    # where the two disagree, the value must be ill-conditioned there: check against SymPy
    for k in np.flatnonzero(~close)[:3]:
        pt = [float(b[k]) for b in batch]
        assert_close_to_reference(expr, SYMBOLS, pt, got[k], graph=lambdify(SYMBOLS, expr).graph)
