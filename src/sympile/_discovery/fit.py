"""`fit`: the constants of an expression fitted to data, with exact derivatives from the graph."""

from __future__ import annotations

import functools
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import sympy as sp

from .._core.errors import SympileError
from .._core.graph import Builder, Graph
from .._functions.lambdify import LambdifiedFunction
from .._sympy.lower import lower
from .._sympy.raising import to_sympy
from .._transforms.ad import jacobian_graph


class FitWarning(UserWarning):
    """A fit that stopped before it converged."""


@dataclass
class FitResult:
    """What `fit` found.

    Attributes:
        expr: the expression with the fitted constants in place.
        params: the fitted values: ``{name: value}`` for named parameters, else the Floats'
            values in the expression's preorder-traversal order.
        loss: the mean squared error at the solution.
        history: the loss after each iteration.
        stderr: standard errors of the parameters (``"lm"``: from the Jacobian), or None.
        success: whether the method converged.
        message: why it stopped.
    """

    expr: Any
    params: Any
    loss: float
    history: list = field(default_factory=list)
    stderr: Any = None
    success: bool = True
    message: str = ""
    iterations: int = 0
    method: str = "lm"

    def __repr__(self) -> str:
        state = "converged" if self.success else "NOT converged"
        return f"FitResult({state}, loss={self.loss:.6g}, expr={self.expr})"


def fit(
    expr,
    data,
    target,
    *,
    params: Sequence | None = None,
    p0: Mapping | Sequence | None = None,
    variables: Sequence | None = None,
    method: str = "lm",
    backend: str = "numpy",
    max_iter: int | None = None,
    tol: float = 1e-10,
    learning_rate: float = 1e-2,
    weights=None,
) -> FitResult:
    """Fit the constants of ``expr`` to data by least squares, with exact derivatives.

    Args:
        expr: a SymPy expression. Its Floats are the parameters (each occurrence its own,
            in preorder-traversal order), unless ``params`` names symbols to fit instead.
        data: a dict of arrays, a pandas DataFrame, or a 2-D array whose columns are
            ``variables`` (default: the free symbols that are not parameters, sorted by name).
        target: the name of the target column in ``data``, or an array.
        params: names (or symbols) of the symbols to fit; their initial values come from
            ``p0`` (a dict or a sequence; default 1.0 each).
        method: ``"lm"`` (Levenberg-Marquardt, the default), ``"bfgs"`` (needs SciPy) or
            ``"adam"``.
        backend: the backend that evaluates the model and its Jacobian (any registered one).
        max_iter, tol: stopping rules; ``learning_rate`` for Adam; ``weights`` per point.

    Returns:
        A `FitResult`. Non-finite predictions are penalised, never fatal; a fit that does not
        converge is reported (``success=False`` and a `FitWarning`).

    Example:
        >>> import numpy as np, sympy as sp
        >>> t = np.linspace(0, 4, 50)
        >>> a, b, tt = sp.symbols("a b t")
        >>> r = fit(a * sp.exp(-b * tt), {"t": t, "y": 2.5 * np.exp(-0.7 * t)}, "y", params=["a", "b"])
        >>> {k: round(v, 6) for k, v in r.params.items()}
        {'a': 2.5, 'b': 0.7}
    """
    problem = _Problem(expr, data, target, params, p0, variables, backend, weights)
    methods = {"lm": _levenberg_marquardt, "bfgs": _bfgs, "adam": _adam}
    if method not in methods:
        raise SympileError(f"unknown method {method!r}; choose one of {', '.join(map(repr, methods))}")
    theta, history, success, message, iterations, cov = methods[method](problem, max_iter, tol, learning_rate)
    loss = problem.loss(theta)
    if not success:
        warnings.warn(f"fit did not converge: {message}", FitWarning, stacklevel=2)
    fitted_expr = problem.expression(theta)
    stderr = None
    if cov is not None:
        stderr = problem.label(np.sqrt(np.clip(np.diag(cov), 0, None)))
    return FitResult(
        fitted_expr, problem.label(theta), float(loss), history, stderr, success, message, iterations, method
    )


