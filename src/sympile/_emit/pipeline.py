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
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from .._core.graph import Graph
from .._transforms.decompose import decompose
from .._transforms.fold import fold_constants
from .._transforms.mask import mask_branches
from .._transforms.negations import share_negations
from .._transforms.scale import factor_scales
from .emit import Spelling

Pass = Callable[[Graph], Graph]


@dataclass(frozen=True)
class Pipeline:
    """Passes run in order."""

    passes: tuple[Pass, ...]

    def __call__(self, graph: Graph) -> Graph:
        for p in self.passes:
            graph = p(graph)
        return graph

    def then(self, *passes: Pass) -> Pipeline:
        """This pipeline followed by more passes."""
        return Pipeline((*self.passes, *passes))


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


def pipeline(spelling: Spelling, *, mask: bool, extra: Sequence[Pass] = ()) -> Pipeline:
    """The standard pipeline for a backend of ``spelling`` (see the module docstring).

    Args:
        mask: mask untaken branches (for backends that differentiate the code they run, and
            for NumPy, whose untaken branches would otherwise warn).
        extra: the backend's own passes, run after the standard ones, before the check.
    """
    spelt = _Spelt(spelling)
    masking = (mask_branches,) if mask else ()
    return Pipeline((fold_constants, factor_scales, share_negations, spelt.decompose, *masking, *extra, spelt.check))


def variant(spelling: Spelling, extra: Sequence[Pass] = ()) -> Pipeline:
    """The passes that turn a graph prepared by a backend's pipeline into another spelling's
    (the NumPy backend's scalar ``math`` code): the ops that spelling lacks decomposed,
    ``extra``, and the check."""
    spelt = _Spelt(spelling)
    return Pipeline((spelt.decompose, *extra, spelt.check))
