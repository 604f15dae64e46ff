"""The command line: fit, discover, demo, and every error path."""

import os
import subprocess
import sys

import numpy as np
import pytest
import sympy as sp
from helpers import require

from sympile._discovery.cli import main
from sympile._sympy.parse import parse_expr


def _csv(path, columns: dict):
    names = list(columns)
    rows = zip(*columns.values())
    path.write_text(",".join(names) + "\n" + "\n".join(",".join(repr(float(v)) for v in r) for r in rows) + "\n")
    return str(path)


@pytest.fixture
def decay(tmp_path):
    t = np.linspace(0, 4, 60)
    return _csv(tmp_path / "decay.csv", {"t": t, "y": 2.5 * np.exp(-0.7 * t) + 0.3})


def test_fit(decay, capsys):
    args = ["fit", decay, "--expr", "a*exp(-b*t) + c", "--target", "y", "--params", "a,b,c", "--quantise", "0.01"]
    assert main(args) == 0
    out = capsys.readouterr().out
    assert "a = 2.5" in out and "b = 0.7" in out and "quantised (0.01): 0.3 + 2.5*exp(-0.7*t)" in out


def test_fit_floats_by_default(decay, capsys):
    assert main(["fit", decay, "--expr", "1.0*exp(-1.0*t) + 1.0", "--target", "y", "--quantize", "0.01"]) == 0
    assert "0.3 + 2.5*exp(-0.7*t)" in capsys.readouterr().out


def test_discover(tmp_path, capsys):
    require("pyoperon")
    x = np.linspace(0.1, 3, 100)
    path = _csv(tmp_path / "d.csv", {"x": x, "y": x / (1 + x)})
    plot = tmp_path / "front.png"
    assert main(["discover", path, "--target", "y", "--plot", str(plot), "--generations", "200"]) == 0
    out = capsys.readouterr().out
    assert "complexity" in out and "best:" in out
    assert plot.exists() and plot.stat().st_size > 1000


def _run(*args):
    r = subprocess.run([sys.executable, "-m", "sympile", *args], capture_output=True, text=True)
    return r.returncode, r.stdout, r.stderr


@pytest.mark.parametrize(
    "args, message",
    [
        (["fit", "/nonexistent.csv", "--expr", "a*t", "--target", "y"], "no such file"),
        (["fit", "{decay}", "--expr", "a*t", "--target", "nope"], "no column 'nope'"),
        (["fit", "{decay}", "--expr", "a*t +", "--target", "y"], "cannot parse"),
        (["fit", "{decay}", "--expr", "__import__('os').system('ls')", "--target", "y"], "only plain function"),
        (["fit", "{decay}", "--expr", "__import__('os')", "--target", "y"], "__import__ is not allowed"),
        (["fit", "{decay}", "--expr", "a*t.real", "--target", "y"], "Attribute"),
        (["fit", "{decay}", "--expr", "fancy(t)*a", "--target", "y"], "fancy is not allowed"),
        (["fit", "{text}", "--expr", "a*t", "--target", "y"], "not numeric"),
        (["fit", "{decay}", "--expr", "a*t", "--target", "y", "--params", "q"], "do not occur"),
        (["discover", "{decay}", "--target", "nope"], "no column 'nope'"),
        (["fit", "{decay}", "--expr", "(t > 0) + a", "--target", "y"], "cannot add t > 0: it is a condition"),
        (["fit", "{decay}", "--expr", "9**9**9*t", "--target", "y"], "digits"),
        (["fit", "{decay}", "--expr", "a*t + I", "--target", "y", "--params", "a"], "is complex"),
        (
            ["fit", "{decay}", "--expr", "a*t", "--target", "y", "--params", "a", "--p0", "b=2"],
            "--p0 names b, not among",
        ),
        (
            ["fit", "{decay}", "--expr", "a*t", "--target", "y", "--p0", "a=2"],
            "--p0 gives initial values of the --params",
        ),
        (["discover", "{decay}", "--target", "y", "--max-size", "-5"], "--max-size must be a positive whole number"),
        (["discover", "{decay}", "--target", "y", "--generations", "0"], "--generations must be"),
    ],
)
def test_errors_are_one_line(tmp_path, decay, args, message, capsys):
    """In process (`main`, which ``python -m sympile`` runs): an exception that escaped it would
    fail the test as a traceback would; `test_an_error_in_a_process_is_one_line` runs one as a
    process."""
    text = tmp_path / "text.csv"
    text.write_text("t,y\n1,2\nabc,3\n")
    args = [a.format(decay=decay, text=text) for a in args]
    code = main(args)
    err = capsys.readouterr().err
    assert code == 2
    assert message in err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1


def test_an_error_in_a_process_is_one_line(decay):
    code, out, err = _run("fit", decay, "--expr", "__import__('os')", "--target", "y")
    assert code == 2 and "__import__ is not allowed" in err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1


def test_usage_errors_exit_2():
    code, _, err = _run("fit")
    assert code == 2 and "usage" in err


def test_a_byte_order_mark_is_not_part_of_the_first_column(tmp_path, capsys):
    t = np.linspace(0, 4, 40)
    path = tmp_path / "bom.csv"
    path.write_text(
        "t,y\n" + "\n".join(f"{float(a)!r},{2.0 * float(a) + 1.0!r}" for a in t) + "\n", encoding="utf-8-sig"
    )
    assert path.read_bytes().startswith(b"\xef\xbb\xbf")
    assert main(["fit", str(path), "--expr", "a*t + b", "--target", "y", "--params", "a,b"]) == 0
    assert "a = 2" in capsys.readouterr().out


def test_p0_sets_the_named_parameters(decay, capsys):
    args = ["fit", decay, "--expr", "a*exp(-b*t) + c", "--target", "y", "--params", "a,b,c", "--p0", "a=2,b=0.5"]
    assert main(args) == 0
    assert "b = 0.7" in capsys.readouterr().out


@pytest.mark.parametrize("given, written", [("{dir}", "{dir}/front.png"), ("{dir}/plot", "{dir}/plot.png")])
def test_plot_goes_where_it_says(tmp_path, capsys, given, written):
    require("pyoperon")
    require("matplotlib")
    x = np.linspace(0.1, 3, 60)
    path = _csv(tmp_path / "d.csv", {"x": x, "y": 2 * x})
    given, written = given.format(dir=tmp_path), os.path.normpath(written.format(dir=tmp_path))
    assert main(["discover", path, "--target", "y", "--plot", given, "--generations", "50"]) == 0
    assert f"wrote {written}" in capsys.readouterr().out
    assert os.path.getsize(written) > 1000


def test_discover_takes_a_time_limit_and_the_search_alone(tmp_path, capsys):
    rng = np.random.default_rng(3)
    x1, x2 = rng.uniform(1, 5, 150), rng.uniform(1, 5, 150)
    path = _csv(tmp_path / "d.csv", {"x1": x1, "x2": x2, "y": 2.5 * x1 * x2})
    assert main(["discover", path, "--target", "y", "--engine", "none", "--time-limit", "5"]) == 0
    best = capsys.readouterr().out.split("best:")[1].strip()
    assert sp.simplify(parse_expr(best) - sp.Rational(5, 2) * sp.Symbol("x1") * sp.Symbol("x2")) == 0
    assert main(["discover", path, "--target", "y", "--time-limit", "-1"]) != 0
    assert "--time-limit must be a positive number" in capsys.readouterr().err
