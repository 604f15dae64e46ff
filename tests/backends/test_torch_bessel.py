"""PyTorch's Bessel functions of order 0 and 1 are accurate in float64 (values and derivatives).

``torch.special.bessel_j0/j1/y0/y1`` are off by up to 5e-7 between 5 and 8 and 1e-8 elsewhere in
[1, 25], float64 included (the fuzzer's torch-only wrong values all held ``besselj(1, .)``);
sympile integrates there. References: mpmath at 30 digits, at fresh seeded points.
"""

import mpmath
import numpy as np
import pytest
import sympy as sp
from helpers import require

from sympile import lambdify

x = sp.Symbol("x")
#: (expression, its value and its derivative by mpmath: Y0' = -Y1, Y1' = Y0 - Y1/x)
CASES = [
    (sp.besselj(0, x), lambda v: (mpmath.besselj(0, v), -mpmath.besselj(1, v))),
    (sp.besselj(1, x), lambda v: (mpmath.besselj(1, v), mpmath.besselj(0, v) - mpmath.besselj(1, v) / v)),
    (sp.bessely(0, x), lambda v: (mpmath.bessely(0, v), -mpmath.bessely(1, v))),
    (sp.bessely(1, x), lambda v: (mpmath.bessely(1, v), mpmath.bessely(0, v) - mpmath.bessely(1, v) / v)),
]


@pytest.mark.parametrize("case", range(len(CASES)), ids=["J0", "J1", "Y0", "Y1"])
def test_torch_bessel_functions_are_accurate_in_float64(case):
    torch = require("torch")
    expr, ref = CASES[case]
    rng = np.random.default_rng(1000 + case)
    pts = np.concatenate([rng.uniform(0.5, 30, 24), [1.0, 25.0, 5.5, 7.9]])
    if expr.func is sp.besselj:
        pts = np.concatenate([pts, -rng.uniform(0.5, 30, 6)])
    t = torch.tensor(pts, requires_grad=True)
    f = lambdify([x], expr, backend="torch")
    out = f(t)
    out.sum().backward()
    with mpmath.workdps(30):
        want, slope = np.array([[float(v) for v in ref(mpmath.mpf(p))] for p in pts]).T
    tol = 1e-14 * np.maximum(1.0, np.abs(want))
    np.testing.assert_array_less(np.abs(out.detach().numpy() - want), tol)
    np.testing.assert_array_less(np.abs(t.grad.numpy() - slope), 1e-13 * np.maximum(1.0, np.abs(slope)))
