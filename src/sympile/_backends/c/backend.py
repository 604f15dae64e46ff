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
"""

from __future__ import annotations

import hashlib
import math
import os

import numpy as np

from ..._core.errors import ArgumentError, UnsupportedFunctionError
from ..._core.graph import Graph
from ..._core.ops import OPS, const_value
from ..._core.tree import arg_targets
from ..._emit.emit import Emitted, Spelling, compile_source, emit
from ..._transforms.fold import REWRITES, fold_constants
from ..._transforms.linear import LAYOUT, linear_blocks
from .compile import PYTHON_GLUE, CtypesKernel, build_and_load, recall, remember, request_key, toolchain

R = "(sp_real)"

C99 = {
    "add": "{0} + {1}",
    "sub": "{0} - {1}",
    "mul": "{0} * {1}",
    "div": "{0} / {1}",
    "neg": "-{0}",
    "powi": "SP(powi)({0}, {a})",
    "pow": "pow({0}, {1})",
    "sqrt": "sqrt({0})",
    "rsqrt": R + "1 / sqrt({0})",
    "cbrt": "cbrt({0})",
    "exp": "exp({0})",
    "expm1": "expm1({0})",
    "log": "log({0})",
    "log1p": "log1p({0})",
    "sin": "sin({0})",
    "cos": "sp_cos({0})",
    "tan": "tan({0})",
    "cot": R + "1 / tan({0})",
    "sec": R + "1 / sp_cos({0})",
    "csc": R + "1 / sin({0})",
    "asin": "asin({0})",
    "acos": "acos({0})",
    "atan": "atan({0})",
    "acot": "atan(" + R + "1 / {0})",
    "asec": "acos(" + R + "1 / {0})",
    "acsc": "asin(" + R + "1 / {0})",
    "atan2": "atan2({0}, {1})",
    "sinh": "sinh({0})",
    "cosh": "cosh({0})",
    "tanh": "tanh({0})",
    "coth": R + "1 / tanh({0})",
    "sech": R + "1 / cosh({0})",
    "csch": R + "1 / sinh({0})",
    "asinh": "asinh({0})",
    "acosh": "acosh({0})",
    "atanh": "atanh({0})",
    "acoth": "atanh(" + R + "1 / {0})",
    "asech": "acosh(" + R + "1 / {0})",
    "acsch": "asinh(" + R + "1 / {0})",
    "abs": "fabs({0})",
    "sign": "SP(sign)({0})",
    "floor": "floor({0})",
    "ceiling": "ceil({0})",
    "frac": "{0} - floor({0})",
    "mod": "SP(mod)({0}, {1})",
    "min": "SP(min)({0}, {1})",
    "max": "SP(max)({0}, {1})",
    "heaviside": "SP(heaviside)({0}, {1})",
    "where": "{0} ? {1} : {2}",
    "lt": "{0} < {1}",
    "le": "{0} <= {1}",
    "gt": "{0} > {1}",
    "ge": "{0} >= {1}",
    "eq": "{0} == {1}",
    "ne": "{0} != {1}",
    "and": "{0} && {1}",
    "or": "{0} || {1}",
    "xor": "!{0} != !{1}",
    "not": "!{0}",
    "erf": "erf({0})",
    "erfc": "erfc({0})",
    "gamma": "tgamma({0})",
    "loggamma": R + "sp_lgamma((double){0})",
    "factorial": "tgamma({0} + " + R + "1)",
    "binomial": R + "sp_binomial((double){0}, (double){1})",
    "sinc": "SP(sinc)({0})",
    "besselj": R + "jn((int){0}, (double){1})",
    "bessely": R + "yn((int){0}, (double){1})",
    "re": "{0}",
    "im": R + "0",
    "conjugate": "{0}",
    "arg": "atan2(" + R + "0, {0})",
}

#: Ops that C's libraries lack, with what to do instead.
WITHOUT_C = {
    "erfinv": "erfinv",
    "polygamma": "polygamma (digamma, and the derivatives of gamma and loggamma)",
    "lambertw": "LambertW",
    "call": "functions from extra_funcs (Python callables)",
}

#: Rough nanoseconds per point of each op, to decide when threads pay.
_COST = {"add": 0.3, "sub": 0.3, "mul": 0.3, "neg": 0.1, "div": 1.0, "where": 0.3, "powi": 1.0}
#: Graphs with more statements than this get no straight-line copy for one point (it would
#: double a long compile for a small gain).
POINT_COPY_MAX = 20_000
#: Below this many estimated nanoseconds of work, one thread does it all.
PARALLEL_MIN_NS = 100_000


def _check(graph: Graph) -> None:
    for n in graph.nodes:
        if n.op in WITHOUT_C:
            raise UnsupportedFunctionError(
                f"the c backend cannot compute {WITHOUT_C[n.op]}: C's math library has no such function; "
                "use backend='numpy' (or 'jax'/'torch') for this expression"
            )
        if n.op == "const" and (type(n.attr) is complex or n.attr in ("I", "zoo")):
            raise UnsupportedFunctionError(
                "the c backend computes in real float32/float64, and this expression has complex "
                "numbers; use backend='numpy' for complex arithmetic"
            )
        if n.op in ("besselj", "bessely"):
            order = graph.nodes[n.args[0]]
            value = order.attr if order.op == "const" else None
            if type(value) is not int or abs(value) >= 2**31:
                raise UnsupportedFunctionError(
                    f"the c backend computes {n.op} only for integer orders (C's jn/yn); this one has "
                    "a symbolic or non-integer order: use backend='numpy'"
                )
        if n.op not in C99 and n.op not in ("input", "const"):
            raise UnsupportedFunctionError(f"the c backend has no spelling for the op {n.op!r}; use backend='numpy'")


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
    return sum(_COST.get(n.op, 5.0) for n in graph.nodes if n.args)


def block_size(n_in: int, n_out: int) -> int:
    """Points per block: their inputs and outputs fit in 64 KiB of stack."""
    size = 256
    while size > 8 and (n_in + n_out) * size * 8 > 65536:
        size //= 2
    return size


# -- the C source ------------------------------------------------------------------------------

_PRELUDE = r"""/* A sympile kernel: generated code. Inputs are a0, a1, ...; outputs o0, o1, ... */
#ifdef SYMPILE_PYTHON
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#else
#define _DEFAULT_SOURCE
#endif
#include <math.h>
#include <stdint.h>
#include <string.h>
#ifdef _OPENMP
#include <omp.h>
#endif

