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
