"""`ode_system`: a SymPy right-hand side as the ``fun`` and ``jac`` that ODE solvers take.

The right-hand side is lowered once; its Jacobian with respect to the states is built on the
graph by automatic differentiation (no ``Matrix.jacobian``, no ``sympy.diff``), and both are
compiled by the chosen backend with the argument structure ``(t, y, p)``, which is what
``scipy.integrate.solve_ivp`` calls with ``args=(p,)``, what diffrax's ``ODETerm`` calls
(``args`` third), and what a torchdiffeq user closes over. One point given as the solvers'
float64 state vector takes the compiled function's scalar path (`sympile.lambdify`).

A system in mass-matrix form, ``M(t, y, p) y' = F(t, y, p)`` (what `KanesMethod` gives as
``mass_matrix_full`` and ``forcing_full``), is solved for ``y'`` at each call. Its Jacobian
is ``M^-1 (dF/dy - d(M x)/dy)`` at ``x = M^-1 F``, with ``d(M x)/dy`` the Jacobian of the
residual ``F - M x`` taken on the graph with ``x`` as extra inputs: no derivative of the
inverse is ever formed.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import sympy as sp

from .._core.errors import ArgumentError, SympileError
from .._core.graph import Builder, Graph, paused_gc
from .._core.tuning import ODE_SPARSE_MAX_DENSITY, ODE_SPARSE_MIN_STATES
from .._sympy.lower import lower
from .._transforms.ad import jacobian_nodes, leaf_nodes
from .lambdify import LambdifiedFunction


def ode_system(
    t: Any,
    states: Sequence[Any],
    rhs: Any,
    params: Sequence[Any] = (),
    *,
    mass: Any = None,
    backend: str = "numpy",
    sparse: bool | None = None,
    extra_funcs: Mapping | None = None,
) -> ODESystem:
    """The right-hand side ``y' = rhs(t, y, p)`` compiled for ODE solvers, with its Jacobian.

    Args:
        t: the time symbol, or None for an autonomous system (``fun`` still takes ``t``).
        states: the state symbols (or ``dynamicsymbols`` such as ``q(t)``), in ``y``'s order.
        rhs: the derivatives of the states: a list, a column Matrix or an Array of expressions;
            with ``mass``, the forcing ``F`` of ``M y' = F``.
        params: symbols whose values are passed at call time as one vector ``p``; every other
            symbol in ``rhs`` must be one of ``t``, ``states`` or ``params``.
        mass: the mass matrix ``M`` (square, one row per state) of a system in mass-matrix form.
        backend: ``"numpy"`` (default; what SciPy's solvers take), ``"c"``, ``"jax"`` (diffrax)
            or ``"torch"`` (torchdiffeq).
        sparse: whether ``jac`` returns a ``scipy.sparse`` CSC matrix with the fixed pattern
            `ODESystem.jac_sparsity` (NumPy and C backends); default: for 100 states or more
            when at most a tenth of the Jacobian's entries can be nonzero (below that, SciPy's
            dense LU is faster than its sparse one).
        extra_funcs: as for `sympile.lambdify`.

    Returns:
        An `ODESystem`: ``fun(t, y, p)``, ``jac(t, y, p)``, ``jac_sparsity`` and ``n``.

    Example:
        >>> import numpy as np, sympy as sp
        >>> from scipy.integrate import solve_ivp
        >>> t, a, b = sp.symbols("t a b")
        >>> u, v = sp.symbols("u v")
        >>> system = ode_system(t, [u, v], [a * u - u * v, u * v - b * v], [a, b])
        >>> sol = solve_ivp(system.fun, (0, 5), [1.0, 0.5], args=([1.0, 1.0],), jac=system.jac, method="BDF")
        >>> bool(sol.success)
        True
    """
    states = list(states)
    params = list(params)
    if t is None:
        t = sp.Dummy("t")
    rows = _column(rhs, "rhs")
    n = len(states)
    if len(rows) != n:
        raise ArgumentError(f"rhs has {len(rows)} entries but there are {n} states; give one derivative per state")
    m_rows = None
    if mass is not None:
        m = sp.Matrix(mass)
        if m.shape != (n, n):
            raise ArgumentError(f"the mass matrix must be {n}x{n} (one row and column per state), got {m.shape}")
        m_rows = list(m)
    if sparse and backend not in ("numpy", "c"):
        raise ArgumentError("sparse Jacobians are SciPy matrices: use backend='numpy' or 'c' for sparse=True")
    if sparse and mass is not None:
        raise ArgumentError("a mass-matrix system's Jacobian, M^-1 dF/dy, is dense: leave sparse unset")
    with paused_gc():
        return ODESystem(t, states, rows, params, m_rows, backend, sparse, extra_funcs)


def _column(rhs, name: str) -> list:
    if isinstance(rhs, str):
        raise SympileError(f"{name} takes SymPy expressions, not strings")
    if isinstance(rhs, sp.MatrixBase):
        if min(rhs.shape) != 1:
            raise ArgumentError(f"{name} must be a column (one entry per state), got a {rhs.shape} Matrix")
        return list(rhs)
    if isinstance(rhs, sp.NDimArray):
        return list(rhs.reshape(len(rhs)))
    if isinstance(rhs, (list, tuple)):
        return list(rhs)
    raise ArgumentError(f"{name} must be a list, column Matrix or Array of expressions, got {type(rhs).__name__}")


def _vector(n: int) -> tuple:
    return ("array", (n,), [("leaf", k) for k in range(n)])


class ODESystem:
    """A compiled ODE right-hand side and its Jacobian (see `ode_system`).

    ``fun(t, y, p)`` gives ``y'`` as an array of shape ``(n,)`` (``(n, k)`` for ``k`` states
    given as the columns of ``y``, SciPy's ``vectorized=True``); ``jac(t, y, p)`` the ``(n, n)``
    Jacobian ``d y' / d y`` (a CSC matrix when sparse); ``jac_sparsity`` the pattern of entries
    that can be nonzero, for the solvers' ``jac_sparsity=``. With no parameters, ``p`` is
    left out. Pickles by value.
    """

    def __init__(self, t, states, rows, params, mass_rows, backend, sparse, extra_funcs):
        self.n = n = len(states)
        self.backend = backend
        self._spec = (t, states, rows, params, mass_rows, backend, sparse, extra_funcs)
        inputs = [t, *states, *params]
        arg_tree = ("list", [("leaf", 0), ("list", [("leaf", 1 + k) for k in range(n)])])
        if params:
            arg_tree[1].append(("list", [("leaf", 1 + n + k) for k in range(len(params))]))
        self._arg_tree = arg_tree
        y_slots = list(range(1, n + 1))
        if mass_rows is None:
            graph = lower(rows, inputs, extra_funcs=extra_funcs)
            self._rhs = LambdifiedFunction(graph, backend, {}, arg_tree, _vector(n))
            jac = _jacobian(graph, graph.outputs, y_slots)
            self.fun = self._rhs
        else:
            # M and F together (shared subexpressions once); the residual F - M x for the Jacobian
            graph = lower([*mass_rows, *rows], inputs, extra_funcs=extra_funcs)
            matrix = ("array", (n, n), [("leaf", k) for k in range(n * n)])
            out = ("list", [matrix, ("array", (n,), [("leaf", n * n + k) for k in range(n)])])
            self._rhs = LambdifiedFunction(graph, backend, {}, arg_tree, out)
            self._solve = _solver(backend)
            jac = _residual_jacobian(graph, n, len(inputs), y_slots)
            self.fun = self._mass_fun
        self._pattern = [(i, j) for i in range(n) for j in range(n) if not _zero(jac, i * n + j)]
        if sparse is None:  # M^-1 makes a mass-matrix system's Jacobian dense
            sparse = (
                mass_rows is None
                and backend in ("numpy", "c")
                and n >= ODE_SPARSE_MIN_STATES
                and len(self._pattern) <= ODE_SPARSE_MAX_DENSITY * n * n
            )
        self.sparse = bool(sparse)
        if self.sparse:
            order = sorted(range(len(self._pattern)), key=lambda k: (self._pattern[k][1], self._pattern[k][0]))
            self._pattern = [self._pattern[k] for k in order]
            entries = [jac.outputs[i * n + j] for i, j in self._pattern]
            jac = Graph(jac.nodes, entries, jac.inputs, jac.params, jac.buffers).pruned()
            shape = (len(entries),)
        else:
            shape = (n, n)
        jac_args = arg_tree if mass_rows is None else self._residual_tree(arg_tree, n)
        self._jac = LambdifiedFunction(
            jac, backend, {}, jac_args, ("array", shape, [("leaf", k) for k in range(len(jac.outputs))])
        )
        self.jac = self._jac if (mass_rows is None and not self.sparse) else self._jac_call
        self._csc = None

    @staticmethod
    def _residual_tree(arg_tree, n):
        k = 1 + n + (len(arg_tree[1][2][1]) if len(arg_tree[1]) > 2 else 0)
        return ("list", [*arg_tree[1], ("list", [("leaf", k + i) for i in range(n)])])

    @property
    def jac_sparsity(self):
        """The pattern of the Jacobian's entries that can be nonzero, as a SciPy CSC matrix of ones."""
        from scipy.sparse import csc_matrix

        rows, cols = zip(*self._pattern) if self._pattern else ((), ())
        return csc_matrix((np.ones(len(rows)), (rows, cols)), shape=(self.n, self.n))

    def _mass_fun(self, t, y, *p):
        m, f = self._rhs(t, y, *p)
        return self._solve(m, f)

    def _jac_call(self, t, y, *p):
        if self._spec[4] is not None:  # mass-matrix form: J = M^-1 d(F - M x)/dy at x = M^-1 F
            m, f = self._rhs(t, y, *p)
            x = self._solve(m, f)
            return self._solve(m, self._jac(t, y, *p, x))
        values = self._jac(t, y, *p)
        return self._sparse(values)

    def _sparse(self, values):
        from scipy.sparse import csc_matrix

        if self._csc is None:
            rows = np.array([i for i, _ in self._pattern], dtype=np.int32)
            counts = np.bincount([j for _, j in self._pattern], minlength=self.n)
            self._csc = (rows, np.concatenate([[0], np.cumsum(counts)]).astype(np.int32))
        rows, indptr = self._csc
        return csc_matrix((np.asarray(values, dtype=np.float64), rows, indptr), shape=(self.n, self.n))

    def __call__(self, t, y, *p):
        return self.fun(t, y, *p)

    def __repr__(self) -> str:
        kind = "mass-matrix " if self._spec[4] is not None else ""
        return f"<sympile {kind}ODE system of {self.n} states on {self.backend}>"

    def __reduce__(self):
        t, states, rows, params, mass_rows, backend, sparse, extra_funcs = self._spec
        return (_rebuild, (t, states, rows, params, mass_rows, backend, self.sparse, extra_funcs))


