"""The JAX backend: its spelling table (``jax.numpy``, ``jax.scipy.special``) and its wrappers.

The same straight-line source as the NumPy backend, over ``jnp``; JAX then traces it once
under ``jax.jit`` and XLA fuses the elementwise ops. What differs from NumPy:

- JAX differentiates the code it runs, so untaken branches are masked first
  (`mask_branches`: the double-where pattern), and a gradient is never NaN because of a
  value that a ``Piecewise`` does not select; ``acot`` and ``heaviside`` are spelt so that
  their own derivatives are the graph's (`_acot`, ``stop_gradient``).
- Literals are Python numbers, which JAX treats as *weakly typed*: ``pi * x`` is computed in
  the dtype of ``x`` (float32, or float64 under ``jax_enable_x64``), with the constant
  correctly rounded to it (`fold_constants` rounds SymPy's 30-digit value once), and ``x / 3``
  stays a true division (`_divide_exactly`).
- Python numbers given as inputs become JAX scalars first, so ``1 / x`` at 0 is inf.
- ``sin`` and ``cos`` of large float arrays on CPU are `jax_trig`'s, vectorised in XLA's own ops
  (XLA calls the C library per element), and ``cosh``/``sinh`` are `_cosh`/`_sinh` (XLA's are
  8 to 250 ulps off).
- JAX has no Bessel functions of real order and no LambertW (they are unsupported), and its special
  functions take real arguments only: both raise `UnsupportedFunctionError`.

`build` serves ``lambdify(..., backend="jax")``; `emit_module` serves
`sympile.jax.SymbolicModule`, whose functions also take the parameters, the frozen buffers
and the user's functions as arguments, and whose isomorphic sibling terms are batched.
"""

from __future__ import annotations

import functools
import math
import re
from collections.abc import Callable

import jax
import jax.numpy as jnp
import jax.scipy.special as jsp
import numpy as np

from .._core.errors import UnsupportedFunctionError
from .._core.graph import Graph
from .._emit.emit import Emitted, Spelling, compile_source, emit
from .._emit.pipeline import pipeline
from .._emit.tables import ARRAY, WEAK_NUMBERS, vector_literal
from .._emit.wrapper import LRU, Built, Inputs, array_of, entry_frame
from .._transforms.batch import batch_siblings
from .._transforms.sincos import share_sincos
from . import jax_trig
from .jax_leaves import gather
from .special_functions import FACTORIALS, log_factorials, reflected_polygamma

_NUMBER = re.compile(r"\(?(-?[0-9][0-9.e+-]*)\)?")


def _spell_div(args: list[str], attr) -> str:
    """``u / q`` for a literal ``q`` whose reciprocal is inexact goes through `_divide_exactly`."""
    m = _NUMBER.fullmatch(args[1])
    if m is not None:
        q = abs(float(m.group(1)))
        if q != 0 and math.isfinite(q) and math.frexp(q)[0] != 0.5:
            return f"_divide_exactly({args[0]}, {args[1]})"
    return f"{args[0]} / {args[1]}"


def _divide_exactly(u, q):
    """``u / q``, correctly rounded in ``u``'s dtype.

    XLA rewrites a division by a scalar into a multiplication by its reciprocal, rounded
    first (``x / 3`` becomes ``x * 0.33333334`` in float32, wrong in the last bit for a third
    of all ``x``). A divisor of ``u``'s shape, behind an optimisation barrier, keeps the true
    division; XLA still fuses it into the surrounding loop.
    """
    u = jnp.asarray(u)
    return u / jax.lax.optimization_barrier(jnp.full(u.shape, q, u.dtype))


#: Past this |x|, cosh and sinh are exp(|x|)/2 to float64's precision (exp(-2|x|) < 2**-56).
_HYPERBOLIC_EXP = 20.0


def _hyperbolic_parts(x):
    """For real ``x``: ``exp(|x|)`` and ``exp(-|x|)`` for ``1 <= |x| <= 20``, and where ``|x| > 20``
    (``big``) ``exp(|x|)/2`` as ``(exp(|x|/2)/2) * exp(|x|/2)``, each to a few ulps. XLA's cosh and
    sinh are 8 ulps off from |x| ~ 1 and take ``exp(|x| - log 2)`` past ~700, whose rounded
    argument costs ``|x| eps`` (5.5e-14 relative, 250 ulps). Each side reads a harmless argument
    where it is not selected, so no derivative meets an unselected infinity."""
    a = jnp.abs(x)
    big = a > _HYPERBOLIC_EXP
    mid = (a >= 1) & ~big
    h = jnp.exp(jnp.where(big, a, 0) * 0.5)
    e = jnp.exp(jnp.where(mid, a, 1))
    return big, (0.5 * h) * h, mid, e, 1 / e


