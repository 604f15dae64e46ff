"""The command line."""

import subprocess
import sys

from sympile._cli import main


def test_demo_runs(capsys):
    assert main(["demo"]) == 0
    out = capsys.readouterr().out
    assert "generated code" in out and "def _f_numpy" in out


def test_python_dash_m():
    r = subprocess.run([sys.executable, "-m", "sympile", "demo"], capture_output=True, text=True)
    assert r.returncode == 0 and "one point" in r.stdout
    assert "Traceback" not in r.stderr and "Warning" not in r.stderr
