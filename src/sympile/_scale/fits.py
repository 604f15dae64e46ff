"""`fit_groups`: one expression fitted to many groups of data on Dask, as one table.

Each group is one `sympile.fit` call in one task (a Dask DataFrame: one call per group inside the
tasks of a shuffled ``groupby().apply``). What the tasks share (the expression and the fit's
options) is one node of the task graph, shipped once to each worker that needs it; the model and
its Jacobian are compiled once per worker process (`fit` builds them through the per-process
cache of compiled functions) and, for the C backend, into each worker's own cache directory.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import sympy as sp

from .._core.errors import SympileError
from .._discovery.fit import FitWarning, fit
from .._sympy.lower import lower


class _Spec:
    """What every group's fit shares: the expression, the target, the fit's keywords, the key columns."""

    def __init__(self, expr, target, keys: list[str], options: dict, columns: list[str]):
        self.expr = expr
        self.target = target
        self.keys = keys
        self.options = options
        self.columns = columns  # the parameters' columns, in order

    def row(self, key, data) -> dict:
        """One group's row: key, parameters, standard errors, loss, convergence, iterations, points."""
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FitWarning)  # the table says it: converged False
            try:
                result = fit(self.expr, data, self.target, **self.options)
            except SympileError as e:
                raise SympileError(f"group {key!r}: {e}") from e
        values = result.params.values() if isinstance(result.params, dict) else result.params
        errors = result.stderr.values() if isinstance(result.stderr, dict) else result.stderr
        row = dict(zip(self.keys, key if isinstance(key, tuple) else (key,)))
        row.update(zip(self.columns, (float(v) for v in values)))
        stderr = [float("nan")] * len(self.columns) if errors is None else [float(v) for v in errors]
        row.update(zip((f"{c}_stderr" for c in self.columns), stderr))
        row.update(loss=result.loss, converged=bool(result.success), iterations=int(result.iterations))
        return row

    def frame(self, group):
        """The row of one group of a (pandas) DataFrame, as a one-row DataFrame (``groupby.apply``)."""
        import pandas as pd

        key = group.name  # the group's key (pandas leaves the key columns out of the group)
        data = group.drop(columns=[k for k in self.keys if k in group.columns])
        return pd.DataFrame([self.row(key, _aligned(data))])


def _fit_batch(spec: _Spec, batch: list) -> list[dict]:
    """The rows of a task's groups (``[(key, dataset), ...]``), in order."""
    return [spec.row(key, _aligned(data)) for key, data in batch]


def _aligned(data):
    """The dataset with its arrays aligned in memory: arrays received in a message can sit unaligned
    in its buffer, which the C kernels refuse. Aligned arrays are not copied."""
    if hasattr(data, "columns") and hasattr(data, "to_numpy"):
        return {str(c): np.require(data[c].to_numpy(), requirements="A") for c in data.columns}
    if isinstance(data, Mapping):
        return {k: np.require(v, requirements="A") if isinstance(v, np.ndarray) else v for k, v in data.items()}
    return np.require(data, requirements="A") if isinstance(data, np.ndarray) else data


