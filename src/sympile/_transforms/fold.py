"""Constant folding: every subgraph that depends on no input becomes one literal.

Values come from SymPy at 30 digits and are rounded once, so ``log(3)`` or
``2/sqrt(pi)`` is the correctly rounded float64, and a constant never costs an operation
at run time. A literal is a Python number, so it takes the dtype of the arrays it meets
(NumPy's and PyTorch's weak scalars): float32 inputs stay float32.
"""

from __future__ import annotations

from fractions import Fraction

import sympy as sp

from .._core.graph import Builder, Graph, Node
from .._core.ops import NAMED_CONSTANTS

_VARIABLE = frozenset({"input", "param", "buffer", "call"})
#: Part of the C kernels' cache key: change it when what `fold_constants` rewrites changes.
REWRITES = ("fold constants", "share negations", 1)


def fold_constants(graph: Graph) -> Graph:
    """The same graph with each input-free subgraph replaced by a literal, and each value
    that is the negation of another computed from it (`share_negations`)."""
    return share_negations(_fold_literals(graph))


def _fold_literals(graph: Graph) -> Graph:
    nodes = graph.nodes
    variable = [False] * len(nodes)
    for i, n in enumerate(nodes):
        variable[i] = n.op in _VARIABLE or any(variable[a] for a in n.args)
    points = set()
    for i, n in enumerate(nodes):
        if variable[i]:
            points.update(a for a in n.args if not variable[a] and nodes[a].args)
    points.update(o for o in graph.outputs if not variable[o] and nodes[o].args)
    if not points:
        return graph
    from .._sympy.raising import to_sympy

    values = {}
    exact: dict[int, tuple] = {}
    for i in points:  # arithmetic on numbers: exactly, in Python, rounded once
        v = _arithmetic(nodes, i, exact)
        if v is not None:
            values[i] = v
    order = sorted(points - values.keys())
    if order:  # the rest through SymPy; pruned: raise only the constant subgraphs
        values.update(zip(order, map(_literal, to_sympy(graph.with_outputs(order).pruned()))))
    b = Builder()
    new = [0] * len(nodes)
    for i, n in enumerate(nodes):
        v = values.get(i)
        if v is not None:
            new[i] = b.const(v)
        else:
            new[i] = b.node(n.op, tuple(new[a] for a in n.args), n.attr)
    return b.graph([new[o] for o in graph.outputs], graph.inputs, graph.params, graph.buffers).pruned()


_NUMBER = (int, float, Fraction)


