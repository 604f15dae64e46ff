"""The C backend: its C99 spelling table, the kernels around the emitted statements, and its wrapper.

A graph has two plain-C kernel libraries, each compiled on its first use: the one-point function
(``sympile_point``, float64: straight-line, the compiler packing independent operations into
vector instructions) and the loop over points (``sympile_eval``, per dtype: ``sp_real`` is
``double`` or ``float``, a ``#pragma omp simd`` loop over blocks of points, OpenMP-parallel for
large inputs; on x86-64 glibc the elementary functions come from libmvec). Building a function
compiles nothing; a function used only at one point never compiles the loop. The body computes
each distinct output value once, and a table maps outputs to values or literals, so build time
does not grow with the number of outputs. The optimisation level follows the body's size, and a
long body is split into functions and into translation units compiled in parallel
(`sympile._core.tuning`).

Inputs broadcast like NumPy's: each is a scalar (element stride 0), or an array over all the
points (any stride); outputs are written output-major (``(n_out, *shape)``, returned as
views) or, into a caller's ``out=``, point-major (``(*shape, n_out)``). The CPython side of
every kernel is one fixed extension module (``runner.c``), compiled once per toolchain where
Python's headers are installed, which unpacks Python numbers, float64 state vectors and nested
arguments and builds array outputs (several matrices too) in C; without the headers the loop
library is loaded with ctypes.

The C that is the same in every kernel lives in real C files beside this module, shipped as
package data and read once at import: ``prelude.h`` (includes, libmvec declarations, the
float64 special-function helpers, and how a kernel is assembled), ``helpers.h`` (the
``SP(name)`` helpers compiled per dtype), ``loop.c`` (``sympile_eval``), ``point.c``
(``sympile_point``) and ``runner.c`` (the CPython module). This module generates only what
depends on the graph, and `kernel_source` pastes the two together into one translation unit.
"""

from __future__ import annotations

import ctypes
import hashlib
import math
import os
import re
from functools import partial
from importlib.resources import files
from pathlib import Path

import numpy as np

from ..._core.constants import const_value
from ..._core.errors import ArgumentError, UnsupportedFunctionError
from ..._core.graph import Graph
from ..._core.ops import OPS
from ..._core.tree import arg_targets, leaves, rebuild, spelt_sequence, top_level
from ..._core.tuning import (
    C_OP_COST,
    C_OP_COST_DEFAULT,
    C_OPT_LEVELS,
    C_PAD,
    C_PARALLEL_MIN_NS,
    C_PART_CHARS,
    C_PART_INPUTS,
    C_UNIT_CHARS,
)
from ..._emit.emit import Emitted, Spelling, compile_source, emit
from ..._emit.pipeline import Pipeline, pipeline
from ..._emit.tables import LIBM, OPERATORS, calls
from ..._emit.wrapper import Built, Inputs, array_of, spell_array
from ..._transforms.linear import blocks_of, linear_blocks
from ..special_functions import FACTORIALS
from .compile import (
    UNIT_SEPARATOR,
    CtypesKernel,
    build_and_load,
    cache_dir,
    kernel_unit,
    load_runner,
    recall,
    remember,
    request_key,
    toolchain,
)

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
    "gamma": "SP(gamma)({0})",  # exact at the integers (helpers.h)
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


def block_size(n_in: int, n_values: int) -> int:
    """Points per block (a multiple of `C_PAD`): their inputs and the body's values fit in 64 KiB of stack."""
    size = 256
    while size > C_PAD and (n_in + n_values) * size * 8 > 65536:
        size //= 2
    return size


# -- the C source ------------------------------------------------------------------------------

# The fixed C of a kernel is in files beside this module, shipped as package data; prelude.h says
# how a kernel is assembled from them and the generated parts (kernel_source). A file's header
# comment speaks to its reader and is left out of the kernel; the rest is pasted verbatim.
C_FILES = {
    name: (files(__package__) / name).read_text(encoding="utf-8")
    for name in ("prelude.h", "helpers.h", "loop.c", "point.c", "runner.c")
}


