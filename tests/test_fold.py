"""Constant folding."""

import numpy as np
import sympy as sp

from sympile import lambdify, lower
from sympile._fold import fold_constants

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
