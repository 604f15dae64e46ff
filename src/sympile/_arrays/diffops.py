"""Differential operators (SymNum's API), built by graph AD on the traced function's graph.

A function is traced once (or its `NumpifiedFunction` graph is read); each operator then
builds its derivative nodes into the same graph with `_ad` (reverse mode for gradients and
vector-Jacobian products, forward mode for Jacobian-vector products, forward over reverse for
Hessians, and reverse mode over those for the matrix-Hessian and matrix-Tressian products),
so the derivative's size stays linear in the function's. Nothing goes through
`sympy.diff`. Exact numeric factors that the chain rule leaves scattered (``u + u``,
``-100*u - 100*u``) are then gathered (`collect_coefficients`). The numerical forms compile
the derivative graph like any traced function; the symbolic forms raise it back to SymPy.

Conventions (SymNum's): ``op(func, *arg_shapes, wrt=0, return_aux=False)``; with
``return_aux`` the lower derivatives and the value come after, value last. ``wrt`` may be a
tuple of argument indices: each derivative is then a tuple, one entry per argument (for a
Hessian, a tuple of tuples). The product operators give, for the arguments, a function of
the vector (or matrix); its argument for a tuple ``wrt`` is a tuple of arrays.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, NamedTuple

import numpy as np
import sympy as sp

from .._core.errors import ArgumentError, DifferentiationError, ShapeError
from .._core.graph import Builder, paused_gc
from .._sympy.raising import to_sympy
from .._transforms.ad import collect_coefficients, forward, hessian_nodes, jacobian_nodes, reverse
from .numpify import NumpifiedFunction, Traced, as_traced, build_symbolic, entries_of, trace
from .symbolic_array import SymbolicArray, _frozen, as_object_array

#: Operators whose function must be scalar-valued.
_SCALAR = {"grad", "value_and_grad", "hessian", "hvp", "mtp"}
#: Product operators: the letter of their vector argument.
_PRODUCTS = {"jvp": "v", "vjp": "v", "hvp": "v", "mhp": "m", "mtp": "m"}
_PREFIX = {
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
    items = [wrt] if single else list(wrt)
    out = []
    for k in items:
        if not isinstance(k, (int, np.integer)) or isinstance(k, bool):
            raise ArgumentError(f"wrt must be an argument index or a tuple of them, got {wrt!r}")
        if not -n_args <= k < n_args:
            raise DifferentiationError(f"wrt={k} is out of range for a function of {n_args} argument(s)")
        out.append(int(k) % n_args)
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
            letter, nodes = _PRODUCTS[kind], []
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
        name = f"{_PREFIX[kind]}_{traced.name}"
        letter = _PRODUCTS.get(kind, "")
        names = [letter] if len(vector_shapes) == 1 else [f"{letter}_{k}" for k in range(len(vector_shapes))]
        main_traced = Traced(
            collect_coefficients(b.graph(main.nodes, inputs, graph.params, graph.buffers)),
            traced.arg_shapes + tuple(vector_shapes),
            traced.arg_names + tuple(names if vector_shapes else ()),
            tree,
            name,
        )
        aux_traced = None
        if kind in _PRODUCTS and return_aux:
            aux_graph = collect_coefficients(b.graph(aux.nodes, graph.inputs, graph.params, graph.buffers))
            aux_traced = Traced(aux_graph, traced.arg_shapes, traced.arg_names, aux_tree, name)
    return Derived(main_traced, aux_traced, len(vector_shapes), layout.single)


# -- numerical operators ---------------------------------------------------------------------------------


def _unpack_vectors(vectors: tuple, n: int, single: bool) -> list:
    if single:
        if len(vectors) != 1:
            raise ArgumentError(f"this product function takes one array, got {len(vectors)} arguments")
        return list(vectors)
    if len(vectors) == 1 and isinstance(vectors[0], tuple):
        vectors = vectors[0]
    flat, stack = [], list(reversed(vectors))
    while stack:
        v = stack.pop()
        if isinstance(v, tuple):
            stack.extend(reversed(v))
        else:
            flat.append(v)
    if len(flat) != n:
        raise ArgumentError(
            f"this product function takes a tuple of {n} arrays (one per wrt argument), got {len(flat)}"
        )
    return flat


class ProductFunction(functools.partial):
    """A product operator's result at fixed arguments: a function of the vector (or matrix).

    The arguments are checked and flattened once, when it is made; it pickles by value (its
    compiled graph and the arguments).
    """

    # A `functools.partial` of the compiled product with the arguments' entries bound: for
    # float64 arguments a call goes straight to the generated entry point.

    def __new__(cls, product: NumpifiedFunction, args: tuple, n_vectors: int, single: bool):
        n_args = len(product.arg_shapes) - n_vectors
        args = tuple(args)
        if len(args) != n_args:
            raise ArgumentError(f"{product.__name__} takes {n_args} argument(s), but {len(args)} were given")
        pre = product._prefix(n_args)(*args)
        if pre is None:
            flat = product._flatten(args, 0)  # checks the arguments now, and says what is wrong
            pre = flat[0] if flat is not None and flat[1] is None else None
        if pre is not None and single:
            self = super().__new__(cls, product._tail(n_args), pre)
        else:
            self = super().__new__(cls, _product_call, product, args, n_vectors, single)
        self._state = (product, args, n_vectors, single)
        return self

    def __reduce__(self):
        return (ProductFunction, self._state)

    def __repr__(self) -> str:
        return f"<sympile product function {self._state[0].__name__} at fixed arguments>"


def _product_call(product: NumpifiedFunction, args: tuple, n_vectors: int, single: bool, *vectors):
    return product(*args, *_unpack_vectors(vectors, n_vectors, single))


class ProductOperator(functools.partial):
    """A compiled product operator: called with the function's arguments, it returns the
    product function (and, with ``return_aux``, the lower derivatives and the value)."""

    def __new__(cls, product: NumpifiedFunction, aux: NumpifiedFunction | None, n_vectors: int, single: bool):
        n_args = len(product.arg_shapes) - n_vectors
        fast = product._prefix(n_args), product._tail(n_args)
        self = super().__new__(cls, _bind_product, product, aux, n_vectors, single, *fast)
        self.product = product
        self.aux = aux
        self.__name__ = product.__name__
        return self

    @property
    def source(self) -> str:
        return self.product.source

    def __reduce__(self):
        return (ProductOperator, self.args[:4])

    def __repr__(self) -> str:
        return f"<sympile product operator {self.__name__} on {self.product.backend}>"


_new_partial = functools.partial.__new__


def _bind_product(product, aux, n_vectors, single, prefix, tail, *args):
    pre = prefix(*args)
    if pre is not None and single:  # the common case, made without the checks it has passed
        fn = _new_partial(ProductFunction, tail, pre)
        fn._state = (product, args, n_vectors, single)
    else:
        fn = ProductFunction(product, args, n_vectors, single)
    if aux is None:
        return fn
    return (fn, *aux(*args))


def _operator(kind: str, func: Callable, arg_shapes, wrt, return_aux: bool, backend: str | None):
    traced = as_traced(func, arg_shapes)
    if backend is None:
        backend = func.backend if isinstance(func, NumpifiedFunction) else "numpy"
    derived = derive(traced, kind, wrt, return_aux)
    main = NumpifiedFunction(derived.main, backend)
    if kind not in _PRODUCTS:
        return main
    aux = None if derived.aux is None else NumpifiedFunction(derived.aux, backend)
    return ProductOperator(main, aux, derived.n_vectors, derived.single)


def grad(
    func: Callable, *arg_shapes, wrt: int | tuple = 0, return_aux: bool = False, backend: str | None = None
) -> NumpifiedFunction:
    """The gradient of a scalar-valued function, compiled (reverse mode on the graph).

    Args:
        func: a function of arrays (or a `NumpifiedFunction`, then ``arg_shapes`` may be left out).
        *arg_shapes: one shape per argument (``None`` or ``()`` for a scalar).
        wrt: the argument to differentiate by, or a tuple of them (the result is then a tuple).
        return_aux: return ``(grad, value)`` instead of ``grad``.
        backend: the backend that generates the code (default: ``func``'s, else ``"numpy"``).

    Example:
        >>> import numpy as np
        >>> import sympile.numpy as snp
        >>> from sympile import grad
        >>> g = grad(lambda x: snp.sum(x**3), 2)
        >>> g(np.array([1.0, 2.0]))
        array([ 3., 12.])
    """
    return _operator("grad", func, arg_shapes, wrt, return_aux, backend)


gradient = grad


def value_and_grad(func: Callable, *arg_shapes, wrt: int | tuple = 0, backend: str | None = None) -> NumpifiedFunction:
    """``(value, gradient)`` in one compiled function (JAX's order; `grad_and_value` gives SymNum's).

    Example:
        >>> import numpy as np
        >>> from sympile import value_and_grad
        >>> value_and_grad(lambda x: x @ x, 2)(np.array([1.0, 2.0]))
        (np.float64(5.0), array([2., 4.]))
    """
    return _operator("value_and_grad", func, arg_shapes, wrt, False, backend)


def grad_and_value(func: Callable, *arg_shapes, wrt: int | tuple = 0, backend: str | None = None) -> NumpifiedFunction:
    """``(gradient, value)`` in one compiled function: ``grad(..., return_aux=True)``.

    Example:
        >>> import numpy as np
        >>> from sympile import grad_and_value
        >>> grad_and_value(lambda x: x @ x, 2)(np.array([1.0, 2.0]))
        (array([2., 4.]), np.float64(5.0))
    """
    return _operator("grad", func, arg_shapes, wrt, True, backend)


def jacobian(
    func: Callable, *arg_shapes, wrt: int | tuple = 0, return_aux: bool = False, backend: str | None = None
) -> NumpifiedFunction:
    """The Jacobian, shape ``value.shape + arg.shape``; ``return_aux`` gives ``(jacobian, value)``.

    Reverse mode when the function has fewer outputs than inputs, else forward mode.

    Example:
        >>> import numpy as np
        >>> import sympile.numpy as snp
        >>> from sympile import jacobian
        >>> jacobian(lambda x: snp.array([x[0] * x[1], x[0]]), 2)(np.array([2.0, 3.0]))
        array([[3., 2.],
               [1., 0.]])
    """
    return _operator("jacobian", func, arg_shapes, wrt, return_aux, backend)


def hessian(
    func: Callable, *arg_shapes, wrt: int | tuple = 0, return_aux: bool = False, backend: str | None = None
) -> NumpifiedFunction:
    """The Hessian of a scalar-valued function (forward over reverse); ``return_aux`` gives
    ``(hessian, grad, value)``.

    Example:
        >>> import numpy as np
        >>> from sympile import hessian
        >>> hessian(lambda x: x[0] ** 2 * x[1], 2)(np.array([1.0, 2.0]))
        array([[4., 2.],
               [2., 0.]])
    """
    return _operator("hessian", func, arg_shapes, wrt, return_aux, backend)


def jacobian_vector_product(
    func: Callable, *arg_shapes, wrt: int | tuple = 0, return_aux: bool = False, backend: str | None = None
) -> ProductOperator:
    """``jvp(func)(*args)(v) == tensordot(jacobian(func)(*args), v, v.ndim)`` (forward mode);
    ``return_aux`` gives ``(jvp_function, value)``.

    Example:
        >>> import numpy as np
        >>> from sympile import jacobian_vector_product
        >>> jvp = jacobian_vector_product(lambda x: x**2, 2)
        >>> jvp(np.array([1.0, 2.0]))(np.array([1.0, 1.0]))
        array([2., 4.])
    """
    return _operator("jvp", func, arg_shapes, wrt, return_aux, backend)


def vector_jacobian_product(
    func: Callable, *arg_shapes, wrt: int | tuple = 0, return_aux: bool = False, backend: str | None = None
) -> ProductOperator:
    """``vjp(func)(*args)(v) == tensordot(v, jacobian(func)(*args), v.ndim)`` (reverse mode);
    ``return_aux`` gives ``(vjp_function, value)``.

    Example:
        >>> import numpy as np
        >>> from sympile import vector_jacobian_product
        >>> vjp = vector_jacobian_product(lambda x: x**2, 2)
        >>> vjp(np.array([1.0, 2.0]))(np.array([1.0, 1.0]))
        array([2., 4.])
    """
    return _operator("vjp", func, arg_shapes, wrt, return_aux, backend)


def hessian_vector_product(
    func: Callable, *arg_shapes, wrt: int | tuple = 0, return_aux: bool = False, backend: str | None = None
) -> ProductOperator:
    """``hvp(func)(*args)(v) == tensordot(hessian(func)(*args), v, v.ndim)`` (forward over reverse);
    ``return_aux`` gives ``(hvp_function, grad, value)``.

    Example:
        >>> import numpy as np
        >>> from sympile import hessian_vector_product
        >>> hvp = hessian_vector_product(lambda x: x[0] ** 2 * x[1], 2)
        >>> hvp(np.array([1.0, 2.0]))(np.array([1.0, 0.0]))
        array([4., 2.])
    """
    return _operator("hvp", func, arg_shapes, wrt, return_aux, backend)


def matrix_hessian_product(
    func: Callable, *arg_shapes, wrt: int | tuple = 0, return_aux: bool = False, backend: str | None = None
) -> ProductOperator:
    """``mhp(func)(*args)(m) == tensordot(m, jacobian(jacobian(func))(*args), m.ndim)``: the gradient
    of ``<m, J(x)>``, for ``m`` of shape ``value.shape + arg.shape``; ``return_aux`` gives
    ``(mhp_function, jacobian, value)``.

    Example:
        >>> import numpy as np
        >>> import sympile.numpy as snp
        >>> from sympile import matrix_hessian_product
        >>> mhp = matrix_hessian_product(lambda x: snp.array([x[0] ** 2, x[0] * x[1]]), 2)
        >>> mhp(np.array([1.0, 2.0]))(np.eye(2))
        array([2., 1.])
    """
    return _operator("mhp", func, arg_shapes, wrt, return_aux, backend)


def matrix_tressian_product(
    func: Callable, *arg_shapes, wrt: int | tuple = 0, return_aux: bool = False, backend: str | None = None
) -> ProductOperator:
    """``mtp(func)(*args)(m) == tensordot(m, jacobian(hessian(func))(*args), m.ndim)``: the gradient of
    ``<m, H(x)>`` for a scalar function; ``return_aux`` gives ``(mtp_function, hessian, grad, value)``.

    Example:
        >>> import numpy as np
        >>> import sympile.numpy as snp
        >>> from sympile import matrix_tressian_product
        >>> mtp = matrix_tressian_product(lambda x: snp.sum(x**4), 2)
        >>> mtp(np.array([1.0, 2.0]))(np.eye(2))
        array([24., 48.])
    """
    return _operator("mtp", func, arg_shapes, wrt, return_aux, backend)


# -- symbolic operators -------------------------------------------------------------------------------


def _arg_shape(a):
    if isinstance(a, SymbolicArray):
        return a.shape
    if isinstance(a, sp.Basic):
        return None
    return as_object_array(a).shape


def _trace_at(func: Callable, args: tuple) -> tuple[Traced, dict | None]:
    """The trace of ``func`` whose inputs are ``args``' entries, or a trace and the substitution to apply."""
    shapes = [_arg_shape(a) for a in args]
    entries = [e for a in args for e in entries_of(a)]
    if isinstance(func, NumpifiedFunction):
        traced = func._traced
        if tuple(() if s is None else s for s in shapes) != traced.arg_shapes:
            raise ShapeError(f"{traced.name} takes arguments of shapes {traced.arg_shapes}, got {tuple(shapes)}")
        inputs = list(traced.graph.inputs)
        return traced, (None if inputs == entries else dict(zip(inputs, entries)))
    if all(isinstance(e, sp.Symbol) for e in entries) and len(set(entries)) == len(entries):
        return trace(func, shapes, args=list(args)), None
    stand_ins = [
        sp.Dummy("s", real=True)
        if s is None
        else SymbolicArray._from_data(
            _frozen(np.array([sp.Dummy("s", real=True) for _ in range(int(np.prod(s, dtype=int)))], object).reshape(s))
        )
        for s in shapes
    ]
    traced = trace(func, shapes, args=stand_ins)
    return traced, dict(zip(traced.graph.inputs, entries))


def _raised(traced: Traced, subs: dict | None) -> list:
    values = to_sympy(traced.graph)
    return values if not subs else [v.xreplace(subs) for v in values]


class SymbolicProduct:
    """A symbolic product operator's result: a function of the vector (or matrix) returning SymPy."""

    def __init__(self, values: list, vectors: list, shapes: list, tree: tuple, single: bool):
        self._values = values
        self._vectors = vectors  # the stand-in symbols of the vector entries
        self._shapes = shapes
        self._tree = tree
        self._single = single

    def __call__(self, *vectors) -> Any:
        vs = _unpack_vectors(vectors, len(self._shapes), self._single)
        entries = []
        for v, shape in zip(vs, self._shapes):
            data = as_object_array(v)
            if data.shape != shape:
                raise ShapeError(f"the product function takes an array of shape {shape}, got {data.shape}")
            entries += data.ravel().tolist()
        subs = dict(zip(self._vectors, entries))
        return build_symbolic(self._tree, [e.xreplace(subs) for e in self._values])


class SymbolicOperator:
    """A differential operator applied to a function, in symbolic form: call it with symbolic arrays."""

    def __init__(self, kind: str, func: Callable, wrt, return_aux: bool):
        self.kind = kind
        self.func = func
        self.wrt = wrt
        self.return_aux = return_aux
        self.__name__ = f"{_PREFIX[kind]}_{getattr(func, '__name__', 'function')}"

    def __call__(self, *args) -> Any:
        traced, subs = _trace_at(self.func, args)
        derived = derive(traced, self.kind, self.wrt, self.return_aux)
        main = derived.main
        values = _raised(main, subs)
        if self.kind not in _PRODUCTS:
            return build_symbolic(main.out_tree, values)
        n_base = len(traced.graph.inputs)
        product = SymbolicProduct(
            values,
            list(main.graph.inputs[n_base:]),
            list(main.arg_shapes[len(traced.arg_shapes) :]),
            main.out_tree,
            derived.single,
        )
        if derived.aux is None:
            return product
        return (product, *build_symbolic(derived.aux.out_tree, _raised(derived.aux, subs)))


def _symbolic(kind: str, doc: str):
    def operator(func: Callable, *, wrt: int | tuple = 0, return_aux: bool = False) -> SymbolicOperator:
        return SymbolicOperator(kind, func, wrt, return_aux)

    operator.__name__ = operator.__qualname__ = f"symbolic_{_PREFIX[kind]}"
    operator.__doc__ = doc
    return operator


symbolic_grad = _symbolic(
    "grad",
    """The gradient as SymPy expressions: ``symbolic_grad(func)(*symbolic_args)``.

    The derivative is built on the graph and raised back to SymPy.

    Example:
        >>> import sympile.numpy as snp
        >>> from sympile import named_array
        >>> from sympile.diffops.symbolic import grad
        >>> x = named_array("x", 2)
        >>> grad(lambda x: snp.sum(x**3))(x).tolist()
        [3*x[0]**2, 3*x[1]**2]
    """,
)
symbolic_jacobian = _symbolic("jacobian", "The Jacobian as a symbolic array (see `jacobian`).")
symbolic_hessian = _symbolic("hessian", "The Hessian as a symbolic array (see `hessian`).")
symbolic_jacobian_vector_product = _symbolic(
    "jvp", "A function of a symbolic vector giving the Jacobian-vector product (see `jacobian_vector_product`)."
)
symbolic_vector_jacobian_product = _symbolic(
    "vjp", "A function of a symbolic vector giving the vector-Jacobian product (see `vector_jacobian_product`)."
)
symbolic_hessian_vector_product = _symbolic(
    "hvp", "A function of a symbolic vector giving the Hessian-vector product (see `hessian_vector_product`)."
)
symbolic_matrix_hessian_product = _symbolic(
    "mhp", "A function of a symbolic matrix giving the matrix-Hessian product (see `matrix_hessian_product`)."
)
symbolic_matrix_tressian_product = _symbolic(
    "mtp", "A function of a symbolic matrix giving the matrix-Tressian product (see `matrix_tressian_product`)."
)


__all__ = [
    "grad",
    "gradient",
    "value_and_grad",
    "grad_and_value",
    "jacobian",
    "hessian",
    "jacobian_vector_product",
    "vector_jacobian_product",
    "hessian_vector_product",
    "matrix_hessian_product",
    "matrix_tressian_product",
    "ProductOperator",
    "ProductFunction",
    "SymbolicOperator",
    "SymbolicProduct",
]
