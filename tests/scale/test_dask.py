"""Compiled functions and fits on Dask: lazy results over chunked arrays, on a real
`distributed.LocalCluster` of two worker processes, checked against the in-process computation.

One cluster serves the module (started and closed here); the test that kills a worker runs last.
"""

from __future__ import annotations

import operator
import os
import signal
import sys
import time
import warnings

import numpy as np
import pytest
import sympy as sp
from helpers import require

import sympile
from sympile import ArgumentError, ShapeError, SympileError

dask = require("dask")
da = require("dask.array")
distributed = require("distributed")
pd = require("pandas")
cloudpickle = require("cloudpickle")
cloudpickle.register_pickle_by_value(sys.modules[__name__])  # the helpers below run on workers

x, y, t, a, b = sp.symbols("x y t a b")


@pytest.fixture(scope="module")
def client():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # distributed's notes on ports and dashboards
        cluster = distributed.LocalCluster(
            n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None, silence_logs=50
        )
        c = distributed.Client(cluster)
    try:
        yield c
    finally:
        c.close()
        cluster.close()


@pytest.fixture
def rng(request):
    return np.random.default_rng(sum(map(ord, request.node.name)))  # seeded, a stream per test


def _chunked(values: np.ndarray, chunks) -> da.Array:
    return da.from_array(values, chunks=chunks)


# -- functions over Dask arrays ---------------------------------------------------------------


def test_a_call_with_dask_arrays_is_lazy_blockwise_and_equals_the_in_memory_call(client, rng):
    f = sympile.lambdify([x, y], [sp.sin(x) * y + sp.exp(-(x**2)), x**2 - y, sp.Integer(3), x > y])
    xs, ys = rng.uniform(-2, 2, 5000), rng.uniform(-2, 2, 5000)
    lazy = f(_chunked(xs, 1000), _chunked(ys, 1000))
    assert isinstance(lazy, list) and all(isinstance(v, da.Array) for v in lazy)
    assert all(v.chunks == ((1000,) * 5,) for v in lazy)  # the inputs' blocks
    want = f(xs, ys)
    got = client.compute(lazy, sync=True)
    for g, w in zip(got, want):
        assert g.dtype == w.dtype and g.shape == w.shape
        np.testing.assert_array_equal(g, w)


def test_dask_inputs_broadcast_and_keep_dtypes_as_numpy_arrays_do(client, rng):
    f = sympile.lambdify([x, y], sp.Matrix([[x * y, x + 2.5], [sp.cos(y), 1]]))
    xs = rng.uniform(-1, 1, (300, 1)).astype(np.float32)
    ys = rng.uniform(-1, 1, (1, 200)).astype(np.float32)
    lazy = f(_chunked(xs, (100, 1)), _chunked(ys, (1, 50)))
    want = f(xs, ys)
    assert lazy.shape == want.shape == (2, 2, 300, 200) and lazy.dtype == want.dtype == np.float32
    np.testing.assert_array_equal(client.compute(lazy, sync=True), want)
    # a Python number beside a float32 array keeps float32, a NumPy array in the call is one block
    g = sympile.lambdify([x, y, a], x * y + a)
    ys64 = rng.uniform(-1, 1, 200)
    lazy = g(_chunked(xs, (100, 1)), ys64, 2.0)
    want = g(xs, ys64, 2.0)
    assert lazy.dtype == want.dtype
    np.testing.assert_array_equal(client.compute(lazy, sync=True), want)


def test_nested_arguments_take_a_dask_array_split_along_its_first_axis(client, rng):
    f = sympile.lambdify([[x, y], a], [x * a - y, y**2])
    state = rng.uniform(-1, 1, (2, 1000))
    lazy = f(_chunked(state, (2, 250)), 0.5)
    for g, w in zip(client.compute(lazy, sync=True), f(state, 0.5)):
        np.testing.assert_array_equal(g, w)


