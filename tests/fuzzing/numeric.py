"""Classes ``value`` and ``derivative``: random expressions on every backend against the reference.

Expressions are compiled in batches (one `lambdify` of a list of them per backend, so that a C
or PyTensor build serves many), evaluated at a batch of points as arrays and, for the NumPy and
C backends, point by point as Python floats (their scalar paths). A batch that a backend
refuses or that raises is split, so every verdict belongs to one expression. A wrong answer is
re-run with the expression alone; its reproducer says whether it reproduces alone.

Derivatives are the graph's own (reverse mode for the gradient, `hessian_nodes` for the upper
triangle of the Hessian), compiled by each backend, against `sympy.diff` evaluated by the
reference (with its error bound) and against finite differences of the 60-digit value (`derivatives`).
"""

from __future__ import annotations

import contextlib
import functools
import sys
import time
import warnings

import numpy as np
import sympy as sp
from random_expressions import SYMBOLS

from sympile import SympileError, lambdify, lower
from sympile._core.graph import Builder
from sympile._functions.lambdify import LambdifiedFunction
from sympile._transforms.ad import hessian_nodes, leaf_nodes, reverse

from . import derivatives
from . import reference as R
from .generate import Slow, time_limit

BACKENDS = ["numpy", "torch", "jax", "pytensor", "c"]
#: The ways a backend is called: arrays of points, and (NumPy and C) one point as Python floats.
MODES = {"numpy": ["numpy", "numpy-scalar"], "torch": ["torch"], "jax": ["jax"], "pytensor": ["pytensor"],
         "c": ["c", "c-scalar"]}  # fmt: skip
PAIRS = derivatives.PAIRS
SMALLEST_NORMAL = 2.2250738585072014e-308
#: Seconds one backend may spend building and checking one batch before it counts as a hang.
BATCH_SECONDS = 300


def available(backend: str) -> bool:
    try:
        __import__({"c": "numpy"}.get(backend, backend))
    except ImportError:
        return False
    return True


@contextlib.contextmanager
def _context(backend: str):
    if backend == "jax":
        import jax

        with jax.enable_x64(True):
            yield
    else:
        yield


def _as_input(backend: str, column):
    a = np.asarray(column, dtype=np.float64)
    if backend == "torch":
        import torch

        return torch.tensor(a, dtype=torch.float64)
    if backend == "jax":
        import jax.numpy as jnp

        return jnp.asarray(a)
    return a


def _to_numpy(value):
    if hasattr(value, "detach"):
        value = value.detach().cpu()
    return np.asarray(value)


def _number(value):
    a = _to_numpy(value)
    if a.shape != ():
        raise TypeError(f"a value of shape {a.shape} for one point")
    return a.item()


class Recorder:
    """Tallies of verdicts by (class, mode) and the failures' reproducers by (class, mode, kind)."""

    COLUMNS = ["tried", "passed", "failed", "ill", "range", "wide", "refused", "noref"]

    def __init__(self, keep: int = 3):
        self.counts: dict = {}
        self.failures: dict = {}
        self.refusals: dict = {}
        self.seconds: dict = {}  # backend (or "reference") -> seconds spent  # (backend, error, message) -> count
        self.keep = keep

    def count(self, cls: str, mode: str, column: str, n: int = 1):
        row = self.counts.setdefault((cls, mode), dict.fromkeys(self.COLUMNS, 0))
        row[column] += n
        if column in ("passed", "failed", "ill", "range", "refused", "noref"):
            row["tried"] += n

    def fail(self, cls: str, mode: str, kind: str, reproducer):
        """Tally a failure; ``reproducer`` is a dict, or a function making one (called only while
        fewer than ``keep`` of this kind are kept)."""
        self.count(cls, mode, "failed")
        entry = self.failures.setdefault((cls, mode, kind), {"count": 0, "reproducers": []})
        entry["count"] += 1
        if len(entry["reproducers"]) < self.keep:
            entry["reproducers"].append(reproducer() if callable(reproducer) else reproducer)

    def verdict(self, cls: str, mode: str, ref: R.Reference, got, reproducer) -> bool:
        """Judge ``got`` against ``ref``, tally it; True when it is a failure."""
        if ref.kind == "ill":
            self.count(cls, mode, "ill")
            return False
        why = R.judge(ref, got)
        if why is None:
            self.count(cls, mode, "passed")
            if ref.kind == "value" and ref.value != 0 and ref.bound > R.ILL * abs(ref.value):
                self.count(cls, mode, "wide")
            return False
        kind = why.split(" (")[0]
        self.fail(cls, mode, kind, lambda: {**reproducer(), "got": repr(got), "expected": ref.describe(), "why": why})
        return True


def srepr(e) -> str:
    """``sympy.srepr(e)``, whatever the size of its integers (Python refuses to print past 4300 digits
    by default), cut at 4000 characters."""
    old = sys.get_int_max_str_digits()
    sys.set_int_max_str_digits(0)
    try:
        text = sp.srepr(e)
    finally:
        sys.set_int_max_str_digits(old)
    return text if len(text) <= 4000 else text[:4000] + f"... ({len(text)} characters)"