class _Problem:
    """The model ``f(x; theta)``, its Jacobian in ``theta`` and the data, compiled once."""

    def __init__(self, expr, data, target, params, p0, variables, backend, weights):
        if isinstance(expr, str):
            raise SympileError("fit takes a SymPy expression; parse text with sympile.parse_expr first")
        expr = sp.sympify(expr) if isinstance(expr, (int, float)) else expr
        self.expr = expr
        names = [str(p) for p in params] if params is not None else None
        free = {str(s): s for s in expr.free_symbols}
        if names is not None:
            missing = [n for n in names if n not in free]
            if missing:
                raise SympileError(f"the parameters {', '.join(missing)} do not occur in {expr}")
        fitted = set(names or ())
        var_names = [str(v) for v in variables] if variables is not None else sorted(n for n in free if n not in fitted)
        columns = _columns(data, var_names)
        self.y = _target(target, columns)
        missing = [n for n in free if n not in fitted and n not in columns]
        if missing:
            raise SympileError(
                f"the expression uses {', '.join(sorted(missing))}, which the data lacks "
                f"(columns: {', '.join(sorted(columns)) or 'none'})"
            )
        used = [n for n in var_names if n in free]
        self.x = [columns[n] for n in used]
        n_points = self.y.shape[0]
        for n, col in zip(used, self.x):
            if col.shape != self.y.shape:
                raise SympileError(f"column {n} has shape {col.shape} but the target has shape {self.y.shape}")
        self.weights = None if weights is None else np.broadcast_to(np.asarray(weights, float), self.y.shape)
        compiled = _compiled(expr, tuple(used), None if names is None else tuple(names), backend)
        self.names = names
        self.base = compiled.base
        self.theta0 = _initial(p0, names) if names is not None else np.array(compiled.base.params, float)
        if self.theta0.size == 0:
            raise SympileError(f"there is nothing to fit in {expr}: it has no Floats and no params were named")
        self.n_x = len(used)
        self.model, self.jac = compiled.model, compiled.jac
        self.backend = backend
        self.n_points = n_points

    # -- evaluation, robust to what the model does away from the data -----------------------
    def residuals(self, theta) -> np.ndarray:
        with np.errstate(all="ignore"):
            pred = _as_numpy(self.model(*self.x, *theta), self.y.shape)
        r = pred - self.y
        bad = ~np.isfinite(r)
        if bad.any():  # a large, finite penalty: the optimiser steps back from there
            r = np.where(bad, _PENALTY * (1.0 + np.abs(self.y)), r)
        if self.weights is not None:
            r = r * self.weights
        return r.real if np.iscomplexobj(r) else r

    def jacobian(self, theta) -> np.ndarray:
        with np.errstate(all="ignore"):
            cols = [_as_numpy(c, self.y.shape) for c in self.jac(*self.x, *theta)]
        J = np.stack(cols, axis=1).real if cols else np.zeros((self.n_points, 0))
        J = np.where(np.isfinite(J), J, 0.0)
        if self.weights is not None:
            J = J * self.weights[:, None]
        return J

    def penalised(self, theta) -> bool:
        """Whether the model is not finite at some data point for these parameters."""
        with np.errstate(all="ignore"):
            pred = _as_numpy(self.model(*self.x, *theta), self.y.shape)
        return not np.all(np.isfinite(pred))

    def loss(self, theta) -> float:
        r = self.residuals(theta)
        return float(np.mean(r * r))

    def expression(self, theta):
        if self.names is not None:
            return self.expr.xreplace({sp.Symbol(n): sp.Float(float(v)) for n, v in zip(self.names, theta)})
        (e,) = to_sympy(self.base, params=[float(v) for v in theta])
        return e

    def label(self, values):
        values = [float(v) for v in values]
        return dict(zip(self.names, values)) if self.names is not None else values


_PENALTY = 1e6


@dataclass(frozen=True)
class _Compiled:
    """The part of a fit that does not depend on the data: the model and its Jacobian in the
    parameters, compiled (``base``: the graph whose params are the expression's Floats)."""

    base: Graph | None
    model: LambdifiedFunction
    jac: LambdifiedFunction


