"""The parser at its limits: for each form of text, the largest one `parse_expr` accepts (the
weighted node limit of `sympile._sympy.parse`) and the CPU seconds it takes, and the time to
refuse texts of a megabyte. The issue's bound: every text is accepted or refused within a second.

Each text is parsed in a fresh process (SymPy's caches start empty, as for a user's first
parse); the table gives the median of ``--rounds`` processes, in CPU seconds (``time.process_time``:
the machine's load does not count) and wall seconds.

    python bench/parse_limits.py [--rounds 3] [--forms k*x_k sin(k*x_k)]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))

from sympile._sympy import parse  # noqa: E402

#: name -> the k-th term of a sum.
FORMS = {
    "x_k": lambda k: f"x{k}",
    "x_k*y_k": lambda k: f"x{k}*y{k}",
    "k*x_k": lambda k: f"{k + 2}*x{k}",
    "i*j (integers)": lambda k: f"{(k * 7919 + 13) % 10**6}*{(k * 104729 + 7) % 10**6}",
    "k/(k+1)*x_k": lambda k: f"{k + 2}/{k + 3}*x{k}",
    "k.5*x_k": lambda k: f"{k}.5*x{k}",
    "k*x**k": lambda k: f"{k + 2}*x**{k + 2}",
    "sin(k*x_k)": lambda k: f"sin({k + 2}*x{k})",
    "exp(x_k)/k": lambda k: f"exp(x{k})/{k + 2}",
    "log(k)": lambda k: f"log({k + 2})",
    "k*sqrt(x_k)": lambda k: f"{k + 2}*sqrt(x{k})",
    "Piecewise": lambda k: f"Piecewise(({k}, x{k} > {k}), (0, True))",
}
HUGE = {
    "x+x+... (1 MB)": "+".join(["x"] * (parse.MAX_LENGTH // 2 - 1)),
    "((((...x (1 MB)": "(" * (parse.MAX_LENGTH - 1) + "x",
    "x and 1 MB of spaces": " " * (parse.MAX_LENGTH - 2) + "x",
}


def fits(text: str) -> bool:
    if parse._surely_too_large(text):
        return False
    b = parse._Builder({}, False, parse.FUNCTIONS)
    try:
        pieces = parse._split_sum(text) if len(text) > 5000 else [(1, text)]
        b.nodes += len(pieces) - 1
        for _, piece in pieces:
            b.measure(parse.ast.parse(piece, mode="eval").body)
    except parse.ParseError:
        return False
    return True


def largest(term) -> tuple[int, str]:
    """The most terms of ``term`` whose sum the limits accept (bisection)."""
    lo, hi = 1, parse.MAX_NODES
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if fits(" + ".join(term(k) for k in range(mid))):
            lo = mid
        else:
            hi = mid - 1
    return lo, " + ".join(term(k) for k in range(lo))


CHILD = """
import json, sys, time
sys.path.insert(0, {src!r})
from sympile import parse_expr
text = sys.stdin.read()
c, w = time.process_time(), time.perf_counter()
try:
    parse_expr(text); out = "ok"
except Exception as e:
    out = type(e).__name__
print(json.dumps([time.process_time() - c, time.perf_counter() - w, out]))
"""


def timed(text: str, rounds: int):
    runs = []
    for _ in range(rounds):
        env = {**os.environ, "OMP_NUM_THREADS": "1"}
        p = subprocess.run([sys.executable, "-c", CHILD.format(src=str(ROOT / "src"))], input=text,
                           capture_output=True, text=True, env=env, check=True)  # fmt: skip
        runs.append(json.loads(p.stdout))
    return statistics.median(r[0] for r in runs), statistics.median(r[1] for r in runs), runs[0][2]


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--forms", nargs="+", choices=list(FORMS))
    a = p.parse_args(argv)
    print("| text (a sum of terms) | terms | CPU s | wall s | outcome |\n|---|---:|---:|---:|---|")
    for name in a.forms or FORMS:
        n, text = largest(FORMS[name])
        cpu, wall, out = timed(text, a.rounds)
        print(f"| {name} | {n} | {cpu:.2f} | {wall:.2f} | {out} |", flush=True)
    for name, text in HUGE.items():
        cpu, wall, out = timed(text, a.rounds)
        print(f"| {name} | - | {cpu:.2f} | {wall:.2f} | {out} |", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
