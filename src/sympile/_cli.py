"""The ``sympile`` command line."""

from __future__ import annotations

import argparse
import sys


def _demo(args) -> int:
    import numpy as np
    import sympy as sp

    import sympile

    x, y = sp.symbols("x y")
    expr = sp.Piecewise((sp.sqrt(x) * sp.sin(y), x > 0), (sp.exp(x) - 1, True)) + sp.Rational(2, 7) * x * y
    f = sympile.lambdify([x, y], expr)
    print("expression:", expr)
    print("generated code:\n" + f.source.split("\ndef _f(")[0])
    grid = np.linspace(-2, 2, 5)
    print("values on a grid:", f(grid, 0.5))
    print("one point (math fast path):", f(1.5, 0.5))
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="sympile", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("demo", help="run the demo").set_defaults(run=_demo)
    args = parser.parse_args(argv)
    try:
        return args.run(args)
    except KeyboardInterrupt:
        return 130
    except Exception as e:  # a one-line error, never a traceback
        from ._errors import SympileError

        if isinstance(e, SympileError):
            print(f"sympile: error: {e}", file=sys.stderr)
            return 2
        raise
