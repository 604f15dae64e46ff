"""An exact literal beyond float64's range stands for its float value in a function too.

Constant folding evaluated ``sec(10**400000)`` exactly (pi to 400,000 digits: 34 s; the fuzzer's
``10**1240911`` ran for many minutes); as every literal does at run time, it is now ``inf``, and
``sec(inf)`` is NaN as in float64 arithmetic (NumPy's ``1/cos(inf)`` is the peer).
"""

import numpy as np
import pytest
import sympy as sp
from helpers import require

from sympile import lambdify

x = sp.Symbol("x")


@pytest.mark.parametrize("backend", ["numpy", "torch", "c"])
def test_a_function_of_a_huge_exact_literal_is_the_function_of_its_float_value(backend):
    x_val = 2.0
    if backend == "torch":  # a float64 tensor (Python floats are computed in PyTorch's default float32)
        x_val = require("torch").tensor(x_val, dtype=require("torch").float64)
    with np.errstate(invalid="ignore"):
        want = 2.0 / np.cos(np.inf) + np.arctan(np.inf)
    f = lambdify([x], x * sp.sec(sp.Integer(10) ** 400000) + sp.atan(sp.Integer(7) ** 5000), backend=backend)
    got = f(x_val)
    assert np.isnan(float(got)) and np.isnan(want)
    g = lambdify([x], x + sp.atan(sp.Integer(7) ** 5000), backend=backend)  # atan(inf) = pi/2
    assert float(g(x_val)) == pytest.approx(2.0 + np.arctan(np.inf), rel=1e-15)
    h = lambdify([x], x * sp.Integer(10) ** 400 / sp.Integer(10) ** 399, backend=backend)  # exact arithmetic stays
    assert float(h(x_val)) == 20.0


def test_exact_arithmetic_past_float64_in_a_function_is_float64_arithmetic():
    """``sec(E*10**N)``: the product is a constant expression, not a literal (seed 2 of the fuzzer)."""
    with np.errstate(invalid="ignore", over="ignore"):
        want_sec = 2.0 / np.cos(np.e * np.inf)
        want_atan = np.arctan(-np.e * np.inf + 2.0)
    f = lambdify([x], x * sp.sec(sp.E * sp.Integer(10) ** 1240911))
    assert np.isnan(f(2.0)) and np.isnan(want_sec)
    g = lambdify([x], sp.atan(-sp.E * sp.Integer(10) ** 5000 + x))
    assert g(2.0) == want_atan
