"""Real workloads, end to end, against what a user would pick instead.

Each section builds one workload a user runs (not a shape tuned for sympile) and times the
whole user-visible cost: build from cold caches, one call with the argument kinds the user
passes (the solvers' float64 state vectors), and the solver end to end. One thread; calls
are timed interleaved, round after round, and the tables give medians and ratios.

Sections (``--only NAME`` runs one; ``--quick`` fewer rounds):

- ``pendulum``: an n-link pendulum from `KanesMethod` (n = 10, 20 states) in mass-matrix form,
  ``y' = M^-1 F``, under ``solve_ivp`` (RK45): sympile's `ode_system`, sympy.lambdify(cse),
  symengine ``Lambdify`` (LLVM and its lambda backend), and pydy's ``generate_ode_function``
  with its lambdify and Cython generators.
- ``kinetics``: a stiff mass-action network (40 species, 100 reactions), the Jacobian at one
  state and BDF end to end with it: `ode_system` (sparse CSC and dense) against sympy.lambdify
  of ``Matrix.jacobian`` and symengine.
- ``jacobian``: a 40x40 banded Jacobian at one point (NumPy and C backends), and the C
  backend's cold build of it and of a 50-d Rosenbrock Hessian, against symengine's LLVM.
- ``outputs``: the C backend's one-point call with a list of two matrices ``[M, F]``.
- ``data``: the Hessian of a logistic-regression negative log-likelihood over 200 points of
  20 features (NumPy data), build and call, against ``jax.jit(jax.hessian(...))``.
- ``cold``: the first build in a fresh process (see bench/cold_start.py for the full table).

    python bench/workloads.py [--quick] [--only SECTION]
"""

from __future__ import annotations

import importlib.util
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import _common  # noqa: F401  (one thread)
import numpy as np
import sympy as sp
from _common import fmt, interleaved, median_time, once, table

import sympile

HERE = Path(__file__).resolve().parent
QUICK = "--quick" in sys.argv
ONLY = sys.argv[sys.argv.index("--only") + 1] if "--only" in sys.argv else None
ROUNDS = 3 if QUICK else 7

_spec = importlib.util.spec_from_file_location("ode_systems", HERE.parent / "examples" / "ode_systems.py")
models = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(models)


def _optional(name):
    try:
        return __import__(name)
    except ImportError:
        return None


se = _optional("symengine")


def _timed_build(make, repeat: int = 3, probe=None):
    """Median time of a build and its first call (``probe(result)``; compiled code may be built
    lazily) from cold caches: SymPy's, sympile's in-process and on-disk kernel caches."""
    runs, out = [], None
    for _ in range(repeat):
        sp.core.cache.clear_cache()
        sympile._functions.lambdify._CACHE.clear()
        with tempfile.TemporaryDirectory() as cache:
            old = os.environ.get("SYMPILE_CACHE_DIR")
            os.environ["SYMPILE_CACHE_DIR"] = cache
            try:
                t, out = once(lambda: _probed(make(), probe))
            finally:
                if old is None:
                    del os.environ["SYMPILE_CACHE_DIR"]
                else:
                    os.environ["SYMPILE_CACHE_DIR"] = old
        runs.append(t)
    return statistics.median(runs), out


def _probed(result, probe):
    if probe is not None:
        probe(result)
    return result


def _solve_time(fun, y0, args, t_end, repeat, **kwargs):
    from scipy.integrate import solve_ivp

    runs, sol = [], None
    for _ in range(repeat):
        t = time.perf_counter()
        sol = solve_ivp(fun, (0, t_end), y0, args=args, **kwargs)
        runs.append(time.perf_counter() - t)
    assert sol.success, sol.message
    return statistics.median(runs), sol


def _ratio_rows(calls: dict, base: str) -> list[list[str]]:
    return [[name, fmt(t), f"{t / calls[base]:.2f}"] for name, t in calls.items()]


# -- the n-link pendulum ----------------------------------------------------------------------


