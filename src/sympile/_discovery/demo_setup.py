"""The demo's set-up, shared by its PyTorch path (`demo`) and its JAX path (`demo_jax`): the
true system, how both frameworks train, and the `Budget` of work each step does."""

from __future__ import annotations

from dataclasses import dataclass

import sympy as sp

from .._core.errors import SympileError

X, Y = sp.symbols("x y")
TRUTH = [Y / (1 + Y), -X / (1 + X)]

#: Both frameworks train the same way: a 2-WIDTH-WIDTH-2 softplus network, Adam with a cosine
#: learning rate from ODE_LR (neural ODE) and TUNE_LR (fine-tuning), a fixed solver step of half
#: the data's spacing, and windows of SHORT_WINDOW times for the first half of training, then
#: LONG_WINDOW.
WIDTH = 64
ODE_LR = 1e-2
TUNE_LR = 5e-3
SHORT_WINDOW, LONG_WINDOW = 6, 12
T_END = 6.0


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

    def __post_init__(self):
        for name, value in vars(self).items():
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise SympileError(f"Budget.{name} must be a positive whole number, got {value!r}")
        if self.times < LONG_WINDOW:
            raise SympileError(f"Budget.times must be at least {LONG_WINDOW} (the longest training window)")


FULL = Budget()
QUICK = Budget(ode_steps=1000, tune_steps=200)


def window(step: int, steps: int) -> int:
    """How many times the neural ODE's training windows span at ``step`` of ``steps``."""
    return SHORT_WINDOW if step < steps // 2 else LONG_WINDOW
