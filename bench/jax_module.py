"""sympile.jax.SymbolicModule against sympy2jax and hand-written JAX.

(a) The 50-term sum(a_i*sin(b_i*x + c_i)) with its 150 floats trainable: value and gradient of
``.sum()`` with respect to the parameters, jitted, float32, one thread, at 100 and 10,000 points.
sympile runs as a module under ``eqx.filter_jit`` (as sympy2jax must), in its default layout (one
scalar leaf per float, as sympy2jax) and with ``packed=True`` (one flat array), and in its
functional form under ``jax.jit``; hand-written JAX is the ``(N, 50)`` broadcast over three
arrays, and the same over one scalar leaf per float (what the layout costs in JAX itself: each
leaf is an argument of the jitted function, and its gradient an output). The candidates run
interleaved, round after round, so that the machine's load falls on all of them alike; medians.
The process is pinned to one CPU, so that XLA runs each kernel on one thread.
(b) The first call: build the module, then trace and compile the jitted value-and-grad (JAX's
caches and sympile's emitted-source cache cleared before each run), at 100 and 10,000 points
(at 10,000 the batched sine is large enough for sympile's own, `_backends/jax_trig.py`, which
XLA compiles for longer); medians of fresh runs.
(c) Trigonometric functions outside modules: ``lambdify(..., backend="jax")`` against
``sympy.lambdify(..., modules="jax", cse=True)``, both under ``jax.jit``, float32, 200,000 points:
a planar 4-link arm's end point (sines and cosines of partial sums of angles) and an 8-term
Fourier series; the first call (trace and compile) and the call after it.

``--cpu`` times with the process's CPU time (all its threads) instead of the wall clock: on a
machine shared with other work, waiting for a core then does not count, and the ratios hold.

    python bench/jax_module.py [--quick] [--cpu]
"""

from __future__ import annotations

import os

os.environ.setdefault("JAX_PLATFORMS", "cpu")
os.environ.setdefault("XLA_FLAGS", "--xla_cpu_multi_thread_eigen=false")
# One thread: XLA on CPU splits a large loop into parts run on a pool as large as the CPUs the
# process may use (no XLA flag sets it), which under ``--cpu`` adds the pool's hand-offs and
# spinning to every candidate's time. Pinned to one CPU before JAX starts, each kernel runs
# whole on one thread.
if hasattr(os, "sched_setaffinity"):
    os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})

import statistics  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402

import equinox as eqx  # noqa: E402
import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402
import sympy as sp  # noqa: E402
from _common import fmt, interleaved, table  # noqa: E402

from sympile._backends import jax as _backend_jax  # noqa: E402
from sympile.jax import SymbolicModule  # noqa: E402

QUICK = "--quick" in sys.argv
CPU = "--cpu" in sys.argv
CLOCK = time.process_time if CPU else time.perf_counter
rng = np.random.default_rng(0)
x = sp.Symbol("x")
OURS = "sympile SymbolicModule + eqx.filter_jit"
PACKED = "sympile SymbolicModule(packed=True) + eqx.filter_jit"
HAND = "hand-written jax + jax.jit"
HAND_LEAVES = "hand-written jax, a scalar leaf per float + jax.jit"


def sine_sum(n=50):
    a, b, c = rng.uniform(0.5, 2, (3, n))
    expr = sp.Add(*[sp.Float(a[i]) * sp.sin(sp.Float(b[i]) * x + sp.Float(c[i])) for i in range(n)])
    return expr, (a, b, c)


def hand_loss(params, X):
    """What a person writes: the 50 terms as one (N, 50) broadcast."""
    a, b, c = params
    return jnp.sum(a * jnp.sin(b * X[:, None] + c))


def hand_loss_leaves(leaves, X):
    """The same, written over one scalar leaf per float (sympy2jax's layout, sympile's default):
    the leaves stacked into the three vectors first."""
    a, b, c = (jnp.stack(leaves[k::3]) for k in range(3))
    return jnp.sum(a * jnp.sin(b * X[:, None] + c))


