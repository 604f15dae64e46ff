"""`sympile.discover`: engines, the Pareto front, PySR's selection rule, refinement."""

import json
import math
import subprocess
import sys
import types

import numpy as np
import pytest
import sympy as sp
from helpers import require

from sympile import BackendNotAvailableError, SympileError, discover, quantise
from sympile._discovery.discover import Candidate, complexity, pareto_front, select_best

x, y = sp.symbols("x y")


def test_pareto_front_drops_dominated_candidates():
    cands = [Candidate(3, 1.0, x), Candidate(5, 2.0, y), Candidate(5, 0.5, x + 1), Candidate(7, 0.5, x + y)]
    front = pareto_front(cands)
    assert [(c.complexity, c.loss) for c in front] == [(3, 1.0), (5, 0.5)]


def test_best_follows_pysrs_rule():
    # losses: 1 -> 0.1 (big drop per unit complexity) -> 0.09 -> 0.085 (tiny drops)
    front = [Candidate(1, 1.0, x), Candidate(3, 0.1, x), Candidate(5, 0.09, y), Candidate(9, 0.085, x * y)]
    best = select_best(front)
    # 0.1 is within 1.5x of the minimum 0.085 and has the highest score, -log(0.1)/2
    assert best is front[1]
    assert best.score == pytest.approx(-math.log(0.1) / 2)
    assert front[0].score == 0.0


def test_best_is_never_outside_the_loss_window():
    front = [Candidate(1, 1.0, x), Candidate(2, 0.01, y), Candidate(30, 0.001, x * y)]
    # the jump to 0.01 scores highest, but 0.01 > 1.5 * 0.001: the accurate one wins
    assert select_best(front) is front[2]
    assert select_best(front, "best") is front[2]


def test_score_and_accuracy_selections():
    front = [Candidate(1, 1.0, x), Candidate(2, 0.01, y), Candidate(30, 0.001, x * y)]
    assert select_best(front, "score") is front[1]  # the highest score, whatever its loss
    assert select_best(front, "accuracy") is front[2]
    # a tie in loss goes to the simpler candidate
    assert select_best([Candidate(1, 1.0, x), Candidate(3, 1.0, y)], "accuracy").complexity == 1


def test_unknown_selection_is_refused():
    with pytest.raises(SympileError, match="unknown selection"):
        discover(np.zeros((3, 1)), np.zeros(3), selection="lowest")


def test_complexity_counts_tree_nodes():
    assert complexity(x / (1 + x)) == len(list(sp.preorder_traversal(x / (1 + x))))


def test_operon_recovers_a_rational_function():
    require("pyoperon")
    rng = np.random.default_rng(0)
    X = rng.uniform(0.1, 3, (200, 1))
    found = discover(X, X[:, 0] / (1 + X[:, 0]), variables=["x"], seed=1, generations=100)
    assert sp.simplify(quantise(found.best.expr, 0.01) - x / (1 + x)) == 0
    assert found.engine == "operon" and found.front[0].complexity <= found.best.complexity
    assert "complexity" in found.table()


def test_gplearn_finds_a_polynomial():
    require("gplearn")
    rng = np.random.default_rng(0)
    X = rng.uniform(-1, 1, (200, 2))
    target = X[:, 0] ** 2 + X[:, 1]
    found = discover(X, target, engine="gplearn", generations=10, population_size=300, seed=0)
    assert found.best.loss < 1e-3
    assert found.best.expr.free_symbols <= {sp.Symbol("x0"), sp.Symbol("x1")}


def test_dataframe_and_dict_inputs_name_the_variables():
    require("pyoperon")
    pd = require("pandas")
    rng = np.random.default_rng(0)
    df = pd.DataFrame({"speed": rng.uniform(1, 2, 100), "time": rng.uniform(1, 2, 100)})
    found = discover(df, df.speed * df.time, generations=50)
    assert found.best.expr.free_symbols <= {sp.Symbol("speed"), sp.Symbol("time")}
    assert found.best.loss < 1e-12


