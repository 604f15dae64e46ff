"""Automatic differentiation on the graph: reverse mode, forward mode and what they compose.

Each op's derivative rule builds graph nodes, so a derivative graph is hash-consed and
simplified as it is built and stays linear in the size of the original (the cheap-gradient
principle); no `sympy.diff` is involved. The result of every transform is again a `Graph`.

Branches never poison a derivative, of any order. The partials of a node that sits in a
branch (its guard, `mask.node_guards`, is not empty) are taken at masked inputs, the
double-where pattern of `mask` applied to the derivative graph: ``sqrt`` under
``where(x > 0, ...)`` gets the partial ``0.5 / sqrt(where(x > 0, x, 1))``, finite where the
branch is not taken and exact where it is (`_Masks`). The forward values are not changed;
only the derivative nodes read the masked copies. Since every node a derivative graph is
built from is finite where its branch is untaken, a zero adjoint times it stays zero, and a
derivative of the derivative graph is again taken at masked inputs. Selects are also pushed
through the chain rule instead of multiplied in (``where(c, t, 0) * p`` becomes
``where(c, t * p, 0)``), which keeps the derivative graph small.

Over data (`points`), a derivative that crosses from a per-point node into a scalar one (an
adjoint reaching a parameter, a tangent reaching a ``psum``) is summed over the points.
"""

from __future__ import annotations

from collections.abc import Sequence

import sympy as sp

from .._core.errors import DifferentiationError
from .._core.graph import Builder, Graph
from .._core.ops import NOT_DIFFERENTIABLE, OPS
from .._core.rewrite import memoized
from .._core.tuning import MEET_STEPS
from .conjugates import holomorphic, real_part
from .mask import condition_literals, node_guards
from .points import PointCounts, sum_points


def _is_zero(b: Builder, i: int | None) -> bool:
    return i is None or b.is_const(i, 0)


def _masked(b: Builder, i: int):
    """``(c, u, taken)`` if node ``i`` is ``where(c, u, 0)`` (taken) or ``where(c, 0, u)``."""
    n = b.nodes[i]
    if n.op == "where":
        c, u, v = n.args
        if b.is_const(v, 0):
            return c, u, True
        if b.is_const(u, 0):
            return c, v, False
    return None


def chain(b: Builder, t: int | None, p: int | None) -> int | None:
    """``t * p`` for the chain rule; None stands for an exact zero."""
    if _is_zero(b, t) or _is_zero(b, p):
        return None
    if b.is_const(p, 1):
        return t
    if b.is_const(p, -1):
        return b.neg(t)
    for x, y in ((p, t), (t, p)):
        m = _masked(b, x)
        if m is not None:
            c, u, taken = m
            inner = y if b.is_const(u, 1) else chain(b, u, y)
            if inner is None:
                return None
            zero = b.const(0)
            return b.where(c, inner, zero) if taken else b.where(c, zero, inner)
    return b.mul(t, p)


def accumulate(b: Builder, acc: int | None, x: int | None) -> int | None:
    """``acc + x``; two selects on the same condition add branch by branch."""
    if _is_zero(b, acc):
        return x
    if _is_zero(b, x):
        return acc
    na, nx = b.nodes[acc], b.nodes[x]
    if na.op == "where" and nx.op == "where" and na.args[0] == nx.args[0]:
        c = na.args[0]
        return b.where(c, b.add(na.args[1], nx.args[1]), b.add(na.args[2], nx.args[2]))
    return b.add(acc, x)


def _rule(n):
    rule = OPS[n.op].deriv
    if rule is None:
        what = n.attr[0] if n.op == "call" else n.op
        raise DifferentiationError(
            f"sympile has no derivative rule for {what}; a function from extra_funcs cannot be "
            "differentiated on the graph (write it in SymPy terms instead)"
        )
    return rule


