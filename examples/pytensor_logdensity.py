"""A model's log-density written in SymPy, converted to PyTensor, its gradient checked.

The model: a robust linear regression, y_i ~ StudentT(nu=4, mu + beta * x_i, sigma), with
sigma = exp(s), a normal prior on mu and s, and a Huber prior on beta (quadratic near 0,
linear in the tails: a ``Piecewise``, which becomes ``pt.switch``). The log-density of one
observation is written once in SymPy; `sympile.pytensor.to_pytensor` turns it into a PyTensor
expression over data vectors, as one would inside a PyMC model (``pm.Potential``). The
gradient comes from ``pytensor.grad`` and is checked against central finite differences.

    python examples/pytensor_logdensity.py
"""

from __future__ import annotations

import numpy as np
import pytensor
import pytensor.tensor as pt
import sympy as sp

from sympile.pytensor import to_pytensor

mu, beta, s, x, y = sp.symbols("mu beta s x y", real=True)
NU = 4


def log_likelihood_term():
    """log StudentT(y | nu, mu + beta * x, exp(s)), one observation."""
    sigma = sp.exp(s)
    r = (y - mu - beta * x) / sigma
    return (
        sp.loggamma(sp.Rational(NU + 1, 2))
        - sp.loggamma(sp.Rational(NU, 2))
        - sp.log(sp.sqrt(NU * sp.pi) * sigma)
        - sp.Rational(NU + 1, 2) * sp.log(1 + r**2 / NU)
    )


def log_prior():
    huber = sp.Piecewise((-(beta**2) / 2, sp.Abs(beta) < 1), (sp.Rational(1, 2) - sp.Abs(beta), True))
    return -(mu**2) / 200 - s**2 / 2 + huber


def main(seed: int = 0) -> float:
    """Build the model, compare pytensor.grad with finite differences; returns the largest relative error."""
    rng = np.random.default_rng(seed)
    xs = rng.uniform(-2, 2, 50)
    ys = 0.5 + 1.5 * xs + 0.3 * rng.standard_t(NU, 50)

    theta = pt.dvector("theta")  # (mu, beta, s): what a sampler moves
    data = {x: pt.as_tensor(xs), y: pt.as_tensor(ys)}
    params = {mu: theta[0], beta: theta[1], s: theta[2]}
    logp = to_pytensor(log_likelihood_term(), {**params, **data}).sum() + to_pytensor(log_prior(), params)
    f = pytensor.function([theta], [logp, pytensor.grad(logp, theta)])

    worst = 0.0
    for point in ([0.4, 1.2, -1.0], [0.0, -2.5, 0.3], [1.0, 0.3, -0.5]):
        point = np.array(point)
        value, grad = f(point)
        h = 1e-6
        fd = np.array([(f(point + h * e)[0] - f(point - h * e)[0]) / (2 * h) for e in np.eye(3)])
        error = float(np.max(np.abs(grad - fd) / np.maximum(1.0, np.abs(fd))))
        worst = max(worst, error)
        print(f"theta={point}: log p = {float(value):.6f}, grad = {grad}, finite differences = {fd}")
    print(f"largest relative difference: {worst:.2e}")
    return worst


if __name__ == "__main__":
    assert main() < 1e-6
