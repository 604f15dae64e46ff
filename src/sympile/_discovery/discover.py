"""`discover`: expressions from data, through sympile's own enumeration and established
symbolic-regression engines.

sympile enumerates small skeletons whose constants enter linearly (`search`) and runs an
engine (pyoperon by default; gplearn and PySR when installed), reading its Pareto front through
the restricted parser. Every candidate's constants are refined with `fit` (exact Jacobians from
the graph); simplified forms join the candidates beside the originals. ``best`` is the
candidate of smallest description length (`criterion`: a loss floor set by the data, a price
for every node and constant), its constants snapped to exact values where the data cannot tell
the difference. PySR's selection rules remain available (``selection="best"`` and others).
"""

from __future__ import annotations

import importlib
import importlib.util
import keyword
import math
import os
import sys
import threading
import time
import warnings
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FuturesTimeout
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import sympy as sp

from .._core.errors import BackendNotAvailableError, SympileError
from .._sympy.parse import parse_expr
from . import criterion as _crit
from . import search as _search
from .criterion import mse as _loss
from .fit import FitWarning, fit


@dataclass
class Candidate:
    """One candidate: its complexity (tree nodes), mean squared error and expression.

    ``criterion`` is its description length (`sympile._discovery.criterion`; smaller is
    better) and ``raw`` the expression as fitted, before its constants were snapped.
    """

    complexity: int
    loss: float
    expr: Any
    score: float = 0.0
    criterion: float = math.inf
    raw: Any = None
    source: str = ""


@dataclass
class Discovery:
    """The Pareto front (simplest first) and the chosen ``best`` candidate.

    ``variables`` are the names of the columns and ``symbols`` the SymPy symbols that stand
    for them in the expressions (the same names, but for those SymPy or sympile's parser would
    read otherwise, such as ``pi``, ``E``, ``I``, ``gamma`` or ``lambda``, which get a
    trailing underscore: ``str(best.expr)`` always parses back to an equal expression in the
    same symbols).
    ``noise`` is the nearest-neighbour estimate of the noise variance, ``floor`` the loss
    below which candidates counted as equal, ``seconds`` the wall time spent and ``stages``
    where it went: {stage: wall seconds} in the calling thread, in order, then in parentheses
    what ran beside it (the engine's import and each engine run, in their threads).
    """

    front: list
    best: Candidate
    engine: str
    variables: list = field(default_factory=list)
    symbols: dict = field(default_factory=dict)
    noise: float = math.nan
    floor: float = 0.0
    seconds: float = 0.0
    stages: dict = field(default_factory=dict)

    @property
    def raw(self):
        """The chosen expression as fitted, before its constants were snapped."""
        return self.best.raw if self.best.raw is not None else self.best.expr

    def table(self) -> str:
        """The front as a plain-text table (what ``sympile discover`` prints)."""
        rows = [("complexity", "loss", "score", "expression")]
        for c in self.front:
            mark = " *" if c is self.best else ""
            rows.append((str(c.complexity), f"{c.loss:.4g}", f"{c.score:.3g}", f"{c.expr}{mark}"))
        widths = [max(len(r[i]) for r in rows) for i in range(3)]
        return "\n".join(
            "  ".join([r[0].rjust(widths[0]), r[1].rjust(widths[1]), r[2].rjust(widths[2]), r[3]]) for r in rows
        )

    def __repr__(self) -> str:
        return f"Discovery({len(self.front)} candidates, best: {self.best.expr})"


#: Operators that engines may use, by sympile's names -> each engine's own.
OPERATORS = ("add", "sub", "mul", "div", "sin", "cos", "exp", "log", "sqrt", "square", "tanh", "abs", "pow")
_OPERON_NAMES = {"square": "square", "abs": "abs", "pow": "pow", "tanh": "tanh"}
_GPLEARN_NAMES = {"square": None, "pow": None, "exp": None, "tanh": None}


