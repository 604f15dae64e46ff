"""What the fuzzer feeds sympile, drawn from a seeded `random.Random`: expressions over the op table
(the functions of tests/random_expressions.py, plus raw ones with domain errors, poles and
overflow), points from ordinary to extreme, hostile parser texts and files, malformed call inputs."""

from __future__ import annotations

import contextlib
import json
import math
import random
import signal
import threading

import sympy as sp
from random_expressions import BINARY, SYMBOLS, UNARY

#: Functions whose float64 value can be NaN (domain errors), infinite (poles) or overflow.
RAW_UNARY = [
    sp.log,
    sp.sqrt,
    sp.asin,
    sp.acos,
    sp.acosh,
    sp.atanh,
    sp.tan,
    sp.cot,
    sp.coth,
    sp.sec,
    sp.gamma,
    sp.cosh,
    sp.erfinv,
    sp.LambertW,
    sp.cbrt,
    lambda u: 1 / u,
    lambda u: u**-2,
    lambda u: sp.exp(u**2),
    lambda u: sp.log(u, 10),
    lambda u: sp.exp(sp.exp(u)),
]
RAW_BINARY = [
    lambda u, v: u**v,
    lambda u, v: u / v,
    lambda u, v: sp.log(u) * v,
    lambda u, v: sp.Mod(u, v),
    lambda u, v: sp.atan2(u, v),
    lambda u, v: sp.Max(u, v) / sp.Min(u, v),
    lambda u, v: sp.exp(u) * v,
]
LEAVES = [*SYMBOLS, *SYMBOLS, sp.Integer(2), sp.Integer(-3), sp.Integer(0), sp.Rational(1, 3), sp.Rational(-7, 2),
          sp.Float(0.75), sp.Float(1e-8), sp.Float(-2.5e5), sp.pi, sp.E, sp.GoldenRatio]  # fmt: skip
SPECIAL = [0.0, -0.0, 1.0, -1.0, 0.5, -0.5, 2.0, -2.0, 3.0, 1e-300, -1e-300, 5e-324, 1e300, -1e300, 700.0,
           -745.0, 710.0, 1e8, -1e8, 0.1, math.pi / 2, 1 - 2**-53, 1e-8]  # fmt: skip


#: Seconds SymPy may take to build one random expression (its automatic evaluation can stall).
BUILD_SECONDS = 2


class Slow(BaseException):  # a BaseException, so that no handler of the code it interrupts takes it
    """Raised by `time_limit`."""


