"""`save`/`load`: data, not pickles; hostile files fail clearly and run nothing."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest
import sympy as sp
from helpers import require
from hypothesis import given, settings
from random_expressions import expressions

from sympile import load, save
from sympile._modules import io as io_module
from sympile._modules.io import LoadError
from sympile._sympy import parse as parse_module

x = sp.Symbol("x", positive=True)
y = sp.Symbol("y")


@settings(max_examples=60, deadline=None)
@given(expr=expressions())
def test_expressions_round_trip_exactly(expr, tmp_path_factory):
    """What comes back is the expression SymPy builds from the same tree. (An intermediate of
    SymPy's own evaluation can be a tree SymPy would not build, such as ``Mul(-1, Add(im(x), 2))``
    inside ``re(exp(I*x)*(x + 2*I))``; rebuilt, it distributes, as ``load`` does.)"""
    path = tmp_path_factory.mktemp("io") / "e.json"
    save(expr, path)
    rebuilt = sp.sympify(sp.srepr(expr))  # the test's own trusted text, never a file's
    assert load(path) == rebuilt


def test_floats_assumptions_and_odd_names_survive(tmp_path):
    odd = sp.Symbol("x[0] + __import__('os')")
    e = 0.1 * sp.exp(-x) + sp.UnevaluatedExpr(sp.Float(1 / 3)) * y + odd**2 - 1e-300
    save([e, x], tmp_path / "m.json")
    back = load(tmp_path / "m.json")
    assert back == [e, x]
    assert next(s for s in back[0].free_symbols if s.name == "x").is_positive
    text = (tmp_path / "m.json").read_text()
    assert "__import__" in text and "os" in text  # the name is stored as data...
    assert json.loads(text)["expressions"][0].count("import") == 0  # ...never as code


def test_a_saved_file_is_json_not_a_pickle(tmp_path):
    save(x**2, tmp_path / "m.json")
    doc = json.loads((tmp_path / "m.json").read_text())
    assert doc["format"] == "sympile" and doc["kind"] == "expression"


HOSTILE = [
    "__import__('os').system('touch {marker}')",
    "open('{marker}', 'w')",
    "s0.__class__",
    "(lambda: 1)()",
    "exec('1')",
    "s0[0]",
    "unknown_function(s0)",
    "s0 + undefined_name",
]


@pytest.mark.parametrize("text", HOSTILE)
def test_hostile_expressions_are_refused_and_run_nothing(tmp_path, text):
    marker = tmp_path / "pwned"
    doc = {
        "format": "sympile",
        "version": 1,
        "kind": "expression",
        "expressions": [text.format(marker=marker)],
        "symbols": [{"name": "x", "placeholder": "s0", "assumptions": {}}],
    }
    (tmp_path / "m.json").write_text(json.dumps(doc))
    with pytest.raises(LoadError):
        load(tmp_path / "m.json")
    assert not marker.exists()


@pytest.mark.parametrize(
    "content, match",
    [
        ("not json at all", "not valid JSON"),
        ('{"format": "other"}', "not a sympile save"),
        ('{"format": "sympile", "version": 99}', "version 99"),
        ('{"format": "sympile", "version": 1, "kind": "expression"}', "expressions"),
        ('{"format": "sympile", "version": 1, "kind": "expression", "expressions": [3], "symbols": []}', "not text"),
        (
            '{"format": "sympile", "version": 1, "kind": "expression", "expressions": ["x"], '
            '"symbols": [{"name": "x", "placeholder": "s0", "assumptions": {"evil": true}}]}',
            "invalid assumptions",
        ),
        ('{"format": "sympile", "version": 1, "kind": "rocket", "expressions": [], "symbols": []}', "unknown kind"),
        ("[" * 100000, "not valid JSON"),
    ],
)
def test_damaged_files(tmp_path, content, match):
    (tmp_path / "m.json").write_text(content)
    with pytest.raises(LoadError, match=match):
        load(tmp_path / "m.json")


def test_missing_file(tmp_path):
    with pytest.raises(LoadError, match="cannot read"):
        load(tmp_path / "nope.json")


def test_unsaveable_objects(tmp_path):
    with pytest.raises(Exception, match="cannot save"):
        save(object(), tmp_path / "m.json")


def test_torch_module_round_trip(tmp_path):
    torch = require("torch")
    from sympile.torch import SymPyModule

    mod = SymPyModule(expressions=[1.5 * sp.sin(0.5 * y) + 0.25, sp.UnevaluatedExpr(2.0) * y**2], symbols=[y])
    with torch.no_grad():
        for p in mod.parameters():
            p.add_(0.125)
    mod = mod.double()
    save(mod, tmp_path / "m.json")
    back = load(tmp_path / "m.json")
    X = torch.linspace(-1, 1, 7, dtype=torch.float64)[:, None]
    torch.testing.assert_close(back(X), mod(X))
    assert [p.dtype for p in back.parameters()] == [p.dtype for p in mod.parameters()]
    assert sum(p.numel() for p in back.parameters()) == sum(p.numel() for p in mod.parameters())


def test_jax_module_round_trip(tmp_path):
    require("jax")
    require("equinox")
    from sympile.jax import SymbolicModule

    mod = SymbolicModule([1.5 * sp.sin(0.5 * y) + 0.25, y**2])
    save(mod, tmp_path / "m.json")
    back = load(tmp_path / "m.json")
    X = np.linspace(-1, 1, 5)
    for a, b in zip(back(y=X), mod(y=X)):
        np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-6)


def test_jax_module_keeps_its_positional_and_time_symbols(tmp_path):
    """A vector field ``mod(t, X, args)`` saved and loaded is called the same way: the positional
    symbols (one of them unused by the expressions) and the time symbol come back."""
    require("jax")
    require("equinox")
    from sympile.jax import SymbolicModule

    t, u, w, k = sp.symbols("t u w k")
    mod = SymbolicModule([-0.7 * u + 0.1 * sp.sin(t), k * u], symbols=[u, w], time=t)
    save(mod, tmp_path / "m.json")
    back = load(tmp_path / "m.json")
    assert back.program.symbols == (u, w) and back.program.time == t
    X = np.random.default_rng(0).normal(size=(4, 2))
    for a, b in zip(back(0.3, X, {"k": 2.0}), mod(0.3, X, {"k": 2.0})):
        np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-6)


def test_torch_module_keeps_a_positional_symbol_its_expressions_do_not_use(tmp_path):
    torch = require("torch")
    from sympile.torch import SymPyModule

    u, w = sp.symbols("u w")
    mod = SymPyModule(expressions=[2.5 * u], symbols=[u, w])
    save(mod, tmp_path / "m.json")
    back = load(tmp_path / "m.json")
    X = torch.randn(5, 2, generator=torch.Generator().manual_seed(0))
    torch.testing.assert_close(back(X), mod(X))


def test_extra_funcs_must_be_given_again(tmp_path):
    f = sp.Function("f")
    save(f(y) + 1, tmp_path / "m.json")
    with pytest.raises(LoadError, match="the function f is not allowed"):
        load(tmp_path / "m.json")
    assert load(tmp_path / "m.json", extra_funcs={f: np.sin}) == f(y) + 1


def test_writes_are_atomic(tmp_path):
    path = tmp_path / "m.json"
    save(x, path)
    save(y, path)
    assert load(path) == y
    assert [p.name for p in tmp_path.iterdir()] == ["m.json"]
    assert os.path.getsize(path) > 0


def _loads_in_a_fresh_interpreter(path, timeout: float = 120) -> str:
    """The error class that ``load(path)`` raises, run where a hang fails by the timeout."""
    code = (
        "import sys\nfrom sympile import load\ntry:\n    load(sys.argv[1])\n    print('ok')\n"
        "except Exception as e:\n    print(type(e).__name__, e)\n"
    )
    run = subprocess.run([sys.executable, "-c", code, str(path)], capture_output=True, text=True, timeout=timeout)
    assert run.returncode == 0, run.stderr
    return run.stdout.strip()


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no FIFOs here")
def test_a_fifo_is_refused_without_waiting_for_a_writer(tmp_path):
    os.mkfifo(tmp_path / "pipe")
    assert _loads_in_a_fresh_interpreter(tmp_path / "pipe").startswith("LoadError")


@pytest.mark.parametrize("device", ["/dev/zero", "/dev/urandom"])
def test_devices_are_refused_without_reading_them(device):
    if not os.path.exists(device):
        pytest.skip(f"no {device} here")
    out = _loads_in_a_fresh_interpreter(device)
    assert out.startswith("LoadError") and "not a regular file" in out


def test_a_directory_is_refused(tmp_path):
    with pytest.raises(LoadError, match="is a directory"):
        load(tmp_path)


def test_load_takes_a_path():
    with pytest.raises(LoadError, match="takes the path of a file written by sympile.save, got NoneType"):
        load(None)


def test_files_past_the_size_limit_are_refused(tmp_path, monkeypatch):
    save(x + 1, tmp_path / "m.json")
    monkeypatch.setattr(io_module, "MAX_BYTES", os.path.getsize(tmp_path / "m.json") - 1)
    with pytest.raises(LoadError, match="larger than a sympile save may be"):
        load(tmp_path / "m.json")


def test_a_file_of_a_million_expressions_is_refused_at_once(tmp_path):
    doc = {"format": "sympile", "version": 1, "kind": "expressions", "expressions": ["1"] * 1_000_000, "symbols": []}
    (tmp_path / "m.json").write_text(json.dumps(doc))
    out = _loads_in_a_fresh_interpreter(tmp_path / "m.json")
    assert out.startswith("LoadError") and "too many" in out


def test_the_parser_limits_count_a_whole_file(tmp_path, monkeypatch):
    monkeypatch.setattr(parse_module, "MAX_NODES", 8)  # 3 each
    save([x + 1, x + 2, x + 3], tmp_path / "m.json")
    with pytest.raises(LoadError, match="too large"):
        load(tmp_path / "m.json")


def test_huge_exact_arithmetic_in_a_file_is_refused_at_once(tmp_path):
    doc = {"format": "sympile", "version": 1, "kind": "expression", "expressions": ["9**9**9"], "symbols": []}
    (tmp_path / "m.json").write_text(json.dumps(doc))
    out = _loads_in_a_fresh_interpreter(tmp_path / "m.json")
    assert out.startswith("LoadError") and "digits" in out