def discover(
    X,
    y,
    *,
    engine: Any = "operon",
    variables: Sequence[str] | None = None,
    max_size: int = 20,
    operators: Sequence[str] = ("add", "sub", "mul", "div"),
    seed: int | None = 0,
    refine: bool = True,
    simplify: bool = True,
    selection: str = "mdl",
    generations: int = 1000,
    population_size: int = 1000,
    max_evaluations: int = 500_000,
    time_limit: float | None = None,
    runs: int | None = None,
    workers: int | None = None,
    search: bool | None = None,
    snap: bool | None = None,
    progress: bool = False,
    client: Any = None,
    **options,
) -> Discovery:
    """Find expressions for ``y`` as a function of the columns of ``X``.

    Candidates come from sympile's own enumeration of small skeletons (sparse sums of basis
    terms, rational functions, transformed targets: `sympile._discovery.search`) and from one
    or more runs of an engine; every candidate's constants are refitted on the graph, the
    candidates are compared by a description length whose loss floor is set by the data
    (float precision on clean data, the noise level on noisy data), and the chosen one's
    constants are snapped to exact values (0, small rationals, rational multiples of pi and
    surds) where the data cannot tell the difference.

    Args:
        X: a 2-D array (one column per variable), a pandas DataFrame or a dict of columns.
        y: the target values.
        engine: ``"operon"`` (pyoperon, the default), ``"gplearn"``, ``"pysr"``, an
            already fitted ``PySRRegressor`` (its Pareto front is read and refined), or None
            (sympile's own search alone).
        variables: names of the columns (default: the DataFrame's or dict's names, else
            ``x0, x1, ...``); distinct Python identifiers.
        max_size: the largest expression the engine may build.
        operators: the operators allowed, from `OPERATORS`.
        seed: the engine's random seed (run ``k`` uses ``seed + k``).
        refine: refine each candidate's constants with `fit`.
        simplify: simplify each candidate with SymPy (the simplified form joins the
            candidates; it never replaces the original).
        selection: how ``best`` is chosen: ``"mdl"`` (the default: the smallest description
            length, then snapped), or PySR's ``model_selection`` rules on the front:
            ``"best"`` (the highest score among candidates with loss within 1.5x of the
            smallest), ``"score"`` (the highest score), ``"accuracy"`` (the smallest loss).
            ``"score"`` suits targets whose errors are smooth rather than noisy (a neural
            network's output, say), which extra complexity can fit.
        generations, population_size, max_evaluations, options: passed to the engine. Without
            ``time_limit`` the run is bounded by these counts and reproducible for a seed.
        time_limit: seconds of wall time for the whole call, counted from the call (the
            engine's import, search, engine runs, refits and snapping); the call returns
            within about 10% of it (``.stages`` says where the time went). The engine's own
            counts are lifted so that the time is what stops it.
        runs: how many engine runs (seeds ``seed, seed+1, ...``) to merge, in run order;
            default 1, or one per worker under a ``time_limit`` (2 with one worker and a
            limit of 4 s or more), or one per worker with a ``client``.
        workers: how many pyoperon runs go at once, in threads beside the enumeration and
            the refits (pyoperon releases the GIL); default 2 (1 on a 1-core machine).
            ``workers=1`` runs everything in turn in the calling thread. Results bounded by
            evaluations are the same either way.
        search: run sympile's own enumeration as well as the engine (default: with
            ``selection="mdl"``; PySR's rules keep their earlier behaviour: engine only).
        snap: snap the chosen candidate's constants to exact values (default: with
            ``selection="mdl"``).
        progress: show progress (tqdm when installed, else lines on stderr).
        client: a ``dask.distributed.Client``: the engine runs and the enumeration are
            submitted to its cluster as independent tasks and their candidates merged.

    Returns:
        A `Discovery`: ``.front`` (simplest first), ``.best`` and ``.raw`` (the best as fitted,
        before snapping).

    Raises:
        BackendNotAvailableError: the engine's package is not installed (the message names it).
        SympileError: bad data, names, operators, budget or a closed ``client``.
    """
    started = time.perf_counter()
    names, data = _design(X, variables)
    y = np.array(np.asarray(y, dtype=np.float64).ravel(), order="C", copy=True)
    if data.shape[0] != y.shape[0]:
        raise SympileError(f"X has {data.shape[0]} rows but y has {y.shape[0]} values")
    if not np.all(np.isfinite(data)) or not np.all(np.isfinite(y)):
        raise SympileError("X and y must be finite: drop the rows with NaN or infinite values")
    if selection not in SELECTIONS:
        raise SympileError(f"unknown selection {selection!r}; choose from {', '.join(SELECTIONS)}")
    bad = [op for op in operators if op not in OPERATORS]
    if bad:
        raise SympileError(f"unknown operators {bad}; choose from {', '.join(OPERATORS)}")
    if time_limit is not None:
        if isinstance(time_limit, bool) or not isinstance(time_limit, (int, float)) or not time_limit > 0:
            raise SympileError(f"time_limit must be a positive number of seconds, got {time_limit!r}")
        if not math.isfinite(time_limit):
            time_limit = None
    if runs is not None and (isinstance(runs, bool) or not isinstance(runs, int) or runs < 1):
        raise SympileError(f"runs must be a positive whole number, got {runs!r}")
    if workers is None:
        workers = min(2, os.cpu_count() or 1)
    elif isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
        raise SympileError(f"workers must be a positive whole number of threads, got {workers!r}")
    if isinstance(engine, str) and engine not in _ENGINES:
        raise SympileError(f"unknown engine {engine!r}; choose 'operon', 'gplearn' or 'pysr'")
    if engine is not None and not isinstance(engine, str) and not hasattr(engine, "equations_"):
        raise SympileError("engine must be 'operon', 'gplearn', 'pysr', None or a fitted PySRRegressor")
    symbols = _symbols(names)
    operators = list(operators)
    legacy = selection != "mdl"  # PySR's rules: the candidates and polishing they had before
    search = (not legacy or engine is None) if search is None else bool(search)
    snap = (not legacy) if snap is None else bool(snap)
    if engine is None and not search:
        raise SympileError("engine=None leaves only sympile's own search: do not also pass search=False")
    budget = _Budget(started, time_limit)
    bar = _Progress(progress, started)
    engine_options = dict(generations=generations, population_size=population_size, max_evaluations=max_evaluations)
    engine_options.update(options)

    raw: list[tuple[Any, str]] = []
    columns = {str(s): data[:, k] for k, s in enumerate(symbols)}
    pool: list[Candidate] = []
    seen: set = set()
    runner = None
    if client is not None:
        raw += _on_cluster(
            client, engine, data, y, symbols, max_size, operators, seed, runs, search, engine_options, budget, bar
        )
    else:
        runner = _Runs(engine, data, y, symbols, max_size, operators, seed, engine_options, budget, bar)
        if isinstance(engine, str):
            n_runs = runs or (1 if time_limit is None else workers if workers > 1 else 2 if time_limit >= 4 else 1)
            if workers > 1 and engine == "operon":  # it releases the GIL: its runs beside the search
                runner.start_parallel(n_runs, workers, at_least=not search)
        if search and budget.left(0.75):
            bar.stage("search")
            found = _search.candidates(data, y, symbols, operators, deadline=budget.at(0.35))
            raw += _screen(found, y, _crit.nearest_neighbour_noise(data, y))
            if runner.parallel:  # the enumeration's candidates refitted while the engine runs
                bar.stage("refit (search)")
                pool += _polish_all(raw, columns, y, refine, simplify, budget, legacy, seen)
        if isinstance(engine, str):
            raw += runner.finish(n_runs) if runner.parallel else runner.run_in_turn(n_runs, at_least=not raw)
        elif engine is not None:
            raw += [(e, "pysr") for e in _read_pysr(engine, symbols)]
    label = engine if isinstance(engine, str) else "search" if engine is None else "pysr"

    bar.stage("refit")
    pool += _polish_all(raw, columns, y, refine, simplify, budget, legacy, seen)
    if not pool:
        raise SympileError(f"the {label} engine returned no usable expression")
    n = y.shape[0]
    noise = _crit.nearest_neighbour_noise(data, y)
    losses = sorted(c.loss for c in pool)
    # PySR's rules compare losses as they are, down to float precision
    floor = _crit.loss_floor(y, math.inf, []) if legacy else _crit.loss_floor(y, noise, losses[:3])
    for c in pool:
        c.criterion = _crit.criterion(c.loss, c.expr, n, floor)
    if selection == "mdl":
        ranked, keys = [], set()
        for c in sorted(pool, key=lambda c: (c.criterion, c.complexity)):
            if sp.srepr(c.expr) not in keys:
                keys.add(sp.srepr(c.expr))
                ranked.append(c)
        chosen = ranked[:3] if snap else ranked[:1]
    else:
        chosen = [select_best(pareto_front(pool, floor), selection, floor)]
    if snap:
        bar.stage("snap")
        for c in list(chosen):  # the best first: the others only while time is left
            if not c.expr.atoms(sp.Float) or not budget.left(0.05):
                continue
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                expr, loss = _crit.snap(c.expr, columns, y, floor, budget.at(0.96))
            if expr != c.expr and math.isfinite(loss):
                snapped = Candidate(complexity(expr), loss, expr, raw=c.raw or c.expr, source=c.source)
                snapped.criterion = _crit.criterion(loss, expr, n, floor)
                pool.append(snapped)
                chosen.append(snapped)
    if selection == "mdl":
        best = min(chosen, key=lambda c: (c.criterion, c.complexity))
    else:
        best = min(chosen[1:], key=lambda c: c.criterion, default=chosen[0])
    front = pareto_front(pool, floor)
    if best not in front:
        front = sorted([c for c in front if c.complexity != best.complexity] + [best], key=lambda c: c.complexity)
    select_best(front, "best", floor)  # fills in the scores
    bar.close()
    stages = bar.seconds()
    stages.update({f"({k})": v for k, v in (runner.seconds if runner is not None else {}).items()})
    return Discovery(
        front,
        best,
        label,
        names,
        dict(zip(names, symbols)),
        noise,
        floor,
        time.perf_counter() - started,
        stages,
    )


