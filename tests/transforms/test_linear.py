"""Linear blocks (sympile._transforms.linear) and the one-point paths that use them: the C backend's
matrix products, numpify's C entry point, and the preaccumulating forward mode of Hessians.

Values are checked against the NumPy backend (the graph as it is, term by term) and finite
differences, on fresh random data.
"""

import numpy as np
import pytest
import sympy as sp
from helpers import _graph_function

import sympile
import sympile.numpy as snp
from sympile import ShapeError
from sympile._core.graph import Builder
from sympile._core.tuning import LINEAR_MIN_ROWS, LINEAR_MIN_TERMS
from sympile._transforms.ad import forward, hessian_nodes, reverse
from sympile._transforms.fold import fold_constants
from sympile._transforms.linear import blocks_of, linear_blocks

pytestmark = pytest.mark.usefixtures("kernel_cache")


def _data(seed, n_points=12, dim=5):
    rng = np.random.default_rng(seed)
    return rng.normal(size=(n_points, dim)), (rng.uniform(size=n_points) > 0.5).astype(float)


def _logistic(data, labels):
    def log_density(w):
        z = data @ w
        return snp.sum(labels * z - snp.log1p(snp.exp(z))) - 0.5 * (w @ w)

    return log_density


def _exact_hessian(data, w):
    z = data @ w
    s = 1 / (1 + np.exp(-z))
    return -(data.T * (s * (1 - s))) @ data - np.eye(len(w))


def test_rows_over_the_same_values_form_one_block():
    xs = sp.symbols("x:6")
    rng = np.random.default_rng(1)
    u = [sp.sin(v) for v in xs]
    rows = [sum(sp.Float(rng.normal()) * ui for ui in u) + sp.Float(rng.normal()) for _ in range(7)]
    graph = fold_constants(sympile.lower(rows, list(xs)))
    lin = linear_blocks(graph)
    blocks = blocks_of(lin)
    assert len(blocks) == 1
    (block,) = blocks
    assert len(block.roots) == 7 and len(block.bases) == 6
    assert sum(1 for n in lin.nodes if n.op == "matvec") == 1
    # the coefficients and offsets are SymPy's numbers
    point = dict(zip(xs, rng.normal(size=6)))
    base_values = [float(sp.sin(point[xs[graph.nodes[graph.nodes[b].args[0]].attr]])) for b in block.bases]
    got = np.array(block.offsets) + np.array(block.coefficients).T @ np.array(base_values)
    want = [float(r.subs(point)) for r in rows]
    np.testing.assert_allclose(got, want, rtol=1e-13)