@pytest.mark.parametrize("backend", ["numpy", "c"])
def test_numpified_functions_and_their_derivatives_map_over_a_lazy_stack_of_points(client, rng, backend):
    """A numpified function of a 3-vector, its Jacobian and a Hessian, given a Dask stack of
    points (N, 3): lazy arrays (N, ...) chunked as the stack, equal to one call per point."""
    snp = require("sympile.numpy")
    f = sympile.numpify((3,), backend=backend)(lambda v: snp.array([snp.sin(v[0]) * v[1], v[2] ** 2 + v[0]]))
    g = sympile.numpify((3,), None, backend=backend)(lambda v, s: s * snp.sum(v**3) * v[0])
    points = rng.normal(size=(600, 3))
    stack = _chunked(points, (200, 3))
    for fn, args in ((f, ()), (sympile.jacobian(f), ()), (sympile.hessian(g), (1.5,))):
        lazy = fn(stack, *args)
        assert isinstance(lazy, da.Array) and lazy.chunks[0] == (200, 200, 200)
        want = np.stack([fn(p, *args) for p in points])
        got = client.compute(lazy, sync=True)
        assert got.shape == want.shape and got.dtype == want.dtype
        np.testing.assert_allclose(got, want, rtol=1e-14, atol=1e-300)
    with pytest.raises(ShapeError, match=r"shape \(3,\) or a stack"):
        f(_chunked(points[:, :2], (200, 2)))


def test_c_kernels_compile_on_a_worker_whose_cache_starts_empty(client, rng, tmp_path):
    c = float(rng.uniform(1, 2))  # a fresh constant: no cache anywhere holds this kernel
    f = sympile.lambdify([x, y], [sp.exp(-c * x) * sp.sin(y), sp.sqrt(x**2 + y**2)], backend="c")
    worker = sorted(client.scheduler_info()["workers"])[0]
    empty = str(tmp_path / "worker-cache")

    def use_cache():
        os.environ["SYMPILE_CACHE_DIR"] = empty
        os.makedirs(empty)
        return os.listdir(empty)

    def cached():
        held = sorted(os.listdir(os.path.join(os.environ.pop("SYMPILE_CACHE_DIR"), "c")))
        return [name for name in held if not name.startswith(".")]

    assert client.run(use_cache, workers=[worker]) == {worker: []}
    xs, ys = rng.uniform(0, 3, 4000), rng.uniform(-3, 3, 4000)
    lazy = f(_chunked(xs, 1000), _chunked(ys, 1000))
    got = client.compute(lazy, workers=[worker], allow_other_workers=False, sync=True)
    for g, w in zip(got, f(xs, ys)):
        np.testing.assert_allclose(g, w, rtol=4 * np.finfo(float).eps, atol=0)
    assert client.run(cached, workers=[worker])[worker]  # compiled there, into its own directory


def test_unknown_chunk_sizes_are_refused_where_blocks_must_line_up(rng):
    f = sympile.lambdify([x, y], x * y)
    xs = rng.uniform(-1, 1, 100)
    filtered = _chunked(xs, 25)
    filtered = filtered[filtered > 0]  # NaN chunk sizes
    with pytest.raises(ShapeError, match="unknown chunk sizes.*compute_chunk_sizes"):
        f(filtered, _chunked(xs, 25))
    # alone (with numbers), its blocks need no lining up
    np.testing.assert_array_equal(f(filtered, 2.0).compute(), f(xs[xs > 0], 2.0))


def test_bad_inputs_beside_dask_arrays_are_named(rng):
    f = sympile.lambdify([x, y], x * y, backend="c")
    dx = _chunked(rng.uniform(size=10), 5)
    with pytest.raises(ArgumentError, match="y is a str"):
        f(dx, "2")
    with pytest.raises(ArgumentError, match="x is a Dask array of dtype complex128"):
        f(dx.astype(complex), 1.0)
    with pytest.raises(ShapeError, match="do not broadcast"):
        f(dx, np.ones(3))
    with pytest.raises(ArgumentError, match="out="):
        f(dx, dx, out=np.empty((10, 1)))


# -- many fits ---------------------------------------------------------------------------------


def _groups(rng, n_groups: int, n_points: int = 30) -> pd.DataFrame:
    rates = rng.uniform(0.3, 2.0, n_groups)
    scales = rng.uniform(1.0, 3.0, n_groups)
    tt = np.tile(np.linspace(0, 4, n_points), n_groups)
    yy = np.repeat(scales, n_points) * np.exp(-np.repeat(rates, n_points) * tt)
    yy = yy + rng.normal(0, 0.01, yy.size)
    keys = np.repeat([f"s{k:03d}" for k in range(n_groups)], n_points)
    return pd.DataFrame({"sensor": keys, "t": tt, "y": yy})


