"""The C backend: its C99 spelling table, the kernel around the emitted statements, and its wrapper.

A graph becomes one C function that evaluates every output at one point, straight-line, in
a loop over points that the compiler vectorises (``#pragma omp simd``; on x86-64 glibc the
elementary functions come from libmvec, its vector versions of libm). The loop runs over
blocks of points, OpenMP-parallel for large inputs. The body is written once and compiled
per dtype (``sp_real`` is ``double`` or ``float``; ``<tgmath.h>`` picks ``sin`` or
``sinf``); the float32 library is compiled on first use.

Inputs broadcast like NumPy's: each is a scalar (element stride 0), or an array over all the
points (any stride); outputs are written output-major (``(n_out, *shape)``, returned as
views) or, into a caller's ``out=``, point-major (``(*shape, n_out)``). When the
interpreter's headers are installed the library is also a CPython extension whose
``point`` entry evaluates Python floats without touching NumPy.

The C that is the same in every kernel lives in real C files beside this module, shipped as
package data and read once at import: ``prelude.h`` (includes, libmvec declarations, the
float64 special-function helpers), ``helpers.h`` (the ``SP(name)`` helpers compiled per dtype),
``driver.c`` (``sympile_eval`` and ``sympile_point``) and ``python.c`` (the CPython extension
module). This module generates only what depends on the graph, and `kernel_source` pastes the
two together into one translation unit.
"""

from __future__ import annotations

import hashlib
import math
import os
from importlib.resources import files
from pathlib import Path

import numpy as np

from ..._core.constants import const_value
from ..._core.errors import ArgumentError, UnsupportedFunctionError
from ..._core.graph import Graph
from ..._core.ops import OPS
from ..._core.tree import arg_targets, leaves, rebuild, spelt_sequence, top_level
from ..._core.tuning import C_OP_COST, C_OP_COST_DEFAULT, C_PARALLEL_MIN_NS, C_POINT_COPY_MAX
from ..._emit.emit import Emitted, Spelling, compile_source, emit
from ..._emit.pipeline import Pipeline, pipeline
from ..._emit.tables import LIBM, OPERATORS, calls
from ..._emit.wrapper import Built, array_of, spell_array
from ..._transforms.linear import blocks_of, linear_blocks
from .compile import CtypesKernel, build_and_load, recall, remember, request_key, toolchain

R = "(sp_real)"

#: C's spellings: C's operators, <math.h> (`LIBM`), and what differs. The reciprocal
#: functions, frac, sinc, heaviside, factorial, binomial and arg are decomposed
#: (`OpSpec.decompose`); erfinv, polygamma and LambertW have no C function.
C99 = {
    **OPERATORS,
    **calls(LIBM),
    "cos": "sp_cos({0})",  # the vectorisable cos (prelude.h)
    "powi": "SP(powi)({0}, {a})",
    "pow": "pow({0}, {1})",
    "abs": "fabs({0})",
    "sign": "SP(sign)({0})",
    "floor": "floor({0})",
    "ceiling": "ceil({0})",
    "mod": "SP(mod)({0}, {1})",
    "min": "SP(min)({0}, {1})",
    "max": "SP(max)({0}, {1})",
    "where": "{0} ? {1} : {2}",
    "and": "{0} && {1}",
    "or": "{0} || {1}",
    "xor": "!{0} != !{1}",
    "not": "!{0}",
    "gamma": "tgamma({0})",
    "loggamma": R + "sp_lgamma((double){0})",
    "besselj": R + "jn((int){0}, (double){1})",
    "bessely": R + "yn((int){0}, (double){1})",
    "re": "{0}",
    "im": R + "0",
    "conjugate": "{0}",
}
SPELLING = Spelling("c", None, C99, python=False, remedy="use backend='numpy' (or 'jax'/'torch') for this expression")


