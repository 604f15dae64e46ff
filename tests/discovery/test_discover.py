"""`sympile.discover`: engines, the Pareto front, PySR's selection rule, refinement."""

import math
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