def test_small_or_unlike_sums_stay_as_they_are():
    xs = sp.symbols("x:6")
    few_terms = [
        sum(sp.Float(k + j + 1) * sp.sin(v) for j, v in enumerate(xs[: LINEAR_MIN_TERMS - 1])) for k in range(6)
    ]
    few_rows = [sum(sp.Float(k + j + 1) * sp.sin(v) for j, v in enumerate(xs)) for k in range(LINEAR_MIN_ROWS - 1)]
    for rows in (few_terms, few_rows):
        graph = fold_constants(sympile.lower(rows, list(xs)))
        assert linear_blocks(graph) is graph


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_c_point_with_blocks_matches_the_numpy_backend(seed):
    """A gradient over data has the blocks; the C one-point body computes them as matrix products."""
    rng = np.random.default_rng(seed)
    xs = sp.symbols("x:4")
    a = rng.normal(size=(9, 4))
    z = [sum(sp.Float(a[i, j]) * xs[j] for j in range(4)) for i in range(9)]
    f = sum(sp.log(1 + sp.exp(zi)) for zi in z) + sum(v**2 for v in xs)
    grad = [sp.diff(f, v) for v in xs]
    graph = fold_constants(sympile.lower(grad, list(xs)))
    assert blocks_of(linear_blocks(graph)), "the test expression should have a linear block"
    f_c = sympile.lambdify(list(xs), grad, backend="c")
    f_np = sympile.lambdify(list(xs), grad)
    for _ in range(5):
        p = rng.normal(size=4).tolist()
        np.testing.assert_allclose(f_c(*p), f_np(*p), rtol=1e-12, atol=1e-14)
        # the loop over points (no blocks there) agrees with the one-point body
        arrays = [np.array([v, v]) for v in p]
        np.testing.assert_allclose(np.array(f_c(*arrays))[:, 0], f_c(*p), rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("seed", [3, 4])
def test_logistic_hessian_through_c_is_exact_to_rounding(seed):
    data, labels = _data(seed)
    h = sympile.hessian(_logistic(data, labels), (5,), backend="c")
    h_np = sympile.hessian(_logistic(data, labels), (5,))
    w = np.random.default_rng(seed + 10).normal(size=5)
    got = h(w)
    assert type(got) is np.ndarray and got.shape == (5, 5) and got.dtype == np.float64
    np.testing.assert_allclose(got, _exact_hessian(data, w), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(got, h_np(w), rtol=1e-12, atol=1e-12)
    np.testing.assert_array_equal(got, got.T)


@pytest.mark.parametrize("backend", ["numpy", "c"])
def test_one_point_hessians_stay_finite_in_the_tails(backend):
    """With ``|z|`` up to 700, ``exp(z)**2`` overflows while the graph's ``e * (e * q)`` is
    finite (``q`` underflows to 0): neither the blocks nor the scalar code may regroup it into
    ``inf * 0 = nan``. The graph evaluated over arrays is the reference."""
    data, labels = _data(13)
    h = sympile.hessian(_logistic(data, labels), (5,), backend=backend)
    reference = _graph_function(h.graph, list(h.graph.outputs))
    w0 = np.random.default_rng(14).normal(size=5)
    for top in (40.0, 400.0, 700.0):
        w = w0 * (top / np.abs(data @ w0).max())
        with np.errstate(over="ignore", under="ignore", invalid="ignore"):
            want = np.array([v[0] for v in reference(*[np.array([c]) for c in w])]).reshape(5, 5)
            got = h(w)
        assert np.isfinite(want).all()
        np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12)
        if top < 500:  # beyond, the derivative's own formula loses s'(z) (q / (1 + e) underflows)
            np.testing.assert_allclose(got, _exact_hessian(data, w), rtol=1e-9, atol=1e-12)


def test_numpy_scalar_path_uses_matrix_products_for_large_blocks():
    from sympile._arrays.derive import derive
    from sympile._arrays.numpify import NumpifiedFunction
    from sympile._arrays.tracing import trace

    data, labels = _data(15)
    # written out point by point (traced without the data axis, which compiles it as a data sum)
    h = NumpifiedFunction(derive(trace(_logistic(data, labels), [(5,)]), "hessian").main, "numpy")
    assert "_matvec(" in h.source
    w = np.random.default_rng(16).normal(size=5)
    np.testing.assert_allclose(h(w), _exact_hessian(data, w), rtol=1e-12, atol=1e-12)
    small = sympile.hessian(lambda v: snp.sum(snp.sin(v)) * v[0], (3,))
    assert "_matvec(" not in small.source


def test_c_entry_point_takes_what_numpify_takes():
    """The library reads float64 arrays itself; everything else goes the slow way, with the
    same answers and the same errors."""
    data, labels = _data(5)
    h = sympile.hessian(_logistic(data, labels), (5,), backend="c")
    w = np.random.default_rng(6).normal(size=5)
    want = _exact_hessian(data, w)
    for arg in (w, w.tolist(), tuple(w), np.repeat(w, 2)[::2], w.astype(">f8")):
        np.testing.assert_allclose(h(arg), want, rtol=1e-12, atol=1e-12)
    low = h(w.astype(np.float32))
    assert low.dtype == np.float32
    np.testing.assert_allclose(low, want, rtol=1e-5, atol=1e-5)
    with pytest.raises(ShapeError, match="shape"):
        h(np.ones(4))
    with pytest.raises(ShapeError, match="shape"):
        h(np.ones((5, 1)))
    with pytest.raises(sympile.ArgumentError):
        h()
    with pytest.raises(sympile.ArgumentError):
        h(w, w)


def test_c_entry_point_with_scalars_and_matrices():
    def fn(m, s, v):
        return snp.sum((m @ v) ** 2) * s + snp.sum(snp.sin(v))

    g_c = sympile.grad(fn, (3, 3), (), (3,), wrt=2, backend="c")
    g_np = sympile.grad(fn, (3, 3), (), (3,), wrt=2)
    rng = np.random.default_rng(7)
    m, v = rng.normal(size=(3, 3)), rng.normal(size=3)
    np.testing.assert_allclose(g_c(m, 1.5, v), g_np(m, 1.5, v), rtol=1e-13)
    np.testing.assert_allclose(g_c(np.asfortranarray(m), 2, v), g_np(m, 2.0, v), rtol=1e-13)


def _plain_and_preaccumulated(fn, n):
    traced = sympile.numpify_func(fn, (n,)).graph
    sizes = []
    for pre in (False, True):
        b = Builder(traced)
        xs = [b.node("input", (), k) for k in range(n)]
        one = b.const(1)
        g = reverse(b, [traced.outputs[0]], [one], xs)
        cols = [forward(b, [w], [one], g[: k + 1], preaccumulate=pre) for k, w in enumerate(xs)]
        outs = [c for col in cols for c in col]
        graph = b.graph(outs, traced.inputs).pruned()
        sizes.append((graph, sum(1 for node in graph.nodes if node.args)))
    return sizes


def test_preaccumulation_shrinks_a_data_hessian_and_keeps_its_values():
    data, labels = _data(8, n_points=15, dim=6)
    (plain, n_plain), (pre, n_pre) = _plain_and_preaccumulated(_logistic(data, labels), 6)
    assert n_pre < 0.8 * n_plain
    rng = np.random.default_rng(9)
    a = _graph_function(plain, list(plain.outputs))
    b = _graph_function(pre, list(pre.outputs))
    for _ in range(3):
        w = rng.normal(size=6).tolist()
        np.testing.assert_allclose(np.array(b(*w), float), np.array(a(*w), float), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize(
    "fn",
    [
        lambda v: snp.sin(v[0] * v[1]) * snp.exp(v[2]) + v[0] ** 3 * v[2],
        lambda v: snp.sum(snp.tanh(v) * snp.cos(v[::-1])) + snp.sqrt(1 + v @ v),
        lambda v: snp.where(v[0] > 0, v[0] ** 2 * v[1], snp.sin(v[1] * v[2])),
    ],
)
def test_preaccumulated_hessians_match_finite_differences(fn):
    h = sympile.hessian(fn, (3,))
    grad = sympile.grad(fn, (3,))
    rng = np.random.default_rng(11)
    for _ in range(3):
        x = rng.normal(size=3)
        eps = 1e-6
        fd = np.array([(grad(x + eps * e) - grad(x - eps * e)) / (2 * eps) for e in np.eye(3)])
        np.testing.assert_allclose(h(x), fd, rtol=1e-6, atol=1e-6)


def test_hessian_nodes_are_symmetric():
    data, labels = _data(12, dim=4)
    traced = sympile.numpify_func(_logistic(data, labels), (4,)).graph
    b = Builder(traced)
    xs = [b.node("input", (), k) for k in range(4)]
    H, _ = hessian_nodes(b, traced.outputs[0], xs)
    assert all(H[i][j] == H[j][i] for i in range(4) for j in range(4))
