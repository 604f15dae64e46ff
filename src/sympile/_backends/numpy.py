"""The NumPy backend: its spelling tables (NumPy, and ``math`` for scalars) and its wrapper.

NumPy pays about a microsecond per operation even on a scalar, so every function is
emitted twice: over ``numpy`` and over ``math``. The generated entry point takes the
``math`` variant when every argument is a Python ``float`` or ``int`` and falls back to
the NumPy one for arrays, for anything else, and wherever ``math`` objects to a value
(``math.sqrt(-1)``, an overflow): the fast path never changes a result.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np

from .._core.graph import Graph
from .._core.tree import arg_targets, spell
from .._emit.emit import ARRAY_FORMS, INFIX, Emitted, Spelling, compile_source, emit, schedule
from .._transforms.batch import BATCH_FORMS, vector_literal
from .._transforms.fold import fold_constants
from .._transforms.linear import MAP_OPS, MapBlock, linear_blocks, map_blocks
from .._transforms.mask import mask_branches
from .special_functions import scipy_special

NUMPY = {
    **ARRAY_FORMS,
    "square": "np.square({0})",  # x * x (emit: x read once, so written inline when used once)
    "erf": "_sp.erf({0})",
    "erfc": "_sp.erfc({0})",
    "erfinv": "_sp.erfinv({0})",
    "gamma": "_sp.gamma({0})",
    "loggamma": "_sp.gammaln({0})",
    "polygamma": "_sp.polygamma({a}, {0})",
    "factorial": "_sp.gamma({0} + 1)",
    "binomial": "_sp.binom({0}, {1})",
    "besselj": "_sp.jv({0}, {1})",
    "bessely": "_sp.yv({0}, {1})",
    "lambertw": "_lambertw({0}, {a})",
    "heaviside": "np.heaviside({0}, {1})",
    "where": "_where({0}, {1}, {2})",
    # batched graphs (_batch.py), for backends and tools that emit them over NumPy
    **BATCH_FORMS,
    "vconst": lambda args, attr: vector_literal(attr, "np"),
}


def _where(c, a, b):
    return np.where(c, a, b)[()]  # a scalar, not a 0-d array, for scalar arguments


def _lambertw(x, k):
    w = _SPECIAL.lambertw(x, k)
    if np.iscomplexobj(x):
        return w
    # Real arguments get real values, and NaN where the branch is complex.
    dtype = np.asarray(x).dtype if np.asarray(x).dtype.kind == "f" else np.dtype(np.float64)
    return np.where(w.imag == 0, w.real, np.nan).astype(dtype)[()]


def _broadcast(value, args):
    """``value`` broadcast to the shape (and dtype) of the arguments together."""
    shape = np.broadcast_shapes(*(np.shape(a) for a in args))
    if np.shape(value) == shape:
        return value
    return np.broadcast_to(value, shape).astype(np.result_type(value, *args))


_PYNUM = frozenset({float, int, complex, bool})


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


def _array(shape, entries):
    """A Matrix/Array output: entries in row-major order, batch dimensions last."""
    if not entries:
        return np.zeros(shape)
    a = np.array(entries)
    return a.reshape(tuple(shape) + a.shape[1:])


_SPECIAL = None


def _namespace() -> dict:
    global _SPECIAL
    if _SPECIAL is None:
        _SPECIAL = scipy_special()
    return {
        "np": np,
        "_sp": _SPECIAL,
        "_lambertw": _lambertw,
        "_where": _where,
        "_broadcast": _broadcast,
        "_array": _array,
        "_PYNUM": _PYNUM,
        "_as_numpy": _as_numpy,
    }


def _minimum(a, b):
    return a if a <= b else b if b < a else a + b  # NaN propagates, as in NumPy


def _maximum(a, b):
    return a if a >= b else b if b > a else a + b


def _sign(x):
    return 1.0 if x > 0 else -1.0 if x < 0 else x * 0.0


def _heaviside(x, h):
    return 1.0 if x > 0 else 0.0 if x < 0 else h if x == 0 else x


def _sinc(x):
    return math.sin(x) / x if x else 1.0


def _floor(x):
    return float(math.floor(x))


def _ceil(x):
    return float(math.ceil(x))


_cbrt = getattr(math, "cbrt", lambda x: math.copysign(abs(x) ** (1 / 3), x))

MATH = {
    **INFIX,
    "pow": "_pow({0}, {1})",
    "sqrt": "_m.sqrt({0})",
    "rsqrt": "1 / _m.sqrt({0})",
    "cbrt": "_cbrt({0})",
    "exp": "_m.exp({0})",
    "expm1": "_m.expm1({0})",
    "log": "_m.log({0})",
    "log1p": "_m.log1p({0})",
    "sin": "_m.sin({0})",
    "cos": "_m.cos({0})",
    "tan": "_m.tan({0})",
    "cot": "1 / _m.tan({0})",
    "sec": "1 / _m.cos({0})",
    "csc": "1 / _m.sin({0})",
    "asin": "_m.asin({0})",
    "acos": "_m.acos({0})",
    "atan": "_m.atan({0})",
    "acot": "_m.atan(1 / {0})",
    "asec": "_m.acos(1 / {0})",
    "acsc": "_m.asin(1 / {0})",
    "atan2": "_m.atan2({0}, {1})",
    "sinh": "_m.sinh({0})",
    "cosh": "_m.cosh({0})",
    "tanh": "_m.tanh({0})",
    "coth": "1 / _m.tanh({0})",
    "sech": "1 / _m.cosh({0})",
    "csch": "1 / _m.sinh({0})",
    "asinh": "_m.asinh({0})",
    "acosh": "_m.acosh({0})",
    "atanh": "_m.atanh({0})",
    "acoth": "_m.atanh(1 / {0})",
    "asech": "_m.acosh(1 / {0})",
    "acsch": "_m.asinh(1 / {0})",
    "abs": "abs({0})",
    "sign": "_sign({0})",
    "floor": "_floor({0})",
    "ceiling": "_ceil({0})",
    "frac": "{0} % 1.0",
    "mod": "{0} % {1}",
    "min": "_minimum({0}, {1})",
    "max": "_maximum({0}, {1})",
    "heaviside": "_heaviside({0}, {1})",
    "where": "({1} if {0} else {2})",
    "and": "({0} and {1})",
    "or": "({0} or {1})",
    "xor": "(bool({0}) != bool({1}))",
    "not": "(not {0})",
    "erf": "_m.erf({0})",
    "erfc": "_m.erfc({0})",
    "gamma": "_m.gamma({0})",
    "loggamma": "_m.lgamma({0})",
    "factorial": "_m.gamma({0} + 1)",
    "sinc": "_sinc({0})",
    "re": "{0}",
    "conjugate": "{0}",
}

# ``_m.sin`` -> ``_m_sin``: a global lookup instead of a global and an attribute.
MATH = {op: t.replace("_m.", "_m_") for op, t in MATH.items()}

MATH_NAMESPACE = {
    **{f"_m_{name}": getattr(math, name) for name in dir(math) if not name.startswith("_")},
    "_pow": math.pow,
    "_cbrt": _cbrt,
    "_sign": _sign,
    "_floor": _floor,
    "_ceil": _ceil,
    "_minimum": _minimum,
    "_maximum": _maximum,
    "_heaviside": _heaviside,
    "_sinc": _sinc,
}

#: The default of the scalar entry's parameters: marks an argument not given.
_NO = object()

#: What the ``math`` variant may raise where NumPy would return inf or NaN instead.
_FALLBACK = (ArithmeticError, ValueError, TypeError)


def _scalar_path_possible(graph: Graph) -> bool:
    for n in graph.nodes:
        if n.op in ("input", "param", "buffer", "call"):
            continue
        if n.op == "const":
            if type(n.attr) is complex or n.attr in ("I", "zoo"):
                return False
        elif n.op not in MATH:
            return False
    return True


#: A linear block (`sympile._transforms.linear`) becomes one NumPy matrix product in the ``math`` variant
#: when it has at least this many coefficients: below, the array's making costs more than the
#: Python arithmetic it saves.
MATH_BLOCK_MIN = 64


def _matvec(c, b, xs):
    """``b + c @ xs`` for the ``math`` variant: the rows as a list of Python floats."""
    return (c @ np.array(xs, dtype=np.float64) + b).tolist()


def _math_spelling(graph: Graph) -> tuple[Graph, Spelling]:
    """The graph and spelling of the ``math`` variant: long sums of one function of linear
    forms (map blocks) and large linear blocks as array operations."""
    mapped, maps = map_blocks(graph)
    lin, blocks = linear_blocks(mapped)
    matrices = any(len(b.roots) * len(b.bases) >= MATH_BLOCK_MIN for b in blocks)
    if not maps and not matrices:
        return graph, Spelling("math", None, MATH, MATH_NAMESPACE)
    namespace, table = dict(MATH_NAMESPACE), dict(MATH)
    for k, m in enumerate(maps):
        namespace[f"_ms{k}"] = _map_sum(m)
    table["mapsum"] = lambda args, k: f"_ms{k}({', '.join(args)})"
    if not matrices:
        return mapped, Spelling("math", None, table, namespace)
    namespace["_matvec"] = _matvec
    for k, b in enumerate(blocks):
        namespace[f"_lc{k}"] = np.array(b.coefficients, dtype=np.float64).T.copy()
        namespace[f"_lb{k}"] = np.array(b.offsets, dtype=np.float64)
    table["matvec"] = lambda args, k: f"_matvec(_lc{k}, _lb{k}, ({', '.join(args)},))"
    table["mvrow"] = lambda args, at: f"{args[0]}[{at[1]}]"
    return lin, Spelling("math", None, table, namespace)


def _map_sum(block: MapBlock) -> Callable[..., float]:
    """The map block's value from its bases' values (Python numbers), as a Python float.

    The ufuncs are called directly, in place on one fresh array (a shared buffer would race
    between threads): four NumPy calls, about 2 us, for any number of terms.
    """
    f = getattr(np, MAP_OPS[block.op])
    c = np.array(block.coefficients, dtype=np.float64)
    b = np.array(block.offsets, dtype=np.float64)
    w = np.array(block.weights, dtype=np.float64)
    multiply, add, dot = np.multiply, np.add, np.dot
    if len(c) == 1:
        (c0,) = c

        def one_base(x):
            u = multiply(c0, x)
            add(u, b, out=u)
            return float(dot(w, f(u, out=u)))

        return one_base
    ct = np.ascontiguousarray(c.T)

    def bases(*xs):
        u = dot(ct, xs)
        add(u, b, out=u)
        return float(dot(w, f(u, out=u)))

    return bases


def _spell_array(shape, items):
    return f"_array({tuple(shape)!r}, [{', '.join(items)}])"


#: Large inputs are evaluated in blocks of this many elements, so that the intermediates
#: of a many-op function stay in cache instead of streaming through memory. 256 KiB of
#: float64 a temporary: a few fit in a core's L2 cache, each NumPy call's fixed cost is
#: spread over many elements, and NumPy reuses a temporary in place from this size on.
#: (On a 20,000-node version of the benchmark's (c), 16,384 and 8,192 were 4% and 9% slower.)
CHUNK = 32768
#: Graphs with fewer ops than this are memory-light already: no blocks.
CHUNK_MIN_OPS = 12


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


def build(graph: Graph, arg_tree: tuple, out_tree: tuple, options: dict) -> tuple:
    """Compile ``graph`` into a Python function with the given argument and output structure.

    Returns ``(function, source)``. The source holds ``_f_numpy`` (arrays; through
    ``_f_flat`` and `_chunked` for a large graph) and ``_f``, which runs the same
    computation spelt with ``math`` when every argument is a Python number.
    """
    # Masking untaken branches also spares the user NaN warnings from values never selected.
    graph = mask_branches(fold_constants(graph))
    params, unpack = arg_targets(arg_tree)
    n_in = len(graph.inputs)
    if n_in:  # Python numbers become NumPy scalars: 1/0.0 must be inf, not ZeroDivisionError
        flat_names = [f"a{k}" for k in range(n_in)]
        unpack = [
            *unpack,
            f"if {' or '.join(f'type({a}) in _PYNUM' for a in flat_names)}:",
            f"    {', '.join(flat_names)}, = _as_numpy({', '.join(flat_names)})",
        ]
    deps = graph.input_dependence()
    full = (1 << n_in) - 1
    flat_args = ", ".join(f"a{k}" for k in range(n_in))
    n_ops = sum(1 for n in graph.nodes if n.args)
    blocks = n_in > 0 and n_ops >= CHUNK_MIN_OPS

    # The arguments' tuple is built once: spelt out per output, a gradient of n inputs would
    # make n*n source text.
    args_line = [f"_args = ({flat_args},)"] if n_in and any(deps[o] != full for o in graph.outputs) else []

    def broadcast(outs):
        if n_in == 0:
            return outs
        return [t if deps[o] == full else f"_broadcast({t}, _args)" for t, o in zip(outs, graph.outputs)]

    numpy = Spelling("numpy", "np", NUMPY, _namespace())
    order = schedule(graph)
    if blocks:
        flat = emit(
            graph,
            numpy,
            name="_f_flat",
            signature=[f"a{k}" for k in range(n_in)],
            prologue=args_line,
            order=order,
            returns=lambda outs: "(" + "".join(f"{t}, " for t in broadcast(outs)) + ")",
        )
        namespace = dict(flat.namespace, _chunked=_chunked)
        ret = spell(out_tree, [f"_o[{k}]" for k in range(len(graph.outputs))], _spell_array)
        top = (
            f"def _f_numpy({', '.join(params)}):\n"
            + "".join(f"    {line}\n" for line in unpack)
            + f"    _o = _chunked(_f_flat, ({flat_args},))\n    return {ret}\n"
        )
        parts = [flat.source, top]
    else:
        variant = emit(
            graph,
            numpy,
            name="_f_numpy",
            signature=params,
            prologue=unpack + args_line,
            order=order,
            returns=lambda outs: spell(out_tree, broadcast(outs), _spell_array),
        )
        namespace = dict(variant.namespace)
        parts = [variant.source]
    entry, lazy = "_f_numpy", None
    if _scalar_path_possible(graph) and all(p.startswith("a") for p in params):

        def math_body() -> Emitted:
            math_graph, math_spelling = _math_spelling(graph)
            return emit(
                math_graph,
                math_spelling,
                name="_f_math",
                signature=params,
                returns=lambda outs: spell(out_tree, outs, _spell_array),
                order=order if math_graph is graph else None,
                chains=True,
            )

        namespace["_FALLBACK"] = _FALLBACK
        checks = " and ".join(f"(type({p}) is float or type({p}) is int)" for p in params) or "True"
        call = ", ".join(params)
        if len(graph.nodes) <= LAZY_NODES:  # inline the math body: one call fewer
            body = math_body()
            namespace.update(body.namespace)
            lines = "".join(f"                {line}\n" for line in body.source.splitlines()[1:])
        else:  # written and compiled on the first scalar call: most large functions never see one
            lines, lazy = f"                return _f_math({call})\n", math_body
        # ``_call`` becomes the LambdifiedFunction's own ``__call__`` (one Python frame per call,
        # as for a plain function). The parameters are positional-only with a default, and
        # ``*_x`` takes any surplus, so that no argument tuple is built or unpacked on the
        # way in and a wrong count still reaches the diagnosis, as does a failing NumPy call.
        # ``_f`` is the same function without the object.
        n_par = len(params)
        fast = f"{checks} and not _x" if params else "not _x"
        missing = f"_x or {params[-1]} is _NO" if params else "_x"
        given = f"tuple(_v for _v in ({call}, *_x) if _v is not _NO)" if params else "_x"
        signature = "".join(f", {p}=_NO" for p in params) + (", /" if params else "")
        parts.append(
            f"def _call(self{signature}, *_x):\n    try:\n        if {fast}:\n            try:\n{lines}"
            f"            except _FALLBACK:\n                pass\n"
            f"        if {missing}:\n"
            f"            raise TypeError('this function takes {n_par} argument(s)')\n"
            f"        return _f_numpy({call})\n"
            "    except (ValueError, TypeError) as _e:\n"
            f"        _p = None if self is None else self._diagnose({given})\n"
            "        if _p is None:\n            raise\n        raise _p from _e\n\n\n"
            "def _f(*_a):\n    return _call(None, *_a)\n"
        )
        namespace["_NO"] = _NO
        entry = "_f"
    source = "\n".join(parts)
    fn = compile_source(Emitted(source, namespace, entry), "numpy")
    if lazy is not None:
        fn.__globals__["_f_math"] = _compile_later(lazy, fn.__globals__)
        source += "\n# _f_math, the same computation on Python floats, is written on the first such call\n"
    return fn, source


#: Above this many nodes the ``math`` variant is written and compiled on first use: building
#: it costs about a fifth of a build, and a large function is rarely called on one point.
LAZY_NODES = 1000


def _compile_later(make: Callable[[], Emitted], namespace: dict):
    def first_call(*args):
        emitted = make()
        fn = compile_source(Emitted(emitted.source, {**namespace, **emitted.namespace}, emitted.name), "math")
        namespace[emitted.name] = fn
        return fn(*args)

    return first_call
