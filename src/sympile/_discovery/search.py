"""sympile's own search: exhaustive over small skeletons whose constants enter linearly.

Three enumerations, each solved by batched linear least squares (one Gram matrix, every
subset of its columns solved at once), so thousands of skeletons cost milliseconds:

- **sparse sums**: ``c1*t1 + ... + ck*tk`` over a basis of terms: monomials of the variables
  (integer exponents from -2 to 3 where the operators allow, half-integers with ``sqrt``),
  the allowed unary functions of a variable or its square, and products of two of those.
  Every subset of up to ``k`` terms (k up to 5, as the count allows) is fitted.
- **rational functions**: ``P/Q`` with ``P`` a sum of one to three monomials and ``Q`` one or
  two, solved linearly as ``y*Q = P`` (``Q``'s first term has coefficient 1), then judged by
  their true loss.
- **transformed targets**: the same enumerations for ``y**2`` (read back through ``sqrt``) and
  ``log|y|`` (through ``exp``) when those operators are allowed and ``y`` keeps one sign, and
  a power law from ``log y`` against ``log x`` with exponents snapped to halves.

The survivors (the best few of each size) go on to the same refit, criterion and snapping as
the engine's candidates.
"""

from __future__ import annotations

import itertools
import math
import time

import numpy as np
import sympy as sp

from .criterion import real_powers

_UNARY = {
    "sin": (sp.sin, np.sin),
    "cos": (sp.cos, np.cos),
    "exp": (sp.exp, np.exp),
    "log": (sp.log, np.log),
    "sqrt": (sp.sqrt, np.sqrt),
    "tanh": (sp.tanh, np.tanh),
}

#: The most subsets one enumeration solves.
MAX_SUBSETS = 25_000


def candidates(X, y, symbols, operators, deadline: float | None = None, keep: int = 4) -> list:
    """Candidate expressions for ``y`` (see the module's text): (expression, mean squared
    error) pairs, the best few of each size and kind."""
    ops = set(operators)
    out: list = []
    ident = (lambda e: e, lambda v: v)

    def left() -> bool:
        return deadline is None or time.perf_counter() < deadline

    out += _power_law(X, y, symbols, ops)
    basis = _basis(X, symbols, ops)
    out += _sparse_sums(basis, y, y, keep, ident, deadline)
    if left() and "div" in ops:
        out += _rationals(X, y, y, symbols, ops, keep, ident)
    one_sign = bool(np.all(y > 0) or np.all(y < 0))
    sign = 1 if y[0] > 0 else -1
    if left() and "sqrt" in ops and one_sign and "div" in ops:
        root = (lambda e: sign * real_powers(sp.sqrt(e)), lambda v: sign * np.sqrt(v))
        out += _rationals(X, y * y, y, symbols, ops, keep, root)
    if left() and "exp" in ops and one_sign:
        poly = [b for b in basis if b[0].is_polynomial() or not b[0].free_symbols]
        grow = (lambda e: sign * _exp_split(e), lambda v: sign * np.exp(v))
        out += _sparse_sums(poly, np.log(np.abs(y)), y, keep, grow, deadline)
    if left() and "sqrt" in ops and one_sign:
        root = (lambda e: sign * real_powers(sp.sqrt(e)), lambda v: sign * np.sqrt(v))
        out += _sparse_sums(basis, y * y, y, keep, root, deadline)
    return out


def _exp_split(e):
    """exp(c + rest) as exp(c)*exp(rest): the constant factor is one fitted constant."""
    const, rest = e.as_independent(*e.free_symbols, as_Add=True)
    if const == 0:
        return sp.exp(e)
    return sp.Float(math.exp(float(const))) * sp.exp(rest)


def _monomials(symbols, exps, max_degree):
    for powers in itertools.product(exps, repeat=len(symbols)):
        degree = sum(abs(p) for p in powers)
        if 0 < degree <= max_degree:
            yield powers


