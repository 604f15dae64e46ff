"""`sympile.ode_system`: right-hand sides and graph-AD Jacobians for ODE solvers.

The models are the example's (examples/ode_systems.py): an n-link pendulum from `KanesMethod`
in mass-matrix form and a stiff mass-action kinetics network. References are independent of
sympile: SymPy's own ``Matrix.jacobian`` and ``evalf``, ``sympy.lambdify``, finite differences
and solutions computed with them.
"""

import importlib.util
import pickle
from pathlib import Path

import numpy as np
import pytest
import sympy as sp
from helpers import require
from scipy.integrate import solve_ivp

import sympile
from sympile import ArgumentError, SympileError, ode_system

_spec = importlib.util.spec_from_file_location("ode_systems", Path(__file__).parents[2] / "examples" / "ode_systems.py")
models = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(models)


@pytest.fixture(scope="module")
def network():
    y, rhs, k = models.kinetics(n_species=20, n_reactions=45, seed=3)
    return y, rhs, k, models.kinetics_rates(45, seed=4)


@pytest.fixture(scope="module")
def chain():
    return models.pendulum(3)


def _at(symbols, values):
    return {s: sp.Float(float(v), 30) for s, v in zip(symbols, values)}


def test_kinetics_rhs_and_jacobian_match_sympy(network):
    y, rhs, k, _ = network
    system = ode_system(None, y, rhs, k, sparse=True)
    reference = rhs.jacobian(y)  # SymPy's, as the reference only
    rng = np.random.default_rng(11)
    for _ in range(3):
        yv, kv = rng.uniform(0.1, 2, len(y)), rng.uniform(0.1, 2, len(k))
        subs = {**_at(y, yv), **_at(k, kv)}
        want_f = np.array(rhs.evalf(30, subs=subs), dtype=float).ravel()
        want_j = np.array(reference.evalf(30, subs=subs), dtype=float)
        np.testing.assert_allclose(system.fun(0.0, yv, kv), want_f, rtol=1e-12, atol=1e-13)
        jac = system.jac(0.0, yv, kv)
        assert jac.format == "csc" and jac.shape == (len(y), len(y))
        np.testing.assert_allclose(jac.toarray(), want_j, rtol=1e-12, atol=1e-13)
    # the pattern is exactly SymPy's structural nonzeros
    pattern = system.jac_sparsity.toarray() != 0
    np.testing.assert_array_equal(pattern, [[e != 0 for e in row] for row in reference.tolist()])
    dense = ode_system(None, y, rhs, k, sparse=False)
    np.testing.assert_allclose(dense.jac(0.0, yv, kv), want_j, rtol=1e-12, atol=1e-13)


@pytest.mark.parametrize("method", ["RK45", "BDF", "Radau"])
def test_kinetics_under_solve_ivp_matches_sympy_lambdify(network, method):
    y, rhs, k, rates = network
    system = ode_system(None, y, rhs, k)
    y0 = np.linspace(0.5, 1.5, len(y))
    f = sp.lambdify([y, k], list(rhs), cse=True)
    j = sp.lambdify([y, k], rhs.jacobian(y), cse=True)
    kwargs = {} if method == "RK45" else {"jac": system.jac}
    ref_kwargs = {} if method == "RK45" else {"jac": lambda t, yv, kv: j(yv, kv)}
    t_end = 0.05 if method == "RK45" else 5.0  # stiff: an explicit method crawls
    ours = solve_ivp(system.fun, (0, t_end), y0, args=(rates,), method=method, rtol=1e-8, atol=1e-10, **kwargs)
    theirs = solve_ivp(
        lambda t, yv, kv: np.array(f(yv, kv)),
        (0, t_end),
        y0,
        args=(rates,),
        method=method,
        rtol=1e-8,
        atol=1e-10,
        **ref_kwargs,
    )
    assert ours.success and theirs.success
    np.testing.assert_allclose(ours.y[:, -1], theirs.y[:, -1], rtol=1e-6, atol=1e-9)