def pareto_front(candidates: list[Candidate], floor: float = 0.0) -> list[Candidate]:
    """The non-dominated candidates (lower complexity and lower loss), simplest first.

    Losses below ``floor`` count as equal (ties go to the smaller criterion, then the earlier
    candidate)."""
    best_at: dict[int, Candidate] = {}
    for c in candidates:
        held = best_at.get(c.complexity)
        if held is None or (max(c.loss, floor), c.criterion) < (max(held.loss, floor), held.criterion):
            best_at[c.complexity] = c
    front, lowest = [], math.inf
    for k in sorted(best_at):
        c = best_at[k]
        if max(c.loss, floor) < lowest:
            front.append(c)
            lowest = max(c.loss, floor)
    return front


SELECTIONS = ("mdl", "best", "score", "accuracy")


def select_best(front: list[Candidate], selection: str = "best", floor: float = 1e-300) -> Candidate:
    """Choose from a front (simplest first) by PySR's ``model_selection`` rules.

    ``"best"``: the highest score among candidates with loss within 1.5x of the minimum;
    ``"score"``: the highest score; ``"accuracy"``: the smallest loss; ``"mdl"``: the smallest
    criterion. The score of a candidate is ``-d log(loss) / d complexity`` against the
    previous member of the front (0 for the simplest); losses below ``floor`` count as
    ``floor``. Ties go to the simpler candidate.
    """
    floor = max(floor, 1e-300)
    for k, c in enumerate(front):
        if k == 0:
            c.score = 0.0
        else:
            p = front[k - 1]
            c.score = -(math.log(max(c.loss, floor)) - math.log(max(p.loss, floor))) / (c.complexity - p.complexity)
    if selection == "mdl":
        return min(front, key=lambda c: (c.criterion, c.complexity))
    smallest = max(min(c.loss for c in front), floor)
    if selection == "accuracy":
        return min(front, key=lambda c: (max(c.loss, floor), c.complexity))
    eligible = front if selection == "score" else [c for c in front if max(c.loss, floor) <= 1.5 * smallest]
    return max(eligible, key=lambda c: (c.score, -c.complexity))