def _exception(exc: BaseException) -> str:
    return f"{type(exc).__module__}.{type(exc).__qualname__}: {str(exc)[:300]}"


# -- building --------------------------------------------------------------------------------


def _build_values(exprs, backend):
    return lambdify(SYMBOLS, list(exprs), backend=backend)


@functools.lru_cache(maxsize=8)
def _derivative_graph(exprs: tuple):
    graph = lower(list(exprs), SYMBOLS)
    b = Builder(graph)
    xs = leaf_nodes(b, "input", [0, 1, 2])
    one = b.const(1)
    outs = []
    for o in graph.outputs:
        outs += reverse(b, [o], [one], xs)
        H, _ = hessian_nodes(b, o, xs)
        outs += [H[i][j] for i, j in PAIRS]
    return b.graph(outs, graph.inputs, graph.params, graph.buffers).pruned()


def _build_derivatives(exprs, backend):
    g = _derivative_graph(tuple(exprs))
    args = ("list", [("leaf", k) for k in range(3)])
    return LambdifiedFunction(g, backend, {}, args, ("list", [("leaf", k) for k in range(len(g.outputs))]))


def _evaluate(f, backend: str, mode: str, pts, width: int) -> list[list]:
    """``width`` outputs at each point: out[k][j] for output k at point j (Python numbers)."""
    with _context(backend), warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore")
        if mode.endswith("-scalar"):
            rows = [f(*pt) for pt in pts]
            return [[_number(row[k]) for row in rows] for k in range(width)]
        cols = [_as_input(backend, [p[i] for p in pts]) for i in range(3)]
        outs = f(*cols)
        result = []
        for out in outs:
            a = _to_numpy(out)
            if a.shape != (len(pts),):
                raise TypeError(f"an output of shape {a.shape} for {len(pts)} points")
            if a.dtype not in (np.float64, np.complex128):
                raise TypeError(f"an output of dtype {a.dtype} for float64 inputs")
            result.append(a.tolist())
        return result


# -- the classes -----------------------------------------------------------------------------


def check_batch(cls: str, exprs: list, pts: list, refs: list, rec: Recorder, backends=BACKENDS, pytensor_mode=None):
    """Class ``cls`` (``"value"`` or ``"derivative"``) for ``exprs`` at ``pts`` on ``backends``.

    ``refs[k][j]`` lists the references of expression k's outputs at point j (one for a value; the
    gradient's 3 and the Hessian's 6 for a derivative), or None where there is none."""
    build = _build_values if cls == "value" else _build_derivatives
    per = 1 if cls == "value" else 3 + len(PAIRS)
    if cls == "derivative":
        exprs, refs = _screen(exprs, refs, pts, rec)
    for backend in backends:
        if not available(backend):
            continue
        start = time.perf_counter()
        try:
            with time_limit(BATCH_SECONDS), _context(backend), _pytensor(backend, pytensor_mode):
                groups = _split(exprs, backend, build, cls, rec, per)
                for idx, f in groups:
                    for mode in MODES[backend]:
                        _check_group(cls, idx, f, exprs, pts, refs, backend, mode, rec, build, per)
        except Slow:
            why = f"building and checking the batch took over {BATCH_SECONDS} s"
            rec.fail(cls, backend, "hang", {"batch": [srepr(e) for e in exprs], "points": pts, "error": why})
        rec.seconds[backend] = rec.seconds.get(backend, 0.0) + time.perf_counter() - start


#: Seconds the graph of one expression's gradient and Hessian may take to build.
DERIVATIVE_SECONDS = 30


def _screen(exprs, refs, pts, rec):
    """The expressions whose derivative graphs build within `DERIVATIVE_SECONDS` (the others are
    failures, on every backend: the graph is the same for all)."""
    keep = []
    for k, e in enumerate(exprs):
        try:
            with time_limit(DERIVATIVE_SECONDS):
                _derivative_graph((e,))
        except Slow:
            why = f"building the gradient and Hessian graph took over {DERIVATIVE_SECONDS} s"
            rec.fail("derivative", "graph", "hang", {"expr": srepr(e), "error": why})
            continue
        except Exception:  # noqa: BLE001 - tallied per backend when it is built there
            pass
        keep.append(k)
    return [exprs[k] for k in keep], [refs[k] for k in keep]


@contextlib.contextmanager
def _pytensor(backend, mode):
    if backend != "pytensor" or mode is None:
        yield
        return
    import pytensor

    old = pytensor.config.mode
    pytensor.config.mode = mode
    try:
        yield
    finally:
        pytensor.config.mode = old