def test_jac_sparsity_serves_finite_difference_jacobians(network):
    y, rhs, k, rates = network
    system = ode_system(None, y, rhs, k)
    y0 = np.linspace(0.5, 1.5, len(y))
    with_jac = solve_ivp(system.fun, (0, 5), y0, args=(rates,), method="BDF", jac=system.jac, rtol=1e-8, atol=1e-10)
    with_pattern = solve_ivp(
        system.fun, (0, 5), y0, args=(rates,), method="BDF", jac_sparsity=system.jac_sparsity, rtol=1e-8, atol=1e-10
    )
    np.testing.assert_allclose(with_jac.y[:, -1], with_pattern.y[:, -1], rtol=1e-5, atol=1e-8)


def test_pendulum_mass_matrix_form(chain):
    t, states, mass, forcing, params = chain
    system = ode_system(t, states, forcing, params, mass=mass)
    assert not system.sparse
    rng = np.random.default_rng(12)
    yv, pv = rng.normal(size=len(states)) * 0.5, np.r_[9.81, rng.uniform(0.5, 2, len(params) - 1)]
    subs = {**_at(states, yv), **_at(params, pv)}
    m = np.array(mass.evalf(30, subs=subs), dtype=float)
    f = np.array(forcing.evalf(30, subs=subs), dtype=float).ravel()
    np.testing.assert_allclose(system.fun(0.0, yv, pv), np.linalg.solve(m, f), rtol=1e-11, atol=1e-12)
    # the Jacobian against central differences of the right-hand side
    eps = 1e-6
    columns = [
        (system.fun(0.0, yv + eps * e, pv) - system.fun(0.0, yv - eps * e, pv)) / (2 * eps) for e in np.eye(len(yv))
    ]
    np.testing.assert_allclose(system.jac(0.0, yv, pv), np.array(columns).T, rtol=1e-6, atol=1e-6)
    # many states at once (SciPy's vectorized=True): columns of y
    Y = rng.normal(size=(len(states), 4)) * 0.5
    out = system.fun(0.0, Y, pv)
    assert out.shape == (len(states), 4)
    for c in range(4):
        np.testing.assert_allclose(out[:, c], system.fun(0.0, Y[:, c], pv), rtol=1e-12, atol=1e-13)


def test_pendulum_under_rk45_matches_sympy_lambdify_and_pydy_hook(chain):
    t, states, mass, forcing, params = chain
    system = ode_system(t, states, forcing, params, mass=mass)
    y0, p = np.r_[0.4, 0.2, -0.1, 0, 0, 0], np.r_[9.81, 1.0, 2.0, 1.5, 1.0, 0.7, 1.2]
    mf = sp.lambdify([states, params], [mass, forcing], cse=True)

    def reference(_, yv, pv):
        m, f = mf(yv, pv)
        return np.linalg.solve(m, f).ravel()

    ours = solve_ivp(system.fun, (0, 2), y0, args=(p,), rtol=1e-9, atol=1e-9)
    theirs = solve_ivp(reference, (0, 2), y0, args=(p,), rtol=1e-9, atol=1e-9)
    np.testing.assert_allclose(ours.y[:, -1], theirs.y[:, -1], rtol=1e-6, atol=1e-7)
    pydy = require("pydy.codegen.ode_function_generators")
    n = len(states) // 2
    rhs = pydy.generate_ode_function(
        forcing, states[:n], states[n:], params, mass_matrix=mass, generator=models.sympile_generator(), time_first=True
    )
    np.testing.assert_allclose(rhs(0.3, ours.y[:, 5], p), system.fun(0.3, ours.y[:, 5], p), rtol=1e-12)


def test_time_and_no_parameters():
    t, u = sp.symbols("t u")
    system = ode_system(t, [u], [sp.cos(t) - u])
    assert system.fun(0.5, np.array([0.25]))[0] == pytest.approx(np.cos(0.5) - 0.25, rel=1e-15)
    sol = solve_ivp(system.fun, (0, 3), [0.0], jac=system.jac, method="Radau", rtol=1e-10, atol=1e-12)
    exact = (np.cos(3) + np.sin(3) - np.exp(-3)) / 2  # u' = cos t - u, u(0) = 0
    assert sol.y[0, -1] == pytest.approx(exact, rel=1e-6)