def test_a_fitted_pysr_model_is_read_and_refined():
    import pandas as pd

    fake = types.SimpleNamespace(
        equations_=pd.DataFrame(
            {
                "complexity": [1, 5, 7],
                "loss": [0.1, 0.01, 0.001],
                "equation": ["0.5", "x0 / (x0 + 1.1)", "square(x0) * 0.0 + x0 / (x0 + 0.98)"],
            }
        )
    )
    rng = np.random.default_rng(0)
    X = rng.uniform(0.1, 3, (100, 1))
    found = discover(X, X[:, 0] / (1 + X[:, 0]), engine=fake, variables=["x"])
    assert found.engine == "pysr"
    assert sp.simplify(quantise(found.best.expr, 0.01) - x / (x + 1)) == 0  # refined from 1.1 / 0.98


def test_a_missing_engine_names_its_package(monkeypatch):
    import builtins

    real = builtins.__import__

    def fake_import(name, *args, **kwargs):
        if name in ("pyoperon", "pysr"):
            raise ImportError(name)
        return real(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", fake_import)
    with pytest.raises(BackendNotAvailableError, match="pip install pyoperon"):
        discover(np.ones((5, 1)), np.ones(5))
    with pytest.raises(BackendNotAvailableError, match="pip install pysr"):
        discover(np.ones((5, 1)), np.ones(5), engine="pysr")


def test_bad_input():
    with pytest.raises(SympileError, match="rows"):
        discover(np.ones((5, 1)), np.ones(4))
    with pytest.raises(SympileError, match="finite"):
        discover(np.full((5, 1), np.nan), np.ones(5))
    with pytest.raises(SympileError, match="unknown operators"):
        discover(np.ones((5, 1)), np.ones(5), operators=["add", "teleport"])
    with pytest.raises(SympileError, match="unknown engine"):
        discover(np.ones((5, 1)), np.ones(5), engine="oracle")


# -- the law, not an approximation (issue 16) ---------------------------------------------------

x1, x2 = sp.symbols("x1 x2")


def _noisy(truth, rng, level=0.01):
    return truth + rng.normal(0, level * np.sqrt(np.mean(truth * truth)), truth.shape)


def test_a_rational_law_on_clean_data_comes_back_exact():
    rng = np.random.default_rng(11)
    X = rng.uniform(1, 5, (200, 2))
    found = discover(X, 1.5 * X[:, 0] / (1 + X[:, 1]), engine=None, variables=["x1", "x2"])
    assert not found.best.expr.atoms(sp.Float)  # snapped: no fitted constant left
    assert sp.simplify(found.best.expr - sp.Rational(3, 2) * x1 / (1 + x2)) == 0
    assert found.raw.atoms(sp.Float)  # the fit before snapping stays available
    assert float(found.raw.subs({x1: 2.0, x2: 3.0})) == pytest.approx(0.75, rel=1e-9)


def test_a_dust_term_is_dropped():
    # the clean-data case: a candidate carrying a float-dust term and intercept
    rng = np.random.default_rng(12)
    X = rng.uniform(1, 3, (200, 1))
    target = np.exp(-(X[:, 0] ** 2) / 2) / np.sqrt(2 * np.pi)
    fake = types.SimpleNamespace(
        equations_={
            "equation": [
                "0.3989*exp(-0.5*theta**2) + 2.4e-14*exp(-6.41*theta) - 2.4e-18",
                "0.39894*exp(-0.5*theta**2)",
            ]
        }
    )
    found = discover(X, target, engine=fake, variables=["theta"], search=False)
    theta = sp.Symbol("theta")
    assert sp.simplify(found.best.expr - sp.exp(-(theta**2) / 2) / sp.sqrt(2 * sp.pi)) == 0


def test_a_noisy_linear_law_loses_its_spurious_intercept():
    rng = np.random.default_rng(13)
    X = rng.uniform(1, 5, (200, 1))
    y_ = _noisy(2.5 * X[:, 0], rng)
    # pyoperon's linear scaling leaves an intercept; the refit makes it small but not zero
    fake = types.SimpleNamespace(equations_={"equation": ["2.49*x + 0.01", "0.3*x*x"]})
    found = discover(X, y_, engine=fake, variables=["x"], search=False)
    const, _ = found.best.expr.as_independent(x, as_Add=True)
    assert const == 0
    # the slope is the snapped 5/2 or the least-squares slope through the origin
    slope = float(found.best.expr / x)
    through_origin = float(X[:, 0] @ y_ / (X[:, 0] @ X[:, 0]))
    assert slope == 2.5 or slope == pytest.approx(through_origin, rel=1e-8)


def test_polishing_keeps_the_smaller_form():
    # a monic-denominator rewrite turned a*w/c + b (8 nodes) into (a*w + b*c)/c (11 nodes)
    rng = np.random.default_rng(14)
    X = rng.uniform(1, 5, (200, 4))
    target = 1.3 * X[:, 0] * X[:, 1] / X[:, 2] + 0.7 * X[:, 3]
    fake = types.SimpleNamespace(equations_={"equation": ["1.29*a*w/c + 0.71*b"]})
    found = discover(X, target, engine=fake, variables=["a", "w", "c", "b"], search=False, snap=False)
    given = complexity(sp.sympify("1.3*a*w/c + 0.7*b"))
    assert found.best.complexity <= given
    assert found.best.loss < 1e-20


def test_names_the_parser_reads_otherwise_round_trip_through_str():
    rng = np.random.default_rng(15)
    X = rng.uniform(1, 5, (200, 3))
    names = ["lambda", "pi", "gamma"]
    found = discover(X, 2 * X[:, 0] * X[:, 1] + X[:, 2], engine=None, variables=names)
    from sympile._sympy.parse import parse_expr

    back = parse_expr(str(found.best.expr))
    assert back.free_symbols == found.best.expr.free_symbols
    assert sp.simplify(back - found.best.expr) == 0
    assert {str(s) for s in found.best.expr.free_symbols} <= {str(s) for s in found.symbols.values()}
    assert list(found.symbols) == names and sp.pi not in found.best.expr.atoms()
    lam, p, g = (found.symbols[n] for n in names)
    assert sp.simplify(found.best.expr - (2 * lam * p + g)) == 0


@pytest.mark.parametrize(
    "names, message",
    [(["a", "a"], "more than once"), (["a", "b c"], "not an identifier"), (["1x", "b"], "not an identifier")],
)
def test_duplicate_or_invalid_names_are_refused(names, message):
    with pytest.raises(SympileError, match=message):
        discover(np.ones((5, 2)), np.ones(5), variables=names, engine=None)


def test_time_limit_and_runs_are_checked():
    for bad in (0, -1.0, "5", True):
        with pytest.raises(SympileError, match="time_limit"):
            discover(np.ones((5, 1)), np.ones(5), time_limit=bad)
    with pytest.raises(SympileError, match="runs"):
        discover(np.ones((5, 1)), np.ones(5), runs=0)
    for bad in (0, 1.5, True):
        with pytest.raises(SympileError, match="workers"):
            discover(np.ones((5, 1)), np.ones(5), workers=bad)


_COLD_RUN = """
import json, sys, time
import numpy as np
import sympile
cold = "pyoperon" not in sys.modules
X = np.random.default_rng(16).uniform(1, 5, (150, 2))
t = time.perf_counter()
found = sympile.discover(
    X, X[:, 0] / X[:, 1] + X[:, 0], time_limit=LIMIT, progress=True, operators=["add", "mul", "div"]
)
wall = time.perf_counter() - t
print(json.dumps(dict(cold=cold, wall=wall, seconds=found.seconds, stages=found.stages, best=str(found.best.expr))))
"""


def test_the_time_limit_holds_from_a_cold_start_engine_import_included():
    # A fresh process: pyoperon's import (scikit-learn: seconds on a loaded machine) is paid
    # inside the budget, beside the search; the call returned after 2.3x its limit when the
    # import came on top. The slack beyond 10% covers thread hand-offs on a busy machine.
    require("pyoperon")
    limit = 2.0
    done = subprocess.run(
        [sys.executable, "-c", _COLD_RUN.replace("LIMIT", str(limit))], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    run = json.loads(done.stdout.strip().splitlines()[-1])
    assert run["cold"]
    assert run["wall"] <= 1.1 * limit + 0.25, run["stages"]
    # the stages of the calling thread account for the whole call
    own = [v for k, v in run["stages"].items() if not k.startswith("(")]
    assert abs(sum(own) - run["seconds"]) < 0.05 * run["seconds"]  # bookkeeping between stages, on a loaded machine
    assert {"search", "refit"} <= set(run["stages"])
    assert sp.simplify(sp.sympify(run["best"]) - (sp.Symbol("x0") / sp.Symbol("x1") + sp.Symbol("x0"))) == 0
    assert "discover" in done.stderr  # progress


def test_seeded_runs_bounded_by_evaluations_are_reproducible_in_threads_or_in_turn():
    require("pyoperon")
    rng = np.random.default_rng(17)
    X = rng.uniform(-1, 1, (100, 1))
    y_ = np.sin(X[:, 0]) + X[:, 0] ** 2
    options = dict(seed=3, generations=5, population_size=50, max_evaluations=5000, search=False, runs=2)
    options.update(refine=False, simplify=False, snap=False)  # the engines' own candidates, merged
    # two runs at once in threads (twice), and one after the other: the same candidates
    runs = [discover(X, y_, workers=2, **options) for _ in range(2)] + [discover(X, y_, workers=1, **options)]
    assert any("2 operon runs on 2 threads" in k for k in runs[0].stages)
    assert not any("threads" in k for k in runs[2].stages)
    for other in runs[1:]:
        assert other.best.expr == runs[0].best.expr
        assert [c.expr for c in other.front] == [c.expr for c in runs[0].front]


def test_snap_finds_a_multiple_of_pi_in_noisy_data():
    from sympile._discovery import criterion

    rng = np.random.default_rng(18)
    h, w = rng.uniform(1, 5, 200), rng.uniform(1, 5, 200)
    y_ = _noisy(h * w / (2 * np.pi), rng)
    H, W = sp.symbols("h w")
    cols = {"h": h, "w": w}
    floor = criterion.loss_floor(y_, criterion.nearest_neighbour_noise(np.column_stack([h, w]), y_), [])
    raw = float(h * w @ y_ / ((h * w) @ (h * w)))  # the least-squares constant, off by the noise
    snapped, loss = criterion.snap(sp.Float(raw) * H * W, cols, y_, floor)
    assert snapped == H * W / (2 * sp.pi)
    assert loss == pytest.approx(np.mean((h * w / (2 * np.pi) - y_) ** 2), rel=1e-9)
    # and a constant the data pins down elsewhere is kept: 0.2 is 26% away from 1/(2 pi)
    kept, _ = criterion.snap(sp.Float(0.2) * H * W, cols, 0.2 * h * w, floor)
    assert kept == sp.Rational(1, 5) * H * W


def test_a_closed_dask_client_is_refused():
    closed = types.SimpleNamespace(status="closed", submit=None)
    with pytest.raises(SympileError, match="client is not running"):
        discover(np.ones((5, 1)), np.ones(5), client=closed)


def test_a_dask_cluster_gives_the_in_process_answer():
    distributed = require("distributed")
    rng = np.random.default_rng(19)
    X = rng.uniform(1, 5, (150, 2))
    y_ = X[:, 0] / (1 + X[:, 1])
    # the enumeration is deterministic: on the cluster it must find what it finds here
    here = discover(X, y_, variables=["x", "y"], engine=None)
    with distributed.LocalCluster(n_workers=2, processes=True, threads_per_worker=1, dashboard_address=None) as cl:
        with distributed.Client(cl) as client:
            there = discover(X, y_, variables=["x", "y"], engine=None, client=client)
    assert there.best.expr == here.best.expr
    assert sp.simplify(there.best.expr - x / (1 + y)) == 0
    assert there.best.loss == pytest.approx(here.best.loss, rel=1e-12, abs=1e-30)
    with pytest.raises(SympileError, match="client is not running"):
        discover(X, y_, client=client)