def pendulum(n: int = 10) -> str:
    t, states, mass, forcing, params = models.pendulum(n)
    plain = sp.symbols(f"y:{2 * n}")
    swap = dict(zip(states, plain))
    m_s, f_s = mass.xreplace(swap), forcing.xreplace(swap)
    rng = np.random.default_rng(0)
    y0 = np.r_[rng.uniform(-0.5, 0.5, n), np.zeros(n)]
    p = np.r_[9.81, np.ones(n), np.ones(n)]
    makers = {
        "sympile ode_system": lambda: sympile.ode_system(t, plain, f_s, params, mass=m_s).fun,
        "sympile ode_system (c)": lambda: sympile.ode_system(t, plain, f_s, params, mass=m_s, backend="c").fun,
        "sympy.lambdify(cse) + solve": lambda: _sympy_rhs(plain, params, m_s, f_s),
    }
    if se is not None:
        makers["symengine Lambdify (LLVM) + solve"] = lambda: _symengine_rhs(plain, params, m_s, f_s, "llvm")
        makers["symengine Lambdify (lambda) + solve"] = lambda: _symengine_rhs(plain, params, m_s, f_s, "lambda")
    pydy = _optional("pydy")
    if pydy is not None:
        makers["pydy generator='lambdify'"] = lambda: _pydy_rhs(states, params, mass, forcing, n, "lambdify")
        makers["pydy generator=sympile (its hook)"] = lambda: _pydy_rhs(
            states, params, mass, forcing, n, models.sympile_generator()
        )
        if _optional("Cython") is not None:
            makers["pydy generator='cython'"] = lambda: _pydy_rhs(states, params, mass, forcing, n, "cython")
    builds, funs = {}, {}
    for name, make in makers.items():
        builds[name], funs[name] = _timed_build(
            make, repeat=1 if "cython" in name else 3, probe=lambda f: f(0.0, y0, p)
        )
    want = funs["sympy.lambdify(cse) + solve"](0.0, y0, p)
    for name, f in funs.items():
        np.testing.assert_allclose(f(0.0, y0, p), want, rtol=1e-9, atol=1e-9, err_msg=name)
    calls = interleaved({k: (lambda f=f: f(0.0, y0, p)) for k, f in funs.items()}, rounds=ROUNDS, min_time=0.05)
    solves = {}
    for name, f in funs.items():
        solves[name], _ = _solve_time(f, y0, (p,), 10.0, repeat=1 if QUICK else 3)
    base = "sympile ode_system"
    rows = [
        [name, fmt(builds[name]), fmt(calls[name]), f"{calls[name] / calls[base]:.2f}", fmt(solves[name])]
        for name in funs
    ]
    return table(
        f"n-link pendulum (KanesMethod, n = {n}, {2 * n} states), y' = M^-1 F, solve_ivp RK45 over 10 s",
        ["contender", "build (cold)", "rhs at one float64 state", "call / sympile", "solve_ivp end to end"],
        rows,
    )


def _sympy_rhs(ys, ps, m, f):
    mf = sp.lambdify([ys, ps], [m, f], cse=True)

    def rhs(t, y, p):
        mv, fv = mf(y, p)
        return np.linalg.solve(mv, fv).ravel()

    return rhs


def _symengine_rhs(ys, ps, m, f, backend):
    n = len(ys)
    fn = se.Lambdify([*ys, *ps], [*m, *f], backend=backend, cse=True)

    def rhs(t, y, p):
        out = fn(np.concatenate([y, p]))
        return np.linalg.solve(out[: n * n].reshape(n, n), out[n * n :])

    return rhs


def _pydy_rhs(states, params, mass, forcing, n, generator):
    from pydy.codegen.ode_function_generators import generate_ode_function

    return generate_ode_function(
        forcing, states[:n], states[n:], params, mass_matrix=mass, generator=generator, time_first=True
    )


# -- stiff kinetics ----------------------------------------------------------------------------


def kinetics() -> str:
    y, rhs, k = models.kinetics(40, 100, seed=0)
    rates = models.kinetics_rates(100)
    jac = rhs.jacobian(y)  # for the contenders: sympile differentiates on its graph
    y0 = np.full(len(y), 1.0)
    contenders = {
        "sympile ode_system (sparse CSC)": lambda: _pair(sympile.ode_system(None, y, rhs, k, sparse=True)),
        "sympile ode_system (dense)": lambda: _pair(sympile.ode_system(None, y, rhs, k, sparse=False)),
        "sympile ode_system (c, dense)": lambda: _pair(sympile.ode_system(None, y, rhs, k, backend="c", sparse=False)),
        "sympy.lambdify(cse) of Matrix.jacobian": lambda: _sympy_pair(y, k, rhs, jac),
    }
    if se is not None:
        contenders["symengine Lambdify (LLVM)"] = lambda: _symengine_pair(y, k, rhs, jac)
    builds, pairs = {}, {}
    for name, make in contenders.items():
        builds[name], pairs[name] = _timed_build(make, probe=lambda fj: (fj[0](0.0, y0, rates), fj[1](0.0, y0, rates)))
    rv = np.random.default_rng(2).uniform(0.1, 2, len(y))
    want = pairs["sympy.lambdify(cse) of Matrix.jacobian"][1](0.0, rv, rates)
    for name, (_, j) in pairs.items():
        got = j(0.0, rv, rates)
        np.testing.assert_allclose(got.toarray() if hasattr(got, "toarray") else got, want, rtol=1e-10, err_msg=name)
    calls = interleaved(
        {name: (lambda j=j: j(0.0, rv, rates)) for name, (_, j) in pairs.items()}, rounds=ROUNDS, min_time=0.05
    )
    solves = {}
    for name, (f, j) in pairs.items():
        solves[name], sol = _solve_time(f, y0, (rates,), 100.0, repeat=1 if QUICK else 3, method="BDF", jac=j)
    base = "sympile ode_system (sparse CSC)"
    rows = [
        [name, fmt(builds[name]), fmt(calls[name]), f"{calls[name] / calls[base]:.2f}", fmt(solves[name])]
        for name in pairs
    ]
    return table(
        "stiff kinetics (40 species, 100 reactions, rates 1e-3..1e3), BDF with jac= over 100 s",
        ["contender", "build rhs + jac (cold)", "jac at one state", "call / sympile sparse", "solve_ivp end to end"],
        rows,
    )