def _cosh(x):
    x = jnp.asarray(x)
    if jnp.iscomplexobj(x):
        return jnp.cosh(x)
    big, half_exp, mid, e, inv = _hyperbolic_parts(x)
    return jnp.where(big, half_exp, jnp.where(mid, 0.5 * (e + inv), jnp.cosh(jnp.where(big | mid, 0, x))))


def _sinh(x):
    x = jnp.asarray(x)
    if jnp.iscomplexobj(x):
        return jnp.sinh(x)
    big, half_exp, mid, e, inv = _hyperbolic_parts(x)
    small = jnp.sinh(jnp.where(big | mid, 0, x))
    return jnp.where(big | mid, jnp.sign(x) * jnp.where(big, half_exp, 0.5 * (e - inv)), small)


JAX = {
    **ARRAY,
    "div": _spell_div,
    "cosh": "_cosh({0})",
    "sinh": "_sinh({0})",
    # on CPU, vectorised and fused instead of XLA's call to the C library per element (`jax_trig`)
    "sin": "_sin({0})",
    "cos": "_cos({0})",
    "sincos": "_sincos({0})",  # both from one reduction (`share_sincos`)
    "rsqrt": "_lax.rsqrt({0})",
    "acot": "_acot({0})",
    # jnp.heaviside passes a zero (not a symbolic zero) back to its argument, and 0 * inf is NaN
    # where the argument's own derivative is infinite; the step's derivative is 0: stop it.
    "heaviside": "jnp.heaviside(_lax.stop_gradient({0}), {1})",
    "erf": "_erf({0})",
    "erfc": "_erfc({0})",
    "erfinv": "_erfinv({0})",
    "gamma": "_gamma({0})",
    "loggamma": "_loggamma({0})",
    "polygamma": "_polygamma({a}, {0})",
}


def _real_only(name: str, fn: Callable) -> Callable:
    """``fn``, refusing complex arguments with a clear error (JAX's raises a bare TypeError)."""

    def real(*args):
        if any(jnp.iscomplexobj(a) for a in args):
            raise UnsupportedFunctionError(
                f"JAX computes {name} for real arguments only, and this one is complex; "
                f"pass extra_funcs={{sympy.{name}: <a JAX function>}} to supply a complex version"
            )
        return fn(*args)

    return real


@functools.cache
def _as_array(table: Callable) -> np.ndarray:
    return np.asarray(table())


def _exact_at_integers(fn: Callable, table: Callable) -> Callable:
    """``fn`` (JAX's gamma or gammaln), given the correctly rounded ``table()[n - 1]`` at the
    integers n = 1, ..., 171, keeping ``fn``'s derivative there.

    JAX computes Γ from log Γ and is a few ulps off at the integers (``gamma(3)`` is
    1.9999999999999976), so ``floor(gamma(3))`` would be 1.
    """

    def exact(x):
        x = jnp.asarray(x)
        y = fn(x)
        values = jnp.asarray(_as_array(table), y.dtype)
        small = (jnp.floor(x) == x) & (x >= 1) & (x <= values.shape[0])
        at = values[jnp.where(small, x, 1).astype(jnp.int32) - 1]
        return jnp.where(small, y + jax.lax.stop_gradient(at - y), y)

    return exact


_erf = _real_only("erf", jsp.erf)
_erfc = _real_only("erfc", jsp.erfc)
_erfinv = _real_only("erfinv", jsp.erfinv)
_gamma = _real_only("gamma", _exact_at_integers(jsp.gamma, functools.partial(tuple, FACTORIALS)))
_loggamma = _real_only("loggamma", _exact_at_integers(jsp.gammaln, log_factorials))
_polygamma = _real_only("polygamma", reflected_polygamma(jsp.polygamma, jnp))


@jax.custom_jvp
def _acot(x):
    """``arctan(1 / x)``, SymPy's acot, whose derivative JAX would get as ``0 * inf`` at 0."""
    return jnp.arctan(1 / jnp.asarray(x))


@_acot.defjvp
def _acot_jvp(primals, tangents):
    (x,), (t,) = primals, tangents
    return _acot(x), -t / (1 + x * x)


