"""Shared test helpers: optional packages, and a high-precision reference with an honest tolerance."""

from __future__ import annotations

import importlib
import math
import os

import numpy as np
import pytest
import sympy as sp

from sympile import lambdify
from sympile._core.graph import Builder
from sympile._core.ops import OPS
from sympile._functions.lambdify import LambdifiedFunction
from sympile._transforms.ad import reverse

EPS = np.finfo(np.float64).eps


def require(module: str):
    """Import an optional package. Outside CI a missing one skips the test; in CI it fails."""
    if os.environ.get("CI"):
        return importlib.import_module(module)
    return pytest.importorskip(module)


def reference(expr, point: dict, digits: int = 30):
    """SymPy's value at ``point`` with ``digits`` significant digits, as a Python complex, or None.

    The point's values go in as exact rationals (a float's exact binary value) through
    ``evalf(subs=...)``, which evaluates adaptively without building the substituted
    expression: ``exp(1e-200) - 1`` comes out right, and ``x**y`` at rationals with 2**52
    denominators does not send SymPy into exact root extraction.
    """

    def exact(val):
        val = complex(val)
        re = sp.Rational(val.real)
        return re if val.imag == 0 else re + sp.I * sp.Rational(val.imag)

    try:
        v = sp.sympify(expr).evalf(digits, subs={k: exact(val) for k, val in point.items()}, maxn=400)
    except (sp.core.evalf.PrecisionExhausted, ValueError, TypeError, ZeroDivisionError, RecursionError, OverflowError):
        return None
    if v.has(sp.zoo, sp.oo, -sp.oo, sp.nan) or not v.is_number:
        return None
    if v == 0 and expr.has(sp.log):  # evalf's log(1 + 1e-243) is an exact 0: it stops once 1 + t rounds to 1
        return None
    try:
        return complex(v)
    except (TypeError, ValueError):
        return None


def _graph_function(graph, outputs) -> LambdifiedFunction:
    g = graph.with_outputs(outputs)
    tree = ("list", [("leaf", k) for k in range(len(outputs))])
    args = ("list", [("leaf", k) for k in range(len(graph.inputs))])
    return LambdifiedFunction(g, "numpy", {}, args, tree)


#: Relative accuracy assumed of each op's float64 implementation, in units of EPS.
_ULPS = {"add": 0.5, "sub": 0.5, "mul": 0.5, "div": 0.5, "neg": 0, "sqrt": 0.5}
_SPECIAL_ULPS = {
    "besselj": 1e3,
    "bessely": 1e3,
    "polygamma": 1e3,
    "gamma": 50,
    "loggamma": 50,
    "factorial": 50,
    "binomial": 1e3,
    "erfinv": 50,
    "lambertw": 50,
    "erf": 10,
    "erfc": 50,
    "pow": 4,
    "powi": 4,
}


_ABSOLUTE = {"loggamma", "polygamma", "lambertw", "besselj", "bessely"}


def node_values(graph, point: list[float]) -> list:
    with np.errstate(all="ignore"):
        return _graph_function(graph, list(range(len(graph.nodes))))(*point)


