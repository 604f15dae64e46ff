"""Exact recovery, SRBench-style: sympile.discover against pyoperon alone and gplearn alone,
with the same wall-time budget and operators, on AI Feynman, Nguyen and Strogatz problems.

Each problem: 200 points drawn uniformly from its domain (seeded), the target clean or with
Gaussian noise of 1% of RMS(y). A run is *exact* when its chosen expression, with every
constant rounded to 3 significant digits (float dust below 1e-6 to 0), equals the true law
with its constants rounded alike, as SymPy decides: the difference simplifies to 0 (or the ratio to 1), tried on the
expression as it stands, expanded and over a common denominator. The same test for every
library. Budget per run: ``--budget`` seconds of wall time (pyoperon's ``max_time``; gplearn
grown generation by generation with ``warm_start`` until the time is spent; sympile's
``time_limit`` with ``workers=1``), one thread each.

    python bench/discover.py [--budget 5] [--seeds 1] [--first-seed 0] [--noise 0,0.01]
        [--runners sympile,operon,gplearn] [--problems NAME,...] [--sympile-workers 1]
        [--out results.jsonl]
    python bench/discover.py --table results.jsonl      # the Markdown table of a results file
    python bench/discover.py --table results.jsonl --stored   # the same from the stored verdicts

Results are appended one JSON line per run, so runners can be run apart and tabled together.
"""

from __future__ import annotations

import argparse
import json
import os
import time
import warnings

import numpy as np
import sympy as sp
from _common import table

import sympile
from sympile._sympy.parse import parse_expr

OPS = ["add", "sub", "mul", "div", "exp", "sqrt"]
TRIG = OPS + ["sin", "cos"]

S = sp.symbols
pi = sp.pi
R = sp.Rational


def _p(name, truth, domain, ops=OPS):
    """A problem: its name, the law, {symbol: (low, high)} and the operators."""
    return name, truth, domain, ops


th, mu, Nn, q, C, k, x_, p, V, Y, s = S("theta mu Nn q C k x p V Y s")
m0, v, c, B, mob, kb, T, eps, Ef, d1, d2, n = S("m0 v c B mob kb T eps Ef d1 d2 n")
w0, q1, r, P, gam, rho, m1, m2, r1, r2, w, h = S("w0 q1 r P gam rho m1 m2 r1 r2 w h")
m, g, z, al, a, x, y = S("m g z al a x y")