def _basis(X, symbols, ops) -> list:
    """(expression, column) pairs: distinct, finite, not constant-zero, a constant first."""
    n, d = X.shape
    exps = [0, 1]
    if "mul" in ops:
        exps += [2, 3]
    if "div" in ops:
        exps += [-1] + ([-2] if "mul" in ops else [])
    max_degree = 4 if d == 1 else 3 if d <= 2 else 2
    terms = [(sp.Integer(1), np.ones(n))]
    for powers in _monomials(symbols, sorted(exps), max_degree):
        with np.errstate(all="ignore"):
            col = np.prod([X[:, k] ** float(p) for k, p in enumerate(powers)], axis=0)
        terms.append((sp.Mul(*[s**p for s, p in zip(symbols, powers)]), col))
    if "sqrt" in ops:
        for k, s in enumerate(symbols):
            with np.errstate(all="ignore"):
                terms.append((sp.sqrt(s), np.sqrt(X[:, k])))
                if "div" in ops:
                    terms.append((1 / sp.sqrt(s), 1 / np.sqrt(X[:, k])))
    unary = []
    for name in ("sin", "cos", "exp", "log", "tanh"):
        if name not in ops:
            continue
        fs, fn = _UNARY[name]
        for k, s in enumerate(symbols):
            args = [(s, X[:, k])]
            if "mul" in ops:
                args.append((s**2, X[:, k] ** 2))
            if name == "exp" and ("sub" in ops or "mul" in ops):
                args += [(-s, -X[:, k])] + ([(-(s**2), -(X[:, k] ** 2))] if "mul" in ops else [])
            for a, col in args:
                with np.errstate(all="ignore"):
                    unary.append((fs(a), fn(col)))
    terms += unary
    if "mul" in ops and d <= 2:
        for (e1, c1), (e2, c2) in itertools.combinations(unary, 2):
            terms.append((e1 * e2, c1 * c2))
        for e1, c1 in unary:
            for k, s in enumerate(symbols):
                terms.append((s * e1, X[:, k] * c1))
    return _distinct(terms)


def _distinct(terms):
    out, seen = [], set()
    for e, col in terms:
        col = np.asarray(col, dtype=float)
        if col.shape != (col.shape[0],) or not np.all(np.isfinite(col)):
            continue
        rms = float(np.sqrt(np.mean(col * col)))
        if rms == 0 or rms > 1e12:
            continue
        key = tuple(np.round(col[:8] / rms, 9))
        if key in seen or tuple(-v for v in key) in seen:
            continue
        seen.add(key)
        out.append((e, col))
    return out


def _subsets(m: int, max_k: int, forced: int | None = None):
    """Index arrays of all subsets of size 1..k of range(m), k as large as MAX_SUBSETS allows."""
    for k in range(1, max_k + 1):
        if math.comb(m, k) > MAX_SUBSETS:
            break
        yield k, np.array(list(itertools.combinations(range(m), k)), dtype=np.intp).reshape(-1, k)


def _batched_fit(A: np.ndarray, t: np.ndarray, idx: np.ndarray):
    """Least squares of ``t`` on each subset ``idx[j]`` of the columns of ``A`` at once:
    (coefficients, sums of squared residuals)."""
    scale = np.sqrt(np.mean(A * A, axis=0))
    An = A / scale
    G = An.T @ An
    b = An.T @ t
    Gs = G[idx[:, :, None], idx[:, None, :]]
    k = idx.shape[1]
    ridge = 1e-13 * np.trace(Gs, axis1=1, axis2=2)[:, None, None] * np.eye(k)
    bs = b[idx]
    try:
        coef = np.linalg.solve(Gs + ridge, bs[..., None])[..., 0]
    except np.linalg.LinAlgError:
        return None, None
    sse = float(t @ t) - np.einsum("ij,ij->i", coef, bs)
    return coef / scale[idx], sse


def _judge(pred, y) -> float:
    with np.errstate(all="ignore"):
        r = np.asarray(pred, dtype=float) - y
        mse = float(np.mean(r * r))
    return mse if math.isfinite(mse) else math.inf


def _sparse_sums(basis, t, y, keep, wrap, deadline=None) -> list:
    if not basis:
        return []
    A = np.column_stack([c for _, c in basis])
    out = []
    for _, idx in _subsets(A.shape[1], 5):
        if deadline is not None and time.perf_counter() > deadline:
            break
        _, sse = _batched_fit(A, t, idx)
        if sse is None:
            continue
        for j in np.argsort(sse)[:keep]:
            cols = idx[j]
            # the exact least-squares solution for the chosen few
            coef, *_ = np.linalg.lstsq(A[:, cols], t, rcond=None)
            with np.errstate(all="ignore"):
                mse = _judge(wrap[1](A[:, cols] @ coef), y)
            if math.isfinite(mse):
                e = sp.Add(*[sp.Float(float(c)) * basis[i][0] for c, i in zip(coef, cols)])
                out.append((wrap[0](e), mse))
    return out


