"""Symbolic computing for ML: a least-squares fit with a generated gradient and Hessian.

The loss is written once, NumPy-style, over symbolic arrays; sympile generates the
gradient and the Hessian on its graph (no hand derivation) and SciPy's trust-region
Newton method uses them. The answer is checked against the closed-form solution.

    python examples/least_squares.py
"""

from __future__ import annotations

import numpy as np
from scipy.optimize import minimize

import sympile
import sympile.numpy as snp


def main(seed: int = 0, n: int = 200, d: int = 4):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, d))
    true_w = rng.normal(size=d)
    y = X @ true_w + 0.1 * rng.normal(size=n)

    def loss(w):
        """Mean squared error of a linear model, with a small ridge term."""
        residual = X @ w - y
        return 0.5 * snp.sum(residual**2) / n + 0.5e-3 * (w @ w)

    value = sympile.numpify_func(loss, d)  # generated code for the loss...
    gradient = sympile.grad(value)  # ...its gradient, by reverse mode on the graph...
    hess = sympile.hessian(value)  # ...and its Hessian, forward over reverse

    result = minimize(value, np.zeros(d), jac=gradient, hess=hess, method="trust-exact")
    closed_form = np.linalg.solve(X.T @ X / n + 1e-3 * np.eye(d), X.T @ y / n)
    return result, closed_form


if __name__ == "__main__":
    result, closed_form = main()
    print(result.message, f"after {result.nit} iterations")
    print("trust-exact:", result.x)
    print("closed form:", closed_form)
    print("max difference:", np.max(np.abs(result.x - closed_form)))
