"""The ``sympile`` command line: ``fit``, ``discover`` and ``demo``.

Bad input (a missing file or column, an expression that does not parse or calls a function
outside the allow-list, non-numeric data) gives a one-line error and exit status 2, never a
traceback.
"""

from __future__ import annotations

import argparse
import csv
import os
import sys

import numpy as np

from .._core.errors import SympileError


def read_csv(path: str) -> dict[str, np.ndarray]:
    """The columns of a CSV file with a header row, as float arrays."""
    try:
        with open(path, newline="", encoding="utf-8-sig") as f:  # -sig: a BOM is not part of the first name
            rows = list(csv.reader(f))
    except FileNotFoundError:
        raise SympileError(f"no such file: {path}") from None
    except (OSError, UnicodeDecodeError) as e:
        raise SympileError(f"cannot read {path}: {e}") from None
    rows = [r for r in rows if any(cell.strip() for cell in r)]
    if len(rows) < 2:
        raise SympileError(f"{path} needs a header row and at least one row of data")
    header = [h.strip() for h in rows[0]]
    if len(set(header)) != len(header) or not all(header):
        raise SympileError(f"{path}: the header must name every column once")
    columns: dict[str, list[float]] = {h: [] for h in header}
    for n, row in enumerate(rows[1:], start=2):
        if len(row) != len(header):
            raise SympileError(f"{path}, line {n}: {len(row)} values for {len(header)} columns")
        for h, cell in zip(header, row):
            try:
                columns[h].append(float(cell))
            except ValueError:
                raise SympileError(f"{path}, line {n}: column {h} is not numeric ({cell.strip()!r})") from None
    return {h: np.array(v) for h, v in columns.items()}


def _params(text: str | None) -> list[str] | None:
    if text is None:
        return None
    names = [p.strip() for p in text.split(",") if p.strip()]
    if not names:
        raise SympileError("--params needs at least one name")
    return names


def _p0(text: str | None, params: list[str] | None) -> dict[str, float] | None:
    if text is None:
        return None
    if params is None:
        raise SympileError("--p0 gives initial values of the --params names: name them with --params a,b,...")
    out = {}
    for item in text.split(","):
        name, _, value = item.partition("=")
        try:
            out[name.strip()] = float(value)
        except ValueError:
            raise SympileError(f"--p0 takes name=value pairs, got {item!r}") from None
    unknown = [n for n in out if n not in params]
    if unknown:
        raise SympileError(f"--p0 names {', '.join(unknown)}, not among the parameters ({', '.join(params)})")
    return out


def _cmd_fit(args) -> int:
    import sympy as sp

    from .._sympy.parse import parse_expr
    from .fit import fit
    from .quantise import quantise

    data = read_csv(args.data)
    if args.target not in data:
        raise SympileError(f"{args.data} has no column {args.target!r} (columns: {', '.join(data)})")
    expr = parse_expr(args.expr)
    if not isinstance(expr, sp.Expr):
        raise SympileError(f"the model {expr} is a condition (true or false), not a number to fit")
    if expr.has(sp.I):
        raise SympileError(f"the model {expr} is complex (it has I); sympile fit fits real-valued models")
    params = _params(args.params)
    result = fit(expr, data, args.target, params=params, p0=_p0(args.p0, params), method=args.method)
    print(f"expression: {result.expr}")
    if isinstance(result.params, dict):
        errors = result.stderr or {}
        for name, value in result.params.items():
            err = f" ± {errors[name]:.3g}" if name in errors else ""
            print(f"  {name} = {value:.10g}{err}")
    print(f"mean squared error: {result.loss:.6g}")
    print(f"converged: {'yes' if result.success else 'no'} ({result.message})")
    if args.quantise is not None:
        print(f"quantised ({args.quantise}): {quantise(result.expr, args.quantise)}")
    return 0 if result.success else 1