def _verbatim(name: str) -> str:
    text = C_FILES[name]
    return text[text.index("*/\n") + 3 :]


_PRELUDE, _HELPERS, _LOOP, _POINT = map(_verbatim, ("prelude.h", "helpers.h", "loop.c", "point.c"))


def _generator_digest() -> str:
    """A digest of everything that writes a kernel: the C files, this module, and the code of the
    layers that prepare and emit its graph (the op table, the passes, the emitter)."""
    h = hashlib.sha256()
    for name, text in sorted(C_FILES.items()):
        h.update(name.encode() + b"\0" + text.encode())
    root = Path(__file__).resolve().parent.parent.parent
    for path in sorted(
        [
            Path(__file__),
            Path(__file__).with_name("compile.py"),
            root / "_core" / "tuning.py",
            *(p for layer in ("_core", "_transforms", "_emit") for p in (root / layer).glob("*.py")),
        ]
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


def point_arguments(arg_tree: tuple) -> tuple | None:
    """How the one-point entry reads the top-level arguments: ``(shape, slots)`` for each (its
    leaves go to the inputs ``slots``), or None where a nesting is irregular.

    A nested argument is read from nested lists or tuples of numbers, or from one float64
    buffer (a NumPy array) of its shape.
    """
    spec = []
    for t in top_level(arg_tree):
        shape = _regular(t)
        if shape is None:
            return None
        spec.append((shape, tuple(leaves(t))))
    return tuple(spec)


def output_values(graph: Graph, results: list[str]) -> tuple[list[str], list[int], list[str]]:
    """What a body computes for the outputs: the texts of its values (one per distinct output node
    that is not a literal), and for each output the number of its value, or -1 and its literal.

    The outputs are a table, not code: a Hessian's symmetric twins and a Jacobian's zeros cost
    no statement in the body, and the body does not grow with the outputs.
    """
    values: list[str] = []
    number: dict[int, int] = {}
    slot, literal = [], []
    for k, node in enumerate(graph.outputs):
        n = graph.nodes[node]
        if n.op == "const":
            slot.append(-1)
            literal.append(c_literal(n.attr))
            continue
        if node not in number:
            number[node] = len(values)
            values.append(results[k])
        slot.append(number[node])
        literal.append("0")
    return values, slot, literal


def _defines(graph: Graph, dtype: str, n_values: int, n_memory: int = 0) -> list[str]:
    n_in, n_out = len(graph.inputs), len(graph.outputs)
    real = "double" if dtype == "float64" else "float"
    return [
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
        f"#define SP_NSLOT {n_values}",
        f"#define SP_NSLOT1 {max(1, n_values)}",
        f"#define SP_NMEMORY1 {max(1, n_memory)}",
        f"#define SP_BLOCK {block_size(n_in, n_values)}",
        f"#define SP_PAD {C_PAD}",
        f"#define SP_COST {_cost(graph):.1f}",
        f"#define SP_PARALLEL_MIN {C_PARALLEL_MIN_NS}",
        _FACTORIAL_TABLE,
    ]


#: (n-1)! at n = 1 .. 171, each rounded once: SP(gamma)'s values at the integers (helpers.h).
_FACTORIAL_TABLE = f"static const double sp_factorials[171] = {{{', '.join(map(repr, FACTORIALS[:171]))}}};"


def _tables(slot: list[int], literal: list[str]) -> list[str]:
    n_values = max(slot, default=-1) + 1
    gather = [s if s >= 0 else n_values + k for k, s in enumerate(slot)]
    return [
        f"static const int sp_slot[SP_NOUT1] = {{{', '.join(map(str, slot or [-1]))}}};",
        f"static const int sp_gather[SP_NOUT1] = {{{', '.join(map(str, gather or [n_values]))}}};",
        f"static const sp_real sp_outconst[SP_NOUT1] = {{{', '.join(literal or ['0'])}}};",
        f"#define SP_DIRECT {int(slot == [0])}",
    ]


_NAME = re.compile(r"\b_(\d+)\b")
_INPUT = re.compile(r"\ba(\d+)\b")

#: The two libraries of a graph: the loop over points, and the one-point function (float64).
LOOP, POINT_KIND = "loop", "point"


def split(body: Emitted, values: list[str], size: int, at) -> tuple[list, int]:
    """The statements in parts of about ``size`` characters of C, each reading at most
    `C_PART_INPUTS` inputs (a body of up to twice both is one part): for each, its statements, its stores of the
    values (in the last part) and its locals, with every value that one part assigns and a later
    part reads written as memory, ``at(i)`` (numbered from 0; the count is the last return).

    Compile time grows faster than a function's length, and in the loop with the inputs it reads
    (each is a stream of vectors with its own address: a sum over thousands of inputs in one
    function spends the compiler's time in the register allocator); parts, each its own
    function, keep it linear in the graph's size (and let units compile in parallel). A local may be assigned
    more than once (the emitter reuses them): each assignment is its own value here.
    """
    lines = body.body
    reads = [set(_INPUT.findall(line)) for line in lines]
    part_of, p, filled, streams = [], 0, 0, set()
    whole = sum(map(len, lines)) <= 2 * size and len(set().union(*reads)) <= 2 * C_PART_INPUTS
    for line, read in zip(lines, reads):
        if not whole and filled and (filled >= size or len(streams | read) > C_PART_INPUTS):
            p, filled, streams = p + 1, 0, set()
        part_of.append(p)
        filled += len(line)
        streams |= read
    chunks = [[] for _ in range(p + 1)]
    for line, p in zip(lines, part_of):
        chunks[p].append(line)
    last = len(chunks) - 1
    # pass 1: which assignments (by line number) are read in a later part
    current: dict[str, int] = {}  # local -> the line of its latest assignment
    crossing: dict[int, int] = {}

    def read(text: str, p: int) -> None:
        for name in _NAME.findall(text):
            line = current.get(name)
            if line is not None and part_of[line] != p and line not in crossing:
                crossing[line] = len(crossing)

    for i, line in enumerate(lines):
        target, _, expr = line.partition(" = ")
        read(expr, part_of[i])
        current[target.strip()[1:]] = i
    for text in values:
        read(text, last)
    # pass 2: each read and assignment of a crossing value written as memory
    current.clear()

    def spell(text: str) -> str:
        def one(m):
            line = current.get(m.group(1))
            return at(crossing[line]) if line in crossing else m.group(0)

        return _NAME.sub(one, text) if crossing else text

    parts, i = [], -1
    for p, chunk in enumerate(chunks):
        statements, names = [], set()
        for line in chunk:
            i += 1
            target, _, expr = line.partition(" = ")
            expr = spell(expr)
            name = target.strip()[1:]
            current[name] = i
            if i in crossing:
                statements.append(f"{target[: len(target) - len(target.lstrip())]}{at(crossing[i])} = {expr}")
            else:
                statements.append(f"{target} = {expr}")
                names.add(name)
        stores = [spell(v) for v in values] if p == last else []
        parts.append((statements, stores, sorted(names, key=int)))
    return parts, len(crossing)


def _functions(kind: str, n_in: int, body: Emitted, values: list[str]) -> tuple[list[list[str]], int]:
    """The body as C functions, one per part (`split`): ``sp_{kind}_part{p}``, then the body's own
    function (``sp_block`` or ``sp_point_body``) calling them in turn; and how many values live
    in memory. A lone part is the body's function itself."""
    loop = kind == LOOP
    at = (lambda i: f"t[{i} * SP_BLOCK + j]") if loop else (lambda i: f"t[{i}]")
    parts, memory = split(body, values, C_PART_CHARS, at)
    many = len(parts) > 1
    indent = "        " if loop else "    "
    head = "int64_t m, const sp_real *const *x" if loop else "const sp_real *restrict in"
    functions = []
    for statements, stores, names in parts:
        # only the inputs this part reads: every input in every part would make a body's C grow
        # as inputs x parts, quadratically in a sum over many inputs
        used = range(n_in)
        if many:
            used = sorted({int(k) for line in (*statements, *stores) for k in _INPUT.findall(line)})
        code = [
            *([f"{indent}sp_real {', '.join(f'_{n}' for n in names)};"] if names else []),
            *(f"{indent[4:]}{line};" for line in statements),
            *(f"{indent}v[{i}{' * SP_BLOCK + j' if loop else ''}] = {v};" for i, v in enumerate(stores)),
        ]
        if loop:
            code = [
                *(f"    const sp_real *restrict x{k} = x[{k}];" for k in used),
                "    (void)x;",
                "#pragma omp simd",
                "    for (int64_t j = 0; j < ((m + SP_PAD - 1) & ~(int64_t)(SP_PAD - 1)); j++) {",
                *(f"        const sp_real a{k} = x{k}[j];" for k in used),
                *code,
                "    }",
            ]
        else:
            code[:0] = [f"    const sp_real a{k} = in[{k}];" for k in used]
        functions.append([*code, "    (void)t; (void)v;" if len(parts) > 1 else "    (void)v;", "}"])
    own = ("static void sp_block" if loop else "static void sp_point_body") + f"({head}, sp_real *restrict v)"
    if len(parts) == 1:
        return [[f"{own} {{", *functions[0]]], 0
    signature = f"({head}, sp_real *restrict t, sp_real *restrict v)"
    named = [[f"void sp_{kind}_part{p}{signature} {{", *f] for p, f in enumerate(functions)]
    calls = "m, x, t, v" if loop else "in, t, v"
    main = [
        *(f"void sp_{kind}_part{p}{signature};" for p in range(len(parts))),
        f"{own} {{",
        *(
            ["    sp_real *t = malloc(sizeof(sp_real) * SP_NMEMORY1 * SP_BLOCK);", "    if (!t) abort();"]
            if loop
            else ["    sp_real t[SP_NMEMORY1];"]
        ),
        *(f"    sp_{kind}_part{p}({calls});" for p in range(len(parts))),
        *(["    free(t);"] if loop else []),
        "}",
    ]
    return [main, *named], memory


def loop_body(graph: Graph, body: Emitted) -> tuple[list[str], list[list[str]], int, int]:
    """``sp_block``: the body in a loop over a block of points that the compiler vectorises;
    its code, the functions of its other parts, and the counts of its values and of its locals
    in memory."""
    values, slot, literal = output_values(graph, body.results)
    (main, *parts), memory = _functions(LOOP, len(graph.inputs), body, values)
    return [*_tables(slot, literal), *main], parts, len(values), memory


def point_body(graph: Graph, body: Emitted) -> tuple[list[str], list[list[str]], int, int]:
    """``sp_point_body``: the body once, straight-line; where the graph has linear blocks
    (`linear_blocks`), with each block as a matrix product over constant tables, which the
    compiler vectorises across the block's rows. (A body long enough to be split into parts
    has none: its blocks' arrays would cross the parts.)"""
    blocks = []
    if _size(body) <= 2 * C_PART_CHARS:
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
        graph = lin
    values, slot, literal = output_values(graph, body.results)
    (main, *parts), memory = _functions(POINT_KIND, len(graph.inputs), body, values)
    tables = []
    for k, b in enumerate(blocks):
        coefficients = ", ".join(repr(c) for column in b.coefficients for c in column)
        tables += [
            f"static const sp_real sp_c{k}[] = {{{coefficients}}};",
            f"static const sp_real sp_b{k}[] = {{{', '.join(repr(v) for v in b.offsets)}}};",
        ]
    if blocks:  # the blocks' results, in the one function
        main.insert(1, f"    sp_real {', '.join(f'sp_m{k}[{len(b.roots)}]' for k, b in enumerate(blocks))};")
    return [*_tables(slot, literal), *tables, *main], parts, len(values), memory


def kernel_source(graph: Graph, dtype: str, body: Emitted, kind: str = LOOP) -> list[str]:
    """The C translation units of ``graph``'s loop (``kind="loop"``) or one-point function
    (``kind="point"``) in ``dtype`` ("float64" or "float32"): one, or, for a long body, one
    per `C_UNIT_CHARS` characters up to the machine's cores, compiled in parallel.

    The first unit holds, in this order (prelude.h says what each part defines): prelude.h; the
    defines (``sp_real``, ``SP(name)``, the sizes ``SP_NIN``, ``SP_NOUT``, ``SP_NSLOT``,
    ``SP_BLOCK``, ...); helpers.h; the outputs' table and ``sp_block`` or ``sp_point_body``;
    loop.c or point.c; then functions of the body's parts. The other units hold the prelude,
    defines and helpers, and the functions of the other parts. The files' header comments are
    left out.
    """
    code, parts, n_values, memory = (loop_body if kind == LOOP else point_body)(graph, body)
    head = [_PRELUDE, *_defines(graph, dtype, n_values, memory), _HELPERS]
    units = max(1, min(os.cpu_count() or 1, _size(body) // C_UNIT_CHARS, len(parts)))
    share = -(-len(parts) // units)
    groups = [parts[i : i + share] for i in range(0, len(parts), share)] if parts else [[]]
    main = [*head, *code, _LOOP if kind == LOOP else _POINT, *(line for f in groups[0] for line in f)]
    return ["\n".join(main), *("\n".join([*head, *(line for f in g for line in f)]) for g in groups[1:])]


def _size(body: Emitted) -> int:
    """A body's size: its characters of C (a statement holds up to `MAX_INLINE_OPS` operations)."""
    return sum(map(len, body.body)) + sum(map(len, body.results))


def optimisation(body: Emitted) -> tuple[str, ...]:
    """The optimisation level of a body: the effort follows its size (`C_OPT_LEVELS`)."""
    size = _size(body)
    for limit, level in C_OPT_LEVELS:
        if size <= limit:
            return level
    return C_OPT_LEVELS[-1][1]


# -- the compiled kernel and its Python side ----------------------------------------------------


_FLOATS = {np.dtype(np.float64): "float64", np.dtype(np.float32): "float32"}

#: What a compiled C function takes for an input, said in every refusal.
ACCEPTED = (
    "the c backend takes real numbers: Python int, float or bool, NumPy numbers and arrays of bool, int, "
    "uint or float dtype, objects whose __array__ gives such an array (a CPU tensor), and nested lists or "
    "tuples of numbers"
)


def numeric(value, name: str):
    """``value`` as a Python number or a NumPy number or array of a real dtype (bool, int, uint,
    float), or an `ArgumentError` naming the input ``name`` and saying what is taken.

    The one-point entry reads Python floats and ints and float64 vectors in C; whatever it does not
    read comes here (the slow path), so a call with good numbers pays nothing for these checks.
    """
    kind = type(value)
    if kind is float or kind is int or kind is bool:
        if kind is int and not -_FLOAT_MAX <= value <= _FLOAT_MAX:
            raise ArgumentError(f"{name} is an int beyond float64's range ({len(str(abs(value)))} digits); {ACCEPTED}")
        return value
    if isinstance(value, (np.ndarray, np.generic)):
        array = value
    elif isinstance(value, (float, int)):
        return float(value)  # a subclass (an IntEnum, say)
    elif isinstance(value, (list, tuple)) or hasattr(kind, "__array__"):
        try:
            array = np.asarray(value)
        except Exception as e:  # a ragged list, a tensor on a GPU
            raise ArgumentError(f"{name} cannot be read as an array ({e}); {ACCEPTED}") from e
    else:
        raise ArgumentError(f"{name} is {_shown(value)}; {ACCEPTED}" + _complex_remedy(value))
    if array.dtype.kind not in "biuf":
        what = "a NumPy" if isinstance(value, (np.ndarray, np.generic)) else f"{_shown(value)}, read as a"
        shape = "number" if array.ndim == 0 else "array"
        raise ArgumentError(
            f"{name} is {what} {shape} of dtype {array.dtype}; {ACCEPTED}" + _complex_remedy(array.dtype)
        )
    return array


_FLOAT_MAX = int(np.finfo(np.float64).max)


def _shown(value) -> str:
    text = repr(value)
    return f"{text if len(text) <= 40 else text[:37] + '...'} (a {type(value).__name__})"


def _complex_remedy(value) -> str:
    if isinstance(value, complex) or getattr(value, "kind", None) == "c":
        return "; use backend='numpy' for complex numbers"
    return ""


def compute_dtype(values) -> np.dtype:
    """The dtype a kernel runs in: float32 when the arrays are float32 (or float16), else float64.
    The values are numbers and arrays of real dtypes (`numeric`)."""
    if not values:
        return np.dtype(np.float64)
    dt = np.result_type(*values)
    if dt.kind == "f" and dt.itemsize <= 4:
        return np.dtype(np.float32)
    return np.dtype(np.float64)


def argument_names(graph: Graph, arg_tree: tuple) -> tuple[list[str], str]:
    """How errors name each input: its symbol and the top-level argument it is in (from 1); and
    the function's signature, ``f(x, [y, z])``.

    Symbol names are user text: they go into error messages, never into generated code.
    """
    symbols = [str(s) for s in graph.inputs]
    tops = top_level(arg_tree)

    def spelt(t: tuple) -> str:
        if t[0] == "leaf":
            return symbols[t[1]] if t[1] < len(symbols) else f"input {t[1]}"
        return "[" + ", ".join(spelt(u) for u in t[-1]) + "]"

    names = [f"input {k}" for k in range(len(graph.inputs))]
    for i, t in enumerate(tops):
        for k in leaves(t):
            where = f"argument {i + 1}" if t[0] == "leaf" else f"in argument {i + 1}"
            names[k] = f"{spelt(('leaf', k))} ({where})"
    return names, f"f({', '.join(spelt(t) for t in tops)})"


class Libraries:
    """A graph's kernel libraries, each compiled (or found in the cache) on first use.

    Kept apart from `CKernel`, which holds the runner's entries: an entry holds this object's
    `address`, and nothing here holds an entry, so no reference cycle runs through C.
    """

    def __init__(self, graph: Graph, tools):
        self.graph = graph
        self.tools = tools
        self._emitted: tuple | None = None
        self._libs: dict[tuple[str, str], object] = {}
        #: the C of each library built, by ``"loop-float64"``, ``"point-float64"``, ``"loop-float32"``
        self.sources: dict[str, str] = {}
        #: the libraries this object compiled (not found in the cache)
        self.compiled: list[str] = []

    def _request(self, kind: str, dtype: str) -> str:
        return request_key((CODEGEN, self.graph.content_hash(), kind, dtype), self.tools)

    def check(self) -> None:
        """Raise what the graph's preparation raises (a function C lacks, complex numbers) now, at
        the build, unless a library of it was built before (then it passed)."""
        root = cache_dir()
        if not any((root / f"{self._request(kind, 'float64')}.request").exists() for kind in (LOOP, POINT_KIND)):
            self._emit()

    def _emit(self) -> tuple[Graph, Emitted]:
        if self._emitted is None:
            prepared = PIPELINE(self.graph)
            self._emitted = prepared, emit(prepared, SPELLING, const=c_literal)
        return self._emitted

    def text(self, kind: str, dtype: str) -> str:
        """The C source of a library, whether or not it is built."""
        name = f"{kind}-{dtype}"
        if name not in self.sources:
            prepared, body = self._emit()
            return UNIT_SEPARATOR.join(kernel_source(prepared, dtype, body, kind))
        return self.sources[name]

    def library(self, kind: str, dtype: str):
        """The loaded library (a `ctypes.CDLL`)."""
        lib = self._libs.get((kind, dtype))
        if lib is None:
            request = self._request(kind, dtype)
            found = recall(request, self.tools)
            if found is not None:
                lib, _, source = found
            else:
                prepared, body = self._emit()
                source = UNIT_SEPARATOR.join(kernel_source(prepared, dtype, body, kind))
                unit = kernel_unit(source, self.tools, *optimisation(body))
                ((lib, key, compiled),) = build_and_load([unit], self.tools)
                remember(request, key, unit)
                if compiled:
                    self.compiled.append(f"{kind}-{dtype}")
            self._libs[kind, dtype] = lib
            self.sources[f"{kind}-{dtype}"] = source
        return lib

    def address(self, dtype: str, kind: int) -> int:
        """The address of ``sympile_point`` (kind 0) or ``sympile_eval`` (kind 1): the runner's ``load``."""
        name = ("sympile_point", "sympile_eval")[kind]
        lib = self.library(POINT_KIND if kind == 0 else LOOP, dtype)
        return ctypes.cast(getattr(lib, name), ctypes.c_void_p).value


class CKernel:
    """A graph compiled to C: its loop and its one-point function each compiled on first use.

    ``point(dest, *args)`` (None without the runner, or for irregular nested arguments) and
    ``point_of_arrays`` are the runner's one-point entries; `eval` is the loop over points.
    """

    def __init__(self, graph: Graph, arg_tree: tuple | None = None):
        self.graph = graph
        self.n_in, self.n_out = len(graph.inputs), len(graph.outputs)
        self.arg_tree = arg_tree if arg_tree is not None else ("list", [("leaf", k) for k in range(self.n_in)])
        self.boolean = boolean_outputs(graph)
        #: how errors name each input, and the function's signature (`argument_names`)
        self.names, self.signature = argument_names(graph, self.arg_tree)
        tools = toolchain()
        self.libraries = Libraries(graph, tools)
        self.libraries.check()
        self._runner = load_runner(tools)
        self._entries: dict[str, object] = {}
        arguments = point_arguments(self.arg_tree)
        entry = self.entry(np.dtype(np.float64)) if self._runner is not None else None
        self.point = entry.point if entry is not None and arguments is not None else None
        #: whether ``point`` makes the arrays of a Matrix output itself, given their shapes
        self.point_arrays = bool(getattr(self._runner, "arrays", 0))
        #: ``point_of_arrays(dest, shapes, *args)``: one point from float64 arrays (numpify's entry)
        self.point_of_arrays = getattr(entry, "point_of_arrays", None)

    def entry(self, dtype: np.dtype):
        """The runner's `Kernel` for ``dtype`` (or a `CtypesKernel` without the runner)."""
        name = _FLOATS[dtype]
        got = self._entries.get(name)
        if got is None:
            if self._runner is None:
                got = CtypesKernel(lambda: self.libraries.library(LOOP, name), self.n_in, self.n_out, dtype)
            else:
                got = self._runner.Kernel(
                    dtype.itemsize,
                    self.n_in,
                    self.n_out,
                    point_arguments(self.arg_tree),
                    bytes(self.boolean),
                    partial(self.libraries.address, name),
                )
            self._entries[name] = got
        return got

    @property
    def sources(self) -> dict[str, str]:
        """The C of each library built so far, by ``"loop-float64"``, ``"point-float64"``, ..."""
        return self.libraries.sources

    @property
    def compiled(self) -> bool:
        """Whether any library of this kernel was compiled here (rather than found in the cache)."""
        return bool(self.libraries.compiled)

    @property
    def source(self) -> str:
        """The C of the float64 loop and one-point function (written, not compiled, if not built yet)."""
        return "\n".join(self.libraries.text(kind, "float64") for kind in (LOOP, POINT_KIND))

    def eval(self, flat, out=None, threads=None):
        """Outputs over broadcast inputs: an ``(n_out, *shape)`` array, or ``out`` filled point-major."""
        if len(flat) != self.n_in:
            raise ArgumentError(f"this kernel takes {self.n_in} inputs, got {len(flat)}")
        names = self.names
        flat = [numeric(v, f"{self.signature}: {names[k]}") for k, v in enumerate(flat)]
        dtype = compute_dtype(flat)
        arrays = [np.asarray(a, dtype) for a in flat]
        shape = np.broadcast_shapes(*(a.shape for a in arrays)) if arrays else ()
        # The kernel reads aligned values a whole number of items apart: an unaligned array (a
        # buffer at an odd offset, as a cluster may deliver one) or a field of a record array is
        # copied first.
        ins = [
            a
            if a.flags.aligned
            and (
                a.size == 1
                or (a.shape == shape and (a.flags.c_contiguous or (a.ndim == 1 and not a.strides[0] % a.itemsize)))
            )
            else np.require(np.broadcast_to(a, shape), requirements=("C", "A"))
            for a in arrays
        ]
        lib = self.entry(dtype)
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


def _point_pieces(out_tree: tuple, boolean: list[int], arrays: bool) -> tuple[str, str]:
    """How the one-point entry returns ``out_tree``: the ``dest`` it passes the runner, and the
    source that rebuilds the structure from the runner's result ``_r``.

    Every array of consecutive outputs that are not truth values comes back from C as one new
    array (a piece given by its shape), every other output as a number (a piece None); a lone
    array is the result itself. Without NumPy's headers (``arrays`` False) the arrays are made
    from the numbers here.
    """
    n_out = len(boolean)
    whole = out_tree[0] == "array" and _consecutive(leaves(out_tree))
    if whole and not any(boolean):
        return (repr(tuple(out_tree[1])) if arrays else f"_empty({tuple(out_tree[1])!r})"), "_r"
    pieces: list = []

    def leaf(k):
        pieces.append(None)
        return f"_r[{len(pieces) - 1}]"

    def array(shape, ks):
        if arrays and _consecutive(ks) and not any(boolean[k] for k in ks):
            pieces.append(tuple(shape))
            return f"_r[{len(pieces) - 1}]"
        return spell_array(shape, [leaf(k) for k in ks])

    result = rebuild(out_tree, leaf, array, spelt_sequence)
    if all(p is None for p in pieces):  # numbers only: one tuple of them (one number: itself)
        if n_out == 1:
            return "None", result.replace("_r[0]", "_r")
        # the outputs as a flat tuple in order (numpify's entry points ask for that): the
        # runner's tuple as it is, not rebuilt item by item
        in_order = out_tree == ("tuple", [("leaf", k) for k in range(n_out)])
        return "None", "_r" if in_order else result
    return repr(pieces), result


class _Built(Built):
    """`Built` whose source is written when first read: a kernel is emitted only when used."""

    def __init__(self, fn, kernel, entry: str):
        # what an argument error names as accepted: real numbers (the kernels compute in float32/64)
        super().__init__(fn, "", kernel=kernel, inputs=Inputs(complex=False))
        self._entry = entry

    @property
    def source(self) -> str:
        return self.kernel.source + "\n/* The Python entry point:\n\n" + self._entry + "*/\n"

    @source.setter
    def source(self, value) -> None:
        pass


def build(graph: Graph, arg_tree: tuple, out_tree: tuple, options: dict) -> Built:
    """Compile ``graph`` to C (`Built.kernel`: the `CKernel`); the source is the C, then the Python entry.

    The function takes the arguments of ``arg_tree`` and two keywords: ``out``, an array of
    shape ``(*shape, n_outputs)`` to fill point-major (then returned), and ``threads``. Nothing
    is compiled here: the one-point function on the first call with numbers, the loop on the
    first call with arrays.
    """
    kernel = CKernel(graph, arg_tree)
    params, unpack = arg_targets(arg_tree)
    boolean = kernel.boolean

    def leaf_o(k):
        return f"(_o[{k}] != 0)" if boolean[k] else f"_o[{k}]"

    def block_o(i, j, shape):
        if any(boolean[i:j]):
            return None
        return f"_o[{i}:{j}].reshape({tuple(shape)!r} + _o.shape[1:])"

    # positional only: the parameters' generated names are no part of the interface
    lines = [f"def _f({', '.join([*params, *(['/'] if params else []), '*', 'out=None', 'threads=None'])}):"]
    if kernel.point is not None and kernel.n_out:
        dest, result = _point_pieces(out_tree, boolean, kernel.point_arrays)
        lines += [
            "    if out is None:",
            f"        _r = _point({dest}, {', '.join(params)})",
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
    return _Built(fn, kernel, source)
