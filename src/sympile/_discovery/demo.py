"""``sympile demo``: rediscover an ODE from its trajectories.

The workflow of the symbolic-regression example that accompanies Kidger's thesis ("On Neural
Differential Equations"), in one library:

1. trajectories of dx/dt = y/(1+y), dy/dt = -x/(1+x) from random initial conditions;
2. a neural ODE fitted to them through the solver;
3. each component of the learnt vector field regressed with `sympile.discover` (pyoperon);
4. the best expressions turned into one module (positional form), whose constants are
   fine-tuned through the ODE solver against the original trajectories;
5. the constants quantised as coarsely as the trajectories allow, which gives back the true system.

Steps 2 and 4 are the framework's: PyTorch + torchdiffeq + `sympile.torch.SymPyModule` here
(``framework="torch"``, the default), or JAX + diffrax + Equinox + optax +
`sympile.jax.SymbolicModule` in `demo_jax` (``framework="jax"``). Everything else (data,
budget, discovery, recovery, plot, report) is this module's, shared by both.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import sympy as sp

from .._core.errors import BackendNotAvailableError, SympileError
from .demo_setup import (  # noqa: F401 -- re-exported: the demo's public names
    FULL,
    LONG_WINDOW,
    ODE_LR,
    QUICK,
    SHORT_WINDOW,
    T_END,
    TRUTH,
    TUNE_LR,
    WIDTH,
    Budget,
    X,
    Y,
    window,
)

# What each framework needs, and the extra that installs it.
_NEEDS = {
    "torch": (("torch", "torchdiffeq", "pyoperon", "tqdm"), "pip install 'sympile[discover]' torch==2.13.0"),
    "jax": (("jax", "equinox", "diffrax", "optax", "pyoperon", "tqdm"), "pip install 'sympile[discover-jax]'"),
}


@dataclass
class DemoResult:
    """What `rediscover` found: each step's output, its losses and its wall time in seconds."""

    framework: str
    ts: np.ndarray  # step 1: the times
    ys: np.ndarray  # and the trajectories, (trajectory, time, 2)
    found: list  # step 3: the discovered expressions, dx/dt then dy/dt
    tuned: list  # step 4: the same after fine-tuning
    recovered: list  # step 5: quantised and cancelled
    ok: bool  # the recovered system is exactly the true one
    ode_loss: float  # the neural ODE's mean squared error on its last batch of windows
    tune_loss_before: float  # mean squared error of `found` through the solver on all trajectories
    tune_loss_after: float  # the same for `tuned`
    seconds: dict = field(default_factory=dict)


def _need(framework: str):
    packages, install = _NEEDS[framework]
    missing = []
    for package in packages:
        try:
            __import__(package)
        except ImportError:
            missing.append(package)
    if missing:
        raise BackendNotAvailableError(f"the demo with framework={framework!r} needs {', '.join(missing)}: {install}")


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
    ``framework`` is ``"torch"`` (PyTorch + torchdiffeq) or ``"jax"`` (JAX + diffrax +
    Equinox + optax).
    """
    result = rediscover(quick=quick, plot=plot, seed=seed, verbose=verbose, budget=budget, framework=framework)
    return 0 if result.ok else 1


def rediscover(
    *,
    quick: bool = False,
    plot: str | None = None,
    seed: int = 0,
    verbose: bool = False,
    budget: Budget | None = None,
    framework: str = "torch",
) -> DemoResult:
    """The demo's pipeline (arguments as `run_demo`), returning what each step produced."""
    if framework not in _NEEDS:
        raise SympileError(f"framework must be 'torch' or 'jax', not {framework!r}")
    _need(framework)
    from tqdm.auto import tqdm

    if framework == "torch":
        train, tune = _torch_train, _torch_tune
    else:
        from .demo_jax import fine_tune as tune
        from .demo_jax import train_neural_ode as train

    say = print if verbose else (lambda *a, **k: None)
    progress = lambda items, desc: tqdm(items, desc=desc, disable=not verbose)  # noqa: E731
    started = clock = time.perf_counter()
    seconds = {}

    def lap(name):
        nonlocal clock
        now = time.perf_counter()
        seconds[name], clock = now - clock, now

    rng = np.random.default_rng(seed)
    budget = budget or (QUICK if quick else FULL)
    ts, ys = make_data(budget.trajectories, budget.times, T_END, rng)
    say(
        f"data: {budget.trajectories} trajectories of dx/dt = y/(1+y), dy/dt = -x/(1+x), "
        f"{budget.times} times each; training with {framework}"
    )

    # 2. A neural ODE, trained through the solver on short windows of the trajectories (the
    # system is autonomous and the times are evenly spaced, so every window starts at t = 0).
    field, ode_loss = train(ts, ys, budget, seed, progress)
    last = window(budget.ode_steps - 1, budget.ode_steps)
    say(f"neural ODE: mean squared error {ode_loss:.3g} on windows of {last} times")
    lap("neural ODE")

    # 3. Symbolic regression on the learnt vector field, at the states the data visits.
    states = ys.reshape(-1, 2)
    found = _discover(states, field(states), budget, seed, progress)
    say("discovered:", _show(found))
    lap("discover")

    # 4. One module, fine-tuned through the ODE solver against the original trajectories, from
    # the found expressions with monic denominators (one constant fewer, better conditioned).
    tuned, before, after = tune([monic(e) for e in found], ts, ys, budget, progress)
    say(f"fine-tuned (mean squared error {before:.3g} -> {after:.3g}):", _show(tuned))
    lap("fine-tune")

    # 5. Cancel the common factors that fine-tuning has made (nearly) exact, quantise each
    # constant as coarsely as the trajectories allow, and compare with the truth exactly.
    recovered = snap_system(tuned, ts, ys)
    ok = all(sp.simplify(r - t) == 0 for r, t in zip(recovered, TRUTH))
    say("recovered:", _show(recovered))
    say("the true system" + (" is recovered." if ok else " was NOT recovered."))
    if plot:
        _plot(ts, ys, recovered, plot)
        say(f"wrote {plot}")
    total = time.perf_counter() - started
    say(f"took {total:.0f} s (" + ", ".join(f"{k} {v:.0f} s" for k, v in seconds.items()) + ")")
    seconds["total"] = total
    return DemoResult(framework, ts, ys, found, tuned, recovered, ok, ode_loss, before, after, seconds)


