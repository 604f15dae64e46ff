"""Fused ops: squares that read their argument once, and multiply-adds."""

import re

import numpy as np
import sympy as sp
import torch
from helpers import require

from sympile import lambdify, lower
from sympile._backends.numpy import NUMPY
from sympile._emit.emit import Spelling, emit
from sympile._transforms.fuse import multiply_adds, squares

x, y = sp.symbols("x y")


def test_squares_read_their_argument_once():
    spelling = Spelling("numpy", "np", NUMPY, {"np": np})
    e = (x + 1) ** 2 * sp.sin(y) + (y - 2) ** 2 * sp.cos(x)
    src = emit(squares(lower([e], [x, y])), spelling).source
    # x + 1 and y - 2 are used only squared: inline, not locals kept alive for the statement
    assert src.count("np.square(") == 2
    assert not re.findall(r"^\s+_\d+ = ", src, re.M)
    # a squared value used elsewhere too is still computed once
    shared = emit(squares(lower([(x + 1) ** 2 + sp.exp(x + 1)], [x])), spelling).source
    assert len(re.findall(r"^\s+_\d+ = ", shared, re.M)) == 1 and "np.square(_0)" in shared
    f = lambdify([x, y], e)
    rng = np.random.default_rng(0)
    a, b = rng.uniform(-3, 3, (2, 20))
    want = [float(e.evalf(30, subs={x: float(u), y: float(v)})) for u, v in zip(a, b)]
    np.testing.assert_allclose(f(a, b), want, rtol=1e-13, atol=1e-13)
    got32 = f(a.astype(np.float32), b.astype(np.float32))
    assert got32.dtype == np.float32
    np.testing.assert_allclose(got32, want, rtol=1e-5, atol=1e-5)


def test_a_graph_without_squares_is_returned_as_it_is():
    g = lower([sp.sin(x) * y], [x, y])
    assert squares(g) is g and multiply_adds(g) is g


def test_multiply_adds_fuse_only_products_used_once():
    require("torch")
    e = [x + sp.sin(y) * y, sp.exp(x) + x * y, sp.sin(x * y)]  # x*y is used twice: not fused
    g = multiply_adds(lower(e, [x, y]))
    ops = [n.op for n in g.nodes]
    assert ops.count("fma") == 1 and "mul" in ops
    f = lambdify([x, y], e, backend="torch")
    assert "addcmul" in f.source
    rng = np.random.default_rng(1)
    a, b = rng.uniform(-2, 2, (2, 10))
    got = f(torch.tensor(a), torch.tensor(b))
    for expr, value in zip(e, got):
        want = [float(expr.evalf(30, subs={x: float(u), y: float(v)})) for u, v in zip(a, b)]
        np.testing.assert_allclose(value.numpy(), want, rtol=1e-13)
