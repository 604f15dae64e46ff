"""``sympile demo``: rediscover an ODE from its trajectories.

The workflow of the symbolic-regression example that accompanies Kidger's thesis ("On Neural
Differential Equations"), in one library:

1. trajectories of dx/dt = y/(1+y), dy/dt = -x/(1+x) from random initial conditions;
2. a neural ODE (PyTorch + torchdiffeq) fitted to them;
3. each component of the learnt vector field regressed with `sympile.discover` (pyoperon);
4. the best expressions turned into one `sympile.torch.SymPyModule` (positional form), whose
   constants are fine-tuned through the ODE solver against the original trajectories;
5. the constants quantised to 0.01, which gives back the true system.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
import sympy as sp

from .._core.errors import BackendNotAvailableError, SympileError

X, Y = sp.symbols("x y")
TRUTH = [Y / (1 + Y), -X / (1 + X)]


@dataclass(frozen=True)
class Budget:
    """How much work each step of the demo does: the data, then steps 2-4 of the module docstring."""

    trajectories: int = 32
    times: int = 40
    ode_steps: int = 2000
    batch: int = 256
    generations: int = 200
    population_size: int = 500
    max_evaluations: int = 100_000
    tune_steps: int = 300


FULL = Budget()
QUICK = Budget(ode_steps=1000, tune_steps=200)


def _need():
    missing = []
    for package in ("torch", "torchdiffeq", "pyoperon", "tqdm"):
        try:
            __import__(package)
        except ImportError:
            missing.append(package)
    if missing:
        raise BackendNotAvailableError(
            f"the demo needs {', '.join(missing)}: pip install 'sympile[discover]' torch==2.13.0"
        )


def _vector_field(state):
    x, y = state[..., 0], state[..., 1]
    return np.stack([y / (1 + y), -x / (1 + x)], axis=-1)


def integrate(field, y0: np.ndarray, ts: np.ndarray, sub: int = 20) -> np.ndarray:
    """Classic RK4 with ``sub`` steps between consecutive times: states ``(n, time, 2)``."""
    out = np.empty((len(y0), len(ts), 2))
    out[:, 0] = state = y0
    for k in range(1, len(ts)):
        h = (ts[k] - ts[k - 1]) / sub
        for _ in range(sub):
            k1 = field(state)
            k2 = field(state + h / 2 * k1)
            k3 = field(state + h / 2 * k2)
            k4 = field(state + h * k3)
            state = state + h / 6 * (k1 + 2 * k2 + 2 * k3 + k4)
        out[:, k] = state
    return out


def make_data(n_trajectories: int, n_times: int, t_end: float, rng) -> tuple[np.ndarray, np.ndarray]:
    """Trajectories of the true system (RK4 with fine substeps): ``ts`` and ``(n, time, 2)``."""
    ts = np.linspace(0.0, t_end, n_times)
    return ts, integrate(_vector_field, rng.uniform(-0.5, 1.0, (n_trajectories, 2)), ts)


def run_demo(
    *,
    quick: bool = False,
    plot: str | None = "sympile-demo.png",
    seed: int = 0,
    verbose: bool = True,
    budget: Budget | None = None,
    framework: str = "torch",
):
    """Run the demo; returns 0 when the recovered system is the true one (else 1).

    ``budget`` overrides the work of each step (`FULL`, or `QUICK` with ``quick=True``);
    ``framework`` is ``"torch"`` (PyTorch + torchdiffeq) or ``"jax"``.
    """
    if framework not in ("torch", "jax"):
        raise SympileError(f"framework must be 'torch' or 'jax', not {framework!r}")
    if framework == "jax":
        raise BackendNotAvailableError("the JAX demo is not written yet")
    _need()
    import torch
    from torchdiffeq import odeint
    from tqdm.auto import tqdm

    from .._modules.torch_module import SymPyModule
    from .discover import discover

    say = print if verbose else (lambda *a, **k: None)
    started = time.perf_counter()
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    torch.set_num_threads(max(1, torch.get_num_threads()))
    dtype = torch.float64
    budget = budget or (QUICK if quick else FULL)

    n_traj, n_times, t_end = budget.trajectories, budget.times, 6.0
    ts_np, ys_np = make_data(n_traj, n_times, t_end, rng)
    ts = torch.tensor(ts_np, dtype=dtype)
    ys = torch.tensor(ys_np, dtype=dtype)
    say(f"data: {n_traj} trajectories of dx/dt = y/(1+y), dy/dt = -x/(1+x), {n_times} times each")

    # 2. A neural ODE, trained through the solver on short windows of the trajectories (the
    # system is autonomous and the times are evenly spaced, so every window starts at t = 0).
    net = torch.nn.Sequential(
        torch.nn.Linear(2, 64),
        torch.nn.Softplus(),
        torch.nn.Linear(64, 64),
        torch.nn.Softplus(),
        torch.nn.Linear(64, 2),
    ).to(dtype)
    steps = budget.ode_steps
    opt = torch.optim.Adam(net.parameters(), lr=1e-2)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=steps)
    options = {"step_size": float(ts_np[1] - ts_np[0]) / 2}
    batch = budget.batch
    gen = torch.Generator().manual_seed(seed)
    for i in tqdm(range(steps), desc="1/3 neural ODE", disable=not verbose):
        window = 6 if i < steps // 2 else 12  # short windows first, then longer ones
        traj = torch.randint(0, n_traj, (batch,), generator=gen)
        start = torch.randint(0, n_times - window + 1, (batch,), generator=gen)
        index = start[:, None] + torch.arange(window)
        target = ys[traj[:, None], index]
        pred = odeint(lambda t, s: net(s), target[:, 0], ts[:window], method="rk4", options=options)
        loss = torch.mean((pred.transpose(0, 1) - target) ** 2)
        opt.zero_grad()
        loss.backward()
        opt.step()
        sched.step()
    say(f"neural ODE: mean squared error {loss.item():.3g} on windows of {window} times")

    # 3. Symbolic regression on the learnt vector field, at the states the data visits.
    states = ys.reshape(-1, 2)
    with torch.no_grad():
        field = net(states).numpy()
    found = []
    for k in tqdm(range(2), desc="2/3 discover", disable=not verbose):
        d = discover(
            states.numpy(),
            field[:, k],
            variables=["x", "y"],
            max_size=11,
            seed=seed,
            # the target is a network's output: its errors are smooth, and extra complexity
            # can fit them, so take the biggest drop in loss per unit of complexity
            selection="score",
            operators=["add", "sub", "mul", "div"],
            generations=budget.generations,
            population_size=budget.population_size,
            max_evaluations=budget.max_evaluations,
        )
        found.append(d.best.expr)
    say("discovered:", "; ".join(f"d{v}/dt = {e}" for v, e in zip("xy", found)))

    # 4. One module, fine-tuned through the ODE solver against the original trajectories.
    module = SymPyModule(expressions=found, symbols=[X, Y]).to(dtype)
    tune_steps = budget.tune_steps
    opt = torch.optim.Adam(module.parameters(), lr=5e-3)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=tune_steps)
    for _ in tqdm(range(tune_steps), desc="3/3 fine-tune", disable=not verbose):
        pred = odeint(lambda t, s: module(s), ys[:, 0], ts, method="rk4", options=options)
        loss = torch.mean((pred.transpose(0, 1) - ys) ** 2)
        opt.zero_grad()
        loss.backward()
        opt.step()
        sched.step()
    tuned = module.sympy()
    say(f"fine-tuned (mean squared error {loss.item():.3g}):", "; ".join(f"d{v}/dt = {e}" for v, e in zip("xy", tuned)))

    # 5. Cancel the common factors that fine-tuning has made (nearly) exact, quantise, and
    # compare with the truth exactly.
    recovered = [recover(e, 0.01) for e in tuned]
    ok = all(sp.simplify(r - t) == 0 for r, t in zip(recovered, TRUTH))
    say("recovered:", "; ".join(f"d{v}/dt = {e}" for v, e in zip("xy", recovered)))
    say("the true system" + (" is recovered." if ok else " was NOT recovered."))
    if plot:
        _plot(ts_np, ys_np, recovered, plot)
        say(f"wrote {plot}")
    say(f"took {time.perf_counter() - started:.0f} s")
    return 0 if ok else 1


def cancel_near_common_factors(expr: sp.Expr, rtol: float = 1e-2) -> sp.Expr:
    """Cancel the (nearly) common roots of a rational function of one variable.

    Symbolic regression often returns ``p(x)/q(x)`` in which ``p`` and ``q`` share a root only
    approximately (``(2.86x + 2.32)`` above and below): ``sympy.cancel`` cannot see it. Roots of
    numerator and denominator closer than ``rtol`` (relative) are cancelled in pairs and the
    denominator is made monic. Anything other than a univariate rational function with Float
    coefficients is returned unchanged.
    """
    free = sorted(expr.free_symbols, key=str)
    if len(free) != 1:
        return expr
    (v,) = free
    num, den = sp.fraction(sp.together(expr))
    try:
        p, q = sp.Poly(sp.expand(num), v), sp.Poly(sp.expand(den), v)
    except sp.PolynomialError:
        return expr
    if q.degree() < 1 or not all(c.is_number for c in p.all_coeffs() + q.all_coeffs()):
        return expr
    pc = np.array([complex(c) for c in p.all_coeffs()])
    qc = np.array([complex(c) for c in q.all_coeffs()])
    proots, qroots = list(np.roots(pc)), list(np.roots(qc))
    for r in list(proots):
        near = [k for k, s in enumerate(qroots) if abs(r - s) <= rtol * max(1.0, abs(r))]
        if near:
            proots.remove(r)
            qroots.pop(near[0])
    scale = pc[0] / qc[0]
    p_new, q_new = scale * np.atleast_1d(np.poly(proots)), np.atleast_1d(np.poly(qroots))
    if np.abs(p_new.imag).max(initial=0) > 1e-9 or np.abs(q_new.imag).max(initial=0) > 1e-9:
        return expr
    poly = lambda cs: sum(sp.Float(float(c.real)) * v**k for k, c in enumerate(cs[::-1]))  # noqa: E731
    return poly(p_new) / poly(q_new)


def recover(expr: sp.Expr, step: float) -> sp.Expr:
    """The demo's last step: cancel near-common factors, quantise to ``step``, cancel exactly."""
    from .quantise import quantise

    rounded = quantise(cancel_near_common_factors(expr), step)
    num, den = sp.fraction(sp.cancel(sp.nsimplify(rounded, rational=True)))
    if den.free_symbols:  # a monic denominator: 1.23*x/(x + 2.5), not 123*x/(100*x + 250)
        lc = sp.Poly(den, *sorted(den.free_symbols, key=str)).LC()
        num, den = sp.expand(num / lc), sp.expand(den / lc)
    exact = num / den
    if any(not r.is_Integer for r in exact.atoms(sp.Rational)):
        return quantise(exact.evalf(), step)
    return exact


def _plot(ts, ys, recovered, path):
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return
    from .._functions.lambdify import lambdify

    f = lambdify([[X, Y]], recovered)

    def field(state):
        a, b = f([state[..., 0], state[..., 1]])
        return np.stack([np.broadcast_to(a, state[..., 0].shape), np.broadcast_to(b, state[..., 0].shape)], -1)

    sim = integrate(field, ys[:, 0], ts)
    fig, ax = plt.subplots(figsize=(6, 6))
    for i in range(min(len(ys), 12)):
        ax.plot(ys[i, :, 0], ys[i, :, 1], "o", markersize=2, color=f"C{i % 10}")
        ax.plot(sim[i, :, 0], sim[i, :, 1], "-", color=f"C{i % 10}")
    ax.set_xlabel("x")
    ax.set_ylabel("y")
    ax.set_title("data (dots) and the recovered system (lines)")
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
