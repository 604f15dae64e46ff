"""Constant folding."""

import numpy as np
import pytest
import sympy as sp
from helpers import require

from sympile import lambdify, lower
from sympile._transforms.fold import fold_constants

x = sp.Symbol("x")


def test_input_free_subgraphs_become_correctly_rounded_literals():
    e = x * sp.log(3) + sp.sqrt(2) * sp.exp(sp.pi) + sp.gamma(sp.Rational(1, 3))
    g = fold_constants(lower([e], [x]))
    consts = [n.attr for n in g.nodes if n.op == "const"]
    assert float(sp.log(3).evalf(40)) in consts
    assert float((sp.sqrt(2) * sp.exp(sp.pi) + sp.gamma(sp.Rational(1, 3))).evalf(40)) in consts
    assert {n.op for n in g.nodes} == {"input", "const", "mul", "add"}


def test_folded_constants_keep_float32():
    f = lambdify(x, x * sp.log(3) + sp.atan(2))
    assert f(np.ones(3, np.float32)).dtype == np.float32


def test_folding_keeps_exact_values():
    g = fold_constants(lower([x * sp.factorial(5) + sp.Rational(1, 3) ** 2], [x]))
    consts = [n.attr for n in g.nodes if n.op == "const"]
    assert 120 in consts


def _built(nodes_spec):
    """A graph from ``(op, args, attr)`` triples (the last node is the output, beside an input)."""
    from sympile._core.graph import Graph, Node

    nodes = [Node("input", (), 0), *[Node(op, args, attr) for op, args, attr in nodes_spec]]
    out = len(nodes)
    nodes.append(Node("mul", (0, out - 1)))
    return Graph(nodes, [out], (x,))


def test_arithmetic_on_floats_folds_exactly_and_rounds_once():
    """``+ - * /`` over Python numbers fold without SymPy: exactly, rounded once at the end."""
    from fractions import Fraction

    rng = np.random.default_rng(0)
    for _ in range(50):
        a, b, c = (float(v) for v in rng.normal(size=3) * 10.0 ** rng.integers(-5, 5, 3))
        # node 1: a, 2: b, 3: c, 4: a*b, 5: 4 - c, 6: 5 / b, 7: -6
        spec = [("const", (), a), ("const", (), b), ("const", (), c), ("mul", (1, 2), None)]
        spec += [("sub", (4, 3), None), ("div", (5, 2), None), ("neg", (6,), None)]
        g = fold_constants(_built(spec))
        (value,) = [n.attr for n in g.nodes if n.op == "const"]
        exact = -(
            (sp.Rational(Fraction(a)) * sp.Rational(Fraction(b)) - sp.Rational(Fraction(c))) / sp.Rational(Fraction(b))
        )
        assert type(value) is float and value == float(exact.evalf(60))
    # exact numbers stay exact; a division by zero or a named constant goes through SymPy
    g = fold_constants(_built([("const", (), 6), ("const", (), Fraction(1, 3)), ("mul", (1, 2), None)]))
    assert [(n.attr, type(n.attr)) for n in g.nodes if n.op == "const"] == [(2, int)]
    g = fold_constants(_built([("const", (), 2), ("const", (), Fraction(1, 3)), ("add", (1, 2), None)]))
    assert [n.attr for n in g.nodes if n.op == "const"] == [Fraction(7, 3)]
    g = fold_constants(_built([("const", (), 2.5), ("const", (), "pi"), ("mul", (1, 2), None)]))
    assert [n.attr for n in g.nodes if n.op == "const"] == [float(sp.N(sp.pi * 2.5, 40))]


# -- a value and its negation ------------------------------------------------------------


@pytest.mark.parametrize(
    "base, n, want",
    [
        (3, 10**9, np.inf),
        (-3, 10**9 + 1, -np.inf),
        (sp.Rational(1, 3), 10**9, 0.0),
        (sp.Rational(-1, 3), -(10**9) - 1, -np.inf),
        (2, 100, 2.0**100),
        (sp.Rational(3, 2), 40, 1.5**40),
    ],
)
def test_literal_powers_too_large_to_compute_exactly_fold_to_their_float_value(base, n, want):
    """A literal power whose exact value would have millions of digits (built unevaluated in
    SymPy) folds at once to what float64 arithmetic gives, never through exact arithmetic."""
    x = sp.Symbol("x")
    f = lambdify([x], sp.Add(x, sp.Pow(base, n, evaluate=False), evaluate=False))
    got = f(1.0)
    assert got == want + 1.0 or (np.isinf(want) and got == want)
    np.testing.assert_array_equal(f(np.array([1.0, 2.0])), [want + 1.0, want + 2.0])


