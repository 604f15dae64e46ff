"""Cold start: what a fresh process imports for ``import sympile`` and its first builds.

Each check runs in its own fresh interpreter, since an import made by any other test in this
process would hide one made here. Nothing here is timed (``bench/cold_start.py`` times it).
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
import sympy as sp
from helpers import require

from sympile._backends.special_functions import NAMES, LazySpecial
from sympile._core.constants import CONSTANT_VALUES, NAMED_CONSTANTS

HEAVY = ("scipy", "torch", "jax", "pandas", "pyoperon", "matplotlib", "pytensor", "dask", "numba", "sklearn")


def fresh(code: str) -> dict:
    """Run ``code`` in a fresh interpreter; it sets ``out`` (JSON-able), which comes back."""
    script = f"import json, sys\n{code}\nprint(json.dumps(out))\n"
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_import_sympile_imports_no_optional_package():
    out = fresh(f"import sympile\nout = [m for m in {HEAVY!r} if m in sys.modules]")
    assert out == []


def test_an_elementary_build_does_not_import_scipy():
    out = fresh(
        "import numpy as np, sympy as sp, sympile\n"
        "x, y = sp.symbols('x y')\n"
        "e = [sp.sin(x) + x**2, sp.exp(-x * y) / (1 + y**2), sp.sqrt(x**2 + y**2) * sp.atan2(y, x)]\n"
        "f = sympile.lambdify([x, y], e)\n"
        "a, b = f(0.5, 0.25), f(np.linspace(0.1, 1, 5), np.linspace(1, 2, 5))\n"
        "out = dict(heavy=[m for m in sys.modules if m.split('.')[0] in ('scipy', 'torch', 'jax')],\n"
        "           a=[float(v) for v in a], b=[float(v[2]) for v in b])"
    )
    assert out["heavy"] == []
    x, y = sp.symbols("x y")
    for (xv, yv), got in (((0.5, 0.25), out["a"]), ((0.55, 1.5), out["b"])):
        want = [sp.sin(x) + x**2, sp.exp(-x * y) / (1 + y**2), sp.sqrt(x**2 + y**2) * sp.atan2(y, x)]
        for w, g in zip(want, got):
            assert g == pytest.approx(float(w.evalf(30, subs={x: xv, y: yv})), rel=1e-14)


def test_a_special_function_imports_scipy_when_it_is_evaluated():
    require("scipy.special")
    out = fresh(
        "import numpy as np, sympy as sp, sympile\n"
        "x = sp.Symbol('x')\n"
        "f = sympile.lambdify([x], sp.erf(x) + sp.gamma(x))\n"
        "before = 'scipy.special' in sys.modules\n"
        "v = f(np.array([0.5, 1.5, 2.5]))\n"
        "out = dict(before=before, after='scipy.special' in sys.modules, v=[float(t) for t in v])"
    )
    assert out["before"] is False and out["after"] is True
    x = sp.Symbol("x")
    for t, got in zip((0.5, 1.5, 2.5), out["v"]):
        assert got == pytest.approx(float((sp.erf(x) + sp.gamma(x)).evalf(30, subs={x: t})), rel=1e-13)


def test_lazy_special_loads_on_first_lookup_and_then_is_plain_attributes():
    s = LazySpecial()
    assert vars(s) == {}
    assert float(s.erf(0.5)) == pytest.approx(0.5204998778130465, rel=1e-15)
    assert set(vars(s)) == set(NAMES)
    with pytest.raises(AttributeError):
        s.not_a_special_function  # noqa: B018


def test_named_constant_values_are_the_correctly_rounded_floats():
    for obj, name in NAMED_CONSTANTS.items():
        if obj.is_extended_real and obj.is_finite:
            assert CONSTANT_VALUES[name] == float(obj.evalf(30)), name
    assert CONSTANT_VALUES["oo"] == float("inf") and CONSTANT_VALUES["-oo"] == float("-inf")
    assert CONSTANT_VALUES["I"] == 1j


def test_without_scipy_the_special_functions_come_from_mpmath_on_first_lookup():
    out = fresh(
        "sys.modules['scipy'] = None  # as if SciPy were not installed\n"
        "import numpy as np, sympy as sp, sympile\n"
        "x = sp.Symbol('x')\n"
        "v = sympile.lambdify([x], sp.erf(x))(np.array([0.5, 1.5]))\n"
        "out = [float(t) for t in v]"
    )
    x = sp.Symbol("x")
    assert out == [pytest.approx(float(sp.erf(x).evalf(30, subs={x: t})), rel=1e-15) for t in (0.5, 1.5)]
