"""Scalar leaves gathered into one vector, and a vector's cotangent split back, each in one op.

A `SymbolicModule` holds its floats as one scalar leaf each (as sympy2jax), and a batched term
reads a group of them as one vector. ``jnp.stack`` would do, but JAX transposes a stack into one
slice per leaf, and XLA on CPU compiles and runs each slice as its own kernel: for 150 floats,
150 kernels in every gradient step and about 3 s of compile. So the gather is a primitive of
its own (`gather`), linear, whose transpose is `split_p`: the k entries of the cotangent
written to k outputs by one variadic reduce (one kernel; each output the sum of its entry and
exact negative zeros, so the entry bit for bit, signed zeros and NaNs included), in chunks of
`SPLIT_CHUNK` outputs. The split is linear too and transposes back to the gather, so
``jax.grad``, ``jax.jvp``, ``jax.hessian`` and ``jax.vmap`` all compose with both.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from jax import lax
from jax.extend.core import Primitive
from jax.interpreters import ad, batching, mlir

#: Outputs per variadic reduce of the split: one kernel each; XLA's compile time grows faster
#: than linearly with a kernel's outputs.
SPLIT_CHUNK = 64


def gather(values):
    """The scalar leaves ``values`` as one vector, by one linear op (see the module docstring).

    Leaves that are not all JAX arrays (tracers included) of one shape and dtype (Python floats
    of ``make_array=False``, or leaves a user replaced) are stacked by ``jnp.asarray`` instead.
    """
    if values and all(isinstance(v, jax.Array) for v in values):
        aval = jax.typeof(values[0])
        if all(jax.typeof(v) == aval for v in values[1:]):
            return gather_p.bind(*values)
    return jnp.asarray(values)


def _negative_zero(dtype):
    """The identity of addition that keeps every summand's bits: -0.0 (in each part if complex)."""
    return -jnp.zeros((), dtype)


def _stack_last(*values):
    return jnp.stack(values, axis=-1)


def _split_last(vector):
    """``vector[..., i]`` for each ``i``, written by one variadic reduce per `SPLIT_CHUNK`."""
    k = vector.shape[-1]
    zero = _negative_zero(vector.dtype)
    position = lax.broadcasted_iota(jnp.int32, vector.shape, vector.ndim - 1)
    out = []
    for start in range(0, k, SPLIT_CHUNK):
        stop = min(start + SPLIT_CHUNK, k)
        masked = tuple(jnp.where(position == i, vector, zero) for i in range(start, stop))
        out.extend(lax.reduce(masked, (zero,) * len(masked), _add_each, (vector.ndim - 1,)))
    return out


def _add_each(a, b):
    return tuple(x + y for x, y in zip(a, b))


# -- gather: k arrays of one shape S -> one array of shape S + (k,) ----------------------------
gather_p = Primitive("sympile_gather")
gather_p.def_impl(_stack_last)
gather_p.def_abstract_eval(
    lambda *values: values[0].update(shape=(*values[0].shape, len(values)), weak_type=all(v.weak_type for v in values))
)
mlir.register_lowering(gather_p, mlir.lower_fun(_stack_last, multiple_results=False))


def _gather_transpose(cotangent, *values):
    return split_p.bind(ad.instantiate_zeros(cotangent))


def _gather_batch(args, dims):
    size = next(a.shape[d] for a, d in zip(args, dims) if d is not None)  # None: not mapped
    moved = [batching.bdim_at_front(a, d, size) for a, d in zip(args, dims)]
    return gather_p.bind(*moved), 0


ad.deflinear2(gather_p, _gather_transpose)
batching.primitive_batchers[gather_p] = _gather_batch

# -- split: one array of shape S + (k,) -> k arrays of shape S --------------------------------
split_p = Primitive("sympile_split")
split_p.multiple_results = True
split_p.def_impl(lambda vector: [vector[..., i] for i in range(vector.shape[-1])])
split_p.def_abstract_eval(lambda vector: [vector.update(shape=vector.shape[:-1])] * vector.shape[-1])
mlir.register_lowering(split_p, mlir.lower_fun(_split_last, multiple_results=True))


def _split_transpose(cotangents, vector):
    return [gather_p.bind(*map(ad.instantiate_zeros, cotangents))]


def _split_batch(args, dims):
    (vector,), (d,) = args, dims
    vector = jnp.moveaxis(vector, d, 0)
    return split_p.bind(vector), [0] * vector.shape[-1]


ad.deflinear2(split_p, _split_transpose)
batching.primitive_batchers[split_p] = _split_batch
