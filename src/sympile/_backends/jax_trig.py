"""Sine and cosine for the JAX backend on CPU, vectorised, to within an ulp.

XLA on CPU computes ``sin`` and ``cos`` by calling the C library once per element: 10-20 ns an
element, ten times its ``exp``, and most of the time of a trigonometric model's jitted step
(`bench/jax_module.py`). Here they are written in XLA's own elementwise ops, which it fuses into
the surrounding loop and vectorises:

1. *Reduction* (Cody and Waite): ``k = round(x * 2/pi)`` and ``r = x - k*pi/2``, with ``pi/2``
   split into parts short enough (`_Kind.parts`) that every ``k * part`` is exact while ``|k|``
   stays under `_Kind.k_limit`. The first subtraction is exact, and the next two carry their
   rounding errors (`_two_sum`) into a tail ``l``, so ``r + l`` is ``x - k*pi/2`` to well under an
   ulp of ``r`` even where ``x`` is next to a multiple of ``pi/2`` and ``r`` is tiny.
2. *Kernels* on ``|r| <= pi/4``: odd and even minimax polynomials for ``sin r`` and ``cos r``
   (Cephes' for float32, fdlibm's for float64), each corrected by the tail to first order, the
   cosine's ``1 - r**2/2`` with its own rounding error added back.
3. *Quadrant*: ``k mod 4`` picks ``+-sin r`` or ``+-cos r``.

Both come out of one reduction (`_sincos`): a derivative needs the other one, so a jitted value and
gradient reduces each argument once, and a graph with both of one argument reads them from one
call (`sincos`, made by `sympile._transforms.sincos`). Measured against mpmath
(``tests/backends/test_jax_trig.py``): under 0.85 ulp on ``|x| <= 6000`` in float32 (the C
library's: 0.56) and under 1 ulp in float64, also at the numbers nearest each multiple of pi/2.

Where they are not used, ``jnp.sin``/``jnp.cos`` are (the results are then the C library's):

- on other platforms than CPU (`jax.lax.platform_dependent`: GPUs have fast ones);
- for complex, integer and half-precision arguments;
- for arrays of fewer than `MIN_ELEMENTS` elements (a batch member's under ``jax.vmap``), where
  the compile time the kernel adds would not be repaid;
- for an array with any element past `_Kind.limit` (``|x| > 6000`` in float32, ``1e6`` in
  float64), where the short parts of ``pi/2`` no longer give exact products: one test of the whole
  array (`jax.lax.cond`), kept whole under ``jax.vmap`` by a batching rule (`custom_vmap`);
- for ``|x|`` below `_Kind.tiny`, where ``sin x`` is ``x`` and ``cos x`` 1 to the last bit: XLA on
  CPU flushes subnormal results of arithmetic to zero, and ``x`` itself is returned instead.

Derivatives are exact, through `jax.custom_jvp`: ``d sin = cos``, ``d cos = -sin``, at every
order (the rule calls `_sincos` itself).
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass

import jax
import jax.numpy as jnp
import numpy as np
from jax.custom_batching import custom_vmap


@dataclass(frozen=True)
class _Kind:
    """The constants for one float dtype (Python floats, exact in it: the ops stay weakly typed)."""

    #: ``pi/2`` as a sum: all but the last have few enough bits that ``k * part`` is exact for
    #: ``|k| < k_limit``; the last is the rest, rounded.
    parts: tuple[float, float, float, float]
    k_limit: int
    #: Past this |x|, the array goes to ``jnp.sin``/``jnp.cos`` (``round(limit * 2/pi) < k_limit``).
    limit: float
    #: Below this |x|, ``sin x == x`` and ``cos x == 1`` after rounding.
    tiny: float
    #: ``sin r = r + r**3 * S(r**2)`` and ``cos r = 1 - r**2/2 + r**4 * C(r**2)`` on ``|r| <= pi/4``,
    #: lowest order first.
    sin: tuple[float, ...]
    cos: tuple[float, ...]


def _f32(*values: float) -> tuple[float, ...]:
    return tuple(float(np.float32(v)) for v in values)


_FLOAT32 = _Kind(
    # 8, 11 and 11 significant bits: exact products for |k| < 2**12.
    parts=(1.5703125, 4.837512969970703e-4, 7.549533620476723e-08, float(np.float32(2.563344151594519e-12))),
    k_limit=2**12,
    limit=6000.0,
    tiny=2.0**-12,
    sin=_f32(-1.6666654611e-1, 8.3321608736e-3, -1.9515295891e-4),
    cos=_f32(4.166664568298827e-2, -1.388731625493765e-3, 2.443315711809948e-5),
)

_FLOAT64 = _Kind(
    # 33 significant bits each: exact products for |k| < 2**20.
    parts=(1.5707963267341256, 6.077100506303966e-11, 2.0222662487111665e-21, 8.4784276603689e-32),
    k_limit=2**20,
    limit=1e6,
    tiny=2.0**-27,
    sin=(
        -1.66666666666666324348e-01,
        8.33333333332248946124e-03,
        -1.98412698298579493134e-04,
        2.75573137070700676789e-06,
        -2.50507602534068634195e-08,
        1.58969099521155010221e-10,
    ),
    cos=(
        4.16666666666666019037e-02,
        -1.38888888888741095749e-03,
        2.48015872894767294178e-05,
        -2.75573143513906633035e-07,
        2.08757232129817482790e-09,
        -1.13596475577881948265e-11,
    ),
)

_KINDS = {np.dtype(np.float32): _FLOAT32, np.dtype(np.float64): _FLOAT64}


def _two_sum(a, b):
    """``a + b`` rounded, and its rounding error exactly (Knuth; no ordering of ``a``, ``b`` needed)."""
    s = a + b
    b_part = s - a
    return s, (a - (s - b_part)) + (b - b_part)


def _horner(z, coefficients):
    acc = coefficients[-1]
    for c in coefficients[-2::-1]:
        acc = acc * z + c
    return acc


def _vectorised(x, kind: _Kind):
    """``(sin x, cos x)`` for ``|x| <= kind.limit`` (steps 1-3 of the module's docstring)."""
    k = jnp.round(x * (2 / math.pi)) + 0.0  # + 0.0: a -0.0 would turn -0.0 - k*part into +0.0
    p1, p2, p3, p4 = kind.parts
    r1 = x - k * p1
    r2, e2 = _two_sum(r1, -(k * p2))
    high, e3 = _two_sum(r2, -(k * p3))
    tail = (e2 + e3) - k * p4
    r = high + tail
    tail = (high - r) + tail
    z = r * r
    sin_r = r + ((r * z) * _horner(z, kind.sin) + tail * (1 - 0.5 * z))
    half_z = 0.5 * z
    w = 1 - half_z
    cos_r = w + (((1 - w) - half_z) + ((z * z) * _horner(z, kind.cos) - r * tail))
    q = k.astype(jnp.int32)
    odd, sin_negative, cos_negative = (q & 1) != 0, (q & 2) != 0, ((q + 1) & 2) != 0
    sin = jnp.where(odd, cos_r, sin_r)
    cos = jnp.where(odd, sin_r, cos_r)
    sin = jnp.where(sin_negative, -sin, sin)
    cos = jnp.where(cos_negative, -cos, cos)
    tiny = jnp.abs(x) < kind.tiny
    return jnp.where(tiny, x, sin), jnp.where(tiny, 1.0, cos)


def _library(x):
    return jnp.sin(x), jnp.cos(x)


def _cpu(x):
    """The vectorised pair where every element of ``x`` is in range, else the C library's: one
    test of the whole array. The conditional is also what keeps XLA from copying the ~40 cheap
    ops of `_vectorised` into every fusion that reads sin or cos (it does, for cheap producers
    with several consumers: compile time and run time grow with the consumers)."""
    kind = _KINDS[x.dtype]
    in_range = jnp.max(jnp.abs(x)) <= kind.limit  # False for a NaN too: the C library's NaN then
    return jax.lax.cond(in_range, functools.partial(_vectorised, kind=kind), _library, x)


@custom_vmap
def _elementwise(x):
    return jax.lax.platform_dependent(x, cpu=_cpu, default=_library)


@_elementwise.def_vmap
def _elementwise_batched(axis_size, in_batched, x):
    """Elementwise: the batched function is the function of the batched array. (JAX's own rule
    would turn the range test of each batch member into a select of both branches.)"""
    return _elementwise(x), (in_batched[0], in_batched[0])


@jax.custom_jvp
def _sincos(x):
    return _elementwise(x)


@_sincos.defjvp
def _sincos_jvp(primals, tangents):
    (x,), (t,) = primals, tangents
    s, c = _sincos(x)
    return (s, c), (c * t, -s * t)


#: Smaller arrays keep ``jnp.sin``/``jnp.cos``: each call of the vectorised pair adds 30-70 ms to
#: XLA's compile (a fusion of ~40 ops and the range test's conditional; `bench/jax_module.py`)
#: and saves 9-18 ns an element a call; at 2**16 elements a call, it has paid for itself within
#: about a hundred calls. Under ``jax.vmap`` the size is a batch member's.
MIN_ELEMENTS = 2**16

_eager = jax.jit(_sincos)


def _pair(x):
    """``(sin x, cos x)`` through `_sincos`, or ``None`` where ``jnp``'s are used (the docstring
    of the module, and `MIN_ELEMENTS`)."""
    if x.dtype not in _KINDS or x.size < MIN_ELEMENTS or jax.dtypes.canonicalize_dtype(x.dtype) != x.dtype:
        return None  # the last: a float64 array made under jax_enable_x64, used without it
    # Outside a trace, one compiled call instead of ~40 operations dispatched one by one.
    return _sincos(x) if isinstance(x, jax.core.Tracer) else _eager(x)


def _one(x, slot: int | slice, library):
    x = jnp.asarray(x)
    pair = _pair(x)
    return library(x) if pair is None else pair[slot]


def sin(x):
    """``sin x``, to within an ulp (the module's docstring); ``jnp.sin`` where not ours."""
    return _one(x, 0, jnp.sin)


def cos(x):
    """``cos x``, to within an ulp (the module's docstring); ``jnp.cos`` where not ours."""
    return _one(x, 1, jnp.cos)


def sincos(x):
    """``(sin x, cos x)`` from one reduction, to within an ulp; ``jnp``'s where not ours."""
    return _one(x, slice(None), _library)