class _Masks:
    """The partials of the nodes that the outputs need only in a branch, taken at masked inputs.

    A node's guard (`mask.node_guards`) is the set of conditions under which the outputs need
    it. Its *twin* is the node computed from the twins of its arguments, each argument with a
    safe value (`OpSpec.safe`) replaced by that value where the guard fails: equal to the node
    where the guard holds, finite where it does not. A guarded node's partials are its rule at
    its twin and the twins' (masked) arguments. Outside the guard the adjoint (or the tangent's
    use) is zero, and the partial it meets is finite, so their product is zero, not NaN.
    Graphs without a ``where`` have no guards and cost nothing here.
    """

    def __init__(self, b: Builder, outputs: Sequence[int], order: Sequence[int] | None = None):
        self.b = b
        nodes = b.nodes
        if order is None:
            order = cone(b, outputs)
        self.guard = node_guards(nodes, outputs, order) if any(nodes[i].op == "where" for i in order) else None
        self.twins: dict[int, int] = {}
        self.conds: dict[frozenset, int] = {}

    def partials(self, i: int) -> tuple:
        b = self.b
        n = b.nodes[i]
        rule = _rule(n)
        if self.guard is None or not self.guard.get(i):
            return rule(b, i, n.attr, *n.args)
        args = self._masked_args(i)
        return rule(b, self._twin(i), n.attr, *args)

    def _cond(self, guard: frozenset) -> int:
        c = self.conds.get(guard)
        if c is None:
            b = self.b
            lits = [lit if pol else b.op("not", lit) for lit, pol in condition_literals(b.nodes, guard)]
            c = self.conds[guard] = b.reduce("and", lits)
        return c

    def _masked_args(self, i: int) -> list[int]:
        b, n = self.b, self.b.nodes[i]
        args = [self.twins.get(a, a) for a in n.args]
        safe = OPS[n.op].safe
        guard = self.guard.get(i)
        if safe is not None and guard and b.variable[i]:
            # (a node of constants has no partial that a derivative uses, and masked it would be
            # computed at run time, in real arithmetic, where every other use of it folds to
            # SymPy's value: LambertW(-3.5) NaN beside its complex literal)
            c = self._cond(guard)
            for k, v in enumerate(safe):
                if v is not None:
                    args[k] = b.where(c, args[k], b.const(v))
        return args

    def _twin(self, i: int) -> int:
        """The twin of node ``i``, made after its guarded arguments' twins."""
        nodes, guard = self.b.nodes, self.guard

        def make(j: int, _) -> int:
            n = nodes[j]
            return self.b.node(n.op, tuple(self._masked_args(j)), n.attr)

        return memoized(i, lambda j: [a for a in nodes[j].args if guard.get(a)], make, self.twins)


def _check(p, b: Builder, i: int, k: int):
    if p is NOT_DIFFERENTIABLE:
        raise DifferentiationError(
            f"the derivative of {b.nodes[i].op} with respect to its argument {k + 1} is not supported"
        )
    return p


def cone(b: Builder, outputs: Sequence[int]) -> list[int]:
    """The nodes that ``outputs`` depend on, themselves included, in graph order: what a sweep walks.

    A builder also holds what was built before: other outputs' derivatives, a Hessian's earlier
    columns. A sweep over every node below its outputs would differentiate those too, for
    nothing, and the derivatives it built would be walked again by the next sweep; the sweeps of
    ``k`` outputs then grew much faster than ``k``. Over the cone a sweep costs what the
    graph it differentiates costs, wherever in the builder that graph lies.
    """
    nodes = b.nodes
    seen = set(outputs)
    stack = list(seen)
    while stack:
        for a in nodes[stack.pop()].args:
            if a not in seen:
                seen.add(a)
                stack.append(a)
    return sorted(seen)


def _depends(b: Builder, sources: Sequence[int], order: Sequence[int]) -> set[int]:
    """The nodes of ``order`` (a `cone`) that depend on ``sources``, and the sources."""
    dep = set(sources)
    nodes = b.nodes
    for i in order:
        if i not in dep:
            for a in nodes[i].args:
                if a in dep:
                    dep.add(i)
                    break
    return dep


def _holomorphic_cone(b: Builder, outputs: Sequence[int]) -> tuple[list[int], list[int]]:
    """``(outputs, cone)``: the outputs with the complex parts of complex values in their cone
    made holomorphic (`conjugates.holomorphic`), and the cone of what a sweep walks."""
    order = cone(b, outputs)
    outs = holomorphic(b, outputs, order)
    return (outs, order) if outs == list(outputs) else (outs, cone(b, outs))


