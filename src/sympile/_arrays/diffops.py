"""Differential operators (SymNum's API), built by graph AD on the traced function's graph.

A function is traced once (or its `NumpifiedFunction` graph is read); `derive` builds each
operator's derivative into the same graph, so its size stays linear in the function's and
nothing goes through `sympy.diff`. The numerical forms compile the derivative graph like
any traced function; the symbolic forms raise it back to SymPy.

Conventions (SymNum's): ``op(func, *arg_shapes, wrt=0, return_aux=False)``; with
``return_aux`` the lower derivatives and the value come after, value last. ``wrt`` may be a
tuple of argument indices: each derivative is then a tuple, one entry per argument (for a
Hessian, a tuple of tuples). The product operators give, for the arguments, a function of
the vector (or matrix); its argument for a tuple ``wrt`` is a tuple of arrays.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import numpy as np
import sympy as sp

from .._core.errors import ArgumentError, ShapeError
from .._sympy.raising import to_sympy
from .derive import PREFIX, PRODUCTS, derive
from .entries import frozen
from .numpify import NumpifiedFunction, as_traced
from .symbolic_array import SymbolicArray, as_object_array
from .tracing import Traced, build_symbolic, entries_of, trace

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
    if kind not in PRODUCTS:
        return main
    aux = None if derived.aux is None else NumpifiedFunction(derived.aux, backend)
    return ProductOperator(main, aux, derived.n_vectors, derived.single)


def _numerical(kind: str, name: str, doc: str) -> Callable:
    """The public function ``name`` for the compiled operator ``kind``:
    ``name(func, *arg_shapes, wrt=0, return_aux=False, backend=None)``."""

    def operator(
        func: Callable, *arg_shapes, wrt: int | tuple = 0, return_aux: bool = False, backend: str | None = None
    ) -> NumpifiedFunction | ProductOperator:
        return _operator(kind, func, arg_shapes, wrt, return_aux, backend)

    operator.__name__ = operator.__qualname__ = name
    operator.__doc__ = doc
    operator.__annotations__["return"] = "ProductOperator" if kind in PRODUCTS else "NumpifiedFunction"
    return operator


grad = _numerical(
    "grad",
    "grad",
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
    """,
)


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


jacobian = _numerical(
    "jacobian",
    "jacobian",
    """The Jacobian, shape ``value.shape + arg.shape``; ``return_aux`` gives ``(jacobian, value)``.

    Reverse mode when the function has fewer outputs than inputs, else forward mode.

    Example:
        >>> import numpy as np
        >>> import sympile.numpy as snp
        >>> from sympile import jacobian
        >>> jacobian(lambda x: snp.array([x[0] * x[1], x[0]]), 2)(np.array([2.0, 3.0]))
        array([[3., 2.],
               [1., 0.]])
    """,
)


hessian = _numerical(
    "hessian",
    "hessian",
    """The Hessian of a scalar-valued function (forward over reverse); ``return_aux`` gives
    ``(hessian, grad, value)``.

    Example:
        >>> import numpy as np
        >>> from sympile import hessian
        >>> hessian(lambda x: x[0] ** 2 * x[1], 2)(np.array([1.0, 2.0]))
        array([[4., 2.],
               [2., 0.]])
    """,
)


jacobian_vector_product = _numerical(
    "jvp",
    "jacobian_vector_product",
    """``jvp(func)(*args)(v) == tensordot(jacobian(func)(*args), v, v.ndim)`` (forward mode);
    ``return_aux`` gives ``(jvp_function, value)``.

    Example:
        >>> import numpy as np
        >>> from sympile import jacobian_vector_product
        >>> jvp = jacobian_vector_product(lambda x: x**2, 2)
        >>> jvp(np.array([1.0, 2.0]))(np.array([1.0, 1.0]))
        array([2., 4.])
    """,
)


vector_jacobian_product = _numerical(
    "vjp",
    "vector_jacobian_product",
    """``vjp(func)(*args)(v) == tensordot(v, jacobian(func)(*args), v.ndim)`` (reverse mode);
    ``return_aux`` gives ``(vjp_function, value)``.

    Example:
        >>> import numpy as np
        >>> from sympile import vector_jacobian_product
        >>> vjp = vector_jacobian_product(lambda x: x**2, 2)
        >>> vjp(np.array([1.0, 2.0]))(np.array([1.0, 1.0]))
        array([2., 4.])
    """,
)


hessian_vector_product = _numerical(
    "hvp",
    "hessian_vector_product",
    """``hvp(func)(*args)(v) == tensordot(hessian(func)(*args), v, v.ndim)`` (forward over reverse);
    ``return_aux`` gives ``(hvp_function, grad, value)``.

    Example:
        >>> import numpy as np
        >>> from sympile import hessian_vector_product
        >>> hvp = hessian_vector_product(lambda x: x[0] ** 2 * x[1], 2)
        >>> hvp(np.array([1.0, 2.0]))(np.array([1.0, 0.0]))
        array([4., 2.])
    """,
)


matrix_hessian_product = _numerical(
    "mhp",
    "matrix_hessian_product",
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
    """,
)


matrix_tressian_product = _numerical(
    "mtp",
    "matrix_tressian_product",
    """``mtp(func)(*args)(m) == tensordot(m, jacobian(hessian(func))(*args), m.ndim)``: the gradient of
    ``<m, H(x)>`` for a scalar function; ``return_aux`` gives ``(mtp_function, hessian, grad, value)``.

    Example:
        >>> import numpy as np
        >>> import sympile.numpy as snp
        >>> from sympile import matrix_tressian_product
        >>> mtp = matrix_tressian_product(lambda x: snp.sum(x**4), 2)
        >>> mtp(np.array([1.0, 2.0]))(np.eye(2))
        array([24., 48.])
    """,
)


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
            frozen(np.array([sp.Dummy("s", real=True) for _ in range(int(np.prod(s, dtype=int)))], object).reshape(s))
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
        self.__name__ = f"{PREFIX[kind]}_{getattr(func, '__name__', 'function')}"

    def __call__(self, *args) -> Any:
        traced, subs = _trace_at(self.func, args)
        derived = derive(traced, self.kind, self.wrt, self.return_aux)
        main = derived.main
        values = _raised(main, subs)
        if self.kind not in PRODUCTS:
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

    operator.__name__ = operator.__qualname__ = f"symbolic_{PREFIX[kind]}"
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
