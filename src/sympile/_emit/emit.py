"""Emitting: a `Graph` -> straight-line Python source, spelt by a backend's table.

One statement per node, in graph order, one return. Locals are reused once the value
they hold is dead (a linear-scan register allocation), so a 100,000-node graph over large
arrays keeps only the live intermediates in memory. Symbol names never reach the source:
inputs are ``a0, a1, ...``, literals are written from Python numbers, and anything else
(user functions, non-finite numbers) is passed in through the namespace.
"""

from __future__ import annotations

import itertools
import linecache
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from .._core.constants import const_value
from .._core.errors import UnsupportedFunctionError
from .._core.graph import Graph
from .._core.ops import OPS
from .._core.tuning import MAX_INLINE_DEPTH, MAX_INLINE_OPS, MAX_INLINE_READS


@dataclass
class Spelling:
    """How one backend writes ops: its spelling table plus the namespace the code runs in.

    ``table`` maps an op name to a format template (``"{0} + {1}"``; ``{a}`` is the node's
    attr, ``{ns}`` the backend's module prefix), to a function ``(args, attr) -> str``, or to
    None where the backend lacks the op (its decomposition is used). An op missing from the
    table is spelt ``{prefix}.{OpSpec.array}(...)`` when the op has an array name and the
    backend a prefix. In Python code a user's function (a ``call`` node) is passed in through
    the namespace unless the table spells calls itself.
    """

    name: str
    prefix: str | None
    table: dict[str, Any]
    namespace: dict[str, Any] = field(default_factory=dict)
    #: Whether the code is Python (which can call the user's functions).
    python: bool = True
    #: Turns a data leaf's NumPy array into the backend's array (None: the array as it is).
    data: Callable[[Any], Any] | None = None
    #: What a user can do about an op the backend cannot compute.
    remedy: str = "pass extra_funcs={{sympy.{title}: <a function>}} to supply one, or use backend='numpy'"
    #: Integer literals at least this large in magnitude are written as floats: the largest the
    #: backend's default integer holds exactly (JAX without x64 makes Python ints int32).
    int_limit: int = 2**63

    def spells(self, op: str) -> bool:
        if op in self.table:
            return self.table[op] is not None
        if op == "call":
            return self.python
        return OPS[op].array is not None and self.prefix is not None

    def spell(self, op: str, args: list[str], attr: Any) -> str:
        t = self.table.get(op)
        if t is None:
            array = OPS[op].array
            if array is None or self.prefix is None or op in self.table:
                raise self.unsupported(op)
            return f"{self.prefix}.{array}({', '.join(args)})"
        if callable(t):
            return t(args, attr)
        return t.format(*args, a=attr, ns=self.prefix)

    def unsupported(self, op: str, detail: str = "") -> UnsupportedFunctionError:
        """The error for an op this backend cannot compute (``detail``: in which case)."""
        title = OPS[op].title
        return UnsupportedFunctionError(
            f"the {self.name} backend cannot compute {title}{detail}: it has no spelling for it and no "
            f"decomposition into ops it has; {self.remedy.format(title=title)}"
        )

    def repeated(self) -> dict[str, tuple[int, ...]]:
        """For each op whose spelling writes an argument twice, the positions of those arguments."""
        found = {}
        for op, t in self.table.items():
            if isinstance(t, str):
                twice = tuple(k for k in range(4) if t.count("{" + str(k) + "}") > 1)
                if twice:
                    found[op] = twice
        return found


def literal(value: Any, hoist: Callable[[Any], str], int_limit: int = 2**63) -> str:
    """Source text for a Python number; what has no literal form is hoisted to a name."""
    if type(value) is bool:
        return repr(value)
    if type(value) is int:
        if abs(value) < int_limit:
            return repr(value) if value >= 0 else f"({value!r})"
        try:
            return literal(float(value), hoist)
        except OverflowError:  # past float64: the inf that float arithmetic would give
            return hoist(math.copysign(math.inf, value))
    if type(value) is float:
        if math.isfinite(value):
            return repr(value) if value >= 0 or value != value else f"({value!r})"
        return hoist(value)
    if type(value) is complex:
        if math.isfinite(value.real) and math.isfinite(value.imag):
            text = repr(value)
            return text if text.startswith("(") else f"({text})"
        return hoist(value)
    return hoist(value)


@dataclass
class Emitted:
    source: str
    namespace: dict[str, Any]
    name: str
    #: The pieces of ``source``, for backends that frame them in another language (C):
    #: the statements (``_3 = <expr>``, one per line, indented), the outputs' texts, and
    #: how many locals ``_0 .. _{n-1}`` the statements use.
    body: list[str] = field(default_factory=list)
    results: list[str] = field(default_factory=list)
    slots: int = 0


def schedule(graph: Graph) -> list[int]:
    """The order statements are written in: depth first from the outputs (`Graph.postorder`),
    so one output's subtree is finished before the next is started and few intermediates are
    alive at once."""
    return graph.postorder()


