"""Outputs have the dtype of the computation on every backend (issue 14, fuzzer failure 5).

NumPy typed a select between integer literals by its literals: ``Piecewise((1, x > 0), (0, True))``
over float64 or float32 inputs was an int64 array, and so were the derivative graphs of
``Min(x, atan(2))`` and of a ``Piecewise`` with a constant branch. The rule (docs/lambdify.md): an
output has the inputs' dtype with its own kind of number (float32 inputs give float32, complex
values complex), a boolean output is bool, and one point gives Python floats.
"""

import numpy as np
import pytest
import sympy as sp
from helpers import require

from sympile import lambdify, lower
from sympile._core.graph import Builder
from sympile._functions.lambdify import LambdifiedFunction
from sympile._transforms.ad import leaf_nodes, reverse

x, y = sp.symbols("x y")

#: Outputs whose values come from literals selected by conditions, or from literals alone.
LITERAL_VALUED = [
    sp.Piecewise((1, x > 0), (0, True)),
    3 * sp.Piecewise((1, x > y), (2, True)),
    sp.Piecewise((sp.Rational(1, 2), x > 0), (0.25, True)),
    sp.Integer(3),
]


#: Expressions whose gradients (by graph AD) hold selects between literals.
DIFFERENTIATED = [sp.Min(x, sp.atan(2)) * y, sp.Piecewise((x * y, x > 0), (2, True))]


def _graph():
    """`LITERAL_VALUED`, `DIFFERENTIATED` and the latter's gradients as graph AD builds them, as one
    graph of ``(x, y)``; and the SymPy expressions of its outputs."""
    graph = lower([*LITERAL_VALUED, *DIFFERENTIATED], [x, y])
    b = Builder(graph)
    xs = leaf_nodes(b, "input", [0, 1])
    grads = [d for o in graph.outputs[len(LITERAL_VALUED) :] for d in reverse(b, [o], [b.const(1)], xs)]
    exprs = [*LITERAL_VALUED, *DIFFERENTIATED, *(sp.diff(e, s) for e in DIFFERENTIATED for s in (x, y))]
    return b.graph([*graph.outputs, *grads], graph.inputs), exprs


def _function(backend):
    graph, exprs = _graph()
    leaves = ("list", [("leaf", 0), ("leaf", 1)])
    outs = ("list", [("leaf", k) for k in range(len(exprs))])
    return LambdifiedFunction(graph, backend, {}, leaves, outs), exprs


def _values(backend, f, xs, ys):
    if backend == "torch":
        torch = require("torch")
        return [o.numpy() for o in f(torch.as_tensor(xs), torch.as_tensor(ys))]
    if backend == "jax":
        import jax

        with jax.enable_x64(xs.dtype == np.float64):
            return [np.asarray(o) for o in f(xs, ys)]
    return [np.asarray(o) for o in f(xs, ys)]


@pytest.mark.parametrize("backend", ["numpy", "torch", "jax"])
def test_integer_valued_selects_have_the_float_dtype_of_the_inputs(backend):
    """Selects between integer literals, constants, and gradients holding both, over float64 and
    float32 inputs: the inputs' dtype, and SymPy's values. (JAX over float32 only: each dtype costs
    a compilation, and float32 is where a literal's dtype would show. The C backend computes every
    value in the inputs' float dtype by construction; its one-point code is tested below.)"""
    if backend != "numpy":
        require(backend)
    rng = np.random.default_rng(18)
    xs, ys = rng.uniform(-2, 2, 6), rng.uniform(-2, 2, 6)
    f, exprs = _function(backend)
    for dtype in (np.float32,) if backend == "jax" else (np.float64, np.float32):
        a, b = xs.astype(dtype), ys.astype(dtype)
        got = _values(backend, f, a, b)
        assert [o.dtype for o in got] == [np.dtype(dtype)] * len(exprs)
        for e, o in zip(exprs, got):
            want = [float(e.subs({x: float(u), y: float(v)})) for u, v in zip(a, b)]
            np.testing.assert_allclose(o, np.asarray(want, dtype), rtol=1e-6 if dtype == np.float32 else 1e-15)


def test_pytensor_outputs_have_the_dtype_of_the_inputs():
    """The same graph's PyTensor variables (compiling it costs seconds; PyTensor makes literals in
    the computation's dtype, so its values are those of every other graph, tests/backends/test_pytensor.py)."""
    require("pytensor")
    from sympile._backends.pytensor import compute_dtype, graph_builder, literal_maker, tensor

    graph, exprs = _graph()
    build, _ = graph_builder(graph)
    for dtype in ("float32", "float64"):
        ins = [tensor(f"a{k}", dtype, (None,)) for k in range(2)]
        outs = build(*ins, literal_maker(compute_dtype(ins)))
        assert [o.dtype for o in outs] == [dtype] * len(exprs)


@pytest.mark.parametrize("backend", ["numpy", "c"])
def test_one_point_gives_python_floats_for_literal_valued_outputs(backend):
    f = lambdify([x, y], LITERAL_VALUED, backend=backend)
    for point in [(0.5, -1.0), (np.float64(-0.5), 1.0)]:
        got = f(*point)
        assert [type(v) for v in got] == [float] * len(LITERAL_VALUED)
        assert got == [float(e.subs({x: point[0], y: point[1]})) for e in LITERAL_VALUED]


def test_boolean_outputs_stay_boolean_and_integer_inputs_keep_numpys_rule():
    """A comparison is bool on NumPy and JAX, also where it ignores an input and is broadcast; over
    integer arrays NumPy's rule holds (a select of integer literals is an integer array, as x**2 is)."""
    f = lambdify([x, y], [x > 0, sp.Piecewise((1, x > 0), (0, True)), x**2])
    rng = np.random.default_rng(19)
    ints = rng.integers(-5, 5, 6)
    b, p, q = f(ints, ints[:, None])
    assert b.dtype == np.bool_ and b.shape == (6, 6)
    assert p.dtype == q.dtype == ints.dtype
    np.testing.assert_array_equal(p, np.broadcast_to(ints > 0, (6, 6)).astype(int))
    require("jax")
    g = lambdify([x, y], [x > 0, sp.Piecewise((1, x > y), (0, True))], backend="jax")
    b, p = g(rng.uniform(-1, 1, 3).astype(np.float32), np.float32(0.0))
    assert b.dtype == np.bool_ and p.dtype == np.float32