def complexity(expr) -> int:
    """The number of nodes of the expression tree (every constant and symbol counts 1)."""
    return sum(1 for _ in sp.preorder_traversal(expr))


def _design(X, variables) -> tuple[list[str], np.ndarray]:
    if hasattr(X, "columns") and hasattr(X, "to_numpy"):
        names = [str(c) for c in X.columns]
        data = X.to_numpy(dtype=float)
    elif isinstance(X, Mapping):
        names = [str(k) for k in X]
        data = np.column_stack([np.asarray(v, dtype=float).ravel() for v in X.values()])
    else:
        try:
            data = np.asarray(X, dtype=float)
        except (TypeError, ValueError):
            raise SympileError("X must be numeric") from None
        if data.ndim == 1:
            data = data[:, None]
        names = [f"x{k}" for k in range(data.shape[1])]
    # Engines want their own writable, C-ordered float64 (pandas hands out read-only views).
    data = np.array(data, dtype=np.float64, order="C", copy=True)
    if variables is not None:
        names = [str(v) for v in variables]
        if len(names) != data.shape[1]:
            raise SympileError(f"{len(names)} variable names for {data.shape[1]} columns")
    seen: dict[str, int] = {}
    for name in names:
        seen[name] = seen.get(name, 0) + 1
        if not name.isidentifier():
            raise SympileError(
                f"the variable name {name!r} is not an identifier: use letters, digits and underscores, "
                "not starting with a digit (rename the column or pass variables=[...])"
            )
    repeated = [n for n, k in seen.items() if k > 1]
    if repeated:
        raise SympileError(
            f"the variable names {', '.join(map(repr, repeated))} occur more than once: each column needs its "
            "own name (pass variables=[...])"
        )
    return names, data


def _reads_back(name: str) -> bool:
    """Whether sympile's parser reads ``name`` as the symbol of that name."""
    if keyword.iskeyword(name):
        return False
    try:
        return parse_expr(name) == sp.Symbol(name)
    except SympileError:
        return False


def _symbols(names: list[str]) -> list:
    """A symbol per column, named after it unless the parser would read the name otherwise
    (``pi``, ``E``, ``I``, ``gamma``, ``lambda``, ...): then with trailing underscores."""
    taken = set(names)
    out = []
    for name in names:
        safe = name
        if not _reads_back(safe):
            safe += "_"
            while safe in taken or not _reads_back(safe):
                safe += "_"
            taken.add(safe)
        out.append(sp.Symbol(safe))
    return out