def _pair(system):
    return system.fun, system.jac


def _sympy_pair(y, k, rhs, jac):
    f = sp.lambdify([y, k], list(rhs), cse=True)
    j = sp.lambdify([y, k], jac, cse=True)
    return (lambda t, yv, kv: np.array(f(yv, kv))), (lambda t, yv, kv: j(yv, kv))


def _symengine_pair(y, k, rhs, jac):
    n = len(y)
    f = se.Lambdify([*y, *k], list(rhs), backend="llvm", cse=True)
    j = se.Lambdify([*y, *k], list(jac), backend="llvm", cse=True)
    return (lambda t, yv, kv: f(np.concatenate([yv, kv]))), (
        lambda t, yv, kv: j(np.concatenate([yv, kv])).reshape(n, n)
    )


# -- Jacobians and Hessians at one point; C builds ---------------------------------------------


def banded(n: int = 40):
    x = sp.symbols(f"x:{n}")
    f = [x[i - 1] - 2 * x[i] + x[(i + 1) % n] + sp.sin(x[i]) * x[(i + 1) % n] ** 2 for i in range(n)]
    return x, sp.Matrix(f).jacobian(x)


def rosenbrock(n: int = 50):
    x = sp.symbols(f"x:{n}")
    f = sum(100 * (x[i + 1] - x[i] ** 2) ** 2 + (1 - x[i]) ** 2 for i in range(n - 1))
    return x, sp.hessian(f, x)


def jacobian() -> str:
    x, jac = banded()
    xv = np.random.default_rng(3).normal(size=len(x))
    builds = {
        "sympile numpy": lambda: sympile.lambdify([x], jac),
        "sympile c": lambda: sympile.lambdify([x], jac, backend="c"),
        "sympy.lambdify(cse)": lambda: sp.lambdify([x], jac, cse=True),
    }
    if se is not None:
        builds["symengine Lambdify (LLVM)"] = lambda: _se_matrix(x, jac)
    built = {name: _timed_build(make, probe=lambda f: f(xv)) for name, make in builds.items()}
    want = built["sympy.lambdify(cse)"][1](xv)
    for name, (_, f) in built.items():
        np.testing.assert_allclose(f(xv), want, rtol=1e-12, err_msg=name)
    calls = interleaved({name: (lambda f=f: f(xv)) for name, (_, f) in built.items()}, rounds=ROUNDS, min_time=0.05)
    rows = [
        [name, fmt(built[name][0]), fmt(calls[name]), f"{calls[name] / calls['sympile numpy']:.2f}"] for name in built
    ]
    out = table(
        f"{len(x)}x{len(x)} banded Jacobian at one point (`f([xs], J)(x)`)",
        ["contender", "build (cold)", "call", "call / sympile numpy"],
        rows,
    )
    xs, hess = rosenbrock()
    c_builds = {"sympile c, 40x40 Jacobian": (lambda: sympile.lambdify([x], jac, backend="c"), len(x))}
    c_builds["sympile c, 50-d Rosenbrock Hessian"] = (lambda: sympile.lambdify([xs], hess, backend="c"), len(xs))
    if se is not None:
        c_builds["symengine LLVM, 40x40 Jacobian"] = (lambda: _se_matrix(x, jac), len(x))
        c_builds["symengine LLVM, 50-d Rosenbrock Hessian"] = (lambda: _se_matrix(xs, hess), len(xs))
    rows = [
        [name, fmt(_timed_build(make, probe=lambda f, n=n: f(np.full(n, 0.5)))[0])]
        for name, (make, n) in c_builds.items()
    ]
    return out + "\n" + table("cold builds of compiled code (empty kernel cache)", ["build", "time"], rows)