U15 = (1, 5)
PROBLEMS = [
    # AI Feynman (domains as in the AI Feynman set, mostly U(1, 5))
    _p("I.6.2a", sp.exp(-(th**2) / 2) / sp.sqrt(2 * pi), {th: (1, 3)}),
    _p("I.12.1", mu * Nn, {mu: U15, Nn: U15}),
    _p("I.12.4", q1 / (4 * pi * eps * r**2), {q1: U15, eps: U15, r: U15}),
    _p("I.12.5", q * Ef, {q: U15, Ef: U15}),
    _p("I.14.3", m * g * z, {m: U15, g: U15, z: U15}),
    _p("I.14.4", k * x_**2 / 2, {k: U15, x_: U15}),
    _p("I.10.7", m0 / sp.sqrt(1 - v**2 / c**2), {m0: U15, v: (1, 2), c: (3, 10)}),
    _p("I.18.4", (m1 * r1 + m2 * r2) / (m1 + m2), {m1: U15, m2: U15, r1: U15, r2: U15}),
    _p("I.25.13", q / C, {q: U15, C: U15}),
    _p("I.27.6", 1 / (1 / d1 + n / d2), {d1: U15, d2: U15, n: U15}),
    _p("I.29.4", w / c, {w: U15, c: U15}),
    _p("I.34.8", q * v * B / p, {q: U15, v: U15, B: U15, p: U15}),
    _p("I.34.10 (Doppler)", w0 / (1 - v / c), {w0: U15, v: (1, 2), c: (3, 10)}),
    _p("I.34.27", h * w / (2 * pi), {h: U15, w: U15}),
    _p("I.39.1", R(3, 2) * p * V, {p: U15, V: U15}),
    _p("I.39.11", p * V / (gam - 1), {gam: (2, 5), p: U15, V: U15}),
    _p("I.43.31", mob * kb * T, {mob: U15, kb: U15, T: U15}),
    _p("I.47.23", sp.sqrt(gam * p / rho), {gam: U15, p: U15, rho: U15}),
    _p("II.3.24", P / (4 * pi * r**2), {P: U15, r: U15}),
    _p("II.4.23", q / (4 * pi * eps * r), {q: U15, eps: U15, r: U15}),
    _p("II.8.31", eps * Ef**2 / 2, {eps: U15, Ef: U15}),
    _p("II.11.28", 1 + n * al / (1 - n * al / 3), {n: (0, 1), al: (0, 1)}),
    _p("II.27.18", eps * Ef**2, {eps: U15, Ef: U15}),
    _p("II.38.14", Y / (2 * (1 + s)), {Y: U15, s: U15}),
    _p("III.12.43", n * h / (2 * pi), {n: U15, h: U15}),
    # Nguyen
    _p("Nguyen-1", x**3 + x**2 + x, {x: (-1, 1)}),
    _p("Nguyen-2", x**4 + x**3 + x**2 + x, {x: (-1, 1)}),
    _p("Nguyen-3", x**5 + x**4 + x**3 + x**2 + x, {x: (-1, 1)}),
    _p("Nguyen-5", sp.sin(x**2) * sp.cos(x) - 1, {x: (-1, 1)}, TRIG),
    _p("Nguyen-8", sp.sqrt(x), {x: (0, 4)}),
    _p("Nguyen-10", 2 * sp.sin(x) * sp.cos(y), {x: (0, 1), y: (0, 1)}, TRIG),
    _p("Nguyen-12", x**4 - x**3 + y**2 / 2 - y, {x: (-1, 1), y: (-1, 1)}),
    # Strogatz ODE right-hand sides (ODE-Strogatz set)
    _p("Lotka-Volterra x'", 3 * x - 2 * x * y - x**2, {x: (0, 3), y: (0, 3)}),
    _p("Lotka-Volterra y'", 2 * y - x * y - y**2, {x: (0, 3), y: (0, 3)}),
    _p("predator-prey x'", x * (4 - x - y / (1 + x)), {x: (0, 3), y: (0, 3)}),
    _p("predator-prey y'", y * (x / (1 + x) - R(3, 40) * y), {x: (0, 3), y: (0, 3)}),
    _p("van der Pol x'", 10 * (y - (x**3 - x) / 3), {x: (-3, 3), y: (-3, 3)}),
    _p("van der Pol y'", -x / 10, {x: (-3, 3), y: (-3, 3)}),
    _p("bacterial respiration y'", 10 - x * y / (1 + x**2 / 2), {x: (0, 3), y: (0, 3)}),
    _p("glider y'", x - sp.cos(y) / x, {x: (1, 3), y: (-3, 3)}, TRIG),
]


# -- the scorer ---------------------------------------------------------------------------------


def _round3(expr):
    """Every number of ``expr`` (pi and surds evaluated) to 3 significant digits; float dust
    (magnitude below 1e-6) to 0."""
    expr = sp.sympify(expr).evalf(30)
    return expr.xreplace(
        {f: sp.Float(float(f"{float(f):.3g}"), 15) if abs(f) >= 1e-6 else sp.Integer(0) for f in expr.atoms(sp.Float)}
    )