def _show(exprs) -> str:
    return "; ".join(f"d{v}/dt = {e}" for v, e in zip("xy", exprs))


def _discover(states: np.ndarray, field: np.ndarray, budget: Budget, seed: int, progress) -> list:
    """Step 3: the best expression for each component of the learnt field."""
    from .discover import discover

    found = []
    for k in progress(range(2), "2/3 discover"):
        d = discover(
            states,
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
        # as fitted: `discover` may snap constants to exact values, but here fine-tuning moves
        # them first, and step 5 quantises them
        found.append(d.raw)
    return found


def _torch_train(ts_np, ys_np, budget: Budget, seed: int, progress) -> tuple[Callable, float]:
    """Step 2 in PyTorch + torchdiffeq: the learnt field (NumPy states to NumPy) and the last loss."""
    import torch
    from torchdiffeq import odeint

    torch.manual_seed(seed)
    torch.set_num_threads(max(1, torch.get_num_threads()))
    dtype = torch.float64
    ts = torch.tensor(ts_np, dtype=dtype)
    ys = torch.tensor(ys_np, dtype=dtype)
    n_traj, n_times = ys.shape[:2]
    net = torch.nn.Sequential(
        torch.nn.Linear(2, WIDTH),
        torch.nn.Softplus(),
        torch.nn.Linear(WIDTH, WIDTH),
        torch.nn.Softplus(),
        torch.nn.Linear(WIDTH, 2),
    ).to(dtype)
    steps = budget.ode_steps
    opt = torch.optim.Adam(net.parameters(), lr=ODE_LR)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=steps)
    options = {"step_size": float(ts_np[1] - ts_np[0]) / 2}
    batch = budget.batch
    gen = torch.Generator().manual_seed(seed)
    for i in progress(range(steps), "1/3 neural ODE"):
        span = window(i, steps)
        traj = torch.randint(0, n_traj, (batch,), generator=gen)
        start = torch.randint(0, n_times - span + 1, (batch,), generator=gen)
        index = start[:, None] + torch.arange(span)
        target = ys[traj[:, None], index]
        pred = odeint(lambda t, s: net(s), target[:, 0], ts[:span], method="rk4", options=options)
        loss = torch.mean((pred.transpose(0, 1) - target) ** 2)
        opt.zero_grad()
        loss.backward()
        opt.step()
        sched.step()

    def field(states):
        with torch.no_grad():
            return net(torch.tensor(states, dtype=dtype)).numpy()

    return field, loss.item()