@functools.lru_cache(maxsize=32)
def _compiled(expr, used: tuple, names: tuple | None, backend: str) -> _Compiled:
    """Lowered and compiled once per process for an expression, its variables and parameters
    and the backend: fitting one model to many groups (`sympile.fit_groups`, a loop over
    datasets) compiles it once, not per group."""
    free = {str(s): s for s in expr.free_symbols}
    inputs = [free[n] for n in used]
    base = None
    if names is not None:
        graph = lower([expr], inputs + [free[n] for n in names])
        n_params = len(names)
    else:
        base = lower([expr], inputs, floats="params")
        graph = _params_as_inputs(base)
        n_params = len(base.params)
    slots = list(range(len(inputs), len(inputs) + n_params))
    flat = ("list", [("leaf", k) for k in range(len(graph.inputs))])
    model = LambdifiedFunction(graph, backend, {}, flat, ("leaf", 0))
    jac = jacobian_graph(graph, slots)
    jac = LambdifiedFunction(jac, backend, {}, flat, ("list", [("leaf", k) for k in range(len(slots))]))
    return _Compiled(base, model, jac)


def _as_numpy(value, shape) -> np.ndarray:
    if hasattr(value, "detach"):  # a torch tensor
        value = value.detach().cpu().numpy()
    return np.broadcast_to(np.asarray(value), shape)


def _params_as_inputs(graph: Graph) -> Graph:
    """The same graph with its parameter leaves turned into inputs after the existing ones."""
    n = len(graph.inputs)
    b = Builder()
    new = []
    for node in graph.nodes:
        if node.op == "param":
            new.append(b.node("input", (), n + node.attr))
        else:
            new.append(b.node(node.op, tuple(new[a] for a in node.args), node.attr))
    dummies = tuple(sp.Dummy(f"p{k}") for k in range(len(graph.params)))
    return b.graph([new[o] for o in graph.outputs], graph.inputs + dummies, (), graph.buffers)


def _columns(data, names: Sequence[str]) -> dict[str, np.ndarray]:
    if hasattr(data, "columns") and hasattr(data, "to_numpy"):  # a pandas DataFrame
        items = {str(c): data[c].to_numpy() for c in data.columns}
    elif isinstance(data, Mapping):
        items = {str(k): v for k, v in data.items()}
    else:
        arr = np.asarray(data)
        if arr.ndim == 1 and len(names) == 1:
            arr = arr[:, None]
        if arr.ndim != 2 or arr.shape[1] != len(names):
            raise SympileError(
                f"an array of data needs one column per variable ({', '.join(names)}); got shape {arr.shape}"
            )
        items = {n: arr[:, k] for k, n in enumerate(names)}
    out = {}
    for k, v in items.items():
        try:
            a = np.asarray(v, dtype=float)
        except (TypeError, ValueError):
            raise SympileError(f"column {k} is not numeric") from None
        out[k] = a.ravel() if a.ndim > 1 and a.size == a.shape[0] else a
    return out


def _target(target, columns) -> np.ndarray:
    if isinstance(target, (str, sp.Symbol)):
        name = str(target)
        if name not in columns:
            raise SympileError(f"the data has no column {name!r} (columns: {', '.join(sorted(columns))})")
        y = columns.pop(name)
    else:
        try:
            y = np.asarray(target, dtype=float)
        except (TypeError, ValueError):
            raise SympileError("the target is not numeric") from None
    if y.ndim != 1:
        raise SympileError(f"the target must be one-dimensional, got shape {y.shape}")
    if not np.all(np.isfinite(y)):
        raise SympileError("the target has NaN or infinite values; drop those rows first")
    return y


def _initial(p0, names) -> np.ndarray:
    if p0 is None:
        return np.ones(len(names))
    if isinstance(p0, Mapping):
        p0 = {str(k): v for k, v in p0.items()}
        return np.array([float(p0.get(n, 1.0)) for n in names])
    values = np.asarray(p0, dtype=float).ravel()
    if values.size != len(names):
        raise SympileError(f"p0 has {values.size} values for {len(names)} parameters")
    return values


# -- the methods -------------------------------------------------------------------------------


