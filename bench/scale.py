"""sympile past one process, on Dask (docs/scale.md): three measurements on this machine.

1. ``eval``: a 1e8-point evaluation of a compiled function (NumPy and C backends) over Dask
   arrays in chunks, on a LocalCluster of 2 worker processes (1 thread each), against the
   in-memory call in one process. Both make the inputs (``linspace``), evaluate and sum, so
   nothing of 1e8 points need be held by the chunked run. Reported: seconds, points per second,
   and the peak memory (resident set) of the in-memory process and of each worker.
2. ``fits``: 1,000 groups of 50 points, one ``a*exp(-b*t) + c`` fit each: `sympile.fit_groups`
   on the 2 workers against a loop of `sympile.fit` in this process.
3. ``discover``: `sympile.discover` with ``client=`` on a cluster of 2 workers against 1 worker,
   the same work (2 pyoperon runs and the enumeration, counted budgets: no time limit).

One thread per process everywhere (``OMP_NUM_THREADS=1``); one timing each (seconds-long runs,
after a warm-up that builds and compiles everything).

    python bench/scale.py [--points 1e8] [--chunk 1e6] [--groups 1000] [--only eval,fits,discover]
"""

from __future__ import annotations

import argparse
import resource
import subprocess
import sys
import time
import warnings

import _common  # noqa: F401  (one thread per process, set before NumPy loads)
import numpy as np
import sympy as sp
from _common import table

import sympile

x, y, t, a, b, c = sp.symbols("x y t a b c")
OPERATORS = ("add", "sub", "mul", "div", "sin")
EXPR = sp.exp(-(x**2) / 2) * sp.sin(3 * y) + sp.sqrt(1 + x * y) * sp.cos(x)


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def in_memory(points: int, backend: str) -> None:
    """The child process of the in-memory run: prints seconds, sum and peak MB."""
    f = sympile.lambdify([x, y], EXPR, backend=backend)
    f(np.linspace(0, 1, 1000), np.linspace(1, 2, 1000))  # built (and for C compiled) first
    start = time.perf_counter()
    xs = np.linspace(0, 1, points)
    ys = np.linspace(1, 2, points)
    total = float(f(xs, ys).sum())
    print(time.perf_counter() - start, total, _peak_mb())


def chunked(client, points: int, chunk: int, backend: str) -> tuple[float, float]:
    import dask.array as da

    f = sympile.lambdify([x, y], EXPR, backend=backend)
    warm = f(da.linspace(0, 1, 2 * chunk, chunks=chunk), da.linspace(1, 2, 2 * chunk, chunks=chunk)).sum()
    client.compute(warm, sync=True)  # every worker has the function built (and its kernel compiled)
    start = time.perf_counter()
    xs = da.linspace(0, 1, points, chunks=chunk)
    ys = da.linspace(1, 2, points, chunks=chunk)
    total = float(client.compute(f(xs, ys).sum(), sync=True))
    return time.perf_counter() - start, total


def bench_eval(client, points: int, chunk: int) -> str:
    rows = []
    for backend in ("numpy", "c"):
        out = subprocess.run(
            [sys.executable, __file__, "--child", str(points), backend], capture_output=True, text=True, check=True
        ).stdout.split()
        seconds, total, peak = float(out[0]), float(out[1]), float(out[2])
        seconds_d, total_d = chunked(client, points, chunk, backend)
        assert abs(total_d - total) <= 1e-9 * abs(total), (total, total_d)
        peaks = client.run(_peak_mb)
        rows.append([backend, "in memory, 1 process", f"{seconds:.2f}", f"{points / seconds / 1e6:.0f}", f"{peak:.0f}"])
        rows.append(
            [
                backend,
                f"Dask, 2 workers, chunks of {chunk:.0e}",
                f"{seconds_d:.2f}",
                f"{points / seconds_d / 1e6:.0f}",
                " / ".join(f"{v:.0f}" for v in peaks.values()) + " (per worker)",
            ]
        )
    return table(
        f"{points:.0e} points of exp(-x**2/2)*sin(3*y) + sqrt(1 + x*y)*cos(x): linspace, evaluate, sum",
        ["backend", "run", "seconds", "Mpoints/s", "peak memory (MB)"],
        rows,
    )