def exact(expr, truth, domain=None) -> bool:
    """SRBench's exact-solution test with constants to 3 significant digits (variables whose
    domain is positive are positive symbols: sqrt(c**2*m**2) is c*m there)."""
    if expr is None:
        return False
    if domain:
        positive = {s: sp.Symbol(str(s), positive=True) for s, (lo, _) in domain.items() if lo > 0}
        expr, truth = sp.sympify(expr).xreplace(positive), truth.xreplace(positive)
    try:  # exact as it stands (rounding the law's 1/3 to 0.333 must not spoil an exact 1/3)
        if sp.simplify(sp.sympify(expr) - truth) == 0:
            return True
    except Exception:
        pass
    target = _round3(truth)
    forms = [expr]
    for make in (sp.expand, sp.together, sp.cancel):
        try:
            forms.append(make(expr))
        except Exception:
            pass
    for form in forms:
        try:
            cand = _round3(form)
            if sp.simplify(cand - target) == 0:
                return True
            ratio = sp.simplify(cand / target)
            if ratio.is_number and abs(float(ratio) - 1) < 1e-12:
                return True
        except Exception:
            continue
    return False


def data(truth, domain, seed, noise, n=200):
    rng = np.random.default_rng(seed)
    syms = list(domain)
    X = np.column_stack([rng.uniform(*domain[s], n) for s in syms])
    y = np.broadcast_to(sympile.lambdify(syms, truth)(*X.T), (n,)).astype(float)
    if noise:
        y = y + rng.normal(0, noise * np.sqrt(np.mean(y * y)), n)
    return X, y


# -- the runners --------------------------------------------------------------------------------


#: sympile's threads (``discover(workers=...)``): one, like the other libraries, unless
#: ``--sympile-workers`` says otherwise
WORKERS = [1]


def run_sympile(X, y, syms, ops, seed, budget):
    found = sympile.discover(
        X, y, variables=[str(s) for s in syms], operators=ops, seed=seed, time_limit=budget, workers=WORKERS[0]
    )
    return found.best.expr


def run_operon(X, y, syms, ops, seed, budget):
    from pyoperon.sklearn import SymbolicRegressor

    model = SymbolicRegressor(
        allowed_symbols=",".join(ops + ["constant", "variable"]),
        max_length=25,
        random_state=seed,
        n_threads=1,
        generations=100_000,
        max_evaluations=10**9,
        max_time=max(1, int(budget)),
    )
    model.fit(X, y)
    mapping = {f"X{k + 1}": s for k, s in enumerate(syms)}
    return parse_expr(model.get_model_string(model.model_, 17), symbols=mapping, strict_symbols=True)


def run_gplearn(X, y, syms, ops, seed, budget):
    from gplearn.genetic import SymbolicRegressor

    fns = tuple(o for o in ops if o not in ("exp",))  # gplearn has no exp
    model = SymbolicRegressor(
        population_size=1000,
        generations=1,
        function_set=fns,
        metric="mse",
        random_state=seed,
        parsimony_coefficient=0.001,
        warm_start=True,
    )
    t = time.perf_counter()
    model.fit(X, y)
    while True:  # one generation more while the budget allows another
        spent = time.perf_counter() - t
        per = spent / model.generations
        if spent + per > budget:
            break
        model.set_params(generations=model.generations + 1)
        model.fit(X, y)
    mapping = {f"X{k}": s for k, s in enumerate(syms)}
    protected = {"sqrt": lambda a: sp.sqrt(sp.Abs(a)), "log": lambda a: sp.log(sp.Abs(a))}
    return parse_expr(str(model._program), symbols=mapping, strict_symbols=True, functions=protected)


RUNNERS = {"sympile": run_sympile, "operon": run_operon, "gplearn": run_gplearn}
LABELS = {"sympile": "sympile.discover", "operon": "pyoperon alone", "gplearn": "gplearn alone"}


def rescore(row) -> bool:
    """The exact test again, on a result file's stored expression (the scorer may change)."""
    _, truth, domain, _ = next(p for p in PROBLEMS if p[0] == row["problem"])
    if row["expr"] == "None":
        return False
    mapping = {str(s): s for s in domain}
    mapping.update({str(s) + "_": s for s in domain})
    try:
        expr = parse_expr(row["expr"], symbols=mapping, strict_symbols=True)
    except sympile.SympileError:
        return False
    return exact(expr, truth, domain)


