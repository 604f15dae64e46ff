"""A fuzzing campaign: the classes run in turn, each from its own seeded generator, into one
`Recorder`; `summary` prints the table and the first reproducers of each kind of failure."""

from __future__ import annotations

import random
import time

import sympy as sp

from . import generate, hostile, numeric
from .numeric import Recorder

CLASSES = ["value", "derivative", "parse", "load", "call"]
#: How a time box is shared between the classes (what one leaves unused goes to the next).
TIME_SHARE = {"value": 0.5, "derivative": 0.25, "parse": 0.07, "load": 0.07, "call": 0.11}


def run(cases: int, seed: int = 0, only=None, *, batch: int = 20, value_points: int = 6, derivative_points: int = 2,
        backends=numeric.BACKENDS, deadline: float | None = None, pytensor_mode: str | None = "FAST_COMPILE",
        timeout: float = 10.0, log=None, keep: int = 3) -> Recorder:  # fmt: skip
    """Run ``cases`` cases of each class in ``only`` (default: all) and return the `Recorder`.

    ``cases`` counts expressions for ``value``; ``derivative`` gets a fifth of them (each checks a
    gradient and a Hessian), the hostile classes a tenth (``parse``, ``load``) and a twentieth
    (``call``, per backend). ``deadline`` (a `time.monotonic` value) stops every class early;
    ``rec.done`` says how many cases each ran; ``keep`` reproducers are kept per kind of failure.
    """
    rec = Recorder(keep)
    rec.done = {}
    share = {"value": 1, "derivative": 5, "parse": 10, "load": 10, "call": 20}
    for k, cls in enumerate(CLASSES):
        if only and cls not in only:
            continue
        n = max(1, cases // share[cls])
        rng = random.Random(f"{seed}:{cls}")
        left = None if deadline is None else (deadline - time.monotonic()) * TIME_SHARE[cls] / _remaining(only, k)
        stop = None if left is None else time.monotonic() + left
        if cls in ("value", "derivative"):
            done = _numeric(cls, n, rng, rec, batch, value_points if cls == "value" else derivative_points,
                            backends, stop, pytensor_mode, log)  # fmt: skip
        else:
            done = hostile.run(cls, n, rng, rec, backends, stop, timeout, log)
        rec.done[cls] = done
        if log:  # so far, in case the campaign is cut short
            log(summary(rec, 1))
    return rec


def _remaining(only, k):
    return sum(TIME_SHARE[c] for c in CLASSES[k:] if not only or c in only)


#: Expressions whose gradients and Hessians share one graph, at most. It was 8 while the Hessians of
#: many outputs in one Builder grew much faster than their number (docs/reliability.md, item 4);
#: graph AD now sweeps only the outputs' cone, so 64 cost what 64 single builds do (0.17 s for seed
#: 0) and this no longer limits the default batch.
DERIVATIVE_BATCH = 64


def _numeric(cls, n, rng, rec, batch, npoints, backends, stop, pytensor_mode, log) -> int:
    if cls == "derivative":
        batch = min(batch, DERIVATIVE_BATCH)
    done = 0
    while done < n and (stop is None or time.monotonic() < stop):
        exprs = [generate.expression(rng) for _ in range(min(batch, n - done))]
        exprs = [e for e in exprs if e.free_symbols]  # constants say nothing about a backend
        pts = generate.points(rng, npoints)
        start = time.perf_counter()
        refs = [numeric.references(cls, e, pts) for e in exprs]
        rec.seconds["reference"] = rec.seconds.get("reference", 0.0) + time.perf_counter() - start
        try:
            numeric.check_batch(cls, exprs, pts, refs, rec, backends, pytensor_mode)
        except Exception as exc:  # noqa: BLE001 - a fault of the fuzzer's own is reported, the campaign goes on
            rec.fail(cls, "fuzzer", "internal error", {"error": numeric._exception(exc)})
        done += min(batch, n - done)
        if log:
            log(f"{cls}: {done}/{n}; seconds " + ", ".join(f"{k} {v:.0f}" for k, v in rec.seconds.items()))
    return done


def summary(rec: Recorder, reproducers: int = 3) -> str:
    """The table (tried / passed / failed / ill-conditioned / ..., by class and backend) and reproducers."""
    cols = Recorder.COLUMNS
    lines = [f"{'class':<11}{'backend':<14}" + "".join(f"{c:>9}" for c in cols)]
    for (cls, mode), row in sorted(rec.counts.items(), key=lambda kv: (CLASSES.index(kv[0][0]), kv[0][1])):
        lines.append(f"{cls:<11}{mode:<14}" + "".join(f"{row[c]:>9}" for c in cols))
    done = getattr(rec, "done", {})
    if done:
        lines.append("cases run: " + ", ".join(f"{c} {n}" for c, n in done.items()))
    if rec.failures:
        lines.append("")
        lines.append("failures (class, backend, kind: count), with the first reproducers:")
    for (cls, mode, kind), entry in sorted(rec.failures.items()):
        lines.append(f"- {cls} / {mode} / {kind}: {entry['count']}")
        for r in entry["reproducers"][:reproducers]:
            lines.append("    " + "; ".join(f"{k}={v}" for k, v in r.items()))
    if rec.refusals:
        lines.append("")
        lines.append("refusals (backend, error: count):")
        for (backend, err, msg), count in sorted(rec.refusals.items(), key=lambda kv: -kv[1])[:12]:
            lines.append(f"- {backend}, {err}: {count} ({msg})")
    gaps = numeric._REFERENCE_GAPS
    if gaps:
        lines.append(f"reference gaps (not counted as failures): {len(gaps)}, e.g. {gaps[0]}")
    return "\n".join(lines)


def failed(rec: Recorder, cls: str, modes=None) -> dict:
    """The failures of class ``cls`` (on ``modes``, default all), as {(mode, kind): entry}."""
    return {(m, k): e for (c, m, k), e in rec.failures.items() if c == cls and (modes is None or m in modes)}


__all__ = ["run", "summary", "failed", "CLASSES", "sp"]