def _polish(expr, columns, y, refine: bool, simplify: str | None, replace: bool = False) -> list[Candidate]:
    """The candidate refitted, and its simplified form refitted beside it (never instead of
    it: the criterion decides). ``simplify``: None, ``"cancel"`` (cheap) or ``"full"``.

    ``replace`` (PySR's selection rules, which know no criterion): the simplified form
    instead of the original when its loss is no worse, as before (the demo relies on the
    normalised ratio it gives)."""
    out = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FitWarning)
        if refine and expr.atoms(sp.Float):
            expr = _try_fit(expr, columns, y) or expr
        forms = [expr]
        if simplify:
            simpler = _simplify(expr, simplify)
            if simpler is not None and simpler != expr:
                refit = _try_fit(simpler, columns, y) if refine and simpler.atoms(sp.Float) else simpler
                forms.append(refit if refit is not None else simpler)
    losses = [_loss(e, columns, y) for e in forms]
    if replace and len(forms) == 2:
        (a, b), (la, lb) = forms, losses
        if lb <= la * (1 + 1e-9) + 1e-30:  # the rule these selections always had
            forms, losses = [b], [lb]
        else:
            forms, losses = [a], [la]
    for e, loss in zip(forms, losses):
        if math.isfinite(loss):
            out.append(Candidate(complexity(e), loss, e))
    return out


def _polish_all(
    raw, columns, y, refine: bool, simplify: bool, budget, replace: bool = False, seen: set | None = None
) -> list[Candidate]:
    """Every new candidate of ``raw`` polished (`_polish`) while the budget allows, judged as it
    came after that; ``seen`` (updated) holds the keys of those already done."""
    pool, seen = [], set() if seen is None else seen
    for expr, source in raw:
        if not isinstance(expr, sp.Expr) or expr.has(sp.I, sp.zoo, sp.nan, sp.oo):
            continue
        key = sp.srepr(expr)
        if key in seen:
            continue
        seen.add(key)
        if not budget.left(0.32):
            # out of time: the rest are judged as they came
            loss = _loss(expr, columns, y)
            if math.isfinite(loss):
                pool.append(Candidate(complexity(expr), loss, expr, source=source))
            continue
        mode = None if not simplify else "cancel" if source == "search" or not budget.left(0.4) else "full"
        for c in _polish(expr, columns, y, refine, mode, replace):
            c.source = source
            pool.append(c)
    return pool


def _try_fit(expr, columns, y):
    data = {k: v for k, v in columns.items() if sp.Symbol(k) in expr.free_symbols}
    data["__target__"] = y
    try:
        result = fit(expr, data, "__target__", max_iter=100)
    except SympileError:
        return None
    return result.expr


def _simplify(expr, mode: str = "full"):
    if complexity(expr) > 80:
        return None
    try:
        if mode == "cancel":
            return _normalise_ratio(sp.cancel(expr))
        return _normalise_ratio(sp.simplify(expr))
    except Exception:  # SymPy's simplifier can fail on odd expressions; keep the original
        return None


def _normalise_ratio(expr):
    """A ratio with its denominator's leading coefficient 1: ``3.03x/(3.03x + 3.03)`` becomes
    ``x/(x + 1)``, so equal factors with float coefficients cancel and constants are few."""
    num, den = sp.fraction(sp.together(expr))
    if den.is_number:
        return expr
    try:
        lead = sp.Poly(den, *sorted(den.free_symbols, key=str)).LC()
    except sp.PolynomialError:
        return expr
    if not lead.is_number or lead == 0:
        return expr
    num, den = sp.expand(num / lead), sp.expand(den / lead)
    # the leading coefficient is exactly 1.0 now: make it the integer, not a parameter
    den = den.xreplace({f: sp.Integer(1) for f in den.atoms(sp.Float) if f == 1})
    return num / den


# -- the engines -------------------------------------------------------------------------------


def _need(package: str, hint: str):
    try:
        return __import__(package)
    except ImportError:
        raise BackendNotAvailableError(f"this engine needs {package}, which is not installed: {hint}") from None


