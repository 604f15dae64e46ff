"""ODE systems from SymPy into SciPy's solvers: an n-link pendulum and a stiff kinetics network.

`sympile.ode_system(t, states, rhs, params)` compiles a right-hand side and its Jacobian (built
on sympile's graph, no ``Matrix.jacobian``) into the ``fun(t, y, p)`` and ``jac(t, y, p)`` that
``scipy.integrate.solve_ivp`` takes with ``args=(p,)``:

- the pendulum comes from ``sympy.physics.mechanics.KanesMethod`` in mass-matrix form
  (``M(y) y' = F(y)``), solved for ``y'`` at each call, and integrated with RK45;
- the kinetics network is mass-action chemistry with rate constants spread over six orders of
  magnitude (stiff), integrated with BDF and its sparse Jacobian (a CSC matrix with a fixed
  pattern, `ODESystem.jac_sparsity`).

It also shows pydy's own route: ``pydy.codegen.ode_function_generators.generate_ode_function``
takes a ``generator=`` class, and a three-line subclass of its lambdify generator makes it
compile through sympile.

    python examples/ode_systems.py

The model builders are used by the tests (tests/functions/test_ode.py) and the workload
benchmark (bench/workloads.py).
"""

from __future__ import annotations

import time

import numpy as np
import sympy as sp
from scipy.integrate import solve_ivp

import sympile


def pendulum(n: int):
    """An n-link planar pendulum of point masses from `KanesMethod`.

    Returns ``(t, states, mass, forcing, params)``: the states are the ``n`` angles then the
    ``n`` angular speeds (``dynamicsymbols``), ``mass`` and ``forcing`` the full mass matrix
    and forcing vector (``M y' = F``), and ``params`` ``[g, m0.., l0..]``.
    """
    from sympy.physics import mechanics as me

    q, u = me.dynamicsymbols(f"q:{n}"), me.dynamicsymbols(f"u:{n}")
    m, l = sp.symbols(f"m:{n}"), sp.symbols(f"l:{n}")
    g, t = sp.symbols("g t")
    frame, origin = me.ReferenceFrame("N"), me.Point("O")
    origin.set_vel(frame, 0)
    joint, particles, loads, kinematics = origin, [], [], []
    for i in range(n):
        link = frame.orientnew(f"A{i}", "Axis", [q[i], frame.z])
        link.set_ang_vel(frame, u[i] * frame.z)
        bob = joint.locatenew(f"P{i}", l[i] * link.x)
        bob.v2pt_theory(joint, frame, link)
        particles.append(me.Particle(f"B{i}", bob, m[i]))
        loads.append((bob, m[i] * g * frame.x))
        kinematics.append(q[i].diff(t) - u[i])
        joint = bob
    kane = me.KanesMethod(frame, q_ind=q, u_ind=u, kd_eqs=kinematics)
    kane.kanes_equations(particles, loads)
    return t, [*q, *u], kane.mass_matrix_full, kane.forcing_full, [g, *m, *l]


def kinetics(n_species: int = 40, n_reactions: int = 100, seed: int = 0):
    """A random mass-action network: reactions of one or two reactants into one or two products.

    Returns ``(states, rhs, params)``: the concentrations, their derivatives (a column
    Matrix) and the rate constants.
    """
    rng = np.random.default_rng(seed)
    y, k = sp.symbols(f"y:{n_species}"), sp.symbols(f"k:{n_reactions}")
    rhs = [sp.Integer(0)] * n_species
    for r in range(n_reactions):
        reactants = rng.choice(n_species, size=rng.integers(1, 3), replace=False)
        products = rng.choice(n_species, size=rng.integers(1, 3), replace=False)
        rate = k[r] * sp.Mul(*[y[i] for i in reactants])
        for i in reactants:
            rhs[i] -= rate
        for i in products:
            rhs[i] += rate
    return list(y), sp.Matrix(rhs), list(k)


def kinetics_rates(n_reactions: int = 100, seed: int = 1) -> np.ndarray:
    """Rate constants from 1e-3 to 1e3: a stiff system."""
    return 10.0 ** np.random.default_rng(seed).uniform(-3, 3, n_reactions)


def sympile_generator():
    """pydy's lambdify generator, compiling through sympile: pass it as ``generator=``."""
    from pydy.codegen.ode_function_generators import LambdifyODEFunctionGenerator

    class SympileODEFunctionGenerator(LambdifyODEFunctionGenerator):
        def _lambdify(self, outputs):
            return sympile.lambdify(self.inputs, outputs)

    return SympileODEFunctionGenerator


def main(n_links: int = 5, t_end: float = 5.0) -> None:
    # the pendulum, in mass-matrix form, under RK45
    t, states, mass, forcing, params = pendulum(n_links)
    system = sympile.ode_system(t, states, forcing, params, mass=mass)
    p = np.r_[9.81, np.ones(n_links), np.ones(n_links)]
    y0 = np.r_[np.full(n_links, 0.3), np.zeros(n_links)]
    start = time.perf_counter()
    sol = solve_ivp(system.fun, (0, t_end), y0, args=(p,), rtol=1e-8, atol=1e-8)
    print(f"{n_links}-link pendulum: {sol.nfev} calls, {time.perf_counter() - start:.2f} s, success {sol.success}")

    # the same through pydy's generator hook
    try:
        from pydy.codegen.ode_function_generators import generate_ode_function
    except ImportError:
        print("pydy is not installed: skipping its generator hook")
    else:
        q, u = states[:n_links], states[n_links:]
        rhs = generate_ode_function(
            forcing, q, u, params, mass_matrix=mass, generator=sympile_generator(), time_first=True
        )
        pydy_sol = solve_ivp(rhs, (0, t_end), y0, args=(p,), rtol=1e-8, atol=1e-8)
        gap = np.abs(pydy_sol.y[:, -1] - sol.y[:, -1]).max()
        print(f"  through pydy's generate_ode_function: max difference {gap:.1e}")

    # stiff kinetics under BDF with the sparse Jacobian
    y, rhs, k = kinetics()
    system = sympile.ode_system(None, y, rhs, k)
    rates = kinetics_rates()
    start = time.perf_counter()
    sol = solve_ivp(system.fun, (0, 10), np.full(len(y), 1.0), args=(rates,), jac=system.jac, method="BDF")
    print(
        f"kinetics, {len(y)} species: {sol.nfev} calls, {sol.njev} Jacobians "
        f"({system.jac_sparsity.nnz} of {len(y) ** 2} entries), {time.perf_counter() - start:.2f} s, "
        f"success {sol.success}"
    )


if __name__ == "__main__":
    main()
