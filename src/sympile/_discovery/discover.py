"""`discover`: expressions from data, through established symbolic-regression engines.

sympile does not evolve expressions itself. It runs an engine (pyoperon by default; gplearn
and PySR when installed), reads the engine's Pareto front of candidate expressions through the
restricted parser, refines every candidate's constants with `fit` (exact Jacobians from the
graph), simplifies it, and picks ``best`` by PySR's rule: among the candidates whose loss is
within 1.5x of the smallest, the one with the highest score, where the score is the drop in
log-loss per unit of complexity from the previous (simpler) member of the front.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import sympy as sp

from .._core.errors import BackendNotAvailableError, SympileError
from .._sympy.parse import parse_expr
from .fit import FitWarning, fit


@dataclass
class Candidate:
    """One member of a Pareto front: its complexity, mean squared error and expression."""

    complexity: int
    loss: float
    expr: Any
    score: float = 0.0


@dataclass
class Discovery:
    """The Pareto front (simplest first) and the chosen ``best`` candidate."""

    front: list
    best: Candidate
    engine: str
    variables: list = field(default_factory=list)

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
    selection: str = "best",
    generations: int = 1000,
    population_size: int = 1000,
    max_evaluations: int = 500_000,
    **options,
) -> Discovery:
    """Find expressions for ``y`` as a function of the columns of ``X``.

    Args:
        X: a 2-D array (one column per variable), a pandas DataFrame or a dict of columns.
        y: the target values.
        engine: ``"operon"`` (pyoperon, the default), ``"gplearn"``, ``"pysr"``, or an
            already fitted ``PySRRegressor`` (its Pareto front is read and refined).
        variables: names of the columns (default: the DataFrame's or dict's names, else
            ``x0, x1, ...``).
        max_size: the largest expression the engine may build.
        operators: the operators allowed, from `OPERATORS`.
        seed: the engine's random seed.
        refine: refine each candidate's constants with `fit`.
        simplify: simplify each candidate with SymPy (then refine again).
        selection: how ``best`` is chosen from the front, as PySR's ``model_selection``:
            ``"best"`` (PySR's default: the highest score among candidates with loss within
            1.5x of the smallest), ``"score"`` (the highest score), ``"accuracy"`` (the
            smallest loss). ``"score"`` suits targets whose errors are smooth rather than
            noisy (a neural network's output, say), which extra complexity can fit.
        generations, population_size, max_evaluations, options: passed to the engine.

    Returns:
        A `Discovery`: ``.front`` (simplest first) and ``.best``.

    Raises:
        BackendNotAvailableError: the engine's package is not installed (the message names it).
    """
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
    symbols = [sp.Symbol(n) for n in names]
    if isinstance(engine, str):
        run = {"operon": _run_operon, "gplearn": _run_gplearn, "pysr": _run_pysr}.get(engine)
        if run is None:
            raise SympileError(f"unknown engine {engine!r}; choose 'operon', 'gplearn' or 'pysr'")
        raw = run(
            data,
            y,
            symbols,
            max_size,
            list(operators),
            seed,
            dict(generations=generations, population_size=population_size, max_evaluations=max_evaluations, **options),
        )
        label = engine
    elif hasattr(engine, "equations_"):
        raw = _read_pysr(engine, symbols)
        label = "pysr"
    else:
        raise SympileError("engine must be 'operon', 'gplearn', 'pysr' or a fitted PySRRegressor")
    columns = {n: data[:, k] for k, n in enumerate(names)}
    candidates = [_polish(expr, columns, y, refine, simplify) for expr in raw]
    candidates = [c for c in candidates if c is not None]
    if not candidates:
        raise SympileError(f"the {label} engine returned no usable expression")
    front = pareto_front(candidates)
    return Discovery(front, select_best(front, selection), label, names)


def pareto_front(candidates: list[Candidate]) -> list[Candidate]:
    """The non-dominated candidates (lower complexity and lower loss), simplest first."""
    best_at: dict[int, Candidate] = {}
    for c in candidates:
        if c.complexity not in best_at or c.loss < best_at[c.complexity].loss:
            best_at[c.complexity] = c
    front, lowest = [], math.inf
    for k in sorted(best_at):
        c = best_at[k]
        if c.loss < lowest:
            front.append(c)
            lowest = c.loss
    return front


SELECTIONS = ("best", "score", "accuracy")


def select_best(front: list[Candidate], selection: str = "best") -> Candidate:
    """Choose from a front (simplest first) by PySR's ``model_selection`` rules.

    ``"best"``: the highest score among candidates with loss within 1.5x of the minimum;
    ``"score"``: the highest score; ``"accuracy"``: the smallest loss. The score of a
    candidate is ``-d log(loss) / d complexity`` against the previous member of the front (0
    for the simplest). Ties go to the simpler candidate.
    """
    floor = 1e-300
    for k, c in enumerate(front):
        if k == 0:
            c.score = 0.0
        else:
            p = front[k - 1]
            c.score = -(math.log(max(c.loss, floor)) - math.log(max(p.loss, floor))) / (c.complexity - p.complexity)
    smallest = min(c.loss for c in front)
    if selection == "accuracy":
        return min(front, key=lambda c: (c.loss, c.complexity))
    eligible = front if selection == "score" else [c for c in front if c.loss <= 1.5 * smallest]
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
    return names, data


def _polish(expr, columns, y, refine: bool, simplify: bool) -> Candidate | None:
    """Refine, simplify and refine again; the candidate's loss is measured on the data."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FitWarning)
        if refine and expr.atoms(sp.Float):
            expr = _try_fit(expr, columns, y) or expr
        if simplify:
            simpler = _simplify(expr)
            if simpler is not None and simpler != expr:
                refit = _try_fit(simpler, columns, y) if refine and simpler.atoms(sp.Float) else simpler
                if refit is not None and _loss(refit, columns, y) <= _loss(expr, columns, y) * (1 + 1e-9) + 1e-30:
                    expr = refit
    loss = _loss(expr, columns, y)
    if not math.isfinite(loss):
        return None
    return Candidate(complexity(expr), loss, expr)


def _try_fit(expr, columns, y):
    data = {k: v for k, v in columns.items() if sp.Symbol(k) in expr.free_symbols}
    data["__target__"] = y
    try:
        result = fit(expr, data, "__target__", max_iter=100)
    except SympileError:
        return None
    return result.expr


def _simplify(expr):
    if complexity(expr) > 80:
        return None
    try:
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


def _loss(expr, columns, y) -> float:
    from .._functions.lambdify import lambdify

    syms = sorted(expr.free_symbols, key=str)
    try:
        f = lambdify(syms, expr)
        with np.errstate(all="ignore"):
            pred = np.broadcast_to(np.asarray(f(*[columns[str(s)] for s in syms]), dtype=complex), y.shape)
    except (SympileError, KeyError):
        return math.inf
    if np.any(np.abs(pred.imag) > 1e-12 * (1 + np.abs(pred.real))):
        return math.inf
    r = pred.real - y
    v = float(np.mean(r * r))
    return v if math.isfinite(v) else math.inf


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
    model = SymbolicRegressor(
        population_size=options.get("population_size", 1000),
        generations=min(options.get("generations", 20), 40),
        function_set=functions,
        metric="mse",
        random_state=seed,
        parsimony_coefficient=options.get("parsimony_coefficient", 0.001),
        init_depth=(2, 4),
    )
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
