"""`sympile.fit`: recovering known constants from noisy synthetic data."""

import warnings

import numpy as np
import pytest
import sympy as sp
from helpers import require
from hypothesis import given, settings
from hypothesis import strategies as st

from sympile import SympileError, fit
from sympile._discovery.fit import FitWarning

a, b, c, d, t, x, y = sp.symbols("a b c d t x y")


MODELS = [
    # (model with named params, true values, variable domains)
    (a * sp.exp(-b * t) + c, {"a": 2.5, "b": 0.7, "c": 0.3}, {"t": (0, 5)}),
    (a * sp.sin(b * t + c), {"a": 1.5, "b": 1.3, "c": 0.4}, {"t": (0, 6)}),
    (a * x / (b + x), {"a": 3.0, "b": 0.5}, {"x": (0.05, 5)}),
    (a * x**2 + b * x * y + c * y + d, {"a": 0.5, "b": -1.2, "c": 2.0, "d": 0.1}, {"x": (-2, 2), "y": (-2, 2)}),
    (a / (1 + sp.exp(-b * (t - c))), {"a": 4.0, "b": 1.5, "c": 2.0}, {"t": (-2, 6)}),
]


def _data(model, truth, domains, n=400, noise=0.01, seed=0):
    rng = np.random.default_rng(seed)
    data = {k: rng.uniform(lo, hi, n) for k, (lo, hi) in domains.items()}
    f = sp.lambdify(sorted(domains), model.subs(truth))
    y_true = f(*[data[k] for k in sorted(domains)])
    data["target"] = y_true + rng.normal(0, noise, n)
    return data


@pytest.mark.parametrize("method", ["lm", "bfgs", "adam"])
@pytest.mark.parametrize("k", range(len(MODELS)))
def test_recovers_known_constants(method, k):
    model, truth, domains = MODELS[k]
    data = _data(model, truth, domains, seed=k)
    rng = np.random.default_rng(k)
    p0 = {n: v * rng.uniform(0.7, 1.3) for n, v in truth.items()}  # a rough first guess
    opts = {"max_iter": 20000, "learning_rate": 0.02} if method == "adam" else {}
    r = fit(model, data, "target", params=list(truth), p0=p0, method=method, **opts)
    tol = 0.05 if method == "adam" else 0.02
    for n, v in truth.items():
        assert r.params[n] == pytest.approx(v, abs=tol * max(1, abs(v))), (n, r)
    assert r.loss < 3 * 0.01**2
    assert r.success
    assert r.history[-1] <= r.history[0]


def test_floats_are_the_parameters_by_default():
    data = _data(*MODELS[0])
    r = fit(1.0 * sp.exp(-1.0 * t) + 1.0, data, "target")
    # preorder: the constant term, the amplitude, the rate (negated)
    assert r.params == pytest.approx([0.3, 2.5, -0.7], abs=0.02)
    assert isinstance(r.expr, sp.Expr) and r.expr.free_symbols == {t}


def test_standard_errors_shrink_with_more_data():
    model, truth, domains = MODELS[0]
    errs = []
    for n in (100, 1600):
        r = fit(model, _data(model, truth, domains, n=n, seed=n), "target", params=list(truth), p0=truth)
        errs.append(r.stderr["a"])
    assert errs[1] < errs[0] / 2  # ~ 1/sqrt(n)


def test_dataframe_and_array_inputs():
    pd = require("pandas")
    data = _data(*MODELS[2])
    r1 = fit(MODELS[2][0], pd.DataFrame(data), "target", params=["a", "b"])
    r2 = fit(MODELS[2][0], np.column_stack([data["x"]]), data["target"], params=["a", "b"])
    assert r1.params == pytest.approx(r2.params, rel=1e-8)


@settings(max_examples=25, deadline=None)
@given(st.floats(0.5, 4), st.floats(0.2, 2))
def test_exponential_decay_property(amplitude, rate):
    tt = np.linspace(0, 4, 80)
    r = fit(a * sp.exp(-b * t), {"t": tt, "y": amplitude * np.exp(-rate * tt)}, "y", params=["a", "b"])
    assert r.params["a"] == pytest.approx(amplitude, rel=1e-6)
    assert r.params["b"] == pytest.approx(rate, rel=1e-6)


