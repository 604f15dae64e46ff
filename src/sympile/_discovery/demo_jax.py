"""Steps 2 and 4 of ``sympile demo --framework jax``: JAX + diffrax + Equinox + optax.

The same training as the PyTorch path (`demo`): a 2-64-64-2 softplus network (``eqx.nn.MLP``)
trained through ``diffrax.diffeqsolve`` on random windows of the trajectories, then the
discovered expressions as one `sympile.jax.SymbolicModule` (positional form, which is also
diffrax's vector-field convention ``f(t, y, args)``) fine-tuned through the solver on the
whole trajectories; Adam with a cosine learning rate (optax) for both. The solver is diffrax's
``Tsit5`` stepping exactly from one data time to the next: 6 evaluations of the field per
interval, where the PyTorch path's RK4 (diffrax has no classic RK4) takes two steps of 4. The
network trains in float32, the fine-tuning runs in float64 (``jax.enable_x64``, scoped to it).
"""

from __future__ import annotations

from collections.abc import Callable

import diffrax
import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import optax

from .demo_setup import ODE_LR, TUNE_LR, WIDTH, Budget, X, Y, window


def _solve(field: Callable, y0: jax.Array, ts: jax.Array) -> jax.Array:
    """States ``(n, time, 2)`` of ``dy/dt = field(t, y, args)`` from ``y0`` ``(n, 2)``, saved at ``ts``.

    Tsit5 stepping exactly from one time of ``ts`` to the next; every step is kept for the
    backward pass (``checkpoints``: the steps are few), so none is recomputed.
    """
    sol = diffrax.diffeqsolve(
        diffrax.ODETerm(field),
        diffrax.Tsit5(),
        t0=ts[0],
        t1=ts[-1],
        dt0=None,
        y0=y0,
        saveat=diffrax.SaveAt(ts=ts),
        stepsize_controller=diffrax.StepTo(ts=ts),
        max_steps=len(ts),
        adjoint=diffrax.RecursiveCheckpointAdjoint(checkpoints=len(ts)),
    )
    return jnp.swapaxes(sol.ys, 0, 1)


def _mse(field: Callable, ts: jax.Array, target: jax.Array) -> jax.Array:
    return jnp.mean((_solve(field, target[:, 0], ts) - target) ** 2)


@eqx.filter_jit
def _train_step(net, opt_state, optimiser, ts, target):
    loss, grads = eqx.filter_value_and_grad(lambda n: _mse(lambda t, y, args: jax.vmap(n)(y), ts, target))(net)
    updates, opt_state = optimiser.update(grads, opt_state, eqx.filter(net, eqx.is_inexact_array))
    return eqx.apply_updates(net, updates), opt_state, loss


@eqx.filter_jit
def _tune_step(module, opt_state, optimiser, ts, ys):
    loss, grads = eqx.filter_value_and_grad(_mse)(module, ts, ys)
    updates, opt_state = optimiser.update(grads, opt_state, eqx.filter(module, eqx.is_inexact_array))
    return eqx.apply_updates(module, updates), opt_state, loss


_apply = eqx.filter_jit(lambda net, states: jax.vmap(net)(states))


def train_neural_ode(ts_np, ys_np, budget: Budget, seed: int, progress) -> tuple[Callable, float]:
    """Step 2: the learnt field (NumPy states ``(..., 2)`` to NumPy) and the loss of the last batch.

    In float32: the network is an intermediate whose own errors are far above float32's, and
    XLA's CPU float64 softplus is several times slower.
    """
    f32 = jnp.float32
    ts = jnp.asarray(ts_np, f32)
    n_traj, n_times = ys_np.shape[:2]
    net = eqx.nn.MLP(2, 2, WIDTH, depth=2, activation=jax.nn.softplus, key=jax.random.PRNGKey(seed), dtype=f32)
    steps = budget.ode_steps
    optimiser = optax.adam(optax.cosine_decay_schedule(ODE_LR, steps))
    opt_state = optimiser.init(eqx.filter(net, eqx.is_inexact_array))
    rng = np.random.default_rng(seed)
    for i in progress(range(steps), "1/3 neural ODE"):
        span = window(i, steps)
        traj = rng.integers(0, n_traj, budget.batch)
        start = rng.integers(0, n_times - span + 1, budget.batch)
        target = jnp.asarray(ys_np[traj[:, None], start[:, None] + np.arange(span)], f32)
        net, opt_state, loss = _train_step(net, opt_state, optimiser, ts[:span], target)
    field = lambda states: np.asarray(_apply(net, jnp.asarray(states, f32)), dtype=np.float64)  # noqa: E731
    return field, float(loss)


def fine_tune(found: list, ts_np, ys_np, budget: Budget, progress) -> tuple[list, float, float]:
    """Step 4: the tuned expressions, and the loss on all trajectories before and after tuning."""
    from .._modules.jax_module import SymbolicModule

    with jax.enable_x64(True):
        ts, ys = jnp.asarray(ts_np), jnp.asarray(ys_np)
        module = SymbolicModule(found, symbols=[X, Y])  # mod(t, y, args) is a diffrax vector field
        optimiser = optax.adam(optax.cosine_decay_schedule(TUNE_LR, budget.tune_steps))
        opt_state = optimiser.init(eqx.filter(module, eqx.is_inexact_array))
        losses = []
        for _ in progress(range(budget.tune_steps), "3/3 fine-tune"):
            module, opt_state, loss = _tune_step(module, opt_state, optimiser, ts, ys)
            losses.append(loss)
        # the tuned module's own loss: one more step's, whose update is dropped (no second compile)
        after = float(_tune_step(module, opt_state, optimiser, ts, ys)[2])
        before = float(losses[0]) if losses else after
        return module.sympy(), before, after