def rounding_bound(graph, point: list[float]) -> float | None:
    """A first-order bound on float64 rounding error of the graph's first output at ``point``.

    Running error analysis: each op rounds its result with a relative error of a few ulps,
    and that error reaches the output scaled by the adjoint d out / d node. Returns None
    when the example is not a fair test of float64 (an intermediate overflows, a value
    sits on a jump of a discontinuous op, ...).
    """
    values = node_values(graph, point)
    # a non-finite literal is a branch's stand-in (loggamma's NaN outside its domain): the
    # output's own value says whether it was selected
    stand_in = {i for i, n in enumerate(graph.nodes) if n.op == "const" and not np.all(np.isfinite(complex(values[i])))}
    for i, v in enumerate(values):
        if isinstance(v, (bool, np.bool_)) or i in stand_in:
            continue
        if not np.all(np.isfinite(np.asarray(v, dtype=complex))):
            return None
    b = Builder(graph)
    targets = [i for i, n in enumerate(graph.nodes) if not (n.op == "const" and type(n.attr) in (int, bool))]
    try:
        adj_nodes = reverse(b, [graph.outputs[0]], [b.const(1)], targets)
    except Exception:
        return None
    with np.errstate(all="ignore"):
        adj = _graph_function(b.graph([0], graph.inputs, graph.params, graph.buffers), adj_nodes)(*point)
    total = 0.0
    for i, a in zip(targets, adj):
        n = graph.nodes[i]
        if OPS[n.op].boolean or i in stand_in:
            continue
        if OPS[n.op].discontinuous and _near_jump(n, values):
            return None
        ulps = _ULPS.get(n.op, _SPECIAL_ULPS.get(n.op, 2.0))
        if n.op in ("input", "param"):
            ulps = 0.0
        elif n.op == "const":
            ulps = 0.5
        # + what SymPy's 30-digit evaluation itself may be off by, at this scale
        magnitude = abs(complex(values[i]))
        if n.op in _ABSOLUTE:  # libraries are accurate to ulps of 1 near these functions' zeros
            magnitude = max(magnitude, 1.0)
        contrib = (ulps * EPS + 1e-20) * magnitude * abs(complex(a))
        if not math.isfinite(contrib):
            return None
        total += contrib
    # comparisons decide branches: keep away from ties too
    for n in graph.nodes:
        if n.op in ("lt", "le", "gt", "ge", "eq", "ne") and _near_jump(n, values):
            return None
    return total


def _near_jump(n, values, rel: float = 1e-9) -> bool:
    args = [complex(values[a]) for a in n.args]
    if n.op in ("floor", "ceiling", "frac"):
        x = args[0].real
        return abs(x - round(x)) <= rel * max(1.0, abs(x))
    if n.op in ("sign", "heaviside"):
        return abs(args[0]) <= rel
    if n.op == "mod":
        if args[1] == 0:
            return True
        q = (args[0] / args[1]).real
        return abs(q - round(q)) <= rel * max(1.0, abs(q))
    if n.op == "arg":
        return abs(args[0].imag) <= rel * max(1.0, abs(args[0]))
    if n.op in ("lt", "le", "gt", "ge", "eq", "ne"):
        return abs(args[0] - args[1]) <= rel * max(1.0, abs(args[0]), abs(args[1]))
    return False


def assert_close_to_reference(expr, symbols, point, value, rel=1e-12, graph=None):
    """``value`` (float64 result at ``point``) agrees with SymPy at 30 digits.

    The tolerance is ``rel`` relative, widened only by the rounding bound of the float64
    computation (so ill-conditioned examples are judged by what float64 can deliver).
    Returns False when the example was not checkable (see `rounding_bound`).
    """
    ref = reference(expr, dict(zip(symbols, point)))
    if ref is None or ref.imag != 0 and abs(ref.imag) > 1e-25 * max(1.0, abs(ref.real)):
        return False
    if graph is None:
        graph = lambdify(symbols, expr).graph
    bound = rounding_bound(graph, point)
    if bound is None:
        return False
    err = abs(complex(value) - ref)
    tol = rel * abs(ref) + 16 * bound + 1e-300
    assert err <= tol, f"{expr} at {point}: got {value}, SymPy says {ref}; error {err:.3g} > tolerance {tol:.3g}"
    return True


_PY_OPS = {
    "add": lambda a, b: a + b,
    "sub": lambda a, b: a - b,
    "mul": lambda a, b: a * b,
    "div": lambda a, b: a / b,
    "neg": lambda a: -a,
    "exp": math.exp,
    "sin": math.sin,
    "cos": math.cos,
}


def evaluate_graph(graph, point) -> list[float]:
    """A graph's outputs at ``point``, node by node in Python floats: an evaluator independent of
    every sympile backend (for the ops of arithmetic, exp, sin and cos)."""
    values = []
    for n in graph.nodes:
        if n.op == "input":
            values.append(point[n.attr])
        elif n.op == "const":
            values.append(float(n.attr))
        else:
            values.append(_PY_OPS[n.op](*(values[a] for a in n.args)))
    return [values[o] for o in graph.outputs]