def _levenberg_marquardt(problem: _Problem, max_iter, tol, _lr):
    max_iter = max_iter or 200
    theta = problem.theta0.copy()
    r = problem.residuals(theta)
    cost = float(r @ r)
    history = [cost / r.size]
    lam = 1e-3
    success, message = False, f"reached max_iter={max_iter}"
    it = 0
    for it in range(1, max_iter + 1):  # noqa: B007 (the count of iterations is returned)
        J = problem.jacobian(theta)
        g = J.T @ r
        A = J.T @ J
        improved = False
        for _ in range(30):
            D = np.diag(np.diag(A)) + 1e-12 * np.eye(len(theta))
            try:
                step = np.linalg.solve(A + lam * D, -g)
            except np.linalg.LinAlgError:
                lam *= 10
                continue
            trial = theta + step
            r_trial = problem.residuals(trial)
            cost_trial = float(r_trial @ r_trial)
            if np.isfinite(cost_trial) and cost_trial < cost:
                improved = True
                break
            lam *= 5
        if not improved:  # a minimum, unless it sits where the model is not even finite
            success = not problem.penalised(theta)
            message = "no step decreases the loss further" + ("" if success else " (predictions are not finite)")
            break
        rel = (cost - cost_trial) / max(cost, 1e-300)
        small_step = np.linalg.norm(step) <= tol * (np.linalg.norm(theta) + tol)
        theta, r, cost = trial, r_trial, cost_trial
        lam = max(lam / 3, 1e-12)
        history.append(cost / r.size)
        if rel < tol or small_step or cost == 0:
            success = not problem.penalised(theta)
            message = "the loss stopped decreasing" + ("" if success else " (predictions are not finite)")
            break
    J = problem.jacobian(theta)
    dof = max(r.size - len(theta), 1)
    try:
        cov = np.linalg.pinv(J.T @ J) * (cost / dof)
    except np.linalg.LinAlgError:
        cov = None
    return theta, history, success, message, it, cov


#: A gradient this small (relative to the loss, at least 1) is zero as far as a float64 loss
#: can tell: sqrt(machine epsilon).
_GRADIENT_FLOOR = float(np.sqrt(np.finfo(np.float64).eps))


def _bfgs(problem: _Problem, max_iter, tol, _lr):
    try:
        from scipy.optimize import minimize
    except ImportError:
        raise SympileError("method='bfgs' needs SciPy: pip install scipy") from None
    n = problem.n_points
    history = []

    def value_and_grad(theta):
        r = problem.residuals(theta)
        return float(r @ r) / n, 2 * problem.jacobian(theta).T @ r / n

    res = minimize(
        value_and_grad,
        problem.theta0,
        jac=True,
        method="BFGS",
        callback=lambda th: history.append(problem.loss(th)),
        options={"maxiter": max_iter or 1000, "gtol": tol},
    )
    success, message = bool(res.success), str(res.message)
    gradient = float(np.linalg.norm(res.jac))
    if not success and res.status == 2 and gradient <= _GRADIENT_FLOOR * max(1.0, abs(float(res.fun))):
        # SciPy's "precision loss": no step decreases the loss any more, at a gradient that is
        # zero to the accuracy a float64 loss allows (sqrt(eps)): converged, not failed
        success = True
        message = f"converged to float64 precision (gradient norm {gradient:.3g}; SciPy: {message})"
    return res.x, history, success, message, int(res.nit), None


def _adam(problem: _Problem, max_iter, tol, lr):
    max_iter = max_iter or 5000
    theta = problem.theta0.copy()
    m = np.zeros_like(theta)
    v = np.zeros_like(theta)
    b1, b2, eps = 0.9, 0.999, 1e-8
    n = problem.n_points
    history, prev = [], np.inf
    success, message = False, f"reached max_iter={max_iter}"
    it = 0
    for it in range(1, max_iter + 1):
        r = problem.residuals(theta)
        loss = float(r @ r) / n
        history.append(loss)
        if abs(prev - loss) <= tol * max(loss, 1e-300):
            success, message = True, "the loss stopped decreasing"
            break
        prev = loss
        g = 2 * problem.jacobian(theta).T @ r / n
        m = b1 * m + (1 - b1) * g
        v = b2 * v + (1 - b2) * g * g
        theta = theta - lr * (m / (1 - b1**it)) / (np.sqrt(v / (1 - b2**it)) + eps)
    return theta, history, success, message, it, None