def _real_and_integer_orders(graph: Graph) -> Graph:
    """``graph`` itself, once it has no complex number and its Bessel functions integer orders."""
    for n in graph.nodes:
        if n.op == "const" and (type(n.attr) is complex or n.attr in ("I", "zoo")):
            raise UnsupportedFunctionError(
                "the c backend computes in real float32/float64, and this expression has complex "
                "numbers; use backend='numpy' for complex arithmetic"
            )
        if n.op in ("besselj", "bessely"):
            order = graph.nodes[n.args[0]]
            value = order.attr if order.op == "const" else None
            if type(value) is not int or abs(value) >= 2**31:
                raise SPELLING.unsupported(n.op, " of a symbolic or non-integer order (C's jn/yn take integer orders)")
    return graph


#: Constants folded (no masking: nothing differentiates C code), then the checks.
PIPELINE = pipeline(SPELLING, mask=False, extra=(_real_and_integer_orders,))
#: The one-point body: the linear blocks as matrix products over constant tables.
POINT = Pipeline((linear_blocks,))


def c_literal(attr) -> str:
    """C source for a literal: a Python number written in full, cast to the kernel's type."""
    if type(attr) is bool:
        return "1" if attr else "0"
    value = const_value(attr)
    try:
        value = float(value)
    except OverflowError:  # an int beyond float64, as NumPy would round it
        value = math.copysign(math.inf, value)
    if math.isnan(value):
        text = "NAN"
    elif math.isinf(value):
        text = "INFINITY" if value > 0 else "-INFINITY"
    else:
        text = repr(value)
    return f"({R}{text})"


def boolean_outputs(graph: Graph) -> list[int]:
    """1 for each output that is a truth value (NumPy gives those as bool arrays), else 0."""
    nodes = graph.nodes
    flag = [False] * len(nodes)
    for i, n in enumerate(nodes):
        if n.op == "const":
            flag[i] = type(n.attr) is bool
        elif n.op == "where":
            flag[i] = flag[n.args[1]] and flag[n.args[2]]
        else:
            flag[i] = OPS[n.op].boolean
    return [int(flag[o]) for o in graph.outputs]


def _cost(graph: Graph) -> float:
    return sum(C_OP_COST.get(n.op, C_OP_COST_DEFAULT) for n in graph.nodes if n.args)


def block_size(n_in: int, n_out: int) -> int:
    """Points per block: their inputs and outputs fit in 64 KiB of stack."""
    size = 256
    while size > 8 and (n_in + n_out) * size * 8 > 65536:
        size //= 2
    return size


# -- the C source ------------------------------------------------------------------------------

# The fixed C of a kernel is in files beside this module, shipped as package data; prelude.h says
# how a kernel is assembled from them and the generated parts (kernel_source). A file's header
# comment speaks to its reader and is left out of the kernel; the rest is pasted verbatim.
C_FILES = {
    name: (files(__package__) / name).read_text(encoding="utf-8")
    for name in ("prelude.h", "helpers.h", "driver.c", "python.c")
}


def _verbatim(name: str) -> str:
    text = C_FILES[name]
    return text[text.index("*/\n") + 3 :]


_PRELUDE, _HELPERS, _DRIVER, _PYTHON = map(_verbatim, C_FILES)


def _generator_digest() -> str:
    """A digest of everything that writes a kernel: the C files, this module, and the code of the
    layers that prepare and emit its graph (the op table, the passes, the emitter)."""
    h = hashlib.sha256()
    for name, text in sorted(C_FILES.items()):
        h.update(name.encode() + b"\0" + text.encode())
    root = Path(__file__).resolve().parent.parent.parent
    for path in sorted(
        [Path(__file__), *(p for layer in ("_core", "_transforms", "_emit") for p in (root / layer).glob("*.py"))]
    ):
        h.update(path.name.encode() + b"\0" + path.read_bytes())
    return h.hexdigest()


#: Changes whenever the generated code may, so that the request index never serves stale kernels.
CODEGEN = _generator_digest()


def _regular(tree: tuple) -> tuple | None:
    """The shape of a nested list of leaves whose sublists agree in length (None if they do not)."""
    if tree[0] == "leaf":
        return ()
    if tree[0] == "array" or not tree[1]:
        return None
    shapes = {_regular(t) for t in tree[1]}
    if len(shapes) != 1 or None in shapes:
        return None
    return (len(tree[1]), *shapes.pop())


