"""JAX: Equinox modules from SymPy expressions (a drop-in for sympy2jax).

``lambdify(..., backend="jax")`` gives plain functions over ``jax.numpy``.
"""

from ._modules.jax_module import Functional as Functional
from ._modules.jax_module import SymbolicModule as SymbolicModule
from ._modules.jax_module import concatenate as concatenate
from ._modules.jax_module import stack as stack
