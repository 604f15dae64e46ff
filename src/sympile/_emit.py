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
from dataclasses import dataclass, field
from typing import Any, Callable

from ._errors import UnsupportedFunctionError
from ._graph import Graph
from ._ops import OPS, const_value


@dataclass
class Spelling:
    """How one backend writes ops: its spelling table plus the namespace the code runs in.

    ``table`` maps an op name to a format template (``"{0} + {1}"``; ``{a}`` is the
    node's attr, ``{ns}`` the backend's module prefix) or to a function ``(args, attr) -> str``; an op missing from the table is
    spelt ``{prefix}.{OpSpec.array}(...)`` when the op has an array name.
    """

    name: str
    prefix: str | None
    table: dict[str, Any]
    namespace: dict[str, Any] = field(default_factory=dict)

    def spell(self, op: str, args: list[str], attr: Any) -> str:
        t = self.table.get(op)
        if t is None:
            array = OPS[op].array
            if array is None or self.prefix is None:
                raise UnsupportedFunctionError(
                    f"the {self.name} backend has no spelling for the op {op!r}"
                )
            return f"{self.prefix}.{array}({', '.join(args)})"
        if callable(t):
            return t(args, attr)
        return t.format(*args, a=attr, ns=self.prefix)

    def supports(self, op: str) -> bool:
        return op in self.table or (OPS[op].array is not None and self.prefix is not None)


def literal(value: Any, hoist: Callable[[Any], str]) -> str:
    """Source text for a Python number; what has no literal form is hoisted to a name."""
    if type(value) is bool:
        return repr(value)
    if type(value) is int:
        if abs(value) < 2**63:
            return repr(value) if value >= 0 else f"({value!r})"
        return literal(float(value), hoist)
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


def emit(
    graph: Graph,
    spelling: Spelling,
    *,
    name: str = "_f",
    signature: list[str] | None = None,
    prologue: list[str] = (),
    returns: Callable[[list[str]], str] | None = None,
    const: Callable[[Any], str] | None = None,
) -> Emitted:
    """Straight-line source for ``graph``.

    Args:
        signature: the parameter list (default ``a0, a1, ...``, one per input slot).
        prologue: statements placed before the body (unpacking nested arguments).
        returns: builds the return expression from the outputs' source texts
            (default: one value, or a tuple of them).
        const: spells a literal's attr (default: its Python value, see `literal`).
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

    nodes = graph.nodes
    last_use = [-1] * len(nodes)
    for i, n in enumerate(nodes):
        for a in n.args:
            last_use[a] = i
    for o in graph.outputs:
        last_use[o] = len(nodes)

    text: list[str | None] = [None] * len(nodes)
    body: list[str] = []
    free: list[int] = []
    counter = itertools.count()
    slot_of: dict[int, int] = {}
    for i, n in enumerate(nodes):
        op = n.op
        if op == "input":
            text[i] = f"a{n.attr}"
            continue
        if op == "const":
            text[i] = const(n.attr) if const is not None else literal(const_value(n.attr), hoist)
            continue
        if op == "call":
            expr = f"{hoist(n.attr[1])}({', '.join(text[a] for a in n.args)})"
        else:
            expr = spelling.spell(op, [text[a] for a in n.args], n.attr)
        # Free the locals whose last use is this statement; the result may reuse one.
        for a in set(n.args):
            if last_use[a] == i and a in slot_of:
                free.append(slot_of.pop(a))
        if last_use[i] < 0:
            continue  # dead: no output needs it (a pruned graph has none)
        s = free.pop() if free else next(counter)
        slot_of[i] = s
        text[i] = f"_{s}"
        body.append(f"    _{s} = {expr}")

    outs = [text[o] for o in graph.outputs]
    ret = returns(outs) if returns is not None else (outs[0] if len(outs) == 1 else "(" + ", ".join(outs) + ",)")
    params = signature if signature is not None else [f"a{k}" for k in range(len(graph.inputs))]
    lines = [f"def {name}({', '.join(params)}):", *(f"    {p}" for p in prologue), *body, f"    return {ret}"]
    return Emitted("\n".join(lines) + "\n", ns, name)


_serial = itertools.count()


def compile_source(emitted: Emitted, tag: str) -> Callable:
    """Compile emitted source into a function, registering the text with `linecache`."""
    filename = f"<sympile-{tag}-{next(_serial)}>"
    code = compile(emitted.source, filename, "exec")
    linecache.cache[filename] = (len(emitted.source), None, emitted.source.splitlines(True), filename)
    ns = dict(emitted.namespace)
    exec(code, ns)
    return ns[emitted.name]


#: Python's operators: the same spelling in every Python backend.
INFIX = {
    "add": "{0} + {1}",
    "sub": "{0} - {1}",
    "mul": "{0} * {1}",
    "div": "{0} / {1}",
    "neg": "-{0}",
    "powi": "{0} ** {a}",
    "pow": "{0} ** {1}",
    "lt": "{0} < {1}",
    "le": "{0} <= {1}",
    "gt": "{0} > {1}",
    "ge": "{0} >= {1}",
    "eq": "{0} == {1}",
    "ne": "{0} != {1}",
}

#: Ops that array libraries lack but spell with what they have (``{ns}``: the module).
ARRAY_FORMS = {
    **INFIX,
    "rsqrt": "1 / {ns}.sqrt({0})",
    "cot": "1 / {ns}.tan({0})",
    "sec": "1 / {ns}.cos({0})",
    "csc": "1 / {ns}.sin({0})",
    "acot": "{ns}.arctan(1 / {0})",
    "asec": "{ns}.arccos(1 / {0})",
    "acsc": "{ns}.arcsin(1 / {0})",
    "coth": "1 / {ns}.tanh({0})",
    "sech": "1 / {ns}.cosh({0})",
    "csch": "1 / {ns}.sinh({0})",
    "acoth": "{ns}.arctanh(1 / {0})",
    "asech": "{ns}.arccosh(1 / {0})",
    "acsch": "{ns}.arcsinh(1 / {0})",
    "frac": "{0} - {ns}.floor({0})",
    "sinc": "{ns}.sinc({0} / {ns}.pi)",
}
