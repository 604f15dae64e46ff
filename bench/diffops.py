"""sympile's differential operators against SymNum, jax.jit(jax.jacobian/hessian) and Autograd.

For each case (SymNum's README function, Rosenbrock in 2 and 10 dimensions, a 10-dimensional
logistic-regression log density with 20 data points): the generation time (tracing,
differentiating and compiling, plus the first call, which is where JAX compiles) and the
median time per call, in one run, one thread, with ratios over sympile's. Then the
cheap-gradient check: a gradient's cost over its function's, on functions of 1,000 terms.

    python bench/diffops.py [--quick] [--symnum-limit SECONDS]
"""

from __future__ import annotations

import sys
import time

import numpy as np
from _common import fmt, fresh_caches, interleaved, table

import sympile
import sympile.numpy as snp

QUICK = "--quick" in sys.argv
rng = np.random.default_rng(0)
DATA = rng.normal(size=(20, 10))
LABELS = (rng.uniform(size=20) > 0.5).astype(float)


def readme(m):
    """SymNum's README function, R^2 -> R^2, written over a NumPy-like module ``m``."""

    def func(x):
        return m.array([[1.0, -0.5], [-2.0, 3.0]]) @ m.array([m.cos(-(x[1] ** 2) + 3 * x[0]), m.sin(x[0] - 1)])

    return func


def rosenbrock(m):
    def rosen(x):
        return m.sum(100 * (x[1:] - x[:-1] ** 2) ** 2 + (1 - x[:-1]) ** 2)

    return rosen


def logistic(m):
    def log_density(w):
        z = DATA @ w
        return m.sum(LABELS * z - m.log1p(m.exp(z))) - 0.5 * (w @ w)

    return log_density


#: (title, function maker, dimension, operators)
CASES = [
    ("SymNum's README function (R^2 -> R^2)", readme, 2, ["jacobian", "matrix_hessian_product"]),
    ("Rosenbrock, 2 dimensions", rosenbrock, 2, ["grad", "hessian"]),
    ("Rosenbrock, 10 dimensions", rosenbrock, 10, ["grad", "hessian"]),
    ("logistic regression, 10 dimensions, 20 data points", logistic, 10, ["grad", "hessian"]),
]
#: Where SymNum 0.2.1 is known to fail: its generation runs in a child process, with a time limit.
SYMNUM_FAILS = {(logistic, "hessian")}
SYMNUM_LIMIT = 300 if QUICK else 600
if "--symnum-limit" in sys.argv:
    SYMNUM_LIMIT = int(sys.argv[sys.argv.index("--symnum-limit") + 1])


# -- each library's way to make the operator and call it ------------------------------------------------


def sympile_op(make, op, n):
    fn = getattr(sympile, op)(make(snp), n)
    return fn


def symnum_op(make, op, n):
    import symnum
    import symnum.numpy as snn

    return getattr(symnum, op)(make(snn), n)


def jax_op(make, op, n):
    import jax
    import jax.numpy as jnp

    f = make(jnp)
    if op == "grad":
        return jax.jit(jax.grad(f))
    if op == "hessian":
        return jax.jit(jax.hessian(f))
    if op == "jacobian":
        return jax.jit(jax.jacobian(f))
    jac = jax.jacobian(f)
    return jax.jit(lambda x, m: jax.grad(lambda y: jnp.sum(m * jac(y)))(x))


def autograd_op(make, op, n):
    import autograd
    import autograd.numpy as anp

    f = make(anp)
    if op in ("grad", "hessian", "jacobian"):
        return getattr(autograd, op)(f)
    jac = autograd.jacobian(f)
    return autograd.grad(lambda y, m: anp.sum(m * jac(y)))


def caller(library, op, fn, x, m):
    """A no-argument function that evaluates the operator once, as each library's users would."""
    if library == "jax.jit":
        import jax.numpy as jnp

        xj, mj = jnp.asarray(x), None if m is None else jnp.asarray(m)
        if op == "matrix_hessian_product":
            return lambda: fn(xj, mj).block_until_ready()
        return lambda: fn(xj).block_until_ready()
    if op == "matrix_hessian_product":
        if library == "Autograd":
            return lambda: fn(x, m)
        return lambda: fn(x)(m)
    return lambda: fn(x)


LIBRARIES = {"sympile": sympile_op, "SymNum": symnum_op, "jax.jit": jax_op, "Autograd": autograd_op}


def _generate_in_child(conn, make, op, n):
    start = time.perf_counter()
    try:
        symnum_op(make, op, n)
        conn.send(("ok", time.perf_counter() - start))
    except RecursionError:
        conn.send(("fails: RecursionError", time.perf_counter() - start))


def symnum_known_failure(make, op, n) -> str | None:
    """Run SymNum's generation in a child process; say how it failed (None if it did not)."""
    import multiprocessing

    ctx = multiprocessing.get_context("spawn")  # JAX's threads make fork unsafe
    parent, child = ctx.Pipe()
    process = ctx.Process(target=_generate_in_child, args=(child, make, op, n))
    process.start()
    if parent.poll(SYMNUM_LIMIT):
        status, seconds = parent.recv()
        process.join()
        return None if status == "ok" else f"{status} after {fmt(seconds)}"
    process.terminate()
    process.join()
    return f"no result after {fmt(SYMNUM_LIMIT)}"