def bench_fits(client, n_groups: int) -> str:
    import pandas as pd

    rng = np.random.default_rng(0)
    n = 50
    tt = np.tile(np.linspace(0, 5, n), n_groups)
    rates, scales = rng.uniform(0.3, 2, n_groups), rng.uniform(1, 3, n_groups)
    yy = np.repeat(scales, n) * np.exp(-np.repeat(rates, n) * tt) + 0.5 + rng.normal(0, 0.01, tt.size)
    frame = pd.DataFrame({"sensor": np.repeat(np.arange(n_groups), n), "t": tt, "y": yy})
    model = a * sp.exp(-b * t) + c
    options = dict(params=["a", "b", "c"], p0=[1.0, 1.0, 0.0])
    first = frame[frame["sensor"] < 4]  # warm-up: each process builds the model and its Jacobian once
    sympile.fit_groups(model, first, "y", by="sensor", client=client, **options)
    sympile.fit(model, first[first["sensor"] == 0], "y", **options)
    start = time.perf_counter()
    loop = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for key, group in frame.groupby("sensor"):
            loop[key] = sympile.fit(model, group.drop(columns="sensor"), "y", **options).params["b"]
    seconds_loop = time.perf_counter() - start
    rows = [["sympile.fit in a loop, 1 process", f"{seconds_loop:.2f}", f"{1e3 * seconds_loop / n_groups:.2f}"]]
    for per_task in (1, 25):
        start = time.perf_counter()
        result = sympile.fit_groups(model, frame, "y", by="sensor", client=client, per_task=per_task, **options)
        seconds = time.perf_counter() - start
        worst = max(abs(result["b"][k] - loop[key]) for k, key in enumerate(sorted(loop)))
        assert worst < 1e-9, worst
        name = f"sympile.fit_groups, 2 workers, {per_task} group{'s' if per_task > 1 else ''} per task"
        rows.append([name, f"{seconds:.2f}", f"{1e3 * seconds / n_groups:.2f}"])
    return table(
        f"{n_groups} fits of a*exp(-b*t) + c, {n} points each (same parameters both ways)",
        ["run", "seconds", "ms per fit"],
        rows,
    )


def bench_discover() -> str:
    import distributed

    rng = np.random.default_rng(0)
    X = rng.uniform(0.5, 2, (200, 2))
    yv = X[:, 0] ** 2 * np.sin(X[:, 1]) + 0.5 * X[:, 1]
    rows = []
    for workers in (1, 2):
        with (
            distributed.LocalCluster(
                n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=None, silence_logs=50
            ) as cluster,
            distributed.Client(cluster) as client,
        ):
            client.run(lambda: __import__("sympile"))
            start = time.perf_counter()
            found = sympile.discover(
                X,
                yv,
                client=client,
                operators=OPERATORS,
                runs=2,
                generations=100,
                population_size=500,
                max_evaluations=100_000,
                seed=0,
            )
            seconds = time.perf_counter() - start
        rows.append([f"{workers} worker{'s' if workers > 1 else ''}", f"{seconds:.1f}", str(found.best.expr)])
    return table(
        "discover(client=...) of x0**2*sin(x1) + x1/2 (200 points): 2 pyoperon runs (100 generations, "
        "population 500) and the enumeration",
        ["cluster", "seconds", "best"],
        rows,
    )


def main() -> None:
    if sys.argv[1:2] == ["--child"]:
        in_memory(int(sys.argv[2]), sys.argv[3])
        return
    parser = argparse.ArgumentParser()
    parser.add_argument("--points", type=float, default=1e8)
    parser.add_argument("--chunk", type=float, default=1e6)
    parser.add_argument("--groups", type=int, default=1000)
    parser.add_argument("--only", default="eval,fits,discover")
    args = parser.parse_args()
    only = set(args.only.split(","))
    import distributed

    out = []
    if only & {"eval", "fits"}:
        with (
            distributed.LocalCluster(
                n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None, silence_logs=50
            ) as cluster,
            distributed.Client(cluster) as client,
        ):
            if "eval" in only:
                out.append(bench_eval(client, int(args.points), int(args.chunk)))
            if "fits" in only:
                out.append(bench_fits(client, args.groups))
    if "discover" in only:
        out.append(bench_discover())
    print("\n\n".join(out))


if __name__ == "__main__":
    main()