def reverse(b: Builder, outputs: Sequence[int], cotangents: Sequence[int], wrt: Sequence[int]) -> list[int]:
    """Adjoints of the leaves ``wrt`` for the given output cotangents (reverse mode)."""
    outputs, order = _holomorphic_cone(b, outputs)
    dep = _depends(b, wrt, order)
    targets = set(wrt)
    counts = PointCounts.of(b)
    masks = _Masks(b, outputs, order)
    adj: dict[int, int | None] = {}
    found: dict[int, int | None] = {}
    for o, c in zip(outputs, cotangents):
        if o in dep:
            adj[o] = accumulate(b, adj.get(o), c)
    for i in reversed(order):
        a = adj.pop(i, None)
        if i in targets:
            found[i] = a
        if a is None or not b.nodes[i].args:
            continue
        for k, (arg, p) in enumerate(zip(b.nodes[i].args, masks.partials(i))):
            if p is None or arg not in dep:
                continue
            c = chain(b, a, _check(p, b, i, k))
            if counts.any and counts(i) and not counts(arg):
                c = sum_points(b, c, counts(i), counts)
            adj[arg] = accumulate(b, adj.get(arg), c)
    zero = b.const(0)
    result = [zero if found.get(w) is None else found[w] for w in wrt]
    return real_part(b, outputs, cotangents, result)


def forward(
    b: Builder,
    wrt: Sequence[int],
    tangents: Sequence[int],
    outputs: Sequence[int],
    *,
    preaccumulate: bool = False,
    masks: _Masks | None = None,
) -> list[int]:
    """Tangents of ``outputs`` for the given tangents of the leaves ``wrt`` (forward mode).

    With ``preaccumulate``, the local derivatives are gathered first (`_forward_dominated`):
    for sweeps repeated over many columns (a Hessian, a forward Jacobian), the part that
    does not depend on the column is built once and shared. Such sweeps also share ``masks``
    (`_Masks` of outputs that include these ones).
    """
    outputs, order = _holomorphic_cone(b, outputs)
    if masks is None:
        masks = _Masks(b, outputs, order)
    if preaccumulate:
        result = _forward_dominated(b, wrt, tangents, outputs, masks, order)
        return real_part(b, outputs, tangents, result)
    counts = PointCounts.of(b)
    tan: dict[int, int | None] = {}
    for w, t in zip(wrt, tangents):
        tan[w] = accumulate(b, tan.get(w), t)
    for i in order:
        n = b.nodes[i]
        if i in tan or not any(tan.get(a) is not None for a in n.args):
            continue
        t = None
        for k, (arg, p) in enumerate(zip(n.args, masks.partials(i))):
            ta = tan.get(arg)
            if ta is None or p is None:
                continue
            c = chain(b, ta, _check(p, b, i, k))
            if counts.any and counts(arg) and not counts(i):
                c = sum_points(b, c, counts(arg), counts)
            t = accumulate(b, t, c)
        tan[i] = t
    zero = b.const(0)
    result = [zero if tan.get(o) is None else tan[o] for o in outputs]
    return real_part(b, outputs, tangents, result)