def test_a_function_of_a_constant_past_float64_is_left_to_run_time():
    # SymPy reduced exp(exp(14)) (522,000 digits) by pi for minutes, and computed pi to as many
    # digits for gamma of it; float64 computes sec(inf) = NaN and gamma(inf) = inf, as for any
    # argument past its range. Within the range the fold is exact as ever.
    huge = sp.exp(sp.exp(14))
    for expr in (sp.sec(huge) * x, x + sp.besselj(1, huge), sp.gamma(huge, evaluate=False) * x):
        assert len(fold_constants(lower([expr], [x])).nodes) > 3  # not folded
        with np.errstate(all="ignore"):
            assert not np.isfinite(lambdify([x], expr)(1.0))
    k = sp.Integer(10) ** 300
    folded = fold_constants(lower([sp.sin(k) * x], [x]))
    assert not any(n.op == "sin" for n in folded.nodes)
    assert lambdify([x], sp.sin(k) * x)(1.0) == float(sp.sin(k).evalf(30))


def test_a_constant_from_a_float_literal_stays_a_float_and_lets_nan_through():
    # The fuzzer's reproducer: 3.2e-45805 underflows to 0.0, SymPy made 0.0*GoldenRatio an exact 0,
    # and the Builder's 0 * x = 0 then hid the NaN of (y - E)**0.75 at y < E (the reference's NaN).
    y = sp.Symbol("y")
    c = sp.Float("3.1905221674677484e-45805") * sp.GoldenRatio
    expr = c * sp.Heaviside(-((y - sp.E) ** sp.Float(0.75)) + c)
    (zero,) = [n.attr for n in fold_constants(lower([expr], [y])).nodes if n.op == "const" and n.attr == 0]
    assert type(zero) is float
    with np.errstate(all="ignore"):
        out = lambdify([y], expr)(np.array([-2.13, 3.0]))
    assert np.isnan(out[0]) and out[1] == 0.0
    assert fold_constants(lower([sp.Integer(0) * sp.pi * x], [x])).nodes[-1].attr == 0  # exact stays exact


def test_a_constant_that_sympy_keeps_complex_inside_loggamma_is_refused_not_nan():
    # loggamma's lowering tests its argument's sign, which SymPy cannot fold for a complex argument;
    # the argument is folded alone then, and a real-only op fed a complex constant is refused at
    # build time (it was computed in real arithmetic: NaN where SymPy has a complex value).
    from sympile import UnsupportedFunctionError

    for arg in (1 + sp.atanh(sp.log(sp.pi)) ** 2, 1 + sp.acos(-3) ** 2):
        folded = fold_constants(lower([x * sp.loggamma(arg)], [x]))
        assert any(n.op == "const" and type(n.attr) is complex for n in folded.nodes)
        with pytest.raises(UnsupportedFunctionError, match="real arguments only"):
            lambdify([x], x * sp.exp(sp.loggamma(arg)))
    assert lambdify([x], x * sp.loggamma(sp.Rational(7, 3)))(2.0) == 2 * float(sp.loggamma(sp.Rational(7, 3)).evalf(30))


@pytest.mark.parametrize("backend", ["numpy", "torch", "jax", "pytensor"])
def test_a_constant_sympy_cannot_build_is_left_to_run_time_not_a_raw_error(backend):
    """loggamma's sign test of ``erfinv(2)**2 + 1`` makes SymPy ask mpmath for ``erfinv(2)``, which
    raises ValueError while the constant is built (the fuzzer's seed 1): the build succeeds and
    the value is float64's, NaN (erfinv outside [-1, 1])."""
    if backend != "numpy":
        require(backend)
    t = sp.Symbol("t")
    expr = sp.atan(t * sp.atanh(sp.tanh(sp.loggamma(sp.erfinv(2) ** 2 + 1))))
    f = lambdify([t], expr, backend=backend)
    t0 = float(np.random.default_rng(5).uniform(0.5, 2.0))
    with np.errstate(all="ignore"):
        assert np.isnan(float(f(t0)))
    # a foldable constant beside it still folds to its correctly rounded value
    g = lambdify([t], t + sp.loggamma(sp.erfinv(sp.Rational(1, 2))), backend=backend)
    assert float(g(t0)) == pytest.approx(t0 + float(sp.loggamma(sp.erfinv(sp.Rational(1, 2))).evalf(30)), rel=1e-6)