def _rationals(X, y, target, symbols, ops, keep, wrap) -> list:
    n, d = X.shape
    if d > 4:
        return []
    exps = [0, 1, 2] if "mul" in ops else [0, 1]
    num_terms = [(sp.Integer(1), np.ones(n))]
    for powers in _monomials(symbols, exps, 4 if d <= 3 else 2):
        num_terms.append(
            (sp.Mul(*[s**p for s, p in zip(symbols, powers)]), np.prod([X[:, k] ** p for k, p in enumerate(powers)], 0))
        )
    den_terms = [t for t in num_terms if sum(sp.degree_list(t[0], *symbols)) <= 2] if d else num_terms
    num_terms = _distinct(num_terms)
    den_terms = _distinct(den_terms)
    scored = []
    for lead in range(len(den_terms)):
        t = y * den_terms[lead][1]
        others = [j for j in range(len(den_terms)) if j != lead]
        cols = [c for _, c in num_terms] + [-y * den_terms[j][1] for j in others]
        A = np.column_stack(cols)
        p = len(num_terms)
        combos = []
        for kp in (1, 2, 3):
            if math.comb(p, kp) * (1 + len(others)) > MAX_SUBSETS // max(1, len(den_terms)):
                break
            for ps in itertools.combinations(range(p), kp):
                combos.append(list(ps))
                combos += [list(ps) + [p + q] for q in range(len(others))]
        for size in sorted({len(c) for c in combos}):
            idx = np.array([c for c in combos if len(c) == size], dtype=np.intp)
            coef, sse = _batched_fit(A, t, idx)
            if sse is None:
                continue
            for j in np.argsort(sse)[: 4 * keep]:
                scored.append((lead, others, idx[j], coef[j]))
    # judge by the true loss of P/Q, not the equation error
    judged = []
    for lead, others, cols, coef in scored:
        num = sum((float(c) * num_terms[i][1] for c, i in zip(coef, cols) if i < len(num_terms)), np.zeros(n))
        den = den_terms[lead][1] + sum(
            (float(c) * den_terms[others[i - len(num_terms)]][1] for c, i in zip(coef, cols) if i >= len(num_terms)),
            np.zeros(n),
        )
        with np.errstate(all="ignore"):
            mse = _judge(wrap[1](num / den), target)
        if math.isfinite(mse):
            judged.append((mse, len(cols), lead, others, cols, coef))
    judged.sort(key=lambda r: r[0])
    out, per_size = [], {}
    for mse, size, lead, others, cols, coef in judged:
        if per_size.get(size, 0) >= keep:
            continue
        per_size[size] = per_size.get(size, 0) + 1
        p = len(num_terms)
        P = sp.Add(*[sp.Float(float(c)) * num_terms[i][0] for c, i in zip(coef, cols) if i < p])
        Q = den_terms[lead][0] + sp.Add(
            *[sp.Float(float(c)) * den_terms[others[i - p]][0] for c, i in zip(coef, cols) if i >= p]
        )
        out.append((wrap[0](P / Q), mse))
    return out


def _power_law(X, y, symbols, ops) -> list:
    """``C * prod(x**a)`` from a straight line in log-log, exponents snapped to halves."""
    if not (np.all(y > 0) or np.all(y < 0)) or not np.all(X > 0) or "mul" not in ops:
        return []
    A = np.column_stack([np.ones(len(y)), np.log(X)])
    coef, *_ = np.linalg.lstsq(A, np.log(np.abs(y)), rcond=None)
    step = 2 if "sqrt" in ops else 1
    powers = [sp.Rational(round(a * step), step) for a in coef[1:]]
    if any(p < 0 for p in powers) and "div" not in ops:
        return []
    if any(abs(p) > 3 for p in powers):
        return []
    scale = np.prod([X[:, k] ** float(p) for k, p in enumerate(powers)], axis=0)
    c = float(scale @ y / (scale @ scale))  # the best constant for the snapped exponents
    e = sp.Float(c) * sp.Mul(*[s**p for s, p in zip(symbols, powers)])
    return [(e, _judge(c * scale, y))]
