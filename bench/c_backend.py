"""sympile's C backend against sympy.lambdify, numexpr, numba and symengine's LLVM backend.

(a) a transcendental-heavy expression on 1e6 float64 points and (b) the gradient (by
sympy.diff) of a 20-component 3-D Gaussian-mixture log-likelihood on 1e5 points, with 1 and
2 threads; (c) one point of the Hessian of the 10-D logistic-regression log-density (20 data
points) and of the 10-D Rosenbrock function of bench/diffops.py, against SymNum with Numba;
(d) build times: the first compile, and a cached build in a new process; (e) a 100-output
Jacobian into fresh arrays against a reused ``out=`` buffer. Prints Markdown
tables: times per point, and ratios (the other library's time over sympile's: above 1x,
sympile is faster).

The floor in the titles of (a) and (b) estimates the compute floor on this machine: the
graph's calls of each function times the measured cost of that function in a vectorised loop
with nothing else to do, plus its arithmetic operations times the cost of one.

    python bench/c_backend.py [--quick] [--only a,b,c,d,e] [--symnum-limit SECONDS]
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import textwrap
import time

import numpy as np
import sympy as sp
from _common import fmt, interleaved, median_time, table
from lambdify import gmm_gradient

import sympile

QUICK = "--quick" in sys.argv
REPEAT = 3 if QUICK else 7
x, y, z = sp.symbols("x y z")
os.environ.setdefault("SYMPILE_CACHE_DIR", tempfile.mkdtemp(prefix="sympile-bench-"))


def transcendental():
    """(a): sines, exponentials, logarithms, arctangents, tanh and a square root."""
    return [x, y, z], (
        sp.sin(x) * sp.cos(y)
        + sp.exp(-(x**2 + y**2) / 2) * sp.log(1 + z**2)
        + sp.atan(x * y)
        + sp.tanh(z) * sp.sqrt(1 + x**2)
        + sp.exp(y * z) / (1 + sp.exp(x))
    )


# -- the competitors -------------------------------------------------------------------------------


def competitors(args, exprs):
    """name -> (build, call(data, threads)) for each library; threads=None where it has no threads."""
    exprs = exprs if isinstance(exprs, list) else [exprs]
    out = {}

    def sympile_c():
        f = sympile.lambdify(args, exprs, backend="c")
        return lambda data, threads: f(*data, threads=threads)

    out["sympile c"] = sympile_c

    def sympy_numpy():
        f = sp.lambdify(args, exprs, "numpy", cse=True)
        return lambda data, threads: f(*data) if threads == 1 else None

    out["sympy.lambdify (numpy, cse)"] = sympy_numpy

    try:
        import numexpr as ne

        def numexpr_():
            fs = [sp.lambdify(args, e, "numexpr") for e in exprs]

            def call(data, threads):
                ne.set_num_threads(threads)
                return [f(*data) for f in fs]

            return call

        out["numexpr"] = numexpr_
    except ImportError:
        pass

    try:
        import numba

        def numba_():
            scalar = numba.njit(sp.lambdify(args, exprs if len(exprs) > 1 else exprs[0], "math", cse=True))
            if len(exprs) == 1:  # @vectorize of the lambdified scalar function
                sig = ["float64(" + ", ".join(["float64"] * len(args)) + ")"]
                serial = numba.vectorize(sig)(scalar)
                parallel = numba.vectorize(sig, target="parallel")(scalar)

                def call(data, threads):
                    numba.set_num_threads(threads)
                    return serial(*data) if threads == 1 else parallel(*data)

                return call
            n_out = len(exprs)
            serial = _numba_loop(numba, scalar, len(args), n_out, parallel=False)
            parallel = _numba_loop(numba, scalar, len(args), n_out, parallel=True)

            def call(data, threads):
                numba.set_num_threads(threads)
                out = np.empty((n_out, data[0].shape[0]))
                (serial if threads == 1 else parallel)(*data, out)
                return out

            return call

        out["numba"] = numba_
    except ImportError:
        pass

    try:
        import symengine as se

        def symengine_():
            f = se.Lambdify(args, exprs, backend="llvm", cse=True)
            return lambda data, threads: f(np.stack(data, -1)).T if threads == 1 else None

        out["symengine Lambdify (llvm)"] = symengine_
    except ImportError:
        pass
    return out


def _numba_loop(numba, scalar, n_in, n_out, parallel):
    """A numba loop calling the lambdified scalar function (numba's @vectorize has one output)."""
    names = ", ".join(f"a{k}" for k in range(n_in))
    reads = ", ".join(f"a{k}[i]" for k in range(n_in))
    stores = "\n".join(f"        out[{k}, i] = r[{k}]" for k in range(n_out))
    src = f"def loop({names}, out):\n    for i in prange(out.shape[1]):\n        r = scalar({reads})\n{stores}\n"
    ns = {"scalar": scalar, "prange": numba.prange}
    exec(src, ns)
    return numba.njit(parallel=parallel)(ns["loop"])


# -- the compute floor ---------------------------------------------------------------------------

_ARITH = {"add", "sub", "mul", "neg", "div", "powi", "where", "lt", "le", "gt", "ge"}


def _counts(graph) -> dict:
    """How many ops of each kind (``arith`` for the arithmetic ones) a graph computes."""
    from sympile._transforms.fold import fold_constants

    counts: dict[str, int] = {}
    for n in fold_constants(graph).nodes:
        if n.args:
            kind = "arith" if n.op in _ARITH else n.op
            counts[kind] = counts.get(kind, 0) + 1
    return counts


def floor_estimate(args, exprs, points=1 << 20) -> float:
    """Seconds per point: each op at the cost it has in a vectorised loop with nothing else to do.

    A function's cost is measured on a sum of 16 independent calls (so latency hides behind
    throughput and the one load and store per point are shared), less the cost of the sum.
    """
    counts = _counts(sympile.lambdify(args, exprs).graph)
    u = sp.Symbol("u")
    data = np.random.default_rng(0).uniform(0.1, 0.9, points)

    def per_point(expr):
        f = sympile.lambdify([u], expr, backend="c")
        seconds = median_time(lambda: f(data, threads=1), repeat=REPEAT, min_time=0.1) / points
        return seconds, _counts(f.graph)

    # 255 operations per point (so the loads and stores are nothing beside them): products of
    # sums, which SymPy keeps apart and none of which folds into another
    t, c = per_point(sp.Add(*[(u + sp.Rational(k, 97)) * (u - sp.Rational(k, 89)) for k in range(1, 65)]))
    arith = t / c["arith"]
    total = arith * counts.pop("arith", 0)
    spell = {"log1p": lambda v: sp.log(1 + v), "expm1": lambda v: sp.exp(v) - 1}
    for kind, count in counts.items():
        fn = spell.get(kind) or getattr(sp, kind, None)
        if fn is None:
            continue
        t, c = per_point(sp.Add(*[fn(u + sp.Rational(k, 64)) for k in range(16)]))
        cost = (t - arith * c.get("arith", 0)) / c.get(kind, 16)
        total += max(cost, arith) * count
    return total


# -- the cases -------------------------------------------------------------------------------------


def run_case(name, args, exprs, points):
    rng = np.random.default_rng(0)
    data = [rng.uniform(-1, 1, points) for _ in args]
    rows, reference, failed = [], None, []
    for label, make in competitors(args, exprs).items():
        t0 = time.perf_counter()
        try:
            call = make()
            got = call(data, 1)  # numba compiles on its first call
            build = time.perf_counter() - t0
        except Exception as e:  # numexpr runs out of registers on large expressions, ...
            failed.append([label, f"fails: {type(e).__name__}", *["n/a"] * 5])
            continue
        value = np.asarray([np.asarray(v, float) for v in (got if isinstance(got, (list, tuple)) else [got])])
        value = value.reshape(-1, points)
        if reference is None:
            reference = value
        else:
            assert np.allclose(value, reference, rtol=1e-9, atol=1e-12), f"{label} disagrees with sympile on {name}"
        rows.append([label, build, call])
    # every library and thread count timed in turn, round after round: the load falls on all alike
    fns = {
        (r[0], threads): (lambda c=r[2], t=threads: c(data, t))
        for r in rows
        for threads in (1, 2)
        if r[2](data, threads) is not None
    }
    times = interleaved(fns, rounds=REPEAT, min_time=0.1)
    rows = [[r[0], r[1], times[(r[0], 1)], times.get((r[0], 2), float("nan"))] for r in rows]
    floor = floor_estimate(args, exprs)
    base1, base2 = rows[0][2], rows[0][3]
    print(
        table(
            f"{name}: {points:,} float64 points; per point (floor estimate {fmt(floor)}, sympile/floor "
            f"{base1 / points / floor:.2f}x)",
            ["library", "build + first call", "1 thread", "vs sympile", "2 threads", "vs sympile", "2 vs 1 thread"],
            [
                [
                    r[0],
                    fmt(r[1]),
                    fmt(r[2] / points),
                    f"{r[2] / base1:.2f}x",
                    fmt(r[3] / points),
                    "n/a" if r[3] != r[3] else f"{r[3] / base2:.2f}x",
                    "n/a" if r[3] != r[3] else f"{r[2] / r[3]:.2f}x",
                ]
                for r in rows
            ]
            + failed,
        ),
        flush=True,
    )
    return rows


SYMNUM_PROGRAM = """
import sys, json, time
sys.path.insert(0, {bench!r})
import numpy as np, symnum, symnum.numpy as snn
from _common import median_time
from diffops import {maker}
point = np.array({point!r})
t = time.perf_counter()
h = symnum.hessian({maker}(snn), ({n},), jit=True)
value = h(point)
build = time.perf_counter() - t
print(json.dumps([build, median_time(lambda: h(point), repeat={repeat}, min_time=0.2), value.tolist()]))
"""


def hessian_case(title: str, maker: str, n: int, limit: float):
    """(c): one point of a Hessian from the differential-operators benchmark (bench/diffops.py)."""
    import diffops

    import sympile.numpy as snp
    from sympile._functions.lambdify import LambdifiedFunction

    point = np.random.default_rng(1).normal(size=n)
    t0 = time.perf_counter()
    h = sympile.hessian(getattr(diffops, maker)(snp), (n,), backend="c")
    h(point)
    rows = [["sympile.hessian(..., backend='c')", time.perf_counter() - t0, h]]
    # the same graph through lambdify's calling path: a nested argument read straight from the array
    args = ("list", [("list", [("leaf", k) for k in range(n)])])
    f = LambdifiedFunction(h.graph, "c", {}, args, ("array", (n, n), [("leaf", k) for k in range(n * n)]))
    rows.insert(0, ["sympile c: lambdify of that Hessian graph", float("nan"), f])
    reference = f(point)
    for label, _, fn in rows:
        assert np.allclose(fn(point), reference, rtol=1e-12, atol=1e-12), f"{label} disagrees"
    times = interleaved({r[0]: (lambda fn=r[2]: fn(point)) for r in rows}, rounds=REPEAT, min_time=0.2)
    results = [[label, fmt(build), times[label]] for label, build, _ in rows]
    code = textwrap.dedent(SYMNUM_PROGRAM).format(
        bench=os.path.dirname(os.path.abspath(__file__)), point=point.tolist(), repeat=REPEAT, n=n, maker=maker
    )
    try:
        done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=limit)
        assert done.returncode == 0, done.stderr
        build, call, value = json.loads(done.stdout.splitlines()[-1])
        assert np.allclose(value, reference, rtol=1e-10, atol=1e-10), "SymNum disagrees"
        results.append(["SymNum + Numba (jit=True)", fmt(build), call])
    except subprocess.TimeoutExpired:
        results.append(["SymNum + Numba (jit=True)", f"no result after {limit:.0f} s", float("nan")])
    base = results[0][2]
    print(
        table(
            f"(c) {title}: the Hessian at one point per call",
            ["library", "build", "per call", "vs sympile"],
            [[r[0], r[1], fmt(r[2]), "n/a" if r[2] != r[2] else f"{r[2] / base:.2f}x"] for r in results],
        ),
        flush=True,
    )