def test_non_finite_predictions_are_penalised_not_fatal():
    tt = np.linspace(0.1, 4, 100)
    data = {"t": tt, "y": np.log(tt + 2.0)}
    # log(t - 1) is NaN for t < 1 at the start: the fit must move away, not crash
    r = fit(sp.log(t + a), data, "y", params=["a"], p0={"a": -1.0})
    assert r.params["a"] == pytest.approx(2.0, abs=1e-6)
    assert np.isfinite(r.loss)


def test_non_convergence_is_reported():
    tt = np.linspace(0, 4, 50)
    with pytest.warns(FitWarning, match="did not converge"):
        r = fit(a * sp.exp(-b * t), {"t": tt, "y": 3 * np.exp(-tt)}, "y", params=["a", "b"], method="adam", max_iter=5)
    assert not r.success and "max_iter" in r.message
    with pytest.warns(FitWarning, match="did not converge"):
        r = fit(a * sp.exp(-b * t), {"t": tt, "y": 3 * np.exp(-tt)}, "y", params=["a", "b"], method="bfgs", max_iter=2)
    assert not r.success and "iterations" in r.message


def test_bfgs_at_the_float64_floor_is_converged():
    """SciPy stops with "precision loss" when no step lowers the loss; at a gradient that is
    zero to float64's accuracy that is convergence (with noise, the loss cannot reach 0)."""
    tt = np.linspace(0, 4, 200)
    noisy = 3 * np.exp(-tt) + np.random.default_rng(0).normal(0, 0.01, tt.size)
    for tol in (1e-10, 1e-14):
        r = fit(
            a * sp.exp(-b * t), {"t": tt, "y": noisy}, "y", params=["a", "b"], p0=[2.5, 1.2], method="bfgs", tol=tol
        )
        assert r.success, r.message
        assert r.params["a"] == pytest.approx(3.0, abs=0.02) and r.params["b"] == pytest.approx(1.0, abs=0.02)


def test_bad_input_is_a_clear_error():
    tt = np.linspace(0, 1, 10)
    with pytest.raises(SympileError, match="no column 'z'"):
        fit(a * t, {"t": tt, "y": tt}, "z", params=["a"])
    with pytest.raises(SympileError, match="lacks"):
        fit(a * t + x, {"t": tt, "y": tt}, "y", params=["a"])
    with pytest.raises(SympileError, match="do not occur"):
        fit(a * t, {"t": tt, "y": tt}, "y", params=["q"])
    with pytest.raises(SympileError, match="nothing to fit"):
        fit(sp.sin(t), {"t": tt, "y": tt}, "y")
    with pytest.raises(SympileError, match="not numeric"):
        fit(a * t, {"t": ["a"] * 10, "y": tt}, "y", params=["a"])
    with pytest.raises(SympileError, match="NaN"):
        fit(a * t, {"t": tt, "y": tt * np.nan}, "y", params=["a"])
    with pytest.raises(SympileError, match="unknown method"):
        fit(a * t, {"t": tt, "y": tt}, "y", params=["a"], method="newton")


def test_no_warning_when_converged():
    data = _data(*MODELS[0])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        fit(MODELS[0][0], data, "target", params=["a", "b", "c"])


def test_one_model_fitted_to_many_datasets_is_compiled_once(monkeypatch):
    """Fitting the same expression to several groups lowers and compiles it once per process
    (the model and its Jacobian are reused), and each group still gets its own constants."""
    from sympile._discovery import fit as fit_module

    fit_module._compiled.cache_clear()
    lowered = []
    real_lower = fit_module.lower
    monkeypatch.setattr(fit_module, "lower", lambda *a, **k: lowered.append(1) or real_lower(*a, **k))
    a, b, t = sp.symbols("a b t")
    rng = np.random.default_rng(8)
    times = np.linspace(0, 3, 40)
    for amplitude, rate in rng.uniform(0.5, 2.0, size=(5, 2)):
        r = fit(a * sp.exp(-b * t), {"t": times, "y": amplitude * np.exp(-rate * times)}, "y", params=["a", "b"])
        np.testing.assert_allclose([r.params["a"], r.params["b"]], [amplitude, rate], rtol=1e-8)
    assert len(lowered) == 1
    fit(2.0 * sp.exp(-0.5 * t), {"t": times, "y": np.exp(-times)}, "y")  # another model: compiled anew
    assert len(lowered) == 2
