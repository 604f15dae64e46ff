"""Sums over data points: build time and per-call time of gradients and Hessians of models
summed over NumPy data, against jax.jit and the old one-node-per-point form.

Models (parameters w; data X, y or x): the logistic negative log-likelihood (20 features,
200 points), least squares (20 features, 200 points), a Gaussian mixture log-likelihood
(3 components, 500 points of 1-D data). One thread; calls timed interleaved.

    python bench/data_sums.py [--no-expanded]
"""

from __future__ import annotations

import sys

import _common  # noqa: F401  (one thread)
import numpy as np
from _common import interleaved, once

import sympile
import sympile.numpy as snp
from sympile._arrays.derive import derive
from sympile._arrays.numpify import NumpifiedFunction
from sympile._arrays.tracing import trace

rng = np.random.default_rng(0)
X = rng.normal(size=(200, 20))
y = rng.integers(0, 2, 200).astype(float)
x1 = rng.normal(size=500)


def logistic(w):
    z = X @ w
    return snp.sum(snp.log(1 + snp.exp(z)) - y * z)


def least_squares(w):
    return snp.sum((X @ w - y) ** 2)


def mixture(p):
    a, m, s = p[0:3], p[3:6], p[6:9]
    return snp.sum(snp.log(snp.sum(a * snp.exp(-((x1[:, None] - m) ** 2) / (2 * s**2)), axis=1)))


def jax_models():
    import jax
    import jax.numpy as jnp

    jax.config.update("jax_enable_x64", True)
    Xj, yj, xj = jnp.asarray(X), jnp.asarray(y), jnp.asarray(x1)

    def lj(w):
        z = Xj @ w
        return jnp.sum(jnp.log(1 + jnp.exp(z)) - yj * z)

    def sj(w):
        return jnp.sum((Xj @ w - yj) ** 2)

    def mj(p):
        a, m, s = p[0:3], p[3:6], p[6:9]
        return jnp.sum(jnp.log(jnp.sum(a * jnp.exp(-((xj[:, None] - m) ** 2) / (2 * s**2)), axis=1)))

    return jax, {"logistic": lj, "least squares": sj, "mixture": mj}


MODELS = {"logistic": (logistic, 20), "least squares": (least_squares, 20), "mixture": (mixture, 9)}


def point(name, n):
    if name == "mixture":
        return np.array([0.3, 0.3, 0.4, -1.0, 0.0, 1.0, 0.7, 1.0, 1.3])
    return rng.normal(size=n) * 0.1


def main() -> None:
    expanded = "--no-expanded" not in sys.argv
    jax, jm = jax_models()
    rows = []
    for name, (f, n) in MODELS.items():
        w = point(name, n)
        for kind in ("grad", "hessian"):
            t_new, new = once(lambda: getattr(sympile, kind)(f, (n,)))  # noqa: B023
            jf = jax.jit(getattr(jax, kind)(jm[name]))
            t_jax, _ = once(lambda: jf(w).block_until_ready())  # noqa: B023
            fns = {"sympile": lambda: new(w), "jax": lambda: jf(w).block_until_ready()}  # noqa: B023
            ref = np.asarray(jf(w))
            assert np.allclose(new(w), ref, rtol=1e-9, atol=1e-9), (name, kind)
            t_old, size_old = float("nan"), 0
            if expanded:
                t_old, old = once(lambda: NumpifiedFunction(derive(trace(f, [(n,)]), kind).main, "numpy"))  # noqa: B023
                size_old = len(old.graph)
                fns["expanded"] = lambda: old(w)  # noqa: B023
            calls = interleaved(fns, rounds=7, min_time=0.05)
            rows.append((name, kind, len(new.graph), size_old, t_new, t_jax, t_old, calls))
    print(
        "| model | op | nodes | nodes (expanded) | build | jax jit build | build (expanded) "
        "| call | jax call | call (expanded) | call / jax |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for name, kind, size, size_old, t_new, t_jax, t_old, calls in rows:
        old_call = calls.get("expanded", float("nan"))
        print(
            f"| {name} | {kind} | {size} | {size_old or '-'} | {t_new:.3f} s | {t_jax:.3f} s | "
            f"{t_old:.2f} s | {calls['sympile'] * 1e6:.0f} µs | {calls['jax'] * 1e6:.0f} µs | "
            f"{old_call * 1e6:.0f} µs | {calls['sympile'] / calls['jax']:.2f} |"
        )


if __name__ == "__main__":
    main()