def _common(*args):
    """What broadcasting an output to the inputs needs: their shape and dtype together (once per call)."""
    return jnp.broadcast_shapes(*(jnp.shape(a) for a in args)), jnp.result_type(*args)


def _broadcast(value, like):
    """``value`` broadcast to the inputs' shape and dtype (``like``: `_common`), for outputs that
    ignore some or whose literals alone decide their dtype (``where(c, 1, 0)``); a boolean value
    stays boolean."""
    shape, dtype = like
    value = jnp.asarray(value)
    if value.dtype != jnp.bool_:
        value = value.astype(jnp.result_type(dtype, WEAK_NUMBERS.get(value.dtype.kind, value)))
    return value if value.shape == shape else jnp.broadcast_to(value, shape)


def _stack(*args):
    """``stack(...)`` inside an expression: the arguments broadcast together, stacked on a new first axis."""
    return jnp.stack(jnp.broadcast_arrays(*args))


def _concatenate(*args):
    """``concatenate(...)`` inside an expression: joined along the first axis; scalars count as length 1."""
    return jnp.concatenate([jnp.atleast_1d(a) for a in args])


def _take(values, index):
    """Entries of the parameters (an array, or a tuple of scalar leaves) as one array; leaves
    are gathered by one op whose transpose is one op too (`jax_leaves.gather`)."""
    if type(values) is tuple:
        return gather(values[index] if type(index) is slice else tuple(values[i] for i in index))
    return values[index if type(index) is slice else np.asarray(index)]


def _mul(a, b):
    """``a * b``, where a trailing unit axis times a vector (a batched term's lifted input times
    its parameters, ``x[..., None] * v``) is ``x`` outer ``v``, a dot without contraction. XLA
    computes it as the same products, bit for bit, but its transpose in ``v`` is one
    matrix-vector product over the points, where the product's is ``x`` broadcast to
    ``(..., k)``, written out and reduced."""
    for u, v in ((a, b), (b, a)):
        if jnp.ndim(v) == 1 and jnp.shape(u)[-1:] == (1,) and _same_inexact(u, v):
            return jnp.tensordot(jnp.squeeze(u, -1), v, axes=0, precision=jax.lax.Precision.HIGHEST)
    return a * b


def _same_inexact(u, v) -> bool:
    dtype = getattr(u, "dtype", None)
    return dtype is not None and dtype == getattr(v, "dtype", None) and jnp.issubdtype(dtype, jnp.inexact)


def _arrays(*args):
    return [jnp.asarray(a) if type(a) in _PYNUM else a for a in args]


_PYNUM = frozenset({bool, int, float, complex})

#: What a JAX function takes as an input: JAX arrays (tracers too) as they are, and numbers and
#: NumPy arrays (`Inputs`), these in native byte order (JAX reads a big-endian array's bytes as
#: native ones: wrong values, or a TypeError beside a Python number).
INPUTS = Inputs(own=(jax.Array,), own_name="JAX arrays", native=True)


def _checked(*args):
    """The inputs checked and converted at the call boundary (`Inputs`), Python numbers as JAX
    scalars (`_arrays`)."""
    return _arrays(*INPUTS.convert(args))


NAMESPACE = {
    "jnp": jnp,
    "_lax": jax.lax,
    "_sp": jsp,
    "_erf": _erf,
    "_erfc": _erfc,
    "_erfinv": _erfinv,
    "_gamma": _gamma,
    "_loggamma": _loggamma,
    "_polygamma": _polygamma,
    "_acot": _acot,
    "_arrays": _arrays,
    "_checked": _checked,
    "_divide_exactly": _divide_exactly,
    "_cosh": _cosh,
    "_sinh": _sinh,
    "_sin": jax_trig.sin,
    "_cos": jax_trig.cos,
    "_sincos": jax_trig.sincos,
    "_broadcast": _broadcast,
    "_common": _common,
    "_array": array_of(lambda entries: jnp.stack(jnp.broadcast_arrays(*entries)), jnp.zeros),
    "_stack": _stack,
    "_concatenate": _concatenate,
    "_take": _take,
    "_mul": _mul,
}


def spelling(extra: dict | None = None, namespace: dict | None = None) -> Spelling:
    """The JAX spelling, optionally with more entries (the module's ``param``, ``call``, ...)."""
    return Spelling("jax", "jnp", {**JAX, **(extra or {})}, {**NAMESPACE, **(namespace or {})}, int_limit=2**31)