/* glibc's libmvec has vector versions of these; declaring them lets the loop call them
   (the header declares them only under -ffast-math, which would break NaN and inf). */
#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__) && defined(__GLIBC__) \
    && (__GLIBC__ > 2 || __GLIBC_MINOR__ >= 22)
#define SP_SIMD(f) _Pragma("omp declare simd notinbranch") double f(double); \
    _Pragma("omp declare simd notinbranch") float f##f(float);
#define SP_SIMD2(f) _Pragma("omp declare simd notinbranch") double f(double, double); \
    _Pragma("omp declare simd notinbranch") float f##f(float, float);
SP_SIMD(sin) SP_SIMD(cos) SP_SIMD(exp) SP_SIMD(log) SP_SIMD2(pow)
#if __GLIBC__ > 2 || __GLIBC_MINOR__ >= 35
SP_SIMD(acos) SP_SIMD(acosh) SP_SIMD(asin) SP_SIMD(asinh) SP_SIMD(atan) SP_SIMD(atanh)
SP_SIMD(cbrt) SP_SIMD(cosh) SP_SIMD(erf) SP_SIMD(erfc) SP_SIMD(expm1) SP_SIMD(log1p)
SP_SIMD(sinh) SP_SIMD(tan) SP_SIMD(tanh) SP_SIMD2(atan2)
#endif
/* cos under another name: GCC merges sin(x) and cos(x) into one complex cexpi(x), which
   does not vectorise, so the loop would run scalar. */
_Pragma("omp declare simd notinbranch") __attribute__((const)) double sp_cos_double(double) __asm__("cos");
_Pragma("omp declare simd notinbranch") __attribute__((const)) float sp_cos_float(float) __asm__("cosf");
#define SP_MVEC 1
#else
#define SP_MVEC 0
#endif
#include <tgmath.h>

/* lgamma_r: lgamma writes the global signgam, a race between threads. */
static double sp_lgamma(double x) {
#if defined(__GLIBC__) || defined(__APPLE__)
    int sign;
    return lgamma_r(x, &sign);
#else
    return lgamma(x);
#endif
}

static int sp_pole(double x) { return x <= 0 && x == floor(x); }