def _split(exprs, backend, build, cls, rec, per, idx=None):
    """[(indices, compiled)] covering every expression the backend accepts, found by bisecting a
    batch that does not build; refusals and raw build errors are tallied per check they replace."""
    idx = list(range(len(exprs))) if idx is None else idx
    try:
        return [(idx, build([exprs[k] for k in idx], backend))]
    except Exception as exc:  # noqa: BLE001 - a raw exception is what is being looked for
        if len(idx) > 1:
            half = len(idx) // 2
            return _split(exprs, backend, build, cls, rec, per, idx[:half]) + _split(
                exprs, backend, build, cls, rec, per, idx[half:]
            )
        e = exprs[idx[0]]
        for mode in MODES[backend]:
            if isinstance(exc, SympileError):
                rec.count(cls, mode, "refused", per)
                key = (backend, type(exc).__name__, str(exc)[:100])
                rec.refusals[key] = rec.refusals.get(key, 0) + 1
            else:
                rec.fail(cls, mode, "build raised", {"expr": srepr(e), "backend": backend, "error": _exception(exc)})
        return []


def _check_group(cls, idx, f, exprs, pts, refs, backend, mode, rec, build, per):
    try:
        outs = _evaluate(f, backend, mode, pts, per * len(idx))
    except Exception as exc:  # noqa: BLE001
        if len(idx) > 1:  # bisect to the expressions that raise
            for part in (idx[: len(idx) // 2], idx[len(idx) // 2 :]):
                try:
                    g = build([exprs[k] for k in part], backend)
                except Exception:  # noqa: BLE001 - it built in the batch; a part that does not is not judged
                    continue
                _check_group(cls, part, g, exprs, pts, refs, backend, mode, rec, build, per)
            return
        kind = "call raised" if not isinstance(exc, TypeError) or "output" not in str(exc) else "wrong output"
        rec.fail(cls, mode, kind, {"expr": srepr(exprs[idx[0]]), "points": pts, "backend": mode,
                                   "error": _exception(exc)})  # fmt: skip
        return
    for pos, k in enumerate(idx):
        for j, pt in enumerate(pts):
            for o in range(per):
                ref = refs[k][j][o] if refs[k][j] is not None else None
                if backend == "jax" and any(0 < abs(c) < SMALLEST_NORMAL for c in pt):
                    rec.count(cls, mode, "ill")  # XLA flushes subnormal inputs to zero (docs/jax.md)
                    continue
                if ref is None:
                    rec.count(cls, mode, "noref")
                    continue
                if backend == "jax" and "subnormal" in ref.flags:
                    rec.count(cls, mode, "ill")  # and subnormal intermediates and results
                    continue
                got = outs[pos * per + o][j]
                if cls == "derivative" and not derivatives.in_range(ref, got):
                    rec.count(cls, mode, "range")  # float64's range met in the chain rule's products
                    continue

                def reproducer(k=k, pt=pt, o=o):
                    return _reproducer(cls, exprs[k], pt, o, backend, mode, build, per)

                rec.verdict(cls, mode, ref, got, reproducer)


def _reproducer(cls, expr, pt, o, backend, mode, build, per) -> dict:
    """The failure's text; the expression is compiled alone to see whether it reproduces alone."""
    out = {"expr": srepr(expr), "point": list(pt), "backend": mode}
    if cls == "derivative":
        out["output"] = _OUTPUT_NAMES[o]
    try:
        alone = _evaluate(build([expr], backend), backend, mode, [pt], per)[o][0]
        out["alone"] = repr(alone)
    except Exception as exc:  # noqa: BLE001
        out["alone"] = _exception(exc)
    return out


_OUTPUT_NAMES = [f"d/d{s}" for s in "xyz"] + [f"d2/d{'xyz'[i]}d{'xyz'[j]}" for i, j in PAIRS]


# -- references ------------------------------------------------------------------------------

#: Seconds the references of one expression may take (SymPy's diff and simplification can swell).
REFERENCE_SECONDS = 5


def references(cls: str, expr, pts) -> list:
    """`value_references` or `derivative_references` within `REFERENCE_SECONDS`; None at every point
    (no reference: counted, not judged) past it."""
    try:
        with time_limit(REFERENCE_SECONDS):
            return (value_references if cls == "value" else derivative_references)(expr, pts)
    except Slow:
        _REFERENCE_GAPS.append((srepr(expr)[:200], None, f"the reference took over {REFERENCE_SECONDS} s"))
        return [None] * len(pts)
    except Exception as exc:  # noqa: BLE001 - the reference's own gaps are counted, not raised
        _REFERENCE_GAPS.append((srepr(expr)[:200], None, _exception(exc)))
        return [None] * len(pts)


def value_references(expr, pts) -> list:
    out = []
    for pt in pts:
        try:
            out.append([R.evaluate(expr, dict(zip(SYMBOLS, pt)))])
        except R.NoReference:
            out.append(None)
        except Exception as exc:  # noqa: BLE001 - the reference's own gaps are counted, not raised
            out.append(None)
            _REFERENCE_GAPS.append((srepr(expr), pt, _exception(exc)))
    return out


_REFERENCE_GAPS: list = []


def derivative_references(expr, pts) -> list:
    """For each point, the references of (d/dx, d/dy, d/dz, and the Hessian's upper triangle):
    `sympy.diff` at 50 digits with its bound, checked against finite differences of the 60-digit
    value (`derivatives`, which says when an entry is ill-conditioned)."""
    return derivatives.derivative_references(expr, pts, _REFERENCE_GAPS)