def make_table(path: str, stored: bool = False) -> str:
    """The table of a results file, every row rescored (``stored``: the verdicts of the run,
    made by this scorer then; rescoring runs SymPy's simplify on every row)."""
    rows = [json.loads(line) for line in open(path) if line.strip()]
    for row in rows if not stored else []:
        row["exact"] = rescore(row)
    runners = [r for r in RUNNERS if any(row["runner"] == r for row in rows)]
    noises = sorted({row["noise"] for row in rows})
    cols = [f"{LABELS[r]} ({'clean' if nz == 0 else f'{nz:.0%} noise'})" for nz in noises for r in runners]
    body, totals, counts, times = [], {}, {}, {}
    for name, *_ in PROBLEMS:
        line = [name]
        for nz in noises:
            for rn in runners:
                mine = [row for row in rows if row["problem"] == name and row["runner"] == rn and row["noise"] == nz]
                hits = sum(row["exact"] for row in mine)
                totals[rn, nz] = totals.get((rn, nz), 0) + hits
                counts[rn, nz] = counts.get((rn, nz), 0) + len(mine)
                times.setdefault((rn, nz), []).extend(row["seconds"] for row in mine)
                line.append(f"{hits}/{len(mine)}" if mine else "-")
        body.append(line)
    body.append(["**total**", *[f"**{totals[r, nz]}/{counts[r, nz]}**" for nz in noises for r in runners]])
    medians = [f"{np.median(times[r, nz]):.1f}" if times[r, nz] else "-" for nz in noises for r in runners]
    body.append(["median wall time (s)", *medians])
    return table("Exact recovery (constants to 3 significant digits)", ["problem", *cols], body)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--budget", type=float, default=5.0)
    parser.add_argument("--seeds", type=int, default=1, help="how many seeds (data and engine)")
    parser.add_argument("--first-seed", type=int, default=0, help="the first seed: runs use first..first+seeds-1")
    parser.add_argument("--noise", default="0,0.01")
    parser.add_argument("--runners", default="sympile,operon,gplearn")
    parser.add_argument("--problems", default="")
    parser.add_argument("--sympile-workers", type=int, default=1, help="sympile's threads (default 1, as the others)")
    parser.add_argument("--out", default="discover_results.jsonl")
    parser.add_argument("--table", default="")
    parser.add_argument("--stored", action="store_true", help="--table with the verdicts stored by the runs")
    args = parser.parse_args()
    if args.table:
        print(make_table(args.table, args.stored))
        return
    WORKERS[0] = args.sympile_workers
    chosen = [p for p in PROBLEMS if not args.problems or p[0] in args.problems.split(",")]
    noises = [float(v) for v in args.noise.split(",")]
    runners = args.runners.split(",")
    with open(args.out, "a") as out:
        for name, truth, domain, ops in chosen:
            syms = list(domain)
            for noise in noises:
                for seed in range(args.first_seed, args.first_seed + args.seeds):
                    X, y = data(truth, domain, seed, noise)
                    for rn in runners:
                        t = time.perf_counter()
                        try:
                            with warnings.catch_warnings():
                                warnings.simplefilter("ignore")
                                expr = RUNNERS[rn](X, y, syms, ops, seed, args.budget)
                        except Exception as e:  # an engine failing is a miss, not a crash
                            print(f"  {rn} failed on {name}: {type(e).__name__}: {e}", flush=True)
                            expr = None
                        dt = time.perf_counter() - t
                        hit = exact(expr, truth, domain)
                        row = dict(problem=name, runner=rn, noise=noise, seed=seed, exact=bool(hit), seconds=dt)
                        row["expr"] = str(expr)
                        out.write(json.dumps(row) + "\n")
                        out.flush()
                        print(
                            f"{name} noise={noise} seed={seed} {rn}: {'EXACT' if hit else 'miss'} {dt:.1f}s  {expr}",
                            flush=True,
                        )
    if os.path.exists(args.out):  # the verdicts just made (--table rescores a file)
        print(make_table(args.out, stored=True))


if __name__ == "__main__":
    main()