/* binomial(n, k) = gamma(n+1) / (gamma(k+1) gamma(n-k+1)), through lgamma where that overflows. */
static double sp_binomial(double n, double k) {
    double a = n + 1, b = k + 1, c = n - k + 1;
    if (!sp_pole(a) && (sp_pole(b) || sp_pole(c))) return 0.0;
    double r = tgamma(a) / (tgamma(b) * tgamma(c));
    if (isfinite(r) && r != 0) return r;
    double s = (tgamma(a) < 0) != ((tgamma(b) < 0) != (tgamma(c) < 0)) ? -1.0 : 1.0;
    return s * exp(sp_lgamma(a) - sp_lgamma(b) - sp_lgamma(c));
}
"""

_HELPERS = r"""
static inline sp_real SP(powi)(sp_real x, int n) {
    if (n < 0) return (sp_real)1 / SP(powi)(x, -n);
    sp_real r = 1;
    while (n) {
        if (n & 1) r *= x;
        n >>= 1;
        if (n) x *= x;
    }
    return r;
}
static inline sp_real SP(sign)(sp_real x) { return x > 0 ? (sp_real)1 : x < 0 ? (sp_real)-1 : x; }
static inline sp_real SP(heaviside)(sp_real x, sp_real h) {
    return x < 0 ? (sp_real)0 : x > 0 ? (sp_real)1 : x == 0 ? h : x;
}
static inline sp_real SP(min)(sp_real a, sp_real b) { return a <= b ? a : b < a ? b : a + b; }
static inline sp_real SP(max)(sp_real a, sp_real b) { return a >= b ? a : b > a ? b : a + b; }
/* Python's and NumPy's modulo: the sign of the divisor. */
static inline sp_real SP(mod)(sp_real a, sp_real b) {
    sp_real r = fmod(a, b);
    if (r != 0) return (r < 0) != (b < 0) ? r + b : r;
    return copysign((sp_real)0, b);
}
static inline sp_real SP(sinc)(sp_real x) { return x == 0 ? (sp_real)1 : sin(x) / x; }
/* y = b + C x for a linear block (C column-major, rows x cols): the rows run as vectors. */
static inline sp_real SP(matvec)(int rows, int cols, const sp_real *restrict c, const sp_real *restrict b,
                                 const sp_real *restrict x, sp_real *restrict y) {
    for (int r = 0; r < rows; r++) y[r] = b[r];
    for (int k = 0; k < cols; k++) {
        const sp_real xk = x[k];
#pragma omp simd
        for (int r = 0; r < rows; r++) y[r] += c[k * rows + r] * xk;
    }
    return 0;
}
"""

_DRIVER = r"""
static int sp_threads(int requested, int64_t n, int64_t blocks) {
#ifdef _OPENMP
    int t = requested > 0 ? requested : ((double)n * SP_COST < SP_PARALLEL_MIN ? 1 : omp_get_max_threads());
    return blocks < t ? (int)(blocks > 0 ? blocks : 1) : t;
#else
    (void)requested; (void)n; (void)blocks;
    return 1;
#endif
}

/* n points. Input k is in[k][i * stride[k]] (stride 0: a scalar). Output k of point i is
   out[i * SP_NOUT + k] when point_major, else out[k * n + i]. Returns the threads used. */
int sympile_eval(int64_t n, const sp_real *const *in, const int64_t *stride, sp_real *out,
                 int point_major, int threads) {
    int64_t blocks = (n + SP_BLOCK - 1) / SP_BLOCK;
    int nt = sp_threads(threads, n, blocks);
#pragma omp parallel for schedule(dynamic, 4) num_threads(nt) if (nt > 1)
    for (int64_t b = 0; b < blocks; b++) {
        int64_t start = b * SP_BLOCK, m = n - start < SP_BLOCK ? n - start : SP_BLOCK;
        sp_real buf[SP_NIN1][SP_BLOCK], tmp[SP_NOUT1][SP_BLOCK];
        const sp_real *x[SP_NIN1];
        sp_real *o[SP_NOUT1];
        for (int k = 0; k < SP_NIN; k++) {
            if (stride[k] == 1) {
                x[k] = in[k] + start;
            } else {
                const sp_real *p = in[k] + start * stride[k];
                for (int64_t j = 0; j < m; j++) buf[k][j] = p[j * stride[k]];
                x[k] = buf[k];
            }
        }
        for (int k = 0; k < SP_NOUT; k++) o[k] = point_major && SP_NOUT > 1 ? tmp[k] : out + k * n + start;
        sp_block(m, x, o);
        if (point_major && SP_NOUT > 1)
            for (int64_t j = 0; j < m; j++)
                for (int k = 0; k < SP_NOUT; k++) out[(start + j) * SP_NOUT + k] = tmp[k][j];
    }
    return nt;
}

/* One point: in[k] is input k, out[k] output k. The Python entry point has a straight-line
   copy of the body: out of the loop, the compiler packs independent operations (the entries
   of a Hessian) into vector instructions, a quarter faster than the loop run once. */