def _torch_tune(found, ts_np, ys_np, budget: Budget, progress) -> tuple[list, float, float]:
    """Step 4 in PyTorch: the tuned expressions, and the loss before and after tuning."""
    import torch
    from torchdiffeq import odeint

    from .._modules.torch_module import SymPyModule

    dtype = torch.float64
    ts = torch.tensor(ts_np, dtype=dtype)
    ys = torch.tensor(ys_np, dtype=dtype)
    options = {"step_size": float(ts_np[1] - ts_np[0]) / 2}
    module = SymPyModule(expressions=found, symbols=[X, Y]).to(dtype)

    def loss_fn():
        pred = odeint(lambda t, s: module(s), ys[:, 0], ts, method="rk4", options=options)
        return torch.mean((pred.transpose(0, 1) - ys) ** 2)

    tune_steps = budget.tune_steps
    opt = torch.optim.Adam(module.parameters(), lr=TUNE_LR)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=tune_steps)
    with torch.no_grad():
        before = loss_fn().item()
    for _ in progress(range(tune_steps), "3/3 fine-tune"):
        loss = loss_fn()
        opt.zero_grad()
        loss.backward()
        opt.step()
        sched.step()
    with torch.no_grad():
        after = loss_fn().item()
    return module.sympy(), before, after


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


def monic(expr: sp.Expr) -> sp.Expr:
    """``expr`` as one fraction whose denominator's leading coefficient is an exact 1.

    ``1.13 + 2.21/(-1.70*y - 1.92)`` becomes ``(1.13*y - 0.0319)/(y + 1.12)``: the same function
    with one constant fewer. Anything that is not a ratio of polynomials is returned unchanged.
    """
    num, den = sp.fraction(sp.together(expr))
    gens = sorted(den.free_symbols, key=str)
    if not gens:
        return expr
    try:
        p, q = sp.Poly(sp.expand(num), *gens), sp.Poly(sp.expand(den), *gens)
    except sp.PolynomialError:
        return expr
    lc = q.LC()
    if not (lc.is_number and lc != 0):
        return expr
    (lead, _), *rest = q.terms()
    den = sp.Mul(*[g**k for g, k in zip(gens, lead)]) + sum(
        c / lc * sp.Mul(*[g**k for g, k in zip(gens, m)]) for m, c in rest
    )
    return sp.expand(p.as_expr() / lc) / den


#: The quantisation steps step 5 tries, coarsest first.
STEPS = (1.0, 0.1, 0.01, 0.001)
#: How much worse than the fine-tuned system's a quantised system may fit the trajectories.
SNAP_TOLERANCE = 0.05


def snap_system(tuned: list, ts: np.ndarray, ys: np.ndarray) -> list:
    """Step 5: the system `recover`-ed at the coarsest of `STEPS` whose system fits the
    trajectories no worse (within `SNAP_TOLERANCE`, relative) than the fine-tuned one, all
    components at once, then each component alone at a coarser step where that still fits; the
    data decide how many digits a constant keeps (a finer step where none is good enough: 0.01).

    A fine-tuned ``1.024*y/(y + 1.019)`` from a short run is ``1.02*y/(y + 1.02)`` at 0.01, but
    ``y/(y + 1)`` at 0.1 fits the trajectories better than the tuned constants do.
    """
    reference = trajectory_loss(tuned, ts, ys)
    allowed = reference * (1 + SNAP_TOLERANCE) + 1e-300
    system, steps = list(tuned), STEPS
    # The whole system at once first: a short fine-tune leaves errors in the components that
    # make up for each other along the trajectories (seed 1's (1.082*y - 0.011)/(y + 1.085)
    # beside (0.007 - 1.034*x)/(x + 1.019)), so that quantising one component alone fits worse
    # than the tuned pair, while quantising both gives the true system.
    for step in STEPS:
        trial = [recover(expr, step) for expr in tuned]
        if trajectory_loss(trial, ts, ys) <= allowed:
            system, steps = trial, STEPS[: STEPS.index(step)]
            break
    # then each component alone, coarser where the trajectories allow
    for k, expr in enumerate(tuned):
        for step in steps:
            trial = [*system[:k], recover(expr, step), *system[k + 1 :]]
            if trajectory_loss(trial, ts, ys) <= allowed:
                system = trial
                break
        else:
            if steps is STEPS:  # none was good enough, alone or together
                system[k] = recover(expr, 0.01)
    return system


def trajectory_loss(exprs: list, ts: np.ndarray, ys: np.ndarray) -> float:
    """Mean squared error of the system ``exprs`` (in x and y) integrated from the data's
    initial states against the data (inf where it leaves the reals)."""
    with np.errstate(all="ignore"):
        loss = float(np.mean((integrate(field_of(exprs), ys[:, 0], ts) - ys) ** 2))
    return loss if np.isfinite(loss) else np.inf


def field_of(exprs: list) -> Callable:
    """The system ``exprs`` (in x and y) compiled as a vector field of states ``(..., 2)``."""
    from .._functions.lambdify import lambdify

    f = lambdify([[X, Y]], list(exprs))

    def field(state):
        a, b = f([state[..., 0], state[..., 1]])
        return np.stack([np.broadcast_to(a, state[..., 0].shape), np.broadcast_to(b, state[..., 0].shape)], -1)

    return field


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
    sim = integrate(field_of(recovered), ys[:, 0], ts)
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
