"""The demo, in its reduced form: it must still rediscover the true system (PyTorch), and run end to end (JAX)."""

import sys

import numpy as np
import pytest
import sympy as sp
from helpers import require


def test_quick_demo_recovers_the_true_system(tmp_path, capsys):
    require("torch")
    require("torchdiffeq")
    require("pyoperon")
    from sympile._discovery.demo import TRUTH, Budget, X, Y, run_demo

    # Every step of the demo, with less training than --quick: enough that it recovers the true
    # system from seed 0 (and 2 and 3, run end to end; seed 1's short fine-tune leaves component
    # errors that make up for each other, which step 5 now quantises together: the test below).
    lean = Budget(ode_steps=300, batch=128, tune_steps=150)
    plot = tmp_path / "demo.png"
    assert run_demo(plot=str(plot), seed=0, verbose=True, budget=lean) == 0
    out = capsys.readouterr().out
    assert "is recovered" in out
    assert plot.exists() and plot.stat().st_size > 1000
    assert TRUTH == [Y / (1 + Y), -X / (1 + X)] and all(isinstance(t, sp.Expr) for t in TRUTH)


def _trajectory_loss(exprs, ts, ys):
    """Mean squared error of the system ``exprs`` against ``ys``: SymPy's lambdify and RK4 (not the demo's solver)."""
    from sympile._discovery.demo import X, Y, integrate

    f = sp.lambdify([X, Y], exprs, modules="numpy")

    def field(state):
        out = f(state[..., 0], state[..., 1])
        return np.stack([np.broadcast_to(v, state[..., 0].shape) for v in out], axis=-1)

    with np.errstate(all="ignore"):
        return float(np.mean((integrate(field, ys[:, 0], ts) - ys) ** 2))


def test_jax_demo_runs_end_to_end_and_fine_tuning_lowers_the_loss():
    for module in ("jax", "equinox", "diffrax", "optax", "pyoperon", "tqdm"):
        require(module)
    from sympile._discovery.demo import Budget, X, Y, rediscover

    # Every step, as little as possible: one training step (one compilation), a small search.
    tiny = Budget(
        trajectories=8,
        times=12,
        ode_steps=1,
        batch=32,
        generations=10,
        population_size=50,
        max_evaluations=2000,
        tune_steps=10,
    )
    r = rediscover(framework="jax", budget=tiny, seed=3, plot=None)
    assert r.framework == "jax" and r.ys.shape == (8, 12, 2) and np.isfinite(r.ode_loss)
    assert len(r.found) == len(r.tuned) == len(r.recovered) == 2
    assert all(e.free_symbols <= {X, Y} for e in r.found + r.tuned)
    assert r.ok == all(sp.simplify(a - b) == 0 for a, b in zip(r.recovered, [Y / (1 + Y), -X / (1 + X)]))
    # the losses the demo reports are those of the expressions it returns (an independent solver) ...
    before, after = _trajectory_loss(r.found, r.ts, r.ys), _trajectory_loss(r.tuned, r.ts, r.ys)
    assert np.isfinite(before) and np.isfinite(after)
    np.testing.assert_allclose([r.tune_loss_before, r.tune_loss_after], [before, after], rtol=1e-3)
    # ... and fine-tuning through the solver did not make them worse
    assert r.tune_loss_after <= r.tune_loss_before and after <= before


def test_demo_names_the_extra_to_install_and_refuses_bad_settings(monkeypatch):
    from sympile import SympileError
    from sympile._core.errors import BackendNotAvailableError
    from sympile._discovery.demo import Budget, rediscover

    monkeypatch.setitem(sys.modules, "diffrax", None)  # `import diffrax` raises ImportError
    with pytest.raises(BackendNotAvailableError, match=r"diffrax.*sympile\[discover-jax\]"):
        rediscover(framework="jax")
    with pytest.raises(SympileError, match="framework must be"):
        rediscover(framework="tensorflow")
    with pytest.raises(SympileError, match="ode_steps must be a positive whole number"):
        Budget(ode_steps=0)
    with pytest.raises(SympileError, match="times must be at least"):
        Budget(times=5)


def _random_factor_ratio(rng, v):
    """(a*v + b)(c*v + d) / ((v + 1)(c'*v + d')) with c', d' within 0.1% of c, d."""
    while True:  # the kept root -b/a well away from the others, so that only one pair cancels
        a, b, c, d = rng.uniform(0.5, 3.0, 4) * rng.choice([-1, 1], 4)
        if min(abs(b / a - 1), abs(b / a - d / c)) > 0.1:
            break
    jitter = 1 + rng.uniform(-1e-3, 1e-3, 2)
    num = sp.expand((sp.Float(a) * v + sp.Float(b)) * (sp.Float(c) * v + sp.Float(d)))
    den = sp.expand((v + 1) * (sp.Float(c * jitter[0]) * v + sp.Float(d * jitter[1])))
    return num / den, (a, b)