def _run_operon(data, y, symbols, max_size, operators, seed, options):
    _need("pyoperon", "pip install pyoperon")
    from pyoperon.sklearn import SymbolicRegressor

    allowed = [_OPERON_NAMES.get(op, op) for op in operators] + ["constant", "variable"]
    model = SymbolicRegressor(
        allowed_symbols=",".join(allowed),
        objectives=["r2", "length"],
        max_length=max_size,
        random_state=seed,
        n_threads=options.pop("n_threads", 1),
        **options,
    )
    model.fit(data, y)
    mapping = {f"X{k + 1}": s for k, s in enumerate(symbols)}
    out = []
    for entry in model.pareto_front_:
        text = model.get_model_string(entry["tree"], 17)
        try:
            out.append(parse_expr(text, symbols=mapping, strict_symbols=True))
        except SympileError:
            continue
    return out


def _run_gplearn(data, y, symbols, max_size, operators, seed, options):
    _need("gplearn", "pip install gplearn")
    from gplearn.genetic import SymbolicRegressor

    functions = tuple(op for op in operators if _GPLEARN_NAMES.get(op, op))
    if "abs" in operators:
        functions = tuple(op for op in functions if op != "abs") + ("abs",)
    seconds = options.get("max_time")
    generations = min(options.get("generations", 20), 40)
    model = SymbolicRegressor(
        population_size=options.get("population_size", 1000),
        generations=1 if seconds is not None else generations,
        function_set=functions,
        metric="mse",
        random_state=seed,
        parsimony_coefficient=options.get("parsimony_coefficient", 0.001),
        init_depth=(2, 4),
        warm_start=seconds is not None,
    )
    started = time.perf_counter()
    model.fit(data, y)
    if seconds is not None:  # gplearn has no time limit: one generation more while another fits
        while True:
            spent = time.perf_counter() - started
            if spent + spent / model.generations > seconds:
                break
            model.set_params(generations=model.generations + 1)
            model.fit(data, y)
    mapping = {f"X{k}": s for k, s in enumerate(symbols)}
    # gplearn protects its partial functions; sympile writes what they compute.
    protected = {
        "div": lambda a, b: a / b,
        "sqrt": lambda a: sp.sqrt(sp.Abs(a)),
        "log": lambda a: sp.log(sp.Abs(a)),
        "inv": lambda a: 1 / a,
    }
    out = []
    for program in model._programs[-1]:
        if program is None or program.length_ > max_size:
            continue
        try:
            out.append(parse_expr(str(program), symbols=mapping, strict_symbols=True, functions=protected))
        except SympileError:
            continue
    return out


def _run_pysr(data, y, symbols, max_size, operators, seed, options):
    _need("pysr", "pip install pysr (it installs Julia on first use)")
    from pysr import PySRRegressor

    binary = [
        {"add": "+", "sub": "-", "mul": "*", "div": "/", "pow": "^"}[o]
        for o in operators
        if o in ("add", "sub", "mul", "div", "pow")
    ]
    unary = [o for o in operators if o not in ("add", "sub", "mul", "div", "pow")]
    model = PySRRegressor(
        binary_operators=binary,
        unary_operators=unary,
        maxsize=max_size,
        random_state=seed,
        niterations=options.get("niterations", 40),
        deterministic=seed is not None,
        parallelism="serial" if seed is not None else "multithreading",
    )
    model.fit(data, y, variable_names=[str(s) for s in symbols])
    return _read_pysr(model, symbols)


def _read_pysr(model, symbols):
    """Candidates from a fitted PySRRegressor's ``equations_`` (its text, through our parser)."""
    table = model.equations_
    if isinstance(table, list):  # several outputs: the first
        table = table[0]
    mapping = {str(s): s for s in symbols}
    mapping.update({f"x{k}": s for k, s in enumerate(symbols)})
    out = []
    for text in list(table["equation"]):
        try:
            out.append(parse_expr(str(text), symbols=mapping, strict_symbols=True))
        except SympileError:
            continue
    return out


_ENGINES = {"operon": _run_operon, "gplearn": _run_gplearn, "pysr": _run_pysr}


def _timed(engine: str, options: dict, seconds: float | None) -> dict:
    """The engine's options for a run of ``seconds`` (None: bounded by its counts)."""
    if seconds is None:
        return options
    if engine == "operon":
        options.setdefault("max_time", max(1, int(seconds)))
        options["generations"] = max(options.get("generations", 0), 10**6)
        options["max_evaluations"] = max(options.get("max_evaluations", 0), 10**12)
    elif engine == "gplearn":
        options["max_time"] = seconds
        options["generations"] = max(options.get("generations", 0), 10**6)
    elif engine == "pysr":
        options.setdefault("timeout_in_seconds", max(1.0, seconds))
    return options


#: The modules an engine's run imports (pyoperon's brings scikit-learn: seconds on a cold start).
_ENGINE_MODULES = {"operon": ("pyoperon", "pyoperon.sklearn"), "gplearn": ("gplearn", "gplearn.genetic")}
#: Fractions of the time limit by which the engine runs end: run in turn after the search, or
#: in threads beside it (then the search's candidates are refitted while they run).
_ENGINE_END, _PARALLEL_ENGINE_END = 0.55, 0.6


