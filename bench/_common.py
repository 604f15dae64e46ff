"""Timing helpers shared by the benchmarks: medians of repeated runs, one thread, ratios."""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMEXPR_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import statistics  # noqa: E402
import time  # noqa: E402


def median_time(fn, *, repeat: int = 7, min_time: float = 0.2, max_number: int = 100000) -> float:
    """Median seconds per call of ``fn()`` over ``repeat`` runs of an auto-sized loop."""
    fn()  # warm up
    number = 1
    while number < max_number:
        t = time.perf_counter()
        for _ in range(number):
            fn()
        if time.perf_counter() - t >= min_time / repeat:
            break
        number *= 4
    runs = []
    for _ in range(repeat):
        t = time.perf_counter()
        for _ in range(number):
            fn()
        runs.append((time.perf_counter() - t) / number)
    return statistics.median(runs)


def interleaved(fns: dict, rounds: int, min_time: float, max_number: int = 100_000, clock=time.perf_counter) -> dict:
    """Median seconds per call of each function, timed in turn, round after round, so that the
    machine's load falls on all of them alike (``clock=time.process_time``: CPU seconds)."""
    numbers = {}
    for name, fn in fns.items():
        fn()  # warm up
        number = 1
        while True:
            t = clock()
            for _ in range(number):
                fn()
            if clock() - t >= min_time or number >= max_number:
                break
            number *= 2
        numbers[name] = number
    runs: dict = {name: [] for name in fns}
    for _ in range(rounds):
        for name, fn in fns.items():
            t = clock()
            for _ in range(numbers[name]):
                fn()
            runs[name].append((clock() - t) / numbers[name])
    return {name: statistics.median(r) for name, r in runs.items()}


def once(fn) -> tuple[float, object]:
    t = time.perf_counter()
    out = fn()
    return time.perf_counter() - t, out


def fresh_caches():
    """Builds are timed from cold: no SymPy cache, no sympile compile cache."""
    import sympy

    import sympile

    sympy.core.cache.clear_cache()
    sympile._functions.lambdify._CACHE.clear()


def cold_builds(makers: dict, repeat: int = 3) -> dict:
    """Median build time and the last result of each maker, from cold caches, the makers
    taking turns round after round (so the machine's load falls on all alike)."""
    runs = {label: [] for label in makers}
    out = {}
    for _ in range(repeat):
        for label, make in makers.items():
            fresh_caches()
            t, out[label] = once(make)
            runs[label].append(t)
    return {label: (statistics.median(runs[label]), out[label]) for label in makers}


def median_once(make, repeat: int = 3) -> tuple[float, object]:
    """Median wall time of ``make()`` over a few fresh runs (for build times)."""
    runs, out = [], None
    for _ in range(repeat):
        t, out = once(make)
        runs.append(t)
    return statistics.median(runs), out


def fmt(seconds: float) -> str:
    if seconds != seconds:
        return "n/a"
    for unit, scale in (("s", 1), ("ms", 1e-3), ("µs", 1e-6), ("ns", 1e-9)):
        if seconds >= scale:
            return f"{seconds / scale:.3g} {unit}"
    return f"{seconds / 1e-9:.3g} ns"


def table(title: str, header: list[str], rows: list[list[str]]) -> str:
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    line = lambda r: "| " + " | ".join(str(c).ljust(w) for c, w in zip(r, widths)) + " |"
    out = [f"\n### {title}\n", line(header), "|" + "|".join("-" * (w + 2) for w in widths) + "|"]
    out += [line(r) for r in rows]
    return "\n".join(out)
