"""The derivative graphs of a traced function, one per differential operator (`derive`).

Each operator builds its derivative nodes into the traced function's own graph with graph
AD (`_transforms.ad`: reverse mode for gradients and vector-Jacobian products, forward mode
for Jacobian-vector products, forward over reverse for Hessians, and reverse mode over
those for the matrix-Hessian and matrix-Tressian products), so the derivative's size stays
linear in the function's. Nothing goes through `sympy.diff`. Exact numeric factors that the
chain rule leaves scattered (``u + u``, ``-100*u - 100*u``) are then gathered
(`collect_coefficients`). The result is again a `Traced` function, whose output structure
follows SymNum's conventions (see `diffops`).
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
import sympy as sp

from .._core.errors import ArgumentError, DifferentiationError
from .._core.graph import Builder, paused_gc
from .._transforms.ad import forward, hessian_nodes, jacobian_nodes, reverse
from .._transforms.coefficients import collect_coefficients
from .._transforms.points import fold_data
from .entries import as_indices
from .tracing import Traced

#: Operators whose function must be scalar-valued.
_SCALAR = {"grad", "value_and_grad", "hessian", "hvp", "mtp"}
#: Product operators: the letter of their vector argument.
PRODUCTS = {"jvp": "v", "vjp": "v", "hvp": "v", "mhp": "m", "mtp": "m"}
#: Each operator's prefix for the names of the functions it makes (``grad_f``, ``hess_f``).
PREFIX = {
    "grad": "grad",
    "value_and_grad": "value_and_grad",
    "jacobian": "jacob",
    "hessian": "hess",
    "jvp": "jvp",
    "vjp": "vjp",
    "hvp": "hvp",
    "mhp": "mhp",
    "mtp": "mtp",
}


class Derived(NamedTuple):
    """A derivative as traced functions: ``main`` (for a product operator, a function of the
    arguments and the vectors) and ``aux`` (a product operator's lower derivatives and value)."""

    main: Traced
    aux: Traced | None
    n_vectors: int
    single: bool


class _Outputs:
    """Output nodes in order, and the structure tree that shapes them."""

    def __init__(self):
        self.nodes: list[int] = []

    def array(self, nodes: list[int], shape: tuple) -> tuple:
        leaves = []
        for n in nodes:
            self.nodes.append(n)
            leaves.append(("leaf", len(self.nodes) - 1))
        return leaves[0] if shape == () else ("array", tuple(shape), leaves)


def _wrt(wrt, n_args: int) -> tuple[list[int], bool]:
    single = not isinstance(wrt, (tuple, list))
    out = as_indices(
        [wrt] if single else list(wrt),
        n_args,
        lambda: ArgumentError(f"wrt must be an argument index or a tuple of them, got {wrt!r}"),
        lambda k: DifferentiationError(f"wrt={k} is out of range for a function of {n_args} argument(s)"),
    )
    if not out or len(set(out)) != len(out):
        raise DifferentiationError(f"wrt must name each argument at most once, and at least one: {wrt!r}")
    return out, single


def _value_shape(traced: Traced, kind: str) -> tuple:
    tree = traced.out_tree
    if tree[0] == "leaf":
        return ()
    if tree[0] == "array":
        return tree[1]
    raise DifferentiationError(
        f"{kind} needs a function that returns one array or scalar; {traced.name} returns a {tree[0]}"
    )


class _Layout:
    """Where the ``wrt`` arguments sit among the inputs, and how derivatives are shaped by them.

    Derivatives are built over ``X``, the concatenated entries of the ``wrt`` arguments; a
    layout cuts flat node lists back into one array per argument (block), and into a tuple of
    them when ``wrt`` is a tuple.
    """

    def __init__(self, traced: Traced, args: list[int], single: bool):
        sizes = [int(np.prod(s, dtype=int)) for s in traced.arg_shapes]
        starts = np.cumsum([0, *sizes]).tolist()
        self.slots = [list(range(starts[k], starts[k] + sizes[k])) for k in args]
        self.shapes = [traced.arg_shapes[k] for k in args]
        self.offsets = np.cumsum([0, *(sizes[k] for k in args)]).tolist()
        self.single = single

    def _tuple(self, trees: list):
        return trees[0] if self.single else ("tuple", trees)

    def x_tree(self, out: _Outputs, nodes: list[int]) -> tuple:
        """Nodes over X (a gradient, a product's result) shaped like the arguments."""
        o = self.offsets
        return self._tuple([out.array(nodes[o[k] : o[k + 1]], s) for k, s in enumerate(self.shapes)])

    def jacobian_blocks(self, rows: list[list[int]]) -> list[list[int]]:
        """Per argument, the Jacobian's entries in row-major order of ``value.shape + arg.shape``."""
        o = self.offsets
        return [[n for row in rows for n in row[o[k] : o[k + 1]]] for k in range(len(self.shapes))]

    def jacobian_tree(self, out: _Outputs, rows: list[list[int]], value_shape: tuple) -> tuple:
        blocks = self.jacobian_blocks(rows)
        return self._tuple([out.array(nodes, value_shape + s) for nodes, s in zip(blocks, self.shapes)])

    def hessian_blocks(self, H: list[list[int]]) -> list[list[list[int]]]:
        """Block ``[k][m]``: the entries of ``d2 f / d arg_k d arg_m``, row-major."""
        o = self.offsets
        return [
            [[n for row in H[o[k] : o[k + 1]] for n in row[o[m] : o[m + 1]]] for m in range(len(self.shapes))]
            for k in range(len(self.shapes))
        ]

    def hessian_shapes(self) -> list[tuple]:
        return [a + b for a in self.shapes for b in self.shapes]

    def hessian_tree(self, out: _Outputs, H: list[list[int]]) -> tuple:
        nested = [
            [out.array(nodes, self.shapes[k] + self.shapes[m]) for m, nodes in enumerate(row)]
            for k, row in enumerate(self.hessian_blocks(H))
        ]
        return nested[0][0] if self.single else ("tuple", [("tuple", row) for row in nested])


def derive(traced: Traced, kind: str, wrt=0, return_aux: bool = False) -> Derived:
    """Build the derivative ``kind`` of a traced function on its graph (see the module docstring)."""
    graph = traced.graph
    vs = _value_shape(traced, kind)
    if kind in _SCALAR and vs != ():
        raise DifferentiationError(
            f"{kind} needs a scalar-valued function, but {traced.name} returns an array of shape {vs}; "
            "use jacobian (or vector_jacobian_product) for array values"
        )
    layout = _Layout(traced, *_wrt(wrt, len(traced.arg_shapes)))
    inputs = list(graph.inputs)
    with paused_gc():
        b = Builder(graph)
        X = [b.node("input", (), s) for slots in layout.slots for s in slots]
        val = list(graph.outputs)
        main, aux = _Outputs(), _Outputs()
        vector_shapes: list[tuple] = []

        def vectors(shapes: list[tuple]) -> list[int]:
            """New inputs for a product's vector (or matrix) arguments: their entries' nodes."""
            vector_shapes.extend(shapes)
            letter, nodes = PRODUCTS[kind], []
            for shape in shapes:
                for cell in np.ndindex(*shape):
                    inputs.append(sp.Dummy(f"{letter}[{', '.join(map(str, cell))}]" if cell else letter))
                    nodes.append(b.node("input", (), len(inputs) - 1))
            return nodes

        def value(out):
            return out.array(val, vs)

        def with_aux(tree, lower):
            """The result, or with ``return_aux`` the result and ``lower()``'s lower derivatives and value."""
            return ("tuple", [tree, *lower()]) if return_aux else tree

        if kind in ("grad", "value_and_grad"):
            g = jacobian_nodes(b, val, X)[0]
            if kind == "value_and_grad":
                tree = ("tuple", [value(main), layout.x_tree(main, g)])
            else:
                tree = with_aux(layout.x_tree(main, g), lambda: [value(main)])
        elif kind == "jacobian":
            rows = jacobian_nodes(b, val, X)
            tree = with_aux(layout.jacobian_tree(main, rows, vs), lambda: [value(main)])
        elif kind == "hessian":
            H, g = hessian_nodes(b, val[0], X)
            tree = with_aux(layout.hessian_tree(main, H), lambda: [layout.x_tree(main, g), value(main)])
        elif kind == "jvp":
            tree = main.array(forward(b, X, vectors(layout.shapes), val), vs)
            aux_tree = ("tuple", [value(aux)])
        elif kind == "vjp":
            tree = layout.x_tree(main, reverse(b, val, vectors([vs]), X))
            aux_tree = ("tuple", [value(aux)])
        elif kind == "hvp":
            g = reverse(b, val, [b.const(1)], X)
            tree = layout.x_tree(main, forward(b, X, vectors(layout.shapes), g))
            aux_tree = ("tuple", [layout.x_tree(aux, g), value(aux)])
        elif kind == "mhp":  # the gradient of <m, J>: reverse mode over the Jacobian's nodes
            rows = jacobian_nodes(b, val, X)
            J = [n for block in layout.jacobian_blocks(rows) for n in block]
            M = vectors([vs + s for s in layout.shapes])
            tree = layout.x_tree(main, reverse(b, J, M, X))
            aux_tree = ("tuple", [layout.jacobian_tree(aux, rows, vs), value(aux)])
        elif kind == "mtp":  # the gradient of <m, H>: reverse over forward over reverse
            H, g = hessian_nodes(b, val[0], X)
            Hf = [n for row in layout.hessian_blocks(H) for nodes in row for n in nodes]
            M = vectors(layout.hessian_shapes())
            tree = layout.x_tree(main, reverse(b, Hf, M, X))
            aux_tree = ("tuple", [layout.hessian_tree(aux, H), layout.x_tree(aux, g), value(aux)])
        else:
            raise ValueError(f"unknown differential operator {kind!r}")
        name = f"{PREFIX[kind]}_{traced.name}"
        letter = PRODUCTS.get(kind, "")
        names = [letter] if len(vector_shapes) == 1 else [f"{letter}_{k}" for k in range(len(vector_shapes))]
        while set(names) & set(traced.arg_names):  # the user's function has an argument named v
            names = [f"{n}_" for n in names]
        main_traced = Traced(
            fold_data(collect_coefficients(b.graph(main.nodes, inputs, graph.params, graph.buffers))),
            traced.arg_shapes + tuple(vector_shapes),
            traced.arg_names + tuple(names if vector_shapes else ()),
            tree,
            name,
        )
        aux_traced = None
        if kind in PRODUCTS and return_aux:
            aux_graph = fold_data(collect_coefficients(b.graph(aux.nodes, graph.inputs, graph.params, graph.buffers)))
            aux_traced = Traced(aux_graph, traced.arg_shapes, traced.arg_names, aux_tree, name)
    return Derived(main_traced, aux_traced, len(vector_shapes), layout.single)


__all__ = ["derive", "Derived", "PRODUCTS", "PREFIX"]