def point_unpacking(arg_tree: tuple) -> list[str] | None:
    """C statements that read the top-level arguments into ``in[]`` (None: irregular nesting).

    A nested argument is read from nested lists or tuples of numbers, or from one float64
    buffer (a NumPy array) of its shape.
    """
    lines = []
    for k, t in enumerate(top_level(arg_tree)):
        shape, slots = _regular(t), leaves(t)
        if shape is None:
            return None
        dims = f"(const Py_ssize_t[]){{{', '.join(map(str, shape))}}}" if shape else "NULL"
        if slots == list(range(slots[0], slots[0] + len(slots))):
            lines.append(f"    if (!sp_nested(args[{k}], in + {slots[0]}, {len(shape)}, {dims})) return 0;")
        else:
            lines.append(
                f"    {{ sp_real v[{len(slots)}]; if (!sp_nested(args[{k}], v, {len(shape)}, {dims})) return 0;"
            )
            lines += [f"      in[{s}] = v[{i}];" for i, s in enumerate(slots)]
            lines.append("    }")
    return lines


def point_body(graph: Graph, body: Emitted, n_in: int, point: bool) -> list[str]:
    """The one-point function: the loop's statements once, or, when the graph has linear
    blocks (`linear_blocks`), its own statements with each block as a matrix product over
    constant tables, which the compiler vectorises across the block's rows."""
    blocks = []
    if point:
        lin = POINT(graph)
        blocks = blocks_of(lin)
    if blocks:
        index = {block: k for k, block in enumerate(blocks)}
        table = dict(
            C99,
            matvec=lambda args, block: (
                f"SP(matvec)({len(block.roots)}, {len(args)}, sp_c{index[block]}, sp_b{index[block]}, "
                f"(const sp_real[]){{{', '.join(args)}}}, sp_m{index[block]})"
            ),
            mvrow=lambda args, at: f"sp_m{index[at[0]]}[{at[1]}]",
        )
        body = emit(lin, Spelling("c", None, table, python=False), const=c_literal)
    local = f"    sp_real {', '.join(f'_{s}' for s in range(body.slots))};" if body.slots else ""
    tables = []
    for k, b in enumerate(blocks):
        coefficients = ", ".join(repr(c) for column in b.coefficients for c in column)
        tables += [
            f"static const sp_real sp_c{k}[] = {{{coefficients}}};",
            f"static const sp_real sp_b{k}[] = {{{', '.join(repr(v) for v in b.offsets)}}};",
        ]
    arrays = [f"    sp_real {', '.join(f'sp_m{k}[{len(b.roots)}]' for k, b in enumerate(blocks))};"] if blocks else []
    return [
        *tables,
        "static void sp_point_body(const sp_real *restrict in, sp_real *restrict out) {",
        *(f"    const sp_real a{k} = in[{k}];" for k in range(n_in)),
        *arrays,
        *([local] if local else []),
        *(f"{line};" for line in body.body),
        *(f"    out[{k}] = {text};" for k, text in enumerate(body.results)),
        "}",
    ]


