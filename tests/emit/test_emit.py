"""Emitting straight-line source: inlining, local reuse, literals, safety."""

import math
import re

import numpy as np
import pytest
import sympy as sp

from sympile import lambdify, lower
from sympile._backends.numpy import NUMPY
from sympile._core.tuning import MAX_INLINE_DEPTH
from sympile._emit.emit import Spelling, emit, literal, schedule

x, y = sp.symbols("x y")


def test_shared_nodes_get_one_local_and_single_use_nodes_are_inlined():
    e = sp.sin(x * y) ** 2 + sp.exp(sp.sin(x * y)) * sp.cos(x)
    src = emit(lower([e], [x, y]), Spelling("numpy", "np", NUMPY)).source
    assert src.count("np.sin(") == 1
    assert len(re.findall(r"^\s+_\d+ = ", src, re.M)) == 1


def test_locals_are_reused_when_dead():
    def locals_for(n):
        e = sp.Add(*[sp.sin(x * k) ** 2 for k in range(1, n)])
        src = emit(lower([e], [x]), Spelling("numpy", "np", NUMPY)).source
        return len(set(re.findall(r"\b_(\d+) = ", src))), src.count(" = ")

    (few, statements_few), (many, statements_many) = locals_for(200), locals_for(2000)
    assert statements_many > 5 * statements_few
    # a balanced sum keeps a few partial sums per level alive: logarithmic, not linear
    assert many <= few + 5 * math.log2(2000 / 200)


def test_inline_depth_is_bounded():
    e = x
    for _ in range(200):
        e = sp.sin(e, evaluate=False)
    src = emit(lower([e], [x]), Spelling("numpy", "np", NUMPY)).source
    assert max(line.count("(") for line in src.splitlines()) <= 3 * MAX_INLINE_DEPTH
    assert lambdify(x, e)(0.1) == pytest.approx(_nested_sin(0.1, 200))


def _nested_sin(v, n):
    for _ in range(n):
        v = math.sin(v)
    return v


def test_schedule_is_a_topological_order():
    g = lower([sp.sin(x) * sp.exp(y) + sp.cos(x * y), sp.tan(y)], [x, y])
    order = schedule(g)
    pos = {i: k for k, i in enumerate(order)}
    for i in order:
        assert all(pos[a] < pos[i] for a in g.nodes[i].args)


@pytest.mark.parametrize("value", [1.5, -2.0, 3, -7, 1e300, 2.5j, complex(1, -2), 2**70])
def test_literals_round_trip(value):
    hoisted = {}
    text = literal(value, lambda v: hoisted.setdefault(repr(v), f"_k{len(hoisted)}"))
    assert eval(text) == (float(value) if isinstance(value, int) and abs(value) >= 2**63 else value)


@pytest.mark.parametrize("value", [math.inf, -math.inf, math.nan, complex(math.inf, 1)])
def test_non_finite_literals_are_hoisted(value):
    names = {}
    text = literal(value, lambda v: names.setdefault("_k0", v) and "_k0")
    assert text == "_k0" and (names["_k0"] == value or value != value)


def test_infinite_constants_evaluate():
    f = lambdify(x, [x + sp.oo, sp.Max(x, -sp.oo)])
    a, b = f(np.array([1.0]))
    assert a[0] == np.inf and b[0] == 1.0


def test_chains_write_single_use_sums_left_to_right_and_keep_products_grouped():
    xs = sp.symbols("x:6")
    graph = lower([sp.Add(*xs) * xs[0] * xs[1] * xs[2] * xs[3]], list(xs))
    spelling = Spelling("numpy", "np", NUMPY, {})
    balanced = emit(graph, spelling).source
    chained = emit(graph, spelling, chains=True).source
    assert re.search(r"a\d \+ a\d \+ a\d \+ a\d \+ a\d \+ a\d", chained)
    assert not re.search(r"a\d \+ a\d \+ a\d", balanced)
    assert not re.search(r"a\d \* a\d \* a\d", chained)  # regrouped products can overflow
    values = dict(zip([f"a{k}" for k in range(6)], [1.5, -2.0, 0.25, 3.0, 7.0, -0.5]))
    for source in (balanced, chained):
        namespace = {"np": np}
        exec(source, namespace)
        assert namespace["_f"](*values.values()) == pytest.approx(sum(values.values()) * 1.5 * -2.0 * 0.25 * 3.0)
    # a shared sum stays a local: the chain reads its name
    shared = lower([sp.Add(*xs[:4]) ** 2 + xs[4] + xs[5] + sp.Add(*xs[:4])], list(xs))
    source = emit(shared, spelling, chains=True).source
    namespace = {"np": np}
    exec(source, namespace)
    s4 = 1.5 - 2.0 + 0.25 + 3.0
    assert namespace["_f"](*values.values()) == pytest.approx(s4**2 + 7.0 - 0.5 + s4)
