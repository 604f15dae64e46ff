"""Derivatives through the complex parts of complex values: ``abs``, ``re``, ``im``, ``arg``,
``conjugate`` and ``sign`` of a complex ``u``.

Graph AD's chain rule multiplies one partial per argument, ``dy = p du``: right for a
holomorphic op. The complex parts are not holomorphic: along a real variable ``x``,
``d|u|/dx = Re(ū u')/|u|``, which no partial times ``u'`` gives (the rule for real arguments,
``sign(u)``, gives the complex ``u u'/|u|``). They are holomorphic in the pair ``(u, ū)`` however
(``|u| = sqrt(u ū)``, ``re u = (u + ū)/2``), and with real inputs ``ū`` is itself a holomorphic
function of them: the *mirror* of ``u``'s graph, the same ops with every complex literal
conjugated (the ops have real coefficients, so they commute with conjugation, branch cuts
included where the library keeps the sign of a zero imaginary part).

`holomorphic` rewrites the cone of a sweep's outputs so that each such op of a complex,
variable argument reads both: ``abs``, ``re``, ``im`` and ``arg`` become their pair ops
(``cabs(u, ū)`` and so on, `sympile._core.ops.CONJUGATE_PAIRS`, whose partials are ``∂/∂u``
and ``∂/∂ū``), ``conjugate(u)`` becomes ``ū`` and ``sign(u)`` becomes ``u / cabs(u, ū)``. The
sweeps differentiate the rewritten cone; the forward values a caller keeps are untouched, and a
pair op's value is its plain op of ``u`` (every backend decomposes it so).

Inputs are taken real, as everywhere in graph AD: a complex input that reaches a pair op is
refused at call time (`sympile._core.kinds.REAL_INPUTS`). A complex value is one that SymPy
left complex (``I``, ``(-2)**(1/3)``) flowing through ops that keep it complex, or an input-free
node that leaves the real line from real arguments (``asin(2)``, ``acos(3)``: valued as constant
folding values it, and mirrored as the conjugate of that literal, since it sits on a branch cut
where the op does not commute with conjugation).
"""

from __future__ import annotations

from collections.abc import Sequence

from .._core.errors import DifferentiationError
from .._core.graph import Builder
from .._core.kinds import REAL_RESULT, is_complex_literal
from .._core.ops import CONJUGATE_PAIRS, OPS
from .._core.rewrite import memoized
from .fold import EXACT_OPS, constant_literals

#: The ops `holomorphic` rewrites when their argument is complex.
REWRITTEN = frozenset(CONJUGATE_PAIRS) | {"conjugate", "sign"}
#: Input-free nodes not valued to learn whether they are complex (`_State._value_constants`).
_NOT_VALUED = EXACT_OPS | {"const", "call"}


class _State:
    """Per builder (kept on it, as `points.PointCounts`): which nodes hold complex values (extended
    on demand as the builder grows), the rewritten node of each node seen, and the mirrors."""

    def __init__(self, b: Builder):
        self.b = b
        self.complex: list[bool] = []
        self.any = False
        self.new: dict[int, int] = {}
        self.mirrors: dict[int, int] = {}
        #: Input-free nodes whose value is complex though their arguments are real, and that value:
        #: among the nodes the builder held when first asked (the expression as written; the
        #: constants differentiation makes, such as the ``log(c)`` of ``d c**x``, are not valued).
        self.constants: dict[int, complex] = {}
        self.written = len(b.nodes)

    @classmethod
    def of(cls, b: Builder) -> _State:
        got = getattr(b, "_conjugates", None)
        if got is None:
            got = b._conjugates = cls(b)
        got.scan()
        return got

    def scan(self) -> None:
        flags, nodes = self.complex, self.b.nodes
        start = len(flags)
        self._value_constants(start)
        for k in range(start, len(nodes)):
            n = nodes[k]
            op = n.op
            if op == "const":
                c = is_complex_literal(n.attr)
            elif k in self.constants:
                c = True
            elif op in REAL_RESULT or op == "call":
                c = False
            else:
                args = n.args[1:] if op == "where" else n.args
                c = False
                for a in args:
                    if flags[a]:
                        c = True
                        break
            flags.append(c)
            if c:
                self.any = True

    def _value_constants(self, start: int) -> None:
        """Value (through SymPy, all at once) the new input-free nodes of the functions with a
        restricted domain (`OpSpec.safe`; not arithmetic, whose exact powers can be huge): those
        whose value is complex join `constants`."""
        nodes, variable = self.b.nodes, self.b.variable
        order = [
            k
            for k in range(start, min(self.written, len(nodes)))
            if not variable[k]
            and nodes[k].op not in _NOT_VALUED
            and nodes[k].op not in REAL_RESULT
            and OPS[nodes[k].op].safe is not None
        ]
        if order:
            for k, v in zip(order, constant_literals(self.b.graph(order), order)):
                if type(v) is complex:
                    self.constants[k] = v

    def is_complex(self, i: int) -> bool:
        self.scan()
        return self.complex[i]

    def mirror(self, i: int) -> int:
        """The node of ``conj(value of i)`` for real inputs."""
        if not self.is_complex(i):
            return i
        b, nodes = self.b, self.b.nodes

        def make(k: int, _) -> int:
            n = nodes[k]
            op, attr = n.op, n.attr
            if op == "const":
                if type(attr) is complex:
                    return b.const(attr.conjugate())
                return b.neg(k) if attr == "I" else k  # zoo is its own conjugate
            if k in self.constants:  # on a branch cut: conj(asin(2)) is not asin(conj(2))
                return b.const(self.constants[k].conjugate())
            if op == "conjugate":
                return n.args[0]
            if op == "call":
                raise DifferentiationError(
                    "sympile cannot differentiate Abs, re, im, arg, conjugate or sign of a complex value "
                    "that a function from extra_funcs computes: write the function in SymPy terms instead"
                )
            if op == "lambertw" and attr:  # conj W_k(z) = W_{-k}(conj z)
                attr = -attr
            return b.node(op, tuple(self.mirrors.get(a, a) for a in n.args), attr)

        def complex_args(k: int) -> list[int]:
            return [a for a in nodes[k].args if self.is_complex(a)]

        return memoized(i, complex_args, make, self.mirrors)