def share_negations(graph: Graph) -> Graph:
    """The same graph computing each value that is another's negation from that other.

    A sum and its negation arise together (``x - c`` and ``c - x``, ``c*u`` and ``-c*u``:
    SymPy distributes a minus sign over sums, and derivatives of one expression hold both).
    Each such pair is computed once: the second member becomes a negation of the first,
    and negations are carried up to where they cost nothing (``a + -b`` is ``a - b``,
    ``a * -b`` is ``-(a*b)``) and written out only where they do not. Negation is exact, so
    every value is unchanged (up to the sign of a zero difference). The graph is kept as it
    was when the result would not have fewer operations.
    """
    nodes = graph.nodes
    seen: dict[str, dict[tuple[int, int], int]] = {"add": {}, "sub": {}, "mul": {}}
    consts: dict[tuple, int] = {}
    literal: dict[int, object] = {}  # node -> its value, for finite real literals
    twin: dict[int, int] = {}  # node -> an earlier node it is the negation of
    for j, n in enumerate(nodes):
        op = n.op
        if op == "const":
            v = n.attr
            consts.setdefault((type(v), v), j)
            if type(v) in _NUMBER and v == v:
                literal[j] = v
            continue
        table = seen.get(op)
        if table is None:
            continue
        a, b = n.args
        i = None
        if op == "sub":
            i = table.get((b, a))
            if i is None and a in literal:  # k - r and r + (-k)
                v = literal[a]
                k = consts.get((type(v), -v))
                if k is not None:
                    i = seen["add"].get((b, k) if b < k else (k, b))
        else:
            for u, c in ((a, b), (b, a)):
                if c not in literal or u in literal:
                    continue
                v = literal[c]
                k = consts.get((type(v), -v))
                if k is None:
                    continue
                # r + k and (-k) - r; u*k and u*(-k)
                i = seen["sub"].get((k, u)) if op == "add" else table.get((u, k) if u < k else (k, u))
                if i is not None:
                    break
        if i is not None:
            twin[j] = i
        table.setdefault(n.args, j)
    if not twin:
        return graph

    new: list[Node] = []
    made: dict[tuple, int] = {}

    def node(op: str, args: tuple[int, ...], attr=None) -> int:
        if op in ("add", "mul") and args[0] > args[1]:
            args = (args[1], args[0])
        key = (op, args, type(attr), attr)
        k = made.get(key)
        if k is None:
            k = made[key] = len(new)
            new.append(Node(op, args, attr))
        return k

    def plain(ref: tuple[int, bool]) -> int:
        k, negated = ref
        return node("neg", (k,)) if negated else k

    where: list[tuple[int, bool]] = []  # old node -> (new node, whether it holds the negation)
    for j, n in enumerate(nodes):
        if j in twin:
            k, negated = where[twin[j]]
            where.append((k, not negated))
            continue
        args = [where[a] for a in n.args]
        if n.op == "neg":
            k, negated = args[0]
            where.append((k, not negated))
        elif n.op in ("add", "sub"):
            (x, nx), (y, ny) = args
            if n.op == "sub":
                ny = not ny
            if nx == ny:  # x + y, or -(x + y)
                where.append((node("add", (x, y)), nx))
            else:
                where.append((node("sub", (y, x) if nx else (x, y)), False))
        elif n.op in ("mul", "div"):
            (x, nx), (y, ny) = args
            where.append((node(n.op, (x, y)), nx != ny))
        else:
            where.append((node(n.op, tuple(plain(r) for r in args), n.attr), False))
    outputs = [plain(where[o]) for o in graph.outputs]
    out = Graph(new, outputs, graph.inputs, graph.params, graph.buffers).pruned()
    ops = sum(1 for n in out.nodes if n.args)
    return out if ops < sum(1 for n in graph.pruned().nodes if n.args) else graph


_EXACT_OPS = {
    "neg": lambda a: -a,
    "add": lambda a, b: a + b,
    "sub": lambda a, b: a - b,
    "mul": lambda a, b: a * b,
    "div": lambda a, b: a / b,
}


def _arithmetic(nodes, root: int, memo: dict[int, tuple]):
    """The literal for a constant subgraph of finite numbers and ``+ - * /`` (None otherwise).

    Python floats are exact binary fractions, so the value is computed exactly with
    `Fraction` and rounded once: the correctly rounded float when any literal was a float,
    else the exact int or Fraction, as SymPy gives them.
    """
    stack = [root]
    while stack:
        i = stack[-1]
        if i in memo:
            stack.pop()
            continue
        n = nodes[i]
        if n.op == "const":
            v = n.attr
            if type(v) is float and v - v == 0:
                memo[i] = (Fraction(v), True)
            elif type(v) in (int, Fraction):
                memo[i] = (Fraction(v), False)
            else:
                memo[i] = None
            stack.pop()
            continue
        rule = _EXACT_OPS.get(n.op)
        if rule is None:
            memo[i] = None
            stack.pop()
            continue
        todo = [a for a in n.args if a not in memo]
        if todo:
            stack.extend(todo)
            continue
        stack.pop()
        got = [memo[a] for a in n.args]
        if None in got or (n.op == "div" and got[1][0] == 0):
            memo[i] = None
            continue
        memo[i] = (rule(*(g[0] for g in got)), any(g[1] for g in got))
    found = memo[root]
    if found is None:
        return None
    value, inexact = found
    if inexact:
        try:
            return float(value)
        except OverflowError:
            return None
    return int(value) if value.denominator == 1 else value


def _literal(e):
    """The literal attr for a constant SymPy value, or None to keep the subgraph."""
    if e is sp.true or e is sp.false:
        return bool(e)
    if e.is_Integer:
        return int(e)
    if e.is_Rational:
        return Fraction(int(e.p), int(e.q))
    name = NAMED_CONSTANTS.get(e)
    if name is not None:
        return name
    try:
        v = sp.N(e, 30)
    except Exception:
        return None
    if not v.is_number or v.has(sp.nan, sp.zoo, sp.oo, -sp.oo):
        return None
    re, im = v.as_real_imag()
    if not (re.is_Number and im.is_Number):
        return None
    return float(re) if im == 0 else complex(float(re), float(im))