def _rebuild(t, states, rows, params, mass_rows, backend, sparse, extra_funcs):
    with paused_gc():
        return ODESystem(t, states, rows, params, mass_rows, backend, sparse, extra_funcs)


def _zero(graph: Graph, k: int) -> bool:
    node = graph.nodes[graph.outputs[k]]
    return node.op == "const" and node.attr == 0


def _jacobian(graph: Graph, outputs: Sequence[int], wrt_slots: list[int]) -> Graph:
    """The graph of ``d outputs / d inputs[wrt_slots]``, row-major (graph AD, whichever mode is cheaper)."""
    b = Builder(graph)
    rows = jacobian_nodes(b, list(outputs), leaf_nodes(b, "input", wrt_slots))
    return b.graph([e for row in rows for e in row], graph.inputs, graph.params, graph.buffers).pruned()


def _residual_jacobian(graph: Graph, n: int, n_in: int, y_slots: list[int]) -> Graph:
    """``d(F - M x)/dy`` with ``x`` extra inputs after the others: outputs are M (n*n) then F (n)."""
    b = Builder(graph)
    xs = sp.symbols(f"_x0:{n}", cls=sp.Dummy)
    x_nodes = leaf_nodes(b, "input", range(n_in, n_in + n))
    outs = graph.outputs
    residual = []
    for i in range(n):
        acc = outs[n * n + i]
        for j in range(n):
            acc = b.node("sub", (acc, b.node("mul", (outs[i * n + j], x_nodes[j]))))
        residual.append(acc)
    rows = jacobian_nodes(b, residual, leaf_nodes(b, "input", y_slots))
    inputs = (*graph.inputs, *xs)
    return b.graph([e for row in rows for e in row], inputs, graph.params, graph.buffers).pruned()


def _solver(backend: str):
    if backend == "torch":
        import torch

        return lambda m, f: torch.linalg.solve(m, f)
    if backend == "jax":
        import jax.numpy as jnp

        return lambda m, f: jnp.linalg.solve(m, f)
    return _numpy_solve


def _numpy_solve(m, f):
    """``M^-1 f`` for one point (``M`` (n, n)) or for points along the last axes (``M`` (n, n, k))."""
    m = np.asarray(m)
    f = np.asarray(f)
    if m.ndim == 2:
        return np.linalg.solve(m, f)
    # batch dimensions last, as lambdify gives them: move them first for NumPy's solve
    mb = np.moveaxis(m, (0, 1), (-2, -1))
    fb = np.moveaxis(f, 0, -1)[..., None]
    return np.moveaxis(np.linalg.solve(mb, fb)[..., 0], -1, 0)