void sympile_point(const sp_real *in, sp_real *out) {
#if SP_POINT_BODY
    sp_point_body(in, out);
#else
    const sp_real *x[SP_NIN1];
    sp_real *o[SP_NOUT1];
    for (int k = 0; k < SP_NIN; k++) x[k] = in + k;
    for (int k = 0; k < SP_NOUT; k++) o[k] = out + k;
    sp_block(1, x, o);
#endif
}
"""


#: Changes whenever the generated code does, so that the request index never serves stale kernels.
CODEGEN = hashlib.sha256(
    repr((_PRELUDE, _HELPERS, _DRIVER, PYTHON_GLUE, sorted(C99.items()), LAYOUT, REWRITES)).encode()
).hexdigest()


def _top_level(arg_tree: tuple) -> list[tuple]:
    return list(arg_tree[1]) if arg_tree[0] in ("list", "tuple") else [arg_tree]


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


def _leaves(tree: tuple) -> list[int]:
    if tree[0] == "leaf":
        return [tree[1]]
    return [s for t in tree[-1] for s in _leaves(t)]


def point_unpacking(arg_tree: tuple) -> list[str] | None:
    """C statements that read the top-level arguments into ``in[]`` (None: irregular nesting).

    A nested argument is read from nested lists or tuples of numbers, or from one float64
    buffer (a NumPy array) of its shape.
    """
    lines = []
    for k, t in enumerate(_top_level(arg_tree)):
        shape, slots = _regular(t), _leaves(t)
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
    blocks: list = []
    if point:
        lin, blocks = linear_blocks(graph)
    if blocks:
        table = dict(
            C99,
            matvec=lambda args, k: (
                f"SP(matvec)({len(blocks[k].roots)}, {len(args)}, sp_c{k}, sp_b{k}, "
                f"(const sp_real[]){{{', '.join(args)}}}, sp_m{k})"
            ),
            mvrow=lambda args, at: f"sp_m{at[0]}[{at[1]}]",
        )
        body = emit(lin, Spelling("c", None, table), const=c_literal)
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
    """The C translation unit for ``graph`` in ``dtype`` ("float64" or "float32")."""
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
        *point_body(graph, body, n_in, point=dtype == "float64" and len(body.body) <= POINT_COPY_MAX),
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
        f"#define SP_NTOP {len(_top_level(arg_tree))}",
        f"#define SP_BLOCK {block_size(n_in, n_out)}",
        f"#define SP_COST {_cost(graph):.1f}",
        f"#define SP_PARALLEL_MIN {PARALLEL_MIN_NS}",
        # the straight-line copy serves the Python entry point, which takes float64 numbers
        "#if defined(SYMPILE_PYTHON) && " + ("1" if dtype == "float64" and len(body.body) <= POINT_COPY_MAX else "0"),
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
    return "\n".join([_PRELUDE, *defines, _HELPERS, *block, _DRIVER, *glue, PYTHON_GLUE])


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
            folded = fold_constants(self.graph)
            _check(folded)
            self._emitted = folded, emit(folded, Spelling("c", None, C99), const=c_literal)
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


def _structure(tree: tuple, leaf, block) -> str:
    """Source that rebuilds ``tree``; ``block(i, j, shape)`` spells leaves i..j-1 as one array, or None."""
    kind = tree[0]
    if kind == "leaf":
        return leaf(tree[1])
    if kind == "array":
        leaves = [t[1] if t[0] == "leaf" else None for t in tree[2]]
        if leaves and None not in leaves and leaves == list(range(leaves[0], leaves[0] + len(leaves))):
            text = block(leaves[0], leaves[0] + len(leaves), tree[1])
            if text is not None:
                return text
        return f"_array({tuple(tree[1])!r}, [{', '.join(_structure(t, leaf, block) for t in tree[2])}])"
    items = [_structure(t, leaf, block) for t in tree[1]]
    if kind == "list":
        return "[" + ", ".join(items) + "]"
    return "(" + ", ".join(items) + ("," if len(items) == 1 else "") + ")"


def _array(shape, entries):
    a = np.array(entries)
    return a.reshape(tuple(shape) + a.shape[1:])


def build(graph: Graph, arg_tree: tuple, out_tree: tuple, options: dict) -> tuple:
    """Compile ``graph`` to C; returns ``(function, source)`` (the C source, then the Python wrapper).

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
        whole = out_tree[0] == "array" and _structure(out_tree, str, lambda i, j, s: "x") == "x"
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
    namespace = {"_point": kernel.point, "_eval": kernel.eval, "_empty": np.empty, "_array": _array}
    fn = compile_source(Emitted(source, namespace, "_f"), "c")
    fn.kernel = kernel
    return fn, kernel.source + "\n/* The Python entry point:\n\n" + source + "*/\n"
