"""Pass pipelines: what a backend does to a graph before its code is written, declared once.

A backend declares its pipeline beside its spelling table, as a list of passes (functions
from a graph to a graph), for example PyTorch's::

    PIPELINE = pipeline(SPELLING, mask=True, extra=(bessel_calls, batch_siblings, multiply_adds))

Every pipeline starts the same way: constants folded (`fold_constants`), sums' power-of-two
factors taken out (`factor_scales`), values and their negations computed once
(`share_negations`), the ops the backend cannot spell decomposed into ops it can
(`decompose`), untaken branches masked where the backend differentiates its code
(`mask_branches`), then the backend's own passes; it ends by checking that every op left has
a spelling, which gives the one "unsupported" error (`Spelling.unsupported`). A new transform
is added to the pipelines that want it, in one place each.

Right after folding, an op that the backend computes for real arguments only (`RealOnly`: the
orderings, integer parts, remainder and real special functions of
`sympile._core.kinds.REAL_ONLY`, what the backend declares it lacks complex versions of,
and the ops whose decomposition goes through one of those) and that a complex constant reaches
is refused with `UnsupportedFunctionError`; `RealOnly.inputs` is the matching check at call time,
for the inputs whose complex values would reach one.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from .._core.errors import UnsupportedFunctionError
from .._core.graph import Builder, Graph
from .._core.kinds import REAL_INPUTS, REAL_ONLY, complex_misuses, complex_sensitive_inputs, is_complex_value
from .._core.ops import OPS
from .._transforms.decompose import decompose
from .._transforms.fold import fold_constants, huge_literals_as_floats
from .._transforms.mask import mask_branches
from .._transforms.negations import share_negations
from .._transforms.scale import factor_scales
from .emit import Spelling

Pass = Callable[[Graph], Graph]


@dataclass(frozen=True)
class Pipeline:
    """Passes run in order."""

    passes: tuple[Pass, ...]
    #: The ops the backend computes for real arguments only (None: no such check).
    real_only: RealOnly | None = field(default=None, compare=False)

    def __call__(self, graph: Graph) -> Graph:
        for p in self.passes:
            graph = p(graph)
        return graph

    def then(self, *passes: Pass) -> Pipeline:
        """This pipeline followed by more passes."""
        return Pipeline((*self.passes, *passes), self.real_only)

    def real_inputs(self, graph: Graph) -> RealInputs | None:
        """The call-time check of the inputs of ``graph`` (as given to the pipeline) that must
        be real on this backend (`RealOnly.inputs`), or None when every input may be complex."""
        return None if self.real_only is None else self.real_only.inputs(graph)


class RealOnly:
    """The ops a backend computes for real arguments only, and the checks that follow from them.

    They are `REAL_ONLY`, the backend's own ``extra`` (functions its library has no complex
    version of), and each op the backend decomposes whose decomposition reaches one of those
    (PyTorch's ``binomial`` goes through ``loggamma``).
    """

    def __init__(self, spelling: Spelling, extra: frozenset = frozenset()):
        self.name = spelling.name
        self.remedy = spelling.remedy
        base = REAL_ONLY | frozenset(extra)
        derived = set()
        for op, spec in OPS.items():
            if spec.decompose is None or spelling.spells(op) or spec.arity < 1 or op in base:
                continue
            b = Builder()
            args = [b.node("input", (), k) for k in range(spec.arity)]
            probe = decompose(b.graph([spec.decompose(b, None, *args)], inputs=range(spec.arity)), spelling.spells)
            if complex_sensitive_inputs(probe, base):
                derived.add(op)
        self.ops = base | frozenset(derived)

    def refuse_complex_constants(self, graph: Graph) -> Graph:
        """``graph`` itself, once no real-only op in it gets a complex constant's value."""
        misused = complex_misuses(graph, self.ops)
        if not misused:
            return graph
        ops = sorted({graph.nodes[i].op for i in misused})
        raise UnsupportedFunctionError(
            f"the {self.name} backend computes {_titles(ops)} for real arguments only, and here "
            f"{'its' if len(ops) == 1 else 'their'} argument is complex: a complex constant (such as I, "
            "or (-2)**(1/3), which SymPy keeps complex) flows into it; take re(...), im(...) or Abs(...) "
            "of the complex part first" + self._remedy(ops)
        )

    def inputs(self, graph: Graph) -> RealInputs | None:
        """The inputs whose complex values would reach one of these ops, or one of graph AD's
        conjugate pairs (`REAL_INPUTS`: derivatives along real variables), as `RealInputs`, or None."""
        slots = complex_sensitive_inputs(graph, self.ops | REAL_INPUTS)
        if not slots:
            return None
        names = tuple(str(s) for s in graph.inputs)
        return RealInputs(self, {k: (names[k] if k < len(names) else f"input {k}", ops) for k, ops in slots.items()})

    def _remedy(self, ops) -> str:
        """The backend's remedy (another backend, a function of the user's) for the first op that
        is real-only on this backend alone and that a user can supply a function for."""
        for op in ops:
            spec = OPS[op]
            if op not in REAL_ONLY and spec.sympy and not spec.boolean:
                return f", or {self.remedy.format(title=spec.title)}"
        return ""


@dataclass(frozen=True)
class RealInputs:
    """The call-time half of `RealOnly`: ``slots`` maps each input that must be real to its name
    and the real-only ops its values reach. `check` raises `UnsupportedFunctionError` for a
    complex value there, before any arithmetic runs (where the library would raise its own
    TypeError or NotImplementedError, or compare complex numbers lexicographically)."""

    real_only: RealOnly
    slots: dict[int, tuple[str, tuple[str, ...]]]

    def check(self, values: Sequence[Any]) -> Sequence[Any]:
        """``values`` (the inputs, in slot order) once none that must be real is complex."""
        for k, (name, ops) in self.slots.items():
            if is_complex_value(values[k]):
                raise self.error(name, values[k], ops)
        return values

    def error(self, name: str, value: Any, ops: tuple[str, ...]) -> UnsupportedFunctionError:
        what = "a Python complex number" if type(value) is complex else f"of dtype {value.dtype}"
        ro = self.real_only
        if set(ops) <= REAL_INPUTS:
            return UnsupportedFunctionError(
                f"{name} is complex ({what}), but this derivative goes through {_titles(ops)} of a complex "
                "value, which is not holomorphic: sympile takes such derivatives along real variables "
                "only; pass real values (differentiate with respect to the real and imaginary parts "
                "as two real inputs)"
            )
        return UnsupportedFunctionError(
            f"{name} is complex ({what}), and the {ro.name} backend computes {_titles(ops)} of it for real "
            f"arguments only; pass real values (the real part, say)" + ro._remedy(ops)
        )


#: SymPy's names of the real-only ops that lowering makes from a SymPy class of another name.
_SYMPY_TITLES = {"heaviside": "Heaviside", "min": "Min", "max": "Max"}


def _titles(ops) -> str:
    """Ops by their SymPy names, without repeats, joined in words."""
    titles = sorted({_SYMPY_TITLES.get(op, OPS[op].title) for op in ops})
    return titles[0] if len(titles) == 1 else f"{', '.join(titles[:-1])} and {titles[-1]}"


class _Spelt:
    """The passes that depend on a spelling: decomposition, and the final check."""

    def __init__(self, spelling: Spelling):
        self.spelling = spelling

    def decompose(self, graph: Graph) -> Graph:
        return decompose(graph, self.spelling.spells)

    def check(self, graph: Graph) -> Graph:
        """``graph`` itself, once every op in it is known to have a spelling."""
        spells = self.spelling.spells
        for n in graph.nodes:
            if (n.args or n.op == "call") and not spells(n.op):
                raise self.spelling.unsupported(n.op)
        return graph


def pipeline(
    spelling: Spelling, *, mask: bool, extra: Sequence[Pass] = (), real_only: frozenset = frozenset()
) -> Pipeline:
    """The standard pipeline for a backend of ``spelling`` (see the module docstring).

    Args:
        mask: mask untaken branches (for backends that differentiate the code they run, and
            for NumPy, whose untaken branches would otherwise warn).
        extra: the backend's own passes, run after the standard ones, before the check.
        real_only: the ops, beyond `REAL_ONLY`, that the backend computes for real arguments
            only (`RealOnly`).
    """
    spelt = _Spelt(spelling)
    reals = RealOnly(spelling, real_only)
    masking = (mask_branches,) if mask else ()
    # refused before folding too: folding asks SymPy to compare a complex constant (loggamma(1 + I)
    # is lowered with a test of its argument's sign), which raises a raw TypeError
    passes = (
        reals.refuse_complex_constants,
        huge_literals_as_floats,
        fold_constants,
        reals.refuse_complex_constants,
        factor_scales,
        share_negations,
        spelt.decompose,
    )
    return Pipeline((*passes, *masking, *extra, spelt.check), reals)


def variant(spelling: Spelling, extra: Sequence[Pass] = ()) -> Pipeline:
    """The passes that turn a graph prepared by a backend's pipeline into another spelling's
    (the NumPy backend's scalar ``math`` code): the ops that spelling lacks decomposed,
    ``extra``, and the check."""
    spelt = _Spelt(spelling)
    return Pipeline((spelt.decompose, *extra, spelt.check))