def candidates(expr, abc):
    """name -> (make the model, make the jitted value-and-grad, its argument from the model)."""
    import sympy2jax

    def module_loss(m, X):
        return m(x=X).sum()

    def s2j_loss(m, X):
        return m(x=X)[0].sum()

    def functional():
        params, fn = SymbolicModule(expr).functional()
        return params, jax.jit(jax.value_and_grad(lambda p, X: fn(p, x=X).sum()))

    return {
        OURS: lambda: (SymbolicModule(expr), eqx.filter_jit(eqx.filter_value_and_grad(module_loss))),
        PACKED: lambda: (SymbolicModule(expr, packed=True), eqx.filter_jit(eqx.filter_value_and_grad(module_loss))),
        "sympile functional + jax.jit": functional,
        "sympy2jax + eqx.filter_jit": lambda: (
            sympy2jax.SymbolicModule([expr]),
            eqx.filter_jit(eqx.filter_value_and_grad(s2j_loss)),
        ),
        HAND: lambda: (
            tuple(jnp.asarray(v, jnp.float32) for v in abc),
            jax.jit(jax.value_and_grad(hand_loss)),
        ),
        HAND_LEAVES: lambda: (
            tuple(jnp.asarray(v, jnp.float32) for v in np.stack(abc, axis=1).ravel()),
            jax.jit(jax.value_and_grad(hand_loss_leaves)),
        ),
    }


def gradient_vector(name, grads) -> np.ndarray:
    """The gradient as one vector in a common order (a_i, b_i, c_i by term), for the cross-check."""
    if name.startswith("hand"):
        return np.concatenate([np.ravel(g) for g in grads])
    if name.startswith("sympy2jax"):
        return np.sort(np.asarray(jax.tree_util.tree_leaves(grads), dtype=np.float64))
    g = grads.params if hasattr(grads, "params") else grads
    return np.asarray(g)  # a tuple of scalar leaves, or one flat array


def timed(fns: dict, rounds: int, min_time: float) -> dict:
    """`interleaved` (wall clock), or with ``--cpu`` the same rounds timed in CPU seconds."""
    return interleaved(fns, rounds=rounds, min_time=min_time, clock=CLOCK)


def case_sine_sum():
    expr, abc = sine_sum()
    made = {name: make() for name, make in candidates(expr, abc).items()}
    out = []
    for n in (100, 10_000):
        X = jnp.asarray(rng.uniform(-2, 2, n), jnp.float32)
        values = {name: f(model, X) for name, (model, f) in made.items()}
        ref = float(values[HAND][0])
        for name, (v, _) in values.items():
            assert abs(float(v) - ref) <= 1e-4 * max(1.0, abs(ref)) * np.sqrt(n), (name, float(v), ref)
        theirs = np.sort(gradient_vector(HAND, values[HAND][1]))
        for k in (OURS, PACKED, HAND_LEAVES):
            ours = np.sort(gradient_vector(k, values[k][1]))
            np.testing.assert_allclose(ours, theirs, rtol=2e-3, atol=1e-2 * np.sqrt(n))
        fns = {name: (lambda f=f, m=model: jax.block_until_ready(f(m, X))) for name, (model, f) in made.items()}
        times = timed(fns, rounds=5 if QUICK else 15, min_time=0.02 if QUICK else 0.1)
        base = times[OURS]
        rows = [[name, fmt(t), f"{t / base:.2f}x"] for name, t in times.items()]
        out.append(
            table(
                f"(a) 50-term sum a_i*sin(b_i*x + c_i), 150 trainable floats: jitted value and gradient of .sum(), "
                f"{n:,} points, float32",
                ["library", "time per step", "vs sympile"],
                rows,
            )
        )
    return "\n".join(out)