def _cmd_discover(args) -> int:
    from .discover import discover

    for flag, value in (("--max-size", args.max_size), ("--generations", args.generations)):
        if value < 1:
            raise SympileError(f"{flag} must be a positive whole number, got {value}")
    if args.seed < 0:
        raise SympileError(f"--seed must be zero or positive, got {args.seed}")
    if args.time_limit is not None and not args.time_limit > 0:
        raise SympileError(f"--time-limit must be a positive number of seconds, got {args.time_limit}")
    data = read_csv(args.data)
    if args.target not in data:
        raise SympileError(f"{args.data} has no column {args.target!r} (columns: {', '.join(data)})")
    y = data.pop(args.target)
    if not data:
        raise SympileError(f"{args.data} has no columns besides the target")
    operators = [o.strip() for o in args.operators.split(",") if o.strip()]
    found = discover(
        data,
        y,
        engine=None if args.engine == "none" else args.engine,
        max_size=args.max_size,
        operators=operators,
        seed=args.seed,
        generations=args.generations,
        time_limit=args.time_limit,
        progress=args.progress,
    )
    print(found.table())
    print(f"best: {found.best.expr}")
    if args.plot:
        print(f"wrote {_plot_front(found, args.plot)}")
    return 0


def _plot_path(path: str) -> str:
    """Where a plot asked for at ``path`` goes: into a directory as front.png; a name without
    a suffix gets .png (as matplotlib would add it)."""
    if os.path.isdir(path):
        return os.path.join(path, "front.png")
    return path if os.path.splitext(path)[1] else path + ".png"


def _plot_front(found, path: str) -> str:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        raise SympileError("--plot needs matplotlib: pip install matplotlib") from None
    fig, ax = plt.subplots(figsize=(6, 4))
    c = [m.complexity for m in found.front]
    loss = [max(m.loss, 1e-300) for m in found.front]
    ax.step(c, loss, where="post", marker="o")
    ax.plot([found.best.complexity], [max(found.best.loss, 1e-300)], "r*", markersize=14, label="best")
    ax.set_yscale("log")
    ax.set_xlabel("complexity")
    ax.set_ylabel("mean squared error")
    ax.legend()
    fig.tight_layout()
    path = _plot_path(path)
    try:
        fig.savefig(path)
    except ValueError as e:  # an unknown suffix: matplotlib's own message names the formats
        raise SympileError(f"cannot write the plot to {path}: {e}") from None
    finally:
        plt.close(fig)
    return path


def _cmd_demo(args) -> int:
    from .demo import run_demo

    return run_demo(quick=args.quick, plot=args.plot, seed=args.seed, framework=args.framework)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="sympile", description="SymPy to fast code, trainable models, and back.")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("fit", help="fit the constants of an expression to a CSV file")
    p.add_argument("data", help="a CSV file with a header row")
    p.add_argument("--expr", required=True, help='the model, e.g. "a*exp(-b*t) + c"')
    p.add_argument("--target", required=True, help="the column to fit")
    p.add_argument("--params", help="comma-separated names to fit (default: the expression's numbers)")
    p.add_argument("--p0", help="initial values, e.g. a=1,b=0.5")
    p.add_argument("--method", default="lm", choices=["lm", "bfgs", "adam"])
    p.add_argument("--quantise", "--quantize", type=float, help="also print the result rounded to this step")
    p.set_defaults(run=_cmd_fit)

    p = sub.add_parser("discover", help="find expressions for a column of a CSV file")
    p.add_argument("data", help="a CSV file with a header row")
    p.add_argument("--target", required=True, help="the column to explain")
    p.add_argument(
        "--engine", default="operon", choices=["operon", "gplearn", "pysr", "none"], help="none: sympile's search alone"
    )
    p.add_argument("--max-size", type=int, default=20)
    p.add_argument("--operators", default="add,sub,mul,div")
    p.add_argument("--generations", type=int, default=1000)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--time-limit", type=float, help="seconds of wall time for the whole search")
    p.add_argument("--progress", action="store_true", help="show the stages on stderr as they run")
    p.add_argument("--plot", help="write a plot of loss against complexity to this file (or directory)")
    p.set_defaults(run=_cmd_discover)

    p = sub.add_parser("demo", help="rediscover an ODE from data (needs sympile[discover])")
    p.add_argument("--quick", action="store_true", help="a shorter run (fewer training steps)")
    p.add_argument("--plot", default="sympile-demo.png", help="where to write the plot of the trajectories")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument(
        "--framework",
        default="torch",
        choices=["torch", "jax"],
        help="train and fine-tune with PyTorch + torchdiffeq (default) or JAX + diffrax + Equinox + optax",
    )
    p.set_defaults(run=_cmd_demo)

    args = parser.parse_args(argv)
    try:
        return args.run(args)
    except KeyboardInterrupt:
        return 130
    except SympileError as e:
        print(f"sympile: error: {e}", file=sys.stderr)
        return 2
    except (OSError, MemoryError) as e:
        print(f"sympile: error: {e}", file=sys.stderr)
        return 2