def _in_process(expr, frame: pd.DataFrame, **options) -> dict:
    out = {}
    for key, group in frame.groupby("sensor"):
        r = sympile.fit(expr, group.drop(columns="sensor"), "y", **options)
        out[key] = (r.params, r.stderr, r.loss, r.success)
    return out


def test_fit_groups_on_the_cluster_equals_one_fit_per_group_in_process(client, rng):
    frame = _groups(rng, 6)
    model = a * sp.exp(-b * t)
    table = sympile.fit_groups(model, frame, "y", by="sensor", params=["a", "b"], client=client)
    want = _in_process(model, frame, params=["a", "b"])
    assert list(table["sensor"]) == sorted(want)
    for _, row in table.iterrows():
        params, stderr, loss, success = want[row["sensor"]]
        for name in ("a", "b"):
            assert row[name] == pytest.approx(params[name], rel=1e-12)
            assert row[f"{name}_stderr"] == pytest.approx(stderr[name], rel=1e-9)
        assert row["loss"] == pytest.approx(loss, rel=1e-9) and row["converged"] == success


def test_fit_groups_of_a_dask_dataframe_and_of_a_list_on_the_c_backend(client, rng):
    dd = require("dask.dataframe")
    frame = _groups(rng, 4)
    model = sp.Float(2.0) * sp.exp(-sp.Float(1.0) * t)  # the Floats are the parameters: c0, c1
    want = _in_process(model, frame)
    table = sympile.fit_groups(model, dd.from_pandas(frame, npartitions=2), "y", by="sensor", client=client)
    assert list(table.columns[:5]) == ["sensor", "c0", "c1", "c0_stderr", "c1_stderr"]
    for _, row in table.iterrows():
        assert [row["c0"], row["c1"]] == pytest.approx(want[row["sensor"]][0], rel=1e-12)
    datasets = [g.drop(columns="sensor") for _, g in frame.groupby("sensor")]
    listed = sympile.fit_groups(model, datasets, "y", backend="c", client=client, per_task=3)
    assert list(listed["group"]) == list(range(4))
    for k, key in enumerate(sorted(want)):
        assert [listed["c0"][k], listed["c1"][k]] == pytest.approx(want[key][0], rel=1e-8)


def test_fit_groups_refuses_a_closed_client_and_says_which_group_failed(client, rng):
    other = distributed.Client(client.scheduler.address, set_as_default=False)
    other.close()
    frame = _groups(rng, 2)
    with pytest.raises(SympileError, match="client is closed"):
        sympile.fit_groups(a * sp.exp(-b * t), frame, "y", by="sensor", params=["a", "b"], client=other)
    with pytest.raises(SympileError, match="by names station"):
        sympile.fit_groups(a * sp.exp(-b * t), frame, "y", by="station", params=["a", "b"])
    broken = [{"t": np.ones(3), "y": np.ones(3)}, {"u": np.ones(3), "y": np.ones(3)}]
    with pytest.raises(SympileError, match="group 1: .*data lacks"):
        sympile.fit_groups(a * sp.exp(-b * t), broken, "y", params=["a", "b"], client=client)


# -- a worker dies (last: the cluster heals for nothing after it) --------------------------------


def test_a_worker_killed_mid_computation_changes_nothing(client, rng):
    f = sympile.lambdify([x, y], [sp.log(1 + x**2) * y, sp.atan2(y, x)], backend="c")
    xs, ys = rng.uniform(-3, 3, 4000), rng.uniform(-3, 3, 4000)
    # slow blocks (each waits for a sleep), so the kill lands while blocks are still to do
    blocks = [
        da.from_delayed(
            dask.delayed(operator.getitem)([xs[k : k + 500], dask.delayed(time.sleep, pure=False)(0.25)], 0),
            (500,),
            xs.dtype,
        )
        for k in range(0, 4000, 500)
    ]
    lazy = f(da.concatenate(blocks), _chunked(ys, 500))
    future = client.compute(lazy)
    time.sleep(0.5)
    assert not all(fu.done() for fu in future)
    victim = sorted(client.run(os.getpid).items())[0][1]
    os.kill(victim, signal.SIGKILL)
    got = [fu.result(timeout=120) for fu in future]
    for g, w in zip(got, f(xs, ys)):
        np.testing.assert_array_equal(g, w)
    assert victim not in client.run(os.getpid).values()  # it was a real death: a new process took over
