"""Classes ``parse``, ``load`` and ``call``: hostile text for `sympile.parse_expr`, hostile files for
`sympile.load`, malformed arguments for compiled functions.

Each case runs in a worker process under a watchdog: the parent sends it one job (a JSON line)
and waits at most ``timeout`` seconds for the answer; a worker that does not answer is killed
(a hang) and one that dies is a crash, and a fresh worker takes the next case. The text worker
runs under a 4 GiB address-space limit, so a runaway allocation is a MemoryError, not the
machine's memory. Every case must end in an accepted result or a `sympile.SympileError` subclass
within the limit: a raw exception, an accepted malformed call, a hang or a crash is a failure.
"""

from __future__ import annotations

import datetime
import json
import math
import os
import select
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import sympy as sp

from . import generate

TESTS = str(Path(__file__).resolve().parent.parent)
SRC = str(Path(TESTS).parent / "src")
#: The address-space limit of the text worker (parse and load).
MEMORY_LIMIT = 4 * 1024**3


class Worker:
    """One worker process (``kind`` "text" or "call") answering jobs one at a time."""

    def __init__(self, kind: str, startup: float = 120.0):
        self.kind, self.startup = kind, startup
        self.proc = None

    def start(self):
        code = f"import sys; sys.path[:0] = {[TESTS, SRC]!r}; from fuzzing.hostile import serve; serve({self.kind!r})"
        env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONHASHSEED": "0"}
        self.proc = subprocess.Popen(
            [sys.executable, "-c", code], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL, env=env,
        )  # fmt: skip
        self.buffer = b""
        ready = self._answer(self.startup)
        if not isinstance(ready, dict) or not ready.get("ready"):
            raise RuntimeError(f"the {self.kind} fuzzing worker did not start: {ready}")

    def stop(self):
        if self.proc is not None:
            self.proc.kill()
            self.proc.wait()
            self.proc = None

    def ask(self, job: dict, timeout: float) -> dict:
        """The worker's answer to ``job``, or {"status": "hang"} / {"status": "crash"}."""
        if self.proc is None:
            self.start()
        try:
            self.proc.stdin.write(json.dumps(job).encode() + b"\n")
            self.proc.stdin.flush()
        except (BrokenPipeError, OSError):
            self.stop()
            return {"status": "crash", "error": "the worker's input closed"}
        answer = self._answer(timeout)
        if isinstance(answer, dict):
            return answer
        code = self.proc.poll()
        self.stop()
        if answer == "timeout" and code is None:
            return {"status": "hang", "error": f"no answer within {timeout:g} s"}
        return {"status": "crash", "error": f"the worker died (exit code {code})"}

    def _answer(self, timeout: float):
        end = time.monotonic() + timeout
        fd = self.proc.stdout.fileno()
        while b"\n" not in self.buffer:
            left = end - time.monotonic()
            if left <= 0:
                return "timeout"
            ready, _, _ = select.select([fd], [], [], left)
            if not ready:
                return "timeout"
            chunk = os.read(fd, 1 << 16)
            if not chunk:
                return "eof"
            self.buffer += chunk
        line, self.buffer = self.buffer.split(b"\n", 1)
        return json.loads(line)


# -- the parent's side -----------------------------------------------------------------------


def run(cls: str, n: int, rng, rec, backends, stop, timeout: float, log=None) -> int:
    """Run ``n`` cases of class ``cls`` (``n`` per backend for ``call``); returns how many ran."""
    worker = Worker("call" if cls == "call" else "text")
    done = 0
    try:
        with tempfile.TemporaryDirectory(prefix="sympile-fuzz-") as tmp:
            for case in range(n):
                if stop is not None and time.monotonic() > stop:
                    break
                for mode, job, shown in _jobs(cls, case, rng, tmp, backends):
                    answer = worker.ask(job, timeout * (3 if cls == "call" else 1))
                    _tally(rec, cls, mode, job, shown, answer)
                done += 1
                if log and done % 50 == 0:
                    log(f"{cls}: {done}/{n}")
    finally:
        worker.stop()
    return done


def _jobs(cls, case, rng, tmp, backends):
    if cls == "parse":
        if rng.random() < 0.1:
            make = generate.hostile_object(rng)
            yield "parse_expr", {"op": "parse_obj", "make": make}, make
        else:
            text = generate.hostile_text(rng)
            yield (
                "parse_expr",
                {"op": "parse", "text": text},
                text if len(text) < 200 else f"{text[:200]!r}... ({len(text)} chars)",
            )
    elif cls == "load":
        r = rng.random()
        if r < 0.08:
            special = rng.choice(["missing", "directory", "dev-zero", "fifo", "none", "int", "bytes-path"])
            path = os.path.join(tmp, f"special{case}")
            if special == "directory":
                os.makedirs(path, exist_ok=True)
            elif special == "fifo":
                os.mkfifo(path)
            yield "load", {"op": "load_special", "special": special, "path": path}, special
        else:
            data = generate.saved_document(rng)
            path = os.path.join(tmp, f"case{case}.json")
            Path(path).write_bytes(data)
            yield "load", {"op": "load", "path": path}, data[:300]
    else:
        expr = generate.expression(rng, max_leaves=4, raw=0.0)
        bad = generate.bad_call(rng)
        arrays = rng.random() < 0.5
        for backend in backends:
            job = {"op": "call", "backend": backend, "expr": sp.srepr(expr), "arrays": arrays, **bad}
            yield backend, job, f"f = lambdify([x, y, z], {sp.srepr(expr)}, backend={backend!r}); {_spell(bad, arrays)}"