@pytest.mark.parametrize("backend", ["c", "jax", "torch"])
def test_other_backends_agree(network, backend):
    y, rhs, k, rates = network
    ours = ode_system(None, y, rhs, k, sparse=False)
    other = ode_system(None, y, rhs, k, backend=backend, sparse=False)
    rng = np.random.default_rng(13)
    yv = rng.uniform(0.1, 2, len(y))
    if backend == "jax":
        import jax

        with jax.enable_x64(True):
            f, j = np.asarray(other.fun(0.0, yv, rates)), np.asarray(other.jac(0.0, yv, rates))
    elif backend == "torch":
        import torch

        f, j = (
            other.fun(0.0, torch.tensor(yv), torch.tensor(rates)),
            other.jac(0.0, torch.tensor(yv), torch.tensor(rates)),
        )
        f, j = f.numpy(), j.numpy()
    else:
        f, j = np.asarray(other.fun(0.0, yv, rates)), np.asarray(other.jac(0.0, yv, rates))
    np.testing.assert_allclose(f, ours.fun(0.0, yv, rates), rtol=1e-12, atol=1e-13)
    np.testing.assert_allclose(j, ours.jac(0.0, yv, rates), rtol=1e-12, atol=1e-13)


def test_torchdiffeq_and_jax_take_the_same_signature(chain):
    t, states, mass, forcing, params = chain
    p = np.r_[9.81, 1.0, 2.0, 1.5, 1.0, 0.7, 1.2]
    y0 = np.r_[0.4, 0.2, -0.1, 0, 0, 0]
    ref = solve_ivp(
        ode_system(t, states, forcing, params, mass=mass).fun, (0, 0.5), y0, args=(p,), rtol=1e-10, atol=1e-10
    )
    torch = require("torch")
    torchdiffeq = require("torchdiffeq")
    system = ode_system(t, states, forcing, params, mass=mass, backend="torch")
    pt = torch.tensor(p)
    out = torchdiffeq.odeint(
        lambda tt, yy: system.fun(tt, yy, pt), torch.tensor(y0), torch.tensor([0.0, 0.5]), rtol=1e-10, atol=1e-10
    )
    np.testing.assert_allclose(out[-1].numpy(), ref.y[:, -1], rtol=1e-6, atol=1e-7)
    jax = require("jax")
    system = ode_system(t, states, forcing, params, mass=mass, backend="jax")
    with jax.enable_x64(True):  # never the global flag: it would leak into other tests
        step = jax.jit(system.fun)  # diffrax calls f(t, y, args)
        got = np.asarray(step(0.1, y0, p))
    np.testing.assert_allclose(got, ref_fun(t, states, forcing, params, mass, y0, p), rtol=1e-10)


def ref_fun(t, states, forcing, params, mass, y0, p):
    subs = {**_at(states, y0), **_at(params, p)}
    return np.linalg.solve(
        np.array(mass.evalf(30, subs=subs), dtype=float), np.array(forcing.evalf(30, subs=subs), dtype=float).ravel()
    )


def test_pickles_by_value(network):
    y, rhs, k, rates = network
    system = ode_system(None, y, rhs, k, sparse=True)
    back = pickle.loads(pickle.dumps(system))
    yv = np.linspace(0.2, 1, len(y))
    np.testing.assert_array_equal(back.fun(0.0, yv, rates), system.fun(0.0, yv, rates))
    np.testing.assert_array_equal(back.jac(0.0, yv, rates).toarray(), system.jac(0.0, yv, rates).toarray())


def test_bad_input_is_refused_clearly(network, chain):
    y, rhs, k, _ = network
    u, v, a = sp.symbols("u v a")
    with pytest.raises(ArgumentError, match="one derivative per state"):
        ode_system(None, [u, v], [u])
    with pytest.raises(ArgumentError, match="mass matrix must be 2x2"):
        ode_system(None, [u, v], [u, v], mass=sp.eye(3))
    with pytest.raises(ArgumentError, match="SciPy matrices"):
        ode_system(None, y, rhs, k, backend="jax", sparse=True)
    with pytest.raises(ArgumentError, match="dense"):
        ode_system(None, [u, v], [u, v], mass=sp.eye(2), sparse=True)
    with pytest.raises(SympileError, match="not strings"):
        ode_system(None, [u], "u")
    with pytest.raises(SympileError, match="a"):  # a symbol that is neither time, state nor parameter
        ode_system(None, [u], [a * u])
    with pytest.raises(ArgumentError, match="column"):
        ode_system(None, [u, v], sp.Matrix([[u, v], [v, u]]))
    assert "ODE system of 2 states" in repr(sympile.ode_system(None, [u, v], [v, -u]))