@contextlib.contextmanager
def time_limit(seconds: float):
    """Raise `Slow` in the main thread after ``seconds`` (no limit in other threads)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def alarm(signum, frame):
        raise Slow

    old = signal.signal(signal.SIGALRM, alarm)
    # repeated every 0.5 s until cleared: a `Slow` raised inside a garbage-collection callback
    # (JAX's) is printed and dropped by Python, and SymPy then ran on unbounded (a campaign stalled)
    signal.setitimer(signal.ITIMER_REAL, seconds, 0.5)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)


def expression(rng: random.Random, max_leaves: int = 8, raw: float = 0.25):
    """A random expression in x, y, z of at most ``max_leaves`` leaves; a fraction ``raw`` of its
    functions come from `RAW_UNARY`/`RAW_BINARY`."""

    def draw(budget: int, depth: int):
        if budget == 1 and (depth >= 5 or rng.random() < 0.5):
            return rng.choice(LEAVES)
        if budget == 1 or (depth < 5 and rng.random() < 0.3):
            table = RAW_UNARY if rng.random() < raw else UNARY
            return rng.choice(table)(draw(budget, depth + 1))
        k = rng.randint(1, budget - 1)
        table = RAW_BINARY if rng.random() < raw else BINARY
        return rng.choice(table)(draw(k, depth + 1), draw(budget - k, depth + 1))

    while True:  # SymPy refuses some combinations as it builds them (a comparison with NaN), or stalls
        try:
            with time_limit(BUILD_SECONDS):
                e = draw(rng.randint(1, max_leaves), 0)
            if not e.has(sp.zoo, sp.nan):  # SymPy's own undefined values say nothing about a backend
                return e
        except (Exception, Slow):  # noqa: BLE001 - SymPy's own errors while building (OverflowError in erfc)
            continue


def coordinate(rng: random.Random) -> float:
    r = rng.random()
    if r < 0.5:
        return rng.uniform(-3, 3)
    if r < 0.65:
        return rng.choice(SPECIAL)
    if r < 0.85:
        return rng.choice((-1, 1)) * 10 ** rng.uniform(-20, 20)
    return rng.choice((-1, 1)) * 10 ** rng.uniform(-307, 307)


def points(rng: random.Random, n: int) -> list[tuple[float, float, float]]:
    """``n`` points for x, y, z: the first ordinary (uniform in [-3, 3]), the rest from `coordinate`."""
    out = [tuple(rng.uniform(-3, 3) for _ in SYMBOLS)]
    out += [tuple(coordinate(rng) for _ in SYMBOLS) for _ in range(n - 1)]
    return out


# -- hostile text ----------------------------------------------------------------------------

TOKENS = ["x", "y", "z", "a_1", "sin", "cos", "exp", "log", "sqrt", "gamma", "factorial", "binomial", "Piecewise",
          "Max", "Min", "pi", "E", "I", "oo", "nan", "zoo", "True", "lambda", "__import__", "__class__", "os",
          "eval", "open", "Symbol", "Integer", "(", ")", "[", "]", "{", "}", ",", ".", ":", ";", "+", "-", "*",
          "/", "**", "^", "%", "//", "@", "<", ">", "<=", "==", "!=", "&", "|", "~", "not", "and", "if", "else",
          "=", "'", '"', "\\", "#", "\n", " ", "0", "1", "2.5", "1e308", "1e-400", "9" * 40, "0x1F", "1_000",
          "1j", "ä", "\u00b2", "\u2212", "\ud800", "\x00", "\u202e", "..."]  # fmt: skip


def hostile_text(rng: random.Random) -> str:
    """One text for `sympile.parse_expr`: a token soup, deep nesting, huge numbers or a tower."""
    kind = rng.randrange(9)
    if kind == 0:
        return "".join(rng.choice(TOKENS) for _ in range(rng.randint(1, 40)))
    if kind == 1:
        n = rng.choice([50, 100, 500, 1000, 5000, 100_000])
        opener, closer = rng.choice([("(", ")"), ("sin(", ")"), ("[", "]"), ("-", ""), ("exp(", ")"), ("+", "")])
        return opener * n + "x" + closer * n
    if kind == 2:
        digits = rng.choice([20, 400, 1001, 5000, 100_000])
        return rng.choice(["", "-", "x*"]) + "".join(rng.choice("0123456789") for _ in range(digits))
    if kind == 3:
        base = rng.choice(["2", "9", "x", "10", "1.5", "-2", "E", "pi", "(x+1)"])
        return "**".join([base] * rng.randint(2, 12))
    if kind == 4:
        f = rng.choice(["factorial", "gamma", "binomial", "exp", "log", "sqrt", "Mod", "fibonacci", "loggamma"])
        n = rng.choice(["10**9", "9**9**9", "1e308", "-1", "x", "10**100", "2**2**2**2**2"])
        return f"{f}({n})" if f not in ("binomial", "Mod") else f"{f}({n}, {rng.choice(['3', 'x', '10**50'])})"
    if kind == 5:
        op = rng.choice(["+", "*", "-", "/", "**"])
        return op.join(
            rng.choice(["x", "y", "1", "2.5", "sin(x)", "1/3"]) for _ in range(rng.choice([10, 1000, 20_000]))
        )
    if kind == 6:
        return "".join(chr(rng.randrange(0, 0x3000)) for _ in range(rng.randint(1, 60)))
    if kind == 7:
        return rng.choice([
            "", " ", "x = 1", "import os", "x if y else z", "[x for x in y]", "lambda: 0", "f'{x}'", "x.__class__",
            "(1).__class__.__bases__", "x[0]", "x(1)", "*x", "{x: 1}", "x; y", "1 < x < 2", "Piecewise((x, x > 0))",
            "Piecewise((x, y))", "exp(1e400)", "1e308*10", "1/0", "0**-1", "x/0", "oo - oo", "zoo*0",
            "Integer(10)**10**10", "Symbol('os')", "sin(x, y)", "sin()", "log(x, 0)", "Max()", "Abs(x, y)",
            "I**I**I**I", "10**-10**10",
        ])  # fmt: skip
    n = rng.randint(1, 30)
    return "x" + "".join(rng.choice(["**", "^"]) + str(rng.randint(2, 99)) for _ in range(n))


def hostile_object(rng: random.Random) -> str:
    """The name of a non-text value for `sympile.parse_expr` (built in the worker: see `hostile.make`)."""
    return rng.choice(["none", "bytes", "int", "float", "list", "dict", "object", "bytearray", "symbol"])


def saved_document(rng: random.Random) -> bytes:
    """A file for `sympile.load`: random bytes, or a damaged or hostile sympile save."""
    kind = rng.randrange(6)
    if kind == 0:
        return bytes(rng.randrange(256) for _ in range(rng.randint(0, 2000)))
    doc = {
        "format": "sympile",
        "version": 1,
        "kind": "expression",
        "expressions": ["1.5*s1 + sin(s0)"],
        "symbols": [
            {"name": "x", "placeholder": "s0", "assumptions": {}},
            {"name": "y", "placeholder": "s1", "assumptions": {}},
        ],
    }
    if kind == 1:
        doc["expressions"] = [hostile_text(rng) for _ in range(rng.randint(1, 3))]
    elif kind == 2:
        key = rng.choice(list(doc))
        doc[key] = rng.choice([None, 1e308, -1, "", [], {}, [None], "x" * 1000, True, 10**400])
    elif kind == 3:
        sym = doc["symbols"][rng.randrange(2)]
        field = rng.choice(["name", "placeholder", "assumptions"])
        sym[field] = rng.choice([None, 5, "", "__import__('os')", {"real": "yes"}, {"evil": True}, ["x"], "s0"])
    elif kind == 4:
        depth = rng.choice([100, 1000, 100_000])
        text = "[" * depth + "]" * depth
        return ('{"format": "sympile", "version": 1, "kind": "expression", "expressions": ' + text + "}").encode()
    text = json.dumps(doc).encode()
    if kind == 5 or rng.random() < 0.3:  # flip, cut or splice bytes
        data = bytearray(text)
        for _ in range(rng.randint(1, 5)):
            op = rng.randrange(3)
            i = rng.randrange(len(data)) if data else 0
            if op == 0 and data:
                data[i] = rng.randrange(256)
            elif op == 1:
                data = data[:i]
            else:
                data[i:i] = bytes(rng.randrange(256) for _ in range(rng.randint(1, 8)))
        text = bytes(data)
    return text


# -- malformed calls -------------------------------------------------------------------------

#: Bad values for one argument of a compiled function (built in the worker: see `hostile.make`).
BAD_VALUES = ["none", "str", "numeric-str", "bytes", "datetime", "timedelta", "date", "object", "dict", "set",
              "ragged", "str-array", "object-array", "datetime64", "function", "module"]  # fmt: skip
#: Bad argument lists as a whole.
BAD_CALLS = ["too-few", "too-many", "keyword", "unknown-keyword", "no-args", "shapes", "nested-list"]


def bad_call(rng: random.Random) -> dict:
    """One malformed call: which argument is bad and how, or what is wrong with the whole call."""
    if rng.random() < 0.6:
        return {"bad": rng.choice(BAD_VALUES), "position": rng.randrange(3)}
    return {"bad": rng.choice(BAD_CALLS), "position": 0}