def _forward_dominated(
    b: Builder, wrt: Sequence[int], tangents: Sequence[int], outputs: Sequence[int], masks: _Masks, order: list[int]
) -> list[int]:
    """Forward mode with the local derivatives of single-entry regions gathered first.

    A node's tangent is a sum over the paths from the seeds. When every such path passes
    through one node ``h`` (``h`` dominates it), the tangent is ``D * tan(h)``, where ``D``
    (the derivative with respect to ``h``) does not depend on the seeds' tangents. Each
    active node gets its immediate dominator (the meeting point of its active arguments'
    dominators) and its *head*, the topmost dominator below the seeds; ``D`` is built by
    forward mode from the head with a unit tangent. A sweep then costs one multiply per
    needed node inside a region, and the usual rule only at heads. In a Hessian each column
    is one sweep over the gradient: the ``D``s (the second derivatives of the elementwise
    pieces, ``s'(z)`` of a sigmoid) are the same nodes in every column, so hash-consing builds
    them once, where plain forward mode pushed every column through every piece.
    """
    nodes = b.nodes
    root = -1
    seeds: dict[int, int | None] = {}
    for w, t in zip(wrt, tangents):
        seeds[w] = accumulate(b, seeds.get(w), t)
    idom: dict[int, int] = {}  # active node -> immediate dominator (root: none below the seeds)
    depth: dict[int, int] = {root: 0}
    head: dict[int, int] = {}
    local: dict[int, int | None] = {}  # non-head active node -> d node / d head
    active_args: dict[int, list[tuple[int, int]]] = {}
    one = b.const(1)
    counts = PointCounts.of(b)

    def meet(x: int, y: int) -> int:
        steps = 0
        while x != y:
            if depth[x] >= depth[y]:
                x = idom[x]
            else:
                y = idom[y]
            steps += 1
            if steps > MEET_STEPS:
                return root
        return x

    for i in order:
        if i in seeds:
            idom[i], depth[i], head[i] = root, 1, i
            continue
        n = nodes[i]
        if not any(a in idom for a in n.args):
            continue
        args = []
        for k, (arg, p) in enumerate(zip(n.args, masks.partials(i))):
            if arg in idom and p is not None and not _is_zero(b, p):
                args.append((arg, _check(p, b, i, k)))
        if not args:
            continue
        active_args[i] = args
        d = args[0][0]
        for a, _ in args[1:]:
            if d == root:
                break
            d = meet(d, a)
        if d in seeds or n.op == "psum":  # the seeds' tangents are the caller's; a sum is not a product
            d = root
        idom[i] = d
        depth[i] = depth[d] + 1
        if d == root:
            head[i] = i
            continue
        h = head[i] = head[d]
        acc = None
        for a, p in args:
            acc = accumulate(b, acc, chain(b, one if a == h else local.get(a), p))
        local[i] = acc

    # the tangents the outputs need, in graph order
    needed: set[int] = set()
    stack = [o for o in outputs if o in idom]
    while stack:
        i = stack.pop()
        if i in needed:
            continue
        needed.add(i)
        if i in seeds:
            continue
        if head[i] != i:
            stack.append(head[i])
        else:
            stack.extend(head.get(a, a) for a, _ in active_args[i])
    tan: dict[int, int | None] = {}
    for i in sorted(needed):
        if i in seeds:
            tan[i] = seeds[i]
        elif head[i] != i:
            tan[i] = chain(b, tan[head[i]], local[i])
        else:
            t = None
            for a, p in active_args[i]:
                if head.get(a, a) != a:  # the column-free factor first: D * p is shared
                    c = chain(b, tan[head[a]], chain(b, local[a], p))
                else:
                    c = chain(b, tan[a], p)
                if counts.any and counts(a) and not counts(i):
                    c = sum_points(b, c, counts(a), counts)
                t = accumulate(b, t, c)
            tan[i] = t
    zero = b.const(0)
    return [zero if tan.get(o) is None else tan[o] for o in outputs]


# -- transforms on whole graphs ---------------------------------------------------------


def leaf_nodes(b: Builder, kind: str, slots: Sequence[int]) -> list[int]:
    """The nodes of ``kind`` leaves (``input``/``param``) at ``slots``, made if absent."""
    return [b.node(kind, (), s) for s in slots]


def _slots(graph: Graph, wrt) -> list[int]:
    return list(range(len(graph.inputs))) if wrt is None else list(wrt)


def jacobian_graph(graph: Graph, wrt: Sequence[int] | None = None, kind: str = "input") -> Graph:
    """Outputs ``d out_i / d x_j``, row-major, for the leaves ``x`` of ``kind`` at slots ``wrt``.

    Reverse mode, one sweep per output (they share everything they can).
    """
    b = Builder(graph)
    xs = leaf_nodes(b, kind, _slots(graph, wrt))
    one = b.const(1)
    outs = []
    for o in graph.outputs:
        outs += reverse(b, [o], [one], xs)
    return b.graph(outs, graph.inputs, graph.params, graph.buffers).pruned()


