"""Compiled functions over Dask arrays: one lazy Dask array per output, computed block by block.

``f(dx, dy)`` with a Dask array among the arguments reaches `evaluate` from the call boundary
(`sympile._emit.wrapper.call_deferred`). Nothing is computed here: the function's flat form (one
argument per input, one result per output: same graph, same backend) is mapped over the
broadcast blocks of the inputs with ``dask.array.apply_gufunc`` (elementwise signature, one task
per block, every output from that one task), with each output's dtype from a call on one point
of each input's dtype. Other inputs go in as they are: Python numbers stay Python numbers (so a
float32 array beside ``2.0`` stays float32, as in NumPy), NumPy arrays become one-block Dask
arrays. The result has the structure of the in-memory call's (a Matrix output: the entries
stacked, batch dimensions last).

The task function holds the compiled function, which pickles by value (its graph, backend and
options): a worker rebuilds it on first use into its own per-process cache, and the C backend
compiles its kernel there into the worker's cache directory (``SYMPILE_CACHE_DIR``), once per
worker and toolchain. No shared file system is assumed.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from .._core.errors import ArgumentError, ShapeError, SympileError
from .._core.tree import mismatch, rebuild, top_level
from .._emit.wrapper import Inputs
from .._functions.lambdify import LambdifiedFunction, flat_form


def dask_array():
    """``dask.array``, or an error naming the extra that installs it."""
    try:
        import dask.array as da
    except ImportError as e:  # pragma: no cover - the test extra installs dask
        raise SympileError("Dask is not installed: pip install 'sympile[dask]'") from e
    return da


class BlockCall:
    """The task run on each block: the flat function at the block's inputs, each output broadcast
    to the block's shape. ``slots`` says, per flat input, which array argument it is (an int) or
    the constant it is (a 1-tuple holding a Python or NumPy number)."""

    def __init__(self, flat: LambdifiedFunction, slots: list, kwargs: dict):
        self.flat = flat
        self.slots = slots
        self.kwargs = kwargs
        self.single = False  # a lone output is returned as an array (Dask's one-output gufunc)

    def __call__(self, *blocks):
        # a block received from another worker may be unaligned in its message buffer, which the
        # C kernels refuse: such a block is copied (an aligned one is passed as it is)
        blocks = [b if b.flags.aligned else np.array(b) for b in blocks]
        values = [blocks[s] if type(s) is int else s[0] for s in self.slots]
        shape = np.broadcast_shapes(*(np.shape(b) for b in blocks))
        outs = tuple(np.broadcast_to(np.asarray(o), shape) for o in self.flat(*values, **self.kwargs))
        return outs[0] if self.single else outs


def evaluate(function: LambdifiedFunction, args: tuple, kwargs: dict) -> Any:
    """``function(*args, **kwargs)`` with Dask arrays among ``args``, as lazy Dask arrays."""
    da = dask_array()
    wrong = [k for k in kwargs if k != "threads"]
    if wrong:
        raise ArgumentError(
            f"with Dask arrays a compiled function takes no {', '.join(f'{k}=' for k in wrong)} "
            "(each block's outputs are new arrays; store the result with dask.array.store)"
        )
    leaves = _leaves(function, args, da)
    names = [str(s) for s in function.graph.inputs]
    inputs = function.built.inputs or Inputs()
    arrays: list = []
    slots: list = []
    for name, v in zip(names, leaves):
        if not isinstance(v, da.Array):
            refused = inputs.what_was_refused(v)
            if refused is not None:
                raise ArgumentError(f"{name} is {refused}; the {function.backend} backend takes {inputs.accepted()}")
            v = inputs.one(v)
            if np.ndim(v) == 0:
                slots.append((v,))
                continue
            v = da.from_array(np.asarray(v), chunks=-1)
        elif v.dtype.kind not in ("biufc" if inputs.complex else "biuf"):
            raise ArgumentError(
                f"{name} is a Dask array of dtype {v.dtype}; the {function.backend} backend takes {inputs.accepted()}"
            )
        slots.append(len(arrays))
        arrays.append((name, v))
    _check_shapes(arrays)
    flat = flat_form(function.graph, function.backend, function._options)
    call = BlockCall(flat, slots, dict(kwargs))
    dtypes = _output_dtypes(call, [a for _, a in arrays])
    n_out = len(dtypes)
    call.single = n_out == 1
    if n_out == 0:
        return rebuild(function._out_tree, lambda k: None, lambda shape, ks: np.zeros(shape))
    signature = ",".join("()" for _ in arrays) + "->" + ",".join("()" for _ in range(n_out))
    outs = da.apply_gufunc(
        call, signature, *_aligned(arrays, da), output_dtypes=dtypes if n_out > 1 else dtypes[0], vectorize=False
    )
    outs = list(outs) if n_out > 1 else [outs]

    def stacked(shape, ks):
        a = da.stack([outs[k] for k in ks])
        return a.reshape(tuple(shape) + a.shape[1:])

    return rebuild(function._out_tree, outs.__getitem__, stacked)


def _leaves(function: LambdifiedFunction, args: tuple, da) -> list:
    """The flat inputs of the call, in order; a Dask array given for a nested argument is split
    along its first axis (as iterating a NumPy array would), after its length is checked."""
    tops = top_level(function._arg_tree)
    if len(args) != len(tops):
        raise ArgumentError(f"this function takes {len(tops)} argument(s), but {len(args)} were given")
    leaves: list = []
    for i, (t, a) in enumerate(zip(tops, args)):
        error = _nested_mismatch(t, a, leaves, da)
        if error:
            raise ArgumentError(f"argument {i + 1}: {error}")
    return leaves


def _nested_mismatch(tree: tuple, value: Any, leaves: list, da) -> str | None:
    if tree[0] == "leaf":
        leaves.append(value)
        return None
    if isinstance(value, da.Array):
        if value.ndim == 0 or value.shape[0] != len(tree[1]):
            return (
                f"expected a sequence of {len(tree[1])} for a nested argument, got a Dask array of shape {value.shape}"
            )
        value = [value[j] for j in range(len(tree[1]))]
    if isinstance(value, (list, tuple)) and len(value) == len(tree[1]):
        for t, v in zip(tree[1], value):
            error = _nested_mismatch(t, v, leaves, da)
            if error:
                return error
        return None
    return mismatch(tree, value, leaves)


def _unknown(a) -> bool:
    return any(math.isnan(c) for dim in a.chunks for c in dim)


def _check_shapes(arrays: list) -> None:
    """Chunk sizes must be known wherever blocks must line up (more than one array), and the
    shapes must broadcast together."""
    if len(arrays) > 1:
        for name, a in arrays:
            if _unknown(a):
                raise ShapeError(
                    f"{name} is a Dask array of unknown chunk sizes (NaN in .chunks, as after filtering or "
                    "from a DataFrame); its blocks cannot be lined up with the other inputs': call "
                    ".compute_chunk_sizes() on it first (or .to_dask_array(lengths=True) on a Dask column)"
                )
    try:
        np.broadcast_shapes(*(a.shape for _, a in arrays if not _unknown(a)))
    except ValueError:
        listing = ", ".join(f"{n}: {a.shape}" for n, a in arrays)
        raise ShapeError(f"the arguments' shapes do not broadcast together ({listing})") from None


def _aligned(arrays: list, da) -> list:
    """The arrays rechunked so that their blocks line up (broadcast axes of length 1 aside)."""
    if len(arrays) == 1:
        return [arrays[0][1]]
    ndim = max(a.ndim for _, a in arrays)
    letters = "abcdefghijklmnopqrstuvwxyz"[:ndim]
    pairs = [x for _, a in arrays for x in (a, letters[ndim - a.ndim :])]
    return list(da.core.unify_chunks(*pairs)[1])


def _output_dtypes(call: BlockCall, arrays: list) -> list:
    """Each output's dtype, from the function at one point of each array's dtype."""
    points = [np.ones((1,) * a.ndim, a.dtype) for a in arrays]
    with np.errstate(all="ignore"):
        outs = call(*points)
    return [np.asarray(o).dtype for o in outs]