def holomorphic(b: Builder, outputs: Sequence[int], order: Sequence[int]) -> list[int]:
    """``outputs`` with the complex parts of complex values in their cone (``order``, `ad.cone`)
    rewritten as holomorphic ops of a value and its conjugate (see the module's text); the same
    nodes when there are none, which costs a scan of the builder's new nodes."""
    state = _State.of(b)
    if not state.any:
        return list(outputs)
    nodes, variable, new = b.nodes, b.variable, state.new
    changed = False
    for i in order:
        if i in new:
            changed = changed or new[i] != i
            continue
        n = nodes[i]
        args = tuple(new.get(a, a) for a in n.args)
        op = n.op
        if op in REWRITTEN and variable[n.args[0]] and state.is_complex(n.args[0]):
            u = args[0]
            ub = state.mirror(u)
            if op == "conjugate":
                r = ub
            elif op == "sign":
                r = b.div(u, b.node("cabs", (u, ub)))
            else:
                r = b.node(CONJUGATE_PAIRS[op], (u, ub), n.attr)
        elif args != n.args:
            r = b.node(op, args, n.attr)
        else:
            r = i
        new[i] = r
        changed = changed or r != i
    if not changed:
        return list(outputs)
    return [new.get(o, o) for o in outputs]


def real_part(b: Builder, outputs: Sequence[int], seeds: Sequence[int], results: Sequence[int]) -> list[int]:
    """``results`` (derivatives of ``outputs`` for the ``seeds``, one per result) with the real part
    taken of each complex one, when every output is real and every seed a real literal: a real
    function's derivative along real variables is real, and its complex form (through the pairs'
    ``∂/∂u`` and ``∂/∂ū``) only carries rounding in its imaginary part.

    Not when the outputs read a power of a negative constant to a variable exponent (``c**x``,
    real at integer ``x`` only): its derivative ``log(c) c**x`` is complex, not by rounding.
    """
    state = _State.of(b)
    if not state.any:
        return list(results)
    if any(state.is_complex(o) for o in outputs):
        return list(results)
    for s in seeds:
        if b.nodes[s].op != "const" or state.is_complex(s):
            return list(results)
    if _negative_base_powers(b, outputs):
        return list(results)
    return [b.op("re", r) if state.is_complex(r) else r for r in results]


def _negative_base_powers(b: Builder, outputs: Sequence[int]) -> bool:
    """Whether the cone of ``outputs`` has ``c**v`` for a negative literal ``c`` and a variable ``v``."""
    nodes, variable = b.nodes, b.variable
    seen: set[int] = set()
    stack = list(outputs)
    while stack:
        i = stack.pop()
        if i in seen or not variable[i]:
            continue
        seen.add(i)
        n = nodes[i]
        if n.op == "pow" and variable[n.args[1]] and not variable[n.args[0]] and _negative(b, n.args[0]):
            return True
        stack.extend(n.args)
    return False


def _negative(b: Builder, i: int) -> bool:
    """Whether the input-free node ``i`` is a negative real number (valued as folding values it)."""
    n = b.nodes[i]
    value = n.attr if n.op == "const" else constant_literals(b.graph([i]), [i])[0]
    try:
        return type(value) is not complex and value < 0
    except TypeError:  # a named constant (pi, E, ...), or None where folding keeps the subgraph
        return False