class _Runs:
    """The engine's runs under the budget: its import started at once in a thread (charged to
    the call's budget, overlapping the search), then the runs either in turn after the search
    or in threads beside it, each with its own seed (``seed + k``), merged in run order so a
    seeded run bounded by evaluations gives the same candidates however they were scheduled.
    ``seconds`` records each stage's wall time."""

    def __init__(self, engine, data, y, symbols, max_size, operators, seed, options, budget, bar):
        self.engine, self.args = engine, (data, y, symbols, max_size, operators)
        self.seed, self.options, self.budget, self.bar = seed, options, budget, bar
        self.parallel, self.futures, self.seconds = False, [], {}
        self.loading = None
        if isinstance(engine, str) and engine in _ENGINE_MODULES:
            package = _ENGINE_MODULES[engine][0]
            if importlib.util.find_spec(package) is None:
                raise BackendNotAvailableError(
                    f"this engine needs {package}, which is not installed: pip install {package}"
                )
            self.loading = threading.Thread(target=self._import, daemon=True)
            self.loading.start()

    def _import(self) -> None:
        t = time.perf_counter()
        for module in _ENGINE_MODULES[self.engine]:
            try:
                importlib.import_module(module)
            except Exception:  # the run itself reports it
                break
        self.seconds[f"import {self.engine}"] = time.perf_counter() - t

    def _loaded(self, until: float | None) -> bool:
        """Wait for the import, at most until the time ``until`` (None: as long as it takes)."""
        if self.loading is not None:
            self.loading.join(None if until is None else max(0.0, until - time.perf_counter()))
            return not self.loading.is_alive()
        return True

    def _one(self, k: int, end: float | None, at_least: bool = False) -> list:
        """Run ``k`` until about the time ``end`` (whole seconds: pyoperon's ``max_time``;
        none when less than one is left, unless ``at_least``)."""
        if not self._loaded(end):
            return []
        seconds = None
        if end is not None:  # a run may end a quarter second past ``end``, no more
            seconds = math.floor(end - time.perf_counter() + 0.25)
            if seconds < 1:
                if not at_least:
                    return []
                seconds = 1
        t = time.perf_counter()
        opts = _timed(self.engine, dict(self.options), seconds)
        seed_k = None if self.seed is None else self.seed + k
        out = _ENGINES[self.engine](*self.args, seed_k, opts)
        self.seconds[f"{self.engine} run {k + 1}"] = time.perf_counter() - t
        return [(e, self.engine) for e in out]

    def start_parallel(self, n_runs: int, workers: int, at_least: bool) -> None:
        """The runs in threads, started now (they wait for the import)."""
        self.parallel = True
        end = self.budget.at(_PARALLEL_ENGINE_END)
        self.bar.stage(f"{n_runs} {self.engine} runs on {min(workers, n_runs)} threads")
        self.pool = ThreadPoolExecutor(max_workers=min(workers, n_runs), thread_name_prefix="sympile-discover")
        self.futures = [self.pool.submit(self._one, k, end, k == 0 and at_least) for k in range(n_runs)]

    def finish(self, n_runs: int) -> list:
        """The parallel runs' expressions, in run order (a run still importing past the
        engines' share of the time is left behind)."""
        self.bar.stage(f"waiting for {self.engine}")
        end = self.budget.at(_PARALLEL_ENGINE_END)
        out = []
        for f in self.futures:
            timeout = None if end is None else max(0.0, end - time.perf_counter()) + 0.5
            try:
                out += f.result(timeout=timeout)
            except FuturesTimeout:
                pass
        self.pool.shutdown(wait=False, cancel_futures=True)
        return out

    def run_in_turn(self, n_runs: int, at_least: bool) -> list:
        """The runs one after another, each an equal share of the time left to the engines
        (fewer, longer runs when a share would be under a second). ``at_least``: the first
        run gets a second even past the engines' share (no other candidates are coming)."""
        out = []
        for k in range(n_runs):
            end = self.budget.at(_ENGINE_END)
            if end is not None:
                share = (end - time.perf_counter()) / (n_runs - k)
                last = share < 1
                end = end if last else time.perf_counter() + share
            self.bar.stage(f"{self.engine} run {k + 1}/{n_runs}")
            out += self._one(k, end, at_least=k == 0 and at_least)
            if end is not None and last:
                break
        return out


