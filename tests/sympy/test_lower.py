"""Lowering SymPy to the graph: sharing, the forms of powers and sums, parameters, errors."""

import math

import numpy as np
import pytest
import sympy as sp

from sympile import Graph, UnsupportedFunctionError, lambdify, lower, to_sympy

x, y, z = sp.symbols("x y z")


def ops(graph: Graph) -> list[str]:
    return [n.op for n in graph.nodes]


def test_common_subexpressions_exist_once():
    e = sp.sin(x * y) ** 2 + sp.cos(x * y) * sp.sin(x * y) + sp.exp(sp.sin(x * y))
    g = lower([e], [x, y])
    assert ops(g).count("sin") == 1 and ops(g).count("cos") == 1
    keys = [(n.op, n.args, type(n.attr), n.attr) for n in g.nodes]
    assert len(keys) == len(set(keys))


def test_nodes_are_topologically_ordered():
    g = lower([sp.sin(x) * sp.exp(y) + sp.Piecewise((x, x > y), (y, True))], [x, y])
    for i, n in enumerate(g.nodes):
        assert all(a < i for a in n.args)


def test_nary_sums_are_balanced():
    e = sp.Add(*[sp.sin(k * x) for k in range(1, 65)])
    g = lower([e], [x])
    depth = [0] * len(g.nodes)
    for i, n in enumerate(g.nodes):
        depth[i] = 1 + max((depth[a] for a in n.args), default=0)
    assert depth[g.outputs[0]] <= 2 + 7 + 2  # input, mul/sin, log2(64) adds


@pytest.mark.parametrize(
    "expr, expected",
    [
        (x**2, ["input", "mul"]),
        (x**-1, ["const", "input", "div"]),
        (sp.sqrt(x), ["input", "sqrt"]),
        (1 / sp.sqrt(x), ["input", "rsqrt"]),
        (x**5, ["input", "powi"]),
        (x ** sp.Rational(3, 2), ["input", "const", "pow"]),
        (sp.exp(x) - 1, ["input", "expm1"]),
        (sp.log(1 + x), ["input", "log1p"]),
        (x - y, ["input", "input", "sub"]),
    ],
)
def test_special_forms(expr, expected):
    assert sorted(ops(lower([expr], [x, y]))) == sorted(expected)


def test_integer_powers_stay_exact():
    f = lambdify(x, x**7 - 3 * x**2)
    assert f(np.int64(3)) == 3**7 - 27
    assert f(3) == 3**7 - 27


def test_cube_root_of_a_maybe_negative_base_is_the_principal_root():
    f = lambdify(x, x ** sp.Rational(1, 3))
    with np.errstate(invalid="ignore"):
        assert np.isnan(f(np.array([-8.0]))[0])  # SymPy's x**(1/3) is complex there
    p = sp.Symbol("p", positive=True)
    assert "cbrt" in ops(lower([p ** sp.Rational(1, 3)], [p]))


@pytest.mark.parametrize(
    "expr, op",
    [
        (sp.Symbol("p", positive=True) ** sp.Rational(1, 3), "cbrt"),
        (sp.Symbol("r", real=True) ** 2 + 1, None),  # (r**2 + 1)**(1/3) below: nonnegative
        (x ** sp.Rational(1, 3), "pow"),  # x may be negative (or complex): the principal root
        (sp.Symbol("p", positive=True) ** sp.Rational(2, 3), "pow"),
        (sp.Symbol("p", positive=True) ** sp.Rational(-1, 3), "pow"),
        (sp.Symbol("p", positive=True) ** sp.Float(1 / 3), "pow"),
    ],
)
def test_cube_roots_lower_by_their_exponent_and_the_base_sign(expr, op):
    if op is None:
        expr, op = expr ** sp.Rational(1, 3), "cbrt"
    syms = sorted(expr.free_symbols, key=str)
    g = lower([expr], syms)
    assert op in ops(g) and ("cbrt" in ops(g)) == (op == "cbrt")
    f = lambdify(syms, expr)
    rng = np.random.default_rng(3)
    for v in rng.uniform(0.05, 9, 5):
        want = float(expr.evalf(30, subs={s: v for s in syms}))
        assert f(*[v] * len(syms)) == pytest.approx(want, rel=1e-14)
        assert f(*[np.array([v])] * len(syms))[0] == pytest.approx(want, rel=1e-14)


def test_params_one_slot_per_occurrence_in_preorder():
    e = 2.5 * sp.sin(2.5 * x + 0.5) + 1.5 * sp.exp(sp.UnevaluatedExpr(0.25) * y) + 2.5
    g = lower([e], [x, y], floats="params")
    floats = [float(f) for f in sp.preorder_traversal(e) if isinstance(f, sp.Float)]
    assert list(g.params) == [f for f in floats if f != 0.25]
    assert list(g.buffers) == [0.25]
    assert ops(g).count("param") == len(g.params) == 5  # the two 2.5s of the products are two slots
    (back,) = to_sympy(g, params=[10.0 + k for k in range(len(g.params))])
    assert back.count(sp.Float(2.5)) == 0


def test_a_parameter_subtree_is_not_shared_but_a_float_free_one_is():
    e = sp.sin(2.0 * x) + sp.sin(2.0 * x) * sp.cos(y) + sp.cos(y)
    g = lower([e], [x, y], floats="params")
    assert ops(g).count("sin") == 2  # two occurrences of 2.0 -> two parameters -> two sines
    assert ops(g).count("cos") == 1
    g2 = lower([e], [x, y])
    assert ops(g2).count("sin") == 1


def test_unsupported_atoms_and_functions():
    with pytest.raises(UnsupportedFunctionError, match="fresnelc"):
        lower([sp.fresnelc(x)], [x])
    with pytest.raises(UnsupportedFunctionError, match="integer"):
        lower([sp.polygamma(x, y)], [x, y])


def test_numbers_may_be_python_numbers():
    g = lower([2, 1.5, True], [])
    assert [n.attr for n in g.nodes] == [2, 1.5, True]


def test_lowering_is_iterative():
    e = x
    for _ in range(20000):
        e = sp.exp(e, evaluate=False)
    g = lower([e], [x])
    assert len(g.nodes) == 20001


@pytest.mark.parametrize(
    "expr, at_two",
    [
        (x * sp.Rational(3, 10**400), 0.0),  # 3e-400 underflows to 0.0
        (x + 10**400, math.inf),  # 1e400 overflows to inf
        (x * sp.Rational(10**400, 3), math.inf),
        (-(10**400) * x, -math.inf),
        (x ** (10**400), math.inf),
        (x ** (-(10**400)), 0.0),
    ],
)
@pytest.mark.parametrize("backend", ["numpy", "torch", "jax"])
def test_exact_constants_beyond_float64_take_their_float_value(expr, at_two, backend):
    pytest.importorskip(backend)
    f = lambdify([x], expr, backend=backend)
    assert float(f(np.float64(2.0))) == at_two