def kernel_source(graph: Graph, dtype: str, arg_tree: tuple, body: Emitted) -> str:
    """The C translation unit for ``graph`` in ``dtype`` ("float64" or "float32").

    The C files and the generated parts, as text, in this order (prelude.h says what each part
    defines): prelude.h; the defines (``sp_real``, ``SP(name)``, the sizes ``SP_NIN``,
    ``SP_NOUT``, ``SP_BLOCK``, ...); helpers.h; ``sp_block`` and ``sp_point_body``; driver.c;
    ``sp_boolean`` and ``sp_unpack``; python.c. The files' header comments are left out.
    """
    n_in, n_out = len(graph.inputs), len(graph.outputs)
    real = "double" if dtype == "float64" else "float"
    boolean = boolean_outputs(graph)
    loads = [f"        const sp_real a{k} = x{k}[j];" for k in range(n_in)]
    stmts = [f"    {line};" for line in body.body]
    local = f"        sp_real {', '.join(f'_{s}' for s in range(body.slots))};" if body.slots else ""
    stores = [f"        o{k}[j] = {text};" for k, text in enumerate(body.results)]
    unpack = point_unpacking(arg_tree)
    block = [
        "static void sp_block(int64_t m, const sp_real *const *x, sp_real *const *o) {",
        *(f"    const sp_real *restrict x{k} = x[{k}];" for k in range(n_in)),
        *(f"    sp_real *restrict o{k} = o[{k}];" for k in range(n_out)),
        "    (void)x; (void)o;",
        "#pragma omp simd",
        "    for (int64_t j = 0; j < m; j++) {",
        *loads,
        *([local] if local else []),
        *stmts,
        *stores,
        "    }",
        "}",
        "#if SP_POINT_BODY",
        *point_body(graph, body, n_in, point=dtype == "float64" and len(body.body) <= C_POINT_COPY_MAX),
        "#endif",
    ]
    defines = [
        f"typedef {real} sp_real;",
        "#if SP_MVEC",
        f"#define sp_cos sp_cos_{real}",
        "#else",
        "#define sp_cos cos",
        "#endif",
        f"#define SP(name) name##_{dtype}",
        f"#define SP_NIN {n_in}",
        f"#define SP_NIN1 {max(1, n_in)}",
        f"#define SP_NOUT {n_out}",
        f"#define SP_NOUT1 {max(1, n_out)}",
        f"#define SP_NTOP {len(top_level(arg_tree))}",
        f"#define SP_BLOCK {block_size(n_in, n_out)}",
        f"#define SP_COST {_cost(graph):.1f}",
        f"#define SP_PARALLEL_MIN {C_PARALLEL_MIN_NS}",
        # the straight-line copy serves the Python entry point, which takes float64 numbers
        "#if defined(SYMPILE_PYTHON) && " + ("1" if dtype == "float64" and len(body.body) <= C_POINT_COPY_MAX else "0"),
        "#define SP_POINT_BODY 1",
        "#else",
        "#define SP_POINT_BODY 0",
        "#endif",
    ]
    glue = [
        f"static const int sp_boolean[SP_NOUT1] = {{{', '.join(map(str, boolean or [0]))}}};",
        "#ifdef SYMPILE_PYTHON",
        "static int sp_nested(PyObject *v, sp_real *x, int ndim, const Py_ssize_t *shape);",
        "static int sp_unpack(PyObject *const *args, sp_real *in) {",
        *(unpack if unpack is not None else ["    (void)args; (void)in;", "    return 0;"]),
        *(["    return 1;"] if unpack is not None else []),
        "}",
        "#endif",
    ]
    return "\n".join([_PRELUDE, *defines, _HELPERS, *block, _DRIVER, *glue, _PYTHON])


# -- the compiled kernel and its Python side ----------------------------------------------------


_FLOATS = {np.dtype(np.float64): "float64", np.dtype(np.float32): "float32"}
_PYNUM = (float, int, bool)


def compute_dtype(values) -> np.dtype:
    """The dtype a kernel runs in: float32 when the arrays are float32 (or float16), else float64."""
    if not values:
        return np.dtype(np.float64)
    try:
        dt = np.result_type(*[v if type(v) in _PYNUM or isinstance(v, np.ndarray) else np.asarray(v) for v in values])
    except TypeError:
        dt = np.dtype(object)
    if dt.kind == "f" and dt.itemsize <= 8:
        return np.dtype(np.float32) if dt.itemsize <= 4 else np.dtype(np.float64)
    if dt.kind in "biu":
        return np.dtype(np.float64)
    if dt.kind == "O":
        return np.dtype(np.float64)  # Python objects: converted to float64 (or refused) below
    raise ArgumentError(
        f"the c backend computes in float32 and float64, and got {dt} input; "
        + ("use backend='numpy' for complex numbers" if dt.kind == "c" else "convert the inputs to float64")
    )


