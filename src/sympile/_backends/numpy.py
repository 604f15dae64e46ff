"""The NumPy backend: its spelling tables (NumPy, and ``math`` for scalars) and its wrapper.

A NumPy call costs many times a Python float operation even on a scalar, so every function is
emitted twice: over ``numpy`` and over ``math``. The generated entry point takes the
``math`` variant when every argument is a Python ``float`` or ``int`` and falls back to
the NumPy one for arrays, for anything else, and wherever ``math`` objects to a value
(``math.sqrt(-1)``, an overflow): the fast path never changes a result.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np

from .._core.constants import const_value
from .._core.errors import UnsupportedFunctionError
from .._core.graph import Graph
from .._core.kinds import is_complex_literal, literal_typed
from .._core.tree import leaves, rebuild, spell, spelt_sequence, top_level
from .._core.tuning import CHUNK, CHUNK_MIN_OPS, FILL_MIN_CONSTANTS, LAZY_MATH_NODES, LINEAR_MIN_COEFFICIENTS
from .._emit.emit import Emitted, Spelling, bind, compile_source, emit
from .._emit.pipeline import Pipeline, RealInputs, pipeline, variant
from .._emit.tables import ARRAY, INFIX, LIBM, WEAK_NUMBERS, calls, vector_literal
from .._emit.wrapper import (
    NOT_A_POINT,
    Built,
    Deferred,
    Inputs,
    array_of,
    call_deferred,
    entry_frame,
    point_leaves,
    point_scalar,
    point_vector,
    spell_array,
)
from .._transforms.fuse import squares
from .._transforms.linear import blocks_of, linear_blocks
from .._transforms.maps import MAP_OPS, MapBlock, map_blocks
from .._transforms.point_dots import point_dots
from .special_functions import scipy_special

#: NumPy's spellings: the array libraries' base, and the special functions from SciPy (or mpmath).
NUMPY = {
    **ARRAY,
    "erf": "_sp.erf({0})",
    "erfc": "_sp.erfc({0})",
    "erfinv": "_sp.erfinv({0})",
    "gamma": "_sp.gamma({0})",
    "loggamma": "_sp.gammaln({0})",
    "polygamma": "_sp.polygamma({a}, {0})",
    "binomial": "_sp.binom({0}, {1})",
    "besselj": "_sp.jv({0}, {1})",
    "bessely": "_sp.yv({0}, {1})",
    "lambertw": "_lambertw({0}, {a})",
    "where": "_where({0}, {1}, {2})",
    "vconst": lambda args, attr: vector_literal(attr, "np"),
    "pstack": lambda args, attr: f"np.array([{', '.join(args)}])",
}

#: A graph with complex constants: its values at one point are Python complex numbers (a complex
#: literal times a NumPy float is one), and Python's complex power raises ``OverflowError`` (to an
#: integer power too) and its division ``ZeroDivisionError`` where NumPy's give inf or NaN; NumPy's
#: functions keep a float32 input's complex64 (the literal is weak).
NUMPY_COMPLEX = {
    **NUMPY,
    "pow": "np.power({0}, {1})",
    "powi": "np.power({0}, {a})",
    "div": "np.true_divide({0}, {1})",
}

#: Constants folded, untaken branches masked (which also spares the user NaN warnings from
#: values never selected); the array code then squares with ``np.square``.
PIPELINE = pipeline(Spelling("numpy", "np", NUMPY), mask=True)
ARRAYS = Pipeline((point_dots, squares))


def _where(c, a, b):
    return np.where(c, a, b)[()]  # a scalar, not a 0-d array, for scalar arguments


def _lambertw(x, k):
    w = _special_functions().lambertw(x, k)
    if np.iscomplexobj(x):
        return w
    # Real arguments get real values, and NaN where the branch is complex.
    dtype = np.asarray(x).dtype if np.asarray(x).dtype.kind == "f" else np.dtype(np.float64)
    return np.where(w.imag == 0, w.real, np.nan).astype(dtype)[()]


def _common(*args):
    """What broadcasting an output to the inputs needs: their broadcast shape and dtype together.

    Worked out once per call, however many outputs ignore some input (`entry_frame`).
    """
    return np.broadcast_shapes(*(np.shape(a) for a in args)), np.result_type(*args)


def _broadcast(value, like):
    """``value`` broadcast to the shape and dtype of the inputs together (``like``: `_common`).

    The dtype is the inputs' with ``value``'s kind of number (`_output_dtype`): ``where(c, 1, 0)``
    beside float32 inputs is float32, not int64; a boolean value stays boolean.
    """
    shape, dtype = like
    dt = _output_dtype(value, dtype)
    if dt is None:  # NumPy's own promotion (an int beyond int64 with the inputs' dtype)
        dt = np.result_type(value, dtype)
    if np.shape(value) == shape:
        if type(value) in _PYNUM:  # a literal at one point: a NumPy scalar, as an array entry would be
            return np.asarray(value, dt)[()]
        return value if value.dtype == dt else value.astype(dt)
    return np.broadcast_to(value, shape).astype(dt)


_PYNUM = frozenset({float, int, complex, bool})
_KIND = {float: "f", int: "i", complex: "c", bool: "b"}


def _output_dtype(value, dtype):
    """The dtype of an output ``value`` beside inputs of ``dtype``: ``dtype`` with the value's kind of
    number (bool stays bool; None where NumPy has no dtype for it: an int beyond int64)."""
    kind = _KIND.get(type(value)) or getattr(getattr(value, "dtype", None), "kind", None)
    if kind == "b":
        return np.dtype(np.bool_)
    weak = WEAK_NUMBERS.get(kind)
    if weak is None:
        return None
    return np.result_type(dtype, weak)


def _as_numpy(*args):
    """Python numbers as NumPy scalars, typed as NumPy would treat them beside the arrays.

    Beside a float32 array a Python float is a float32 (NumPy's weak scalars); alone, a
    float64. Arithmetic on NumPy scalars gives inf and NaN where Python's raises.
    """
    arrays = [a for a in args if type(a) not in _PYNUM]
    out = []
    for a in args:
        if type(a) not in _PYNUM or type(a) is bool:
            out.append(a)
            continue
        v = np.asarray(a)
        if v.dtype.kind == "O":  # an int beyond int64: leave it to Python
            out.append(a)
            continue
        if arrays:
            v = np.asarray(a, dtype=np.result_type(*arrays, a))
        out.append(v[()])
    return out


#: What a NumPy function takes as an input (`Inputs`: numbers and arrays of numbers).
INPUTS = Inputs()
#: The native numeric dtypes: arrays of these the array code takes as they are (other inputs
#: but NumPy's numeric scalars go through `_inputs`), a set lookup cheaper than a dtype's kind.
_NUMERIC_DTYPES = frozenset(np.dtype(c) for c in "?bhilqpBHILQPefdgFDG")
#: NumPy's numeric scalar types, taken as they are too.
_NUMERIC_SCALARS = frozenset(dt.type for dt in _NUMERIC_DTYPES)
#: The same without the complex ones: what an input that must be real (`RealInputs`) is taken
#: as without a closer look.
_REAL_DTYPES = frozenset(dt for dt in _NUMERIC_DTYPES if dt.kind != "c")
_REAL_SCALARS = frozenset(dt.type for dt in _REAL_DTYPES)


def _inputs(*args):
    """The inputs checked and converted at the call boundary (`Inputs`), Python numbers as NumPy
    scalars (`_as_numpy`): what the array code runs on anything but plain numeric arrays."""
    args = INPUTS.convert(args)
    for a in args:
        if type(a) in _PYNUM:
            return _as_numpy(*args)
    return args


_SPECIAL_FUNCTIONS = None


def _special_functions():
    global _SPECIAL_FUNCTIONS
    if _SPECIAL_FUNCTIONS is None:
        _SPECIAL_FUNCTIONS = scipy_special()
    return _SPECIAL_FUNCTIONS


def _namespace(real: RealInputs | None = None) -> dict:
    """The array code's globals; with ``real``, its inputs that must be real are checked (a
    complex one goes through ``_inputs``, which refuses it)."""
    return {
        "np": np,
        "_sp": _special_functions(),
        "_lambertw": _lambertw,
        "_where": _where,
        "_broadcast": _broadcast,
        "_common": _common,
        "_filled": _filled,
        "_array": array_of(np.array, np.zeros),
        "_ND": np.ndarray,
        "_NUMERIC": _NUMERIC_DTYPES,
        "_SCALARS": _NUMERIC_SCALARS,
        "_REAL": _REAL_DTYPES,
        "_RSCALARS": _REAL_SCALARS,
        "_inputs": _inputs if real is None else lambda *args: real.check(_inputs(*args)),
    }


def _minimum(a, b):
    return a if a <= b else b if b < a else a + b  # NaN propagates, as in NumPy


def _maximum(a, b):
    return a if a >= b else b if b > a else a + b


def _sign(x):
    return 1.0 if x > 0 else -1.0 if x < 0 else x * 0.0


def _floor(x):
    return float(math.floor(x))


def _ceil(x):
    return float(math.ceil(x))


_cbrt = getattr(math, "cbrt", lambda x: math.copysign(abs(x) ** (1 / 3), x))


def _binomial(n, k):
    return float(_special_functions().binom(n, k))


#: Python's ``math`` module for scalars: C's libm names (`LIBM`), and what differs.
MATH = {
    **INFIX,
    **calls(LIBM, "_m_"),
    "pow": "_pow({0}, {1})",
    "cbrt": "_cbrt({0})",
    "abs": "abs({0})",
    "sign": "_sign({0})",
    "floor": "_floor({0})",
    "ceiling": "_ceil({0})",
    "mod": "{0} % {1}",
    "min": "_minimum({0}, {1})",
    "max": "_maximum({0}, {1})",
    "where": "({1} if {0} else {2})",
    "and": "({0} and {1})",
    "or": "({0} or {1})",
    "xor": "(bool({0}) != bool({1}))",
    "not": "(not {0})",
    "gamma": "_m_gamma({0})",
    "loggamma": "_m_lgamma({0})",
    "binomial": "_binomial({0}, {1})",  # SciPy's, as in the array code: exact for small integers
    "re": "{0}",
    "conjugate": "{0}",
}


def _as_float(value, ints: bool):
    """An output that literals alone decide (a constant, a select between constants) at one point:
    a float, as every other output is, unless every input is an int (NumPy's rule)."""
    return value if ints else float(value)


MATH_NAMESPACE = {
    # ``_m_sin``: a global lookup instead of a global and an attribute
    **{f"_m_{name}": getattr(math, name) for name in dir(math) if not name.startswith("_")},
    "_pow": math.pow,
    "_cbrt": _cbrt,
    "_sign": _sign,
    "_floor": _floor,
    "_ceil": _ceil,
    "_minimum": _minimum,
    "_maximum": _maximum,
    "_binomial": _binomial,
    "_as_float": _as_float,
}

#: The scalar code is the prepared graph with the ops ``math`` lacks decomposed; written, its
#: long sums of functions of linear forms are map blocks and its large linear blocks matrix
#: products (NumPy calls that replace many scalar operations).
MATH_VARIANT = variant(Spelling("math", None, MATH))
MATH_BLOCKS = Pipeline((map_blocks, lambda graph: linear_blocks(graph, LINEAR_MIN_COEFFICIENTS)))

#: The default of the entry's parameters, marking an argument not given; also what
#: `point_scalar` gives for a value that is not one point (an argument not given is not one).
_NO = NOT_A_POINT

#: What the ``math`` variant may raise where NumPy would return inf or NaN instead.
_FALLBACK = (ArithmeticError, ValueError, TypeError)


def _scalar_graph(graph: Graph, complex_constants: bool) -> Graph | None:
    """The graph of the scalar code (before its blocks), or None where ``math`` cannot compute it."""
    if complex_constants:
        return None
    try:
        return MATH_VARIANT(graph)
    except UnsupportedFunctionError:
        return None


def _matvec(c, b, xs):
    """``b + c @ xs`` for the ``math`` variant: the rows as a list of Python floats."""
    return (c @ np.array(xs, dtype=np.float64) + b).tolist()


def _math_spelling(graph: Graph) -> Spelling:
    """The spelling of the scalar code of ``graph``: `MATH`, and its map and linear blocks
    (named ``_ms0, ...`` and ``_lc0, _lb0, ...`` in its namespace)."""
    namespace, table = dict(MATH_NAMESPACE), dict(MATH)
    maps = {n.attr: k for k, n in enumerate(n for n in graph.nodes if n.op == "mapsum")}
    matrices = {block: k for k, block in enumerate(blocks_of(graph))}
    for block, k in maps.items():
        namespace[f"_ms{k}"] = _map_sum(block)
    for block, k in matrices.items():
        namespace[f"_lc{k}"] = np.array(block.coefficients, dtype=np.float64).T.copy()
        namespace[f"_lb{k}"] = np.array(block.offsets, dtype=np.float64)
    namespace["_matvec"] = _matvec
    table["mapsum"] = lambda args, block: f"_ms{maps[block]}({', '.join(args)})"
    table["matvec"] = lambda args, block: f"_matvec(_lc{matrices[block]}, _lb{matrices[block]}, ({', '.join(args)},))"
    table["mvrow"] = lambda args, at: f"{args[0]}[{at[1]}]"
    return Spelling("math", None, table, namespace)


def _map_sum(block: MapBlock) -> Callable[..., float]:
    """The map block's value from its bases' values (Python numbers), as a Python float.

    The ufuncs are called directly, in place on one fresh array (a shared buffer would race
    between threads): a matrix product, an add, one call per function, and a dot product.
    """
    c = np.array(block.coefficients, dtype=np.float64)
    b = np.array(block.offsets, dtype=np.float64)
    w = np.array(block.weights, dtype=np.float64)
    multiply, add, dot = np.multiply, np.add, np.dot
    functions = [(getattr(np, MAP_OPS[op]), start, stop) for op, start, stop in block.segments]
    if len(functions) == 1:
        ((f, _, _),) = functions

        def apply(u):
            return f(u, out=u)

    else:

        def apply(u):
            for f, start, stop in functions:
                part = u[start:stop]
                f(part, out=part)
            return u

    if len(c) == 1:
        (c0,) = c

        def one_base(x):
            u = multiply(c0, x)
            add(u, b, out=u)
            return float(dot(w, apply(u)))

        return one_base
    ct = np.ascontiguousarray(c.T)

    def bases(*xs):
        u = dot(ct, xs)
        add(u, b, out=u)
        return float(dot(w, apply(u)))

    return bases


def _filled(layout, entries, like):
    """An array output most of whose entries are constants (a sparse Jacobian): the constants'
    template filled in, then the computed ``entries`` put at their places; the same array as
    stacking every entry (``_array``), without making an array per constant.

    ``layout`` is ``(shape, template, places, samples)``: the template holds the constants (0 at
    the computed places), ``samples`` one Python value of each constant's type (for the dtype,
    as NumPy types Python numbers beside arrays); ``like`` is the inputs' `_common`, or None for
    one point.
    """
    shape, template, places, samples = layout
    values = np.array(entries) if entries else np.zeros((0, *(like[0] if like is not None else ())))
    dtype = np.result_type(values, *samples) if like is None else np.result_type(values, like[1], *samples)
    batch = values.shape[1:]
    out = np.empty((template.size, *batch), dtype)
    out[...] = template.reshape(-1, *(1,) * len(batch))
    out[places] = values
    return out.reshape(shape + batch)


def _returns(graph: Graph, out_tree: tuple, layouts: dict, prefix: str, texts: list[str], like: str) -> str:
    """The return value's text: the outputs' ``texts`` in the output structure. An array output
    with at least `FILL_MIN_CONSTANTS` constant entries, half of them or more, is `_filled` from a
    template (its layout put in ``layouts`` as ``{prefix}0, ...``); others are stacked (``_array``)."""
    nodes, outputs = graph.nodes, graph.outputs

    def array(shape, ks):
        consts = [k for k in ks if nodes[outputs[k]].op == "const"]
        if len(consts) < FILL_MIN_CONSTANTS or 2 * len(consts) < len(ks):
            return spell_array(shape, [texts[k] for k in ks])
        values = {k: const_value(nodes[outputs[k]].attr) for k in consts}
        template = np.array([values.get(k, 0) for k in ks])
        places = np.array([i for i, k in enumerate(ks) if k not in values], dtype=np.intp)
        samples = tuple({type(v): v for v in values.values()}.values())
        name = f"{prefix}{len(layouts)}"
        layouts[name] = (tuple(shape), template, places, samples)
        computed = ", ".join(texts[k] for k in ks if k not in values)
        return f"_filled({name}, [{computed}], {like})"

    return rebuild(out_tree, texts.__getitem__, array, spelt_sequence)


def _chunked(flat, args):
    """``flat(*args)``, by blocks of `CHUNK` elements along the leading axis when that pays."""
    for a in args:
        if type(a) is np.ndarray and a.size >= 2 * CHUNK:
            break
    else:
        return flat(*args)
    shapes = [np.shape(a) for a in args]
    shape = np.broadcast_shapes(*shapes)
    lead, ndim = shape[0], len(shape)
    rows = max(1, CHUNK // max(1, math.prod(shape[1:])))
    if lead < 2 * rows:
        return flat(*args)
    cut = [len(sh) == ndim and sh[0] == lead for sh in shapes]
    outs = None
    for start in range(0, lead, rows):
        part = flat(*[a[start : start + rows] if c else a for a, c in zip(args, cut)])
        if outs is None:
            outs = [np.empty(shape, np.result_type(v)) for v in part]
        for o, v in zip(outs, part):
            o[start : start + rows] = v
    return outs


def build(graph: Graph, arg_tree: tuple, out_tree: tuple, options: dict) -> Built:
    """Compile ``graph`` into a Python function with the given argument and output structure.

    The source holds ``_f_numpy`` (arrays; through ``_f_flat`` and `_chunked` for a large
    graph) and ``_call``, which runs the same computation spelt with ``math`` when every
    argument is a Python number (`Built.method`; ``_f`` is it without an owner).
    """
    real = PIPELINE.real_inputs(graph)
    graph = PIPELINE(graph)
    frame = entry_frame(graph, arg_tree, out_tree)
    params = frame.params
    n_in = len(graph.inputs)
    flat_args = ", ".join(f"a{k}" for k in range(n_in))
    unpack = frame.unpack
    if n_in:  # anything but numeric arrays is checked and converted (Python numbers to NumPy scalars:
        # 1/0.0 must be inf, not ZeroDivisionError), each input looked at once; complex values of
        # inputs that must be real go to _inputs too, which refuses them
        must_be_real = real.slots if real is not None else {}
        kinds = [("_REAL", "_RSCALARS") if k in must_be_real else ("_NUMERIC", "_SCALARS") for k in range(n_in)]
        plain = " and ".join(
            f"(type(a{k}) is _ND and a{k}.dtype in {dts} or type(a{k}) in {scalars})"
            for k, (dts, scalars) in enumerate(kinds)
        )
        unpack = [*unpack, f"if not ({plain}):", f"    {flat_args}, = _inputs({flat_args})"]
    arrays = ARRAYS(graph)
    complex_constants = any(n.op == "const" and is_complex_literal(n.attr) for n in graph.nodes)
    numpy = Spelling("numpy", "np", NUMPY_COMPLEX if complex_constants else NUMPY, _namespace(real))
    if n_in > 0 and sum(1 for n in arrays.nodes if n.args) >= CHUNK_MIN_OPS:  # large inputs in blocks
        flat = emit(
            arrays,
            numpy,
            name="_f_flat",
            signature=[f"a{k}" for k in range(n_in)],
            prologue=frame.ready,
            returns=lambda outs: "(" + "".join(f"{t}, " for t in frame.outputs(outs)) + ")",
        )
        namespace = dict(flat.namespace, _chunked=_chunked)
        ret = spell(out_tree, [f"_o[{k}]" for k in range(len(graph.outputs))], spell_array)
        top = (
            f"def _f_numpy({', '.join(_positional(params))}):\n"
            + "".join(f"    {line}\n" for line in unpack)
            + f"    _o = _chunked(_f_flat, ({flat_args},))\n    return {ret}\n"
        )
        parts = [flat.source, top]
    else:
        layouts: dict = {}
        whole = emit(
            arrays,
            numpy,
            name="_f_numpy",
            signature=_positional(params),
            prologue=unpack + frame.ready,
            returns=lambda outs: _returns(
                arrays, out_tree, layouts, "_F", frame.outputs(outs), "_like" if n_in else "None"
            ),
        )
        namespace = dict(whole.namespace, **layouts)
        parts = [whole.source]
    scalar = _scalar_graph(graph, complex_constants)
    if scalar is None:
        source = "\n".join(parts)
        fn = compile_source(Emitted(source, namespace, "_f_numpy"), "numpy")
        return Built(fn, source, inputs=INPUTS)

    def math_body() -> Emitted:
        blocked = MATH_BLOCKS(scalar)
        layouts: dict = {}
        # outputs whose literals alone decide their type are floats unless every input is an int
        literal = literal_typed(blocked)
        typed = [n_in > 0 and literal[o] for o in blocked.outputs]
        ints = " and ".join(f"type(a{k}) is int" for k in range(n_in))
        body = emit(
            blocked,
            _math_spelling(blocked),
            name="_f_math",
            signature=[f"a{k}" for k in range(n_in)],
            prologue=[f"_ints = {ints}"] if any(typed) else [],
            returns=lambda outs: _returns(
                blocked,
                out_tree,
                layouts,
                "_G",
                [f"_as_float({t}, _ints)" if ty else t for t, ty in zip(outs, typed)],
                "None",
            ),
            chains=True,
        )
        body.namespace.update(layouts)
        return body

    lazy = len(graph.nodes) > LAZY_MATH_NODES
    if not lazy:  # the math body inline: one call fewer
        body = math_body()
        namespace.update(body.namespace)
        lines = "".join(f"{' ' * 16}{line}\n" for line in body.source.splitlines()[1:])
    else:  # written and compiled on the first scalar call: most large functions never see one
        lines = f"                    return _f_math({flat_args})\n"
    namespace.update(_NO=_NO, _FALLBACK=_FALLBACK, _scalar=point_scalar, _vector=point_vector, _leaves=point_leaves)
    namespace.update(_Deferred=Deferred, _deferred=call_deferred)
    parts.append(_call_source(arg_tree, lines))
    source = "\n".join(parts)
    fn = compile_source(Emitted(source, namespace, "_f"), "numpy")
    if lazy:
        bind(fn, _f_math=_compile_later(math_body, fn.__globals__))
        source += "\n# _f_math, the same computation on Python floats, is written on the first such call\n"
    return Built(fn, source, method=fn.__globals__["_call"], inputs=INPUTS)


def _positional(params: list[str]) -> list[str]:
    """Parameters taken by position only: ``f(x=1)`` is a diagnosed error, not a call by the
    generated names."""
    return [*params, "/"] if params else params


def _call_source(arg_tree: tuple, math_lines: str) -> str:
    """The entry point ``_call(self, g0, g1, ...)``: the one call boundary of a NumPy function.

    When the arguments are one point (`sympile._emit.wrapper.point_scalar`, `point_vector`,
    `point_leaves`: Python or NumPy float64 numbers, 1-D float64 state vectors or lists of
    numbers through nested arguments) they become Python numbers ``a0, a1, ...`` and
    ``math_lines`` (the ``math``-spelt body) runs on them; anything else, or a value that
    ``math`` objects to, goes to ``_f_numpy``. Each argument is looked at once: the cost
    grows with the number of inputs, never with outputs x inputs.

    ``_call`` becomes the LambdifiedFunction's own ``__call__`` (one Python frame per call, as
    for a plain function). The parameters are positional-only with a default, ``*_x`` takes
    any surplus and ``**_k`` any keywords, so that no argument tuple is built or unpacked on
    the way in and a wrong count or a keyword still reaches the diagnosis, as does an input
    refused at the boundary (`Inputs`, in ``_f_numpy``) or a failing NumPy call. ``_f`` is the
    same function without the object.
    """
    tops = top_level(arg_tree)
    names = [f"g{k}" for k in range(len(tops))]
    convert, ready, unpack = [], [], []
    for name, t in zip(names, tops):
        if t[0] == "leaf":
            convert.append(f"a{t[1]} = {name} if type({name}) is float else _scalar({name})")
            ready.append(f"a{t[1]} is not _NO")
            continue
        targets = ", ".join(f"a{k}" for k in leaves(t))
        if all(s[0] == "leaf" for s in t[1]):
            convert.append(f"_v{name} = _vector({name}, {len(t[1])})")
        else:
            convert.append(f"_v{name} = _leaves({name}, _T{name})")
        ready.append(f"_v{name} is not None")
        unpack.append(f"{targets}, = _v{name}")
    call = ", ".join(names)
    signature = "".join(f", {p}=_NO" for p in names) + (", /" if names else "")
    pad = " " * 16
    point = (
        "".join(f"            {line}\n" for line in convert)
        + f"            if {' and '.join(ready) or 'True'}:\n"
        + "".join(f"{pad}{line}\n" for line in unpack)
        + f"{pad}try:\n{math_lines}{pad}except _FALLBACK:\n{pad}    pass\n"
    )
    missing = f"_x or _k or {names[-1]} is _NO" if names else "_x or _k"
    given = f"tuple(_v for _v in ({call}, *_x) if _v is not _NO)" if names else "_x"
    trees = "".join(
        f"_T{name} = {t!r}\n" for name, t in zip(names, tops) if t[0] != "leaf" and any(s[0] != "leaf" for s in t[1])
    )
    return (
        f"{trees}def _call(self{signature}, *_x, **_k):\n    try:\n        if not (_x or _k):\n{point}"
        f"        if {missing}:\n"
        f"            raise TypeError('this function takes {len(names)} argument(s)')\n"
        f"        return _f_numpy({call})\n"
        "    except _Deferred:\n"  # a lazy (Dask) array, refused by the boundary unread
        f"        return _deferred(self, {given}, _k)\n"
        "    except (ValueError, TypeError) as _e:\n"
        f"        _p = None if self is None else self._diagnose({given}, _k)\n"
        "        if _p is None:\n            raise\n        raise _p from _e\n\n\n"
        "def _f(*_a):\n    return _call(None, *_a)\n"
    )


def _compile_later(make: Callable[[], Emitted], namespace: dict):
    def first_call(*args):
        emitted = make()
        fn = compile_source(Emitted(emitted.source, {**namespace, **emitted.namespace}, emitted.name), "math")
        namespace[emitted.name] = fn
        return fn(*args)

    return first_call