def case_first_call():
    expr, abc = sine_sum()
    out = []
    for n in (100, 10_000):
        X = jnp.asarray(rng.uniform(-2, 2, n), jnp.float32)
        runs: dict = {}
        for _ in range(1 if QUICK else 3):
            for name, make in candidates(expr, abc).items():
                jax.clear_caches()
                _backend_jax._MODULE_CACHE.clear()
                t0 = CLOCK()
                model, f = make()
                t1 = CLOCK()
                jax.block_until_ready(f(model, X))
                t2 = CLOCK()
                runs.setdefault(name, []).append((t1 - t0, t2 - t1))
        med = {name: [statistics.median(r[k] for r in rs) for k in (0, 1)] for name, rs in runs.items()}
        base_build, base_first = med[OURS]
        out.append(
            table(
                f"(b) first call: build the model, then trace and compile the jitted value-and-grad ({n:,} points)",
                ["library", "build", "vs sympile", "trace + compile + first run", "vs sympile"],
                [
                    [name, fmt(b), f"{b / base_build:.2f}x", fmt(c), f"{c / base_first:.2f}x"]
                    for name, (b, c) in med.items()
                ],
            )
        )
    return "\n".join(out)


def trig_workloads():
    """name -> (arguments, expressions): sines and cosines that no module batches."""
    q = sp.symbols("q:4")
    angles = [sp.Add(*q[: i + 1]) for i in range(4)]
    lengths = (1.0, 0.8, 0.6, 0.4)
    arm = [sp.Add(*(L * f(a) for L, a in zip(lengths, angles))) for f in (sp.cos, sp.sin)]
    a, c = rng.uniform(0.5, 1.5, 8), rng.uniform(0, 3, 8)
    fourier = [sp.Add(*(sp.Float(a[k]) * sp.sin((k + 1) * x + sp.Float(c[k])) for k in range(8)))]
    return {"4-link arm, end point (x, y)": (list(q), arm), "8-term Fourier series": ([x], fourier)}


def case_lambdify_trig():
    import sympile

    rows = []
    for name, (args, exprs) in trig_workloads().items():
        X = [jnp.asarray(rng.uniform(-3, 3, 200_000), jnp.float32) for _ in args]
        jax.clear_caches()
        made = {
            "sympile lambdify(backend='jax')": jax.jit(sympile.lambdify(args, exprs, backend="jax")),
            "sympy.lambdify(modules='jax', cse=True)": jax.jit(sp.lambdify(args, exprs, modules="jax", cse=True)),
        }
        firsts = {}
        for label, f in made.items():
            t0 = CLOCK()
            jax.block_until_ready(f(*X))
            firsts[label] = CLOCK() - t0
        ours, theirs = (np.asarray(made[k](*X)) for k in made)
        np.testing.assert_allclose(ours, theirs, rtol=0, atol=4e-6)
        times = timed({k: (lambda f=f: jax.block_until_ready(f(*X))) for k, f in made.items()}, 5 if QUICK else 15, 0.1)
        base = "sympile lambdify(backend='jax')"
        for label in made:
            rows.append(
                [
                    name,
                    label,
                    fmt(firsts[label]),
                    fmt(times[label]),
                    f"{times[label] / times[base]:.2f}x",
                ]
            )
    return table(
        "(c) sines and cosines outside modules, jitted, 200,000 points, float32",
        ["workload", "library", "first call (trace + compile)", "call", "vs sympile"],
        rows,
    )


if __name__ == "__main__":
    clock = "process CPU time" if CPU else "wall clock"
    device = jax.devices()[0].device_kind
    print(f"jax {jax.__version__}, equinox {eqx.__version__}, device {device}, one thread; {clock}.")
    print("Ratios are the other library's time over sympile's (module + eqx.filter_jit): above 1x, sympile is faster.")
    print(case_sine_sum(), flush=True)
    print(case_first_call(), flush=True)
    print(case_lambdify_trig(), flush=True)