def test_near_common_factors_cancel_and_leave_the_rest_exact():
    from sympile._discovery.demo import cancel_near_common_factors

    rng = np.random.default_rng(0)
    v = sp.Symbol("v")
    for _ in range(20):
        expr, (a, b) = _random_factor_ratio(rng, v)
        out = cancel_near_common_factors(expr)
        num, den = sp.fraction(sp.together(out))
        assert sp.degree(num, v) == 1 and sp.degree(den, v) == 1
        t = rng.uniform(2, 4, 5)
        got = sp.lambdify(v, out)(t)
        np.testing.assert_allclose(got, (a * t + b) / (t + 1), rtol=5e-3)


def test_cancel_leaves_distinct_roots_and_other_shapes_alone():
    from sympile._discovery.demo import cancel_near_common_factors

    x, y = sp.symbols("x y")
    distinct = (x + 2.0) / (x + 1.0)
    assert sp.degree(sp.fraction(cancel_near_common_factors(distinct))[0], x) == 1
    for expr in (x * y / (x + 1.5), sp.sin(x) / (x + 1.0), 2.5 * x**2):
        assert cancel_near_common_factors(expr) == expr


def test_recover_rounds_cancels_and_normalises():
    from sympile._discovery.demo import recover

    x = sp.Symbol("x")
    noisy = (-2.8582 * x**2 - 2.3245 * x - 3.2e-5) / (2.8583 * x**2 + 5.1826 * x + 2.3243)
    assert recover(noisy, 0.01) == -x / (x + 1)
    assert recover(1.234 * x / (x + 2.5004), 0.01) == sp.Float(1.23) * x / (x + sp.Float(2.5))
    assert recover(3.0001 * x, 0.01) == 3 * x


def test_step_5_keeps_as_many_digits_as_the_trajectories_need():
    """`snap_system` rounds each constant as coarsely as the trajectories allow: a short
    fine-tune's 1.024*y/(y + 1.019) becomes y/(y + 1) (which fits better), while a true 1.3 keeps
    its digit (1 would fit far worse)."""
    from sympile._discovery.demo import X, Y, integrate, snap_system

    rng = np.random.default_rng(4)
    ts = np.linspace(0.0, 6.0, 25)
    y0 = rng.uniform(-0.5, 1.0, (8, 2))
    for a, want in ((1.0, [Y / (Y + 1), -X / (X + 1)]), (1.3, [sp.Rational(13, 10) * Y / (Y + 1), -X / (X + 1)])):

        def true_field(s, a=a):
            return np.stack([a * s[..., 1] / (1 + s[..., 1]), -s[..., 0] / (1 + s[..., 0])], axis=-1)

        ys = integrate(true_field, y0, ts)
        tuned = [(a + 0.024) * Y / (Y + 1.019), (-1.018 * X + 0.003) / (X + 1.017)]
        got = snap_system(tuned, ts, ys)
        assert all(sp.simplify(g - w) == 0 for g, w in zip(got, want)), got


def test_step_5_quantises_the_whole_system_when_its_components_make_up_for_each_other():
    # What the lean demo's fine-tune left from seed 1 (150 steps): each component alone
    # quantised to the truth fits the trajectories worse than the tuned pair (their errors make
    # up for each other), so one component at a time kept 0.01 steps; both at once give the
    # true system, which fits the data best.
    from sympile._discovery.demo import FULL, T_END, TRUTH, X, Y, make_data, snap_system, trajectory_loss

    ts, ys = make_data(FULL.trajectories, FULL.times, T_END, np.random.default_rng(1))
    tuned = [
        (1.08236597326468 * Y - 0.0108582810763483) / (Y + 1.08490855945448),
        (0.00689653386778686 - 1.03415914303454 * X) / (X + 1.01895166896828),
    ]
    reference = trajectory_loss(tuned, ts, ys)
    alone = [trajectory_loss([TRUTH[0], tuned[1]], ts, ys), trajectory_loss([tuned[0], TRUTH[1]], ts, ys)]
    assert min(alone) > 1.05 * reference  # the trap: neither component alone can be snapped
    assert trajectory_loss(TRUTH, ts, ys) < 1e-12 < reference
    recovered = snap_system(tuned, ts, ys)
    assert all(sp.simplify(r - t) == 0 for r, t in zip(recovered, TRUTH))
