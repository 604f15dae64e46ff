"""A common power-of-two factor of a sum (sympile._transforms.scale), applied once."""

import numpy as np
import pytest
import sympy as sp

from sympile import lambdify, lower
from sympile._transforms.fold import fold_constants
from sympile._transforms.scale import factor_scales

x, y = sp.symbols("x y")


def test_a_common_power_of_two_factor_is_applied_once():
    e = -x * (x - 1) / 2 - y * (y + 3) / 2 + x * y / 2
    g = factor_scales(fold_constants(lower([e], [x, y])))
    halves = [n for n in g.nodes if n.op == "mul" and any(g.nodes[a].attr in (0.5, -0.5) for a in n.args)]
    assert len(halves) == 1
    # a factor that is not a power of two is not factored: x*(1/3) + y*(1/3) rounds differently
    g3 = factor_scales(fold_constants(lower([x * (x - 1) / 3 + y * (y + 3) / 3], [x, y])))
    assert sum(1 for n in g3.nodes if n.op == "div") == 2
    f = lambdify([x, y], e)
    rng = np.random.default_rng(0)
    for px, py in rng.uniform(-5, 5, (50, 2)):
        ref = float(e.evalf(30, subs={x: float(px), y: float(py)}))
        assert f(float(px), float(py)) == pytest.approx(ref, rel=1e-12, abs=1e-12)
