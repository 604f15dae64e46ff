"""Decompositions (the op table's `decompose` rules, applied by sympile._transforms.decompose): each
written-out op computes what the op does, checked against SymPy at 30 digits on seeded random points,
and an op without a spelling or a decomposition is refused with the one message."""

import numpy as np
import pytest
import sympy as sp
from helpers import reference

from sympile import UnsupportedFunctionError, lambdify, lower
from sympile._backends.numpy import NUMPY
from sympile._core.ops import OPS
from sympile._emit.emit import Spelling
from sympile._emit.pipeline import pipeline
from sympile._emit.tables import ARRAY
from sympile._transforms.decompose import decompose
from sympile._transforms.fold import fold_constants

x, y = sp.symbols("x y")
p = sp.Symbol("p", positive=True)  # cbrt(p) is the real cube root
#: (Graph AD's conjugate pairs decompose too; tests/transforms/test_ad_complex.py has them.)
DECOMPOSED = sorted(name for name, spec in OPS.items() if spec.decompose is not None and not spec.made_by_ad)

#: For each op with a decomposition: an expression using it, and the domain of x and y.
EXAMPLES = {
    "rsqrt": (1 / sp.sqrt(x), (0.1, 5), (0, 1)),
    "cbrt": (sp.cbrt(p) * y, (0.01, 5), (-2, 2)),
    "cot": (sp.cot(x), (0.1, 3), (0, 1)),
    "sec": (sp.sec(x), (-1.5, 1.5), (0, 1)),
    "csc": (sp.csc(x), (0.1, 3), (0, 1)),
    "acot": (sp.acot(x), (-4, 4), (0, 1)),
    "asec": (sp.asec(x), (1.01, 6), (0, 1)),
    "acsc": (sp.acsc(x), (1.01, 6), (0, 1)),
    "coth": (sp.coth(x), (0.1, 4), (0, 1)),
    "sech": (sp.sech(x), (-4, 4), (0, 1)),
    "csch": (sp.csch(x), (0.1, 4), (0, 1)),
    "acoth": (sp.acoth(x), (1.01, 6), (0, 1)),
    "asech": (sp.asech(x), (0.05, 0.99), (0, 1)),
    "acsch": (sp.acsch(x), (0.1, 4), (0, 1)),
    "frac": (sp.frac(x), (-4, 4), (0, 1)),
    "sinc": (sp.sinc(x), (-4, 4), (0, 1)),
    "heaviside": (sp.Heaviside(x - 1, y), (0, 2), (0, 1)),
    "factorial": (sp.factorial(x), (0.1, 6), (0, 1)),
    "gamma": (sp.gamma(x), (-3.9, 6), (0, 1)),
    "binomial": (sp.binomial(x, y), (0.5, 9), (0.1, 3)),
    "arg": (sp.arg(x), (-4, 4), (0, 1)),
}


def test_every_decomposition_has_an_example():
    assert sorted(EXAMPLES) == DECOMPOSED


@pytest.mark.parametrize("op", DECOMPOSED)
def test_a_decomposed_op_computes_the_op(op):
    expr, (lx, hx), (ly, hy) = EXAMPLES[op]
    u = p if op == "cbrt" else x
    graph = fold_constants(lower([expr], [u, y]))
    assert op in {n.op for n in graph.nodes}
    # NumPy without a spelling for the op, as a backend that lacks it
    spelling = Spelling("test", "np", {**NUMPY, op: None})
    written = decompose(graph, spelling.spells)
    assert op not in {n.op for n in written.nodes}
    f = lambdify([u, y], expr)
    decomposed = type(f)(written, "numpy", {}, f._arg_tree, f._out_tree)
    rng = np.random.default_rng(len(op))
    points = [(lx + u * (hx - lx), ly + v * (hy - ly)) for u, v in rng.uniform(0, 1, (25, 2))]
    if op == "binomial":  # integers: exact, and beyond the gammas' range
        points += [(5.0, 2.0), (9.0, 4.0), (3.0, 5.0), (200.0, 3.0)]
    for px, py in points:
        want = reference(expr, {u: px, y: py})
        got = decomposed(px, py)
        if want is None or want.imag != 0:
            continue
        assert got == pytest.approx(want.real, rel=1e-12, abs=1e-300), (op, px, py)
        if op == "binomial" and px == int(px) and py == int(py) and px < 20:
            assert got == want.real  # the ratio of gammas is exact on small integers


def test_decomposition_is_repeated_until_every_op_is_spelt():
    # factorial is gamma(x + 1), and a backend without gamma gets it through loggamma
    spelling = Spelling("test", "np", {**ARRAY, "factorial": None, "gamma": None})
    g = decompose(lower([sp.factorial(x)], [x]), spelling.spells)
    ops = {n.op for n in g.nodes}
    assert "loggamma" in ops and not ops & {"factorial", "gamma"}


def test_ops_without_spelling_or_decomposition_are_refused_in_one_format():
    cases = [("torch", sp.LambertW(x)), ("jax", sp.besselj(y, x)), ("pytensor", sp.LambertW(x)), ("c", sp.erfinv(x))]
    for backend, expr in cases:
        with pytest.raises(UnsupportedFunctionError) as info:
            lambdify([x, y], expr, backend=backend)
        message = str(info.value)
        title = OPS[{sp.LambertW: "lambertw", sp.besselj: "besselj", sp.erfinv: "erfinv"}[type(expr)]].title
        assert message.startswith(f"the {backend} backend cannot compute {title}")
        assert "no spelling for it and no decomposition" in message and "backend='numpy'" in message
    # what a backend spells natively is not decomposed
    numpy = Spelling("numpy", "np", ARRAY)
    g = lower([sp.arg(x)], [x])
    assert "arg" in {n.op for n in g.nodes}
    assert pipeline(numpy, mask=False)(g).nodes == fold_constants(g).nodes