def _se_matrix(x, m):
    f = se.Lambdify([*x], list(m), backend="llvm", cse=True)
    shape = m.shape
    return lambda v: f(v).reshape(shape)


def outputs(n: int = 6) -> str:
    t, states, mass, forcing, params = models.pendulum(n)
    plain = sp.symbols(f"y:{2 * n}")
    swap = dict(zip(states, plain))
    m, f = mass.xreplace(swap), forcing.xreplace(swap)
    yv, pv = np.random.default_rng(4).normal(size=2 * n), np.r_[9.81, np.ones(2 * n)]
    two = sympile.lambdify([plain, params], [m, f], backend="c")
    one = sympile.lambdify([plain, params], m.row_join(f), backend="c")
    np.testing.assert_allclose(two(yv, pv)[1], one(yv, pv)[:, -1:], rtol=1e-14)
    calls = interleaved({"[M, F]": lambda: two(yv, pv), "M.row_join(F)": lambda: one(yv, pv)}, ROUNDS, 0.05)
    return table(
        f"C backend, one point, outputs as a list of matrices (pendulum n = {n})",
        ["output", "call", "ratio"],
        _ratio_rows(calls, "M.row_join(F)"),
    )


# -- data sums ---------------------------------------------------------------------------------


def data() -> str:
    sys.path.insert(0, str(HERE))
    import data_sums

    jax, jm = data_sums.jax_models()
    w = np.random.default_rng(5).normal(size=20) * 0.1
    t_ours, ours = _timed_build(lambda: sympile.hessian(data_sums.logistic, (20,)), probe=lambda f: f(w))
    jf = jax.jit(jax.hessian(jm["logistic"]))
    t_jax, _ = once(lambda: jf(w).block_until_ready())
    np.testing.assert_allclose(ours(w), np.asarray(jf(w)), rtol=1e-9, atol=1e-9)
    calls = interleaved(
        {"sympile hessian": lambda: ours(w), "jax.jit(jax.hessian)": lambda: jf(w).block_until_ready()}, ROUNDS, 0.05
    )
    t_c, in_c = _timed_build(
        lambda: sympile.hessian(data_sums.logistic, (20,), backend="c"), repeat=1, probe=lambda f: f(w)
    )
    np.testing.assert_allclose(in_c(w), ours(w), rtol=1e-9, atol=1e-9)
    rows = [
        ["sympile hessian (numpy)", f"{len(ours.graph)} nodes", fmt(t_ours), fmt(calls["sympile hessian"])],
        ["sympile hessian (c)", f"{len(in_c.graph)} nodes", fmt(t_c), fmt(median_time(lambda: in_c(w)))],
        ["jax.jit(jax.hessian)", "-", fmt(t_jax), fmt(calls["jax.jit(jax.hessian)"])],
    ]
    return table(
        "logistic-regression NLL Hessian, 20 features x 200 points of NumPy data",
        ["contender", "graph", "build (first call for jax)", "call"],
        rows,
    )


# -- cold start --------------------------------------------------------------------------------


def cold() -> str:
    sys.path.insert(0, str(HERE))
    import cold_start

    libs = ["sympile", "sympy"] + (["symengine"] if se is not None else [])
    for lib in libs:  # warm-up: fills the byte-code cache, as an installed package has it
        cold_start._run(lib, "bumps")
    runs: dict = {lib: [] for lib in libs}
    for _ in range(ROUNDS):
        for lib in libs:
            runs[lib].append(cold_start._run(lib, "bumps")["build"])
    med = {lib: statistics.median(v) for lib, v in runs.items()}
    rows = [[lib, fmt(t), f"{med['sympy'] / t:.1f}x"] for lib, t in med.items()]
    return table(
        "first build + call in a fresh process: gradient of 30 Gaussian bumps in 3-D (sympy.diff before the clock)",
        ["library", "build + first call", "sympy.lambdify(cse) / this"],
        rows,
    )


SECTIONS = {
    "pendulum": pendulum,
    "kinetics": kinetics,
    "jacobian": jacobian,
    "outputs": outputs,
    "data": data,
    "cold": cold,
}


def main() -> None:
    print(f"# bench/workloads.py{' --quick' if QUICK else ''}: one thread, medians of {ROUNDS} interleaved rounds")
    for name, section in SECTIONS.items():
        if ONLY in (None, name):
            print(section(), flush=True)


if __name__ == "__main__":
    main()
