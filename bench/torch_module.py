"""sympile.torch.SymPyModule against sympytorch and hand-written PyTorch.

(a) The 50-term sum(a_i*sin(b_i*x + c_i)) with its 150 floats trainable: forward and backward
of ``.sum()``, float32, one thread, at 100 and 10,000 points; sympile's default layout (a
scalar parameter per float) and its packed one (``packed=True``: one parameter vector). The
candidates run interleaved, round after round, so that the machine's load falls on all of them
alike; medians.
(b) The time to build a module for a 5,000-node expression, and one forward+backward.

    python bench/torch_module.py [--quick]
"""

from __future__ import annotations

import sys

import numpy as np
import sympy as sp
import torch
from _common import fmt, interleaved, median_once, table

from sympile.torch import SymPyModule

QUICK = "--quick" in sys.argv
torch.set_num_threads(1)
rng = np.random.default_rng(0)
x, y, z = sp.symbols("x y z")


def sine_sum(n=50):
    a, b, c = rng.uniform(0.5, 2, (3, n))
    expr = sp.Add(*[sp.Float(a[i]) * sp.sin(sp.Float(b[i]) * x + sp.Float(c[i])) for i in range(n)])
    return expr, (a, b, c)


class HandWritten(torch.nn.Module):
    """What a person writes: the 50 terms as one (N, 50) broadcast."""

    def __init__(self, a, b, c):
        super().__init__()
        self.a, self.b, self.c = (torch.nn.Parameter(torch.tensor(v, dtype=torch.float32)) for v in (a, b, c))

    def forward(self, x):
        return (self.a * torch.sin(self.b * x[:, None] + self.c)).sum(-1)


def forward_backward(module, call):
    def step():
        module.zero_grad(set_to_none=True)
        call().sum().backward()

    return step


def case_sine_sum():
    import sympytorch

    expr, (a, b, c) = sine_sum()
    ours = SymPyModule(expressions=[expr])
    packed = SymPyModule(expressions=[expr], packed=True)
    unbatched = SymPyModule(expressions=[expr])
    unbatched._compile(batch=False)  # ablation: straight-line code, terms written out
    theirs = sympytorch.SymPyModule(expressions=[expr])
    hand = HandWritten(a, b, c)
    out = []
    for n in (100, 10_000):
        X = torch.rand(n) * 4 - 2
        ref = hand(X)
        for got in (ours(x=X)[:, 0], packed(x=X)[:, 0], unbatched(x=X)[:, 0], theirs(x=X)[:, 0]):
            torch.testing.assert_close(got, ref, rtol=1e-4, atol=1e-4)
        fns = {
            "sympile SymPyModule": forward_backward(ours, lambda X=X: ours(x=X)),
            "sympile SymPyModule(packed=True)": forward_backward(packed, lambda X=X: packed(x=X)),
            "sympytorch SymPyModule": forward_backward(theirs, lambda X=X: theirs(x=X)),
            "hand-written torch": forward_backward(hand, lambda X=X: hand(X)),
            "sympile, terms not batched (ablation)": forward_backward(unbatched, lambda X=X: unbatched(x=X)),
        }
        times = interleaved(fns, rounds=5 if QUICK else 15, min_time=0.02 if QUICK else 0.1)
        base = times["sympile SymPyModule"]
        rows = [[name, fmt(t), f"{t / base:.2f}x"] for name, t in times.items()]
        out.append(
            table(
                f"(a) 50-term sum a_i*sin(b_i*x + c_i), 150 trainable floats: forward+backward, {n:,} points, float32",
                ["library", "time", "vs sympile"],
                rows,
            )
        )
    return "\n".join(out)


def big_expression(nodes=5000):
    """A random sum of products of elementary functions with about ``nodes`` tree nodes."""
    fns = [sp.sin, sp.cos, sp.exp, sp.tanh, sp.atan]
    terms, count, i = [], 0, 0
    while count < nodes:
        f = fns[i % len(fns)]
        i += 1
        t = (
            sp.Float(rng.uniform(-1, 1))
            * f(sp.Float(rng.uniform(-1, 1)) * x + sp.Float(rng.uniform(-1, 1)) * y)
            * (z + i)
        )
        count += sum(1 for _ in sp.preorder_traversal(t))
        terms.append(t)
    return sp.Add(*terms), count


def case_build():
    import sympytorch

    expr, count = big_expression()
    rows, mods = [], {}
    for name, make in (
        ("sympile SymPyModule", lambda: SymPyModule(expressions=[expr])),
        ("sympile SymPyModule(packed=True)", lambda: SymPyModule(expressions=[expr], packed=True)),
        ("sympytorch SymPyModule", lambda: sympytorch.SymPyModule(expressions=[expr])),
    ):
        # sympile caches compiled modules by content; a fresh process would not hit the cache
        from sympile._backends import torch as _backend_torch

        _backend_torch._CACHE.clear()
        t, mods[name] = median_once(make, repeat=1 if QUICK else 3)
        rows.append([name, t])
    X, Y, Z = (torch.rand(1000) for _ in range(3))
    calls = {name: forward_backward(m, lambda m=m: m(x=X, y=Y, z=Z)) for name, m in mods.items()}
    times = interleaved(calls, rounds=3 if QUICK else 7, min_time=0.05)
    base_build, base_call = rows[0][1], times["sympile SymPyModule"]
    return table(
        f"(b) a {count:,}-node expression ({expr.count(sp.Float)} floats): build, and forward+backward on 1,000 points",
        ["library", "build", "build vs sympile", "forward+backward", "vs sympile"],
        [
            [name, fmt(t), f"{t / base_build:.2f}x", fmt(times[name]), f"{times[name] / base_call:.2f}x"]
            for name, t in rows
        ],
    )


if __name__ == "__main__":
    threads = torch.get_num_threads()
    print(f"torch {torch.__version__}, {threads} thread; ratios are time over sympile's: above 1x, sympile is faster.")
    print(case_sine_sum(), flush=True)
    print(case_build(), flush=True)
