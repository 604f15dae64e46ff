"""sympile.lambdify against sympy.lambdify (cse on and off) and symengine's Lambdify.

For each expression: time to build the callable, time per call on 1e5 float64 points, and
time per call on one point given as Python floats. Prints Markdown tables with ratios.

    python bench/lambdify.py [--quick] [--only a,b,c,d]
"""

from __future__ import annotations

import sys
import threading

import numpy as np
import sympy as sp
from _common import cold_builds, fmt, interleaved, table

import sympile

QUICK = "--quick" in sys.argv
rng = np.random.default_rng(0)
x, y, z = sp.symbols("x y z")


def sine_sum(n=50):
    a, b, c = rng.uniform(0.5, 2, (3, n))
    return [x], sp.Add(*[sp.Float(a[i]) * sp.sin(sp.Float(b[i]) * x + sp.Float(c[i])) for i in range(n)])


def fourier_series(n=40):
    """A Fourier series: n sines and n cosines of multiples of x."""
    a, b = rng.uniform(-1, 1, (2, n))
    return [x], sp.Float(0.5) + sp.Add(
        *[sp.Float(a[k]) * sp.sin((k + 1) * x) + sp.Float(b[k]) * sp.cos((k + 1) * x) for k in range(n)]
    )


def gmm_gradient(k=20):
    """The gradient (by sympy.diff) of a 3-D Gaussian-mixture log-likelihood."""
    v = sp.Matrix([x, y, z])
    terms = []
    for _ in range(k):
        mu = sp.Matrix(rng.normal(size=3).round(3))
        a = rng.normal(size=(3, 3))
        prec = sp.Matrix((a @ a.T + 3 * np.eye(3)).round(3))
        d = v - mu
        w = sp.Float(round(float(rng.uniform(0.1, 1)), 3))
        terms.append(w * sp.exp(-sp.Rational(1, 2) * (d.T * prec * d)[0]))
    loglik = sp.log(sp.Add(*terms))
    return [x, y, z], [sp.diff(loglik, s) for s in (x, y, z)]


def big_expression(nodes=100_000):
    """A random sum of products of elementary functions with about ``nodes`` tree nodes."""
    fns = [sp.sin, sp.cos, sp.exp, sp.tanh, sp.atan]
    terms, count = [], 0
    i = 0
    while count < nodes:
        f = fns[i % len(fns)]
        i += 1
        t = (
            sp.Float(rng.uniform(-1, 1))
            * f(sp.Float(rng.uniform(-1, 1)) * x + sp.Float(rng.uniform(-1, 1)) * y)
            * (z + i) ** 2
        )
        count += sum(1 for _ in sp.preorder_traversal(t))
        terms.append(t)
    return [x, y, z], sp.Add(*terms)


def count_nodes(expr):
    exprs = expr if isinstance(expr, list) else [expr]
    return sum(sum(1 for _ in sp.preorder_traversal(e)) for e in exprs)


def deep(fn):
    """Run ``fn`` with a deep stack: SymPy's printer and Python's compiler recurse on the
    nesting of what lambdify generates, and fail on (c) with the default limits."""
    out = {}

    def target():
        limit = sys.getrecursionlimit()
        sys.setrecursionlimit(1_000_000)
        try:
            out["value"] = fn()
        except Exception as e:  # report, do not crash the benchmark
            out["error"] = e
        finally:
            sys.setrecursionlimit(limit)

    threading.stack_size(1 << 30)
    t = threading.Thread(target=target)
    t.start()
    t.join()
    threading.stack_size(0)
    if "error" in out:
        raise out["error"]
    return out["value"]


def builders(args, expr, skip_slow: bool):
    out = {
        "sympile": lambda: sympile.lambdify(args, expr),
        "sympy cse=True": lambda: deep(lambda: sp.lambdify(args, expr, "numpy", cse=True)),
    }
    if not skip_slow:
        out["sympy cse=False"] = lambda: deep(lambda: sp.lambdify(args, expr, "numpy", cse=False))
    try:
        import symengine as se

        out["symengine Lambdify"] = lambda: deep(
            lambda: se.Lambdify(args, expr if isinstance(expr, list) else [expr], cse=True)
        )
    except ImportError:
        pass
    scalar = {
        "sympile": None,  # same function: its math fast path
        "sympy math cse=True": lambda: deep(lambda: sp.lambdify(args, expr, "math", cse=True)),
    }
    return out, scalar


def run_case(name, args, expr, skip_slow=False):
    n_nodes = count_nodes(expr)
    build, scalar_build = builders(args, expr, skip_slow)
    points = 100_000
    data = [rng.uniform(-1, 1, points) for _ in args]
    one = [float(rng.uniform(-1, 1)) for _ in args]
    rows, funcs, calls = [], {}, {}
    # builds from cold caches (SymPy's and sympile's), the libraries in turn; one each for (c)
    built = cold_builds(build, 1 if n_nodes > 10_000 else 5)
    for label, (t, f) in built.items():
        funcs[label] = f
        stacked = label.startswith("symengine")  # symengine takes the points as one (n, k) array
        calls[label] = (lambda f=f: f(np.stack(data, -1))) if stacked else (lambda f=f: f(*data))
        rows.append([label, t])
    # every library timed in turn, round after round, so that the machine's load falls on all alike
    big = n_nodes > 10_000
    times = interleaved(calls, rounds=3 if big else 15, min_time=0.0 if big else 0.1, max_number=1 if big else 100_000)
    rows = [[label, t, times[label]] for label, t in rows]
    # reference values agree?
    ref = np.asarray(funcs["sympy cse=True"](*data), dtype=float)
    got = np.asarray(funcs["sympile"](*data), dtype=float)
    assert np.allclose(got, ref, rtol=1e-9, atol=1e-12), f"{name}: sympile disagrees with sympy.lambdify"
    # one point
    one_calls = {}
    for label, make in scalar_build.items():
        f = funcs["sympile"] if make is None else make()
        one_calls[label] = lambda f=f: f(*one)
    one_times = interleaved(one_calls, rounds=5 if big else 31, min_time=0.05)
    scalar_rows = [[label, one_times[label]] for label in one_calls]
    base_build = rows[0][1]
    base_call = rows[0][2]
    text = [
        table(
            f"{name} ({n_nodes:,} tree nodes)",
            ["library", "build", "build vs sympile", "call, 1e5 points", "call vs sympile"],
            [[r[0], fmt(r[1]), f"{r[1] / base_build:.2f}x", fmt(r[2]), f"{r[2] / base_call:.2f}x"] for r in rows],
        )
    ]
    base_one = scalar_rows[0][1]
    text.append(
        table(
            f"{name}: one point, Python floats",
            ["library", "call", "vs sympile"],
            [[r[0], fmt(r[1]), f"{r[1] / base_one:.2f}x"] for r in scalar_rows],
        )
    )
    print("\n".join(text), flush=True)


if __name__ == "__main__":
    # ``--only a,b`` runs some of the cases
    only = sys.argv[sys.argv.index("--only") + 1].split(",") if "--only" in sys.argv else list("abcd")
    print("Ratios are the other library's time over sympile's: above 1x, sympile is faster.")
    if "a" in only:
        run_case("(a) 50-term sum a_i*sin(b_i*x + c_i)", *sine_sum())
    if "b" in only:
        run_case("(b) gradient of a 20-component 3-D Gaussian-mixture log-likelihood", *gmm_gradient())
    if "c" in only and not QUICK:
        run_case("(c) a 100,000-node expression", *big_expression(), skip_slow=True)
    if "d" in only:
        run_case("(d) a Fourier series of 40 sines and 40 cosines", *fourier_series())
