"""Cold start: importing sympile and the first build in a fresh process.

Each measurement runs in its own fresh Python process (one thread), the libraries taking
turns round after round so that the machine's load falls on all alike; the table gives
medians. In each process the expression is built (and differentiated, by ``sympy.diff``)
*before* the clock starts; the clock covers the library's lambdify call and the first call
of the function it returns (on Python floats). The import of each library is timed apart
(after ``import sympy, numpy``, which every contender pays alike).

Byte-code is cached as in an installed package (in a temporary ``PYTHONPYCACHEPREFIX``, filled
by one untimed warm-up round), even where ``PYTHONDONTWRITEBYTECODE`` is set.

Cases:

- ``sin(x) + x**2``: the smallest useful build.
- the gradient of a sum of 30 Gaussian bumps in 3-D, ``sum_k a_k*exp(-|v - c_k|**2/(2*s_k**2))``
  with random (seeded) float constants, three outputs.

    python bench/cold_start.py [--rounds N]
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile

from _common import fmt, table

HERE = os.path.dirname(os.path.abspath(__file__))
ROUNDS = int(sys.argv[sys.argv.index("--rounds") + 1]) if "--rounds" in sys.argv else 7


def _worker(lib: str, case: str) -> None:
    """Runs in the fresh process: builds the expression, then times import, build, first call."""
    import time

    import numpy as np
    import sympy as sp

    x, y, z = sp.symbols("x y z")
    if case == "small":
        args, exprs = [x], sp.sin(x) + x**2
        point = (0.5,)
    else:
        rng = np.random.default_rng(0)
        f = sp.Integer(0)
        for _ in range(30):
            a, cx, cy, cz = (sp.Float(float(v)) for v in rng.uniform(-1, 1, 4))
            s = sp.Float(float(rng.uniform(0.2, 1)))
            f += a * sp.exp(-((x - cx) ** 2 + (y - cy) ** 2 + (z - cz) ** 2) / (2 * s**2))
        args, exprs = [x, y, z], [sp.diff(f, v) for v in (x, y, z)]
        point = (0.1, 0.2, 0.3)

    t0 = time.perf_counter()
    if lib == "sympile":
        import sympile

        build = lambda: sympile.lambdify(args, exprs)
    elif lib == "sympy":
        build = lambda: sp.lambdify(args, exprs, cse=True)
    else:
        import symengine as se

        build = lambda: se.Lambdify(args, exprs, cse=True)
    t1 = time.perf_counter()
    fn = build()
    value = fn(*point)
    t2 = time.perf_counter()
    heavy = [m for m in ("scipy", "torch", "jax", "pandas", "matplotlib", "pytensor") if m in sys.modules]
    print(json.dumps({"import": t1 - t0, "build": t2 - t1, "value": np.ravel(value).tolist(), "heavy": heavy}))


PYCACHE = tempfile.mkdtemp(prefix="sympile-bench-pyc-")


def _run(lib: str, case: str) -> dict:
    env = dict(os.environ, OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1", MKL_NUM_THREADS="1")
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    env["PYTHONPYCACHEPREFIX"] = PYCACHE
    out = subprocess.run(
        [sys.executable, os.path.abspath(__file__), "--worker", lib, case],
        capture_output=True,
        text=True,
        env=env,
        cwd=HERE,
        check=True,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    libs = ["sympile", "sympy"]
    try:
        import symengine  # noqa: F401

        libs.append("symengine")
    except ImportError:
        pass
    labels = {"sympile": "sympile.lambdify", "sympy": "sympy.lambdify(cse=True)", "symengine": "symengine.Lambdify"}
    cases = {"small": "sin(x) + x**2", "bumps": "gradient of 30 Gaussian bumps (3-D)"}
    for case in cases:  # warm-up: fills the byte-code cache
        for lib in libs:
            _run(lib, case)
    rows = []
    for case, title in cases.items():
        runs: dict = {lib: [] for lib in libs}
        for _ in range(ROUNDS):
            for lib in libs:
                runs[lib].append(_run(lib, case))
        ref = [v for v in runs["sympy"][0]["value"]]
        base = statistics.median(r["build"] for r in runs["sympy"])
        for lib in libs:
            build = statistics.median(r["build"] for r in runs[lib])
            imp = statistics.median(r["import"] for r in runs[lib])
            err = max(abs(a - b) for a, b in zip(runs[lib][0]["value"], ref))
            assert err <= 1e-9 * (1 + max(abs(v) for v in ref)), (lib, case, err)
            rows.append(
                [
                    title,
                    labels[lib],
                    fmt(imp) if lib != "sympy" else "(with sympy)",
                    fmt(build),
                    f"{base / build:.1f}x",
                    ", ".join(runs[lib][0]["heavy"]) or "none",
                ]
            )
    header = ["expression", "library", "import", "first build + call", "vs sympy", "heavy imports"]
    print(table(f"Cold start: fresh process, one thread, median of {ROUNDS}", header, rows))


if __name__ == "__main__":
    if "--worker" in sys.argv:
        i = sys.argv.index("--worker")
        _worker(sys.argv[i + 1], sys.argv[i + 2])
    else:
        main()