def warm_up():
    """Imports and first-use costs (SciPy's special functions, JAX's backend) are not generation."""
    for library, build in LIBRARIES.items():
        for op in ("grad", "matrix_hessian_product"):
            make = rosenbrock if op == "grad" else readme
            caller(library, op, build(make, op, 2), np.array([0.1, 0.2]), np.ones((2, 2)))()


def generate(library, make, op, n, x, m):
    """Seconds to make the operator and call it once (from cold caches), the call, its value."""
    fresh_caches()
    start = time.perf_counter()
    call = caller(library, op, LIBRARIES[library](make, op, n), x, m)
    out = call()  # the first call: JAX compiles here
    return time.perf_counter() - start, call, np.asarray(out)


def run_case(title, make, n, op):
    x = rng.uniform(-1, 1, n)
    m = rng.normal(size=(2, n)) if op == "matrix_hessian_product" else None
    failed, generation, calls, outs = {}, {}, {}, {}
    if (make, op) in SYMNUM_FAILS:
        error = symnum_known_failure(make, op, n)
        if error:
            failed["SymNum"] = error
    # generation, interleaved: three cold builds each (one for what takes seconds)
    for _ in range(1 if QUICK else 3):
        for library in LIBRARIES:
            if library in failed or (library in generation and max(generation[library]) > 5):
                continue
            try:
                seconds, calls[library], outs[library] = generate(library, make, op, n, x, m)
            except RecursionError:
                failed[library] = "fails: RecursionError"
                continue
            generation.setdefault(library, []).append(seconds)
    per_call = interleaved(calls, rounds=5 if QUICK else 15, min_time=0.01 if QUICK else 0.03)
    for library, out in outs.items():
        np.testing.assert_allclose(out, outs["sympile"], rtol=1e-6, atol=1e-9, err_msg=f"{library}: {title}")
    gen = {lib: float(np.median(runs)) for lib, runs in generation.items()}
    gen["Autograd"] = float("nan")  # nothing is generated: every call traces again
    rows = []
    for library in LIBRARIES:
        if library in failed:
            rows.append([library, failed[library], "", "", ""])
            continue
        g, c = gen[library], per_call[library]
        gen_text = "—" if g != g else fmt(g)
        gen_ratio = "—" if g != g else f"{g / gen['sympile']:.1f}x"
        rows.append([library, gen_text, gen_ratio, f"{c * 1e6:.2f}", f"{c / per_call['sympile']:.2f}x"])
    print(
        table(
            f"{title}: {op}",
            ["library", "generation", "generation vs sympile", "per call (µs)", "per call vs sympile"],
            rows,
        ),
        flush=True,
    )
    return {lib: (gen[lib], per_call[lib]) for lib in per_call}, failed


# -- the cheap-gradient principle ------------------------------------------------------------------


def sine_sum(k=1000):
    a, c = rng.uniform(0.5, 2, k), rng.uniform(0, 1, k)
    b = rng.normal(size=(k, 3))

    def f(x):
        return snp.sum(a * snp.sin(b @ x + c))

    return f, 3


def chained(k=1000):
    def f(x):
        return snp.sum(100 * (x[1:] - x[:-1] ** 2) ** 2 + (1 - x[:-1]) ** 2)

    return f, k + 1


def cheap_gradient():
    rows = []
    for title, (f, n) in [
        ("1,000-term sum a_i sin(b_i . x + c_i), x in R^3", sine_sum()),
        ("Rosenbrock in 1,001 dimensions (1,000 terms)", chained()),
    ]:
        value = sympile.numpify_func(f, n)
        gradient = sympile.grad(value)
        x = rng.uniform(-1, 1, n)
        value(x), gradient(x)  # compiled; first calls done
        times = interleaved({"f": lambda: value(x), "g": lambda: gradient(x)}, rounds=5 if QUICK else 15, min_time=0.02)
        t_f, t_g = times["f"], times["g"]
        rows.append([title, len(value.graph), len(gradient.graph), fmt(t_f), fmt(t_g), f"{t_g / t_f:.2f}x"])
    print(
        table(
            "cheap gradient: a gradient's cost over its function's (target: at most 4x)",
            ["function", "function nodes", "gradient nodes", "function call", "gradient call", "gradient / function"],
            rows,
        ),
        flush=True,
    )


if __name__ == "__main__":
    import jax

    jax.config.update("jax_enable_x64", True)
    print("Ratios are the other library's time over sympile's: above 1x, sympile is faster.")
    print(f"Generation includes the first call; per call is the median of repeated calls. quick={QUICK}")
    warm_up()
    summary = []
    for title, make, n, ops in CASES:
        for op in ops:
            results, failed = run_case(title, make, n, op)
            s = results["sympile"]
            row = [f"{title}: {op}"]
            for library in ("SymNum", "jax.jit", "Autograd"):
                if library in failed:
                    row.append(failed[library])
                    continue
                gen, call = results[library]
                gen_text = "" if gen != gen else f"gen {gen / s[0]:.0f}x, "
                row.append(f"{gen_text}call {call / s[1]:.2f}x")
            summary.append(row)
    print(table("summary (other library over sympile)", ["case", "SymNum", "jax.jit", "Autograd"], summary))
    cheap_gradient()
