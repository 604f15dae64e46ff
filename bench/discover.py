"""Exact-recovery counts: sympile.discover (operon, with refinement and PySR's selection)
against pyoperon alone and gplearn alone, over several seeds.

A run recovers the truth when its chosen expression, with constants quantised to 0.01 (as it
stands or expanded), equals the true expression: SymPy simplifies the difference to 0, or the
two agree to 1e-9 relative on 200 random points of the domain. The same test for every library.

    python bench/discover.py [--seeds 5] [--quick]
"""

from __future__ import annotations

import argparse
import time
import warnings

import numpy as np
import sympy as sp
from _common import table

import sympile
from sympile._sympy.parse import parse_expr

x, y = sp.symbols("x0 x1")
OPS_ARITH = ["add", "sub", "mul", "div"]
OPS_ALL = ["add", "sub", "mul", "div", "sin", "cos", "exp", "log", "sqrt"]

# name, truth, variables' domain, operators
PROBLEMS = [
    ("x/(1+x)", x / (1 + x), [(0.1, 3)], OPS_ARITH),
    ("Nguyen-1", x**3 + x**2 + x, [(-1, 1)], OPS_ALL),
    ("Nguyen-5", sp.sin(x**2) * sp.cos(x) - 1, [(-1, 1)], OPS_ALL),
    ("Nguyen-7", sp.log(x + 1) + sp.log(x**2 + 1), [(0, 2)], OPS_ALL),
    ("Nguyen-8", sp.sqrt(x), [(0, 4)], OPS_ALL),
    ("Nguyen-10", 2 * sp.sin(x) * sp.cos(y), [(0, 1), (0, 1)], OPS_ALL),
    ("Feynman I.12.1 (mu*N)", x * y, [(1, 5), (1, 5)], OPS_ARITH),
    ("Feynman I.14.4 (k x^2/2)", x * y**2 / 2, [(1, 5), (1, 5)], OPS_ARITH),
    ("Feynman I.25.13 (q/C)", x / y, [(1, 5), (1, 5)], OPS_ARITH),
    ("Feynman II.38.14 (Y/(2(1+s)))", x / (2 * (1 + y)), [(1, 5), (1, 5)], OPS_ARITH),
]


def recovered(expr, truth, domain, rng) -> bool:
    if expr is None:
        return False
    # the constants are rounded in the expression's own form and in its expanded form:
    # 1.071*x*(0.9334*x*(x + 1) + 0.9334) is x**3 + x**2 + x only once expanded
    forms = [sympile.quantise(expr, 0.01)]
    try:
        forms.append(sympile.quantise(sp.expand(expr), 0.01))
    except Exception:
        pass
    for q in forms:
        try:
            if sp.simplify(q - truth) == 0:
                return True
        except Exception:
            pass
    q = forms[0]
    syms = [x, y][: len(domain)]
    pts = [rng.uniform(lo, hi, 200) for lo, hi in domain]
    try:
        with np.errstate(all="ignore"):
            a = np.broadcast_to(sympile.lambdify(syms, q)(*pts), (200,))
            b = np.broadcast_to(sympile.lambdify(syms, truth)(*pts), (200,))
    except sympile.SympileError:
        return False
    return bool(np.all(np.isfinite(a)) and np.allclose(a, b, rtol=1e-9, atol=1e-12))


def data(truth, domain, seed, n=200):
    rng = np.random.default_rng(seed)
    X = np.column_stack([rng.uniform(lo, hi, n) for lo, hi in domain])
    f = sympile.lambdify([x, y][: len(domain)], truth)
    return X, np.broadcast_to(f(*X.T), (n,)).copy()


def run_sympile(X, y_, ops, seed, generations):
    found = sympile.discover(X, y_, operators=ops, seed=seed, generations=generations, max_size=25)
    return found.best.expr


def run_operon(X, y_, ops, seed, generations):
    from pyoperon.sklearn import SymbolicRegressor

    model = SymbolicRegressor(
        allowed_symbols=",".join(ops + ["constant", "variable"]),
        max_length=25,
        random_state=seed,
        n_threads=1,
        generations=generations,
    )
    model.fit(X, y_)
    mapping = {f"X{k + 1}": s for k, s in enumerate([x, y])}
    return parse_expr(model.get_model_string(model.model_, 17), symbols=mapping, strict_symbols=True)


def run_gplearn(X, y_, ops, seed, generations):
    from gplearn.genetic import SymbolicRegressor

    fns = tuple(o for o in ops if o != "exp")
    model = SymbolicRegressor(
        population_size=1000,
        generations=min(generations, 20),
        function_set=fns,
        metric="mse",
        random_state=seed,
        parsimony_coefficient=0.001,
    )
    model.fit(X, y_)
    mapping = {f"X{k}": s for k, s in enumerate([x, y])}
    protected = {"sqrt": lambda a: sp.sqrt(sp.Abs(a)), "log": lambda a: sp.log(sp.Abs(a))}
    return parse_expr(str(model._program), symbols=mapping, strict_symbols=True, functions=protected)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    generations = 100 if args.quick else 1000
    runners = {"sympile.discover (operon)": run_sympile, "pyoperon alone": run_operon, "gplearn alone": run_gplearn}
    rows, totals, times = [], dict.fromkeys(runners, 0), dict.fromkeys(runners, 0.0)
    rng = np.random.default_rng(12345)
    for name, truth, domain, ops in PROBLEMS:
        counts = []
        for label, run in runners.items():
            hits = 0
            for seed in range(args.seeds):
                X, y_ = data(truth, domain, seed)
                t = time.perf_counter()
                try:
                    with warnings.catch_warnings():
                        warnings.simplefilter("ignore")
                        expr = run(X, y_, ops, seed, generations)
                except Exception as e:  # an engine failing is a miss, not a crash
                    print(f"  {label} failed on {name} (seed {seed}): {type(e).__name__}: {e}")
                    expr = None
                times[label] += time.perf_counter() - t
                hits += recovered(expr, truth, domain, rng)
            totals[label] += hits
            counts.append(f"{hits}/{args.seeds}")
        rows.append([name, *counts])
        print(f"{name}: {', '.join(f'{k} {c}' for k, c in zip(runners, counts))}", flush=True)
    total = len(PROBLEMS) * args.seeds
    rows.append(["**total**", *[f"**{totals[k]}/{total}**" for k in runners]])
    rows.append(["time (s, all runs)", *[f"{times[k]:.0f}" for k in runners]])
    print(table(f"Exact recovery over {args.seeds} seeds", ["problem", *runners], rows))


if __name__ == "__main__":
    main()