#: The functions ``jax.scipy.special`` computes for real arguments only (`RealOnly`; JAX's
#: ``loggamma``, ``polygamma`` and ``erfinv`` are real-only everywhere).
REAL_ONLY = frozenset({"erf", "erfc", "gamma"})
_BASE = pipeline(spelling(), mask=True, real_only=REAL_ONLY)
#: Constants folded, untaken branches masked (JAX differentiates the code it runs), and the sine
#: and cosine of one argument computed together.
PIPELINE = _BASE.then(share_sincos)
#: A module's graph: also its isomorphic sibling terms batched.
MODULE_PIPELINE = _BASE.then(batch_siblings, share_sincos)


def _as_arrays(n_in: int) -> list[str]:
    """Statements that make Python-number inputs JAX scalars: ``1 / x`` at 0 must be inf and
    ``x ** 1000`` overflow to inf, where Python's own arithmetic would raise."""
    if not n_in:
        return []
    names = ", ".join(f"a{k}" for k in range(n_in))
    return [f"{names}, = _arrays({names})"]


def build(graph: Graph, arg_tree: tuple, out_tree: tuple, options: dict) -> Built:
    """Compile ``graph`` into a function over ``jax.numpy`` for `lambdify`.

    Outputs that do not depend on every input are broadcast to the inputs' shape, and a
    Matrix output keeps its batch dimensions last, as with the NumPy backend.
    """
    real = PIPELINE.real_inputs(graph)
    graph = PIPELINE(graph)
    frame = entry_frame(graph, arg_tree, out_tree)
    n_in = len(graph.inputs)
    names = ", ".join(f"a{k}" for k in range(n_in))
    checked = [f"{names}, = _checked({names})"] if n_in else []
    prologue = [*frame.unpack, *checked, *frame.ready]
    signature = [*frame.params, "/"] if frame.params else []
    namespace = {} if real is None else {"_checked": lambda *args: real.check(_checked(*args))}
    emitted = emit(
        graph, spelling(namespace=namespace), name="_f", signature=signature, prologue=prologue, returns=frame.returns
    )
    return Built(compile_source(emitted, "jax"), emitted.source, inputs=INPUTS)


_MODULE_CACHE = LRU()


def _spell_take(var: str):
    """A vector leaf's slots: a (strided) slice where they are evenly spaced, else a gather."""

    def spell(args, slots):
        step = slots[1] - slots[0]
        if step > 0 and all(b - a == step for a, b in zip(slots, slots[1:])):
            return f"_take({var}, slice({slots[0]}, {slots[-1] + 1}, {step}))"
        return f"_take({var}, {tuple(slots)!r})"

    return spell


#: The batched ops (`sympile._transforms.batch`): ``lift`` takes Python numbers too.
BATCHED = {
    "mul": "_mul({0}, {1})",
    "lift": "jnp.expand_dims({0}, -1)",
    "vparam": _spell_take("p"),
    "vbuffer": _spell_take("b"),
    "vconst": lambda args, attr: vector_literal(attr, "jnp"),
}


def emit_module(graph: Graph, returns: Callable[[list[str]], str], call: Callable) -> tuple:
    """The function ``_f(p, b, fs, a0, a1, ...)`` of a `SymbolicModule`, cached by content.

    ``p`` holds the parameters (an array or a tuple of floats), ``b`` the buffers (a tuple of
    floats), ``fs`` the user's functions; ``call(args, attr)`` spells a ``call`` node and
    ``returns`` the return value (both must depend on the graph alone: the cache key).
    Isomorphic sibling terms are batched (`batch_siblings`): ``sum(a_i*sin(b_i*x + c_i))``
    becomes ``sin(x[..., None] * b + c) @ a`` over strided slices of ``p``, whose gradient is
    a few wide reductions instead of one per parameter.
    Returns ``(function, source)``.
    """
    return _MODULE_CACHE.get(graph.content_hash(), lambda: _emit_module(graph, returns, call))


def _emit_module(graph: Graph, returns: Callable[[list[str]], str], call: Callable) -> tuple:
    graph = MODULE_PIPELINE(graph)
    extra = {**BATCHED, "param": "p[{a}]", "buffer": "b[{a}]", "call": call}
    n_in = len(graph.inputs)
    signature = ["p", "b", "fs", *(f"a{k}" for k in range(n_in))]
    emitted = emit(graph, spelling(extra), name="_f", signature=signature, prologue=_as_arrays(n_in), returns=returns)
    return compile_source(Emitted(emitted.source, emitted.namespace, "_f"), "jax"), emitted.source
