"""sympile's fuzzer, for long campaigns (docs/reliability.md): random expressions on every backend
against mpmath at 50 digits, graph derivatives against `sympy.diff` and finite differences,
hostile parser and loader inputs, malformed calls. The engine is tests/fuzzing/, which
tests/test_fuzz.py runs on a few hundred seeded cases.

    python bench/fuzz.py --cases 10000 --seed 0                  # every class
    python bench/fuzz.py --cases 500 --only value --backends numpy c
    python bench/fuzz.py --cases 10000 --minutes 30              # stop each class early if need be

Prints the table (tried / passed / failed / ill-conditioned / ..., by class and backend) and the
first reproducers of each kind of failure.
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT / "tests"), str(ROOT / "src")]

from fuzzing import campaign, numeric  # noqa: E402


def main(argv=None) -> int:
    p = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--cases", type=int, default=1000, help="expressions for the value class (the others scale)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--only", nargs="+", choices=campaign.CLASSES, help="run only these classes")
    p.add_argument("--backends", nargs="+", default=numeric.BACKENDS, choices=numeric.BACKENDS)
    p.add_argument("--batch", type=int, default=20, help="expressions compiled together")
    p.add_argument("--minutes", type=float, help="time box for the whole campaign")
    p.add_argument("--timeout", type=float, default=10.0, help="seconds a parse or load may take (calls: 3x)")
    p.add_argument("--pytensor-mode", default="FAST_COMPILE", help="PyTensor's compilation mode ('' for its default)")
    p.add_argument("--reproducers", type=int, default=3)
    p.add_argument("--quiet", action="store_true")
    p.add_argument(
        "--memory-gb",
        type=float,
        default=8.0,
        help="cap on the process's data memory (SymPy can build a huge number while drawing an expression)",
    )
    a = p.parse_args(argv)
    if a.memory_gb > 0:  # an allocation past it is a MemoryError, which redraws the expression
        import resource

        cap = int(a.memory_gb * 2**30)
        resource.setrlimit(resource.RLIMIT_DATA, (cap, resource.getrlimit(resource.RLIMIT_DATA)[1]))
    start = time.monotonic()
    deadline = None if a.minutes is None else start + 60 * a.minutes

    def log(msg):
        if not a.quiet:
            print(f"[{time.monotonic() - start:7.1f} s] {msg}", file=sys.stderr, flush=True)

    rec = campaign.run(a.cases, a.seed, a.only, batch=a.batch, backends=a.backends, deadline=deadline,
                       pytensor_mode=a.pytensor_mode or None, timeout=a.timeout, log=log,
                       keep=a.reproducers)  # fmt: skip
    print(f"sympile fuzz: --cases {a.cases} --seed {a.seed}; {time.monotonic() - start:.0f} s")
    print(campaign.summary(rec, a.reproducers))
    return 1 if rec.failures else 0


if __name__ == "__main__":
    sys.exit(main())
