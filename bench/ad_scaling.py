"""How the build time of derivatives grows with the number of outputs differentiated together.

Derivatives of ``k`` outputs built together should cost about what the ``k`` built one by one
cost: each sweep of graph AD walks only the graph its outputs depend on (`_transforms.ad.cone`),
not everything the builder holds (before that fix, issue 14, the gradients and Hessians of 14
expressions in one builder took 6.6 s against 0.03 s one by one). Two cases, each printed as the
time for ``k`` outputs together over the sum of the ``k`` single times (1 is linear; the first
case also over the time for ``k/2`` together, 2 is linear):

- the gradient and the Hessian of ``k`` seeded random expressions of ``x, y, z`` in one
  `Builder` (what the fuzzer builds: `tests/fuzzing/numeric._derivative_graph`);
- ``sympile.jacobian`` of a function ``R^3 -> R^k`` (tracing, differentiation and compiling),
  over ``k`` times that of its first component, beside ``jax.jit(jax.jacobian)`` (compiled by the
  first call) where JAX is installed.

    python bench/ad_scaling.py [--quick]
"""

from __future__ import annotations

import random
import statistics
import sys

import sympy as sp
from _common import fmt, fresh_caches, median_once, once, table

import sympile
import sympile.numpy as snp
from sympile import lower
from sympile._core.graph import Builder
from sympile._transforms.ad import hessian_nodes, leaf_nodes, reverse

QUICK = "--quick" in sys.argv
KS = [5, 10, 20] if QUICK else [5, 10, 20, 40]
#: Runs per build time (the median is reported).
REPEAT = 3 if QUICK else 7
X, Y, Z = SYMBOLS = sp.symbols("x y z")

UNARY = [
    sp.sin,
    sp.tanh,
    sp.coth,
    sp.atan,
    sp.exp,
    sp.erfc,
    lambda u: sp.log(1 + u**2),
    lambda u: sp.sqrt(u**2 + sp.Rational(1, 4)),
    lambda u: sp.Piecewise((u**2, u > 0), (sp.sin(u), True)),
]
BINARY = [
    lambda u, v: u + v,
    lambda u, v: u * v,
    lambda u, v: u / (1 + v**2),
    lambda u, v: sp.Min(u, v),
    lambda u, v: sp.atan2(u, 1 + v**2),
]


def expression(rng: random.Random, depth: int = 4) -> sp.Expr:
    """A random expression of x, y, z, about ``2**depth`` leaves."""
    if depth == 0:
        return rng.choice(SYMBOLS) if rng.random() < 0.8 else sp.Integer(rng.randint(1, 3))
    if rng.random() < 0.4:
        return rng.choice(UNARY)(expression(rng, depth - 1))
    return rng.choice(BINARY)(expression(rng, depth - 1), expression(rng, depth - 1))


def hessians_together(exprs) -> int:
    """The gradient and Hessian of each of ``exprs`` in one builder; the number of nodes built."""
    graph = lower(list(exprs), SYMBOLS)
    b = Builder(graph)
    xs = leaf_nodes(b, "input", [0, 1, 2])
    one = b.const(1)
    for o in graph.outputs:
        reverse(b, [o], [one], xs)
        hessian_nodes(b, o, xs)
    return len(b.nodes) - len(graph.nodes)


def vector_function(k: int):
    def f(x):
        return snp.array([snp.tanh(x[0] * x[(j + 1) % 3] + j) * snp.exp(-(x[j % 3] ** 2) / (j + 1)) for j in range(k)])

    return f


def jax_vector_function(k: int):
    import jax.numpy as jnp

    def f(x):
        return jnp.stack([jnp.tanh(x[0] * x[(j + 1) % 3] + j) * jnp.exp(-(x[j % 3] ** 2) / (j + 1)) for j in range(k)])

    return f


def jax_jacobian(k: int):
    import jax
    import jax.numpy as jnp

    f = jax.jit(jax.jacobian(jax_vector_function(k)))
    f(jnp.ones(3)).block_until_ready()
    return f


def cold(make):
    def run():
        fresh_caches()
        return make()

    return run


def main():
    rng = random.Random(0)
    exprs = [expression(rng) for _ in range(max(KS))]
    rows, last = [], None
    for k in KS:
        together, alone = [], []
        for _ in range(REPEAT):  # in turn, so that the machine's load falls on both alike
            t, built = once(cold(lambda: hessians_together(exprs[:k])))
            together.append(t)
            alone.append(sum(once(cold(lambda e=e: hessians_together([e])))[0] for e in exprs[:k]))
        t, alone = statistics.median(together), statistics.median(alone)
        doubled = f"{t / last:.2f}" if last else ""
        rows.append([str(k), fmt(t), fmt(alone), f"{t / alone:.2f}", doubled, str(built)])
        last = t
    print(
        table(
            "Gradient and Hessian of k random expressions of x, y, z in one Builder",
            ["k", "together", "sum of singles", "ratio", "over k/2 together", "nodes built"],
            rows,
        )
    )

    try:
        import jax

        jax.config.update("jax_enable_x64", True)
    except ImportError:
        jax = None
    one = median_once(cold(lambda: sympile.jacobian(vector_function(1), 3)), REPEAT)[0]
    one_jax = median_once(lambda: jax_jacobian(1))[0] if jax else float("nan")
    rows = []
    for k in KS:
        t = median_once(cold(lambda: sympile.jacobian(vector_function(k), 3)), REPEAT)[0]
        tj = median_once(lambda: jax_jacobian(k))[0] if jax else float("nan")
        rows.append([str(k), fmt(t), f"{t / (k * one):.2f}", fmt(tj), f"{tj / (k * one_jax):.2f}"])
    print(
        table(
            "sympile.jacobian of R^3 -> R^k (generation), over k times the generation for k = 1",
            ["k", "sympile", "ratio to k x single", "jax.jit(jax.jacobian), first call", "ratio to k x single"],
            rows,
        )
    )


if __name__ == "__main__":
    main()
