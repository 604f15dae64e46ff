"""What kind of number each node of a graph holds: complex values, and dtypes that literals decide.

**Complex values.** Where complex values flow in a graph, and which real-only ops they would reach.

Inputs are real unless the caller passes complex numbers; a literal is complex when SymPy left
an input-free subexpression complex (``I``, ``(-3)**(1/3)``, ``(1 - GoldenRatio + I*pi/2)**2``).
A complex value keeps flowing through every op but those whose result is real whatever their
arguments (`REAL_RESULT`: ``re``, ``im``, ``abs``, ``arg``, comparisons and logic); a select
passes on its branches' values, not its condition's; a user's function (``call``) is not
followed (what it returns is unknown).

Some ops are defined for real arguments only (`REAL_ONLY`: the orderings, the integer parts, the
remainder, ``atan2``, and the special functions that sympile computes as real functions); a backend
may lack complex versions of more (PyTorch's ``erf``). `complex_misuses` finds a real-only op fed a
complex literal's value (a build-time error), `complex_sensitive_inputs` the input slots whose
complex values would reach one (a call-time check).

**Dtypes.** An array library types a value by its operands: ``x * 2`` has the dtype of ``x``, but
a select between literals (``Piecewise((1, x > 0), (0, True))``, the partials of ``Min`` and
``Piecewise`` in a derivative graph) or a literal alone has the dtype of its literals, int64 for
``where(c, 1, 0)`` over float32 or float64 inputs. `literal_typed` finds the nodes whose dtype
no input, parameter or user function decides, so that an output among them can be given the
inputs' dtype (`sympile._emit.wrapper.entry_frame`).
"""

from __future__ import annotations

from .graph import Graph

#: Ops defined for real arguments only: ordering (comparisons, ``min``/``max``, the step), the
#: integer parts and the remainder, ``atan2``, and sympile's real special functions (``loggamma``
#: is log|Γ(x)|; ``polygamma``, ``erfinv`` and ``cbrt``, the real cube root, have no complex
#: version in the array libraries).
REAL_ONLY = frozenset(
    {
        "lt",
        "le",
        "gt",
        "ge",
        "min",
        "max",
        "heaviside",
        "floor",
        "ceiling",
        "frac",
        "mod",
        "atan2",
        "cbrt",
        "loggamma",
        "polygamma",
        "erfinv",
    }
)

#: Ops whose value is real (or boolean) whatever their arguments.
_PARTS = {"re", "im", "abs", "arg", "cre", "cim", "cabs", "carg"}  # graph AD's conjugate pairs too
REAL_RESULT = frozenset(_PARTS | {"lt", "le", "gt", "ge", "eq", "ne", "and", "or", "xor", "not"})

#: Ops whose arguments must not come from complex inputs: graph AD's conjugate pairs
#: (`sympile._transforms.conjugates`) read the conjugate of a value as a graph built for real
#: inputs, so a derivative through them is one along real variables (a call-time check).
REAL_INPUTS = frozenset({"cre", "cim", "cabs", "carg"})

#: Ops not followed: their result's kind is unknown (a user's function), or they start values.
_OPAQUE = frozenset({"call"})


def is_complex_literal(attr) -> bool:
    """Whether a ``const`` node's attr stands for a complex number."""
    return type(attr) is complex or attr in ("I", "zoo")


def _flow(graph: Graph, seeds: list[int]) -> list[int]:
    """For each node, the union (a bit set) of the ``seeds`` of the nodes whose complex values flow
    into it; ``seeds[i]`` is node ``i``'s own bits (0 for none)."""
    nodes = graph.nodes
    flow = [0] * len(nodes)
    for i, n in enumerate(nodes):
        bits = seeds[i]
        if n.args and n.op not in REAL_RESULT and n.op not in _OPAQUE:
            args = n.args[1:] if n.op == "where" else n.args
            for a in args:
                bits |= flow[a]
        flow[i] = bits
    return flow


def complex_misuses(graph: Graph, real_only: frozenset = REAL_ONLY) -> list[int]:
    """The nodes of an op in ``real_only`` that an argument makes complex through a complex literal
    (inputs taken real), in graph order."""
    nodes = graph.nodes
    seeds = [1 if n.op == "const" and is_complex_literal(n.attr) else 0 for n in nodes]
    if not any(seeds):
        return []
    flow = _flow(graph, seeds)
    return [i for i, n in enumerate(nodes) if n.op in real_only and any(flow[a] for a in n.args)]


def complex_sensitive_inputs(graph: Graph, real_only: frozenset = REAL_ONLY) -> dict[int, tuple[str, ...]]:
    """For each input slot whose complex values would reach an op in ``real_only``, those ops (by
    name, sorted); slots that may be complex are absent."""
    nodes = graph.nodes
    seeds = [1 << n.attr if n.op == "input" else 0 for n in nodes]
    flow = _flow(graph, seeds)
    reached: dict[int, set] = {}
    for n in nodes:
        if n.op in real_only:
            bits = 0
            for a in n.args:
                bits |= flow[a]
            slot = 0
            while bits:
                if bits & 1:
                    reached.setdefault(slot, set()).add(n.op)
                bits >>= 1
                slot += 1
    return {slot: tuple(sorted(ops)) for slot, ops in sorted(reached.items())}


def is_complex_value(v) -> bool:
    """Whether an input value holds complex numbers: a Python complex, or an array (NumPy, PyTorch,
    JAX) or NumPy number of a complex dtype."""
    if type(v) is complex:
        return True
    dtype = getattr(v, "dtype", None)
    if dtype is None:
        return False
    return getattr(dtype, "kind", None) == "c" or getattr(dtype, "is_complex", False) is True


#: Leaves whose dtype is the caller's (inputs, trainable and frozen floats, data) and ops whose
#: result's dtype is unknown here (a user's function).
_TYPED = frozenset({"input", "param", "buffer", "data", "vparam", "vbuffer", "call"})


def literal_typed(graph: Graph) -> list[bool]:
    """For each node, whether its dtype comes from literals alone: a literal, or an op none of whose
    operands (a select's branches, not its condition) comes from an input, a parameter, a buffer,
    data or a user's function. Boolean values (comparisons, logic, boolean literals and selects
    between them) are not: they are bool whatever the inputs."""
    nodes = graph.nodes
    literal = [False] * len(nodes)
    boolean = [False] * len(nodes)
    for i, n in enumerate(nodes):
        op = n.op
        if op == "where":
            branches = n.args[1:]
            boolean[i] = all(boolean[a] for a in branches)
            literal[i] = not boolean[i] and all(literal[a] or boolean[a] for a in branches)
        elif op == "const":
            boolean[i] = type(n.attr) is bool
            literal[i] = not boolean[i]
        elif op in _BOOLEAN:
            boolean[i] = True
        elif op not in _TYPED:
            literal[i] = all(literal[a] or boolean[a] for a in n.args)
    return literal


_BOOLEAN = frozenset({"lt", "le", "gt", "ge", "eq", "ne", "and", "or", "xor", "not"})