def grad_graph(graph: Graph, wrt: Sequence[int] | None = None, kind: str = "input") -> Graph:
    """The gradient of the graph's single output with respect to the chosen leaves."""
    if len(graph.outputs) != 1:
        raise DifferentiationError(f"a gradient needs one output, the graph has {len(graph.outputs)}")
    return jacobian_graph(graph, wrt, kind)


def vjp_graph(graph: Graph, wrt: Sequence[int] | None = None) -> Graph:
    """A graph of ``(inputs..., v)`` whose outputs are ``v^T J`` (one cotangent per output)."""
    slots = _slots(graph, wrt)
    vs = [sp.Dummy(f"v{k}") for k in range(len(graph.outputs))]
    inputs = graph.inputs + tuple(vs)
    b = Builder(graph)
    cot = leaf_nodes(b, "input", range(len(graph.inputs), len(inputs)))
    outs = reverse(b, graph.outputs, cot, leaf_nodes(b, "input", slots))
    return b.graph(outs, inputs, graph.params, graph.buffers).pruned()


def jvp_graph(graph: Graph, wrt: Sequence[int] | None = None) -> Graph:
    """A graph of ``(inputs..., t)`` whose outputs are ``J t`` (one tangent per chosen input)."""
    slots = _slots(graph, wrt)
    ts = [sp.Dummy(f"t{k}") for k in range(len(slots))]
    inputs = graph.inputs + tuple(ts)
    b = Builder(graph)
    tan = leaf_nodes(b, "input", range(len(graph.inputs), len(inputs)))
    outs = forward(b, leaf_nodes(b, "input", slots), tan, graph.outputs)
    return b.graph(outs, inputs, graph.params, graph.buffers).pruned()


def hessian_graph(graph: Graph, wrt: Sequence[int] | None = None) -> Graph:
    """Outputs ``d^2 f / dx_i dx_j`` (row-major) of the single output (`hessian_nodes`)."""
    if len(graph.outputs) != 1:
        raise DifferentiationError(f"a Hessian needs one output, the graph has {len(graph.outputs)}")
    b = Builder(graph)
    H, _ = hessian_nodes(b, graph.outputs[0], leaf_nodes(b, "input", _slots(graph, wrt)))
    return b.graph([h for row in H for h in row], graph.inputs, graph.params, graph.buffers).pruned()


# -- building blocks for the differential operators (sympile.diffops) -------------------------


def jacobian_nodes(b: Builder, outputs: Sequence[int], wrt: Sequence[int]) -> list[list[int]]:
    """Rows ``d outputs[i] / d wrt[j]``, by whichever mode needs fewer sweeps.

    Reverse mode takes one sweep per output, forward mode one per input; both build
    graph nodes, so the rows share whatever they can.
    """
    one = b.const(1)
    if len(outputs) <= len(wrt):
        return [reverse(b, [o], [one], wrt) for o in outputs]
    outputs, order = _holomorphic_cone(b, outputs)  # the masks are those of what the sweeps walk
    masks = _Masks(b, outputs, order)
    columns = [forward(b, [w], [one], outputs, masks=masks) for w in wrt]
    return [[col[i] for col in columns] for i in range(len(outputs))]


def hessian_nodes(b: Builder, output: int, wrt: Sequence[int]) -> tuple[list[list[int]], list[int]]:
    """``(H, g)``: the Hessian rows and the gradient of one output, forward over reverse.

    Only the upper triangle is differentiated; the lower one mirrors it, so the Hessian is
    exactly symmetric and the work is halved.
    """
    one = b.const(1)
    g = reverse(b, [output], [one], wrt)
    n = len(wrt)
    H = [[0] * n for _ in range(n)]
    swept, order = _holomorphic_cone(b, g)
    masks = _Masks(b, swept, order)  # guards for all of g hold for each column's part of it
    for k, w in enumerate(wrt):
        column = forward(b, [w], [one], swept[: k + 1], preaccumulate=True, masks=masks)
        for j in range(k + 1):
            H[j][k] = H[k][j] = column[j]
    return H, g