def emit(
    graph: Graph,
    spelling: Spelling,
    *,
    name: str = "_f",
    signature: list[str] | None = None,
    prologue: list[str] = (),
    returns: Callable[[list[str]], str] | None = None,
    const: Callable[[Any], str] | None = None,
    order: list[int] | None = None,
    chains: bool = False,
) -> Emitted:
    """Straight-line source for ``graph``.

    A node used by several others gets a local; a node used once is written inline into
    its user (up to `MAX_INLINE_DEPTH`), as a person would write it: fewer statements
    run faster, and a temporary array is freed as soon as its user is done.

    Args:
        signature: the parameter list (default ``a0, a1, ...``, one per input slot).
        prologue: statements placed before the body (unpacking nested arguments).
        returns: builds the return expression from the outputs' source texts
            (default: one value, or a tuple of them).
        const: spells a literal's attr (default: its Python value, see `literal`).
        order: the order of evaluation (default: `schedule`).
        chains: write a single-use tree of ``add`` as one left-to-right chain,
            ``a + b + c + d``, instead of the graph's balanced ``(a + b) + (c + d)``. For
            scalar code: CPython runs the chain a few per cent faster (the rounding differs
            from the balanced form's within the sum's own error bound). Products keep the
            graph's grouping: regrouped, ``e * (e * q)`` can become ``(e * e) * q``, which
            overflows to ``inf * 0 = nan`` where the graph's form gives 0.
    """
    ns = dict(spelling.namespace)
    hoisted: dict[Any, str] = {}

    def hoist(value: Any) -> str:
        key = (type(value), repr(value), id(value) if callable(value) else 0)
        got = hoisted.get(key)
        if got is None:
            got = hoisted[key] = f"_k{len(hoisted)}"
            ns[got] = value
        return got

    def hoist_data(data) -> str:
        key = ("data", data.digest)
        got = hoisted.get(key)
        if got is None:
            got = hoisted[key] = f"_k{len(hoisted)}"
            ns[got] = data.values if spelling.data is None else spelling.data(data.values)
        return got

    nodes = graph.nodes
    uses = graph.use_counts()
    shared = [u > 1 for u in uses]
    repeated = spelling.repeated()
    for n in nodes:  # an argument that a template writes twice must be computed once
        for k in repeated.get(n.op, ()):
            shared[n.args[k]] = True

    text: list[str] = [""] * len(nodes)
    depth = [0] * len(nodes)
    size = [0] * len(nodes)
    refs: list[tuple] = [()] * len(nodes)  # the locals an inline text reads
    terms: dict[int, list[str]] = {}  # an inline add/mul chain's operands (``chains``)
    remaining = [0] * len(nodes)  # reads of a local not yet emitted
    slot_of: dict[int, int] = {}
    free: list[int] = []
    counter = itertools.count()
    body: list[str] = []

    def consume(read: tuple) -> None:
        for r in read:
            remaining[r] -= 1
            if remaining[r] == 0:
                free.append(slot_of.pop(r))

    for i in schedule(graph) if order is None else order:
        n = nodes[i]
        op = n.op
        if op == "input":
            text[i] = f"a{n.attr}"
            continue
        if op == "const":
            text[i] = const(n.attr) if const is not None else literal(const_value(n.attr), hoist, spelling.int_limit)
            continue
        if op == "data":  # the array itself, passed in through the namespace
            text[i] = hoist_data(n.attr)
            continue
        args = [text[a] for a in n.args]
        inputs = n.args
        if op == "call" and "call" not in spelling.table and spelling.python:  # a table may spell calls itself
            expr = f"{hoist(n.attr[1])}({', '.join(args)})"
        elif chains and op in _CHAIN:
            operands = []
            for a in n.args:
                operands.extend(terms[a] if a in terms and nodes[a].op == op else (text[a],))
            terms[i] = operands
            expr = _CHAIN[op].join(operands)
        else:
            expr = spelling.spell(op, args, n.attr)
        read = tuple(r for a in inputs for r in (refs[a] if a not in slot_of else (a,)))
        d = 1 + max((depth[a] for a in inputs), default=0)
        k = 1 + sum(size[a] for a in inputs)
        if not shared[i] and d < MAX_INLINE_DEPTH and k < MAX_INLINE_OPS and len(read) <= MAX_INLINE_READS and n.args:
            text[i], depth[i], size[i], refs[i] = f"({expr})", d, k, read
            continue
        terms.pop(i, None)  # a local now: a later chain reads its name
        consume(read)
        s = free.pop() if free else next(counter)
        slot_of[i] = s
        remaining[i] = uses[i]
        text[i] = f"_{s}"
        body.append(f"    _{s} = {expr}")

    outs = [text[o] for o in graph.outputs]
    ret = returns(outs) if returns is not None else (outs[0] if len(outs) == 1 else "(" + ", ".join(outs) + ",)")
    params = signature if signature is not None else [f"a{k}" for k in range(len(graph.inputs))]
    lines = [f"def {name}({', '.join(params)}):", *(f"    {p}" for p in prologue), *body, f"    return {ret}"]
    return Emitted("\n".join(lines) + "\n", ns, name, body, outs, next(counter))


#: The operators that ``emit(chains=True)`` writes as one chain.
_CHAIN = {"add": " + "}

_serial = itertools.count()


def bind(fn: Callable, **names: Any) -> None:
    """Give generated code the names it reads that exist only after it is compiled (the object
    that owns it, say): they become globals of ``fn``'s namespace."""
    fn.__globals__.update(names)


def compile_source(emitted: Emitted, tag: str) -> Callable:
    """Compile emitted source into a function, registering the text with `linecache`."""
    filename = f"<sympile-{tag}-{next(_serial)}>"
    code = compile(emitted.source, filename, "exec")
    linecache.cache[filename] = (len(emitted.source), None, emitted.source.splitlines(True), filename)
    ns = dict(emitted.namespace)
    exec(code, ns)
    return ns[emitted.name]