class CKernel:
    """A graph compiled to C: its float64 library at once, its float32 one on first use."""

    def __init__(self, graph: Graph, arg_tree: tuple | None = None):
        self.graph = graph
        self.n_in, self.n_out = len(graph.inputs), len(graph.outputs)
        self.arg_tree = arg_tree if arg_tree is not None else ("list", [("leaf", k) for k in range(self.n_in)])
        self.boolean = boolean_outputs(graph)
        self._emitted: tuple | None = None
        self._libs: dict[str, object] = {}
        self.sources: dict[str, str] = {}
        self.compiled = False
        lib = self.library(np.dtype(np.float64))
        self.point = getattr(lib, "point", None)
        #: whether ``point`` makes a Matrix output's array itself, given its shape
        self.point_arrays = bool(getattr(lib, "arrays", 0))
        #: ``point_of_arrays(dest, shapes, *args)``: one point from float64 arrays (numpify's entry)
        self.point_of_arrays = getattr(lib, "point_of_arrays", None)

    def _emit(self) -> tuple[Graph, Emitted]:
        if self._emitted is None:
            prepared = PIPELINE(self.graph)
            self._emitted = prepared, emit(prepared, SPELLING, const=c_literal)
        return self._emitted

    def library(self, dtype: np.dtype):
        name = _FLOATS[dtype]
        lib = self._libs.get(name)
        if lib is None:
            tools = toolchain()
            request = request_key((CODEGEN, self.graph.content_hash(), repr(self.arg_tree), name), tools)
            found = recall(request, tools)
            if found is not None:
                lib, _, source = found
            else:
                folded, body = self._emit()
                source = kernel_source(folded, name, self.arg_tree, body)
                lib, key, compiled = build_and_load(source, tools)
                remember(request, key)
                self.compiled |= compiled
            if not hasattr(lib, "eval"):
                lib = CtypesKernel(lib, self.n_in, self.n_out, dtype)
            self._libs[name] = lib
            self.sources[name] = source
        return lib

    @property
    def source(self) -> str:
        return self.sources["float64"]

    def eval(self, flat, out=None, threads=None):
        """Outputs over broadcast inputs: an ``(n_out, *shape)`` array, or ``out`` filled point-major."""
        if len(flat) != self.n_in:
            raise ArgumentError(f"this kernel takes {self.n_in} inputs, got {len(flat)}")
        dtype = compute_dtype(flat)
        arrays = [np.asarray(a, dtype) for a in flat]
        shape = np.broadcast_shapes(*(a.shape for a in arrays)) if arrays else ()
        ins = [
            a
            if a.size == 1 or (a.shape == shape and (a.ndim <= 1 or a.flags.c_contiguous))
            else np.ascontiguousarray(np.broadcast_to(a, shape))
            for a in arrays
        ]
        lib = self.library(dtype)
        threads = _threads(threads)
        if out is None:
            o = np.empty((self.n_out, *shape), dtype)
            _ran(lib.eval(o, False, threads, *ins))
            return o
        _check_out(out, shape, self.n_out, dtype)
        if out.flags.c_contiguous and not any(np.may_share_memory(out, a) for a in ins):
            _ran(lib.eval(out, True, threads, *ins))
        else:
            o = np.empty(out.shape, dtype)
            _ran(lib.eval(o, True, threads, *ins))
            out[...] = o
        return out


class _Fork:
    """libgomp does not survive ``fork``: a child of a process that ran OpenMP threads hangs in
    its first parallel region. Such a child computes on one thread."""

    threaded = False  # this process has run OpenMP threads
    child = False  # this process was forked from one that had


def _ran(used: int) -> None:
    if used > 1:
        _Fork.threaded = True


def _forked() -> None:
    _Fork.child = _Fork.child or _Fork.threaded


os.register_at_fork(after_in_child=_forked)


def _threads(threads) -> int:
    if threads is not None and (type(threads) is not int or threads < 1):
        raise ArgumentError(f"threads must be a positive int (or None: as many as pay), got {threads!r}")
    if _Fork.child:
        return 1
    return 0 if threads is None else threads