def fit_groups(
    expr,
    data,
    target,
    *,
    by: str | Sequence[str] | None = None,
    client: Any = None,
    per_task: int = 1,
    **options,
):
    """Fit ``expr`` to each group of ``data`` separately, on Dask; one table of the results.

    Args:
        expr: a SymPy expression, as for `sympile.fit`.
        data: a pandas or Dask DataFrame grouped by the column(s) ``by``; or a list of datasets
            (each what `sympile.fit` takes: a dict of arrays, a DataFrame, a 2-D array), keyed by
            position; or a dict ``{key: dataset}``.
        target: the target column (or, for a list or dict of arrays, a name in each dataset).
        by: the key column(s) of a DataFrame.
        client: a ``distributed.Client`` to run on; None: Dask's current scheduler (a client
            made earlier in the session, else local threads).
        per_task: groups fitted by one task (a list, dict or pandas DataFrame; default 1): more
            per task when each fit takes milliseconds, so that Dask's cost per task (about a
            millisecond of the scheduler's time) does not dominate.
        options: `sympile.fit`'s keywords (``params``, ``p0``, ``variables``, ``method``,
            ``backend``, ``max_iter``, ``tol``, ...), the same for every group.

    Returns:
        A pandas DataFrame, one row per group in key order: the key column(s) (``group`` for a
        list or dict), one column per parameter (its name, or ``c0, c1, ...`` for the Floats in
        preorder-traversal order), ``<param>_stderr``, ``loss``, ``converged``, ``iterations``.

    Example:
        >>> import numpy as np, pandas as pd, sympy as sp
        >>> rng = np.random.default_rng(0)
        >>> t = np.tile(np.linspace(0, 4, 40), 3)
        >>> k = np.repeat([0.5, 1.0, 2.0], 40)
        >>> df = pd.DataFrame({"sensor": np.repeat(["a", "b", "c"], 40), "t": t, "y": np.exp(-k * t)})
        >>> a, tt = sp.symbols("a t")
        >>> table = fit_groups(sp.exp(-a * tt), df, "y", by="sensor", params=["a"])
        >>> table[["sensor", "a"]].round(6).values.tolist()
        [['a', 0.5], ['b', 1.0], ['c', 2.0]]
    """
    import dask
    import pandas as pd

    _check_client(client)
    if isinstance(per_task, bool) or not isinstance(per_task, int) or per_task < 1:
        raise SympileError(f"per_task must be a positive whole number of groups, got {per_task!r}")
    if isinstance(expr, str):
        raise SympileError("fit_groups takes a SymPy expression; parse text with sympile.parse_expr first")
    columns = _param_columns(expr, options.get("params"))
    frame = _is_frame(data)
    if frame or by is not None:
        if not frame:
            raise SympileError(f"by= groups a pandas or Dask DataFrame; got {type(data).__name__}")
        keys = [by] if isinstance(by, str) else list(by or ())
        if not keys:
            raise SympileError("a DataFrame needs by=: the column(s) whose values name the groups")
        missing = [k for k in keys if k not in data.columns]
        if missing:
            raise SympileError(
                f"by names {', '.join(missing)}, which the data lacks (columns: {', '.join(data.columns)})"
            )
    else:
        keys = ["group"]
    spec = _Spec(expr, target, keys, options, columns)
    if frame and _is_dask(data):
        meta = pd.DataFrame([_meta_row(spec, data)]).iloc[:0]
        result = data.groupby(keys).apply(spec.frame, meta=meta)
        table = _computed(client, dask, result).reset_index(drop=True)
    else:
        groups = _groups(data, keys)
        shared = dask.delayed(spec, traverse=False)  # one node: shipped once per worker that needs it
        batches = [groups[k : k + per_task] for k in range(0, len(groups), per_task)]
        tasks = [dask.delayed(_fit_batch, pure=True)(shared, batch) for batch in batches]
        table = pd.DataFrame([row for rows in _computed(client, dask, tasks) for row in rows])
    if table.empty:
        return table
    return table.sort_values(keys, kind="stable").reset_index(drop=True)


def _check_client(client) -> None:
    if client is None:
        return
    status = str(getattr(client, "status", ""))
    if not hasattr(client, "compute") or "closed" in status or "closing" in status:
        what = "closed" if "clos" in status else "not a distributed.Client"
        raise SympileError(
            f"client is {what} ({status or type(client).__name__}): make a new one, "
            "distributed.Client(...), or pass client=None for Dask's current scheduler"
        )


def _computed(client, dask, what):
    if client is not None:
        return client.compute(what, sync=True)
    (out,) = dask.compute(what)
    return out


def _is_frame(data) -> bool:
    return hasattr(data, "columns") and hasattr(data, "groupby")


def _is_dask(data) -> bool:
    return type(data).__module__.partition(".")[0] == "dask"


def _groups(data, keys: list[str]) -> list[tuple]:
    """``[(key, dataset), ...]`` of a pandas DataFrame by ``keys`` (each group a dict of NumPy
    columns: cheap to split and to send), a list, or a dict."""
    if _is_frame(data):
        by = keys[0] if len(keys) == 1 else keys
        columns = {str(c): data[c].to_numpy() for c in data.columns if c not in keys}
        indices = data.groupby(by, sort=True).indices
        return [(key, {c: v[rows] for c, v in columns.items()}) for key, rows in indices.items()]
    if isinstance(data, Mapping):
        return list(data.items())
    if isinstance(data, (list, tuple)):
        return list(enumerate(data))
    raise SympileError(
        "data must be a pandas or Dask DataFrame with by=, a list of datasets or a dict of them; "
        f"got {type(data).__name__}"
    )


def _param_columns(expr, params) -> list[str]:
    """The parameters' column names: the named ones, else ``c0, c1, ...`` for the Floats."""
    if params is not None:
        return [str(p) for p in params]
    if not isinstance(expr, sp.Basic):
        return []
    n = len(lower([expr], sorted(expr.free_symbols, key=str), floats="params").params)
    return [f"c{k}" for k in range(n)]


def _meta_row(spec: _Spec, data) -> dict:
    """A row of the table's column types, for Dask's ``meta`` (no data is read)."""
    row: dict[str, Any] = {k: data[k].dtype.type() if hasattr(data[k].dtype, "type") else None for k in spec.keys}
    row.update({c: np.float64() for c in spec.columns})
    row.update({f"{c}_stderr": np.float64() for c in spec.columns})
    row.update(loss=np.float64(), converged=False, iterations=0)
    return row