BUILD_PROGRAM = """
import sys, time
sys.path.insert(0, {bench!r})
import sympy as sp, sympile, sympile._backends.c.backend
from sympile._functions.lambdify import LambdifiedFunction
from sympile._core.tree import flatten
from lambdify import gmm_gradient
from c_backend import transcendental
args, exprs = {case}()
t = time.perf_counter()
graph = sympile.lower(flatten(exprs)[0], flatten(args)[0])
lowered = time.perf_counter()
LambdifiedFunction(graph, "c", {{}}, flatten(args)[1], flatten(exprs)[1])
print(time.perf_counter() - t, time.perf_counter() - lowered)
"""


def build_times():
    """(d): compile into an empty cache, then cached builds in new processes (imports excluded)."""
    rows = []
    for name, case in (("(a) transcendental", "transcendental"), ("(b) GMM gradient", "gmm_gradient")):
        with tempfile.TemporaryDirectory() as cache:
            env = {**os.environ, "SYMPILE_CACHE_DIR": cache}
            code = textwrap.dedent(BUILD_PROGRAM).format(bench=os.path.dirname(os.path.abspath(__file__)), case=case)
            runs = []
            for _ in range(1 + (3 if QUICK else 7)):
                done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env)
                assert done.returncode == 0, done.stderr
                runs.append([float(v) for v in done.stdout.split()[-2:]])
            cached = sorted(runs[1:])[len(runs[1:]) // 2]
            backend_only = sorted(r[1] for r in runs[1:])[len(runs[1:]) // 2]
            rows.append([name, fmt(runs[0][0]), fmt(cached[0]), fmt(backend_only), fmt(_numpy_build(case))])
    print(
        table(
            "(d) build time of lambdify(..., backend='c'), imports excluded (medians over new processes)",
            ["case", "first build (compiles)", "cached, new process", "of which the C backend", "numpy backend"],
            rows,
        ),
        flush=True,
    )


def _numpy_build(case):
    args, exprs = {"transcendental": transcendental, "gmm_gradient": gmm_gradient}[case]()
    from sympile._functions import lambdify as _lambdify

    _lambdify._CACHE.clear()
    t = time.perf_counter()
    sympile.lambdify(args, exprs)
    return time.perf_counter() - t


def out_case(points=100_000, terms=50):
    """(e): a 100-output Jacobian (of sum a_k sin(b_k x) in its 100 coefficients) over 1e5 points,
    into fresh arrays or into one reused ``out=`` buffer."""
    rng = np.random.default_rng(2)
    a, b = rng.uniform(0.5, 2, (2, terms))
    exprs = []
    for k in range(terms):
        exprs += [sp.sin(sp.Float(b[k]) * x), sp.Float(a[k]) * x * sp.cos(sp.Float(b[k]) * x)]
    f = sympile.lambdify([x], exprs, backend="c")
    data = rng.uniform(-1, 1, points)
    buffer = np.empty((points, len(exprs)))
    times = interleaved(
        {"fresh": lambda: f(data, threads=1), "out": lambda: f(data, out=buffer, threads=1)}, REPEAT, 0.2
    )
    np.testing.assert_array_equal(np.asarray(f(data)).T, f(data, out=buffer))
    print(
        table(
            f"(e) {len(exprs)} outputs over {points:,} points, one thread",
            ["outputs into", "per call", "vs out="],
            [
                ["fresh arrays (returned)", fmt(times["fresh"]), f"{times['fresh'] / times['out']:.2f}x"],
                ["a reused out= buffer (point-major)", fmt(times["out"]), "1.00x"],
            ],
        ),
        flush=True,
    )


if __name__ == "__main__":
    # ``--only a,c`` runs some sections; ``--symnum-limit S`` caps SymNum's logistic Hessian
    only = sys.argv[sys.argv.index("--only") + 1].split(",") if "--only" in sys.argv else list("abcde")
    limit = int(sys.argv[sys.argv.index("--symnum-limit") + 1]) if "--symnum-limit" in sys.argv else 600
    print("Ratios are the other library's time over sympile's: above 1x, sympile is faster.")
    if "a" in only:
        run_case("(a) transcendental-heavy expression", *transcendental(), points=10**6)
    if "b" in only:
        run_case("(b) gradient of a 20-component 3-D Gaussian-mixture log-likelihood", *gmm_gradient(), points=10**5)
    if "c" in only:
        hessian_case("logistic regression, 10 dimensions, 20 data points", "logistic", 10, 300 if QUICK else limit)
        hessian_case("Rosenbrock, 10 dimensions", "rosenbrock", 10, 900)
    if "e" in only:
        out_case()
    if "d" in only:
        build_times()