def _check_out(out, shape: tuple, n_out: int, dtype: np.dtype) -> None:
    from ..._core.errors import ShapeError

    if not isinstance(out, np.ndarray):
        raise ArgumentError(f"out must be a NumPy array, got {type(out).__name__}")
    if out.dtype != dtype:
        raise ArgumentError(
            f"out has dtype {out.dtype}, but the inputs compute in {dtype}; pass an out of dtype {dtype}"
        )
    lead, rest = out.shape[: len(shape)], out.shape[len(shape) :]
    if lead != tuple(shape) or math.prod(rest) != n_out or not out.flags.writeable:
        raise ShapeError(
            f"out must be a writeable array of shape {tuple(shape) + (n_out,)} (the inputs' broadcast shape, "
            f"then the {n_out} outputs: point-major), got shape {out.shape}"
        )


# -- the Python entry point ---------------------------------------------------------------------


def _consecutive(ks: list[int]) -> bool:
    return bool(ks) and ks == list(range(ks[0], ks[0] + len(ks)))


def _structure(tree: tuple, leaf, block) -> str:
    """Source that rebuilds ``tree``; ``block(i, j, shape)`` spells leaves i..j-1 as one array, or None."""

    def array(shape, ks):
        text = block(ks[0], ks[-1] + 1, shape) if _consecutive(ks) else None
        return text if text is not None else spell_array(shape, [leaf(k) for k in ks])

    return rebuild(tree, leaf, array, spelt_sequence)


def build(graph: Graph, arg_tree: tuple, out_tree: tuple, options: dict) -> Built:
    """Compile ``graph`` to C (`Built.kernel`: the `CKernel`); the source is the C, then the Python entry.

    The function takes the arguments of ``arg_tree`` and two keywords: ``out``, an array of
    shape ``(*shape, n_outputs)`` to fill point-major (then returned), and ``threads``.
    """
    kernel = CKernel(graph, arg_tree)
    params, unpack = arg_targets(arg_tree)
    n_out = kernel.n_out
    boolean = kernel.boolean

    def leaf_o(k):
        return f"(_o[{k}] != 0)" if boolean[k] else f"_o[{k}]"

    def block_o(i, j, shape):
        if any(boolean[i:j]):
            return None
        return f"_o[{i}:{j}].reshape({tuple(shape)!r} + _o.shape[1:])"

    lines = [f"def _f({', '.join([*params, '*', 'out=None', 'threads=None'])}):"]
    if kernel.point is not None and point_unpacking(arg_tree) is not None:
        whole = out_tree[0] == "array" and _consecutive(leaves(out_tree))
        if whole and not any(boolean):
            shape = tuple(out_tree[1])
            dest = repr(shape) if kernel.point_arrays else f"_empty({shape!r})"  # the library makes it
            lines += [
                "    if out is None:",
                f"        _r = _point({dest}, {', '.join(params)})",
                "        if _r is not NotImplemented:",
                "            return _r",
            ]
        elif n_out:
            leaf_r = (lambda k: "_r") if n_out == 1 else (lambda k: f"_r[{k}]")
            # the outputs as a flat tuple in order (numpify's entry points ask for that): the
            # library's tuple as it is, not rebuilt item by item
            in_order = n_out > 1 and out_tree == ("tuple", [("leaf", k) for k in range(n_out)])
            result = "_r" if in_order else _structure(out_tree, leaf_r, lambda i, j, s: None)
            lines += [
                "    if out is None:",
                f"        _r = _point(None, {', '.join(params)})",
                "        if _r is not NotImplemented:",
                f"            return {result}",
            ]
    lines += [f"    {line}" for line in unpack]
    flat = "".join(f"a{k}, " for k in range(kernel.n_in))
    lines += [
        f"    _o = _eval(({flat}), out, threads)",
        "    if out is not None:",
        "        return _o",
        f"    return {_structure(out_tree, leaf_o, block_o)}",
    ]
    source = "\n".join(lines) + "\n"
    namespace = {
        "_point": kernel.point,
        "_eval": kernel.eval,
        "_empty": np.empty,
        "_array": array_of(np.array, np.zeros),
    }
    fn = compile_source(Emitted(source, namespace, "_f"), "c")
    return Built(fn, kernel.source + "\n/* The Python entry point:\n\n" + source + "*/\n", kernel=kernel)