class _Budget:
    """Fractions of the time limit, measured from the start of the call."""

    def __init__(self, started: float, limit: float | None):
        self.started, self.limit = started, limit

    def at(self, fraction: float) -> float | None:
        return None if self.limit is None else self.started + fraction * self.limit

    def left(self, fraction: float = 0.0) -> bool:
        """Whether more than ``fraction`` of the limit remains (always, without a limit)."""
        return self.limit is None or time.perf_counter() < self.started + (1 - fraction) * self.limit

    def share(self, until: float, parts: int) -> float:
        """One of ``parts`` equal shares of the time from now to ``until`` of the limit."""
        if self.limit is None:
            return math.inf
        return max(0.0, (self.started + until * self.limit - time.perf_counter()) / max(parts, 1))


class _Progress:
    """Stages on a tqdm bar when tqdm is installed, else on stderr; nothing when quiet. Each
    stage's wall time is kept (``seconds()``), shown or not."""

    def __init__(self, on: bool, started: float | None = None):
        self.on, self.bar = bool(on), None
        self.marks = [("set-up", time.perf_counter() if started is None else started)]
        if self.on:
            try:
                from tqdm.auto import tqdm

                self.bar = tqdm(total=None, desc="discover", leave=False, bar_format="{desc} [{elapsed}]")
            except ImportError:
                self.bar = None

    def stage(self, what: str) -> None:
        self.marks.append((what, time.perf_counter()))
        if not self.on:
            return
        if self.bar is not None:
            self.bar.set_description_str(f"discover: {what}")
            self.bar.refresh()
        else:
            print(f"discover: {what}", file=sys.stderr, flush=True)

    def close(self) -> None:
        self.marks.append(("", time.perf_counter()))
        if self.bar is not None:
            self.bar.close()

    def seconds(self) -> dict:
        """{stage: wall seconds} in the calling thread, in order (a stage entered twice adds up)."""
        out: dict = {}
        for (what, t), (_, t_next) in zip(self.marks, self.marks[1:]):
            out[what] = out.get(what, 0.0) + t_next - t
        return out


# -- on a dask cluster -------------------------------------------------------------------------


def _engine_job(engine, data, y, symbols, max_size, operators, seed, options):
    """One engine run, as a task on a worker: its expressions, tagged with their source."""
    return [(e, engine) for e in _ENGINES[engine](data, y, symbols, max_size, operators, seed, options)]


def _search_job(data, y, symbols, operators, seconds):
    deadline = None if seconds is None else time.perf_counter() + seconds
    found = _search.candidates(data, y, symbols, operators, deadline=deadline)
    return _screen(found, y, _crit.nearest_neighbour_noise(data, y))


def _screen(found, y, noise, keep: int = 12) -> list:
    """The enumeration's best ``keep`` by a first criterion (before any refit)."""
    floor = _crit.loss_floor(y, noise, sorted(mse for _, mse in found)[:3])
    n = y.shape[0]
    ranked = sorted(found, key=lambda pair: _crit.criterion(pair[1], pair[0], n, floor))
    return [(e, "search") for e, _ in ranked[:keep]]


def _on_cluster(client, engine, data, y, symbols, max_size, operators, seed, runs, search, options, budget, bar):
    status = str(getattr(client, "status", ""))
    if not hasattr(client, "submit") or "closed" in status or "closing" in status:
        raise SympileError(
            f"the dask client is not running (status {status or 'unknown'}): pass an open "
            "dask.distributed.Client, or client=None to run in this process"
        )
    if engine is not None and not isinstance(engine, str):
        raise SympileError("client= runs engines on the cluster: pass engine='operon', 'gplearn', 'pysr' or None")
    try:
        workers = len(client.scheduler_info().get("workers", {}))
    except Exception as e:  # a client whose scheduler has gone
        raise SympileError(f"the dask client cannot reach its scheduler ({e}); start a new Client") from None
    n_runs = runs or max(1, workers)
    seconds = None if budget.limit is None else budget.share(0.5, 1)
    bar.stage(f"{n_runs} {engine} runs on {workers} workers")
    futures = []
    if search:
        futures.append(client.submit(_search_job, data, y, symbols, operators, seconds and 0.3 * seconds, pure=False))
    for k in range(n_runs if engine is not None else 0):
        opts = _timed(engine, dict(options), seconds)
        seed_k = None if seed is None else seed + k
        futures.append(
            client.submit(_engine_job, engine, data, y, symbols, max_size, operators, seed_k, opts, pure=False)
        )
    out = []
    for f in futures:
        timeout = None if budget.limit is None else max(1.0, budget.at(0.7) - time.perf_counter())
        try:
            out += f.result(timeout=timeout)
        except TimeoutError:
            f.cancel()
    return out