def _spell(bad: dict, arrays: bool) -> str:
    ok = "np.array([0.5, 1.0, 2.0])" if arrays else "0.5"
    args = [ok] * 3
    if bad["bad"] in generate.BAD_VALUES:
        args[bad["position"]] = f"<{bad['bad']}>"
        return f"f({', '.join(args)})"
    return f"f(<{bad['bad']}>) with arguments like {ok}"


def _tally(rec, cls, mode, job, shown, answer):
    status = answer["status"]
    if status == "refused-build":
        rec.count(cls, mode, "refused")
        return
    ok = status == "refused" or (status == "accepted" and cls != "call")
    if ok:
        rec.count(cls, mode, "passed")
        return
    kind = {"accepted": "accepted", "hang": "hang", "crash": "crash"}.get(status, f"raw {answer.get('type')}")
    if cls == "call":
        kind = f"{job['bad']}: {kind}"
    rec.fail(
        cls, mode, kind, {"input": shown if isinstance(shown, str) else repr(shown), "error": answer.get("error", "")}
    )


# -- the worker's side -----------------------------------------------------------------------


def serve(kind: str):
    """The worker's loop: one JSON job per line in, one JSON answer per line out."""
    if kind == "text":
        import resource

        resource.setrlimit(resource.RLIMIT_AS, (MEMORY_LIMIT, MEMORY_LIMIT))
    import sympile  # noqa: F401 - imported before the clock of the first job starts

    if kind == "call":
        for name in ("torch", "jax", "pytensor"):
            try:
                __import__(name)
            except ImportError:
                pass
    out = sys.stdout.buffer
    out.write(json.dumps({"ready": True}).encode() + b"\n")
    out.flush()
    cache: dict = {}
    for line in sys.stdin.buffer:
        job = json.loads(line)
        try:
            answer = _do(job, cache)
        except BaseException as exc:  # noqa: BLE001 - every outcome is reported, none raised
            from sympile import SympileError

            if isinstance(exc, SympileError):
                answer = {"status": "refused", "type": type(exc).__name__}
            else:
                answer = {"status": "raw", "type": type(exc).__name__, "error": str(exc)[:300]}
        out.write(json.dumps(answer).encode() + b"\n")
        out.flush()


def make(name: str):
    """The bad value called ``name`` (`generate.BAD_VALUES`, `generate.hostile_object`)."""
    import numpy as np

    return {
        "none": lambda: None, "str": lambda: "abc", "numeric-str": lambda: "1.5", "bytes": lambda: b"1.5",
        "datetime": lambda: datetime.datetime(2020, 1, 1), "timedelta": lambda: datetime.timedelta(days=1),
        "date": lambda: datetime.date(2020, 1, 1), "object": object, "dict": lambda: {"a": 1.0},
        "set": lambda: {1.0}, "ragged": lambda: [[1.0], [1.0, 2.0]], "str-array": lambda: np.array(["a", "b"]),
        "object-array": lambda: np.array([object(), None]), "datetime64": lambda: np.datetime64("2020-01-01"),
        "function": lambda: len, "module": lambda: math, "int": lambda: 5, "float": lambda: 1.5,
        "list": lambda: ["x"], "bytearray": lambda: bytearray(b"x+1"), "symbol": lambda: sp.Symbol("x"),
    }[name]()  # fmt: skip


def _do(job: dict, cache: dict) -> dict:
    import sympile

    op = job["op"]
    if op == "parse":
        sympile.parse_expr(job["text"])
    elif op == "parse_obj":
        sympile.parse_expr(make(job["make"]))
    elif op == "load":
        sympile.load(job["path"])
    elif op == "load_special":
        special, path = job["special"], job["path"]
        arg = {"missing": path, "directory": path, "fifo": path, "dev-zero": "/dev/zero", "none": None, "int": 5,
               "bytes-path": path.encode()}[special]  # fmt: skip
        sympile.load(arg)
    elif op == "call":
        return _call(job, cache)
    return {"status": "accepted"}


def _call(job: dict, cache: dict) -> dict:
    import numpy as np

    import sympile
    from sympile import SympileError

    from .numeric import _as_input, _context

    backend = job["backend"]
    key = (backend, job["expr"])
    with _context(backend):
        if key not in cache:
            try:
                cache[key] = sympile.lambdify(sp.symbols("x y z"), sp.sympify(job["expr"]), backend=backend)
            except SympileError as exc:
                return {"status": "refused-build", "type": type(exc).__name__}
        f = cache[key]
        base = [_as_input(backend, [0.5, 1.0, 2.0]) if job["arrays"] else 0.5 for _ in range(3)]
        bad, pos = job["bad"], job["position"]
        with np.errstate(all="ignore"):
            if bad in ("too-few", "no-args"):
                f(*base[: 0 if bad == "no-args" else 2])
            elif bad == "too-many":
                f(*base, base[0])
            elif bad == "keyword":
                f(*base[:2], z=base[2])
            elif bad == "unknown-keyword":
                f(*base, bogus=1.0)
            elif bad == "shapes":
                f(*[_as_input(backend, np.ones(k)) for k in (2, 3, 4)])
            elif bad == "nested-list":
                f([1.0, 2.0], [1.0, 2.0, 3.0], 1.0)
            else:
                args = list(base)
                args[pos] = make(bad)
                f(*args)
    return {"status": "accepted"}
